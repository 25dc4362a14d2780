//! Quorum certificates: proof that a quorum voted for one value in one
//! round and instance.

use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant, NodeId};

use crate::{MemberSet, Phase, QuorumError, QuorumSystem, VoteRejection};

/// Proof that a quorum of `Q` voted for `value` in `round` (term, view,
/// ballot) for instance `index` (log index, slot, sequence number).
///
/// It is core [`Evidence`] of kind
/// [`QuorumCertificate`](EvidenceKind::QuorumCertificate), scoped to
/// [`EvidenceScope::Instance`] `{ epoch: round, index }`, and
/// **non-transitive**: a certificate for slot N proves nothing about slot
/// M. It does not expire by itself (a decision stays decided); protocols
/// that need a time-bound claim wrap it in a lease.
///
/// Certificates come from a [`VoteTally`](crate::VoteTally) once a quorum
/// has voted, or from [`from_votes`](Self::from_votes) when one arrives in
/// a message and must be checked before it is believed.
///
/// # Examples
///
/// ```
/// use tessera_core::{Evidence, EvidenceState, Instant};
/// use tessera_quorum::{Majority, Phase, QuorumCertificate};
///
/// let config = Majority::new([1, 2, 3])?;
/// // A certificate received from a peer, checked before use.
/// let certificate = QuorumCertificate::from_votes(&config, Phase::Write, 4, 17, "put x", &[3, 1])?;
/// assert_eq!(certificate.state_at(Instant::ZERO), EvidenceState::Active);
///
/// // One voter is not a quorum of three.
/// assert!(QuorumCertificate::from_votes(&config, Phase::Write, 4, 17, "put x", &[3]).is_err());
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QuorumCertificate<T, Q> {
    quorum: Q,
    phase: Phase,
    round: u64,
    index: u64,
    value: T,
    voters: MemberSet,
    issued_at: Option<Instant>,
}

impl<T, Q: QuorumSystem> QuorumCertificate<T, Q> {
    pub(crate) fn from_tally(
        quorum: Q,
        phase: Phase,
        round: u64,
        index: u64,
        value: T,
        voters: MemberSet,
    ) -> Self {
        QuorumCertificate {
            quorum,
            phase,
            round,
            index,
            value,
            voters,
            issued_at: None,
        }
    }

    /// A certificate from a list of voters, checked: every voter must be a
    /// member, none may appear twice, and together they must form a quorum
    /// of `phase`.
    ///
    /// # Errors
    ///
    /// [`QuorumError::VoteRejected`] naming the first non-member or
    /// duplicate voter; [`QuorumError::NotAQuorum`] if the voters are too
    /// few.
    pub fn from_votes(
        quorum: Q,
        phase: Phase,
        round: u64,
        index: u64,
        value: T,
        voters: &[NodeId],
    ) -> Result<Self, QuorumError> {
        let mut set = MemberSet::EMPTY;
        for voter in voters {
            let rejected = |reason| QuorumError::VoteRejected {
                voter: *voter,
                reason,
            };
            let position = quorum
                .position(*voter)
                .ok_or_else(|| rejected(VoteRejection::NotAMember))?;
            if !set.insert(position) {
                return Err(rejected(VoteRejection::Duplicate));
            }
        }
        if !quorum.is_quorum(phase, set) {
            return Err(QuorumError::NotAQuorum {
                voters: set.len(),
                needed: quorum.quorum_size_min(phase),
            });
        }
        Ok(Self::from_tally(quorum, phase, round, index, value, set))
    }

    /// Records when the certificate was formed, on the issuer's clock.
    #[must_use]
    pub fn with_issued_at(mut self, at: Instant) -> Self {
        self.issued_at = Some(at);
        self
    }

    /// The value certified.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The round (term, view, ballot).
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The instance (log index, slot, sequence number).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The phase the votes were cast in.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The quorum system the votes were counted against.
    pub fn quorum(&self) -> &Q {
        &self.quorum
    }

    /// The voters, by position in the quorum system's members.
    pub fn voter_set(&self) -> MemberSet {
        self.voters
    }

    /// The voters, in increasing node id order.
    pub fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.nodes(self.quorum.members())
    }

    /// The value certified, consuming the certificate.
    pub fn into_value(self) -> T {
        self.value
    }
}

impl<T, Q: QuorumSystem> Evidence for QuorumCertificate<T, Q> {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::QuorumCertificate
    }

    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Instance {
            epoch: self.round,
            index: self.index,
        }
    }

    fn issued_at(&self) -> Option<Instant> {
        self.issued_at
    }

    fn expires_at(&self) -> Option<Instant> {
        None
    }

    /// The voters are members and form a quorum of the certificate's phase.
    fn validate(&self) -> Result<(), EvidenceError> {
        let members = MemberSet::all(self.quorum.members().len());
        if let Some(position) = self.voters.difference(members).positions().next() {
            return Err(EvidenceError::Inconsistent(format!(
                "voter position {position} is outside the {} members",
                self.quorum.members().len()
            )));
        }
        if !self.quorum.is_quorum(self.phase, self.voters) {
            return Err(EvidenceError::InsufficientQuorum {
                have: self.voters.len(),
                need: self.quorum.quorum_size_min(self.phase),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Joint, Majority};
    use tessera_core::EvidenceState;

    #[test]
    fn rule_certificates_are_non_transitive() {
        let config = Majority::new([1, 2, 3]).unwrap();
        let certificate =
            QuorumCertificate::from_votes(&config, Phase::Write, 2, 10, (), &[1, 2]).unwrap();
        let now = Instant::ZERO;
        assert!(certificate.proves(
            &EvidenceScope::Instance {
                epoch: 2,
                index: 10
            },
            now
        ));
        assert!(!certificate.proves(&EvidenceScope::Instance { epoch: 2, index: 9 }, now));
        assert!(!certificate.proves(
            &EvidenceScope::Instance {
                epoch: 1,
                index: 10
            },
            now
        ));
    }

    #[test]
    fn rule_received_certificates_are_checked() {
        let config = Majority::new([1, 2, 3]).unwrap();
        let duplicate = QuorumCertificate::from_votes(&config, Phase::Read, 1, 0, (), &[1, 1]);
        assert!(matches!(
            duplicate,
            Err(QuorumError::VoteRejected {
                voter: 1,
                reason: VoteRejection::Duplicate
            })
        ));
        let stranger = QuorumCertificate::from_votes(&config, Phase::Read, 1, 0, (), &[1, 7]);
        assert!(matches!(
            stranger,
            Err(QuorumError::VoteRejected {
                voter: 7,
                reason: VoteRejection::NotAMember
            })
        ));
        assert_eq!(
            QuorumCertificate::from_votes(&config, Phase::Read, 1, 0, (), &[2]),
            Err(QuorumError::NotAQuorum {
                voters: 1,
                needed: 2
            })
        );
    }

    #[test]
    fn validation_catches_a_certificate_built_for_a_larger_configuration() {
        // Positions beyond the members (as a corrupted or mismatched
        // certificate would carry) are inconsistent, not silently ignored.
        let certificate = QuorumCertificate::from_tally(
            Majority::new([1, 2, 3]).unwrap(),
            Phase::Write,
            1,
            1,
            (),
            MemberSet::from_bits(0b1011),
        );
        assert!(matches!(
            certificate.validate(),
            Err(EvidenceError::Inconsistent(_))
        ));
        assert_eq!(
            certificate.state_at(Instant::ZERO),
            EvidenceState::Generated
        );
    }

    #[test]
    fn joint_certificate_needs_both_halves() {
        let joint = Joint::new(
            Majority::new([1, 2, 3]).unwrap(),
            Majority::new([4, 5, 6]).unwrap(),
        )
        .unwrap();
        assert!(QuorumCertificate::from_votes(&joint, Phase::Write, 1, 1, (), &[1, 2, 4]).is_err());
        let certificate =
            QuorumCertificate::from_votes(&joint, Phase::Write, 1, 1, (), &[1, 2, 4, 5]).unwrap();
        assert_eq!(certificate.voters().collect::<Vec<_>>(), vec![1, 2, 4, 5]);
        assert_eq!(certificate.issued_at(), None);
        let certificate = certificate.with_issued_at(Instant::from_secs(3));
        assert_eq!(certificate.issued_at(), Some(Instant::from_secs(3)));
    }
}

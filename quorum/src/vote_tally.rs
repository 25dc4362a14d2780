//! Counting votes for one value in one round, until a quorum forms.

use tessera_core::NodeId;

use crate::{MemberSet, Phase, QuorumCertificate, QuorumError, QuorumSystem, VoteRejection};

/// Where a tally stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoteOutcome {
    /// Neither won nor lost yet.
    Pending,
    /// The granted votes form a quorum.
    Won,
    /// The members that have not refused can no longer form a quorum.
    Lost,
}

/// Counts votes for one value in one round (term, view, ballot) and one
/// instance (log index, slot, sequence number), and turns a quorum of them
/// into a [`QuorumCertificate`].
///
/// A vote is refused — not counted, with a [`QuorumError::VoteRejected`]
/// saying why — when it comes from a non-member, from a member that has
/// already voted, or is for another round, instance or value. A refused
/// vote changes nothing.
///
/// Counting costs a bit operation and a quorum test on a [`MemberSet`]: no
/// allocation per vote, so Raft can count acknowledgements on every append.
/// The tally owns its quorum system `Q`; pass `&Majority` (or an `Arc`) to
/// share one configuration between many tallies without cloning it.
///
/// # Examples
///
/// PBFT's prepare phase with `f = 1`: a certificate needs `2f + 1 = 3`
/// matching prepares.
///
/// ```
/// use tessera_core::{Evidence, EvidenceScope, Instant};
/// use tessera_quorum::{Byzantine, Phase, QuorumError, VoteOutcome, VoteTally};
///
/// let config = Byzantine::new([1, 2, 3, 4], 1)?;
/// let digest = [7u8; 32];
/// let (view, sequence) = (2, 40);
/// let mut tally = VoteTally::new(&config, Phase::Write, view, sequence, digest);
///
/// assert_eq!(tally.record(1, view, sequence, &digest)?, VoteOutcome::Pending);
/// // Node 5 is not a member; node 1 already voted; node 2 prepared another digest.
/// assert!(tally.record(5, view, sequence, &digest).is_err());
/// assert!(tally.record(1, view, sequence, &digest).is_err());
/// assert!(tally.record(2, view, sequence, &[0u8; 32]).is_err());
/// assert_eq!(tally.record(3, view, sequence, &digest)?, VoteOutcome::Pending);
/// assert_eq!(tally.record(4, view, sequence, &digest)?, VoteOutcome::Won);
///
/// let certificate = tally.certificate().expect("a quorum voted");
/// assert_eq!(certificate.voters().collect::<Vec<_>>(), vec![1, 3, 4]);
/// assert!(certificate.proves(&EvidenceScope::Instance { epoch: 2, index: 40 }, Instant::ZERO));
/// # Ok::<(), QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteTally<T, Q> {
    quorum: Q,
    phase: Phase,
    round: u64,
    index: u64,
    value: T,
    granted: MemberSet,
    refused: MemberSet,
}

impl<T: PartialEq, Q: QuorumSystem> VoteTally<T, Q> {
    /// A tally of `phase` votes for `value` in `round` and instance
    /// `index` (use `0` where there is no instance, as for an election).
    pub fn new(quorum: Q, phase: Phase, round: u64, index: u64, value: T) -> Self {
        VoteTally {
            quorum,
            phase,
            round,
            index,
            value,
            granted: MemberSet::EMPTY,
            refused: MemberSet::EMPTY,
        }
    }

    /// Checks a vote's voter, round and instance, returning the voter's
    /// position.
    fn admit(&self, voter: NodeId, round: u64, index: u64) -> Result<usize, QuorumError> {
        let rejected = |reason| QuorumError::VoteRejected { voter, reason };
        let position = self
            .quorum
            .position(voter)
            .ok_or_else(|| rejected(VoteRejection::NotAMember))?;
        if round != self.round {
            return Err(rejected(VoteRejection::WrongRound {
                expected: self.round,
                got: round,
            }));
        }
        if index != self.index {
            return Err(rejected(VoteRejection::WrongIndex {
                expected: self.index,
                got: index,
            }));
        }
        if self.granted.union(self.refused).contains(position) {
            return Err(rejected(VoteRejection::Duplicate));
        }
        Ok(position)
    }

    /// Counts `voter`'s vote for `value` in `round` and instance `index`.
    ///
    /// # Errors
    ///
    /// [`QuorumError::VoteRejected`] if the voter is not a member, has
    /// already voted (granted or refused), or the vote is for another
    /// round, instance or value. The tally is unchanged.
    pub fn record(
        &mut self,
        voter: NodeId,
        round: u64,
        index: u64,
        value: &T,
    ) -> Result<VoteOutcome, QuorumError> {
        let position = self.admit(voter, round, index)?;
        if *value != self.value {
            return Err(QuorumError::VoteRejected {
                voter,
                reason: VoteRejection::WrongValue,
            });
        }
        self.granted.insert(position);
        Ok(self.outcome())
    }

    /// Records that `voter` refused in `round` (Raft's vote not granted,
    /// Paxos's nack), so the tally can tell when it has [lost](VoteOutcome::Lost).
    ///
    /// # Errors
    ///
    /// As for [`record`](Self::record), except that no value is compared.
    pub fn record_refusal(
        &mut self,
        voter: NodeId,
        round: u64,
        index: u64,
    ) -> Result<VoteOutcome, QuorumError> {
        let position = self.admit(voter, round, index)?;
        self.refused.insert(position);
        Ok(self.outcome())
    }

    /// Won, lost or pending.
    pub fn outcome(&self) -> VoteOutcome {
        if self.quorum.is_quorum(self.phase, self.granted) {
            VoteOutcome::Won
        } else {
            let could_still_grant =
                MemberSet::all(self.quorum.members().len()).difference(self.refused);
            if self.quorum.is_quorum(self.phase, could_still_grant) {
                VoteOutcome::Pending
            } else {
                VoteOutcome::Lost
            }
        }
    }

    /// Whether the granted votes form a quorum.
    pub fn has_quorum(&self) -> bool {
        self.quorum.is_quorum(self.phase, self.granted)
    }

    /// The members that granted, by position.
    pub fn granted(&self) -> MemberSet {
        self.granted
    }

    /// The members that granted.
    pub fn granted_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.granted.nodes(self.quorum.members())
    }

    /// The members that refused, by position.
    pub fn refused(&self) -> MemberSet {
        self.refused
    }

    /// The value voted on.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The round voted in.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The instance voted on.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The phase voted in.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The quorum system counted against.
    pub fn quorum(&self) -> &Q {
        &self.quorum
    }

    /// A certificate of the votes so far, if they form a quorum.
    pub fn certificate(&self) -> Option<QuorumCertificate<T, Q>>
    where
        T: Clone,
        Q: Clone,
    {
        self.has_quorum().then(|| {
            QuorumCertificate::from_tally(
                self.quorum.clone(),
                self.phase,
                self.round,
                self.index,
                self.value.clone(),
                self.granted,
            )
        })
    }

    /// Turns the tally into its certificate, or gives it back if the votes
    /// do not form a quorum yet.
    ///
    /// # Errors
    ///
    /// The tally itself, unchanged, when there is no quorum.
    pub fn into_certificate(self) -> Result<QuorumCertificate<T, Q>, Self> {
        if self.has_quorum() {
            Ok(QuorumCertificate::from_tally(
                self.quorum,
                self.phase,
                self.round,
                self.index,
                self.value,
                self.granted,
            ))
        } else {
            Err(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Grid, Majority};

    #[test]
    fn rule_votes_from_non_members_are_refused() {
        let config = Majority::new([1, 2, 3]).unwrap();
        let mut tally = VoteTally::new(&config, Phase::Read, 1, 0, "a");
        let error = tally.record(4, 1, 0, &"a").unwrap_err();
        assert_eq!(
            error,
            QuorumError::VoteRejected {
                voter: 4,
                reason: VoteRejection::NotAMember
            }
        );
        assert!(tally.granted().is_empty());
    }

    #[test]
    fn rule_duplicate_votes_count_once() {
        let config = Majority::new([1, 2, 3]).unwrap();
        let mut tally = VoteTally::new(&config, Phase::Read, 1, 0, "a");
        assert_eq!(tally.record(1, 1, 0, &"a"), Ok(VoteOutcome::Pending));
        let error = tally.record(1, 1, 0, &"a").unwrap_err();
        assert!(matches!(
            error,
            QuorumError::VoteRejected {
                reason: VoteRejection::Duplicate,
                ..
            }
        ));
        assert_eq!(tally.granted().len(), 1);
        assert!(!tally.has_quorum());
    }

    #[test]
    fn rule_votes_for_another_value_round_or_index_are_refused() {
        let config = Majority::new([1, 2, 3]).unwrap();
        let mut tally = VoteTally::new(&config, Phase::Write, 5, 9, "a");
        let reason = |result: Result<VoteOutcome, QuorumError>| match result {
            Err(QuorumError::VoteRejected { reason, .. }) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        };
        assert_eq!(
            reason(tally.record(1, 5, 9, &"b")),
            VoteRejection::WrongValue
        );
        assert_eq!(
            reason(tally.record(1, 4, 9, &"a")),
            VoteRejection::WrongRound {
                expected: 5,
                got: 4
            }
        );
        assert_eq!(
            reason(tally.record(1, 5, 8, &"a")),
            VoteRejection::WrongIndex {
                expected: 9,
                got: 8
            }
        );
        assert!(tally.granted().is_empty());
        // A voter refused for a wrong value may still cast the right vote.
        assert_eq!(tally.record(1, 5, 9, &"a"), Ok(VoteOutcome::Pending));
        assert_eq!(tally.record(2, 5, 9, &"a"), Ok(VoteOutcome::Won));
    }

    #[test]
    fn rule_quorum_reached_exactly_at_the_quorum() {
        let config = Majority::new(1..=5).unwrap();
        let mut tally = VoteTally::new(&config, Phase::Write, 1, 1, ());
        assert_eq!(tally.record(1, 1, 1, &()), Ok(VoteOutcome::Pending));
        assert_eq!(tally.record(2, 1, 1, &()), Ok(VoteOutcome::Pending));
        assert!(tally.certificate().is_none());
        assert_eq!(tally.record(3, 1, 1, &()), Ok(VoteOutcome::Won));
        assert!(tally.certificate().is_some());
    }

    #[test]
    fn lost_when_refusals_leave_no_quorum() {
        let config = Majority::new(1..=5).unwrap();
        let mut tally = VoteTally::new(&config, Phase::Read, 3, 0, 1u64);
        tally.record(1, 3, 0, &1).unwrap();
        assert_eq!(tally.record_refusal(2, 3, 0), Ok(VoteOutcome::Pending));
        assert_eq!(tally.record_refusal(3, 3, 0), Ok(VoteOutcome::Pending));
        assert_eq!(tally.record_refusal(4, 3, 0), Ok(VoteOutcome::Lost));
        // A refusal is a vote: the same member cannot then grant.
        assert!(tally.record(2, 3, 0, &1).is_err());
    }

    #[test]
    fn into_certificate_gives_the_tally_back_without_a_quorum() {
        let grid = Grid::with_columns(&[1, 2, 3, 4], 2).unwrap();
        let mut tally = VoteTally::new(grid, Phase::Write, 1, 1, 'x');
        tally.record(1, 1, 1, &'x').unwrap();
        tally.record(3, 1, 1, &'x').unwrap();
        // One member of each row: no whole row.
        let tally = tally.into_certificate().unwrap_err();
        assert_eq!(tally.granted().len(), 2);
    }
}

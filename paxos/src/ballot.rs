//! Ballots: the proposal numbers that order every attempt to choose.

use std::fmt;

use tessera_core::NodeId;

use crate::PaxosError;

/// The largest round a ballot may carry. Rounds grow by one per attempt, so
/// four billion attempts are never reached; a peer's ballot beyond it is
/// malformed and refused.
pub const ROUND_MAX: u64 = u32::MAX as u64;

/// The largest node id the Paxos crate accepts: a ballot packs its node id
/// into 32 bits of its [`epoch`](Ballot::epoch).
pub const NODE_ID_MAX: NodeId = u32::MAX as NodeId;

/// A proposal number: a round and the node that owns it, ordered by round
/// first, then node id (Lamport, "Paxos Made Simple", §2.2: "different
/// proposals have different numbers").
///
/// Each node only ever proposes with ballots carrying its own id, so two
/// proposers never share a ballot, and a proposer outbids the highest round
/// it has seen with [`successor`](Self::successor). `Ballot::ZERO` is the
/// ballot before any proposal: an acceptor that has promised nothing has
/// promised `ZERO`.
///
/// # Examples
///
/// ```
/// use tessera_paxos::Ballot;
///
/// let a = Ballot::new(3, 1);
/// let b = Ballot::new(3, 2);
/// assert!(a < b, "same round: the node id breaks the tie");
/// assert!(b < a.successor(1));
/// assert_eq!(a.successor(2), Ballot::new(4, 2));
/// assert_eq!(Ballot::new(1, 7).epoch(), (1 << 32) | 7);
/// assert_eq!(a.to_string(), "3.1");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Ballot {
    /// The round: bumped by every new attempt.
    pub round: u64,
    /// The node that owns the ballot.
    pub node: NodeId,
}

impl Ballot {
    /// The ballot before every proposal.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };

    /// A ballot of `round` owned by `node`.
    pub const fn new(round: u64, node: NodeId) -> Self {
        Ballot { round, node }
    }

    /// The lowest ballot of `node` above every ballot of `self`'s round.
    pub const fn successor(self, node: NodeId) -> Ballot {
        Ballot {
            round: self.round.saturating_add(1),
            node,
        }
    }

    /// Whether this is [`Ballot::ZERO`].
    pub const fn is_zero(self) -> bool {
        self.round == 0 && self.node == 0
    }

    /// The ballot packed into one number that orders like the ballot:
    /// `round << 32 | node`. This is the round a
    /// [`VoteTally`](tessera_quorum::VoteTally) counts in and the epoch of
    /// the evidence the ballot produces. Only meaningful for a ballot that
    /// passed [`check`](Self::check).
    pub const fn epoch(self) -> u64 {
        (self.round << 32) | (self.node & NODE_ID_MAX)
    }

    /// Checks a ballot received from a peer: its round within
    /// [`ROUND_MAX`], and its owner one of `members` (or the zero ballot).
    ///
    /// # Errors
    ///
    /// [`PaxosError::BallotFromUnknownNode`] or [`PaxosError::Malformed`].
    pub fn check(self, from: NodeId, members: &[NodeId]) -> Result<(), PaxosError> {
        if self.is_zero() {
            return Ok(());
        }
        if self.round > ROUND_MAX || self.round == 0 {
            return Err(PaxosError::Malformed {
                from,
                reason: "ballot round out of range",
            });
        }
        if !members.contains(&self.node) {
            return Err(PaxosError::BallotFromUnknownNode {
                from,
                owner: self.node,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The packed epoch orders exactly like the ballot.
        #[test]
        fn epoch_preserves_order(r1 in 0..=ROUND_MAX, n1 in 0..=NODE_ID_MAX, r2 in 0..=ROUND_MAX, n2 in 0..=NODE_ID_MAX) {
            let a = Ballot::new(r1, n1);
            let b = Ballot::new(r2, n2);
            prop_assert_eq!(a.cmp(&b), a.epoch().cmp(&b.epoch()));
        }
    }

    #[test]
    fn peer_ballots_are_checked() {
        let members = [1, 2, 3];
        assert!(Ballot::new(4, 2).check(2, &members).is_ok());
        assert!(Ballot::ZERO.check(2, &members).is_ok());
        assert!(matches!(
            Ballot::new(4, 9).check(2, &members),
            Err(PaxosError::BallotFromUnknownNode { owner: 9, .. })
        ));
        assert!(matches!(
            Ballot::new(ROUND_MAX + 1, 1).check(2, &members),
            Err(PaxosError::Malformed { .. })
        ));
        assert!(matches!(
            Ballot::new(0, 1).check(2, &members),
            Err(PaxosError::Malformed { .. })
        ));
    }
}

//! Majority quorums: any more than half of the members.

use tessera_core::NodeId;

use crate::member_set::sorted_members;
use crate::quorum_system::kth_largest_match;
use crate::{MemberSet, Phase, QuorumError, QuorumSystem};

/// Any `⌊n/2⌋ + 1` of `n` members, for both phases.
///
/// # Intersection
///
/// Two quorums `A` and `B` each hold more than `n/2` members, so
/// `|A| + |B| > n`: by pigeonhole they share a member. This holds for read
/// against write quorums, and also for two write quorums or two read
/// quorums — which is what Raft's election safety (two candidates of one
/// term cannot both win) and plain Paxos need.
///
/// # Examples
///
/// ```
/// use tessera_quorum::{Majority, Phase, QuorumSystem};
///
/// let config = Majority::new([1, 2, 3])?;
/// assert_eq!(config.quorum_size(), 2);
/// assert!(config.is_read_quorum_of(&[3, 1]));
/// assert!(!config.is_write_quorum_of(&[2]));
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(
        into = "crate::serde_repr::MajorityRepr",
        try_from = "crate::serde_repr::MajorityRepr"
    )
)]
pub struct Majority {
    members: Vec<NodeId>,
}

impl Majority {
    /// A majority quorum system over `members`.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] for an empty member list, a node
    /// listed twice, or more than [`MEMBERS_MAX`](crate::MEMBERS_MAX) members.
    pub fn new(members: impl IntoIterator<Item = NodeId>) -> Result<Self, QuorumError> {
        Ok(Majority {
            members: sorted_members("members", members)?,
        })
    }

    /// The quorum size, `⌊n/2⌋ + 1`.
    pub fn quorum_size(&self) -> usize {
        self.members.len() / 2 + 1
    }
}

impl QuorumSystem for Majority {
    fn members(&self) -> &[NodeId] {
        &self.members
    }

    fn is_quorum(&self, _phase: Phase, set: MemberSet) -> bool {
        set.intersection(MemberSet::all(self.members.len())).len() >= self.quorum_size()
    }

    fn quorum_size_min(&self, _phase: Phase) -> usize {
        self.quorum_size()
    }

    /// The `q`-th largest match index, `q` the quorum size: found by
    /// selection on a stack copy, O(n) and allocation-free.
    fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64 {
        kth_largest_match(&self.members, self.quorum_size(), match_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_more_than_half() {
        for (n, q) in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)] {
            let config = Majority::new(1..=n).unwrap();
            assert_eq!(config.quorum_size(), q as usize, "n = {n}");
            assert!(config.is_write_quorum(MemberSet::all(q as usize)));
            assert!(!config.is_write_quorum(MemberSet::all(q as usize - 1)));
        }
    }

    #[test]
    fn bits_beyond_the_members_do_not_count() {
        let config = Majority::new([1, 2, 3]).unwrap();
        // Positions 3 and 4 belong to no member of a 3-node configuration.
        assert!(!config.is_write_quorum(MemberSet::from_bits(0b11001)));
    }

    #[test]
    fn committed_index_matches_the_generic_rule() {
        let config = Majority::new([1, 2, 3, 4, 5]).unwrap();
        let cases: [[u64; 5]; 4] = [
            [9, 7, 7, 2, 0],
            [0, 0, 0, 0, 0],
            [5, 5, 5, 5, 5],
            [1, 2, 3, 4, 5],
        ];
        for case in cases {
            let lookup = |node: NodeId| case[node as usize - 1];
            let fast = config.committed_index(lookup);
            // Reference: the largest i such that a quorum has match >= i.
            let reference = (0..=10)
                .rev()
                .find(|i| case.iter().filter(|m| *m >= i).count() >= 3)
                .unwrap();
            assert_eq!(fast, reference, "{case:?}");
        }
    }
}

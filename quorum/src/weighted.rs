//! Weighted votes: each member carries a number of votes; a quorum is any
//! set whose votes reach a threshold.

use tessera_core::{InvalidParameter, NodeId};

use crate::member_set::sorted_members;
use crate::{MEMBERS_MAX, MemberSet, Phase, QuorumError, QuorumSystem};

/// Members with votes (Gifford's weighted voting, 1979): a read quorum
/// holds at least `read` votes, a write quorum at least `write`, with
/// `read + write > total` checked at construction.
///
/// Weights let a deployment favour some replicas — a site with more
/// capacity, a node that is usually reachable — or keep a zero-weight
/// member that observes without counting.
///
/// # Intersection
///
/// For a read quorum `A` and a write quorum `B`,
/// `votes(A ∩ B) ≥ votes(A) + votes(B) − total ≥ read + write − total > 0`:
/// the overlap carries a vote, so it holds a member (one with a non-zero
/// weight).
///
/// # Examples
///
/// ```
/// use tessera_quorum::{QuorumSystem, Weighted};
///
/// // Node 1 carries three votes of five: with it, one more node is a majority.
/// let config = Weighted::majority([(1, 3), (2, 1), (3, 1)])?;
/// assert_eq!(config.total_votes(), 5);
/// assert!(config.is_write_quorum_of(&[1]));
/// assert!(!config.is_write_quorum_of(&[2, 3]));
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(
        into = "crate::serde_repr::WeightedRepr",
        try_from = "crate::serde_repr::WeightedRepr"
    )
)]
pub struct Weighted {
    members: Vec<NodeId>,
    /// Votes of each member, by position.
    weights: Vec<u64>,
    total: u64,
    read: u64,
    write: u64,
    read_size_min: usize,
    write_size_min: usize,
}

impl Weighted {
    /// Members with votes; read quorums need `read` votes, write quorums
    /// `write`.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] for a bad member list, a total of
    /// zero votes (or one that overflows), or a threshold of zero or above
    /// the total; [`QuorumError::NoIntersection`] if `read + write ≤ total`.
    pub fn new(
        weights: impl IntoIterator<Item = (NodeId, u64)>,
        read: u64,
        write: u64,
    ) -> Result<Self, QuorumError> {
        let mut pairs: Vec<(NodeId, u64)> = weights.into_iter().collect();
        pairs.sort_unstable();
        let members = sorted_members("weights", pairs.iter().map(|(node, _)| *node))?;
        let weights: Vec<u64> = pairs.iter().map(|(_, weight)| *weight).collect();
        let total = weights
            .iter()
            .try_fold(0u64, |sum, weight| sum.checked_add(*weight))
            .ok_or_else(|| {
                InvalidParameter::new("weights", "the total number of votes overflows u64")
            })?;
        if total == 0 {
            return Err(
                InvalidParameter::new("weights", "the members carry no votes at all").into(),
            );
        }
        for (parameter, threshold) in [("read", read), ("write", write)] {
            if threshold == 0 || threshold > total {
                return Err(InvalidParameter::new(
                    parameter,
                    format!(
                        "a vote threshold must be within 1..={total} (the total), got {threshold}"
                    ),
                )
                .into());
            }
        }
        // read + write > total, computed without overflow.
        if read <= total - write {
            return Err(QuorumError::NoIntersection { read, write, total });
        }
        let read_size_min = fewest_members_reaching(&weights, read);
        let write_size_min = fewest_members_reaching(&weights, write);
        Ok(Weighted {
            members,
            weights,
            total,
            read,
            write,
            read_size_min,
            write_size_min,
        })
    }

    /// Members with votes; both phases need a strict majority of the votes,
    /// `⌊total/2⌋ + 1`.
    ///
    /// # Errors
    ///
    /// As for [`new`](Self::new).
    pub fn majority(weights: impl IntoIterator<Item = (NodeId, u64)>) -> Result<Self, QuorumError> {
        let pairs: Vec<(NodeId, u64)> = weights.into_iter().collect();
        let total = pairs
            .iter()
            .try_fold(0u64, |sum, (_, weight)| sum.checked_add(*weight))
            .ok_or_else(|| {
                InvalidParameter::new("weights", "the total number of votes overflows u64")
            })?;
        let threshold = total / 2 + 1;
        Weighted::new(pairs, threshold, threshold)
    }

    /// The votes of `node`, if a member.
    pub fn weight(&self, node: NodeId) -> Option<u64> {
        self.position(node).map(|position| self.weights[position])
    }

    /// Every member's votes together.
    pub fn total_votes(&self) -> u64 {
        self.total
    }

    /// The votes a quorum of `phase` needs.
    pub fn threshold(&self, phase: Phase) -> u64 {
        match phase {
            Phase::Read => self.read,
            Phase::Write => self.write,
        }
    }

    /// The votes the members in `set` carry.
    pub fn votes(&self, set: MemberSet) -> u64 {
        set.positions()
            .filter_map(|position| self.weights.get(position))
            .sum()
    }
}

/// How many members, heaviest first, reach `threshold` votes.
fn fewest_members_reaching(weights: &[u64], threshold: u64) -> usize {
    let mut sorted = weights.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let mut sum = 0u64;
    for (count, weight) in sorted.iter().enumerate() {
        sum += weight;
        if sum >= threshold {
            return count + 1;
        }
    }
    sorted.len()
}

impl QuorumSystem for Weighted {
    fn members(&self) -> &[NodeId] {
        &self.members
    }

    fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool {
        self.votes(set) >= self.threshold(phase)
    }

    fn quorum_size_min(&self, phase: Phase) -> usize {
        match phase {
            Phase::Read => self.read_size_min,
            Phase::Write => self.write_size_min,
        }
    }

    /// Members by match index, highest first, until their votes reach the
    /// write threshold: the last one's index. O(n log n), on the stack.
    fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64 {
        let count = self.members.len();
        let mut pairs = [(0u64, 0u64); MEMBERS_MAX];
        for ((slot, node), weight) in pairs.iter_mut().zip(&self.members).zip(&self.weights) {
            *slot = (match_index(*node), *weight);
        }
        let pairs = &mut pairs[..count];
        pairs.sort_unstable_by_key(|pair| std::cmp::Reverse(pair.0));
        let mut votes = 0u64;
        for (index, weight) in pairs.iter() {
            votes += weight;
            if votes >= self.write {
                return *index;
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_thresholds_must_overlap() {
        // Total 4: 2 + 2 does not exceed it.
        assert!(matches!(
            Weighted::new([(1, 2), (2, 1), (3, 1)], 2, 2),
            Err(QuorumError::NoIntersection { total: 4, .. })
        ));
        assert!(Weighted::new([(1, 2), (2, 1), (3, 1)], 3, 2).is_ok());
        assert!(Weighted::new([(1, 0), (2, 0)], 1, 1).is_err());
        assert!(Weighted::new([(1, 1)], 0, 1).is_err());
        assert!(Weighted::new([(1, u64::MAX), (2, 1)], 1, 1).is_err());
    }

    #[test]
    fn smallest_quorum_takes_the_heaviest_members() {
        let config = Weighted::new([(1, 1), (2, 5), (3, 1), (4, 1)], 7, 2).unwrap();
        assert_eq!(config.quorum_size_min(Phase::Read), 3);
        assert_eq!(config.quorum_size_min(Phase::Write), 1);
        assert_eq!(config.weight(2), Some(5));
        assert_eq!(config.weight(9), None);
    }

    #[test]
    fn committed_index_counts_votes() {
        let config = Weighted::majority([(1, 3), (2, 1), (3, 1)]).unwrap();
        // Node 1 alone carries a majority of the votes.
        let matches = [4u64, 9, 9];
        assert_eq!(config.committed_index(|n| matches[n as usize - 1]), 4);
        let matches = [1u64, 9, 2];
        assert_eq!(config.committed_index(|n| matches[n as usize - 1]), 1);
    }
}

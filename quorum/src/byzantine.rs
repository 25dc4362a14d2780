//! Byzantine quorums: `2f + 1` of `3f + 1`, so any two quorums share a
//! correct member.

use tessera_core::NodeId;

use crate::member_set::sorted_members;
use crate::quorum_system::kth_largest_match;
use crate::{MemberSet, Phase, QuorumError, QuorumSystem};

/// Quorums that tolerate `f` Byzantine (arbitrarily faulty) members among
/// `n ≥ 3f + 1`: any `⌈(n + f + 1) / 2⌉` members — `2f + 1` when
/// `n = 3f + 1`, as in PBFT — for both phases.
///
/// # Intersection
///
/// Two quorums of `q` members share at least `2q − n ≥ f + 1` members
/// (pigeonhole again). At most `f` of those are faulty, so **at least one
/// correct member is in both**: a correct member never votes for two
/// conflicting values in one round, so two conflicting certificates cannot
/// both form. [`QuorumSystem::intersection_min`] is `f + 1`.
///
/// # Availability
///
/// `q ≤ n − f` exactly when `n ≥ 3f + 1`: a quorum forms from the correct
/// members alone, even if the `f` faulty ones stay silent. That is why
/// fewer members are refused.
///
/// # Examples
///
/// ```
/// use tessera_quorum::{Byzantine, QuorumSystem};
///
/// let config = Byzantine::new([1, 2, 3, 4], 1)?;
/// assert_eq!(config.quorum_size(), 3);          // 2f + 1
/// assert_eq!(config.weak_quorum_size(), 2);     // f + 1: at least one correct
/// assert_eq!(config.intersection_min(), 2);
/// assert!(Byzantine::new([1, 2, 3], 1).is_err()); // 3 < 3f + 1
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(
        into = "crate::serde_repr::ByzantineRepr",
        try_from = "crate::serde_repr::ByzantineRepr"
    )
)]
pub struct Byzantine {
    members: Vec<NodeId>,
    faults: usize,
}

impl Byzantine {
    /// Quorums over `members` tolerating `faults` Byzantine members.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] for a bad member list;
    /// [`QuorumError::TooManyFaults`] if there are fewer than
    /// `3 · faults + 1` members.
    pub fn new(
        members: impl IntoIterator<Item = NodeId>,
        faults: usize,
    ) -> Result<Self, QuorumError> {
        let members = sorted_members("members", members)?;
        let needed = 3 * faults + 1;
        if members.len() < needed {
            return Err(QuorumError::TooManyFaults {
                members: members.len(),
                faults,
                needed,
            });
        }
        Ok(Byzantine { members, faults })
    }

    /// Quorums over `members` tolerating as many faults as they can:
    /// `f = ⌊(n − 1) / 3⌋`.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] for a bad member list.
    pub fn tolerating_most(members: impl IntoIterator<Item = NodeId>) -> Result<Self, QuorumError> {
        let members = sorted_members("members", members)?;
        let faults = (members.len() - 1) / 3;
        Ok(Byzantine { members, faults })
    }

    /// The number of faulty members tolerated, `f`.
    pub fn faults(&self) -> usize {
        self.faults
    }

    /// The quorum size, `⌈(n + f + 1) / 2⌉` (`2f + 1` for `n = 3f + 1`).
    pub fn quorum_size(&self) -> usize {
        (self.members.len() + self.faults + 2) / 2
    }

    /// `f + 1`: the fewest matching answers that include a correct member's
    /// (a PBFT client accepts a result from `f + 1` matching replies).
    pub fn weak_quorum_size(&self) -> usize {
        self.faults + 1
    }

    /// Whether `set` holds at least `f + 1` members, so at least one
    /// correct one.
    pub fn is_weak_quorum(&self, set: MemberSet) -> bool {
        set.intersection(MemberSet::all(self.members.len())).len() >= self.weak_quorum_size()
    }
}

impl QuorumSystem for Byzantine {
    fn members(&self) -> &[NodeId] {
        &self.members
    }

    fn is_quorum(&self, _phase: Phase, set: MemberSet) -> bool {
        set.intersection(MemberSet::all(self.members.len())).len() >= self.quorum_size()
    }

    fn quorum_size_min(&self, _phase: Phase) -> usize {
        self.quorum_size()
    }

    fn intersection_min(&self) -> usize {
        self.faults + 1
    }

    fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64 {
        kth_largest_match(&self.members, self.quorum_size(), match_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbft_sizes() {
        for f in 0..=5usize {
            let n = 3 * f + 1;
            let config = Byzantine::new(1..=n as u64, f).unwrap();
            assert_eq!(config.quorum_size(), 2 * f + 1, "f = {f}");
            assert_eq!(config.weak_quorum_size(), f + 1);
            // Available with f members silent.
            assert!(config.quorum_size() <= n - f);
            // Two quorums share f + 1 members.
            assert!(2 * config.quorum_size() - n > f);
        }
    }

    #[test]
    fn more_members_than_needed_keep_both_properties() {
        for n in 4..=20usize {
            let config = Byzantine::tolerating_most(1..=n as u64).unwrap();
            let (q, f) = (config.quorum_size(), config.faults());
            assert_eq!(f, (n - 1) / 3);
            assert!(2 * q > n + f, "n = {n}");
            assert!(q <= n - f, "n = {n}");
        }
    }

    #[test]
    fn too_few_members_are_refused() {
        assert_eq!(
            Byzantine::new(1..=6, 2),
            Err(QuorumError::TooManyFaults {
                members: 6,
                faults: 2,
                needed: 7
            })
        );
    }
}

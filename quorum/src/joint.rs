//! Joint quorums: a quorum of the old configuration *and* a quorum of the
//! new one, for changing membership safely.

use tessera_core::{InvalidParameter, NodeId};

use crate::{MEMBERS_MAX, MemberSet, Phase, QuorumError, QuorumSystem};

/// Two configurations at once: a set is a quorum when it holds a quorum of
/// `old` and a quorum of `new`. Raft's joint consensus (C_old,new, §6 of
/// the Raft paper) and joint reconfiguration in Paxos both use it.
///
/// # Intersection
///
/// A joint read quorum contains a read quorum of `old`, and a joint write
/// quorum contains a write quorum of `old`; those two intersect because
/// `old` is a quorum system, so the joint quorums do too (at least
/// `max(old, new)` [`intersection_min`](QuorumSystem::intersection_min)
/// members).
///
/// More importantly for membership change, a joint quorum also intersects
/// every quorum of `old` alone and of `new` alone. So while a cluster moves
/// `old → joint → new`, no decision taken by `old` alone can be missed by
/// the joint configuration, and no decision of the joint configuration by
/// `new` alone: there is never a moment when two disjoint groups can decide.
///
/// # Examples
///
/// ```
/// use tessera_quorum::{Joint, Majority, QuorumSystem};
///
/// let joint = Joint::new(Majority::new([1, 2, 3])?, Majority::new([3, 4, 5])?)?;
/// assert_eq!(joint.members(), &[1, 2, 3, 4, 5]);
/// assert!(joint.is_write_quorum_of(&[1, 3, 4]));   // 2 of {1,2,3}, 2 of {3,4,5}
/// assert!(!joint.is_write_quorum_of(&[1, 2, 4]));  // only 1 of {3,4,5}
///
/// // Commit needs both halves: {1, 2} hold 9 but only node 4 of the new half does.
/// let match_index = |node| match node { 1 | 2 => 9, 4 => 9, 3 => 4, _ => 0 };
/// assert_eq!(joint.committed_index(match_index), 4);
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(
        into = "crate::serde_repr::JointRepr<A, B>",
        try_from = "crate::serde_repr::JointRepr<A, B>",
        bound(
            serialize = "A: QuorumSystem + Clone + serde::Serialize, B: QuorumSystem + Clone + serde::Serialize",
            deserialize = "A: QuorumSystem + serde::Deserialize<'de>, B: QuorumSystem + serde::Deserialize<'de>"
        )
    )
)]
pub struct Joint<A, B> {
    old: A,
    new: B,
    members: Vec<NodeId>,
    /// For each position of `old`, its position among `members`.
    old_positions: Vec<u8>,
    /// For each position of `new`, its position among `members`.
    new_positions: Vec<u8>,
}

impl<A: QuorumSystem, B: QuorumSystem> Joint<A, B> {
    /// The joint configuration of `old` and `new`.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] if the two together have more than
    /// [`MEMBERS_MAX`] members.
    pub fn new(old: A, new: B) -> Result<Self, QuorumError> {
        let mut members: Vec<NodeId> = old.members().iter().chain(new.members()).copied().collect();
        members.sort_unstable();
        members.dedup();
        if members.len() > MEMBERS_MAX {
            return Err(InvalidParameter::new(
                "new",
                format!(
                    "the joint configuration would have {} members, at most {MEMBERS_MAX} are supported",
                    members.len()
                ),
            )
            .into());
        }
        let positions = |half: &[NodeId]| -> Vec<u8> {
            half.iter()
                .filter_map(|node| members.binary_search(node).ok())
                .map(|position| position as u8)
                .collect()
        };
        let old_positions = positions(old.members());
        let new_positions = positions(new.members());
        Ok(Joint {
            old,
            new,
            members,
            old_positions,
            new_positions,
        })
    }

    /// The configuration being left.
    pub fn old(&self) -> &A {
        &self.old
    }

    /// The configuration being entered.
    pub fn new_config(&self) -> &B {
        &self.new
    }

    /// Splits into the two configurations.
    pub fn into_parts(self) -> (A, B) {
        (self.old, self.new)
    }

    /// `set` (positions among the joint members) as positions among the
    /// members of one half.
    fn project(set: MemberSet, half_positions: &[u8]) -> MemberSet {
        let mut projected = MemberSet::EMPTY;
        for (half_position, joint_position) in half_positions.iter().enumerate() {
            if set.contains(usize::from(*joint_position)) {
                projected.insert(half_position);
            }
        }
        projected
    }
}

impl<A: QuorumSystem, B: QuorumSystem> QuorumSystem for Joint<A, B> {
    fn members(&self) -> &[NodeId] {
        &self.members
    }

    fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool {
        self.old
            .is_quorum(phase, Self::project(set, &self.old_positions))
            && self
                .new
                .is_quorum(phase, Self::project(set, &self.new_positions))
    }

    /// A lower bound: the larger of the two halves' minima (the exact
    /// figure depends on how the halves overlap).
    fn quorum_size_min(&self, phase: Phase) -> usize {
        self.old
            .quorum_size_min(phase)
            .max(self.new.quorum_size_min(phase))
    }

    fn intersection_min(&self) -> usize {
        self.old.intersection_min().max(self.new.intersection_min())
    }

    fn is_acknowledged(&self, index: u64, match_index: impl Fn(NodeId) -> u64) -> bool {
        self.old.is_acknowledged(index, &match_index)
            && self.new.is_acknowledged(index, &match_index)
    }

    /// The smaller of the two halves' committed indexes: an index is
    /// acknowledged by a joint quorum exactly when each half has a quorum
    /// that acknowledged it, and "acknowledged by a quorum of one half" only
    /// gets harder as the index grows.
    fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64 {
        self.old
            .committed_index(&match_index)
            .min(self.new.committed_index(&match_index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Majority;

    #[test]
    fn joint_quorum_needs_both_halves() {
        let joint = Joint::new(
            Majority::new([1, 2, 3]).unwrap(),
            Majority::new([4, 5, 6]).unwrap(),
        )
        .unwrap();
        assert!(!joint.is_read_quorum_of(&[1, 2, 3]));
        assert!(!joint.is_read_quorum_of(&[4, 5, 6]));
        assert!(joint.is_read_quorum_of(&[1, 2, 4, 5]));
        assert_eq!(joint.quorum_size_min(Phase::Write), 2);
    }

    #[test]
    fn joint_committed_index_is_the_minimum_of_the_halves() {
        let joint = Joint::new(
            Majority::new([1, 2, 3]).unwrap(),
            Majority::new([3, 4, 5]).unwrap(),
        )
        .unwrap();
        let matches = [7u64, 7, 3, 9, 9];
        let lookup = |n: NodeId| matches[n as usize - 1];
        assert_eq!(joint.old().committed_index(lookup), 7);
        assert_eq!(joint.new_config().committed_index(lookup), 9);
        assert_eq!(joint.committed_index(lookup), 7);
        assert!(joint.is_acknowledged(7, lookup));
        assert!(!joint.is_acknowledged(8, lookup));
    }

    #[test]
    fn too_large_a_union_is_refused() {
        let old = Majority::new(0..100).unwrap();
        let new = Majority::new(100..200).unwrap();
        assert!(Joint::new(old, new).is_err());
    }
}

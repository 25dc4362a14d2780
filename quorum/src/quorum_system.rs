//! The `QuorumSystem` trait: which sets of members form a quorum, for each
//! of the two phases every quorum protocol has.

use std::sync::Arc;

use tessera_core::NodeId;

use crate::{MEMBERS_MAX, MemberSet};

/// The two kinds of quorum a protocol asks for.
///
/// Every quorum-based protocol has a phase that *learns* what may already
/// have been decided and a phase that *decides*. Safety needs only that
/// every phase-one quorum intersects every phase-two quorum: whoever learns
/// hears from at least one member that took part in any earlier decision.
///
/// | protocol | [`Phase::Read`] (phase one) | [`Phase::Write`] (phase two) |
/// |---|---|---|
/// | Paxos | prepare / promise | accept |
/// | Raft | election (votes) | replication (commit) |
/// | Dynamo N/R/W | read (R replies) | write (W acknowledgements) |
/// | PBFT | view change | prepare, commit |
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Phase {
    /// Phase one: a read quorum (prepare, election, R).
    Read,
    /// Phase two: a write quorum (accept, replicate, W).
    Write,
}

/// A quorum system: a member list and, for each [`Phase`], which subsets of
/// the members are quorums.
///
/// # Contract
///
/// Implementations promise, and [`verify_intersection`] checks
/// exhaustively for small configurations:
///
/// - **members**: [`members`](Self::members) is sorted, without duplicates,
///   non-empty and at most [`MEMBERS_MAX`](crate::MEMBERS_MAX) long;
///   positions in a [`MemberSet`] index into it;
/// - **monotonicity**: a superset of a quorum is a quorum;
/// - **INTERSECTION**: every read quorum intersects every write quorum in at
///   least [`intersection_min`](Self::intersection_min) members (one for
///   crash faults, `f + 1` for Byzantine quorums). Constructors refuse any
///   configuration that would break this.
///
/// Write quorums need not intersect each other (Flexible Paxos), and read
/// quorums need not either — except where a protocol needs it: Raft's
/// election safety needs two election quorums of one term to intersect, so
/// Raft uses [`Majority`](crate::Majority) or
/// [`Joint`](crate::Joint) of majorities, where they do.
///
/// Every check works on a [`MemberSet`], so it never allocates.
///
/// [`verify_intersection`]: crate::verify_intersection
///
/// # Examples
///
/// ```
/// use tessera_quorum::{Majority, Phase, QuorumSystem};
///
/// let config = Majority::new([1, 2, 3, 4, 5])?;
/// assert!(config.is_write_quorum_of(&[1, 3, 5]));
/// assert!(!config.is_write_quorum_of(&[1, 3, 9])); // 9 is not a member
/// assert_eq!(config.quorum_size_min(Phase::Read), 3);
///
/// // The largest log index a quorum has acknowledged: 7 is on 1, 2 and 3.
/// let match_index = |node| match node { 1 => 9, 2 => 7, 3 => 7, 4 => 2, _ => 0 };
/// assert_eq!(config.committed_index(match_index), 7);
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
pub trait QuorumSystem {
    /// Every member whose vote counts, sorted, without duplicates.
    fn members(&self) -> &[NodeId];

    /// Whether `set` (positions in [`members`](Self::members)) is a quorum
    /// for `phase`.
    fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool;

    /// The fewest members any quorum of `phase` has.
    fn quorum_size_min(&self, phase: Phase) -> usize;

    /// How many members every read quorum shares with every write quorum,
    /// at least: 1 for crash-fault quorum systems, `f + 1` for Byzantine
    /// ones (so that the overlap always holds a correct member).
    fn intersection_min(&self) -> usize {
        1
    }

    /// The position of `node` in [`members`](Self::members), if a member.
    fn position(&self, node: NodeId) -> Option<usize> {
        self.members().binary_search(&node).ok()
    }

    /// Whether `node` is a member.
    fn is_member(&self, node: NodeId) -> bool {
        self.position(node).is_some()
    }

    /// Whether `set` is a read (phase-one) quorum.
    fn is_read_quorum(&self, set: MemberSet) -> bool {
        self.is_quorum(Phase::Read, set)
    }

    /// Whether `set` is a write (phase-two) quorum.
    fn is_write_quorum(&self, set: MemberSet) -> bool {
        self.is_quorum(Phase::Write, set)
    }

    /// Whether the members among `nodes` form a read quorum. Non-members
    /// are ignored.
    fn is_read_quorum_of(&self, nodes: &[NodeId]) -> bool {
        self.is_read_quorum(MemberSet::of_nodes(self.members(), nodes))
    }

    /// Whether the members among `nodes` form a write quorum. Non-members
    /// are ignored.
    fn is_write_quorum_of(&self, nodes: &[NodeId]) -> bool {
        self.is_write_quorum(MemberSet::of_nodes(self.members(), nodes))
    }

    /// The members for which `predicate` holds.
    fn members_where(&self, mut predicate: impl FnMut(NodeId) -> bool) -> MemberSet
    where
        Self: Sized,
    {
        let mut set = MemberSet::EMPTY;
        for (position, node) in self.members().iter().enumerate() {
            if predicate(*node) {
                set.insert(position);
            }
        }
        set
    }

    /// Whether a write quorum has acknowledged `index`, given each member's
    /// highest acknowledged index.
    fn is_acknowledged(&self, index: u64, match_index: impl Fn(NodeId) -> u64) -> bool
    where
        Self: Sized,
    {
        self.is_write_quorum(self.members_where(|node| match_index(node) >= index))
    }

    /// The largest index a write quorum has acknowledged, given each
    /// member's highest acknowledged index (Raft's match index): every
    /// member of some write quorum has acknowledged it. `0` if none.
    ///
    /// Allocation-free. The default tries each member's index from the
    /// largest down, so it costs O(n²) for n members; every system in
    /// this crate computes it directly instead ([`Majority`] by selection
    /// in O(n), [`Joint`] as the smaller of its halves').
    ///
    /// [`Majority`]: crate::Majority
    /// [`Joint`]: crate::Joint
    fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64
    where
        Self: Sized,
    {
        let members = self.members();
        let mut indexes = [0u64; MEMBERS_MAX];
        let count = members.len().min(MEMBERS_MAX);
        for (slot, node) in indexes.iter_mut().zip(members) {
            *slot = match_index(*node);
        }
        let indexes = &mut indexes[..count];
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        let mut previous = None;
        for candidate in indexes.iter().copied() {
            if previous == Some(candidate) {
                continue;
            }
            previous = Some(candidate);
            if self.is_acknowledged(candidate, &match_index) {
                return candidate;
            }
        }
        0
    }
}

/// Forwards every method to the configuration behind a pointer, so that
/// tallies and certificates can share one configuration (`&Majority`,
/// `Arc<Joint<..>>`) instead of each cloning it.
macro_rules! forward_through_pointer {
    ($($pointer:ty),*) => {$(
        impl<Q: QuorumSystem> QuorumSystem for $pointer {
            fn members(&self) -> &[NodeId] {
                (**self).members()
            }
            fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool {
                (**self).is_quorum(phase, set)
            }
            fn quorum_size_min(&self, phase: Phase) -> usize {
                (**self).quorum_size_min(phase)
            }
            fn intersection_min(&self) -> usize {
                (**self).intersection_min()
            }
            fn position(&self, node: NodeId) -> Option<usize> {
                (**self).position(node)
            }
            fn is_acknowledged(&self, index: u64, match_index: impl Fn(NodeId) -> u64) -> bool {
                (**self).is_acknowledged(index, match_index)
            }
            fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64 {
                (**self).committed_index(match_index)
            }
        }
    )*};
}

forward_through_pointer!(&Q, Arc<Q>);

/// The `k`-th largest of the members' match indexes (`k ≥ 1`): the largest
/// index that at least `k` members have acknowledged. O(n) by selection on
/// a stack copy; what every threshold quorum's committed index is.
pub(crate) fn kth_largest_match(
    members: &[NodeId],
    k: usize,
    match_index: impl Fn(NodeId) -> u64,
) -> u64 {
    let count = members.len().min(MEMBERS_MAX);
    if k == 0 || k > count {
        return 0;
    }
    let mut indexes = [0u64; MEMBERS_MAX];
    for (slot, node) in indexes.iter_mut().zip(members) {
        *slot = match_index(*node);
    }
    // Ascending order: the element at `count - k` has `k` elements at or
    // above it.
    let (_, nth, _) = indexes[..count].select_nth_unstable(count - k);
    *nth
}

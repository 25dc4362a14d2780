//! A set of members of one configuration, by position: the allocation-free
//! currency every quorum check is computed in.

use std::fmt;

use tessera_core::{InvalidParameter, NodeId};

/// The most members one quorum configuration may have.
///
/// A [`MemberSet`] is a 128-bit mask, so counting a vote, testing a quorum
/// and merging two sets are single machine operations and never allocate.
/// Consensus groups are small (3 to 9 voters); 128 leaves room for grids
/// and Byzantine groups of `f` up to 42.
pub const MEMBERS_MAX: usize = 128;

/// A subset of a configuration's members, each named by its position in the
/// configuration's sorted member list ([`QuorumSystem::members`]).
///
/// Positions only mean something relative to one configuration: a set built
/// for one configuration must not be tested against another. The types in
/// this crate that hold a `MemberSet` ([`VoteTally`], [`QuorumCertificate`])
/// keep the configuration next to it for that reason.
///
/// [`QuorumSystem::members`]: crate::QuorumSystem::members
/// [`VoteTally`]: crate::VoteTally
/// [`QuorumCertificate`]: crate::QuorumCertificate
///
/// # Examples
///
/// ```
/// use tessera_quorum::MemberSet;
///
/// let mut set = MemberSet::EMPTY;
/// set.insert(0);
/// set.insert(3);
/// assert_eq!(set.len(), 2);
/// assert!(set.contains(3));
/// assert_eq!(set.positions().collect::<Vec<_>>(), vec![0, 3]);
/// assert_eq!(MemberSet::all(4).difference(set).positions().collect::<Vec<_>>(), vec![1, 2]);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MemberSet(u128);

impl MemberSet {
    /// The empty set.
    pub const EMPTY: MemberSet = MemberSet(0);

    /// The set of positions `0..members` (every member of a configuration
    /// with `members` members). `members` is clamped to [`MEMBERS_MAX`].
    pub const fn all(members: usize) -> MemberSet {
        if members >= MEMBERS_MAX {
            MemberSet(u128::MAX)
        } else {
            MemberSet((1u128 << members) - 1)
        }
    }

    /// The set with the given raw mask (bit `i` is position `i`).
    pub const fn from_bits(bits: u128) -> MemberSet {
        MemberSet(bits)
    }

    /// The raw mask (bit `i` is position `i`).
    pub const fn bits(self) -> u128 {
        self.0
    }

    /// Adds position `position`; returns whether it was absent. Positions at
    /// or beyond [`MEMBERS_MAX`] are ignored (no configuration has them).
    pub fn insert(&mut self, position: usize) -> bool {
        if position >= MEMBERS_MAX {
            return false;
        }
        let bit = 1u128 << position;
        let absent = self.0 & bit == 0;
        self.0 |= bit;
        absent
    }

    /// Removes position `position`; returns whether it was present.
    pub fn remove(&mut self, position: usize) -> bool {
        if position >= MEMBERS_MAX {
            return false;
        }
        let bit = 1u128 << position;
        let present = self.0 & bit != 0;
        self.0 &= !bit;
        present
    }

    /// Whether position `position` is in the set.
    pub const fn contains(self, position: usize) -> bool {
        position < MEMBERS_MAX && self.0 & (1u128 << position) != 0
    }

    /// The number of positions in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Positions in either set.
    pub const fn union(self, other: MemberSet) -> MemberSet {
        MemberSet(self.0 | other.0)
    }

    /// Positions in both sets.
    pub const fn intersection(self, other: MemberSet) -> MemberSet {
        MemberSet(self.0 & other.0)
    }

    /// Positions in `self` but not in `other`.
    pub const fn difference(self, other: MemberSet) -> MemberSet {
        MemberSet(self.0 & !other.0)
    }

    /// Whether every position of `self` is in `other`.
    pub const fn is_subset(self, other: MemberSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The positions in the set, in increasing order.
    pub fn positions(self) -> impl Iterator<Item = usize> {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let position = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            Some(position)
        })
    }

    /// The set of the positions of `nodes` within `members` (a sorted
    /// member list). Nodes that are not members are left out.
    pub fn of_nodes(members: &[NodeId], nodes: &[NodeId]) -> MemberSet {
        let mut set = MemberSet::EMPTY;
        for node in nodes {
            if let Ok(position) = members.binary_search(node) {
                set.insert(position);
            }
        }
        set
    }

    /// The members of `members` (a sorted member list) whose positions are
    /// in the set.
    pub fn nodes<'a>(self, members: &'a [NodeId]) -> impl Iterator<Item = NodeId> + 'a {
        self.positions()
            .filter_map(move |position| members.get(position).copied())
    }
}

impl fmt::Debug for MemberSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.positions()).finish()
    }
}

/// Sorts and checks a member list: non-empty, no duplicates, at most
/// [`MEMBERS_MAX`].
pub(crate) fn sorted_members(
    parameter: &'static str,
    members: impl IntoIterator<Item = NodeId>,
) -> Result<Vec<NodeId>, InvalidParameter> {
    let mut sorted: Vec<NodeId> = members.into_iter().collect();
    sorted.sort_unstable();
    check_sorted_members(parameter, &sorted)?;
    Ok(sorted)
}

/// Checks an already sorted member list.
pub(crate) fn check_sorted_members(
    parameter: &'static str,
    sorted: &[NodeId],
) -> Result<(), InvalidParameter> {
    if sorted.is_empty() {
        return Err(InvalidParameter::new(
            parameter,
            "a configuration needs at least one member",
        ));
    }
    if sorted.len() > MEMBERS_MAX {
        return Err(InvalidParameter::new(
            parameter,
            format!(
                "at most {MEMBERS_MAX} members are supported, got {}",
                sorted.len()
            ),
        ));
    }
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(InvalidParameter::new(
            parameter,
            format!("node {} is listed twice", pair[0]),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_covers_exactly_the_first_positions() {
        assert_eq!(MemberSet::all(0), MemberSet::EMPTY);
        assert_eq!(MemberSet::all(3).len(), 3);
        assert_eq!(MemberSet::all(MEMBERS_MAX).len(), MEMBERS_MAX);
        assert_eq!(MemberSet::all(MEMBERS_MAX + 5).len(), MEMBERS_MAX);
        assert!(MemberSet::all(127).contains(126));
        assert!(!MemberSet::all(127).contains(127));
    }

    #[test]
    fn insert_and_remove_report_change() {
        let mut set = MemberSet::EMPTY;
        assert!(set.insert(127));
        assert!(!set.insert(127));
        assert!(!set.insert(MEMBERS_MAX));
        assert!(set.remove(127));
        assert!(!set.remove(127));
        assert!(set.is_empty());
    }

    #[test]
    fn node_conversion_skips_non_members() {
        let members = [2, 5, 9];
        let set = MemberSet::of_nodes(&members, &[9, 4, 2]);
        assert_eq!(set.nodes(&members).collect::<Vec<_>>(), vec![2, 9]);
    }

    #[test]
    fn member_lists_are_checked() {
        assert!(sorted_members("m", []).is_err());
        assert!(sorted_members("m", [1, 2, 1]).is_err());
        assert!(sorted_members("m", 0..129).is_err());
        assert_eq!(sorted_members("m", [3, 1, 2]).unwrap(), vec![1, 2, 3]);
    }
}

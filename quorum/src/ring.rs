//! The consistent-hashing ring: where each key lives.

use std::fmt;

use tessera_core::{InvalidParameter, NodeId};

use crate::QuorumError;
use crate::key_hash::{RING_SEED, mix64, stable_hash};

/// The most virtual nodes (tokens) one node may place on the ring.
pub const VNODES_MAX: usize = 1_024;

/// The most nodes a ring may hold.
pub const RING_NODES_MAX: usize = 4_096;

/// One range of the ring: the positions in `(start, end]`, wrapping past
/// `u64::MAX` when `start ≥ end`. Every key in a range has the same
/// preference list, so a range is the unit that replicas compare in
/// anti-entropy and that moves when membership changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KeyRange {
    /// The token before the range (exclusive).
    pub start: u64,
    /// The range's own token (inclusive): the token that owns it.
    pub end: u64,
}

impl KeyRange {
    /// Whether ring position `position` falls in the range.
    pub fn contains(&self, position: u64) -> bool {
        if self.start < self.end {
            position > self.start && position <= self.end
        } else {
            // Wraps: (start, MAX] ∪ [0, end]; a single token owns it all.
            position > self.start || position <= self.end
        }
    }
}

impl fmt::Display for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#018x}, {:#018x}]", self.start, self.end)
    }
}

/// A consistent-hashing ring with virtual nodes (Karger et al. 1997, as
/// Dynamo uses it).
///
/// Each node places `vnodes` tokens at pseudo-random positions (a stable
/// hash of its id and the token's number); a key's position is a stable
/// hash of the key. The key belongs to the range of the first token at or
/// after its position, and its **preference list** is the first
/// `replication` distinct nodes met walking clockwise from that token.
///
/// Because positions depend only on node ids, adding or removing a node
/// moves only the ranges next to its tokens: every other key keeps its
/// preference list ([`Ring::with_node`] shows it; the tests measure it).
/// Many tokens per node spread a node's load — and, when it fails, its
/// ranges — over all the others.
///
/// # Examples
///
/// ```
/// use tessera_quorum::Ring;
///
/// let ring = Ring::new([1, 2, 3, 4, 5], 16, 3)?;
/// let replicas = ring.preference_list(b"user:42");
/// assert_eq!(replicas.len(), 3);
///
/// // A sixth node takes over only part of the key space: a key's replicas
/// // change only by node 6 replacing one of them, and about 1/6 of all
/// // key placements move to it.
/// let bigger = ring.with_node(6)?;
/// let mut moved = 0;
/// for i in 0..1_000u32 {
///     let key = i.to_le_bytes();
///     let old = ring.preference_list(&key);
///     let new_placements: Vec<u64> =
///         bigger.preference_list(&key).iter().copied().filter(|n| !old.contains(n)).collect();
///     assert!(new_placements.is_empty() || new_placements == [6]);
///     moved += new_placements.len();
/// }
/// assert!(moved < 3_000 / 4, "{moved} of 3000 placements moved");
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(
        into = "crate::serde_repr::RingRepr",
        try_from = "crate::serde_repr::RingRepr"
    )
)]
pub struct Ring {
    nodes: Vec<NodeId>,
    vnodes: usize,
    replication: usize,
    /// `(token, owner)`, sorted by token (then owner, for ties).
    tokens: Vec<(u64, NodeId)>,
    /// For each token, the distinct nodes met walking clockwise from it,
    /// every node once.
    walks: Vec<Vec<NodeId>>,
}

impl Ring {
    /// A ring of `nodes`, each with `vnodes` tokens, replicating every key
    /// on `replication` nodes.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] for no nodes, a node listed twice,
    /// more than [`RING_NODES_MAX`] nodes, `vnodes` outside
    /// `1..=`[`VNODES_MAX`], or `replication` outside `1..=` the node count.
    pub fn new(
        nodes: impl IntoIterator<Item = NodeId>,
        vnodes: usize,
        replication: usize,
    ) -> Result<Self, QuorumError> {
        let mut nodes: Vec<NodeId> = nodes.into_iter().collect();
        nodes.sort_unstable();
        if nodes.is_empty() || nodes.len() > RING_NODES_MAX {
            return Err(InvalidParameter::new(
                "nodes",
                format!(
                    "a ring needs 1..={RING_NODES_MAX} nodes, got {}",
                    nodes.len()
                ),
            )
            .into());
        }
        if let Some(pair) = nodes.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(InvalidParameter::new(
                "nodes",
                format!("node {} is listed twice", pair[0]),
            )
            .into());
        }
        if vnodes == 0 || vnodes > VNODES_MAX {
            return Err(InvalidParameter::new(
                "vnodes",
                format!("must be within 1..={VNODES_MAX}, got {vnodes}"),
            )
            .into());
        }
        if replication == 0 || replication > nodes.len() {
            return Err(InvalidParameter::new(
                "replication",
                format!(
                    "must be within 1..={} (the node count), got {replication}",
                    nodes.len()
                ),
            )
            .into());
        }
        let mut tokens: Vec<(u64, NodeId)> = nodes
            .iter()
            .flat_map(|node| (0..vnodes).map(move |vnode| (token_of(*node, vnode), *node)))
            .collect();
        tokens.sort_unstable();
        let walks = (0..tokens.len())
            .map(|start| {
                let mut walk: Vec<NodeId> = Vec::with_capacity(nodes.len());
                for offset in 0..tokens.len() {
                    let owner = tokens[(start + offset) % tokens.len()].1;
                    if !walk.contains(&owner) {
                        walk.push(owner);
                        if walk.len() == nodes.len() {
                            break;
                        }
                    }
                }
                walk
            })
            .collect();
        Ok(Ring {
            nodes,
            vnodes,
            replication,
            tokens,
            walks,
        })
    }

    /// The same ring with `node` added.
    ///
    /// # Errors
    ///
    /// As for [`new`](Self::new): a node already present is listed twice.
    pub fn with_node(&self, node: NodeId) -> Result<Ring, QuorumError> {
        Ring::new(
            self.nodes.iter().copied().chain([node]),
            self.vnodes,
            self.replication,
        )
    }

    /// The same ring with `node` removed.
    ///
    /// # Errors
    ///
    /// As for [`new`](Self::new): removing a node may leave fewer nodes than
    /// the replication factor. Removing an absent node is an error too.
    pub fn without_node(&self, node: NodeId) -> Result<Ring, QuorumError> {
        if !self.nodes.contains(&node) {
            return Err(
                InvalidParameter::new("node", format!("node {node} is not on the ring")).into(),
            );
        }
        Ring::new(
            self.nodes.iter().copied().filter(|n| *n != node),
            self.vnodes,
            self.replication,
        )
    }

    /// The nodes, sorted.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// Tokens per node.
    pub fn vnodes(&self) -> usize {
        self.vnodes
    }

    /// How many nodes replicate each key.
    pub fn replication(&self) -> usize {
        self.replication
    }

    /// The number of ranges (one per token).
    pub fn range_count(&self) -> usize {
        self.tokens.len()
    }

    /// A key's position on the ring.
    pub fn position(key: &[u8]) -> u64 {
        stable_hash(RING_SEED, key)
    }

    /// The index of the range holding ring position `position`.
    fn range_index(&self, position: u64) -> usize {
        let index = self.tokens.partition_point(|(token, _)| *token < position);
        if index == self.tokens.len() { 0 } else { index }
    }

    /// The range `key` belongs to.
    pub fn range_of(&self, key: &[u8]) -> KeyRange {
        self.range(self.range_index(Ring::position(key)))
    }

    /// Range number `index` (`0..range_count()`), in token order.
    fn range(&self, index: usize) -> KeyRange {
        let previous = if index == 0 {
            self.tokens.len() - 1
        } else {
            index - 1
        };
        KeyRange {
            start: self.tokens[previous].0,
            end: self.tokens[index].0,
        }
    }

    /// Every range, in token order.
    pub fn ranges(&self) -> impl Iterator<Item = KeyRange> + '_ {
        (0..self.tokens.len()).map(|index| self.range(index))
    }

    /// Whether `range` is one of this ring's ranges.
    pub fn has_range(&self, range: KeyRange) -> bool {
        self.tokens
            .binary_search_by(|(token, _)| token.cmp(&range.end))
            .is_ok_and(|index| self.range(index) == range)
    }

    /// Every node, in the order a request for `key` tries them: the
    /// preference list first, then the fallbacks a sloppy quorum uses when
    /// preferred nodes are down.
    pub fn walk(&self, key: &[u8]) -> &[NodeId] {
        &self.walks[self.range_index(Ring::position(key))]
    }

    /// The first [`replication`](Self::replication) distinct nodes
    /// clockwise from `key`: its home replicas.
    pub fn preference_list(&self, key: &[u8]) -> &[NodeId] {
        &self.walk(key)[..self.replication]
    }

    /// The home replicas of `range` (the same for every key in it), or an
    /// empty list for a range this ring does not have.
    pub fn replicas_of(&self, range: KeyRange) -> &[NodeId] {
        match self
            .tokens
            .binary_search_by(|(token, _)| token.cmp(&range.end))
        {
            Ok(index) if self.range(index) == range => &self.walks[index][..self.replication],
            _ => &[],
        }
    }

    /// The ranges `node` is a home replica of.
    pub fn ranges_of(&self, node: NodeId) -> impl Iterator<Item = KeyRange> + '_ {
        (0..self.tokens.len())
            .filter(move |index| self.walks[*index][..self.replication].contains(&node))
            .map(|index| self.range(index))
    }
}

/// Where token number `vnode` of `node` sits on the ring.
fn token_of(node: NodeId, vnode: usize) -> u64 {
    mix64(stable_hash(RING_SEED, &node.to_le_bytes()) ^ mix64(vnode as u64 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_refused_by_name() {
        let name = |result: Result<Ring, QuorumError>| match result {
            Err(QuorumError::InvalidParameter(error)) => error.parameter,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(name(Ring::new([], 4, 1)), "nodes");
        assert_eq!(name(Ring::new([1, 1], 4, 1)), "nodes");
        assert_eq!(name(Ring::new([1, 2], 0, 1)), "vnodes");
        assert_eq!(name(Ring::new([1, 2], 4, 3)), "replication");
        assert_eq!(name(Ring::new([1, 2], 4, 0)), "replication");
        let ring = Ring::new([1, 2], 4, 2).unwrap();
        assert_eq!(name(ring.without_node(2)), "replication");
        assert_eq!(name(ring.without_node(7)), "node");
    }

    #[test]
    fn ranges_partition_the_ring() {
        let ring = Ring::new([1, 2, 3], 8, 2).unwrap();
        assert_eq!(ring.range_count(), 24);
        for i in 0..2_000u32 {
            let key = i.to_le_bytes();
            let position = Ring::position(&key);
            let holding: Vec<KeyRange> = ring.ranges().filter(|r| r.contains(position)).collect();
            assert_eq!(holding, vec![ring.range_of(&key)], "key {i}");
            assert!(ring.has_range(holding[0]));
            assert_eq!(ring.replicas_of(holding[0]), ring.preference_list(&key));
        }
    }

    #[test]
    fn preference_lists_are_distinct_nodes_and_walks_cover_everyone() {
        let ring = Ring::new([10, 20, 30, 40], 4, 3).unwrap();
        for i in 0..500u32 {
            let walk = ring.walk(&i.to_le_bytes());
            let mut sorted = walk.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![10, 20, 30, 40]);
        }
    }

    #[test]
    fn single_token_range_wraps() {
        let ring = Ring::new([1], 1, 1).unwrap();
        let range = ring.ranges().next().unwrap();
        assert_eq!(range.start, range.end);
        assert!(range.contains(0) && range.contains(u64::MAX) && range.contains(range.end));
    }
}

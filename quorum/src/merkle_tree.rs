//! A Merkle tree over the keys of one range, updated in O(depth) per
//! change, compared level by level in anti-entropy.

use tessera_core::InvalidParameter;

use crate::QuorumError;
use crate::key_hash::{TREE_SEED, mix64, stable_hash};

/// The deepest tree allowed: 2^24 leaves (16 million), 256 MiB of hashes.
/// A depth of about log2 of the keys per range keeps leaves to a key or
/// two, which is what makes anti-entropy's bytes track the differences.
pub const MERKLE_DEPTH_MAX: u8 = 24;

/// A complete binary hash tree of fixed depth over one range's keys.
///
/// A key goes to the leaf numbered by the top `depth` bits of a stable hash
/// of the key (so both replicas put it in the same leaf). Each entry — a
/// key and the digest of its object — contributes a 64-bit entry hash, and
/// **a node's hash is the wrapping sum of the entry hashes below it**.
/// Summing, rather than hashing the children's hashes together, makes a
/// change to one entry a single delta added to each of its `depth + 1`
/// ancestors: an incremental update costs O(depth) = O(log n) additions, no
/// rehashing of siblings and no rebuild.
///
/// Two replicas with the same entries have equal roots; a differing entry
/// changes every hash on its path, so comparing level by level from the
/// root finds it while skipping every equal subtree. Sums of
/// pseudo-random 64-bit values collide by accident with probability about
/// 2⁻⁶⁴ per comparison; replicas are trusted, so deliberate collisions are
/// out of scope.
///
/// # Examples
///
/// ```
/// use tessera_quorum::MerkleTree;
///
/// let mut a = MerkleTree::new(4)?;
/// let mut b = MerkleTree::new(4)?;
/// for key in [&b"x"[..], b"y", b"z"] {
///     a.insert(key, 1);
///     b.insert(key, 1);
/// }
/// assert_eq!(a.root(), b.root());
/// b.update(b"y", 1, 2); // a new version of y on b
/// assert_ne!(a.root(), b.root());
/// let leaf = MerkleTree::bucket(b"y", 4);
/// assert_ne!(a.hash(4, leaf), b.hash(4, leaf));
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    depth: u8,
    /// `levels[l]` holds the 2^l node hashes of level `l`; level 0 is the
    /// root, level `depth` the leaves.
    levels: Vec<Vec<u64>>,
    entries: u64,
}

impl MerkleTree {
    /// An empty tree with `2^depth` leaves.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] for a depth above
    /// [`MERKLE_DEPTH_MAX`].
    pub fn new(depth: u8) -> Result<Self, QuorumError> {
        if depth > MERKLE_DEPTH_MAX {
            return Err(InvalidParameter::new(
                "depth",
                format!("must be at most {MERKLE_DEPTH_MAX}, got {depth}"),
            )
            .into());
        }
        Ok(MerkleTree {
            depth,
            levels: (0..=depth).map(|level| vec![0; 1usize << level]).collect(),
            entries: 0,
        })
    }

    /// The depth: leaves are at level `depth`.
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// How many entries the tree holds.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// Whether the tree holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The leaf `key` goes to in a tree of depth `depth`.
    pub fn bucket(key: &[u8], depth: u8) -> u64 {
        MerkleTree::leaf_of(stable_hash(TREE_SEED, key), depth)
    }

    /// The leaf of a key whose tree hash is `key_hash`.
    fn leaf_of(key_hash: u64, depth: u8) -> u64 {
        if depth == 0 {
            0
        } else {
            key_hash >> (64 - u32::from(depth))
        }
    }

    /// The hash one entry contributes, from its key's tree hash.
    fn entry_hash(key_hash: u64, digest: u64) -> u64 {
        mix64(key_hash.wrapping_add(mix64(digest ^ TREE_SEED)))
    }

    /// Adds `delta` to the leaf of the key with tree hash `key_hash` and
    /// to every ancestor.
    fn add_along_path(&mut self, key_hash: u64, delta: u64) {
        let mut index = MerkleTree::leaf_of(key_hash, self.depth) as usize;
        for level in (0..=usize::from(self.depth)).rev() {
            let node = &mut self.levels[level][index];
            *node = node.wrapping_add(delta);
            index >>= 1;
        }
    }

    /// Adds an entry: `key` with an object whose digest is `digest`.
    /// O(depth).
    pub fn insert(&mut self, key: &[u8], digest: u64) {
        let key_hash = stable_hash(TREE_SEED, key);
        self.add_along_path(key_hash, MerkleTree::entry_hash(key_hash, digest));
        self.entries += 1;
    }

    /// Removes the entry of `key` with digest `digest` (it must be in the
    /// tree). O(depth).
    pub fn remove(&mut self, key: &[u8], digest: u64) {
        let key_hash = stable_hash(TREE_SEED, key);
        self.add_along_path(
            key_hash,
            MerkleTree::entry_hash(key_hash, digest).wrapping_neg(),
        );
        self.entries = self.entries.saturating_sub(1);
    }

    /// Replaces the entry of `key` with digest `old` by one with digest
    /// `new`. O(depth): one delta along one path.
    pub fn update(&mut self, key: &[u8], old: u64, new: u64) {
        let key_hash = stable_hash(TREE_SEED, key);
        let delta = MerkleTree::entry_hash(key_hash, new)
            .wrapping_sub(MerkleTree::entry_hash(key_hash, old));
        self.add_along_path(key_hash, delta);
    }

    /// The root hash.
    pub fn root(&self) -> u64 {
        self.levels[0][0]
    }

    /// The hash of node `index` at `level`, or `None` outside the tree.
    pub fn get(&self, level: u8, index: u64) -> Option<u64> {
        self.levels
            .get(usize::from(level))
            .and_then(|nodes| nodes.get(usize::try_from(index).ok()?))
            .copied()
    }

    /// The hash of node `index` at `level`; `0` outside the tree.
    pub fn hash(&self, level: u8, index: u64) -> u64 {
        self.get(level, index).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_insertion_does_not_matter() {
        let mut a = MerkleTree::new(3).unwrap();
        let mut b = MerkleTree::new(3).unwrap();
        for i in 0..50u32 {
            a.insert(&i.to_le_bytes(), u64::from(i));
        }
        for i in (0..50u32).rev() {
            b.insert(&i.to_le_bytes(), u64::from(i));
        }
        assert_eq!(a, b);
        assert_eq!(a.len(), 50);
    }

    #[test]
    fn remove_undoes_insert_and_update_equals_remove_then_insert() {
        let mut tree = MerkleTree::new(5).unwrap();
        let empty = tree.clone();
        tree.insert(b"k", 1);
        tree.remove(b"k", 1);
        assert_eq!(tree, empty);
        let mut updated = empty.clone();
        updated.insert(b"k", 1);
        updated.update(b"k", 1, 2);
        let mut rebuilt = empty;
        rebuilt.insert(b"k", 2);
        assert_eq!(updated, rebuilt);
    }

    #[test]
    fn every_node_is_the_sum_of_its_children() {
        let mut tree = MerkleTree::new(4).unwrap();
        for i in 0..100u32 {
            tree.insert(&i.to_le_bytes(), u64::from(i) * 7);
        }
        for level in 0..4u8 {
            for index in 0..(1u64 << level) {
                let children = tree
                    .hash(level + 1, 2 * index)
                    .wrapping_add(tree.hash(level + 1, 2 * index + 1));
                assert_eq!(tree.hash(level, index), children);
            }
        }
        assert_eq!(tree.get(4, 16), None);
        assert!(MerkleTree::new(MERKLE_DEPTH_MAX + 1).is_err());
    }
}

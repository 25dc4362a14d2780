//! A replica's objects, indexed by range and Merkle bucket, with one
//! Merkle tree per range kept up to date on every change.

use std::collections::{BTreeMap, BTreeSet};

use crate::{KeyRange, MerkleTree, QuorumError, ReplicatedValue, Version, VersionedObject};

/// A key: any bytes.
pub type Key = Vec<u8>;

/// One stored object and what the index needs to find and hash it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredObject<V> {
    range: KeyRange,
    digest: u64,
    object: VersionedObject<V>,
}

/// One range's Merkle tree and its keys in bucket order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RangeIndex {
    tree: MerkleTree,
    /// `(bucket, key)` for every key of the range.
    keys: BTreeSet<(u64, Key)>,
}

/// The objects one replica stores, each in its ring range, with a Merkle
/// tree per range that every change updates in O(depth).
///
/// # Examples
///
/// ```
/// use tessera_quorum::{KeyRange, ObjectStore, Version};
/// use tessera_vclock::{Dot, DottedVersionVector, VersionVector};
///
/// let range = KeyRange { start: 0, end: u64::MAX };
/// let mut a: ObjectStore<u64> = ObjectStore::new(6)?;
/// let mut b: ObjectStore<u64> = ObjectStore::new(6)?;
/// let version = Version {
///     clock: DottedVersionVector::new(Dot::new(1, 1), VersionVector::new())?,
///     value: Some(42),
/// };
/// a.add(range, b"k", version.clone());
/// assert_ne!(a.tree(range).map(|t| t.root()), b.tree(range).map(|t| t.root()));
/// b.add(range, b"k", version);
/// assert_eq!(a.tree(range).map(|t| t.root()), b.tree(range).map(|t| t.root()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStore<V> {
    depth: u8,
    objects: BTreeMap<Key, StoredObject<V>>,
    ranges: BTreeMap<KeyRange, RangeIndex>,
}

impl<V: ReplicatedValue> ObjectStore<V> {
    /// An empty store whose range trees have `depth` levels below the root.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] for a depth above
    /// [`MERKLE_DEPTH_MAX`](crate::MERKLE_DEPTH_MAX).
    pub fn new(depth: u8) -> Result<Self, QuorumError> {
        MerkleTree::new(depth)?;
        Ok(ObjectStore {
            depth,
            objects: BTreeMap::new(),
            ranges: BTreeMap::new(),
        })
    }

    /// The depth of every range's tree.
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The object stored for `key`.
    pub fn get(&self, key: &[u8]) -> Option<&VersionedObject<V>> {
        self.objects.get(key).map(|stored| &stored.object)
    }

    /// The digest of the object stored for `key`.
    pub fn digest(&self, key: &[u8]) -> Option<u64> {
        self.objects.get(key).map(|stored| stored.digest)
    }

    /// The range `key` is stored under.
    pub fn range_of(&self, key: &[u8]) -> Option<KeyRange> {
        self.objects.get(key).map(|stored| stored.range)
    }

    /// Every stored key and object, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &VersionedObject<V>)> {
        self.objects
            .iter()
            .map(|(key, stored)| (key, &stored.object))
    }

    /// The tree of `range`, if the store holds any key of it (or did).
    pub fn tree(&self, range: KeyRange) -> Option<&MerkleTree> {
        self.ranges.get(&range).map(|index| &index.tree)
    }

    /// The root hash of `range`'s tree (`0` for a range with no keys).
    pub fn root(&self, range: KeyRange) -> u64 {
        self.tree(range).map_or(0, MerkleTree::root)
    }

    /// The hash of node `index` at `level` of `range`'s tree (`0` when
    /// empty).
    pub fn node_hash(&self, range: KeyRange, level: u8, index: u64) -> u64 {
        self.tree(range).map_or(0, |tree| tree.hash(level, index))
    }

    /// The keys of `range` in Merkle leaf `bucket`, in key order, with
    /// their objects.
    pub fn bucket(
        &self,
        range: KeyRange,
        bucket: u64,
    ) -> impl Iterator<Item = (&Key, &VersionedObject<V>)> {
        self.ranges
            .get(&range)
            .into_iter()
            .flat_map(move |index| {
                index
                    .keys
                    .range((bucket, Vec::new())..)
                    .take_while(move |(b, _)| *b == bucket)
            })
            .filter_map(|(_, key)| self.objects.get(key).map(|stored| (key, &stored.object)))
    }

    /// Sets the object of `key` in `range` (removing the key for an empty
    /// object) and updates the tree. Returns whether anything changed.
    pub fn put(&mut self, range: KeyRange, key: &[u8], object: VersionedObject<V>) -> bool {
        if object.is_empty() {
            return self.remove(key).is_some();
        }
        let digest = object.digest();
        let depth = self.depth;
        if let Some(stored) = self.objects.get_mut(key) {
            if stored.digest == digest && stored.range == range && stored.object == object {
                return false;
            }
            if stored.range == range {
                if let Some(index) = self.ranges.get_mut(&range) {
                    index.tree.update(key, stored.digest, digest);
                }
                stored.digest = digest;
                stored.object = object;
                return true;
            }
            // The key moved to another range (a new ring): re-index it.
            self.remove(key);
        }
        let index = self.ranges.entry(range).or_insert_with(|| RangeIndex {
            tree: MerkleTree::new(depth).unwrap_or_else(|_| unreachable!("depth checked in new")),
            keys: BTreeSet::new(),
        });
        index.tree.insert(key, digest);
        index
            .keys
            .insert((MerkleTree::bucket(key, depth), key.to_vec()));
        self.objects.insert(
            key.to_vec(),
            StoredObject {
                range,
                digest,
                object,
            },
        );
        true
    }

    /// Adds one version to `key`'s object (see [`VersionedObject::add`]).
    /// Returns whether the object changed.
    pub fn add(&mut self, range: KeyRange, key: &[u8], version: Version<V>) -> bool {
        let mut object = self.get(key).cloned().unwrap_or_default();
        if !object.add(version) {
            return false;
        }
        self.put(range, key, object)
    }

    /// Merges `incoming` into `key`'s object. Returns whether it changed.
    pub fn merge(&mut self, range: KeyRange, key: &[u8], incoming: &VersionedObject<V>) -> bool {
        let mut object = self.get(key).cloned().unwrap_or_default();
        if !object.merge(incoming) {
            return false;
        }
        self.put(range, key, object)
    }

    /// Removes `key`, returning its object.
    pub fn remove(&mut self, key: &[u8]) -> Option<VersionedObject<V>> {
        let stored = self.objects.remove(key)?;
        if let Some(index) = self.ranges.get_mut(&stored.range) {
            index.tree.remove(key, stored.digest);
            index
                .keys
                .remove(&(MerkleTree::bucket(key, self.depth), key.to_vec()));
            if index.keys.is_empty() {
                self.ranges.remove(&stored.range);
            }
        }
        Some(stored.object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_vclock::{Dot, DottedVersionVector, VersionVector};

    fn version(actor: u64, counter: u64, value: Option<u64>) -> Version<u64> {
        Version {
            clock: DottedVersionVector::new(Dot::new(actor, counter), VersionVector::new())
                .unwrap(),
            value,
        }
    }

    #[test]
    fn trees_follow_every_change_and_match_a_rebuild() {
        let range = KeyRange { start: 5, end: 9 };
        let mut store: ObjectStore<u64> = ObjectStore::new(3).unwrap();
        for i in 0..40u64 {
            store.add(range, &i.to_le_bytes(), version(1, i + 1, Some(i)));
        }
        store.add(range, &3u64.to_le_bytes(), version(2, 1, Some(99)));
        store.remove(&7u64.to_le_bytes());
        let mut rebuilt: ObjectStore<u64> = ObjectStore::new(3).unwrap();
        for (key, object) in store.iter() {
            rebuilt.put(range, key, object.clone());
        }
        assert_eq!(store.tree(range), rebuilt.tree(range));
        assert_eq!(store.len(), 39);
        let in_buckets: usize = (0..8).map(|b| store.bucket(range, b).count()).sum();
        assert_eq!(in_buckets, 39);
    }

    #[test]
    fn empty_range_index_is_dropped_and_duplicates_change_nothing() {
        let range = KeyRange { start: 0, end: 1 };
        let mut store: ObjectStore<u64> = ObjectStore::new(2).unwrap();
        assert!(store.add(range, b"k", version(1, 1, Some(1))));
        assert!(!store.add(range, b"k", version(1, 1, Some(1))));
        assert!(store.remove(b"k").is_some());
        assert!(store.tree(range).is_none());
        assert_eq!(store.root(range), 0);
    }
}

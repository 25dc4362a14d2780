//! What a replica keeps on stable storage, and the writes that build it.

use std::collections::BTreeMap;

use tessera_core::{DurableState, Instant, NodeId};
use tessera_vclock::VersionVector;

use crate::{Key, VersionedObject};

/// A version a fallback keeps for an unreachable home replica.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Hint<V> {
    /// The object kept.
    pub object: VersionedObject<V>,
    /// When the fallback first stored it, on its own clock: the hint is
    /// dropped [`hint_ttl`](crate::ReplicaConfig::hint_ttl) later.
    pub stored_at: Instant,
}

/// A tombstone every home replica held, now removed: the versions it
/// covered are refused until the record expires.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PurgedTombstone {
    /// The tombstone's context: every version it deleted.
    pub context: VersionVector,
    /// When it was purged here, on this replica's clock.
    pub purged_at: Instant,
}

/// One write to a replica's stable storage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReplicaWrite<V> {
    /// The object of `key` is now `object` (an empty object removes it).
    Object {
        /// The key.
        key: Key,
        /// The object.
        object: VersionedObject<V>,
    },
    /// The hint for `home` about `key` is now `hint` (`None` removes it).
    Hint {
        /// The home replica.
        home: NodeId,
        /// The key.
        key: Key,
        /// The hint.
        hint: Option<Hint<V>>,
    },
    /// `key`'s tombstone was purged (`None`: the record expired).
    Purged {
        /// The key.
        key: Key,
        /// The record.
        record: Option<PurgedTombstone>,
    },
    /// Actor epochs up to this one may have been used: a restarted replica
    /// starts above it.
    EpochsReserved(u32),
    /// This node's actors below this epoch are retired: they are never
    /// continued (written when the ring changes).
    ActorFloor(u32),
}

/// A replica's stable storage: its objects, the hints it keeps for others,
/// the tombstones it purged, and how far it has used actor epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReplicaDisk<V> {
    /// Objects by key.
    pub objects: BTreeMap<Key, VersionedObject<V>>,
    /// Hints by home replica and key.
    pub hints: BTreeMap<(NodeId, Key), Hint<V>>,
    /// Purged tombstones by key.
    pub purged: BTreeMap<Key, PurgedTombstone>,
    /// The highest actor epoch that may have been used.
    pub epochs_reserved: u32,
    /// The lowest actor epoch this node may still continue.
    pub actor_floor: u32,
}

impl<V> Default for ReplicaDisk<V> {
    fn default() -> Self {
        ReplicaDisk {
            objects: BTreeMap::new(),
            hints: BTreeMap::new(),
            purged: BTreeMap::new(),
            epochs_reserved: 0,
            actor_floor: 0,
        }
    }
}

impl<V: Clone> DurableState<ReplicaWrite<V>> for ReplicaDisk<V> {
    fn apply(&mut self, write: ReplicaWrite<V>) {
        match write {
            ReplicaWrite::Object { key, object } => {
                if object.is_empty() {
                    self.objects.remove(&key);
                } else {
                    self.objects.insert(key, object);
                }
            }
            ReplicaWrite::Hint { home, key, hint } => match hint {
                Some(hint) => {
                    self.hints.insert((home, key), hint);
                }
                None => {
                    self.hints.remove(&(home, key));
                }
            },
            ReplicaWrite::Purged { key, record } => match record {
                Some(record) => {
                    self.purged.insert(key, record);
                }
                None => {
                    self.purged.remove(&key);
                }
            },
            ReplicaWrite::EpochsReserved(epoch) => {
                self.epochs_reserved = self.epochs_reserved.max(epoch);
            }
            ReplicaWrite::ActorFloor(epoch) => {
                self.actor_floor = self.actor_floor.max(epoch);
            }
        }
    }
}

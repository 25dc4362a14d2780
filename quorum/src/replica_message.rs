//! Messages between replicas.

use tessera_core::NodeId;
use tessera_vclock::{Dot, VersionVector};

use crate::{AntiEntropyMessage, Key, VersionedObject};

/// A message between replicas. Everything in it is untrusted until
/// checked: a message that does not fit the receiver's state is dropped and
/// counted, never applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReplicaMessage<V> {
    /// Store a new version (a coordinator's write), sent as the
    /// coordinator's whole object for the key: whoever holds the new event
    /// then also holds every earlier event of the same actor, so a version
    /// vector read from any replica claims nothing it has not seen.
    Store {
        /// The coordinator's operation.
        op: u64,
        /// The key.
        key: Key,
        /// The new version's dot.
        dot: Dot,
        /// The coordinator's object, the new version included.
        object: VersionedObject<V>,
        /// When the receiver stands in for an unreachable home replica
        /// (sloppy quorum): that replica, to hand the version back to.
        hint_for: Option<NodeId>,
    },
    /// The version is durable here.
    StoreAck {
        /// The coordinator's operation.
        op: u64,
        /// The version's dot.
        dot: Dot,
    },
    /// Send your object for `key` (a coordinator's read).
    Fetch {
        /// The coordinator's operation.
        op: u64,
        /// The key.
        key: Key,
    },
    /// The object for a key, with any hints held for it.
    FetchReply {
        /// The coordinator's operation.
        op: u64,
        /// The key.
        key: Key,
        /// The object (empty if none).
        object: VersionedObject<V>,
        /// What a purged tombstone of the key deleted (empty if none): the
        /// reader has seen those versions' deletion.
        purged: VersionVector,
    },
    /// Read repair: merge this object, which a read found newer than yours.
    Repair {
        /// The key.
        key: Key,
        /// The merged object.
        object: VersionedObject<V>,
    },
    /// Hinted handoff: an object a fallback kept for you.
    Handoff {
        /// The key.
        key: Key,
        /// The object.
        object: VersionedObject<V>,
    },
    /// The handed-off object is durable here.
    HandoffAck {
        /// The key.
        key: Key,
        /// The digest of the object received.
        digest: u64,
    },
    /// Anti-entropy.
    AntiEntropy(AntiEntropyMessage<V>),
    /// Tombstone collection: do you hold exactly this tombstone?
    TombstoneQuery {
        /// The key.
        key: Key,
        /// The tombstone's context.
        context: VersionVector,
    },
    /// The answer to a [`TombstoneQuery`](Self::TombstoneQuery), sent once
    /// what it says is durable.
    TombstoneHeld {
        /// The key.
        key: Key,
        /// The tombstone's context.
        context: VersionVector,
        /// Whether the sender holds exactly that tombstone.
        held: bool,
    },
    /// Every home replica holds this tombstone: remove it, and refuse the
    /// versions it covers for a while.
    Purge {
        /// The key.
        key: Key,
        /// The tombstone's context.
        context: VersionVector,
    },
}

//! What clients ask a replica, and what it answers.

use tessera_vclock::{DottedVersionVector, VersionVector};

use crate::{Key, RequestOptions, Ring, Version};

/// A client request, coordinated by whichever replica receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReplicaRequest<V> {
    /// Read `key`.
    Get {
        /// The key.
        key: Key,
        /// N, R, W; `None` for the replica's defaults.
        options: Option<RequestOptions>,
        /// What the client's session has seen of `key`: the answer will
        /// have seen at least that much, or the read fails.
        session: Option<VersionVector>,
    },
    /// Write `value` to `key` over `context`, the context of the client's
    /// last read (empty for a blind write): every version the context
    /// covers is replaced; versions it does not cover stay as siblings.
    Put {
        /// The key.
        key: Key,
        /// The value.
        value: V,
        /// What the client had seen of `key`.
        context: VersionVector,
        /// N, R, W; `None` for the replica's defaults.
        options: Option<RequestOptions>,
    },
    /// Delete `key` over `context`: a tombstone replaces every version the
    /// context covers.
    Delete {
        /// The key.
        key: Key,
        /// What the client had seen of `key`.
        context: VersionVector,
        /// N, R, W; `None` for the replica's defaults.
        options: Option<RequestOptions>,
    },
    /// Membership change (an operator's request, sent to every node): route
    /// by `ring` from now on, handing the keys this node no longer
    /// replicates to the nodes that gained them.
    ChangeRing {
        /// The new ring.
        ring: Ring,
    },
}

impl<V> ReplicaRequest<V> {
    /// The key the request is about, if one.
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            ReplicaRequest::Get { key, .. }
            | ReplicaRequest::Put { key, .. }
            | ReplicaRequest::Delete { key, .. } => Some(key),
            ReplicaRequest::ChangeRing { .. } => None,
        }
    }
}

/// The answer to a read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReadResult<V> {
    /// Every live version, sorted by dot — concurrent writes as siblings,
    /// deletes as tombstones (`value: None`).
    pub versions: Vec<Version<V>>,
    /// Everything the versions have seen: pass it as the context of the
    /// next write, and merge it into the session token.
    pub context: VersionVector,
    /// With [`ConflictPolicy::Merge`](crate::ConflictPolicy::Merge), the
    /// siblings merged into one value; `None` otherwise, or when no version
    /// holds a value.
    pub merged: Option<V>,
}

impl<V> ReadResult<V> {
    /// The sibling values (deletes left out).
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.versions.iter().filter_map(|v| v.value.as_ref())
    }

    /// Whether the key has no value: never written, or deleted.
    pub fn is_absent(&self) -> bool {
        self.values().next().is_none()
    }
}

/// A replica's answer to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReplicaResponse<V> {
    /// The read succeeded.
    Read(ReadResult<V>),
    /// The write (or delete) was acknowledged by W replicas; this is its
    /// version.
    Written {
        /// The new version's clock: merge `to_version_vector()` into the
        /// session token.
        version: DottedVersionVector,
    },
    /// Too few replicas answered in time. A write may still have reached
    /// some replicas and may surface later: its outcome is unknown.
    Unavailable {
        /// Replies or acknowledgements received.
        answered: usize,
        /// How many were needed.
        needed: usize,
    },
    /// No set of replicas that answered had seen what the session has
    /// seen: answering would break read-your-writes or monotonic reads.
    SessionNotSatisfied,
    /// The request was refused before anything was done (R or W of zero
    /// or above N, a key too long): nothing was applied.
    Rejected {
        /// Why, in words (the [`QuorumError`](crate::QuorumError) it
        /// came from).
        reason: String,
    },
    /// The coordinator has too many requests open; nothing was done.
    Overloaded,
    /// The node now routes by the new ring.
    RingChanged {
        /// Keys handed to the nodes that gained them (as hints), one per
        /// key and gaining node.
        handed_over: usize,
    },
}

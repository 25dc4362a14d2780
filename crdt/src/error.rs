//! The crate's one error type.

use tessera_core::{InvalidParameter, NodeId};
use tessera_vclock::{Dot, VclockError};

/// What went wrong decoding, merging, applying or mutating a CRDT.
///
/// Three kinds of fault are kept apart:
///
/// - **the peer's**: bytes that are not a valid encoding
///   ([`Decode`](Self::Decode)), or a state or delta whose causal metadata
///   contradicts itself ([`Inconsistent`](Self::Inconsistent),
///   [`ConflictingDot`](Self::ConflictingDot),
///   [`ConflictingWrite`](Self::ConflictingWrite));
/// - **delivery's**: an operation that arrived before its causal
///   dependencies ([`MissingDependencies`](Self::MissingDependencies)) or a
///   second time ([`AlreadyApplied`](Self::AlreadyApplied)) — buffer it, or
///   drop it;
/// - **the caller's**: a position past the end, an element not present, a
///   parameter out of range, a buffer bound reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrdtError {
    /// The bytes are not a valid encoding.
    #[error("malformed encoding: {0}")]
    Decode(#[from] VclockError),
    /// A state or delta whose parts contradict each other: a dot outside
    /// its causal context, the same dot twice, keys out of order, a
    /// sequence operation that refers to nothing.
    #[error("inconsistent state: {reason}")]
    Inconsistent {
        /// What is inconsistent, with the values involved.
        reason: String,
    },
    /// One dot names two different events (two elements, two values) in the
    /// two states being merged: an actor id was reused, or a replica lost
    /// state it had already shared.
    #[error("dot {dot} names different events in the two states")]
    ConflictingDot {
        /// The dot.
        dot: Dot,
    },
    /// Two register writes carry the same timestamp and node but different
    /// values: a node issued one timestamp twice.
    #[error("two different writes carry the same timestamp from node {node}")]
    ConflictingWrite {
        /// The node that issued the timestamp.
        node: NodeId,
    },
    /// An operation arrived before operations it causally depends on.
    #[error("operation {op} is missing {} causal dependencies, first {}", missing.len(), missing.first().map_or_else(String::new, ToString::to_string))]
    MissingDependencies {
        /// The operation.
        op: Dot,
        /// What it depends on and is not here yet (each actor's first
        /// missing event).
        missing: Vec<Dot>,
    },
    /// An operation was applied already (op-based delivery must be exactly
    /// once).
    #[error("operation {op} was applied already")]
    AlreadyApplied {
        /// The operation.
        op: Dot,
    },
    /// An actor's counter reached its limit.
    #[error("the counter of actor {actor} is exhausted")]
    CounterExhausted {
        /// The actor.
        actor: NodeId,
    },
    /// A position or range outside the sequence.
    #[error("position {position} is out of bounds for a sequence of length {len}")]
    OutOfBounds {
        /// The position asked for (the end, for a range).
        position: usize,
        /// The sequence's length.
        len: usize,
    },
    /// The element is not in the set (a 2P-set removes only what it holds).
    #[error("the element is not in the set")]
    NotPresent,
    /// A bounded buffer is full.
    #[error("the {buffer} is full ({limit} entries)")]
    BufferFull {
        /// Which buffer.
        buffer: &'static str,
        /// Its bound.
        limit: usize,
    },
    /// A configuration parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),
}

impl CrdtError {
    /// An [`Inconsistent`](Self::Inconsistent) error.
    pub(crate) fn inconsistent(reason: impl Into<String>) -> Self {
        CrdtError::Inconsistent {
            reason: reason.into(),
        }
    }
}

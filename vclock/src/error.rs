//! The crate's one error type.

use tessera_core::{InvalidParameter, NodeId};

use crate::Dot;

/// What went wrong building, advancing or decoding a causality structure.
///
/// Decoding errors (bytes from the network or the disk that are not a
/// valid encoding) say where in the input they were found; API misuse and
/// limits say which values broke the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VclockError {
    /// An actor's counter is at `u64::MAX` and cannot be incremented.
    #[error("the counter of actor {actor} is exhausted")]
    CounterExhausted {
        /// The actor.
        actor: NodeId,
    },
    /// Entries must be sorted by actor, without duplicates.
    #[error("actor {actor} follows actor {previous}: entries must be strictly sorted by actor")]
    UnsortedActors {
        /// The entry before.
        previous: NodeId,
        /// The entry out of order.
        actor: NodeId,
    },
    /// Counters start at one; a zero counter is never stored.
    #[error("actor {actor} has a zero counter")]
    ZeroCounter {
        /// The actor.
        actor: NodeId,
    },
    /// A dotted version vector's dot must lie outside its context.
    #[error("dot {dot} is already inside its context (which reaches {context_counter})")]
    DotInContext {
        /// The dot.
        dot: Dot,
        /// The context's counter for the dot's actor.
        context_counter: u64,
    },
    /// A DVVSet entry holds more values than its counter has events.
    #[error("actor {actor} has {values} values but only {counter} events")]
    TooManyValues {
        /// The actor.
        actor: NodeId,
        /// How many values the entry holds.
        values: usize,
        /// The entry's counter.
        counter: u64,
    },
    /// The input ended inside an item.
    #[error("the input ends at offset {offset}, inside an item")]
    Truncated {
        /// Where the input ended.
        offset: usize,
    },
    /// A varint has more than ten bytes or does not fit in 64 bits.
    #[error("the varint at offset {offset} overflows 64 bits")]
    VarintOverflow {
        /// Where the varint starts.
        offset: usize,
    },
    /// A varint is encoded with more bytes than needed (every value has
    /// exactly one encoding).
    #[error("the varint at offset {offset} is not in its shortest form")]
    NonCanonicalVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A length prefix promises more items than the remaining input can
    /// hold.
    #[error(
        "the length {length} at offset {offset} exceeds what the remaining {remaining} bytes can hold"
    )]
    LengthTooLarge {
        /// Where the length was read.
        offset: usize,
        /// The length read.
        length: u64,
        /// Bytes left after it.
        remaining: usize,
    },
    /// Delta-encoded actor ids ran past `u64::MAX`.
    #[error("the actor id at offset {offset} overflows 64 bits")]
    ActorOverflow {
        /// Where the actor delta was read.
        offset: usize,
    },
    /// A string is not valid UTF-8.
    #[error("the string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// An unknown tag byte.
    #[error("unknown tag {tag} at offset {offset}")]
    InvalidTag {
        /// Where the tag was read.
        offset: usize,
        /// The tag.
        tag: u8,
    },
    /// Bytes remain after a complete item.
    #[error("{count} bytes remain after the item, from offset {offset}")]
    TrailingBytes {
        /// Where the extra bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
    /// A constructor or policy parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),
}

//! How a protocol's messages travel: the [`WireCodec`] adapter each
//! protocol implements once, and the errors a decoder reports.
//!
//! The transport is protocol-agnostic. It carries a protocol's messages as
//! opaque byte strings inside a prost [`Envelope`](crate::proto::transport::Envelope)
//! naming the sender, the cluster and the protocol; the protocol's codec
//! turns its messages into those bytes and back: Raft's codec is
//! [`RaftAdapter`](crate::RaftAdapter), Multi-Paxos's
//! [`PaxosAdapter`](crate::PaxosAdapter), PBFT's
//! [`PbftAdapter`](crate::PbftAdapter).

use std::fmt;

/// Which of a peer connection's two streams a message travels on.
///
/// Each lane is its own HTTP/2 stream with its own bounded queue, so a
/// snapshot being streamed never holds up the heartbeats and votes behind
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// Votes, heartbeats, appends and their answers.
    Ordinary,
    /// Bulk state transfer: snapshot chunks.
    Bulk,
}

impl Lane {
    /// Both lanes, in index order.
    pub const ALL: [Lane; 2] = [Lane::Ordinary, Lane::Bulk];

    /// The lane's position in [`Lane::ALL`].
    pub fn index(self) -> usize {
        match self {
            Lane::Ordinary => 0,
            Lane::Bulk => 1,
        }
    }

    /// The lane's name, as used in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Ordinary => "ordinary",
            Lane::Bulk => "bulk",
        }
    }
}

/// A protocol's message encoding: the per-protocol half of the wire format.
///
/// `decode` reads bytes from the network: it must reject anything malformed
/// with a [`WireError`] and never panic, whatever the input (the fuzz
/// targets in `net/fuzz` check this for Raft's codec).
pub trait WireCodec: Send + Sync + 'static {
    /// The protocol's message type.
    type Message: Send + 'static;

    /// The protocol's name in envelopes ("raft", "paxos", "pbft"). Nodes
    /// refuse envelopes naming another protocol.
    fn protocol(&self) -> &'static str;

    /// Appends the encoding of `message` to `out`.
    fn encode(&self, message: &Self::Message, out: &mut Vec<u8>);

    /// Decodes one message.
    ///
    /// # Errors
    ///
    /// A [`WireError`] saying what is malformed.
    fn decode(&self, bytes: &[u8]) -> Result<Self::Message, WireError>;

    /// The lane `message` travels on.
    fn lane(&self, message: &Self::Message) -> Lane {
        let _ = message;
        Lane::Ordinary
    }

    /// About how many bytes `message` occupies, for the byte bound on each
    /// peer's queue (an estimate made without encoding it).
    fn size_hint(&self, message: &Self::Message) -> usize;

    /// A short name of the message's kind, for traces ("append", "vote").
    fn kind(&self, message: &Self::Message) -> &'static str;
}

/// Why bytes from the network are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes are not a protobuf encoding of the expected message.
    #[error("not a valid protobuf message: {0}")]
    Protobuf(String),
    /// A required field is absent.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field holds a value the protocol cannot accept.
    #[error("field `{field}`: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

impl WireError {
    pub(crate) fn invalid(field: &'static str, reason: impl fmt::Display) -> Self {
        WireError::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}

impl From<prost::DecodeError> for WireError {
    fn from(error: prost::DecodeError) -> Self {
        WireError::Protobuf(error.to_string())
    }
}

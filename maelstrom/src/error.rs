//! The crate's one error type, keeping apart whose fault a failure is.

use tessera_core::NodeId;

/// What went wrong, and whose fault it is.
///
/// - **A client's or Maelstrom's bad input**:
///   [`MalformedMessage`](Self::MalformedMessage) (the line is not a
///   message) and [`MalformedRequest`](Self::MalformedRequest) (a message
///   whose fields do not fit its type). Answered with a definite
///   `malformed-request` error when the sender can be answered, logged and
///   skipped otherwise.
/// - **A peer node's bad message**: [`PeerMessage`](Self::PeerMessage)
///   (an undecodable or invalid protocol payload). Dropped and counted,
///   never applied.
/// - **API misuse**: [`Usage`](Self::Usage) (an unknown workload, a bad
///   option).
/// - **I/O**: [`Io`](Self::Io) (stdin or stdout failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaelstromError {
    /// A line that is not a Maelstrom message.
    #[error("malformed message: {reason}")]
    MalformedMessage {
        /// The sender, if it could be read.
        src: Option<String>,
        /// The `msg_id` to answer, if there is one and the message is not
        /// itself a reply.
        msg_id: Option<u64>,
        /// What is wrong.
        reason: String,
    },

    /// A message whose fields do not fit its type (a missing key, a
    /// non-integer delta, an unknown type for the workload).
    #[error("malformed `{kind}` request: {reason}")]
    MalformedRequest {
        /// The message type.
        kind: String,
        /// What is wrong.
        reason: String,
    },

    /// A message from a peer node that was dropped without being applied.
    #[error("message from node {from} dropped: {reason}")]
    PeerMessage {
        /// The sender.
        from: NodeId,
        /// Why.
        reason: String,
    },

    /// The node was started or called wrongly.
    #[error("{reason}")]
    Usage {
        /// What is wrong and what to do.
        reason: String,
    },

    /// Reading stdin or writing stdout failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl MaelstromError {
    /// A [`MaelstromError::MalformedRequest`].
    pub fn malformed_request(kind: &str, reason: impl Into<String>) -> Self {
        MaelstromError::MalformedRequest {
            kind: kind.to_string(),
            reason: reason.into(),
        }
    }

    /// For a [`MaelstromError::MalformedMessage`] that can be answered, the
    /// sender and the `msg_id` to answer.
    pub fn reply_address(&self) -> Option<(&str, u64)> {
        match self {
            MaelstromError::MalformedMessage {
                src: Some(src),
                msg_id: Some(msg_id),
                ..
            } => Some((src, *msg_id)),
            _ => None,
        }
    }
}

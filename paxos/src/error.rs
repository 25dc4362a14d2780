//! The crate's one error type.

use tessera_core::{InvalidParameter, NodeId};
use tessera_quorum::QuorumError;
use tessera_storage::StorageError;

/// What went wrong, and whose fault it is.
///
/// - **the caller's** (API misuse, a bad configuration):
///   [`InvalidParameter`](Self::InvalidParameter),
///   [`QuorumsDoNotIntersect`](Self::QuorumsDoNotIntersect),
///   [`Quorum`](Self::Quorum);
/// - **a peer's** (a message that is dropped, counted, and never applied):
///   [`BallotFromUnknownNode`](Self::BallotFromUnknownNode),
///   [`UnknownSender`](Self::UnknownSender),
///   [`Malformed`](Self::Malformed), [`Oversized`](Self::Oversized);
/// - **the disk's** (what a node boots from):
///   [`CorruptState`](Self::CorruptState).
///
/// Nodes never return these from `handle`: a bad message is dropped and
/// counted (see the nodes' `rejected` counters and `last_rejection`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaxosError {
    /// A configuration value is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),

    /// A quorum system was refused by tessera-quorum.
    #[error(transparent)]
    Quorum(#[from] QuorumError),

    /// Some phase-one quorum misses some phase-two quorum: a new leader
    /// could miss a chosen value. The configuration is refused.
    #[error(
        "phase-one and phase-two quorums do not intersect among members {members:?}: \
         phase-one quorum {phase1:?} and phase-two quorum {phase2:?} share no member"
    )]
    QuorumsDoNotIntersect {
        /// The members.
        members: Vec<NodeId>,
        /// A phase-one quorum …
        phase1: Vec<NodeId>,
        /// … and a phase-two quorum that misses it.
        phase2: Vec<NodeId>,
    },

    /// A message carries a ballot owned by a node outside the
    /// configuration.
    #[error("message from node {from} carries a ballot of node {owner}, not a member")]
    BallotFromUnknownNode {
        /// The sender.
        from: NodeId,
        /// The ballot's owner.
        owner: NodeId,
    },

    /// A message comes from a node outside the configuration.
    #[error("message from node {from}, not a member of the configuration")]
    UnknownSender {
        /// The sender.
        from: NodeId,
    },

    /// A message is inconsistent with itself or with the protocol.
    #[error("malformed message from node {from}: {reason}")]
    Malformed {
        /// The sender.
        from: NodeId,
        /// What is wrong.
        reason: &'static str,
    },

    /// A message is larger than the protocol allows.
    #[error("oversized message from node {from}: {what} has {len}, at most {max} allowed")]
    Oversized {
        /// The sender.
        from: NodeId,
        /// Which part.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The bound.
        max: usize,
    },

    /// The durable state does not describe a valid node (a snapshot the
    /// state machine refuses, a log that contradicts the hard state).
    #[error("corrupt durable state: {0}")]
    CorruptState(String),
}

impl From<StorageError> for PaxosError {
    /// A log that cannot be read is a corrupt durable state to the node.
    fn from(error: StorageError) -> Self {
        PaxosError::CorruptState(error.to_string())
    }
}

impl PaxosError {
    /// Whether the error is a peer's misbehaviour (the message was dropped).
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            PaxosError::BallotFromUnknownNode { .. }
                | PaxosError::UnknownSender { .. }
                | PaxosError::Malformed { .. }
                | PaxosError::Oversized { .. }
        )
    }
}

/// Checks `len ≤ max` for the part `what` of a message from `from`.
pub(crate) fn check_size(
    from: NodeId,
    what: &'static str,
    len: usize,
    max: usize,
) -> Result<(), PaxosError> {
    if len > max {
        Err(PaxosError::Oversized {
            from,
            what,
            len,
            max,
        })
    } else {
        Ok(())
    }
}

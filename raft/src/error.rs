//! The crate's one error type, keeping apart whose fault a failure is.

use tessera_core::{InvalidParameter, NodeId};

use crate::MembershipChange;

/// Why a message from a peer was dropped without being applied.
///
/// Every rejection is counted in [`RaftStatus::rejected_messages`](crate::RaftStatus);
/// none panics and none changes the node's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum MessageRejection {
    /// The message names indexes or terms that cannot exist: entries out of
    /// order, an entry of a later term than the message, an acknowledgement
    /// beyond the leader's log.
    ImpossibleIndex,
    /// The message carries more than this node accepts at once (entries per
    /// append, bytes per snapshot chunk).
    Oversized,
    /// The sender is not a member of this node's configuration where it must
    /// be (a vote request from a non-voter, an acknowledgement from a node
    /// the leader does not replicate to, a forwarded proposal from a
    /// stranger).
    NotAMember,
    /// A second leader claimed the current term: two leaders in one term
    /// would break Election Safety, so the claim is refused.
    ConflictingLeader,
    /// The message would overwrite an entry this node knows is committed.
    CommittedConflict,
    /// A snapshot's bytes did not match the checksum the leader announced,
    /// or the state machine could not restore them.
    BadSnapshot,
}

/// What went wrong, and whose fault it is.
///
/// - **API misuse** (the application's or driver's mistake):
///   [`InvalidConfig`](Self::InvalidConfig),
///   [`InvalidMembership`](Self::InvalidMembership).
/// - **Refused requests** (definite: nothing was executed, the client may
///   retry): [`Overloaded`](Self::Overloaded),
///   [`TransferInProgress`](Self::TransferInProgress),
///   [`MembershipChangeInProgress`](Self::MembershipChangeInProgress),
///   [`MembershipChangeRefused`](Self::MembershipChangeRefused),
///   [`TransferFailed`](Self::TransferFailed),
///   [`ReadAborted`](Self::ReadAborted).
/// - **A peer's misbehaviour**: [`PeerMisbehaved`](Self::PeerMisbehaved).
/// - **Storage**: [`Recovery`](Self::Recovery) (the durable state handed
///   to a restarting node is inconsistent) and
///   [`SnapshotRestore`](Self::SnapshotRestore).
///
/// A broken internal invariant is not an error: it is an assertion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RaftError {
    /// A configuration value is out of range.
    #[error(transparent)]
    InvalidConfig(#[from] InvalidParameter),

    /// A membership configuration is malformed (no voters, a node both voter
    /// and learner, too many members).
    #[error("invalid membership: {reason}")]
    InvalidMembership {
        /// What is wrong.
        reason: String,
    },

    /// A bounded queue is full; the request was refused.
    #[error("overloaded: {queue} holds its limit of {limit}")]
    Overloaded {
        /// The queue's name.
        queue: &'static str,
        /// Its bound.
        limit: usize,
    },

    /// Proposals and membership changes are refused while leadership is
    /// being handed over.
    #[error("leadership is being transferred to node {to}")]
    TransferInProgress {
        /// The node leadership is handed to.
        to: NodeId,
    },

    /// A leadership transfer did not complete.
    #[error("leadership transfer to node {to} failed: {reason}")]
    TransferFailed {
        /// The intended new leader.
        to: NodeId,
        /// Why.
        reason: String,
    },

    /// Another membership change has not finished (one at a time).
    #[error("another membership change is in progress")]
    MembershipChangeInProgress,

    /// The membership change cannot be made from the current configuration.
    #[error("membership change {change:?} refused: {reason}")]
    MembershipChangeRefused {
        /// The change asked for.
        change: MembershipChange,
        /// Why it was refused.
        reason: String,
    },

    /// A read could not be confirmed (the leader stepped down first). Reads
    /// have no effect, so this is definite: retry elsewhere.
    #[error("read aborted: {reason}")]
    ReadAborted {
        /// Why.
        reason: String,
    },

    /// A peer sent a message that was dropped.
    #[error("message from node {from} rejected: {reason:?}")]
    PeerMisbehaved {
        /// The sender.
        from: NodeId,
        /// Why it was dropped.
        reason: MessageRejection,
    },

    /// The durable state given to a restarting node is inconsistent.
    #[error("durable state cannot be recovered: {reason}")]
    Recovery {
        /// What is inconsistent.
        reason: String,
    },

    /// The state machine refused a snapshot.
    #[error("the state machine could not restore a snapshot: {reason}")]
    SnapshotRestore {
        /// The state machine's reason.
        reason: String,
    },
}

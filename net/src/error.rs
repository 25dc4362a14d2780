//! The crate's one error type, keeping apart whose fault a failure is.

use std::path::PathBuf;
use std::sync::Arc;

use tessera_core::NodeId;
use tessera_storage::StorageError;

use crate::{ConfigError, InvalidRequest, WireError};

/// Why a peer's connection, introduction or envelope was refused.
///
/// Every refusal is logged (at `warn`, with the remote address) and counted
/// in the `tessera_peer_refusals_total` metric under its
/// [`label`](Self::label); none panics and none reaches the protocol node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// TLS is required and the peer presented no certificate.
    #[error("no client certificate")]
    NoCertificate,
    /// The peer's certificate does not name the node it claims to be.
    #[error("the certificate does not name node {claimed}")]
    IdentityMismatch {
        /// The node id the peer claimed.
        claimed: NodeId,
    },
    /// The peer belongs to another cluster.
    #[error("cluster `{claimed}` is not this node's cluster")]
    WrongCluster {
        /// The cluster the peer named.
        claimed: String,
    },
    /// The peer speaks another protocol.
    #[error("protocol `{claimed}` is not this node's protocol")]
    WrongProtocol {
        /// The protocol the peer named.
        claimed: String,
    },
    /// The claimed node is not a known member (or is this node itself).
    #[error("node {claimed} is not a peer of this node")]
    NotAPeer {
        /// The node id the peer claimed.
        claimed: NodeId,
    },
    /// An envelope on a stream named a different sender than the stream's
    /// first envelope.
    #[error("the stream's sender changed from {first} to {now}")]
    SenderChanged {
        /// The sender the stream started with.
        first: NodeId,
        /// The sender this envelope named.
        now: NodeId,
    },
    /// A message in an envelope does not decode.
    #[error("malformed message: {0}")]
    Malformed(WireError),
}

impl Refusal {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::NoCertificate => "no_certificate",
            Refusal::IdentityMismatch { .. } => "identity_mismatch",
            Refusal::WrongCluster { .. } => "wrong_cluster",
            Refusal::WrongProtocol { .. } => "wrong_protocol",
            Refusal::NotAPeer { .. } => "not_a_peer",
            Refusal::SenderChanged { .. } => "sender_changed",
            Refusal::Malformed(_) => "malformed",
        }
    }
}

/// What went wrong, and whose fault it is.
///
/// - **The operator's mistake** (configuration, certificate files,
///   addresses): [`Config`](Self::Config), [`Certificate`](Self::Certificate),
///   [`Bind`](Self::Bind), [`Resolve`](Self::Resolve),
///   [`Metrics`](Self::Metrics).
/// - **A peer's misbehaviour**: [`Refused`](Self::Refused) (also logged and
///   counted where it happens).
/// - **Storage**: [`Storage`](Self::Storage) (I/O, corruption) and
///   [`Startup`](Self::Startup) (what is on disk cannot be recovered).
/// - **The node's state**: [`Stopped`](Self::Stopped),
///   [`StorageFailed`](Self::StorageFailed), [`Overloaded`](Self::Overloaded)
///   (definite: nothing was done, retry), [`Timeout`](Self::Timeout).
/// - **The caller's mistake**: [`InvalidRequest`](Self::InvalidRequest).
/// - **Talking to another node as a client**: [`Connect`](Self::Connect),
///   [`Rpc`](Self::Rpc).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A configuration value is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A certificate or key file cannot be read or used.
    #[error("{field} ({path}): {reason}")]
    Certificate {
        /// The configuration field naming the file.
        field: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A listening address cannot be bound.
    #[error("{field}: cannot listen on {address}: {source}")]
    Bind {
        /// The configuration field naming the address.
        field: String,
        /// The address.
        address: String,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A peer address does not resolve.
    #[error("{field}: cannot resolve {address}: {reason}")]
    Resolve {
        /// The configuration field naming the address.
        field: String,
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },

    /// The metrics exporter cannot start.
    #[error("metrics_listen: {reason}")]
    Metrics {
        /// Why.
        reason: String,
    },

    /// A peer was refused.
    #[error("peer refused: {0}")]
    Refused(#[from] Refusal),

    /// Stable storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),

    /// The node cannot start from what is on disk (or from its parameters).
    #[error("the node cannot start: {reason}")]
    Startup {
        /// Why.
        reason: String,
    },

    /// A write failed and the node stopped, as a crash would have: restart
    /// it from disk.
    #[error("the node stopped after a storage failure: {reason}")]
    StorageFailed {
        /// The storage error.
        reason: Arc<str>,
    },

    /// The node has stopped (shut down, killed, or failed).
    #[error("node {node} has stopped")]
    Stopped {
        /// The node.
        node: NodeId,
    },

    /// A client request is malformed (its bytes do not decode, or the
    /// protocol does not offer it).
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),

    /// Time ran out waiting for something.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long.
        after: std::time::Duration,
    },

    /// A bounded queue is full; the request was refused before anything
    /// was done.
    #[error("overloaded: {queue} holds its limit of {limit}")]
    Overloaded {
        /// The queue's name.
        queue: &'static str,
        /// Its bound.
        limit: usize,
    },

    /// A connection to a node could not be made.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },

    /// A call to a node failed.
    #[error("call to {address} failed: {}", crate::peer_link::describe_status(.status))]
    Rpc {
        /// The node's address.
        address: String,
        /// The gRPC status.
        status: Box<tonic::Status>,
    },
}

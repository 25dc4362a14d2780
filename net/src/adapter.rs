//! The per-protocol adapter: everything the runtime, the transport and the
//! client service need to know about one protocol, in one trait.

use std::time::Duration;

use tessera_core::{EvidenceSummary, Instant, NodeId, Protocol};

use crate::WireCodec;

/// How a client wants a read served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadConsistency {
    /// Linearizable, confirmed by a quorum round (Raft's ReadIndex; at a
    /// Multi-Paxos leader, a barrier slot unless its lease is valid — see
    /// [`PaxosAdapter`](crate::PaxosAdapter)): one round trip, no clock
    /// assumption.
    Linearizable,
    /// Linearizable under the leader's lease: no round trip, but it rests
    /// on the cluster's clock-drift bound. Falls back to a quorum round
    /// without a valid lease.
    Lease,
    /// From the receiving node's state without coordination, if that node
    /// heard from its leader within `max_staleness` (the answer reflects
    /// every write the leader had told it was committed by then).
    Stale {
        /// The most staleness the client accepts.
        max_staleness: std::time::Duration,
    },
}

/// What a client request came to, in protocol-independent terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutcome {
    /// A command was applied at `index` with this output (encoded by the
    /// application).
    Applied {
        /// Its log index.
        index: u64,
        /// The application's output.
        output: Vec<u8>,
    },
    /// A read's answer.
    Read {
        /// The commit index it reflects (at least).
        index: u64,
        /// The application's answer.
        output: Vec<u8>,
        /// How it was served: `read_index` (Raft's quorum round),
        /// `barrier` (Multi-Paxos's barrier slot), `ordered` (PBFT: ordered
        /// and executed like a write), `lease` or `stale`.
        path: &'static str,
        /// For a stale read: how long before the read the node last heard
        /// from its leader.
        staleness: std::time::Duration,
    },
    /// The node is not the leader; try `leader` if known. Nothing was done.
    NotLeader {
        /// The leader as the node knows it.
        leader: Option<NodeId>,
    },
    /// Refused: definitely not executed; the client may retry.
    Refused {
        /// Why.
        reason: String,
    },
    /// The outcome is unknown: a command may or may not be applied.
    Indeterminate {
        /// Why.
        reason: String,
    },
}

/// A request a client cannot make: its bytes do not decode, or the
/// protocol does not offer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {reason}")]
pub struct InvalidRequest {
    /// Why.
    pub reason: String,
}

impl InvalidRequest {
    /// An error saying why.
    pub fn new(reason: impl Into<String>) -> Self {
        InvalidRequest {
            reason: reason.into(),
        }
    }
}

/// What a node says about itself, cheaply: read after every input and
/// published to [`NodeHandle::status`](crate::NodeHandle::status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node.
    pub id: NodeId,
    /// Its mode's name (its protocol's mode matrix).
    pub mode: &'static str,
    /// Whether the mode is a Target mode (full guarantees).
    pub mode_is_target: bool,
    /// Its term (Raft), view (PBFT) or ballot round (Paxos).
    pub term: u64,
    /// The leader (primary) as it knows it.
    pub leader: Option<NodeId>,
    /// The highest index known committed.
    pub commit_index: u64,
    /// The last index applied to the state machine.
    pub applied_index: u64,
    /// The last index in its log.
    pub last_log_index: u64,
}

impl NodeStatus {
    /// Whether the node believes it leads.
    pub fn is_leader(&self) -> bool {
        self.leader == Some(self.id)
    }
}

/// The evidence a node holds, as it reports it to operators (the client
/// `Status` RPC): each piece described, with the leader's lease and the
/// last commit certificate picked out. Empty for an adapter that reports
/// none ([`ProtocolAdapter::evidence`]'s default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceReport {
    /// At a leader holding a lease it may use now: the time it has left
    /// (on its own clock). `None` elsewhere, and at a leader whose lease
    /// lapsed or was given up.
    pub lease_remaining: Option<Duration>,
    /// The last commit certificate the node holds (Raft: only the leader
    /// holds one).
    pub commit_certificate: Option<CertificateReport>,
    /// The node's closed timestamp (no write at or below it will appear),
    /// if its protocol keeps one. Raft keeps none: always `None` there.
    pub closed_timestamp: Option<Instant>,
    /// Every piece of evidence the node holds, one line each: its kind,
    /// scope and lifecycle state, and for one that expires, how long it
    /// has left ([`describe_evidence`]).
    pub evidence: Vec<String>,
}

/// A commit certificate, as reported: the entry it certifies and the
/// voters whose logs hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateReport {
    /// The certified entry's term (view, ballot).
    pub term: u64,
    /// The certified index.
    pub index: u64,
    /// The voters holding the log up to `index`: a quorum.
    pub voters: Vec<NodeId>,
}

/// One line describing `summary` as of `now`: its kind, scope and state,
/// and when it has an expiry, the time left (or since it passed).
///
/// # Examples
///
/// ```
/// use tessera_core::{EvidenceKind, EvidenceScope, EvidenceState, EvidenceSummary, Instant};
///
/// let lease = EvidenceSummary {
///     kind: EvidenceKind::Lease,
///     scope: EvidenceScope::Global,
///     issued_at: Some(Instant::from_millis(1_000)),
///     expires_at: Some(Instant::from_millis(1_450)),
///     state: EvidenceState::Active,
/// };
/// assert_eq!(
///     tessera_net::describe_evidence(&lease, Instant::from_millis(1_200)),
///     "Lease over Global: Active, expires in 250 ms"
/// );
/// ```
pub fn describe_evidence(summary: &EvidenceSummary, now: Instant) -> String {
    let mut line = format!(
        "{:?} over {:?}: {:?}",
        summary.kind, summary.scope, summary.state
    );
    if let Some(expiry) = summary.expires_at {
        match expiry.checked_duration_since(now) {
            Some(left) => line.push_str(&format!(", expires in {} ms", left.as_millis())),
            None => line.push_str(&format!(
                ", expired {} ms ago",
                now.duration_since(expiry).as_millis()
            )),
        }
    }
    line
}

/// What a leader knows of one follower's replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerReport {
    /// The follower.
    pub id: NodeId,
    /// The last index known to match the leader's log.
    pub match_index: u64,
    /// How many entries it lags behind the leader's log.
    pub lag: u64,
}

/// The request type of the protocol an adapter drives.
pub type RequestOf<A> = <<A as ProtocolAdapter>::Node as Protocol>::Request;
/// The response type of the protocol an adapter drives.
pub type ResponseOf<A> = <<A as ProtocolAdapter>::Node as Protocol>::Response;
/// The write type of the protocol an adapter drives.
pub type WriteOf<A> = <<A as ProtocolAdapter>::Node as Protocol>::Write;
/// The mode type of the protocol an adapter drives.
pub type ModeOf<A> = <<A as ProtocolAdapter>::Node as Protocol>::Mode;

/// Everything protocol-specific the runtime needs: the wire encoding of
/// its messages ([`WireCodec`]), how client requests map onto its
/// requests and its responses onto [`ClientOutcome`]s, and what it reports.
///
/// One adapter per protocol: [`RaftAdapter`](crate::RaftAdapter) for Raft,
/// [`PaxosAdapter`](crate::PaxosAdapter) for Multi-Paxos,
/// [`PbftAdapter`](crate::PbftAdapter) for PBFT; the runtime, transport,
/// client service and metrics work for each unchanged. Client
/// commands, queries and outputs travel as bytes in the application's own
/// encoding; the adapter decodes and encodes them.
pub trait ProtocolAdapter: WireCodec<Message = <Self::Node as Protocol>::Message> {
    /// The protocol node this adapter drives.
    type Node: Protocol<
            Message: Send + 'static,
            Request: Send + 'static,
            Response: Send + 'static,
            Write: Send + 'static,
            Mode: Send + Sync,
        > + Send
        + 'static;

    /// The request proposing `command`.
    ///
    /// # Errors
    ///
    /// [`InvalidRequest`] if the command does not decode.
    fn propose(&self, command: &[u8]) -> Result<RequestOf<Self>, InvalidRequest>;

    /// The request reading `query` linearizably (`Linearizable` or `Lease`;
    /// stale reads are served by [`stale_read`](Self::stale_read)).
    ///
    /// # Errors
    ///
    /// [`InvalidRequest`] if the query does not decode.
    fn read(
        &self,
        query: &[u8],
        consistency: ReadConsistency,
    ) -> Result<RequestOf<Self>, InvalidRequest>;

    /// Answers `query` from `node`'s current state, without coordination.
    /// Returns the applied index the answer reflects and the encoded answer.
    ///
    /// # Errors
    ///
    /// [`InvalidRequest`] if the query does not decode.
    fn stale_read(&self, node: &Self::Node, query: &[u8])
    -> Result<(u64, Vec<u8>), InvalidRequest>;

    /// What a response means for the client.
    fn outcome(&self, response: ResponseOf<Self>) -> ClientOutcome;

    /// Whether `response` answers a proposal that was committed (for the
    /// commit-latency histogram).
    fn is_commit(&self, response: &ResponseOf<Self>) -> bool;

    /// The node's status (cheap: called after every batch of inputs).
    fn status(&self, node: &Self::Node) -> NodeStatus;

    /// At a leader, each follower's replication (may cost more; called
    /// every metrics interval).
    fn followers(&self, node: &Self::Node) -> Vec<FollowerReport>;

    /// The evidence `node` holds as of `now` (its clock's reading), for
    /// the client `Status` RPC (may cost more than
    /// [`status`](Self::status): called once per `Status` request, inside
    /// the node's task). By default none: an adapter that does not report
    /// evidence leaves the reply's evidence fields empty.
    fn evidence(&self, _node: &Self::Node, _now: Instant) -> EvidenceReport {
        EvidenceReport::default()
    }
}

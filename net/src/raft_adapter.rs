//! Raft's adapter: its messages on the wire, its client requests and
//! responses, and what it reports.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use tessera_core::{Instant, Mode, ModeLevel, Protocol};
use tessera_raft::{
    Message, Payload, RaftNode, ReadPath, ReadPolicy, Request, Response, StateMachine,
};
use tessera_storage::Codec;

use crate::{
    CertificateReport, ClientOutcome, EvidenceReport, FollowerReport, InvalidRequest, Lane,
    NodeStatus, ProtocolAdapter, ReadConsistency, WireCodec, WireError, describe_evidence,
    raft_wire,
};

/// A Raft state machine the runtime can serve: its commands, queries and
/// outputs have a byte encoding (tessera-storage's [`Codec`], the same one
/// the durable log keeps commands in), and it can move between threads.
///
/// Implemented for every such [`StateMachine`]; nothing to write by hand.
pub trait RaftApplication:
    StateMachine<
        Command: Codec + Send + Sync + 'static,
        Query: Codec + Send + 'static,
        Output: Codec + Send + 'static,
        QueryOutput: Codec + Send + 'static,
    > + Send
    + 'static
{
}

impl<S> RaftApplication for S where
    S: StateMachine<
            Command: Codec + Send + Sync + 'static,
            Query: Codec + Send + 'static,
            Output: Codec + Send + 'static,
            QueryOutput: Codec + Send + 'static,
        > + Send
        + 'static
{
}

/// Raft's [`ProtocolAdapter`] for an application `S`: messages as in
/// `proto/raft.proto` (commands in `S::Command`'s [`Codec`] encoding),
/// snapshot chunks on the bulk lane, proposals and reads as Raft requests.
///
/// # Examples
///
/// ```
/// use tessera_net::{RaftAdapter, ReplicatedMap, WireCodec};
/// use tessera_raft::{Heartbeat, Message};
///
/// let adapter = RaftAdapter::<ReplicatedMap>::new();
/// let heartbeat = Message::Heartbeat(Heartbeat { term: 3, commit: 7, round: 9 });
/// let mut bytes = Vec::new();
/// adapter.encode(&heartbeat, &mut bytes);
/// assert_eq!(adapter.decode(&bytes).unwrap(), heartbeat);
/// assert!(adapter.decode(b"\xff\xff").is_err());
/// ```
pub struct RaftAdapter<S> {
    _application: PhantomData<fn() -> S>,
}

impl<S> RaftAdapter<S> {
    /// The adapter.
    pub fn new() -> Self {
        RaftAdapter {
            _application: PhantomData,
        }
    }
}

impl<S> Default for RaftAdapter<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> fmt::Debug for RaftAdapter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RaftAdapter")
    }
}

/// Bytes counted for an entry besides its command.
const ENTRY_OVERHEAD_BYTES: usize = 32;
/// Bytes counted for a message besides its entries or chunk.
const MESSAGE_OVERHEAD_BYTES: usize = 64;

fn encode<T: Codec>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

fn decode<T: Codec>(bytes: &[u8], what: &str) -> Result<T, InvalidRequest> {
    T::decode(bytes)
        .map_err(|reason| InvalidRequest::new(format!("{what} does not decode: {reason}")))
}

impl<S: RaftApplication> WireCodec for RaftAdapter<S> {
    type Message = Message<S::Command>;

    fn protocol(&self) -> &'static str {
        "raft"
    }

    fn encode(&self, message: &Self::Message, out: &mut Vec<u8>) {
        raft_wire::encode(message, out);
    }

    fn decode(&self, bytes: &[u8]) -> Result<Self::Message, WireError> {
        raft_wire::decode(bytes)
    }

    fn lane(&self, message: &Self::Message) -> Lane {
        match message {
            Message::Snapshot(_) => Lane::Bulk,
            _ => Lane::Ordinary,
        }
    }

    fn size_hint(&self, message: &Self::Message) -> usize {
        let body = match message {
            Message::Append(append) => append
                .entries
                .iter()
                .map(|entry| {
                    ENTRY_OVERHEAD_BYTES
                        + match &entry.payload {
                            Payload::Command(command) => S::command_bytes(command),
                            Payload::Blank => 0,
                            Payload::Membership(m) => 8 * m.members().count(),
                        }
                })
                .sum(),
            Message::Snapshot(chunk) => chunk.data.len(),
            Message::Forward { command, .. } => S::command_bytes(command),
            _ => 0,
        };
        MESSAGE_OVERHEAD_BYTES + body
    }

    fn kind(&self, message: &Self::Message) -> &'static str {
        raft_wire::kind(message)
    }
}

impl<S: RaftApplication> ProtocolAdapter for RaftAdapter<S> {
    type Node = RaftNode<S>;

    fn propose(&self, command: &[u8]) -> Result<Request<S::Command, S::Query>, InvalidRequest> {
        Ok(Request::Propose(decode(command, "the command")?))
    }

    fn read(
        &self,
        query: &[u8],
        consistency: ReadConsistency,
    ) -> Result<Request<S::Command, S::Query>, InvalidRequest> {
        let policy = match consistency {
            ReadConsistency::Linearizable => ReadPolicy::ReadIndex,
            ReadConsistency::Lease => ReadPolicy::Lease,
            ReadConsistency::Stale { .. } => {
                return Err(InvalidRequest::new(
                    "a stale read is served by the node itself, not through Raft",
                ));
            }
        };
        Ok(Request::Read {
            query: decode(query, "the query")?,
            policy,
        })
    }

    fn stale_read(
        &self,
        node: &RaftNode<S>,
        query: &[u8],
    ) -> Result<(u64, Vec<u8>), InvalidRequest> {
        let query: S::Query = decode(query, "the query")?;
        let answer = node.state_machine().query(&query);
        Ok((node.applied().index, encode(&answer)))
    }

    fn outcome(&self, response: Response<S::Output, S::QueryOutput>) -> ClientOutcome {
        match response {
            Response::Applied { index, output } => ClientOutcome::Applied {
                index,
                output: encode(&output),
            },
            Response::Read {
                index,
                output,
                path,
            } => ClientOutcome::Read {
                index,
                output: encode(&output),
                path: match path {
                    ReadPath::ReadIndex => "read_index",
                    ReadPath::Lease => "lease",
                },
                staleness: Duration::ZERO,
            },
            Response::MembershipChanged { index, .. } => ClientOutcome::Applied {
                index,
                output: Vec::new(),
            },
            Response::LeadershipTransferred { term, .. } => ClientOutcome::Applied {
                index: term,
                output: Vec::new(),
            },
            Response::NotLeader { leader } => ClientOutcome::NotLeader { leader },
            Response::Rejected(error) => ClientOutcome::Refused {
                reason: error.to_string(),
            },
            Response::Dropped => ClientOutcome::Refused {
                reason: "the proposal was overwritten by another leader's entry: not applied"
                    .into(),
            },
            Response::Unknown => ClientOutcome::Indeterminate {
                reason: "the proposal may or may not be applied".into(),
            },
        }
    }

    fn is_commit(&self, response: &Response<S::Output, S::QueryOutput>) -> bool {
        matches!(response, Response::Applied { .. })
    }

    fn status(&self, node: &RaftNode<S>) -> NodeStatus {
        let mode = node.mode();
        NodeStatus {
            id: node.id(),
            mode: mode.name(),
            mode_is_target: mode.level() == ModeLevel::Target,
            term: node.term(),
            leader: node.leader(),
            commit_index: node.commit_index(),
            applied_index: node.applied().index,
            last_log_index: node.log().last_index(),
        }
    }

    fn followers(&self, node: &RaftNode<S>) -> Vec<FollowerReport> {
        if !node.is_leader() {
            return Vec::new();
        }
        node.status()
            .followers
            .into_iter()
            .map(|follower| FollowerReport {
                id: follower.id,
                match_index: follower.match_index,
                lag: follower.lag,
            })
            .collect()
    }

    /// Raft's evidence: the term and vote; at the leader its election
    /// certificate, its commit certificate (the voters whose acknowledged
    /// logs reach its commit index) and its lease; the latest durable
    /// snapshot's metadata. Raft keeps no closed timestamp.
    fn evidence(&self, node: &RaftNode<S>, now: Instant) -> EvidenceReport {
        EvidenceReport {
            lease_remaining: node
                .valid_lease(now)
                .and_then(|lease| lease.holder_valid_until().checked_duration_since(now)),
            commit_certificate: node
                .commit_certificate()
                .map(|certificate| CertificateReport {
                    term: certificate.term(),
                    index: certificate.index(),
                    voters: certificate.voters(),
                }),
            closed_timestamp: None,
            evidence: node
                .evidence(now)
                .iter()
                .map(|summary| describe_evidence(summary, now))
                .collect(),
        }
    }
}

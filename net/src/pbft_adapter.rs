//! PBFT's adapter: its messages on the wire, client operations as gateway
//! operations, and what it reports.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{Instant, Mode, ModeLevel, Protocol};
use tessera_pbft::{Batch, Envelope, Gateway, GatewayReply, Payload, PbftConfig, StateMachine};
use tessera_storage::Codec;

use crate::{
    CertificateReport, ClientOutcome, EvidenceReport, FollowerReport, InvalidRequest, Lane,
    NodeStatus, ProtocolAdapter, ReadConsistency, WireCodec, WireError, describe_evidence,
};

/// An application PBFT replicates through the runtime.
///
/// Every correct replica applies the same commands in the same order, so
/// [`apply`](Self::apply) must be deterministic (no clock, no randomness,
/// no iteration over a `HashMap`), and [`snapshot`](Self::snapshot) must
/// encode equal states as equal bytes: checkpoints compare their digests
/// across replicas, and a replica whose snapshot differs is taken for a
/// faulty one.
pub trait PbftApplication: Send + 'static {
    /// A command: changes the state.
    type Command: Codec + Send + Sync + 'static;
    /// A command's output.
    type Output: Codec + Send + 'static;
    /// A query: reads the state.
    type Query: Codec + Send + 'static;
    /// A query's answer.
    type QueryOutput: Codec + Send + 'static;

    /// Applies `command`, ordered at sequence number `seq`.
    fn apply(&mut self, seq: u64, command: &Self::Command) -> Self::Output;

    /// Answers `query` from the current state.
    fn query(&self, query: &Self::Query) -> Self::QueryOutput;

    /// The whole state, encoded canonically.
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the state with the one `snapshot` encodes.
    ///
    /// # Errors
    ///
    /// A description of what does not decode; the state is then unchanged.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String>;
}

/// An operation's first byte: a command.
const OPERATION_COMMAND: u8 = 1;
/// An operation's first byte: a query ordered like a command.
const OPERATION_QUERY: u8 = 2;
/// A result's first byte: a command's output follows.
const RESULT_OUTPUT: u8 = 1;
/// A result's first byte: a query's answer follows.
const RESULT_ANSWER: u8 = 2;
/// A result's first byte: the operation was refused; the reason follows.
const RESULT_REFUSED: u8 = 3;

/// A [`PbftApplication`] as tessera-pbft's [`StateMachine`]: operations
/// are framed (a tag byte — command or ordered query — then the
/// application's encoding), and so are results. An operation that does
/// not decode gives a deterministic error result, executed like any other
/// (a faulty client may send anything) and reported to the client as
/// refused.
pub struct PbftMachine<S> {
    app: S,
    seq: u64,
}

impl<S: PbftApplication> PbftMachine<S> {
    /// Wraps `app`.
    pub fn new(app: S) -> Self {
        PbftMachine { app, seq: 0 }
    }

    /// The application.
    pub fn app(&self) -> &S {
        &self.app
    }

    /// The operation proposing `command`.
    pub fn command_operation(command: &S::Command) -> Vec<u8> {
        let mut out = vec![OPERATION_COMMAND];
        command.encode(&mut out);
        out
    }

    /// The operation reading `query` in the total order.
    pub fn query_operation(query: &S::Query) -> Vec<u8> {
        let mut out = vec![OPERATION_QUERY];
        query.encode(&mut out);
        out
    }

    fn refused(reason: &str) -> Vec<u8> {
        let mut out = vec![RESULT_REFUSED];
        out.extend_from_slice(reason.as_bytes());
        out
    }
}

impl<S: PbftApplication> StateMachine for PbftMachine<S> {
    fn apply(&mut self, operation: &[u8]) -> Vec<u8> {
        match operation.split_first() {
            Some((&OPERATION_COMMAND, bytes)) => match S::Command::decode(bytes) {
                Ok(command) => {
                    let mut out = vec![RESULT_OUTPUT];
                    self.app.apply(self.seq, &command).encode(&mut out);
                    out
                }
                Err(reason) => Self::refused(&format!("the command does not decode: {reason}")),
            },
            Some((&OPERATION_QUERY, bytes)) => match S::Query::decode(bytes) {
                Ok(query) => {
                    let mut out = vec![RESULT_ANSWER];
                    self.app.query(&query).encode(&mut out);
                    out
                }
                Err(reason) => Self::refused(&format!("the query does not decode: {reason}")),
            },
            _ => Self::refused("not a command or a query"),
        }
    }

    fn begin_batch(&mut self, seq: u64) {
        self.seq = seq;
    }

    fn snapshot(&self) -> Vec<u8> {
        self.app.snapshot()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        self.app.restore(snapshot)
    }
}

impl<S> fmt::Debug for PbftMachine<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PbftMachine")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// PBFT's [`ProtocolAdapter`] for an application `S`.
///
/// On the wire, messages are tessera-pbft's own canonical envelope
/// encoding (the bytes its MACs and signatures cover), decoded under the
/// configuration's size limits; state transfers and stable-checkpoint
/// proofs travel on the bulk lane.
///
/// Clients reach the cluster through any one node, which acts as their
/// gateway ([`Gateway`]): every node takes proposals and reads, none
/// redirects. A proposal is ordered as a command; a `Linearizable` or
/// `Lease` read is ordered like a command too (path `ordered`) — PBFT has
/// no leases, so `Lease` gives no shortcut; a `Stale` read is answered
/// from the node's own state.
///
/// **Trust:** the answer is correct if the node the client talks to is
/// correct (it executes only what `2f + 1` replicas committed, in the
/// total order). A client that trusts no single node must run
/// tessera-pbft's own `Client` (`f + 1` matching replies), which is not
/// offered over gRPC yet.
///
/// Status: the view is the `term`, the primary the `leader` while the
/// view is active, sequence numbers the indexes.
pub struct PbftAdapter<S> {
    config: Arc<PbftConfig>,
    _application: PhantomData<fn() -> S>,
}

impl<S> PbftAdapter<S> {
    /// The adapter of a cluster configured as `config` (its size limits
    /// bound what the decoder accepts).
    pub fn new(config: PbftConfig) -> Self {
        PbftAdapter {
            config: Arc::new(config),
            _application: PhantomData,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PbftConfig {
        &self.config
    }
}

impl<S> fmt::Debug for PbftAdapter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PbftAdapter")
    }
}

/// Bytes counted for a message besides its variable parts.
const MESSAGE_OVERHEAD_BYTES: usize = 128;

fn batch_bytes(batch: &Batch) -> usize {
    batch
        .requests
        .iter()
        .map(|request| request.operation.len() + MESSAGE_OVERHEAD_BYTES)
        .sum()
}

fn decode<T: Codec>(bytes: &[u8], what: &str) -> Result<T, InvalidRequest> {
    T::decode(bytes)
        .map_err(|reason| InvalidRequest::new(format!("{what} does not decode: {reason}")))
}

impl<S: PbftApplication> WireCodec for PbftAdapter<S> {
    type Message = Envelope;

    fn protocol(&self) -> &'static str {
        "pbft"
    }

    fn encode(&self, message: &Envelope, out: &mut Vec<u8>) {
        out.extend_from_slice(&message.encode());
    }

    fn decode(&self, bytes: &[u8]) -> Result<Envelope, WireError> {
        Envelope::decode(bytes, &self.config).map_err(|error| WireError::invalid("pbft", error))
    }

    fn lane(&self, message: &Envelope) -> Lane {
        match message.payload {
            Payload::State(_) | Payload::StableCheckpoint(_) => Lane::Bulk,
            _ => Lane::Ordinary,
        }
    }

    fn size_hint(&self, message: &Envelope) -> usize {
        let body = match &message.payload {
            Payload::Request(request) => request.operation.len(),
            Payload::PrePrepare(pre_prepare) => batch_bytes(&pre_prepare.batch),
            Payload::Batch(data) => batch_bytes(&data.batch),
            Payload::Reply(reply) => reply.result.len(),
            Payload::State(data) => data.state.len(),
            Payload::ViewChange(_) | Payload::NewView(_) | Payload::StableCheckpoint(_) => {
                // Signed proofs: a few kilobytes per replica.
                4096 * self.config.replica_count()
            }
            _ => 0,
        };
        MESSAGE_OVERHEAD_BYTES + body
    }

    fn kind(&self, message: &Envelope) -> &'static str {
        message.payload.kind()
    }
}

impl<S: PbftApplication> ProtocolAdapter for PbftAdapter<S> {
    type Node = Gateway<PbftMachine<S>>;

    fn propose(&self, command: &[u8]) -> Result<Vec<u8>, InvalidRequest> {
        let command: S::Command = decode(command, "the command")?;
        Ok(PbftMachine::<S>::command_operation(&command))
    }

    fn read(&self, query: &[u8], consistency: ReadConsistency) -> Result<Vec<u8>, InvalidRequest> {
        match consistency {
            ReadConsistency::Linearizable | ReadConsistency::Lease => {
                let query: S::Query = decode(query, "the query")?;
                Ok(PbftMachine::<S>::query_operation(&query))
            }
            ReadConsistency::Stale { .. } => Err(InvalidRequest::new(
                "a stale read is served by the node itself, not through PBFT",
            )),
        }
    }

    fn stale_read(
        &self,
        node: &Gateway<PbftMachine<S>>,
        query: &[u8],
    ) -> Result<(u64, Vec<u8>), InvalidRequest> {
        let query: S::Query = decode(query, "the query")?;
        let replica = node.replica();
        let mut answer = Vec::new();
        replica.app().app().query(&query).encode(&mut answer);
        Ok((replica.last_executed(), answer))
    }

    fn outcome(&self, response: GatewayReply) -> ClientOutcome {
        match response {
            GatewayReply::Executed { seq, result } => match result.split_first() {
                Some((&RESULT_OUTPUT, output)) => ClientOutcome::Applied {
                    index: seq,
                    output: output.to_vec(),
                },
                Some((&RESULT_ANSWER, output)) => ClientOutcome::Read {
                    index: seq,
                    output: output.to_vec(),
                    path: "ordered",
                    staleness: Duration::ZERO,
                },
                Some((&RESULT_REFUSED, reason)) => ClientOutcome::Refused {
                    reason: String::from_utf8_lossy(reason).into_owned(),
                },
                _ => ClientOutcome::Indeterminate {
                    reason: "the replica's result is not one this adapter frames".into(),
                },
            },
            GatewayReply::Refused { reason } => ClientOutcome::Refused { reason },
            GatewayReply::Unknown { reason } => ClientOutcome::Indeterminate { reason },
        }
    }

    fn is_commit(&self, response: &GatewayReply) -> bool {
        matches!(response, GatewayReply::Executed { result, .. } if result.first() == Some(&RESULT_OUTPUT))
    }

    fn status(&self, node: &Gateway<PbftMachine<S>>) -> NodeStatus {
        let replica = node.replica();
        let mode = node.mode();
        NodeStatus {
            id: node.id(),
            mode: mode.name(),
            mode_is_target: mode.level() == ModeLevel::Target,
            term: replica.view(),
            leader: replica
                .is_view_active()
                .then(|| replica.config().primary(replica.view())),
            commit_index: replica.last_executed(),
            applied_index: replica.last_executed(),
            last_log_index: replica.last_executed(),
        }
    }

    /// None: PBFT has no leader-side replication report (every replica
    /// reports its own progress in its status).
    fn followers(&self, _node: &Gateway<PbftMachine<S>>) -> Vec<FollowerReport> {
        Vec::new()
    }

    /// The replica's evidence — its stable checkpoint certificate, the
    /// view-change proof of its view, and the pre-prepared, prepared and
    /// committed certificates it holds — one line each; the commit
    /// certificate of the last sequence number it executed while it still
    /// holds it. PBFT has no leases and no closed timestamp.
    fn evidence(&self, node: &Gateway<PbftMachine<S>>, now: Instant) -> EvidenceReport {
        let replica = node.replica();
        EvidenceReport {
            lease_remaining: None,
            commit_certificate: replica.committed_certificate(replica.last_executed()).map(
                |certificate| CertificateReport {
                    term: certificate.view(),
                    index: certificate.seq(),
                    voters: certificate.voters().collect(),
                },
            ),
            closed_timestamp: None,
            evidence: replica
                .evidence(now)
                .iter()
                .map(|summary| describe_evidence(summary, now))
                .collect(),
        }
    }
}

//! Multi-Paxos's adapter: its messages on the wire, its client requests
//! and responses, and what it reports.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use tessera_core::{Evidence, EvidenceSummary};
use tessera_core::{Instant, Mode, ModeLevel, Protocol};
use tessera_paxos::multi::{
    Message, MultiPaxos, ReadPath, Request, Response, SlotValue, StateMachine,
};
use tessera_storage::Codec;

use crate::{
    CertificateReport, ClientOutcome, EvidenceReport, FollowerReport, InvalidRequest, Lane,
    NodeStatus, ProtocolAdapter, ReadConsistency, WireCodec, WireError, describe_evidence,
    paxos_wire,
};

/// A Multi-Paxos state machine the runtime can serve: its commands,
/// queries and outputs have a byte encoding (tessera-storage's [`Codec`],
/// the same one the durable log keeps commands in), and it can move
/// between threads.
///
/// Implemented for every such [`StateMachine`]; nothing to write by hand.
pub trait PaxosApplication:
    StateMachine<
        Command: Codec + Send + Sync + 'static,
        Query: Codec + Send + 'static,
        Output: Codec + Send + 'static,
        QueryOutput: Codec + Send + 'static,
    > + Send
    + 'static
{
}

impl<S> PaxosApplication for S where
    S: StateMachine<
            Command: Codec + Send + Sync + 'static,
            Query: Codec + Send + 'static,
            Output: Codec + Send + 'static,
            QueryOutput: Codec + Send + 'static,
        > + Send
        + 'static
{
}

/// Multi-Paxos's [`ProtocolAdapter`] for an application `S`: messages as
/// in `proto/paxos.proto` (commands in `S::Command`'s [`Codec`]
/// encoding), snapshot chunks on the bulk lane, proposals and reads as
/// Multi-Paxos requests.
///
/// Reads: [`ReadConsistency::Linearizable`] is a Multi-Paxos barrier read
/// — answered at the leader after a slot of its ballot proposed after the
/// read arrived is chosen and applied (one phase-two round, no clock
/// assumption; the reply's path says `barrier`), whether or not the leader
/// holds a lease. [`ReadConsistency::Lease`] is answered at once under the
/// leader's lease while it is valid (path `lease`; it rests on the
/// clock-offset bound), and falls back to a barrier without one (or with
/// leases off, `paxos.lease_ms = 0`).
///
/// Status: the ballot's round is the `term`, slots are the indexes.
///
/// # Examples
///
/// ```
/// use tessera_net::{PaxosAdapter, ReplicatedMap, WireCodec};
/// use tessera_paxos::Ballot;
/// use tessera_paxos::multi::Message;
///
/// let adapter = PaxosAdapter::<ReplicatedMap>::new();
/// let prepare = Message::Prepare { ballot: Ballot::new(3, 1), from_slot: 7 };
/// let mut bytes = Vec::new();
/// adapter.encode(&prepare, &mut bytes);
/// assert_eq!(adapter.decode(&bytes).unwrap(), prepare);
/// assert!(adapter.decode(b"\xff\xff").is_err());
/// ```
pub struct PaxosAdapter<S> {
    _application: PhantomData<fn() -> S>,
}

impl<S> PaxosAdapter<S> {
    /// The adapter.
    pub fn new() -> Self {
        PaxosAdapter {
            _application: PhantomData,
        }
    }
}

impl<S> Default for PaxosAdapter<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> fmt::Debug for PaxosAdapter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PaxosAdapter")
    }
}

/// Bytes counted for a slot besides its commands.
const SLOT_OVERHEAD_BYTES: usize = 32;
/// Bytes counted for a command besides its encoding.
const COMMAND_OVERHEAD_BYTES: usize = 8;
/// Bytes counted for a message besides its slots or chunk.
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

fn value_bytes<C: Codec>(value: &SlotValue<C>, scratch: &mut Vec<u8>) -> usize {
    SLOT_OVERHEAD_BYTES
        + value
            .commands()
            .iter()
            .map(|command| {
                scratch.clear();
                command.encode(scratch);
                COMMAND_OVERHEAD_BYTES + scratch.len()
            })
            .sum::<usize>()
}

impl<S: PaxosApplication> WireCodec for PaxosAdapter<S> {
    type Message = Message<S::Command>;

    fn protocol(&self) -> &'static str {
        "paxos"
    }

    fn encode(&self, message: &Self::Message, out: &mut Vec<u8>) {
        paxos_wire::encode(message, out);
    }

    fn decode(&self, bytes: &[u8]) -> Result<Self::Message, WireError> {
        paxos_wire::decode(bytes)
    }

    fn lane(&self, message: &Self::Message) -> Lane {
        match message {
            Message::SnapshotChunk { .. } => Lane::Bulk,
            _ => Lane::Ordinary,
        }
    }

    fn size_hint(&self, message: &Self::Message) -> usize {
        let mut scratch = Vec::new();
        let body = match message {
            Message::Accept { values, .. } => values
                .iter()
                .map(|value| value_bytes(value, &mut scratch))
                .sum(),
            Message::Promise { entries, .. } | Message::CatchUp { entries, .. } => entries
                .iter()
                .map(|entry| value_bytes(&entry.value, &mut scratch))
                .sum(),
            Message::SnapshotChunk {
                data,
                configuration,
                ..
            } => data.len() + configuration.len(),
            _ => 0,
        };
        MESSAGE_OVERHEAD_BYTES + body
    }

    fn kind(&self, message: &Self::Message) -> &'static str {
        paxos_wire::kind(message)
    }
}

/// The evidence line of a promise: the highest ballot the node promised
/// (it binds every slot the node has not accepted in a higher ballot), as
/// the Status reply lists it. `None` before any promise.
fn promise_line(ballot: tessera_paxos::Ballot) -> Option<String> {
    (!ballot.is_zero()).then(|| {
        format!(
            "Promise over Epoch({}): Active, ballot {ballot}",
            ballot.epoch()
        )
    })
}

impl<S: PaxosApplication> ProtocolAdapter for PaxosAdapter<S> {
    type Node = MultiPaxos<S>;

    fn propose(&self, command: &[u8]) -> Result<Request<S::Command, S::Query>, InvalidRequest> {
        Ok(Request::Propose(decode(command, "the command")?))
    }

    fn read(
        &self,
        query: &[u8],
        consistency: ReadConsistency,
    ) -> Result<Request<S::Command, S::Query>, InvalidRequest> {
        match consistency {
            ReadConsistency::Linearizable => Ok(Request::BarrierRead(decode(query, "the query")?)),
            ReadConsistency::Lease => Ok(Request::Read(decode(query, "the query")?)),
            ReadConsistency::Stale { .. } => Err(InvalidRequest::new(
                "a stale read is served by the node itself, not through Multi-Paxos",
            )),
        }
    }

    fn stale_read(
        &self,
        node: &MultiPaxos<S>,
        query: &[u8],
    ) -> Result<(u64, Vec<u8>), InvalidRequest> {
        let query: S::Query = decode(query, "the query")?;
        let answer = node.state_machine().query(&query);
        Ok((node.applied_index(), encode(&answer)))
    }

    fn outcome(&self, response: Response<S::Output, S::QueryOutput>) -> ClientOutcome {
        match response {
            Response::Applied { slot, output } => ClientOutcome::Applied {
                index: slot,
                output: encode(&output),
            },
            Response::Read { slot, output, path } => ClientOutcome::Read {
                index: slot,
                output: encode(&output),
                path: match path {
                    ReadPath::Lease => "lease",
                    ReadPath::Barrier => "barrier",
                },
                staleness: Duration::ZERO,
            },
            Response::Reconfigured { start_slot, .. } => ClientOutcome::Applied {
                index: start_slot,
                output: Vec::new(),
            },
            Response::NotLeader { leader } => ClientOutcome::NotLeader { leader },
            Response::Overloaded => ClientOutcome::Refused {
                reason: "the leader's queue is full: not executed".into(),
            },
            Response::Refused(reason) => ClientOutcome::Refused { reason },
            Response::Unknown => ClientOutcome::Indeterminate {
                reason: "leadership was lost while the command was in flight: it may or may \
                         not be chosen"
                    .into(),
            },
        }
    }

    fn is_commit(&self, response: &Response<S::Output, S::QueryOutput>) -> bool {
        matches!(response, Response::Applied { .. })
    }

    fn status(&self, node: &MultiPaxos<S>) -> NodeStatus {
        let mode = node.mode();
        NodeStatus {
            id: node.id(),
            mode: mode.name(),
            mode_is_target: mode.level() == ModeLevel::Target,
            term: node.promised().round,
            leader: node.leader(),
            commit_index: node.commit_index(),
            applied_index: node.applied_index(),
            last_log_index: node.last_slot(),
        }
    }

    /// At the leader, each other acceptor with the highest slot it
    /// acknowledged accepting in the leader's ballot; its lag is how many
    /// of the leader's slots lie beyond that. (Slots an acceptor learns
    /// by catch-up rather than by accepting them are not counted: a
    /// lagging acceptor shows its lag until it accepts new slots again.)
    fn followers(&self, node: &MultiPaxos<S>) -> Vec<FollowerReport> {
        let last = node.last_slot();
        node.acceptor_progress()
            .into_iter()
            .map(|(id, slot)| FollowerReport {
                id,
                match_index: slot,
                lag: last.saturating_sub(slot),
            })
            .collect()
    }

    /// Multi-Paxos's evidence: the promise (the highest ballot promised);
    /// at the leader its lease and its time left, the commit certificate
    /// of the last slot it chose and the promise certificate of its phase
    /// one; at an acceptor the lease it granted. Multi-Paxos keeps no closed timestamp.
    fn evidence(&self, node: &MultiPaxos<S>, now: Instant) -> EvidenceReport {
        let mut evidence = Vec::new();
        evidence.extend(promise_line(node.promised()));
        let lease = node.lease().filter(|lease| lease.is_valid_for_holder(now));
        let mut summaries: Vec<EvidenceSummary> = Vec::new();
        if let Some(certificate) = node.promise_certificate() {
            summaries.push(certificate.summary(now));
        }
        if let Some(certificate) = node.last_commit_certificate() {
            summaries.push(certificate.summary(now));
        }
        if let Some(lease) = node.lease() {
            summaries.push(lease.summary(now));
        }
        // A leader grants its own lease too: listed once, as its lease.
        if let Some(granted) = node.granted_lease().filter(|lease| {
            lease.may_be_held(now) && !(node.is_leader() && lease.holder() == node.id())
        }) {
            summaries.push(granted.summary(now));
        }
        evidence.extend(
            summaries
                .iter()
                .map(|summary| describe_evidence(summary, now)),
        );
        EvidenceReport {
            lease_remaining: lease
                .and_then(|lease| lease.holder_valid_until().checked_duration_since(now)),
            commit_certificate: node.last_commit_certificate().map(|certificate| {
                CertificateReport {
                    term: certificate.round() >> 32,
                    index: certificate.index(),
                    voters: certificate.voters().collect(),
                }
            }),
            closed_timestamp: None,
            evidence,
        }
    }
}

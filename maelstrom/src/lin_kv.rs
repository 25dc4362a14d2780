//! The lin-kv workload: a linearizable key-value store on tessera-raft.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tessera_core::{Input, Instant, NodeId, Protocol, RequestId};
use tessera_raft::{RaftConfig, RaftDisk, RaftNode, ReadPolicy, Request, Response, Startup};

use crate::json_text::canonical_json;
use crate::peer_payload;
use crate::protocol_host::{HostOutput, ProtocolHost};
use crate::{
    Body, ClientRequest, Envelope, ErrorCode, KvCommand, KvOutput, KvStore, MaelstromError,
    NodeDirectory, NodeOptions, Output, decode_raft_message, encode_raft_message,
};

/// How many client requests a lin-kv node tracks at once; more are refused
/// with `temporarily-unavailable` (definite: never submitted).
pub const CLIENT_REQUESTS_PENDING_MAX: usize = 4_096;

/// The body type of Raft messages between nodes.
pub(crate) const RAFT_MESSAGE_TYPE: &str = "raft";

type Host = ProtocolHost<RaftNode<KvStore>, RaftDisk<KvCommand>>;

/// A client request waiting for Raft's answer.
#[derive(Debug, Clone)]
struct PendingClient {
    client: String,
    msg_id: u64,
    deadline: Instant,
}

/// A lin-kv node: a Raft node whose state machine is the map, its durable
/// image in memory, and the client requests it is answering.
#[derive(Debug)]
pub(crate) struct LinKvService {
    host: Host,
    directory: NodeDirectory,
    pending: BTreeMap<RequestId, PendingClient>,
    next_request: u64,
    client_timeout: Duration,
}

/// The Raft configuration a lin-kv node runs: Raft's defaults with the
/// timeouts scaled to `election_timeout`, proposals forwarded from
/// followers to the leader, and snapshots every `snapshot_entries` entries.
pub(crate) fn raft_config(options: &NodeOptions) -> RaftConfig {
    let election = options.election_timeout;
    RaftConfig {
        election_timeout_min: election,
        election_timeout_max: election * 2,
        heartbeat_interval: election / 3,
        max_clock_offset: election / 3,
        forward_proposals: true,
        // Maelstrom's clients give up after a second; a forward still
        // unanswered by then is reported as unknown.
        forward_timeout: Duration::from_secs(1),
        snapshot_threshold_entries: options.snapshot_entries,
        snapshot_keep_entries: (options.snapshot_entries / 10).max(1),
        ..RaftConfig::default()
    }
}

impl LinKvService {
    pub(crate) fn start(
        directory: NodeDirectory,
        options: &NodeOptions,
        now: Instant,
    ) -> Result<Self, MaelstromError> {
        let startup = Startup::bootstrap(directory.me(), options.seed, now, directory.ids());
        let node = RaftNode::start(startup, raft_config(options), KvStore::default()).map_err(
            |error| MaelstromError::Usage {
                reason: format!("cannot start a Raft node: {error}"),
            },
        )?;
        Ok(LinKvService {
            host: ProtocolHost::new(node, RaftDisk::new()),
            directory,
            pending: BTreeMap::new(),
            next_request: 1,
            client_timeout: options.client_timeout,
        })
    }

    /// The Raft node.
    pub(crate) fn raft(&self) -> &RaftNode<KvStore> {
        self.host.node()
    }

    /// The durable image (its log and snapshots).
    pub(crate) fn disk(&self) -> &RaftDisk<KvCommand> {
        self.host.image()
    }

    /// One line on what the node did: its Raft state and counters.
    pub(crate) fn summary(&self) -> String {
        let raft = self.host.node();
        let counters = raft.counters();
        format!(
            "raft: term {}, commit index {}, {} keys; elections won {}, snapshots taken {}, sent {}, installed {}; proposals forwarded {}; peer messages rejected {}",
            raft.term(),
            raft.commit_index(),
            raft.state_machine().len(),
            counters.elections_won,
            counters.snapshots_taken,
            counters.snapshots_sent,
            counters.snapshots_installed,
            counters.proposals_forwarded,
            counters.rejected_total(),
        )
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        // Requests are numbered in arrival order and all wait equally long,
        // so the first pending one expires first.
        let expiry = self.pending.values().next().map(|p| p.deadline);
        match (self.host.node().next_deadline(), expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A client's `read`, `write` or `cas`.
    pub(crate) fn on_client(
        &mut self,
        now: Instant,
        client: &str,
        msg_id: u64,
        request: ClientRequest,
        out: &mut Vec<Output>,
    ) {
        let command = match request {
            ClientRequest::Read { key } => KvCommand::Read {
                key: canonical_json(&key),
            },
            ClientRequest::Write { key, value } => KvCommand::Write {
                key: canonical_json(&key),
                value,
            },
            ClientRequest::Cas { key, from, to } => KvCommand::Cas {
                key: canonical_json(&key),
                from,
                to,
            },
            other => {
                let body = Body::error(
                    ErrorCode::NotSupported,
                    format!("`{}` is not a lin-kv request", other.reply_type()),
                    msg_id,
                );
                out.push(self.message(client, body));
                return;
            }
        };
        if self.pending.len() >= CLIENT_REQUESTS_PENDING_MAX {
            let body = Body::error(
                ErrorCode::TemporarilyUnavailable,
                format!("{CLIENT_REQUESTS_PENDING_MAX} requests already pending here; retry"),
                msg_id,
            );
            out.push(self.message(client, body));
            return;
        }
        // The leader answers reads with ReadIndex (one heartbeat round, no
        // log entry); a follower cannot, so its reads go through the log,
        // forwarded to the leader like writes.
        let request = match command {
            KvCommand::Read { key } if self.host.node().is_leader() => Request::Read {
                query: key,
                policy: ReadPolicy::ReadIndex,
            },
            command => Request::Propose(command),
        };
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending.insert(
            id,
            PendingClient {
                client: client.to_string(),
                msg_id,
                deadline: now + self.client_timeout,
            },
        );
        let mut host_out = Vec::new();
        self.host
            .step(now, Input::Request { id, request }, &mut host_out);
        self.drain(host_out, out);
    }

    /// A Raft message from node `from`.
    pub(crate) fn on_peer(
        &mut self,
        now: Instant,
        from: NodeId,
        body: &Body,
        out: &mut Vec<Output>,
    ) -> Result<(), MaelstromError> {
        let bytes = peer_payload::unwrap(from, RAFT_MESSAGE_TYPE, body)?;
        let message = decode_raft_message::<KvCommand>(&bytes)
            .map_err(|reason| MaelstromError::PeerMessage { from, reason })?;
        let mut host_out = Vec::new();
        self.host
            .step(now, Input::Message { from, message }, &mut host_out);
        self.drain(host_out, out);
        Ok(())
    }

    /// Timers: Raft's, and the expiry of requests left unanswered.
    pub(crate) fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        let mut host_out = Vec::new();
        self.host.tick(now, &mut host_out);
        self.drain(host_out, out);
        while let Some(entry) = self.pending.first_entry() {
            if entry.get().deadline > now {
                break;
            }
            let pending = entry.remove();
            // Raft may still apply it: the outcome is unknown.
            let body = Body::error(
                ErrorCode::Timeout,
                format!(
                    "no answer from the cluster within {:?}; the operation may still take effect",
                    self.client_timeout
                ),
                pending.msg_id,
            );
            out.push(self.message(&pending.client, body));
        }
    }

    fn message(&self, dest: &str, body: Body) -> Output {
        Output::Message(Envelope::new(self.directory.my_name(), dest, body))
    }

    fn drain(&mut self, host_out: Vec<HostOutput<RaftNode<KvStore>>>, out: &mut Vec<Output>) {
        for output in host_out {
            match output {
                HostOutput::Send { to, message } => out.push(peer_payload::wrap(
                    &self.directory,
                    to,
                    RAFT_MESSAGE_TYPE,
                    &encode_raft_message(&message),
                )),
                HostOutput::Reply { id, response } => match self.pending.remove(&id) {
                    Some(pending) => {
                        let body = reply_body(response, pending.msg_id);
                        out.push(self.message(&pending.client, body));
                    }
                    // Already answered with a timeout.
                    None => out.push(Output::Log(format!(
                        "raft answered request {} after its client was told it timed out",
                        id.0
                    ))),
                },
                HostOutput::ModeChanged(transition) => {
                    out.push(Output::Log(format!("raft mode: {transition}")));
                }
            }
        }
    }
}

/// Raft's answer as a Maelstrom reply. An error is definite only when Raft
/// says the request was not and will not be executed.
pub(crate) fn reply_body(response: Response<KvOutput, Option<Value>>, msg_id: u64) -> Body {
    let missing = || Body::error(ErrorCode::KeyDoesNotExist, "no such key", msg_id);
    match response {
        Response::Applied { output, .. } => match output {
            KvOutput::Value(Some(value)) => Body::reply("read_ok", msg_id).with("value", value),
            KvOutput::Value(None) | KvOutput::CasMissing => missing(),
            KvOutput::Written => Body::reply("write_ok", msg_id),
            KvOutput::Swapped => Body::reply("cas_ok", msg_id),
            KvOutput::CasMismatch { current } => Body::error(
                ErrorCode::PreconditionFailed,
                format!("the value is {}", canonical_json(&current)),
                msg_id,
            ),
        },
        Response::Read {
            output: Some(value),
            ..
        } => Body::reply("read_ok", msg_id).with("value", value),
        Response::Read { output: None, .. } => missing(),
        Response::NotLeader { leader } => Body::error(
            ErrorCode::TemporarilyUnavailable,
            match leader {
                Some(leader) => format!("not the leader (node {leader} is); retry"),
                None => "no leader known; retry".to_string(),
            },
            msg_id,
        ),
        Response::Rejected(error) => Body::error(
            ErrorCode::TemporarilyUnavailable,
            format!("refused, not executed: {error}"),
            msg_id,
        ),
        Response::Dropped => Body::error(
            ErrorCode::TemporarilyUnavailable,
            "overwritten by another leader's entry: not executed and never will be",
            msg_id,
        ),
        Response::Unknown => Body::error(
            ErrorCode::Crash,
            "leadership changed while the request was pending: it may or may not take effect",
            msg_id,
        ),
        // Not answers to a lin-kv request; reported as unknown rather than
        // risk a wrong definite answer.
        Response::MembershipChanged { .. } | Response::LeadershipTransferred { .. } => {
            Body::error(ErrorCode::Crash, "unexpected answer from raft", msg_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tessera_raft::{RaftError, ReadPath};

    /// The mapping of every Raft answer to a Maelstrom reply, and that only
    /// Raft's `Unknown` (and answers that cannot occur) are indefinite.
    #[test]
    fn raft_answers_map_to_replies_with_the_right_definiteness() {
        let kind = |response| {
            let body = reply_body(response, 9);
            assert_eq!(body.in_reply_to, Some(9));
            (body.kind.clone(), body.error_code())
        };
        let ok = |kind: &str| (kind.to_string(), None);
        let error = |code| ("error".to_string(), Some(code));
        let applied = |output| Response::Applied { index: 3, output };
        let cases = vec![
            (applied(KvOutput::Value(Some(json!(1)))), ok("read_ok")),
            (
                applied(KvOutput::Value(None)),
                error(ErrorCode::KeyDoesNotExist),
            ),
            (applied(KvOutput::Written), ok("write_ok")),
            (applied(KvOutput::Swapped), ok("cas_ok")),
            (
                applied(KvOutput::CasMissing),
                error(ErrorCode::KeyDoesNotExist),
            ),
            (
                applied(KvOutput::CasMismatch { current: json!(2) }),
                error(ErrorCode::PreconditionFailed),
            ),
            (
                Response::Read {
                    index: 1,
                    output: Some(json!(4)),
                    path: ReadPath::ReadIndex,
                },
                ok("read_ok"),
            ),
            (
                Response::Read {
                    index: 1,
                    output: None,
                    path: ReadPath::ReadIndex,
                },
                error(ErrorCode::KeyDoesNotExist),
            ),
            (
                Response::NotLeader { leader: Some(2) },
                error(ErrorCode::TemporarilyUnavailable),
            ),
            (
                Response::NotLeader { leader: None },
                error(ErrorCode::TemporarilyUnavailable),
            ),
            (
                Response::Rejected(RaftError::Overloaded {
                    queue: "proposals_pending",
                    limit: 1,
                }),
                error(ErrorCode::TemporarilyUnavailable),
            ),
            (Response::Dropped, error(ErrorCode::TemporarilyUnavailable)),
            (Response::Unknown, error(ErrorCode::Crash)),
            (
                Response::LeadershipTransferred { to: 1, term: 2 },
                error(ErrorCode::Crash),
            ),
        ];
        for (response, expected) in cases {
            let description = format!("{response:?}");
            assert_eq!(kind(response), expected, "{description}");
        }
        let read = reply_body(applied(KvOutput::Value(Some(json!([1])))), 1);
        assert_eq!(read.fields["value"], json!([1]));
        assert!(!ErrorCode::Crash.is_definite());
    }
}

//! The node: Maelstrom's protocol around one workload's service.

use tessera_core::Instant;

use crate::crdt_service::{CrdtService, SYNC_MESSAGE_TYPE};
use crate::crdt_workloads::{GCounterWorkload, PnCounterWorkload, SetWorkload};
use crate::lin_kv::{LinKvService, RAFT_MESSAGE_TYPE};
use crate::{
    Body, ClientRequest, Envelope, ErrorCode, MaelstromError, NodeDirectory, NodeOptions, Output,
    Workload,
};

/// What a node has counted: the input it refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Lines that were not Maelstrom messages, or not addressed to this
    /// node.
    pub lines_rejected: u64,
    /// Messages whose fields did not fit their type (answered with
    /// `malformed-request` when they had a `msg_id`).
    pub requests_malformed: u64,
    /// Requests without a `msg_id`, which cannot be answered: skipped.
    pub requests_unanswerable: u64,
    /// Node-to-node messages dropped: undecodable, invalid, from a node
    /// `init` did not list, or before `init`.
    pub peer_messages_rejected: u64,
    /// Replies received (the node sends no requests): dropped.
    pub replies_ignored: u64,
}

#[derive(Debug)]
enum Service {
    LinKv(Box<LinKvService>),
    GCounter(CrdtService<GCounterWorkload>),
    PnCounter(CrdtService<PnCounterWorkload>),
    /// g-set and broadcast.
    Set(CrdtService<SetWorkload>),
}

#[derive(Debug)]
struct Running {
    directory: NodeDirectory,
    service: Service,
}

/// A Maelstrom node, sans-IO: lines (or parsed messages) and ticks go in,
/// messages and log lines come out. [`StdioDriver`](crate::StdioDriver)
/// runs it on stdin and stdout; tests drive it directly.
///
/// # Examples
///
/// A single-node g-counter, driven by hand:
///
/// ```
/// use tessera_core::Instant;
/// use tessera_maelstrom::{MaelstromNode, NodeOptions, Output, Workload};
///
/// let mut node = MaelstromNode::new(Workload::GCounter, NodeOptions::default())?;
/// let mut out = Vec::new();
/// let now = Instant::from_secs(1);
/// node.handle_line(now, r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#, &mut out);
/// node.handle_line(now, r#"{"src":"c1","dest":"n1","body":{"type":"add","msg_id":2,"delta":5}}"#, &mut out);
/// node.handle_line(now, r#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":3}}"#, &mut out);
/// let replies: Vec<String> = out.iter().filter_map(Output::as_message).map(|m| m.body.kind.clone()).collect();
/// assert_eq!(replies, ["init_ok", "add_ok", "read_ok"]);
/// let read = out.iter().filter_map(Output::as_message).last().unwrap();
/// assert_eq!(read.body.fields["value"], 5);
///
/// // A line that is not a message is logged, never a panic.
/// node.handle_line(now, "}{", &mut out);
/// assert_eq!(node.stats().lines_rejected, 1);
/// # Ok::<(), tessera_maelstrom::MaelstromError>(())
/// ```
#[derive(Debug)]
pub struct MaelstromNode {
    workload: Workload,
    options: NodeOptions,
    running: Option<Running>,
    next_msg_id: u64,
    stats: NodeStats,
}

impl MaelstromNode {
    /// A node for `workload`, waiting for `init`.
    ///
    /// # Errors
    ///
    /// [`MaelstromError::Usage`] if the options are invalid.
    pub fn new(workload: Workload, options: NodeOptions) -> Result<Self, MaelstromError> {
        options.validate()?;
        Ok(MaelstromNode {
            workload,
            options,
            running: None,
            next_msg_id: 1,
            stats: NodeStats::default(),
        })
    }

    /// The workload it serves.
    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// Its name, once initialised.
    pub fn node_id(&self) -> Option<&str> {
        self.running.as_ref().map(|r| r.directory.my_name())
    }

    /// What it has refused so far.
    pub fn stats(&self) -> NodeStats {
        self.stats
    }

    /// lin-kv: the Raft node (after `init`).
    pub fn raft(&self) -> Option<&tessera_raft::RaftNode<crate::KvStore>> {
        match self.running.as_ref().map(|r| &r.service) {
            Some(Service::LinKv(service)) => Some(service.raft()),
            _ => None,
        }
    }

    /// lin-kv: the in-memory durable image of the Raft node (after `init`).
    pub fn raft_disk(&self) -> Option<&tessera_raft::RaftDisk<crate::KvCommand>> {
        match self.running.as_ref().map(|r| &r.service) {
            Some(Service::LinKv(service)) => Some(service.disk()),
            _ => None,
        }
    }

    /// CRDT workloads: the ids of the peers the replica syncs with (after
    /// `init`).
    pub fn sync_peers(&self) -> Option<&[tessera_core::NodeId]> {
        match self.running.as_ref().map(|r| &r.service) {
            Some(Service::GCounter(s)) => Some(s.peers()),
            Some(Service::PnCounter(s)) => Some(s.peers()),
            Some(Service::Set(s)) => Some(s.peers()),
            _ => None,
        }
    }

    /// One line on the node: what it refused, and its protocol's counters.
    pub fn summary(&self) -> String {
        let service = match self.running.as_ref().map(|r| &r.service) {
            None => "not initialised".to_string(),
            Some(Service::LinKv(s)) => s.summary(),
            Some(Service::GCounter(s)) => s.summary(),
            Some(Service::PnCounter(s)) => s.summary(),
            Some(Service::Set(s)) => s.summary(),
        };
        format!("{service}; refused input: {:?}", self.stats)
    }

    /// When the node next needs [`tick`](Self::tick), if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.running.as_ref()?.service {
            Service::LinKv(s) => s.next_deadline(),
            Service::GCounter(s) => s.next_deadline(),
            Service::PnCounter(s) => s.next_deadline(),
            Service::Set(s) => s.next_deadline(),
        }
    }

    /// Time has passed.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        let start = out.len();
        if let Some(running) = &mut self.running {
            match &mut running.service {
                Service::LinKv(s) => s.tick(now, out),
                Service::GCounter(s) => s.tick(now, out),
                Service::PnCounter(s) => s.tick(now, out),
                Service::Set(s) => s.tick(now, out),
            }
        }
        self.stamp(start, out);
    }

    /// One line from stdin. Lines that are not messages are logged and
    /// counted, and answered with `malformed-request` if they name a sender
    /// and a `msg_id`.
    pub fn handle_line(&mut self, now: Instant, line: &str, out: &mut Vec<Output>) {
        let start = out.len();
        match Envelope::parse(line) {
            Ok(envelope) => self.dispatch(now, envelope, out),
            Err(error) => {
                self.stats.lines_rejected += 1;
                if let Some((src, msg_id)) = error.reply_address() {
                    let body = Body::error(ErrorCode::MalformedRequest, error.to_string(), msg_id);
                    out.push(self.message(src, body));
                }
                out.push(Output::Log(format!("skipped a line: {error}")));
            }
        }
        self.stamp(start, out);
    }

    /// One parsed message.
    pub fn handle(&mut self, now: Instant, envelope: Envelope, out: &mut Vec<Output>) {
        let start = out.len();
        self.dispatch(now, envelope, out);
        self.stamp(start, out);
    }

    /// Gives every outgoing message from `start` on this node's next
    /// message id.
    fn stamp(&mut self, start: usize, out: &mut [Output]) {
        for output in &mut out[start..] {
            if let Output::Message(envelope) = output
                && envelope.body.msg_id.is_none()
            {
                envelope.body.msg_id = Some(self.next_msg_id);
                self.next_msg_id += 1;
            }
        }
    }

    fn message(&self, dest: &str, body: Body) -> Output {
        let src = self.node_id().unwrap_or_default();
        Output::Message(Envelope::new(src, dest, body))
    }

    fn dispatch(&mut self, now: Instant, envelope: Envelope, out: &mut Vec<Output>) {
        let Envelope { src, dest, body } = envelope;
        if let Some(in_reply_to) = body.in_reply_to {
            self.stats.replies_ignored += 1;
            out.push(Output::Log(format!(
                "ignored a `{}` reply from {src} to message {in_reply_to}: this node sends no requests",
                body.kind
            )));
            return;
        }
        if let Some(me) = self.node_id()
            && dest != me
        {
            out.push(Output::Log(format!(
                "dropped a `{}` message from {src} for {dest}: this is {me}",
                body.kind
            )));
            self.stats.lines_rejected += 1;
            return;
        }
        if body.kind == RAFT_MESSAGE_TYPE || body.kind == SYNC_MESSAGE_TYPE {
            self.on_peer(now, &src, &body, out);
            return;
        }
        let request = match ClientRequest::parse(self.workload, &body) {
            Ok(request) => request,
            Err(error) => {
                self.stats.requests_malformed += 1;
                if let Some(msg_id) = body.msg_id {
                    let body = Body::error(ErrorCode::MalformedRequest, error.to_string(), msg_id);
                    out.push(self.message(&src, body));
                }
                out.push(Output::Log(format!(
                    "refused a message from {src}: {error}"
                )));
                return;
            }
        };
        let Some(msg_id) = body.msg_id else {
            self.stats.requests_unanswerable += 1;
            out.push(Output::Log(format!(
                "skipped a `{}` request from {src} without a msg_id: it could not be answered",
                body.kind
            )));
            return;
        };
        match request {
            ClientRequest::Init { node_id, node_ids } => {
                self.on_init(now, &src, msg_id, node_id, node_ids, out);
            }
            request => self.on_client(now, &src, msg_id, request, out),
        }
    }

    fn on_init(
        &mut self,
        now: Instant,
        src: &str,
        msg_id: u64,
        node_id: String,
        node_ids: Vec<String>,
        out: &mut Vec<Output>,
    ) {
        if let Some(running) = &self.running {
            // A repeated init (a retry) is acknowledged again; a different
            // one cannot be honoured.
            let same = running.directory.my_name() == node_id
                && running.directory.names() == node_ids.as_slice();
            let body = if same {
                Body::reply("init_ok", msg_id)
            } else {
                Body::error(
                    ErrorCode::MalformedRequest,
                    format!(
                        "already initialised as {} of {:?}",
                        running.directory.my_name(),
                        running.directory.names()
                    ),
                    msg_id,
                )
            };
            out.push(self.message(src, body));
            return;
        }
        let started = NodeDirectory::new(&node_id, node_ids).and_then(|directory| {
            let service = self.start_service(directory.clone(), now)?;
            Ok(Running { directory, service })
        });
        match started {
            Ok(running) => {
                out.push(Output::Log(format!(
                    "{} initialised for {} with nodes {:?}",
                    running.directory.my_name(),
                    self.workload,
                    running.directory.names()
                )));
                self.running = Some(running);
                out.push(self.message(src, Body::reply("init_ok", msg_id)));
            }
            Err(error) => {
                out.push(Output::Log(format!("init refused: {error}")));
                let body = Body::error(ErrorCode::MalformedRequest, error.to_string(), msg_id);
                out.push(Output::Message(Envelope::new(node_id, src, body)));
            }
        }
    }

    fn start_service(
        &self,
        directory: NodeDirectory,
        now: Instant,
    ) -> Result<Service, MaelstromError> {
        let options = &self.options;
        Ok(match self.workload {
            Workload::LinKv => {
                Service::LinKv(Box::new(LinKvService::start(directory, options, now)?))
            }
            Workload::GCounter => Service::GCounter(CrdtService::start(
                GCounterWorkload,
                directory,
                options,
                now,
            )?),
            Workload::PnCounter => Service::PnCounter(CrdtService::start(
                PnCounterWorkload,
                directory,
                options,
                now,
            )?),
            Workload::GSet => Service::Set(CrdtService::start(
                SetWorkload {
                    elements_field: "value",
                },
                directory,
                options,
                now,
            )?),
            Workload::Broadcast => Service::Set(CrdtService::start(
                SetWorkload {
                    elements_field: "messages",
                },
                directory,
                options,
                now,
            )?),
        })
    }

    fn on_client(
        &mut self,
        now: Instant,
        src: &str,
        msg_id: u64,
        request: ClientRequest,
        out: &mut Vec<Output>,
    ) {
        let Some(running) = &mut self.running else {
            let body = Body::error(
                ErrorCode::TemporarilyUnavailable,
                "not initialised yet: no init received",
                msg_id,
            );
            out.push(self.message(src, body));
            return;
        };
        match &mut running.service {
            Service::LinKv(s) => s.on_client(now, src, msg_id, request, out),
            Service::GCounter(s) => s.on_client(now, src, msg_id, request, out),
            Service::PnCounter(s) => s.on_client(now, src, msg_id, request, out),
            Service::Set(s) => s.on_client(now, src, msg_id, request, out),
        }
    }

    fn on_peer(&mut self, now: Instant, src: &str, body: &Body, out: &mut Vec<Output>) {
        let result = match &mut self.running {
            None => Err(MaelstromError::MalformedRequest {
                kind: body.kind.clone(),
                reason: format!("from {src} before init"),
            }),
            Some(running) => match running.directory.id_of(src) {
                None => Err(MaelstromError::MalformedRequest {
                    kind: body.kind.clone(),
                    reason: format!("from {src}, which init did not list as a node"),
                }),
                Some(from) => match &mut running.service {
                    Service::LinKv(s) => s.on_peer(now, from, body, out),
                    Service::GCounter(s) => s.on_peer(now, from, body, out),
                    Service::PnCounter(s) => s.on_peer(now, from, body, out),
                    Service::Set(s) => s.on_peer(now, from, body, out),
                },
            },
        };
        if let Err(error) = result {
            self.stats.peer_messages_rejected += 1;
            out.push(Output::Log(format!("dropped a node message: {error}")));
        }
    }
}

//! A deterministic in-process driver for scenario tests: nodes, their disks,
//! a network queue the test controls (cut links, drop, reorder, deliver one
//! message at a time), one clock, and durability either immediate or
//! released by hand.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tessera_core::{Action, Input, Instant, NodeId, PersistId, Protocol, RequestId, Violation};
use tessera_raft::invariants::{ClusterState, NodeState, RaftInvariants};
use tessera_raft::{
    Message, RaftConfig, RaftDisk, RaftNode, RaftWrite, ReadPolicy, Request, Response,
    SnapshotBuffer, Startup, StateMachine,
};

/// A key-value command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum KvCommand {
    /// Set a key.
    Put(u64, u64),
    /// Set a key if it holds `expected`.
    Cas { key: u64, expected: u64, new: u64 },
    /// Remove a key.
    Delete(u64),
    /// Set a key to the length of a payload: a command as large as the
    /// payload, for the byte limits of replication.
    Blob(u64, Vec<u8>),
}

/// What a command returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvOutput {
    Done,
    Cas(bool),
}

/// The size [`Kv`] reports for a [`KvCommand::Blob`] beyond its payload.
pub(crate) const BLOB_HEADER_BYTES: usize = 8;

/// A replicated key-value map that also records every index it applied.
#[derive(Debug, Default)]
pub(crate) struct Kv {
    pub(crate) data: BTreeMap<u64, u64>,
    pub(crate) applied: Vec<u64>,
    snapshots: SnapshotBuffer,
}

impl Kv {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() * 16);
        for (k, v) in &self.data {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }
}

impl StateMachine for Kv {
    type Command = KvCommand;
    type Output = KvOutput;
    type Query = u64;
    type QueryOutput = Option<u64>;

    fn apply(&mut self, index: u64, command: &KvCommand) -> KvOutput {
        self.applied.push(index);
        match command {
            KvCommand::Put(k, v) => {
                self.data.insert(*k, *v);
                KvOutput::Done
            }
            KvCommand::Cas { key, expected, new } => {
                if self.data.get(key) == Some(expected) {
                    self.data.insert(*key, *new);
                    KvOutput::Cas(true)
                } else {
                    KvOutput::Cas(false)
                }
            }
            KvCommand::Delete(k) => {
                self.data.remove(k);
                KvOutput::Done
            }
            KvCommand::Blob(k, payload) => {
                self.data.insert(*k, payload.len() as u64);
                KvOutput::Done
            }
        }
    }

    fn query(&self, key: &u64) -> Option<u64> {
        self.data.get(key).copied()
    }

    fn command_bytes(command: &KvCommand) -> usize {
        match command {
            KvCommand::Blob(_, payload) => BLOB_HEADER_BYTES + payload.len(),
            _ => 24,
        }
    }

    fn snapshot_capture(&mut self) -> u64 {
        let bytes = self.encode();
        self.snapshots.capture(bytes)
    }

    fn snapshot_read(&self, offset: u64, len: usize) -> Vec<u8> {
        self.snapshots.read(offset, len)
    }

    fn restore_begin(&mut self) {
        self.snapshots.begin_restore();
    }

    fn restore_chunk(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.snapshots.push_chunk(chunk)
    }

    fn restore_finish(&mut self) -> Result<(), String> {
        let bytes = self.snapshots.finish_restore();
        if !bytes.len().is_multiple_of(16) {
            return Err(format!("{} bytes is not a list of pairs", bytes.len()));
        }
        let mut data = BTreeMap::new();
        for pair in bytes.chunks_exact(16) {
            let mut key = [0; 8];
            let mut value = [0; 8];
            key.copy_from_slice(&pair[..8]);
            value.copy_from_slice(&pair[8..]);
            data.insert(u64::from_le_bytes(key), u64::from_le_bytes(value));
        }
        self.data = data;
        Ok(())
    }
}

pub(crate) type Node = RaftNode<Kv>;
pub(crate) type Resp = Response<KvOutput, Option<u64>>;
pub(crate) type Msg = Message<KvCommand>;

/// Test timing: elections after 100–200 ms, heartbeats every 20 ms.
pub(crate) fn config() -> RaftConfig {
    RaftConfig {
        election_timeout_min: Duration::from_millis(100),
        election_timeout_max: Duration::from_millis(200),
        heartbeat_interval: Duration::from_millis(20),
        max_clock_offset: Duration::from_millis(20),
        ..RaftConfig::default()
    }
}

/// A message in flight.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub(crate) from: NodeId,
    pub(crate) to: NodeId,
    pub(crate) message: Msg,
}

/// Changes a message on delivery, or returns false to drop it.
pub(crate) type MessageFilter = Box<dyn FnMut(&mut Envelope) -> bool>;

/// The test network and nodes.
pub(crate) struct Net {
    pub(crate) config: RaftConfig,
    pub(crate) nodes: BTreeMap<NodeId, Option<Node>>,
    pub(crate) disks: BTreeMap<NodeId, RaftDisk<KvCommand>>,
    /// Writes asked for and not yet durable, per node.
    pub(crate) pending_writes: BTreeMap<NodeId, VecDeque<(PersistId, RaftWrite<KvCommand>)>>,
    pub(crate) queue: VecDeque<Envelope>,
    pub(crate) cut: BTreeSet<(NodeId, NodeId)>,
    pub(crate) now: Instant,
    pub(crate) replies: Vec<(NodeId, RequestId, Resp)>,
    /// Every action each node emitted, in order (for exact-sequence tests).
    pub(crate) trace: Vec<(NodeId, String)>,
    pub(crate) auto_persist: bool,
    /// Applied to every message as it is delivered: it may change it, or
    /// return false to drop it.
    pub(crate) filter: Option<MessageFilter>,
    /// Every Raft invariant, checked after every input.
    invariants: RaftInvariants<Kv>,
    /// Violations seen; a test that expects none panics at the first.
    pub(crate) violations: Vec<Violation>,
    pub(crate) panic_on_violation: bool,
    incarnations: BTreeMap<NodeId, u64>,
    /// The voters the cluster was bootstrapped with.
    bootstrap: Vec<NodeId>,
    next_request: u64,
    seeds: u64,
}

impl Net {
    /// A new cluster of `ids`, all voters, with the test configuration.
    pub(crate) fn new(ids: &[NodeId]) -> Self {
        Self::with_config(ids, config())
    }

    pub(crate) fn with_config(ids: &[NodeId], config: RaftConfig) -> Self {
        let mut net = Net {
            config,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            pending_writes: BTreeMap::new(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            now: Instant::from_secs(1),
            replies: Vec::new(),
            trace: Vec::new(),
            auto_persist: true,
            filter: None,
            invariants: RaftInvariants::new(),
            violations: Vec::new(),
            panic_on_violation: true,
            incarnations: BTreeMap::new(),
            bootstrap: ids.to_vec(),
            next_request: 1,
            seeds: 0,
        };
        for id in ids {
            net.boot(*id, ids.to_vec());
        }
        net
    }

    fn boot(&mut self, id: NodeId, voters: Vec<NodeId>) {
        self.seeds += 1;
        let startup = Startup::bootstrap(id, id * 1_000 + self.seeds, self.now, voters);
        let node =
            RaftNode::start(startup, self.config.clone(), Kv::default()).expect("valid node");
        self.nodes.insert(id, Some(node));
        self.disks.entry(id).or_default();
        self.pending_writes.entry(id).or_default();
    }

    /// A cluster whose nodes start from crafted disks: for each node, the
    /// terms of its log entries and its current term. Entries at the same
    /// index and term carry the same command, as Log Matching requires.
    pub(crate) fn from_logs(config: RaftConfig, logs: &[(NodeId, &[u64], u64)]) -> Self {
        let ids: Vec<NodeId> = logs.iter().map(|(id, _, _)| *id).collect();
        let mut net = Net::with_config(&[], config);
        let membership = tessera_raft::Membership::new(ids.clone()).expect("valid voters");
        for (id, terms, term) in logs {
            let mut disk = RaftDisk::new();
            let entries: Vec<_> = terms
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let index = i as u64 + 1;
                    tessera_raft::Entry::command(index, *t, KvCommand::Put(index, *t))
                })
                .collect();
            disk.write(RaftWrite::Log(tessera_storage::LogWrite::Append(entries)))
                .expect("contiguous");
            disk.write(RaftWrite::Log(tessera_storage::LogWrite::HardState(
                tessera_raft::HardState {
                    term: *term,
                    vote: None,
                    commit: 0,
                    configuration: membership.to_bytes(),
                },
            )))
            .expect("hard state");
            net.disks.insert(*id, disk);
            net.pending_writes.entry(*id).or_default();
            net.restart(*id);
        }
        net
    }

    /// Adds a node that has not joined (empty configuration).
    pub(crate) fn add_joiner(&mut self, id: NodeId) {
        self.boot(id, Vec::new());
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        self.nodes
            .get(&id)
            .and_then(|n| n.as_ref())
            .expect("node exists and is running")
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes
            .get_mut(&id)
            .and_then(|n| n.as_mut())
            .expect("node exists and is running")
    }

    pub(crate) fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    pub(crate) fn running(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Hands `input` to node `id` and performs what it asks.
    pub(crate) fn input(&mut self, id: NodeId, input: Input<Msg, Request<KvCommand, u64>>) {
        let now = self.now;
        let Some(Some(node)) = self.nodes.get_mut(&id) else {
            return;
        };
        let mut actions = Vec::new();
        node.handle(now, input, &mut actions);
        self.perform(id, actions);
        self.check_invariants();
    }

    /// Checks every Raft invariant against the cluster as it is now.
    pub(crate) fn check_invariants(&mut self) {
        let nodes = self
            .nodes
            .iter()
            .map(|(id, node)| NodeState {
                id: *id,
                node: node.as_ref(),
                disk: self.disks.get(id).expect("every node has a disk"),
                incarnation: self.incarnations.get(id).copied().unwrap_or(0),
            })
            .collect();
        let state = ClusterState {
            at: self.now,
            nodes,
        };
        for violation in self.invariants.check_all(&state) {
            if self.panic_on_violation {
                panic!("{violation}");
            }
            self.violations.push(violation);
        }
    }

    fn perform(&mut self, id: NodeId, actions: Vec<tessera_raft::RaftAction<Kv>>) {
        let mut persisted = None;
        for action in actions {
            self.trace.push((id, describe(&action)));
            match action {
                Action::Send { to, message } => self.queue.push_back(Envelope {
                    from: id,
                    to,
                    message,
                }),
                Action::Persist {
                    id: write_id,
                    write,
                } => {
                    self.pending_writes
                        .entry(id)
                        .or_default()
                        .push_back((write_id, write));
                    persisted = Some(write_id);
                }
                Action::Reply {
                    id: request,
                    response,
                } => self.replies.push((id, request, response)),
                Action::ModeChanged(_) => {}
            }
        }
        if self.auto_persist && persisted.is_some() {
            self.flush(id);
        }
    }

    /// Makes every pending write of `id` durable and tells it.
    pub(crate) fn flush(&mut self, id: NodeId) {
        let writes: Vec<_> = self
            .pending_writes
            .get_mut(&id)
            .map(|w| w.drain(..).collect())
            .unwrap_or_default();
        let Some(last) = writes.last().map(|(w, _)| *w) else {
            return;
        };
        let disk = self.disks.entry(id).or_default();
        for (_, write) in writes {
            disk.write(write).expect("the node's writes fit its disk");
        }
        self.input(id, Input::Persisted { up_to: last });
    }

    /// Delivers one message; returns false if none was queued.
    pub(crate) fn deliver_one(&mut self) -> bool {
        let Some(mut envelope) = self.queue.pop_front() else {
            return false;
        };
        if self.cut.contains(&(envelope.from, envelope.to)) {
            return true;
        }
        if let Some(filter) = &mut self.filter
            && !filter(&mut envelope)
        {
            return true;
        }
        self.input(
            envelope.to,
            Input::Message {
                from: envelope.from,
                message: envelope.message,
            },
        );
        true
    }

    /// Delivers messages until none is left (bounded).
    pub(crate) fn settle(&mut self) {
        for _ in 0..200_000 {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("the network did not settle");
    }

    /// Moves the clock.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
    }

    /// Ticks every running node whose deadline passed, then settles.
    pub(crate) fn tick_all(&mut self) {
        for id in self.running() {
            if self.node(id).next_deadline().is_some_and(|d| d <= self.now) {
                self.input(id, Input::Tick);
            }
        }
        self.settle();
    }

    /// Lets `duration` pass in steps of `step`, ticking and settling.
    pub(crate) fn run_for(&mut self, duration: Duration, step: Duration) {
        let until = self.now + duration;
        while self.now < until {
            self.advance(step);
            self.tick_all();
        }
    }

    /// Makes `id`'s election timer fire now (moving the clock to it), and
    /// settles.
    pub(crate) fn fire_election(&mut self, id: NodeId) {
        let deadline = self.node(id).next_deadline().expect("a deadline");
        self.now = self.now.max(deadline);
        self.input(id, Input::Tick);
        self.settle();
    }

    /// Fires `id`'s election timer and delivers messages only until it
    /// leads: what it sends as a new leader stays queued.
    pub(crate) fn fire_election_without_delivery(&mut self, id: NodeId) {
        let deadline = self.node(id).next_deadline().expect("a deadline");
        self.now = self.now.max(deadline);
        self.input(id, Input::Tick);
        while !self.node(id).is_leader() && self.deliver_one() {}
        assert!(self.node(id).is_leader(), "node {id} should lead");
    }

    /// From now on, appends arrive without their entries of `term`.
    pub(crate) fn strip_entries_of_term(&mut self, term: u64) {
        self.filter = Some(Box::new(move |envelope: &mut Envelope| {
            if let Message::Append(append) = &mut envelope.message {
                append.entries.retain(|e| e.term != term);
            }
            true
        }));
    }

    /// Fires `id`'s election timer, again and again if it loses to higher
    /// terms, until it leads (at most five tries).
    pub(crate) fn elect_eventually(&mut self, id: NodeId) {
        for _ in 0..5 {
            self.advance(self.config.election_timeout_max);
            self.fire_election(id);
            if self.node(id).is_leader() {
                return;
            }
        }
        panic!("node {id} never won: {:?}", self.node(id));
    }

    /// Elects `id`: fires its timer once past everyone's stickiness.
    pub(crate) fn elect(&mut self, id: NodeId) {
        self.advance(self.config.election_timeout_min);
        self.fire_election(id);
        assert!(
            self.node(id).is_leader(),
            "node {id} should lead: {:?}",
            self.node(id)
        );
    }

    /// Sends a heartbeat round from the leader (its heartbeat timer fires).
    pub(crate) fn heartbeat(&mut self, leader: NodeId) {
        self.advance(self.config.heartbeat_interval);
        self.input(leader, Input::Tick);
        self.settle();
    }

    pub(crate) fn request(&mut self, id: NodeId, request: Request<KvCommand, u64>) -> RequestId {
        let request_id = RequestId(self.next_request);
        self.next_request += 1;
        self.input(
            id,
            Input::Request {
                id: request_id,
                request,
            },
        );
        request_id
    }

    pub(crate) fn propose(&mut self, id: NodeId, command: KvCommand) -> RequestId {
        self.request(id, Request::Propose(command))
    }

    pub(crate) fn put(&mut self, id: NodeId, key: u64, value: u64) -> RequestId {
        let request = self.propose(id, KvCommand::Put(key, value));
        self.settle();
        request
    }

    pub(crate) fn read(&mut self, id: NodeId, key: u64, policy: ReadPolicy) -> RequestId {
        self.request(id, Request::Read { query: key, policy })
    }

    /// The reply to `request`, if any.
    pub(crate) fn reply(&self, request: RequestId) -> Option<&Resp> {
        self.replies
            .iter()
            .find(|(_, id, _)| *id == request)
            .map(|(_, _, r)| r)
    }

    pub(crate) fn isolate(&mut self, id: NodeId) {
        for other in self.ids() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    /// Cuts every link between the two groups.
    pub(crate) fn partition(&mut self, a: &[NodeId], b: &[NodeId]) {
        for x in a {
            for y in b {
                self.cut.insert((*x, *y));
                self.cut.insert((*y, *x));
            }
        }
    }

    pub(crate) fn heal(&mut self) {
        self.cut.clear();
    }

    /// Drops every queued message.
    pub(crate) fn drop_queue(&mut self) {
        self.queue.clear();
    }

    /// Crashes `id`: its volatile state and its writes not yet durable are
    /// lost.
    pub(crate) fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        *self.incarnations.entry(id).or_default() += 1;
        if let Some(pending) = self.pending_writes.get_mut(&id) {
            pending.clear();
        }
        self.queue.retain(|e| e.to != id);
    }

    /// Restarts `id` from its disk.
    pub(crate) fn restart(&mut self, id: NodeId) {
        let disk = self.disks.get(&id).cloned().unwrap_or_default();
        let mut sm = Kv::default();
        disk.restore_state_machine(&mut sm, 1 << 16)
            .expect("the snapshot on disk restores");
        self.seeds += 1;
        let recovered = disk.recovered();
        // A bootstrap member that lost even its first write starts over as
        // one (as the simulator's boot does).
        let initial_voters = if recovered.is_empty() && self.bootstrap.contains(&id) {
            self.bootstrap.clone()
        } else {
            Vec::new()
        };
        let startup = Startup {
            id,
            seed: id * 1_000 + self.seeds,
            now: self.now,
            initial_voters,
            recovered,
        };
        let node = RaftNode::start(startup, self.config.clone(), sm).expect("recovery succeeds");
        self.nodes.insert(id, Some(node));
    }

    /// The ids of the leaders.
    pub(crate) fn leaders(&self) -> Vec<NodeId> {
        self.running()
            .into_iter()
            .filter(|id| self.node(*id).is_leader())
            .collect()
    }

    /// The terms of the log of `id`, from its first held index.
    pub(crate) fn log_terms(&self, id: NodeId) -> Vec<u64> {
        self.node(id).log().iter().map(|e| e.term).collect()
    }
}

/// A short description of an action, for exact-sequence assertions.
pub(crate) fn describe(action: &tessera_raft::RaftAction<Kv>) -> String {
    match action {
        Action::Send { to, message } => format!("send {} to {to}", message_kind(message)),
        Action::Persist { write, .. } => match write {
            RaftWrite::Log(tessera_storage::LogWrite::Append(e)) => {
                format!("persist append {}", e.len())
            }
            RaftWrite::Log(tessera_storage::LogWrite::HardState(h)) => {
                format!("persist hard state term {} vote {:?}", h.term, h.vote)
            }
            RaftWrite::Log(tessera_storage::LogWrite::TruncateFrom(i)) => {
                format!("persist truncate {i}")
            }
            RaftWrite::Log(tessera_storage::LogWrite::PurgeTo(p)) => {
                format!("persist purge {}", p.index)
            }
            RaftWrite::SnapshotBegin { .. } => "persist snapshot begin".to_string(),
            RaftWrite::SnapshotChunk { .. } => "persist snapshot chunk".to_string(),
            RaftWrite::SnapshotCommit { .. } => "persist snapshot commit".to_string(),
        },
        Action::Reply { .. } => "reply".to_string(),
        Action::ModeChanged(t) => format!("mode {:?}", t.to),
    }
}

pub(crate) fn message_kind(message: &Msg) -> String {
    match message {
        Message::VoteRequest(r) if r.pre_vote => "pre-vote request".into(),
        Message::VoteRequest(_) => "vote request".into(),
        Message::VoteResponse(r) => format!(
            "{}vote {}",
            if r.pre_vote { "pre-" } else { "" },
            if r.granted { "granted" } else { "refused" }
        ),
        Message::Append(_) => "append".into(),
        Message::AppendResponse(_) => "append response".into(),
        Message::Heartbeat(_) => "heartbeat".into(),
        Message::HeartbeatResponse(_) => "heartbeat response".into(),
        Message::Snapshot(_) => "snapshot chunk".into(),
        Message::SnapshotResponse(_) => "snapshot response".into(),
        Message::TimeoutNow { .. } => "timeout now".into(),
        Message::Forward { .. } => "forward".into(),
        Message::ForwardResponse { .. } => "forward response".into(),
    }
}

//! The node task: one protocol node on tokio.
//!
//! It owns the node and hands it one input at a time — a peer's message, a
//! client request, a timer tick at the node's deadline, the completion of
//! its writes — then performs the actions the node returns: messages go to
//! the peers' bounded queues (never waiting), writes go to the disk thread
//! in order, replies go back to the waiting clients, mode changes are
//! logged, counted and published.
//!
//! The durability rule is the node's to keep (it holds back whatever
//! depends on a write until it hears `Persisted`); the runtime's part is
//! never to report a write durable before the `fdatasync` covering it
//! returned, and to report them in order.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{
    Action, Input, InputOf, Mode, ModeTransition, NodeId, PersistId, Protocol, RequestId,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use crate::durable_store::{DiskProgress, WriteBatch, spawn_disk_thread};
use crate::observability::NodeMetrics;
use crate::peer_queue::{PeerQueue, Pushed};
use crate::{
    ClientOutcome, DurableStore, Lane, ModeOf, NetError, NodeHandle, NodeStatus, ProtocolAdapter,
    RequestOf, ResponseOf, RuntimeClock, WriteOf,
};

/// Messages from one peer, in the order it sent them.
#[derive(Debug)]
pub(crate) struct Inbound<M> {
    pub(crate) from: NodeId,
    pub(crate) messages: Vec<M>,
}

/// A peer's two lanes' queues.
pub(crate) type PeerLanes<M> = [Arc<PeerQueue<M>>; 2];

/// A look at the node, run inside its task.
pub(crate) type Inspection<N> = Box<dyn FnOnce(&N) + Send>;

/// Something asked of the node task.
pub(crate) enum Command<A: ProtocolAdapter> {
    /// A client request.
    Request {
        request: RequestOf<A>,
        reply: oneshot::Sender<Result<ResponseOf<A>, NetError>>,
    },
    /// A read served from the node's own state.
    StaleRead {
        query: Vec<u8>,
        max_staleness: Duration,
        reply: oneshot::Sender<Result<ClientOutcome, NetError>>,
    },
    /// Look at the node.
    Inspect(Inspection<A::Node>),
    /// A new peer to send to.
    AddPeer {
        id: NodeId,
        lanes: PeerLanes<A::Message>,
    },
}

/// How a runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The node's clock.
    pub clock: RuntimeClock,
    /// At most this many client requests wait for answers; more are refused
    /// as overloaded.
    pub requests_pending_max: usize,
    /// At most this many batches of peers' messages wait for the node.
    pub inbound_batches_max: usize,
    /// How often per-follower metrics are refreshed.
    pub metrics_interval: Duration,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            clock: RuntimeClock::new(),
            requests_pending_max: 16_384,
            inbound_batches_max: 1_024,
            metrics_interval: Duration::from_secs(1),
        }
    }
}

/// At most this many inputs of one kind are handled before the task looks
/// at its other sources again (fairness between peers, clients and timers).
const INPUTS_PER_ROUND_MAX: usize = 64;

/// Why the node task ended.
#[derive(Debug, Clone)]
pub(crate) enum RuntimeExit {
    /// Asked to stop.
    Shutdown,
    /// A write failed.
    StorageFailed(Arc<str>),
}

/// What starting a runtime gives back.
pub(crate) struct StartedRuntime<A: ProtocolAdapter> {
    pub(crate) handle: NodeHandle<A>,
    pub(crate) inbound: mpsc::Sender<Inbound<A::Message>>,
    pub(crate) task: tokio::task::JoinHandle<RuntimeExit>,
    pub(crate) disk_exited: oneshot::Receiver<()>,
    pub(crate) shutdown: watch::Sender<bool>,
}

struct Pending<A: ProtocolAdapter> {
    reply: oneshot::Sender<Result<ResponseOf<A>, NetError>>,
    started: tokio::time::Instant,
}

struct Runtime<A: ProtocolAdapter> {
    id: NodeId,
    adapter: Arc<A>,
    node: A::Node,
    clock: RuntimeClock,
    peers: BTreeMap<NodeId, PeerLanes<A::Message>>,
    pending: BTreeMap<RequestId, Pending<A>>,
    requests_pending_max: usize,
    next_request: u64,
    actions: Vec<tessera_core::ActionOf<A::Node>>,
    writes: WriteBatch<WriteOf<A>>,
    disk: mpsc::Sender<WriteBatch<WriteOf<A>>>,
    progress: watch::Receiver<DiskProgress>,
    reported_durable: PersistId,
    status: NodeStatus,
    status_sender: watch::Sender<NodeStatus>,
    modes: watch::Sender<Option<ModeTransition<ModeOf<A>>>>,
    /// When the node last heard from its leader (or last led in a Target
    /// mode): what bounds a stale read's staleness.
    leader_contact: Option<tokio::time::Instant>,
    /// Messages the node addressed to itself, handed back to it as inputs
    /// from itself before anything else (Multi-Paxos's candidate sends its
    /// own `Prepare` to itself, and its acceptor promises it that way).
    loopback: VecDeque<A::Message>,
    metrics: NodeMetrics,
}

/// Starts the task driving `node`, with its disk thread over `store` and
/// the peers' queues in `peers`.
///
/// # Errors
///
/// [`NetError::Startup`] if the disk thread cannot be spawned.
pub(crate) fn spawn_runtime<A, D>(
    adapter: Arc<A>,
    node: A::Node,
    store: D,
    peers: BTreeMap<NodeId, PeerLanes<A::Message>>,
    options: RuntimeOptions,
) -> Result<StartedRuntime<A>, NetError>
where
    A: ProtocolAdapter,
    D: DurableStore<WriteOf<A>>,
{
    let id = node.id();
    let disk = spawn_disk_thread(id, store).map_err(|error| NetError::Startup {
        reason: format!("cannot spawn the disk thread: {error}"),
    })?;
    let status = adapter.status(&node);
    let (status_sender, status_receiver) = watch::channel(status.clone());
    let (modes, modes_receiver) = watch::channel(None);
    let (inbound_sender, inbound) = mpsc::channel(options.inbound_batches_max.max(1));
    let (commands_sender, commands) = mpsc::channel(options.requests_pending_max.max(1));
    let (shutdown, shutdown_receiver) = watch::channel(false);
    let (exit_sender, exit_receiver) = watch::channel(None);
    let mut metrics = NodeMetrics::new(id);
    metrics.status(&status);
    let runtime = Runtime {
        id,
        adapter: Arc::clone(&adapter),
        node,
        clock: options.clock,
        peers,
        pending: BTreeMap::new(),
        requests_pending_max: options.requests_pending_max.max(1),
        next_request: 0,
        actions: Vec::new(),
        writes: Vec::new(),
        disk: disk.writes,
        progress: disk.progress,
        reported_durable: PersistId(0),
        status,
        status_sender,
        modes,
        leader_contact: None,
        loopback: VecDeque::new(),
        metrics,
    };
    let span = tracing::info_span!("node", id);
    let metrics_interval = options.metrics_interval;
    let task = tokio::spawn(
        async move {
            let exit = runtime
                .run(inbound, commands, shutdown_receiver, metrics_interval)
                .await;
            let _ = exit_sender.send(Some(exit.clone()));
            exit
        }
        .instrument(span),
    );
    let handle = NodeHandle::new(
        id,
        adapter,
        commands_sender,
        status_receiver,
        modes_receiver,
        exit_receiver,
        &options,
    );
    Ok(StartedRuntime {
        handle,
        inbound: inbound_sender,
        task,
        disk_exited: disk.exited,
        shutdown,
    })
}

impl<A: ProtocolAdapter> Runtime<A> {
    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound<A::Message>>,
        mut commands: mpsc::Receiver<Command<A>>,
        mut shutdown: watch::Receiver<bool>,
        metrics_interval: Duration,
    ) -> RuntimeExit {
        tracing::info!(status = ?self.status, "node started");
        let timer = tokio::time::sleep_until(self.timer_deadline());
        tokio::pin!(timer);
        let mut metrics_tick =
            tokio::time::interval(metrics_interval.max(Duration::from_millis(1)));
        metrics_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            timer.as_mut().reset(self.timer_deadline());
            tokio::select! {
                _ = shutdown.changed() => {
                    tracing::info!("node stopping");
                    return RuntimeExit::Shutdown;
                }
                changed = self.progress.changed() => {
                    if changed.is_err() {
                        return RuntimeExit::StorageFailed("the disk thread exited".into());
                    }
                    if let Err(reason) = self.on_progress() {
                        return RuntimeExit::StorageFailed(reason);
                    }
                }
                Some(batch) = inbound.recv() => {
                    self.on_inbound(batch);
                    for _ in 1..INPUTS_PER_ROUND_MAX {
                        match inbound.try_recv() {
                            Ok(batch) => self.on_inbound(batch),
                            Err(_) => break,
                        }
                    }
                }
                Some(command) = commands.recv() => {
                    self.on_command(command);
                    for _ in 1..INPUTS_PER_ROUND_MAX {
                        match commands.try_recv() {
                            Ok(command) => self.on_command(command),
                            Err(_) => break,
                        }
                    }
                }
                () = &mut timer => self.handle(Input::Tick),
                _ = metrics_tick.tick() => {
                    let followers = self.adapter.followers(&self.node);
                    self.metrics.followers(&followers);
                }
            }
            if !self.writes.is_empty() {
                self.metrics.writes.increment(self.writes.len() as u64);
                self.metrics.write_batches.increment(1);
                let writes = std::mem::take(&mut self.writes);
                if self.disk.send(writes).await.is_err() {
                    return RuntimeExit::StorageFailed("the disk thread exited".into());
                }
            }
            self.publish_status();
        }
    }

    fn timer_deadline(&self) -> tokio::time::Instant {
        match self.node.next_deadline() {
            Some(deadline) => self.clock.deadline(deadline),
            None => tokio::time::Instant::now() + Duration::from_secs(3600),
        }
    }

    /// Hands `input` to the node and performs what it asks, then the
    /// messages it addressed to itself, until none is left.
    fn handle(&mut self, input: InputOf<A::Node>) {
        let mut next = Some(input);
        while let Some(input) = next {
            let now = self.clock.now();
            let mut actions = std::mem::take(&mut self.actions);
            self.node.handle(now, input, &mut actions);
            for action in actions.drain(..) {
                self.perform(action);
            }
            self.actions = actions;
            next = self.loopback.pop_front().map(|message| Input::Message {
                from: self.id,
                message,
            });
        }
    }

    fn perform(&mut self, action: tessera_core::ActionOf<A::Node>) {
        match action {
            Action::Send { to, message } if to == self.id => self.loopback.push_back(message),
            Action::Send { to, message } => {
                let lane = self.adapter.lane(&message);
                let Some(lanes) = self.peers.get(&to) else {
                    tracing::debug!(
                        to,
                        kind = self.adapter.kind(&message),
                        "no route to node: dropped"
                    );
                    self.metrics.dropped(to, lane.name(), "unknown_peer", 1);
                    return;
                };
                let bytes = self.adapter.size_hint(&message);
                if let Pushed::DroppedOldest(dropped) = lanes[lane.index()].push(message, bytes) {
                    self.metrics
                        .dropped(to, lane.name(), "queue_full", dropped as u64);
                }
            }
            Action::Persist { id, write } => self.writes.push((id, write)),
            Action::Reply { id, response } => {
                let Some(pending) = self.pending.remove(&id) else {
                    return;
                };
                if self.adapter.is_commit(&response) {
                    self.metrics.commit_latency(pending.started.elapsed());
                }
                let _ = pending.reply.send(Ok(response));
            }
            Action::ModeChanged(transition) => {
                tracing::info!(
                    from = transition.from.name(),
                    to = transition.to.name(),
                    trigger = %transition.trigger,
                    "mode changed"
                );
                self.modes.send_replace(Some(transition));
            }
        }
    }

    fn on_progress(&mut self) -> Result<(), Arc<str>> {
        let progress = self.progress.borrow_and_update().clone();
        if let Some(reason) = progress.failure {
            return Err(reason);
        }
        if progress.durable > self.reported_durable {
            self.reported_durable = progress.durable;
            self.handle(Input::Persisted {
                up_to: progress.durable,
            });
        }
        Ok(())
    }

    fn on_inbound(&mut self, batch: Inbound<A::Message>) {
        let from = batch.from;
        if self.status.leader == Some(from) {
            self.leader_contact = Some(tokio::time::Instant::now());
        }
        self.metrics
            .messages_received
            .increment(batch.messages.len() as u64);
        for message in batch.messages {
            self.handle(Input::Message { from, message });
        }
    }

    fn on_command(&mut self, command: Command<A>) {
        match command {
            Command::Request { request, reply } => {
                if self.pending.len() >= self.requests_pending_max {
                    // Requests whose clients gave up still wait for the
                    // node's answer; forget them first.
                    self.pending.retain(|_, pending| !pending.reply.is_closed());
                }
                if self.pending.len() >= self.requests_pending_max {
                    let _ = reply.send(Err(NetError::Overloaded {
                        queue: "requests_pending",
                        limit: self.requests_pending_max,
                    }));
                    return;
                }
                self.next_request += 1;
                let id = RequestId(self.next_request);
                self.pending.insert(
                    id,
                    Pending {
                        reply,
                        started: tokio::time::Instant::now(),
                    },
                );
                self.handle(Input::Request { id, request });
            }
            Command::StaleRead {
                query,
                max_staleness,
                reply,
            } => {
                let _ = reply.send(Ok(self.stale_read(&query, max_staleness)));
            }
            Command::Inspect(look) => look(&self.node),
            Command::AddPeer { id, lanes } => {
                tracing::info!(peer = id, "route to a new peer");
                self.peers.insert(id, lanes);
            }
        }
    }

    fn stale_read(&mut self, query: &[u8], max_staleness: Duration) -> ClientOutcome {
        let now = tokio::time::Instant::now();
        if self.status.is_leader() && self.status.mode_is_target {
            self.leader_contact = Some(now);
        }
        let Some(contact) = self.leader_contact else {
            return ClientOutcome::Refused {
                reason: "this node has not heard from a leader".into(),
            };
        };
        let staleness = now.saturating_duration_since(contact);
        if staleness > max_staleness {
            return ClientOutcome::Refused {
                reason: format!(
                    "this node last heard from its leader {} ms ago, more than the {} ms allowed",
                    staleness.as_millis(),
                    max_staleness.as_millis()
                ),
            };
        }
        match self.adapter.stale_read(&self.node, query) {
            Ok((index, output)) => ClientOutcome::Read {
                index,
                output,
                path: "stale",
                staleness,
            },
            Err(invalid) => ClientOutcome::Refused {
                reason: invalid.to_string(),
            },
        }
    }

    fn publish_status(&mut self) {
        let status = self.adapter.status(&self.node);
        if status == self.status {
            return;
        }
        if status.term != self.status.term {
            tracing::info!(term = status.term, "new term");
        }
        if status.leader != self.status.leader {
            tracing::info!(term = status.term, leader = ?status.leader, "leader changed");
            if status.leader.is_some() && !status.is_leader() {
                self.leader_contact = Some(tokio::time::Instant::now());
            }
        }
        if status.is_leader() && status.mode_is_target {
            self.leader_contact = Some(tokio::time::Instant::now());
        }
        self.metrics.status(&status);
        self.status = status.clone();
        self.status_sender.send_replace(status);
    }
}

impl<A: ProtocolAdapter> Drop for Runtime<A> {
    fn drop(&mut self) {
        // Waiting clients learn the node is gone (rather than hanging).
        for (_, pending) in std::mem::take(&mut self.pending) {
            let _ = pending.reply.send(Err(NetError::Stopped { node: self.id }));
        }
    }
}

/// Creates the queues of a peer's two lanes.
pub(crate) fn peer_lanes<M>(messages_max: usize, bytes_max: usize) -> PeerLanes<M> {
    Lane::ALL.map(|_| Arc::new(PeerQueue::new(messages_max, bytes_max)))
}

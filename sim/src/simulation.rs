//! The deterministic discrete-event simulation.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurableState, Input, InputOf, Instant, Invariant, InvariantSet,
    ModeTransition, NodeId, PersistId, Protocol, RequestId, SeededRng, Violation, duration_nanos,
};

use crate::checker::{CheckReport, LinearizabilityChecker, Model};
use crate::client::{Client, ClientState};
use crate::clock::NodeClock;
use crate::cluster::{Boot, Cluster, NodeSlot};
use crate::nemesis::Nemesis;
use crate::network::NetworkState;
use crate::queue::EventQueue;
use crate::{
    Fault, History, NoClients, Reply, SimConfig, SimError, SimFailure, SimStats, Workload,
};

/// Timers fire no sooner than this after they are armed, so a node that
/// keeps asking for a tick in the past still lets virtual time advance.
pub const TIMER_RESOLUTION: Duration = Duration::from_micros(1);

/// How many mode changes and faults the simulation keeps for its report.
pub const LOG_MAX: usize = 100_000;

/// A node changed mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange<M> {
    /// The node.
    pub node: NodeId,
    /// Virtual time of the change.
    pub at: Instant,
    /// The change, as the node reported it (its `at` is the node's clock).
    pub transition: ModeTransition<M>,
}

/// A fault was applied.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRecord {
    /// Virtual time it was applied.
    pub at: Instant,
    /// The fault.
    pub fault: Fault,
}

enum Route {
    Client { client: usize, attempt: u64 },
    Direct,
}

enum Event<P: Protocol> {
    Deliver {
        from: NodeId,
        from_index: usize,
        to: usize,
        message: P::Message,
    },
    Timer {
        node: usize,
        generation: u64,
    },
    DiskSync {
        node: usize,
        incarnation: u64,
        up_to: PersistId,
    },
    Request {
        node: usize,
        id: RequestId,
        request: P::Request,
    },
    Response {
        id: RequestId,
        response: P::Response,
    },
    ClientWake {
        client: usize,
    },
    ClientTimeout {
        client: usize,
        attempt: u64,
    },
    Fault(Fault),
    NemesisTick,
}

type BootFn<P, D> = Box<dyn FnMut(Boot<'_, D>) -> P>;

/// A deterministic simulation of a cluster of protocol nodes `P`, each with
/// durable state `D`, under clients running workload `W`.
///
/// Everything random — latencies, losses, the nemesis, client choices, node
/// seeds — derives from the configured seed, and events at equal times run
/// in the order they were scheduled, so the same seed gives the same run.
/// Every registered invariant is checked after every step.
///
/// See the crate documentation for a complete example.
pub struct Simulation<P: Protocol, D: DurableState<P::Write>, W: Workload<P> = NoClients> {
    config: SimConfig,
    network_rng: SeededRng,
    client_rng: SeededRng,
    nemesis_rng: SeededRng,
    boot_rng: SeededRng,
    now: u64,
    queue: EventQueue<Event<P>>,
    cluster: Cluster<P, D>,
    members: Vec<NodeId>,
    boot: BootFn<P, D>,
    invariants: InvariantSet<Cluster<P, D>>,
    network: NetworkState,
    nemesis: Option<Nemesis>,
    nemesis_active: bool,
    workload: W,
    clients: Vec<Client<W::Op>>,
    clients_stopped: bool,
    next_process: u64,
    history: History<W::Op, W::Ret>,
    routes: BTreeMap<RequestId, Route>,
    next_request: u64,
    next_attempt: u64,
    direct_responses: Vec<(RequestId, P::Response)>,
    stats: SimStats,
    fault_log: VecDeque<FaultRecord>,
    mode_log: VecDeque<ModeChange<P::Mode>>,
    scratch: Vec<ActionOf<P>>,
}

impl<P, D, W> Simulation<P, D, W>
where
    P: Protocol,
    D: DurableState<P::Write>,
    W: Workload<P>,
{
    /// A simulation of `config.nodes`, each started by `boot` from an empty
    /// durable state, with `config.clients.clients` clients running
    /// `workload`.
    ///
    /// # Errors
    ///
    /// [`SimError`] if the configuration is invalid.
    pub fn new(
        config: SimConfig,
        workload: W,
        boot: impl FnMut(Boot<'_, D>) -> P + 'static,
    ) -> Result<Self, SimError> {
        config.validate()?;
        let mut root = SeededRng::new(config.seed);
        let network_rng = root.fork();
        let client_rng = root.fork();
        let nemesis_rng = root.fork();
        let boot_rng = root.fork();
        let clients = config.clients.clients;
        let mut sim = Simulation {
            network_rng,
            client_rng,
            nemesis_rng,
            boot_rng,
            now: 0,
            queue: EventQueue::new(),
            cluster: Cluster {
                slots: Vec::new(),
                index: BTreeMap::new(),
                now: 0,
            },
            members: Vec::new(),
            boot: Box::new(boot),
            invariants: InvariantSet::new(),
            network: NetworkState::new(
                0,
                config.network.loss_probability,
                config.network.duplicate_probability,
            ),
            nemesis: config.nemesis.clone().map(Nemesis::new),
            nemesis_active: config.nemesis.is_some(),
            workload,
            clients: (0..clients)
                .map(|i| Client {
                    process: i as u64,
                    state: ClientState::Idle,
                })
                .collect(),
            clients_stopped: false,
            next_process: clients as u64,
            history: History::new(),
            routes: BTreeMap::new(),
            next_request: 1,
            next_attempt: 1,
            direct_responses: Vec::new(),
            stats: SimStats::default(),
            fault_log: VecDeque::new(),
            mode_log: VecDeque::new(),
            scratch: Vec::new(),
            config,
        };
        // Every initial node knows every other from its first boot.
        for id in sim.config.nodes.clone() {
            sim.insert_slot(id)?;
        }
        for index in 0..sim.cluster.slots.len() {
            sim.boot_node(index);
        }
        for client in 0..clients {
            sim.schedule_client_wake(client);
        }
        if let Some(nemesis) = &sim.nemesis {
            let first = nemesis.config.interval.sample(&mut sim.nemesis_rng);
            sim.queue
                .push(duration_nanos(first).max(1), Event::NemesisTick);
        }
        Ok(sim)
    }

    /// Registers an invariant, checked after every step from now on.
    pub fn add_invariant(
        &mut self,
        invariant: impl Invariant<Cluster<P, D>> + 'static,
    ) -> &mut Self {
        self.invariants.add(invariant);
        self
    }

    /// Adds and boots a node with an empty durable state. Existing nodes
    /// learn of it only through the protocol (a membership change); the
    /// network can reach it at once.
    ///
    /// # Errors
    ///
    /// [`SimError::DuplicateNode`] if the id is taken.
    pub fn add_node(&mut self, id: NodeId) -> Result<(), SimError> {
        let index = self.insert_slot(id)?;
        self.boot_node(index);
        Ok(())
    }

    fn insert_slot(&mut self, id: NodeId) -> Result<usize, SimError> {
        if self.cluster.index.contains_key(&id) {
            return Err(SimError::DuplicateNode(id));
        }
        let clocks = &self.config.clocks;
        let offset_range = duration_nanos(clocks.max_offset);
        let offset =
            self.boot_rng.below(offset_range.saturating_add(1)) as i64 - (offset_range / 2) as i64;
        let drift =
            self.boot_rng.below(2 * clocks.max_drift_ppm as u64 + 1) as i64 - clocks.max_drift_ppm;
        let index = self.cluster.slots.len();
        self.cluster.slots.push(NodeSlot {
            id,
            node: None,
            durable: D::default(),
            pending_writes: VecDeque::new(),
            last_sync_due: 0,
            clock: NodeClock::new(offset, drift),
            incarnation: 0,
            timer_generation: 0,
            armed_deadline: None,
        });
        self.cluster.index.insert(id, index);
        self.members.push(id);
        self.network.add_node();
        Ok(index)
    }

    fn boot_node(&mut self, index: usize) {
        let slot = &mut self.cluster.slots[index];
        let now = slot.clock.read(self.now);
        let node = (self.boot)(Boot {
            id: slot.id,
            durable: &slot.durable,
            members: &self.members,
            seed: self.boot_rng.next_u64(),
            incarnation: slot.incarnation,
            now,
        });
        slot.node = Some(node);
        self.deliver(index, Input::Tick);
    }

    /// Processes the next event and checks every invariant. Returns
    /// `Ok(false)` when nothing is left to do.
    ///
    /// # Errors
    ///
    /// [`SimFailure`] naming the seed and the violated invariant.
    pub fn step(&mut self) -> Result<bool, SimFailure> {
        let Some((at, event)) = self.queue.pop() else {
            return Ok(false);
        };
        self.now = self.now.max(at);
        self.cluster.now = self.now;
        self.dispatch(event);
        self.stats.steps += 1;
        if let Err(violation) = self.invariants.check(&self.cluster) {
            return Err(self.failure(violation));
        }
        Ok(true)
    }

    /// Takes up to `steps` steps. Returns how many were taken (fewer only if
    /// nothing was left to do).
    ///
    /// # Errors
    ///
    /// The first [`SimFailure`].
    pub fn run(&mut self, steps: u64) -> Result<u64, SimFailure> {
        for taken in 0..steps {
            if !self.step()? {
                return Ok(taken);
            }
        }
        Ok(steps)
    }

    /// Runs every event due within the next `duration` of virtual time.
    ///
    /// # Errors
    ///
    /// The first [`SimFailure`].
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimFailure> {
        let until = self.now.saturating_add(duration_nanos(duration));
        while self.queue.peek_time().is_some_and(|at| at <= until) {
            self.step()?;
        }
        self.now = until;
        self.cluster.now = until;
        Ok(())
    }

    fn failure(&self, violation: Violation) -> SimFailure {
        SimFailure {
            seed: self.config.seed,
            step: self.stats.steps,
            at: Instant::from_nanos(self.now),
            violation: Box::new(violation),
            rerun: None,
        }
    }

    fn dispatch(&mut self, event: Event<P>) {
        match event {
            Event::Deliver {
                from,
                from_index,
                to,
                message,
            } => {
                if self.network.is_blocked(from_index, to) {
                    self.stats.messages_dropped_partition += 1;
                } else if self.cluster.slots[to].node.is_none() {
                    self.stats.messages_dropped_crashed += 1;
                } else {
                    self.stats.messages_delivered += 1;
                    self.deliver(to, Input::Message { from, message });
                }
            }
            Event::Timer { node, generation } => {
                let slot = &mut self.cluster.slots[node];
                if slot.timer_generation == generation && slot.node.is_some() {
                    slot.armed_deadline = None;
                    self.stats.timers_fired += 1;
                    self.deliver(node, Input::Tick);
                }
            }
            Event::DiskSync {
                node,
                incarnation,
                up_to,
            } => {
                let slot = &mut self.cluster.slots[node];
                if slot.incarnation != incarnation {
                    return;
                }
                while slot
                    .pending_writes
                    .front()
                    .is_some_and(|(id, _)| *id <= up_to)
                {
                    if let Some((_, write)) = slot.pending_writes.pop_front() {
                        slot.durable.apply(write);
                        self.stats.writes_durable += 1;
                    }
                }
                self.deliver(node, Input::Persisted { up_to });
            }
            Event::Request { node, id, request } => {
                if self.cluster.slots[node].node.is_some() {
                    self.deliver(node, Input::Request { id, request });
                } else {
                    self.stats.requests_lost += 1;
                }
            }
            Event::Response { id, response } => match self.routes.remove(&id) {
                Some(Route::Client { client, attempt }) => {
                    self.client_answer(client, attempt, response);
                }
                Some(Route::Direct) => self.direct_responses.push((id, response)),
                None => {}
            },
            Event::ClientWake { client } => self.client_wake(client),
            Event::ClientTimeout { client, attempt } => self.client_timeout(client, attempt),
            Event::Fault(fault) => {
                // Scheduled faults were checked when scheduled, and the
                // nemesis names only known nodes.
                if let Err(error) = self.apply(fault) {
                    debug_assert!(false, "scheduled fault failed: {error}");
                }
            }
            Event::NemesisTick => self.nemesis_tick(),
        }
    }

    fn deliver(&mut self, index: usize, input: InputOf<P>) {
        let slot = &mut self.cluster.slots[index];
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        let now = slot.clock.read(self.now);
        let mut actions = std::mem::take(&mut self.scratch);
        node.handle(now, input, &mut actions);
        for action in actions.drain(..) {
            self.perform(index, action);
        }
        self.scratch = actions;
        self.arm_timer(index);
    }

    fn perform(&mut self, index: usize, action: ActionOf<P>) {
        match action {
            Action::Send { to, message } => self.send(index, to, message),
            Action::Persist { id, write } => {
                self.stats.writes_requested += 1;
                let delay = self.config.disk_latency.sample(&mut self.network_rng);
                let slot = &mut self.cluster.slots[index];
                slot.pending_writes.push_back((id, write));
                let due = (self.now + duration_nanos(delay)).max(slot.last_sync_due);
                slot.last_sync_due = due;
                let incarnation = slot.incarnation;
                self.queue.push(
                    due,
                    Event::DiskSync {
                        node: index,
                        incarnation,
                        up_to: id,
                    },
                );
            }
            Action::Reply { id, response } => {
                self.stats.replies += 1;
                self.push_after_client_latency(Event::Response { id, response });
            }
            Action::ModeChanged(transition) => {
                if self.mode_log.len() == LOG_MAX {
                    self.mode_log.pop_front();
                }
                self.mode_log.push_back(ModeChange {
                    node: self.cluster.slots[index].id,
                    at: Instant::from_nanos(self.now),
                    transition,
                });
            }
        }
    }

    fn send(&mut self, from_index: usize, to: NodeId, message: P::Message) {
        self.stats.messages_sent += 1;
        let from = self.cluster.slots[from_index].id;
        let Some(&to_index) = self.cluster.index.get(&to) else {
            self.stats.messages_to_unknown_nodes += 1;
            return;
        };
        if from_index != to_index {
            if self.network.is_blocked(from_index, to_index) {
                self.stats.messages_dropped_partition += 1;
                return;
            }
            if self.network_rng.chance(self.network.loss_probability) {
                self.stats.messages_dropped_loss += 1;
                return;
            }
        }
        let latency = self
            .config
            .network
            .link_latency
            .get(&(from, to))
            .unwrap_or(&self.config.network.latency);
        let delay = latency.sample(&mut self.network_rng);
        if from_index != to_index && self.network_rng.chance(self.network.duplicate_probability) {
            self.stats.messages_duplicated += 1;
            let second = latency.sample(&mut self.network_rng);
            self.queue.push(
                self.now + duration_nanos(second),
                Event::Deliver {
                    from,
                    from_index,
                    to: to_index,
                    message: message.clone(),
                },
            );
        }
        self.queue.push(
            self.now + duration_nanos(delay),
            Event::Deliver {
                from,
                from_index,
                to: to_index,
                message,
            },
        );
    }

    fn arm_timer(&mut self, index: usize) {
        let slot = &mut self.cluster.slots[index];
        let deadline = slot.node.as_ref().and_then(|n| n.next_deadline());
        if deadline == slot.armed_deadline {
            return;
        }
        slot.armed_deadline = deadline;
        slot.timer_generation += 1;
        if let Some(deadline) = deadline {
            let at = slot
                .clock
                .virtual_time_of(deadline, self.now)
                .max(self.now + duration_nanos(TIMER_RESOLUTION));
            let generation = slot.timer_generation;
            self.queue.push(
                at,
                Event::Timer {
                    node: index,
                    generation,
                },
            );
        }
    }

    fn rearm_timer(&mut self, index: usize) {
        self.cluster.slots[index].armed_deadline = None;
        self.arm_timer(index);
    }

    fn index_of(&self, node: NodeId) -> Result<usize, SimError> {
        self.cluster
            .index
            .get(&node)
            .copied()
            .ok_or(SimError::UnknownNode(node))
    }

    /// Applies `fault` now.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownNode`] if it names a node the simulation does not
    /// have; [`SimError::InvalidParameter`] for a probability outside
    /// `[0, 1]`.
    pub fn apply(&mut self, fault: Fault) -> Result<(), SimError> {
        match &fault {
            Fault::Partition(groups) => {
                let mut group_of: Vec<usize> = (0..self.cluster.slots.len())
                    .map(|i| groups.len() + i)
                    .collect();
                for (group, nodes) in groups.iter().enumerate() {
                    for node in nodes {
                        group_of[self.index_of(*node)?] = group;
                    }
                }
                self.network.partition(&group_of);
            }
            Fault::Isolate(node) => {
                let index = self.index_of(*node)?;
                self.network.isolate(index);
            }
            Fault::BlockLink { from, to } | Fault::HealLink { from, to } => {
                let (from, to_index) = (self.index_of(*from)?, self.index_of(*to)?);
                let block = matches!(fault, Fault::BlockLink { .. });
                self.network.set_blocked(from, to_index, block);
            }
            Fault::HealNetwork => self.network.heal(),
            Fault::Crash(node) => {
                let index = self.index_of(*node)?;
                self.crash(index);
            }
            Fault::Restart(node) => {
                let index = self.index_of(*node)?;
                if self.cluster.slots[index].node.is_none() {
                    self.stats.restarts += 1;
                    self.boot_node(index);
                }
            }
            Fault::ClockForward { node, by } => {
                let index = self.index_of(*node)?;
                self.cluster.slots[index].clock.step_forward(*by);
                self.rearm_timer(index);
            }
            Fault::ClockBackward { node, by } => {
                let index = self.index_of(*node)?;
                self.cluster.slots[index].clock.step_backward(*by);
                self.rearm_timer(index);
            }
            Fault::ClockDrift { node, ppm } => {
                let index = self.index_of(*node)?;
                self.cluster.slots[index].clock.set_drift_ppm(*ppm);
                self.rearm_timer(index);
            }
            Fault::MessageLoss(p) => {
                crate::config::probability("loss probability", *p)?;
                self.network.loss_probability = *p;
            }
            Fault::MessageDuplication(p) => {
                crate::config::probability("duplicate probability", *p)?;
                self.network.duplicate_probability = *p;
            }
        }
        self.stats.faults += 1;
        if self.fault_log.len() == LOG_MAX {
            self.fault_log.pop_front();
        }
        self.fault_log.push_back(FaultRecord {
            at: Instant::from_nanos(self.now),
            fault,
        });
        Ok(())
    }

    /// Applies `fault` after `delay` of virtual time.
    ///
    /// # Errors
    ///
    /// As for [`apply`](Self::apply), checked now.
    pub fn schedule(&mut self, delay: Duration, fault: Fault) -> Result<(), SimError> {
        if let Some(node) = fault.node() {
            self.index_of(node)?;
        }
        match &fault {
            Fault::Partition(groups) => {
                for node in groups.iter().flatten() {
                    self.index_of(*node)?;
                }
            }
            Fault::BlockLink { from, to } | Fault::HealLink { from, to } => {
                self.index_of(*from)?;
                self.index_of(*to)?;
            }
            Fault::MessageLoss(p) | Fault::MessageDuplication(p) => {
                crate::config::probability("probability", *p)?;
            }
            _ => {}
        }
        self.queue
            .push(self.now + duration_nanos(delay), Event::Fault(fault));
        Ok(())
    }

    fn crash(&mut self, index: usize) {
        let slot = &mut self.cluster.slots[index];
        if slot.node.take().is_none() {
            return;
        }
        self.stats.crashes += 1;
        // The disk wrote some prefix of what was in flight.
        let survivors = self.network_rng.below(slot.pending_writes.len() as u64 + 1) as usize;
        for _ in 0..survivors {
            if let Some((_, write)) = slot.pending_writes.pop_front() {
                slot.durable.apply(write);
                self.stats.writes_durable += 1;
            }
        }
        self.stats.writes_lost_in_crashes += slot.pending_writes.len() as u64;
        slot.pending_writes.clear();
        slot.last_sync_due = 0;
        slot.incarnation += 1;
        slot.timer_generation += 1;
        slot.armed_deadline = None;
        // A restarted process reads the raw clock again: the monotonic
        // guarantee of `Instant` holds within one incarnation only.
        slot.clock = NodeClock::new(slot.clock.offset_nanos(), slot.clock.drift_ppm());
    }

    /// Heals everything: the network, loss and duplication back to the
    /// configured rates, and every crashed node restarted. Clock offsets
    /// and drifts stay as they are.
    pub fn heal(&mut self) {
        let base_loss = self.config.network.loss_probability;
        let base_duplication = self.config.network.duplicate_probability;
        let crashed: Vec<NodeId> = self
            .cluster
            .slots
            .iter()
            .filter(|s| s.node.is_none())
            .map(|s| s.id)
            .collect();
        let mut heals = vec![
            Fault::HealNetwork,
            Fault::MessageLoss(base_loss),
            Fault::MessageDuplication(base_duplication),
        ];
        heals.extend(crashed.into_iter().map(Fault::Restart));
        for fault in heals {
            if let Err(error) = self.apply(fault) {
                debug_assert!(false, "healing failed: {error}");
            }
        }
    }

    fn nemesis_tick(&mut self) {
        let Some(nemesis) = &self.nemesis else {
            return;
        };
        if !self.nemesis_active {
            return;
        }
        if self.now >= duration_nanos(nemesis.config.active_for) {
            self.nemesis_active = false;
            self.heal();
            return;
        }
        let running: Vec<NodeId> = self.cluster.running_ids().collect();
        let crashed: Vec<NodeId> = self
            .cluster
            .slots
            .iter()
            .filter(|s| s.node.is_none())
            .map(|s| s.id)
            .collect();
        let next_move = nemesis.next_move(
            &mut self.nemesis_rng,
            &running,
            &crashed,
            self.config.network.loss_probability,
        );
        let interval = nemesis.config.interval.sample(&mut self.nemesis_rng);
        if let Some(next_move) = next_move {
            if let Err(error) = self.apply(next_move.fault) {
                debug_assert!(false, "nemesis fault failed: {error}");
            }
            if let Some((after, heal)) = next_move.heal {
                self.queue
                    .push(self.now + duration_nanos(after), Event::Fault(heal));
            }
        }
        self.queue.push(
            self.now + duration_nanos(interval).max(1),
            Event::NemesisTick,
        );
    }

    /// Sends `request` to `node` from outside any workload; its answer is
    /// collected by [`take_responses`](Self::take_responses).
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownNode`].
    pub fn submit(&mut self, node: NodeId, request: P::Request) -> Result<RequestId, SimError> {
        let index = self.index_of(node)?;
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.routes.insert(id, Route::Direct);
        self.send_request(index, id, request);
        Ok(id)
    }

    fn send_request(&mut self, index: usize, id: RequestId, request: P::Request) {
        self.stats.requests_sent += 1;
        self.push_after_client_latency(Event::Request {
            node: index,
            id,
            request,
        });
    }

    /// Schedules traffic between a client and a node.
    fn push_after_client_latency(&mut self, event: Event<P>) {
        let delay = self
            .config
            .network
            .client_latency
            .sample(&mut self.network_rng);
        self.queue.push(self.now + duration_nanos(delay), event);
    }

    /// Answers to [`submit`](Self::submit)ted requests received so far.
    pub fn take_responses(&mut self) -> Vec<(RequestId, P::Response)> {
        std::mem::take(&mut self.direct_responses)
    }

    fn schedule_client_wake(&mut self, client: usize) {
        let think = self.config.clients.think_time.sample(&mut self.client_rng);
        self.queue.push(
            self.now + duration_nanos(think) + 1,
            Event::ClientWake { client },
        );
    }

    fn client_wake(&mut self, client: usize) {
        if !matches!(self.clients[client].state, ClientState::Idle) {
            return;
        }
        if self.clients_stopped {
            self.clients[client].state = ClientState::Done;
            return;
        }
        let Some(op) = self.workload.next_op(client, &mut self.client_rng) else {
            self.clients[client].state = ClientState::Done;
            return;
        };
        let process = self.clients[client].process;
        let op_id = self
            .history
            .invoke(process, op.clone(), Instant::from_nanos(self.now))
            .expect("an idle client's process has no pending operation");
        self.client_send(client, op, op_id, None, 0);
    }

    fn client_send(
        &mut self,
        client: usize,
        op: W::Op,
        op_id: crate::OpId,
        redirect: Option<NodeId>,
        redirects: u32,
    ) {
        let target =
            self.workload
                .request(client, &op, redirect, &self.members, &mut self.client_rng);
        let target = target.and_then(|(node, request)| {
            self.cluster.index.get(&node).map(|index| (*index, request))
        });
        let Some((index, request)) = target else {
            self.complete(client, op_id, None);
            return;
        };
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        self.routes.insert(id, Route::Client { client, attempt });
        self.send_request(index, id, request);
        self.queue.push(
            self.now + duration_nanos(self.config.clients.request_timeout),
            Event::ClientTimeout { client, attempt },
        );
        self.clients[client].state = ClientState::Waiting {
            op,
            op_id,
            request: id,
            attempt,
            redirects,
        };
    }

    /// Completes `op_id`: `Some(Ok)` with a result, `Some(Unknown)` as info,
    /// `None` or `Some(Fail)` as failed. Then the client thinks and goes on.
    fn complete(&mut self, client: usize, op_id: crate::OpId, reply: Option<Reply<W::Ret>>) {
        let at = Instant::from_nanos(self.now);
        let recorded = match reply {
            Some(Reply::Ok(ret)) => self.history.ok(op_id, ret, at),
            Some(Reply::Unknown) => {
                self.clients[client].process = self.next_process;
                self.next_process += 1;
                self.history.info(op_id, at)
            }
            Some(Reply::Fail | Reply::Redirect(_)) | None => self.history.fail(op_id, at),
        };
        recorded.expect("a waiting client's operation is pending");
        self.clients[client].state = ClientState::Idle;
        self.schedule_client_wake(client);
    }

    fn client_answer(&mut self, client: usize, attempt: u64, response: P::Response) {
        let state = std::mem::replace(&mut self.clients[client].state, ClientState::Idle);
        let ClientState::Waiting {
            op,
            op_id,
            request,
            attempt: waiting_for,
            redirects,
        } = state
        else {
            self.clients[client].state = state;
            return;
        };
        if waiting_for != attempt {
            self.clients[client].state = ClientState::Waiting {
                op,
                op_id,
                request,
                attempt: waiting_for,
                redirects,
            };
            return;
        }
        match self.workload.interpret(client, &op, response) {
            Reply::Redirect(hint) if redirects < self.config.clients.redirects_max => {
                self.client_send(client, op, op_id, hint, redirects + 1);
            }
            reply => self.complete(client, op_id, Some(reply)),
        }
    }

    fn client_timeout(&mut self, client: usize, attempt: u64) {
        if let ClientState::Waiting {
            attempt: waiting_for,
            op_id,
            request,
            ..
        } = &self.clients[client].state
            && *waiting_for == attempt
        {
            let (op_id, request) = (*op_id, *request);
            self.routes.remove(&request);
            self.complete(client, op_id, Some(Reply::Unknown));
        }
    }

    /// Stops the clients: each finishes (or times out) its current
    /// operation and starts no other.
    pub fn stop_clients(&mut self) {
        self.clients_stopped = true;
    }

    /// Whether every client has finished.
    pub fn clients_done(&self) -> bool {
        self.clients
            .iter()
            .all(|c| matches!(c.state, ClientState::Done))
    }

    /// Checks the client history against `model`.
    ///
    /// # Errors
    ///
    /// A [`SimFailure`] of `LINEARIZABILITY`, naming the seed, if the
    /// history is not linearizable or the check could not decide.
    pub fn check_history<M>(&self, model: M) -> Result<CheckReport, SimFailure>
    where
        M: Model<Input = W::Op, Output = W::Ret>,
    {
        let report = LinearizabilityChecker::new(model).check(&self.history);
        match report.clone().into_result() {
            Ok(()) => Ok(report),
            Err(violation) => Err(self.failure(violation)),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Virtual time now.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.now)
    }

    /// The nodes.
    pub fn cluster(&self) -> &Cluster<P, D> {
        &self.cluster
    }

    /// Every node id, in the order added.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// The workload.
    pub fn workload(&self) -> &W {
        &self.workload
    }

    /// The client history so far.
    pub fn history(&self) -> &History<W::Op, W::Ret> {
        &self.history
    }

    /// Counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Faults applied, oldest first (the last [`LOG_MAX`]).
    pub fn fault_log(&self) -> impl Iterator<Item = &FaultRecord> {
        self.fault_log.iter()
    }

    /// Mode changes reported by nodes, oldest first (the last [`LOG_MAX`]).
    pub fn mode_log(&self) -> impl Iterator<Item = &ModeChange<P::Mode>> {
        self.mode_log.iter()
    }

    /// How many directed links are cut right now.
    pub fn blocked_links(&self) -> usize {
        self.network.blocked_links()
    }

    /// Events waiting in the queue.
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }
}

impl<P: Protocol, D> Cluster<P, D> {
    pub(crate) fn running_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.slots.iter().filter(|s| s.node.is_some()).map(|s| s.id)
    }
}

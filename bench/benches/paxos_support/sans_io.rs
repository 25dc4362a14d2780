//! A single-threaded driver for any sans-IO Tessera node: messages go
//! straight into the receiver's inbox, writes are applied to the node's
//! in-memory disk at once and confirmed, ticks come from the wall clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant as WallInstant};

use tessera_core::{
    Action, ActionOf, Clock, Input, InputOf, NodeId, PersistId, Protocol, RequestId, SystemClock,
};

/// How many steps share one reading of the clock.
const CLOCK_EVERY: u64 = 32;

/// Client number in the low bits of a request id.
pub(crate) const CLIENT_BITS: u32 = 16;

/// Nodes, their disks and the messages between them.
pub(crate) struct Cluster<P: Protocol, D> {
    clock: SystemClock,
    /// The clock's last reading, shared by `CLOCK_EVERY` steps.
    cached_now: tessera_core::Instant,
    /// Inputs handled so far.
    steps: u64,
    pub(crate) nodes: Vec<P>,
    disks: Vec<D>,
    write: fn(&mut D, P::Write),
    ids: Vec<NodeId>,
    inbox: VecDeque<(usize, InputOf<P>)>,
    actions: Vec<ActionOf<P>>,
    /// Requests answered, with the answer.
    pub(crate) answered: Vec<(RequestId, P::Response)>,
}

impl<P: Protocol, D> Cluster<P, D> {
    pub(crate) fn new(
        ids: Vec<NodeId>,
        nodes: Vec<P>,
        disks: Vec<D>,
        write: fn(&mut D, P::Write),
    ) -> Self {
        let clock = SystemClock::new();
        Cluster {
            cached_now: clock.now(),
            steps: 0,
            clock,
            nodes,
            disks,
            write,
            ids,
            inbox: VecDeque::new(),
            actions: Vec::new(),
            answered: Vec::new(),
        }
    }

    pub(crate) fn now(&self) -> tessera_core::Instant {
        self.clock.now()
    }

    fn position(&self, id: NodeId) -> usize {
        self.ids.iter().position(|n| *n == id).expect("a member")
    }

    pub(crate) fn tick_due(&mut self) {
        self.cached_now = self.clock.now();
        let now = self.cached_now;
        for (at, node) in self.nodes.iter().enumerate() {
            if node.next_deadline().is_some_and(|d| d <= now) {
                self.inbox.push_back((at, Input::Tick));
            }
        }
    }

    /// Hands a client's request to node `at` at once (as omnipaxos's loop
    /// appends a client's entry at once) and performs what it asks.
    pub(crate) fn request(&mut self, at: usize, id: RequestId, request: P::Request) {
        self.deliver(at, Input::Request { id, request });
    }

    /// Handles one input and performs what it asks; false if the inbox was
    /// empty. A node's writes are durable the moment they are performed
    /// (the disk is memory), so their confirmation is handled at once,
    /// before anything else queued.
    pub(crate) fn step(&mut self) -> bool {
        let Some((at, input)) = self.inbox.pop_front() else {
            return false;
        };
        self.deliver(at, input);
        true
    }

    /// Hands `input` to node `at`, then the confirmations of the writes it
    /// asked for.
    fn deliver(&mut self, at: usize, input: InputOf<P>) {
        let mut durable = self.handle(at, input);
        while let Some(up_to) = durable {
            durable = self.handle(at, Input::Persisted { up_to });
        }
    }

    /// Hands `input` to node `at` and performs its actions; returns the
    /// last write it asked for, now durable, if any.
    fn handle(&mut self, at: usize, input: InputOf<P>) -> Option<PersistId> {
        self.steps += 1;
        if self.steps.is_multiple_of(CLOCK_EVERY) {
            self.cached_now = self.clock.now();
        }
        let now = self.cached_now;
        let mut actions = std::mem::take(&mut self.actions);
        self.nodes[at].handle(now, input, &mut actions);
        let mut durable = None;
        for action in actions.drain(..) {
            match action {
                Action::Send { to, message } => {
                    let from = self.ids[at];
                    let to = self.position(to);
                    self.inbox.push_back((to, Input::Message { from, message }));
                }
                Action::Persist { id, write } => {
                    (self.write)(&mut self.disks[at], write);
                    durable = Some(id);
                }
                Action::Reply { id, response } => self.answered.push((id, response)),
                Action::ModeChanged(_) => {}
            }
        }
        self.actions = actions;
        durable
    }

    /// Runs until nothing is left to do.
    pub(crate) fn settle(&mut self) {
        while self.step() {}
    }
}

/// What one closed-loop run measured.
pub(crate) struct Run {
    pub(crate) ops: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Vec<u64>,
}

/// Runs `clients` closed-loop clients for `duration`: each sends one
/// request (to the node `target` picks for it) and, once answered, the
/// next. `counts` says whether an answer completes an operation.
pub(crate) fn closed_loop<P: Protocol, D>(
    cluster: &mut Cluster<P, D>,
    clients: usize,
    duration: Duration,
    mut target: impl FnMut(usize) -> usize,
    mut request: impl FnMut(usize, u64) -> P::Request,
    counts: impl Fn(&P::Response) -> bool,
) -> Run {
    // Read once: looking the variable up per answer costs as much as a
    // fair share of a commit.
    let report_slow = std::env::var_os("TESSERA_BENCH_SLOW").is_some();
    let mut latencies = Vec::with_capacity(1 << 20);
    let mut started = vec![WallInstant::now(); clients];
    let mut sequence = vec![0u64; clients];
    let start = WallInstant::now();
    let deadline = start + duration;
    for client in 0..clients {
        let id = RequestId(client as u64);
        let at = target(client);
        cluster.request(at, id, request(client, 0));
    }
    let mut running = clients;
    let mut steps = 0u64;
    let mut last_answer = start;
    let mut answered = Vec::new();
    while running > 0 {
        if !cluster.step() {
            cluster.tick_due();
            if cluster.inbox.is_empty() {
                std::thread::yield_now();
            }
        }
        steps += 1;
        if steps.is_multiple_of(4096) {
            cluster.tick_due();
        }
        if cluster.answered.is_empty() {
            continue;
        }
        std::mem::swap(&mut answered, &mut cluster.answered);
        let now = WallInstant::now();
        for (id, response) in answered.drain(..) {
            let client = (id.0 & ((1 << CLIENT_BITS) - 1)) as usize;
            if !counts(&response) {
                panic!("a request was not served: {:?}", response);
            }
            let latency = now.duration_since(started[client]).as_nanos() as u64;
            if report_slow && latency > 1_000_000 {
                eprintln!(
                    "slow: {latency} ns at {:?}, step {steps}",
                    now.duration_since(start)
                );
            }
            latencies.push(latency);
            last_answer = now;
            if now < deadline {
                sequence[client] += 1;
                started[client] = now;
                let id = RequestId((sequence[client] << CLIENT_BITS) | client as u64);
                let at = target(client);
                let next = request(client, sequence[client]);
                cluster.request(at, id, next);
            } else {
                running -= 1;
            }
        }
    }
    Run {
        ops: latencies.len() as u64,
        elapsed: last_answer.duration_since(start),
        latencies,
    }
}

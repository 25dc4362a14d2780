//! A single-threaded driver for any sans-IO Tessera node: messages go
//! straight into the receiver's inbox, writes are applied to the node's
//! in-memory disk at once and confirmed together once the node has
//! handled everything waiting for it (a disk thread's group commit), ticks
//! come from the wall clock.

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
    /// The messages waiting for each node, oldest first, as the inputs
    /// that deliver them.
    inboxes: Vec<VecDeque<InputOf<P>>>,
    /// Whether each node's timer is due.
    ticks: Vec<bool>,
    /// The last write each node asked for: already applied to its disk,
    /// not yet confirmed to it.
    unconfirmed: Vec<Option<PersistId>>,
    /// Where the next scan for a node with work starts.
    next: usize,
    actions: Vec<ActionOf<P>>,
    /// Requests answered, with the answer.
    pub(crate) answered: Vec<(RequestId, P::Response)>,
    /// How a node takes several requests in one call, if it can: then
    /// the closed loop runs as omnipaxos's does (see [`closed_loop`]).
    hand_off: Option<HandOff<P>>,
}

/// Hands a node several requests that arrived together in one call.
pub(crate) type HandOff<P> = fn(
    &mut P,
    tessera_core::Instant,
    &mut Vec<(RequestId, <P as Protocol>::Request)>,
    &mut Vec<ActionOf<P>>,
);

impl<P: Protocol, D> Cluster<P, D> {
    pub(crate) fn new(
        ids: Vec<NodeId>,
        nodes: Vec<P>,
        disks: Vec<D>,
        write: fn(&mut D, P::Write),
    ) -> Self {
        let clock = SystemClock::new();
        let n = ids.len();
        Cluster {
            cached_now: clock.now(),
            steps: 0,
            clock,
            nodes,
            disks,
            write,
            ids,
            inboxes: (0..n).map(|_| VecDeque::new()).collect(),
            ticks: vec![false; n],
            unconfirmed: vec![None; n],
            next: 0,
            actions: Vec::new(),
            answered: Vec::new(),
            hand_off: None,
        }
    }

    /// Requests that arrive together go to their node in one call, and
    /// clients are answered once the cluster has settled (see
    /// [`closed_loop`]).
    pub(crate) fn with_hand_off(mut self, hand_off: HandOff<P>) -> Self {
        self.hand_off = Some(hand_off);
        self
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
                self.ticks[at] = true;
            }
        }
    }

    /// Hands a client's request to node `at` at once (as omnipaxos's loop
    /// appends a client's entry at once) and performs what it asks; the
    /// writes it asks for are confirmed on the node's next turn.
    pub(crate) fn request(&mut self, at: usize, id: RequestId, request: P::Request) {
        self.handle(at, Input::Request { id, request });
    }

    /// Hands node `at` every request in `requests` (emptied), in one call
    /// with a hand-off, one by one otherwise.
    pub(crate) fn request_all(&mut self, at: usize, requests: &mut Vec<(RequestId, P::Request)>) {
        let Some(hand_off) = self.hand_off else {
            for (id, request) in requests.drain(..) {
                self.request(at, id, request);
            }
            return;
        };
        self.steps += 1;
        let now = self.cached_now;
        let mut actions = std::mem::take(&mut self.actions);
        hand_off(&mut self.nodes[at], now, requests, &mut actions);
        requests.clear();
        self.perform(at, &mut actions);
        self.actions = actions;
    }

    /// Whether any node has anything to do.
    pub(crate) fn idle(&self) -> bool {
        (0..self.nodes.len()).all(|at| !self.has_work(at))
    }

    fn has_work(&self, at: usize) -> bool {
        self.ticks[at] || self.unconfirmed[at].is_some() || !self.inboxes[at].is_empty()
    }

    /// Gives the next node with work (round robin) its turn; false if no
    /// node has any. In a turn the node handles its due tick and every
    /// message waiting for it, one at a time, then one `Persisted`
    /// covering every write it asked for meanwhile — all applied to its
    /// disk already — and again, until nothing is left for it.
    pub(crate) fn step(&mut self) -> bool {
        let n = self.ticks.len();
        if n == 0 {
            return false;
        }
        let mut at = self.next;
        let mut scanned = 0;
        while !self.has_work(at) {
            scanned += 1;
            if scanned == n {
                return false;
            }
            at = if at + 1 == n { 0 } else { at + 1 };
        }
        self.next = if at + 1 == n { 0 } else { at + 1 };
        loop {
            if std::mem::take(&mut self.ticks[at]) {
                self.handle(at, Input::Tick);
            }
            while let Some(input) = self.inboxes[at].pop_front() {
                self.handle(at, input);
            }
            match self.unconfirmed[at].take() {
                Some(up_to) => self.handle(at, Input::Persisted { up_to }),
                None => break,
            }
        }
        true
    }

    /// Hands `input` to node `at` and performs its actions: messages go
    /// to their receiver's inbox, writes to the node's disk (their
    /// confirmation waits for the end of its turn), answers to `answered`.
    #[inline(always)]
    fn handle(&mut self, at: usize, input: InputOf<P>) {
        self.steps += 1;
        if self.steps.is_multiple_of(CLOCK_EVERY) {
            self.cached_now = self.clock.now();
        }
        let now = self.cached_now;
        let mut actions = std::mem::take(&mut self.actions);
        self.nodes[at].handle(now, input, &mut actions);
        self.perform(at, &mut actions);
        self.actions = actions;
    }

    /// Performs what node `at` asked for.
    fn perform(&mut self, at: usize, actions: &mut Vec<ActionOf<P>>) {
        for action in actions.drain(..) {
            match action {
                Action::Send { to, message } => {
                    let from = self.ids[at];
                    let to = self.position(to);
                    self.inboxes[to].push_back(Input::Message { from, message });
                }
                Action::Persist { id, write } => {
                    (self.write)(&mut self.disks[at], write);
                    self.unconfirmed[at] = Some(id);
                }
                Action::Reply { id, response } => self
                    .answered
                    .extend(std::iter::once_with(|| (id, response))),
                Action::ModeChanged(_) => {}
            }
        }
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

/// Requests waiting to be handed over, grouped by node.
type ByNode<R> = Vec<(usize, Vec<(RequestId, R)>)>;

/// Runs `clients` closed-loop clients for `duration`: each sends one
/// request (to the node `target` picks for it) and, once answered, the
/// next. `counts` says whether an answer completes an operation.
///
/// Without a hand-off a client is answered the moment its node replies,
/// and its next request is handed over at once, one request per call.
/// With one ([`Cluster::with_hand_off`]) the loop runs as omnipaxos's
/// does: messages move until none are left, then every client whose
/// answer came is answered and its next request handed over, together
/// with the others' for the same node, in one call.
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
    let when_settled = cluster.hand_off.is_some();
    let mut latencies = Vec::with_capacity(1 << 20);
    let mut started = vec![WallInstant::now(); clients];
    let mut sequence = vec![0u64; clients];
    let start = WallInstant::now();
    let deadline = start + duration;
    // Next requests, grouped by node: (node, requests for it).
    let mut next: ByNode<P::Request> = Vec::new();
    let queue_request =
        |next: &mut ByNode<P::Request>, at: usize, id: RequestId, request: P::Request| match next
            .iter_mut()
            .find(|(node, _)| *node == at)
        {
            Some((_, requests)) => requests.push((id, request)),
            None => next.push((at, vec![(id, request)])),
        };
    for client in 0..clients {
        let id = RequestId(client as u64);
        let at = target(client);
        queue_request(&mut next, at, id, request(client, 0));
    }
    for (at, requests) in next.iter_mut() {
        cluster.request_all(*at, requests);
    }
    let mut running = clients;
    let mut steps = 0u64;
    let mut last_answer = start;
    let mut answered = Vec::new();
    while running > 0 {
        if cluster.step() {
            steps += 1;
            if steps.is_multiple_of(4096) {
                cluster.tick_due();
            }
            if when_settled {
                continue;
            }
        } else if cluster.answered.is_empty() {
            cluster.tick_due();
            if cluster.idle() {
                std::thread::yield_now();
            }
            continue;
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
                let next_request = request(client, sequence[client]);
                if when_settled {
                    queue_request(&mut next, at, id, next_request);
                } else {
                    cluster.request(at, id, next_request);
                }
            } else {
                running -= 1;
            }
        }
        for (at, requests) in next.iter_mut() {
            if !requests.is_empty() {
                cluster.request_all(*at, requests);
            }
        }
    }
    Run {
        ops: latencies.len() as u64,
        elapsed: last_answer.duration_since(start),
        latencies,
    }
}

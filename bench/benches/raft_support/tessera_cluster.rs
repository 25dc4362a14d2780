//! The tessera-raft side: three sans-IO nodes and their in-memory disks,
//! driven by one thread. Messages go straight into the receiver's inbox;
//! writes are applied to the node's `RaftDisk` at once and confirmed.

use std::collections::VecDeque;
use std::time::{Duration, Instant as WallInstant};

use tessera_core::{Action, Clock, Input, Protocol, RequestId, SystemClock};
use tessera_raft::{
    RaftAction, RaftConfig, RaftDisk, RaftInput, RaftNode, Request, Response, Startup, StateMachine,
};

/// The no-op state machine: empty commands, nothing to keep.
struct Noop;

impl StateMachine for Noop {
    type Command = ();
    type Output = ();
    type Query = ();
    type QueryOutput = ();

    fn apply(&mut self, _index: u64, _command: &()) {}
    fn query(&self, _query: &()) {}
    fn snapshot_capture(&mut self) -> u64 {
        0
    }
    fn snapshot_read(&self, _offset: u64, _len: usize) -> Vec<u8> {
        Vec::new()
    }
    fn restore_begin(&mut self) {}
    fn restore_chunk(&mut self, _chunk: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn restore_finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

const IDS: [u64; 3] = [1, 2, 3];
/// Client number in the low bits of a request id.
const CLIENT_BITS: u32 = 16;

struct Cluster {
    clock: SystemClock,
    nodes: Vec<RaftNode<Noop>>,
    disks: Vec<RaftDisk<()>>,
    inbox: VecDeque<(usize, RaftInput<Noop>)>,
    actions: Vec<RaftAction<Noop>>,
    answered: Vec<u64>,
}

impl Cluster {
    fn new() -> Self {
        let clock = SystemClock::new();
        let config = RaftConfig {
            election_timeout_min: Duration::from_millis(200),
            election_timeout_max: Duration::from_millis(400),
            inflight_messages_max: std::env::var("TESSERA_BENCH_INFLIGHT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(RaftConfig::default().inflight_messages_max),
            snapshot_threshold_entries: std::env::var("TESSERA_BENCH_SNAPSHOT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(RaftConfig::default().snapshot_threshold_entries),
            ..RaftConfig::default()
        };
        let now = clock.now();
        let nodes = IDS
            .iter()
            .map(|&id| {
                RaftNode::start(
                    Startup::bootstrap(id, id, now, IDS.to_vec()),
                    config.clone(),
                    Noop,
                )
                .expect("a valid node")
            })
            .collect();
        Cluster {
            clock,
            nodes,
            disks: IDS.iter().map(|_| RaftDisk::new()).collect(),
            inbox: VecDeque::new(),
            actions: Vec::new(),
            answered: Vec::new(),
        }
    }

    fn tick_due(&mut self) {
        let now = self.clock.now();
        for (at, node) in self.nodes.iter().enumerate() {
            if node.next_deadline().is_some_and(|d| d <= now) {
                self.inbox.push_back((at, Input::Tick));
            }
        }
    }

    /// Handles one input and performs what it asks. Returns false if the
    /// inbox was empty.
    fn step(&mut self) -> bool {
        let Some((at, input)) = self.inbox.pop_front() else {
            return false;
        };
        let now = self.clock.now();
        let mut actions = std::mem::take(&mut self.actions);
        self.nodes[at].handle(now, input, &mut actions);
        let mut durable = None;
        for action in actions.drain(..) {
            match action {
                Action::Send { to, message } => {
                    let from = IDS[at];
                    self.inbox
                        .push_back((to as usize - 1, Input::Message { from, message }));
                }
                Action::Persist { id, write } => {
                    self.disks[at]
                        .write(write)
                        .expect("the in-memory disk takes every write");
                    durable = Some(id);
                }
                Action::Reply { id, response } => {
                    if matches!(response, Response::Applied { .. }) {
                        self.answered.push(id.0);
                    }
                }
                Action::ModeChanged(_) => {}
            }
        }
        self.actions = actions;
        if let Some(up_to) = durable {
            self.inbox.push_back((at, Input::Persisted { up_to }));
        }
        true
    }

    fn leader(&self) -> Option<usize> {
        self.nodes.iter().position(|n| n.is_leader())
    }
}

/// Runs `clients` closed-loop clients for `duration`; returns the entries
/// committed, the time taken and each operation's latency in nanoseconds.
pub(crate) fn run(clients: usize, duration: Duration) -> (u64, Duration, Vec<u64>) {
    let mut cluster = Cluster::new();
    let leader = loop {
        cluster.tick_due();
        while cluster.step() {}
        if let Some(leader) = cluster.leader() {
            break leader;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let mut latencies = Vec::with_capacity(1 << 20);
    let mut started = vec![WallInstant::now(); clients];
    let mut sequence = vec![0u64; clients];
    let start = WallInstant::now();
    let deadline = start + duration;
    let propose = |cluster: &mut Cluster, client: usize, sequence: u64| {
        let id = RequestId((sequence << CLIENT_BITS) | client as u64);
        cluster.inbox.push_back((
            leader,
            Input::Request {
                id,
                request: Request::Propose(()),
            },
        ));
    };
    for (client, began) in started.iter_mut().enumerate() {
        *began = WallInstant::now();
        propose(&mut cluster, client, 0);
    }
    let mut running = clients;
    let mut steps = 0u64;
    let mut last_answer = start;
    while running > 0 {
        if !cluster.step() {
            cluster.tick_due();
            if cluster.inbox.is_empty() {
                panic!("the cluster stalled with {running} clients waiting");
            }
        }
        steps += 1;
        if steps.is_multiple_of(4096) {
            cluster.tick_due();
        }
        if cluster.answered.is_empty() {
            continue;
        }
        let now = WallInstant::now();
        let answered = std::mem::take(&mut cluster.answered);
        for id in &answered {
            let client = (id & ((1 << CLIENT_BITS) - 1)) as usize;
            latencies.push(now.duration_since(started[client]).as_nanos() as u64);
            last_answer = now;
            if now < deadline {
                sequence[client] += 1;
                started[client] = now;
                propose(&mut cluster, client, sequence[client]);
            } else {
                running -= 1;
            }
        }
        cluster.answered = answered;
        cluster.answered.clear();
    }
    (
        latencies.len() as u64,
        last_answer.duration_since(start),
        latencies,
    )
}

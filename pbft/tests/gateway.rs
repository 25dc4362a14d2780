//! The gateway: replicas that take plain operations for their clients,
//! order them under client identities of their own and answer with their
//! own replica's executed result — through crashes, restarts, view
//! changes, full queues, timeouts and state transfers.

mod support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use support::hand::small_config as config;
use support::{KvWorkload, SimNode};
use tessera_core::{Action, DurableState, Input, Instant, NodeId, Protocol, RequestId, SeededRng};
use tessera_pbft::{
    ClientOutcome, Envelope, Gateway, GatewayDisk, GatewayOptions, GatewayReply, Keyring, MemKv,
    PbftConfig, StateMachine, gateway_client_id,
};
use tessera_sim::{
    Boot, KvModel, KvOp, Latency, NemesisConfig, Outcome, RegisterRet, Reply as SimReply,
    SimConfig, SimFailure, Simulation, Workload,
};

const TICK: Duration = Duration::from_millis(10);
const REPLICAS: [NodeId; 4] = [1, 2, 3, 4];

/// A log of operations: each operation's result is its position (from 1),
/// so every result tells which execution produced it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Log {
    entries: Vec<Vec<u8>>,
    /// The sequence number each entry executed at, when executed here
    /// (not part of the state).
    seqs: Vec<u64>,
    seq: u64,
}

impl StateMachine for Log {
    fn apply(&mut self, operation: &[u8]) -> Vec<u8> {
        self.entries.push(operation.to_vec());
        self.seqs.push(self.seq);
        (self.entries.len() as u64).to_be_bytes().to_vec()
    }

    fn begin_batch(&mut self, seq: u64) {
        self.seq = seq;
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in &self.entries {
            out.extend_from_slice(&(entry.len() as u32).to_be_bytes());
            out.extend_from_slice(entry);
        }
        out
    }

    fn restore(&mut self, mut snapshot: &[u8]) -> Result<(), String> {
        let mut entries = Vec::new();
        while !snapshot.is_empty() {
            let (len, rest) = snapshot.split_at_checked(4).ok_or("a truncated length")?;
            let len = u32::from_be_bytes(len.try_into().map_err(|_| "length")?) as usize;
            let (entry, rest) = rest.split_at_checked(len).ok_or("a truncated entry")?;
            entries.push(entry.to_vec());
            snapshot = rest;
        }
        self.seqs = vec![0; entries.len()];
        self.entries = entries;
        Ok(())
    }
}

fn position(result: &[u8]) -> u64 {
    u64::from_be_bytes(result.try_into().expect("an 8-byte position"))
}

/// Four gateways driven by hand: every write durable at once, messages
/// delivered in order unless a node is down or cut off.
struct Cluster {
    config: PbftConfig,
    keys: BTreeMap<NodeId, Keyring>,
    identities: usize,
    options: GatewayOptions,
    nodes: BTreeMap<NodeId, Gateway<Log>>,
    disks: BTreeMap<NodeId, GatewayDisk>,
    inbox: VecDeque<(NodeId, NodeId, Envelope)>,
    /// Nodes that receive nothing (crashed, or cut off).
    deaf: BTreeSet<NodeId>,
    now: Instant,
    next_request: u64,
    answers: BTreeMap<RequestId, (NodeId, GatewayReply)>,
}

impl Cluster {
    fn new(identities: usize, options: GatewayOptions) -> Cluster {
        Self::with_config(config(), identities, options)
    }

    fn with_config(config: PbftConfig, identities: usize, options: GatewayOptions) -> Cluster {
        let mut nodes: Vec<NodeId> = REPLICAS.to_vec();
        for replica in REPLICAS {
            nodes.extend((0..identities).map(|k| gateway_client_id(replica, k)));
        }
        let mut cluster = Cluster {
            config,
            keys: Keyring::derive_all(0x9a7e, &nodes),
            identities,
            options,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            inbox: VecDeque::new(),
            deaf: BTreeSet::new(),
            now: Instant::ZERO,
            next_request: 0,
            answers: BTreeMap::new(),
        };
        for replica in REPLICAS {
            cluster.disks.insert(replica, GatewayDisk::default());
            cluster.boot(replica);
        }
        cluster
    }

    /// Starts `replica` from what its disk holds.
    fn boot(&mut self, replica: NodeId) {
        let disk = &self.disks[&replica];
        let clients = (0..self.identities)
            .map(|k| self.keys[&gateway_client_id(replica, k)].clone())
            .collect();
        let gateway = Gateway::recover(
            self.config.clone(),
            self.keys[&replica].clone(),
            clients,
            Log::default(),
            disk.replica.recovered(),
            disk.reserved_through,
            self.now,
        )
        .and_then(|gateway| gateway.with_options(self.options))
        .expect("a valid gateway");
        self.nodes.insert(replica, gateway);
        self.deaf.remove(&replica);
    }

    fn crash(&mut self, replica: NodeId) {
        self.nodes.remove(&replica);
        self.deaf.insert(replica);
    }

    fn input(&mut self, node: NodeId, input: Input<Envelope, Vec<u8>>) {
        let Some(gateway) = self.nodes.get_mut(&node) else {
            return;
        };
        let mut pending = VecDeque::from([input]);
        while let Some(input) = pending.pop_front() {
            let mut actions = Vec::new();
            gateway.handle(self.now, input, &mut actions);
            for action in actions {
                match action {
                    Action::Send { to, message } => self.inbox.push_back((node, to, message)),
                    Action::Persist { id, write } => {
                        self.disks
                            .get_mut(&node)
                            .expect("a disk per node")
                            .apply(write);
                        pending.push_back(Input::Persisted { up_to: id });
                    }
                    Action::Reply { id, response } => {
                        assert!(
                            self.answers.insert(id, (node, response)).is_none(),
                            "request {id:?} answered twice"
                        );
                    }
                    Action::ModeChanged(_) => {}
                }
            }
        }
    }

    fn submit(&mut self, node: NodeId, operation: &[u8]) -> RequestId {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        self.input(
            node,
            Input::Request {
                id,
                request: operation.to_vec(),
            },
        );
        id
    }

    fn deliver_all(&mut self) {
        while let Some((from, to, message)) = self.inbox.pop_front() {
            if !self.deaf.contains(&to) {
                self.input(to, Input::Message { from, message });
            }
        }
    }

    /// Runs until `done` holds or `limit` passes; whether it held.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Cluster) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.deliver_all();
            if done(self) {
                return true;
            }
            if self.now >= end {
                return false;
            }
            self.now = self.now + TICK;
            let due: Vec<NodeId> = self
                .nodes
                .iter()
                .filter(|(_, node)| node.next_deadline().is_some_and(|at| at <= self.now))
                .map(|(id, _)| *id)
                .collect();
            for node in due {
                self.input(node, Input::Tick);
            }
        }
    }

    fn answered(&self, ids: &[RequestId]) -> bool {
        ids.iter().all(|id| self.answers.contains_key(id))
    }

    fn executed(&self, id: RequestId) -> (u64, u64) {
        match &self.answers[&id] {
            (_, GatewayReply::Executed { seq, result }) => (*seq, position(result)),
            other => panic!("request {id:?}: {other:?}"),
        }
    }

    fn log(&self, replica: NodeId) -> &[Vec<u8>] {
        &self.nodes[&replica].replica().app().entries
    }
}

#[test]
fn operations_at_every_gateway_execute_once_with_their_own_result() {
    let mut cluster = Cluster::new(2, GatewayOptions::default());
    let mut ids = Vec::new();
    for round in 0..3 {
        for replica in REPLICAS {
            let operation = format!("op-{replica}-{round}");
            ids.push((cluster.submit(replica, operation.as_bytes()), operation));
        }
    }
    let all: Vec<RequestId> = ids.iter().map(|(id, _)| *id).collect();
    assert!(cluster.run_until(Duration::from_secs(5), |c| c.answered(&all)));
    assert!(cluster.run_until(Duration::from_secs(2), |c| {
        REPLICAS.iter().all(|r| c.log(*r).len() == ids.len())
    }));
    let log = cluster.log(1).to_vec();
    for replica in REPLICAS {
        assert_eq!(cluster.log(replica), &log[..], "replica {replica}");
    }
    let mut seqs = BTreeSet::new();
    for (id, operation) in &ids {
        let (seq, position) = cluster.executed(*id);
        // The result is the position this very operation executed at.
        assert_eq!(log[position as usize - 1], operation.as_bytes(), "{id:?}");
        assert_eq!(
            log.iter().filter(|e| *e == operation.as_bytes()).count(),
            1,
            "{operation} executed once"
        );
        // The answer names the sequence number it executed at.
        let executed_at = cluster.nodes[&1].replica().app().seqs[position as usize - 1];
        assert_eq!(seq, executed_at, "{id:?}");
        seqs.insert(seq);
    }
    assert!(
        seqs.len() >= 3,
        "12 operations in batches of at most 4: {seqs:?}"
    );
}

#[test]
fn a_restarted_gateway_never_reuses_a_timestamp() {
    let mut cluster = Cluster::new(1, GatewayOptions::default());
    let first = cluster.submit(2, b"before the crash");
    assert!(cluster.run_until(Duration::from_secs(3), |c| c.answered(&[first])));
    let (_, before) = cluster.executed(first);
    let used = cluster.nodes[&2].next_timestamp() - 1;
    assert_eq!(used, 1);
    assert!(cluster.disks[&2].reserved_through >= used);

    cluster.crash(2);
    cluster.boot(2);
    assert!(cluster.nodes[&2].next_timestamp() > used);
    // Without the reservation the restarted identity would send timestamp 1
    // again, and the replicas would answer it from their reply cache with
    // the first operation's result.
    let second = cluster.submit(2, b"after the restart");
    assert!(cluster.run_until(Duration::from_secs(5), |c| c.answered(&[second])));
    let (_, after) = cluster.executed(second);
    assert_ne!(after, before);
    let log = cluster.log(1);
    assert_eq!(log[after as usize - 1], b"after the restart");
}

#[test]
fn a_full_queue_refuses_and_the_rest_execute() {
    let options = GatewayOptions {
        queue_max: 1,
        ..GatewayOptions::default()
    };
    let mut cluster = Cluster::new(1, options);
    let sent = cluster.submit(3, b"one");
    let queued = cluster.submit(3, b"two");
    let refused = cluster.submit(3, b"three");
    assert!(matches!(
        cluster.answers.get(&refused),
        Some((3, GatewayReply::Refused { .. }))
    ));
    assert!(cluster.run_until(Duration::from_secs(5), |c| c.answered(&[sent, queued])));
    let (_, one) = cluster.executed(sent);
    let (_, two) = cluster.executed(queued);
    assert!(one < two, "FIFO on one identity");
    assert!(!cluster.log(1).iter().any(|e| e == b"three"));
}

#[test]
fn a_timeout_answers_unknown_and_the_identity_works_again() {
    let options = GatewayOptions {
        timeout: Duration::from_millis(800),
        ..GatewayOptions::default()
    };
    let mut cluster = Cluster::new(1, options);
    // Two replicas cut off: no quorum, nothing executes.
    cluster.deaf.extend([3, 4]);
    let stuck = cluster.submit(1, b"stuck");
    assert!(cluster.run_until(Duration::from_secs(2), |c| c.answered(&[stuck])));
    assert!(matches!(
        cluster.answers[&stuck],
        (1, GatewayReply::Unknown { .. })
    ));
    cluster.deaf.clear();
    let next = cluster.submit(1, b"next");
    assert!(cluster.run_until(Duration::from_secs(10), |c| c.answered(&[next])));
    let (_, position) = cluster.executed(next);
    assert_eq!(cluster.log(1)[position as usize - 1], b"next");
    let (executed, _) = cluster.nodes[&1].counts();
    assert_eq!(cluster.nodes[&1].counts(), (executed, 1));
}

#[test]
fn queued_operations_are_answered_after_the_primary_dies() {
    let mut cluster = Cluster::new(1, GatewayOptions::default());
    cluster.crash(1);
    let ids: Vec<RequestId> = (0..4)
        .map(|i| cluster.submit(3, format!("op-{i}").as_bytes()))
        .collect();
    assert!(cluster.run_until(Duration::from_secs(10), |c| c.answered(&ids)));
    let positions: Vec<u64> = ids.iter().map(|id| cluster.executed(*id).1).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(cluster.nodes[&3].replica().view() >= 1);
    for (i, position) in positions.iter().enumerate() {
        assert_eq!(
            cluster.log(3)[*position as usize - 1],
            format!("op-{i}").as_bytes()
        );
    }
}

#[test]
fn a_request_executed_by_state_transfer_is_still_answered() {
    // No retransmission in time to be answered from the reply cache: the
    // answer must come from what the transfer installed.
    let mut config = config();
    config.client_retransmit_timeout = Duration::from_secs(60);
    config.client_retransmit_timeout_max = Duration::from_secs(60);
    let options = GatewayOptions {
        timeout: Duration::from_secs(60),
        ..GatewayOptions::default()
    };
    let mut cluster = Cluster::with_config(config, 1, options);
    // Replica 4 sends its request out but hears nothing back, while the
    // others execute it and move past two checkpoints.
    cluster.deaf.insert(4);
    let behind = cluster.submit(4, b"ordered without its gateway");
    cluster.deliver_all();
    let others: Vec<RequestId> = (0..12)
        .map(|i| cluster.submit(1 + i % 3, format!("op-{i}").as_bytes()))
        .collect();
    assert!(cluster.run_until(Duration::from_secs(10), |c| c.answered(&others)));
    assert!(!cluster.answers.contains_key(&behind));
    assert!(cluster.nodes[&1].replica().low_watermark() >= 8);
    cluster.deaf.clear();
    assert!(cluster.run_until(Duration::from_secs(10), |c| c.answered(&[behind])));
    let (seq, position) = cluster.executed(behind);
    assert_eq!(
        cluster.log(1)[position as usize - 1],
        b"ordered without its gateway"
    );
    // Answered from the state the transfer installed: the checkpoint's
    // sequence number, and replica 4 did not execute it itself.
    assert_eq!(seq % 4, 0, "a checkpoint's sequence number, got {seq}");
    assert!(
        cluster.nodes[&4]
            .replica()
            .executions()
            .all(|(s, _)| s > seq)
    );
}

// ---- A seeded simulation ---------------------------------------------------

/// The key-value workload of the Byzantine simulations, each operation
/// sent to a gateway the seed picks.
struct GatewayKv(KvWorkload);

impl Workload<Gateway<MemKv>> for GatewayKv {
    type Op = KvOp<u64, u64>;
    type Ret = RegisterRet<u64>;

    fn next_op(&mut self, client: usize, rng: &mut SeededRng) -> Option<Self::Op> {
        Workload::<SimNode>::next_op(&mut self.0, client, rng)
    }

    fn request(
        &mut self,
        client: usize,
        op: &Self::Op,
        redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, Vec<u8>)> {
        let (_, operation) =
            Workload::<SimNode>::request(&mut self.0, client, op, redirect, nodes, rng)?;
        let gateway = nodes[rng.below(nodes.len() as u64) as usize];
        Some((gateway, operation))
    }

    fn interpret(
        &mut self,
        client: usize,
        op: &Self::Op,
        response: GatewayReply,
    ) -> SimReply<Self::Ret> {
        match response {
            GatewayReply::Executed { result, .. } => {
                let executed = ClientOutcome::Executed {
                    timestamp: 0,
                    result,
                };
                Workload::<SimNode>::interpret(&mut self.0, client, op, executed)
            }
            GatewayReply::Refused { .. } => SimReply::Fail,
            GatewayReply::Unknown { .. } => SimReply::Unknown,
        }
    }
}

fn run_simulation(seed: u64) -> Result<(), SimFailure> {
    const IDENTITIES: usize = 2;
    let mut nodes: Vec<NodeId> = REPLICAS.to_vec();
    for replica in REPLICAS {
        nodes.extend((0..IDENTITIES).map(|k| gateway_client_id(replica, k)));
    }
    let keys = Keyring::derive_all(0x9a7e, &nodes);
    let mut config = SimConfig::new(seed, REPLICAS.to_vec());
    config.clients.clients = 4;
    config.clients.request_timeout = Duration::from_secs(4);
    config.network.loss_probability = 0.01;
    config.network.duplicate_probability = 0.01;
    config.nemesis = Some(NemesisConfig {
        active_for: Duration::from_secs(4),
        fault_duration: Latency::Uniform {
            min: Duration::from_millis(20),
            max: Duration::from_millis(600),
        },
        ..NemesisConfig::default()
    });
    let boot = move |boot: Boot<'_, GatewayDisk>| {
        let clients = (0..IDENTITIES)
            .map(|k| keys[&gateway_client_id(boot.id, k)].clone())
            .collect();
        Gateway::recover(
            config_for_simulation(),
            keys[&boot.id].clone(),
            clients,
            MemKv::default(),
            boot.durable.replica.recovered(),
            boot.durable.reserved_through,
            boot.now,
        )
        .and_then(|gateway| {
            gateway.with_options(GatewayOptions {
                queue_max: 64,
                timeout: Duration::from_secs(3),
            })
        })
        .expect("a gateway boots from its own disk")
    };
    let mut sim =
        Simulation::new(config, GatewayKv(KvWorkload::new(3)), boot).expect("valid configuration");
    support::add_invariants(&mut sim);
    sim.run_for(Duration::from_secs(8))?;
    sim.stop_clients();
    sim.run_for(Duration::from_secs(4))?;
    sim.check_history(KvModel::new())?;
    let ok = sim
        .history()
        .operations()
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Ok(_)))
        .count();
    assert!(ok > 20, "seed {seed}: only {ok} operations succeeded");
    Ok(())
}

fn config_for_simulation() -> PbftConfig {
    let mut config = config();
    config.view_change_timeout_max = Duration::from_secs(2);
    config
}

#[test]
fn gateways_stay_linearizable_through_crashes_and_partitions() {
    tessera_sim::run_seeds(
        16,
        "-p tessera-pbft --test gateway gateways_stay",
        run_simulation,
    );
}

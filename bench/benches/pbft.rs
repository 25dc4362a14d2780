//! tessera-pbft against tessera-raft and against its own cryptographic
//! limit, in one process, in memory, with real cryptography:
//!
//! 1. **throughput** of n = 4 PBFT replicas (f = 1) with MAC
//!    authenticators and batches of at most 1, 16 and 64 requests, clients
//!    included (each signs its request with a MAC vector and checks the
//!    replies' MACs until f + 1 match), against tessera-raft with 3 nodes
//!    (with and without MACs) on the same workload — the same number of
//!    closed-loop clients, each putting a 16-byte value under its own key,
//!    appends of at most the same number of entries — with a target of at
//!    least 0.3× of Raft with MACs;
//! 2. **the cryptographic limit**: the digests, MACs and signatures one
//!    request needs — the client's MAC vector, every replica checking it,
//!    the batch digest at every replica, the pre-prepare, prepare and
//!    commit MAC vectors and their checks, every reply's MAC and its check,
//!    and a share of the signed checkpoints — performed alone, in a loop;
//!    target: PBFT reaches at least 0.5× of it;
//! 3. **latency**: one client, one request at a time, PBFT against Raft.
//!
//! Time is the benchmark thread's CPU time (see `support/thread_cpu_time.rs`):
//! the machine is shared, and every node runs on this one thread, so the
//! CPU time per request is the whole cluster's work for it. Each figure is
//! the median of interleaved rounds.
//!
//! ```sh
//! cargo bench -p tessera-bench --bench pbft
//! ```
//!
//! The Raft baseline runs twice: as it is (its in-process messages are not
//! authenticated) and **with MACs** — every message between the nodes
//! sealed by its sender with PBFT's MAC primitive and key setup
//! (`Keyring::mac_bytes_for` over the message's fields, see
//! `pbft_support/raft_macs.rs`) and checked by its recipient before the
//! node sees it. The issue's target is against Raft with MACs.
//!
//! `PBFT_PROFILE=64` (any batch size) runs only PBFT, 204,800 requests at
//! that batch size, and prints its rate: a steady loop to profile.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_core::{Action, Input, Instant, NodeId, Protocol, RequestId};
use tessera_pbft::{
    Batch, Checkpoint, Client, ClientDisk, ClientOutcome, ClientRequest, Digest, Envelope, Keyring,
    KvCommand, Mac, MemKv, Payload, PbftConfig, PbftDisk, PrePrepare, Replica, Reply, StateMachine,
    Vote,
};
use tessera_raft::{
    RaftConfig, RaftDisk, RaftNode, Request as RaftRequest, Response as RaftResponse,
    SnapshotBuffer, Startup,
};

#[path = "pbft_support/raft_macs.rs"]
mod raft_macs;
#[path = "support/thread_cpu_time.rs"]
mod thread_cpu_time;
use thread_cpu_time::ThreadCpuTime;

const KEY_SEED: u64 = 7;
const CLIENT_BASE: NodeId = 100;
/// Batches in flight at the PBFT primary; Raft's pipeline is as deep.
const IN_FLIGHT: usize = 4;
/// Requests measured per round and batch size.
const REQUESTS_PER_ROUND: u64 = 4096;
/// Interleaved rounds per figure; the median is reported.
const ROUNDS: usize = 5;
const VALUE_BYTES: usize = 16;

fn thread_cpu() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// Client `client`'s put of a 16-byte value holding `counter` under its own
/// key: the bytes of `KvCommand::Put(key, value).encode()`, written in one
/// allocation (PBFT, Raft and the limit all pay it).
fn operation(client: usize, counter: u64) -> Vec<u8> {
    const LEN: usize = 1 + 4 + 8 + 4 + VALUE_BYTES;
    let mut out = Vec::with_capacity(LEN);
    out.push(2);
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(client as u64).to_le_bytes());
    out.extend_from_slice(&(VALUE_BYTES as u32).to_le_bytes());
    out.extend_from_slice(&counter.to_le_bytes());
    out.resize(LEN, 0);
    out
}

/// Checks [`operation`] against the key-value store's own encoding.
fn check_operation_encoding() {
    let mut value = vec![0u8; VALUE_BYTES];
    value[..8].copy_from_slice(&77u64.to_le_bytes());
    let expected = KvCommand::Put(5u64.to_le_bytes().to_vec(), value).encode();
    assert_eq!(operation(5, 77), expected, "the benchmark's put encoding");
}

// ---- PBFT, n = 4 ----------------------------------------------------------

enum PbftInput {
    Replica(usize, Input<Envelope, ClientRequest>),
    Client(usize, Input<Envelope, Vec<u8>>),
}

struct PbftCluster {
    replicas: Vec<Replica<MemKv>>,
    disks: Vec<PbftDisk>,
    clients: Vec<Client>,
    queue: VecDeque<PbftInput>,
    /// Reused for every step's actions, as a network driver would.
    replica_actions: Vec<Action<Envelope, tessera_pbft::PbftWrite, Reply, tessera_pbft::PbftMode>>,
    client_actions:
        Vec<Action<Envelope, tessera_pbft::ClientWrite, ClientOutcome, tessera_pbft::PbftMode>>,
    issued: u64,
    completed: u64,
    limit: u64,
    next_request: u64,
}

impl PbftCluster {
    fn new(batch: usize, clients: usize) -> PbftCluster {
        let replicas: Vec<NodeId> = vec![1, 2, 3, 4];
        let mut config = PbftConfig::new(replicas.clone()).expect("four replicas");
        config.batch_size_max = batch;
        config.batches_in_flight_max = IN_FLIGHT;
        let mut nodes = replicas.clone();
        nodes.extend((0..clients as u64).map(|i| CLIENT_BASE + i));
        let all_keys = Keyring::derive_all(KEY_SEED, &nodes);
        let keys = |id| all_keys[&id].clone();
        PbftCluster {
            replicas: replicas
                .iter()
                .map(|id| {
                    Replica::new(config.clone(), keys(*id), MemKv::default(), Instant::ZERO)
                        .expect("a replica")
                })
                .collect(),
            disks: replicas.iter().map(|_| PbftDisk::default()).collect(),
            clients: (0..clients as u64)
                .map(|i| {
                    Client::new(
                        config.clone(),
                        keys(CLIENT_BASE + i),
                        &ClientDisk::default(),
                        Instant::ZERO,
                    )
                    .expect("a client")
                })
                .collect(),
            queue: VecDeque::new(),
            replica_actions: Vec::new(),
            client_actions: Vec::new(),
            issued: 0,
            completed: 0,
            limit: 0,
            next_request: 1,
        }
    }

    fn route(&mut self, to: NodeId, message: Envelope, from: NodeId) {
        if to >= CLIENT_BASE {
            self.queue.push_back(PbftInput::Client(
                (to - CLIENT_BASE) as usize,
                Input::Message { from, message },
            ));
        } else {
            self.queue.push_back(PbftInput::Replica(
                to as usize - 1,
                Input::Message { from, message },
            ));
        }
    }

    fn submit(&mut self, client: usize) {
        if self.issued >= self.limit {
            return;
        }
        self.issued += 1;
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let request = operation(client, self.issued);
        self.queue
            .push_back(PbftInput::Client(client, Input::Request { id, request }));
    }

    fn step_replica(&mut self, at: usize, input: Input<Envelope, ClientRequest>) {
        let mut input = Some(input);
        while let Some(next) = input.take() {
            let mut actions = std::mem::take(&mut self.replica_actions);
            self.replicas[at].handle(Instant::ZERO, next, &mut actions);
            let from = at as NodeId + 1;
            for action in actions.drain(..) {
                match action {
                    Action::Send { to, message } => self.route(to, message, from),
                    Action::Persist { id, write } => {
                        tessera_core::DurableState::apply(&mut self.disks[at], write);
                        input = Some(Input::Persisted { up_to: id });
                    }
                    Action::Reply { .. } | Action::ModeChanged(_) => {}
                }
            }
            self.replica_actions = actions;
        }
    }

    fn step_client(&mut self, at: usize, input: Input<Envelope, Vec<u8>>) {
        let mut input = Some(input);
        while let Some(next) = input.take() {
            let mut actions = std::mem::take(&mut self.client_actions);
            self.clients[at].handle(Instant::ZERO, next, &mut actions);
            let from = CLIENT_BASE + at as NodeId;
            for action in actions.drain(..) {
                match action {
                    Action::Send { to, message } => self.route(to, message, from),
                    Action::Persist { id, .. } => input = Some(Input::Persisted { up_to: id }),
                    Action::Reply {
                        response: ClientOutcome::Executed { .. },
                        ..
                    } => {
                        self.completed += 1;
                        self.submit(at);
                    }
                    Action::Reply { .. } | Action::ModeChanged(_) => {}
                }
            }
            self.client_actions = actions;
        }
    }

    /// Runs until `requests` more requests completed.
    fn run(&mut self, requests: u64) {
        let target = self.completed + requests;
        self.limit = self.issued + requests;
        let idle: Vec<usize> = (0..self.clients.len())
            .filter(|c| self.clients[*c].outstanding() == 0)
            .collect();
        for client in idle {
            self.submit(client);
        }
        while self.completed < target {
            match self.queue.pop_front() {
                Some(PbftInput::Replica(at, input)) => self.step_replica(at, input),
                Some(PbftInput::Client(at, input)) => self.step_client(at, input),
                None => panic!(
                    "the PBFT cluster went quiet at {} of {target}",
                    self.completed
                ),
            }
        }
    }

    /// Mean requests per batch the primary ordered.
    fn mean_batch(&self) -> f64 {
        let (batches, requests) = self.replicas[0].ordered();
        requests as f64 / batches.max(1) as f64
    }
}

// ---- Raft, 3 nodes -------------------------------------------------------

/// The same key-value store under Raft.
#[derive(Default)]
struct RaftKv {
    kv: MemKv,
    snapshots: SnapshotBuffer,
}

impl tessera_raft::StateMachine for RaftKv {
    type Command = Vec<u8>;
    type Output = Vec<u8>;
    type Query = ();
    type QueryOutput = ();

    fn apply(&mut self, _index: u64, command: &Vec<u8>) -> Vec<u8> {
        self.kv.apply(command)
    }

    fn query(&self, _: &()) {}

    fn snapshot_capture(&mut self) -> u64 {
        self.snapshots.capture(self.kv.snapshot())
    }

    fn snapshot_read(&self, offset: u64, len: usize) -> Vec<u8> {
        self.snapshots.read(offset, len)
    }

    fn restore_begin(&mut self) {
        self.snapshots.begin_restore()
    }

    fn restore_chunk(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.snapshots.push_chunk(chunk)
    }

    fn restore_finish(&mut self) -> Result<(), String> {
        let bytes = self.snapshots.finish_restore();
        self.kv.restore(&bytes)
    }
}

type RaftInput = tessera_raft::RaftInput<RaftKv>;

/// Raft with MACs: every message between nodes sealed by its sender for
/// its recipient and checked by the recipient before the node sees it,
/// with PBFT's MAC primitive and key setup.
struct RaftMacs {
    keys: Vec<Keyring>,
    /// Reused for the bytes each MAC covers.
    scratch: Vec<u8>,
    /// Messages whose MAC did not verify (dropped; none expected).
    rejected: u64,
}

struct RaftCluster {
    nodes: Vec<RaftNode<RaftKv>>,
    disks: Vec<RaftDisk<Vec<u8>>>,
    /// Inputs, with the MAC of each message when MACs are on.
    queue: VecDeque<(usize, RaftInput, Option<Mac>)>,
    macs: Option<RaftMacs>,
    /// Reused for every step's actions, as a network driver would.
    actions: Vec<tessera_raft::RaftAction<RaftKv>>,
    clients: usize,
    waiting: std::collections::BTreeMap<RequestId, usize>,
    leader: usize,
    issued: u64,
    completed: u64,
    limit: u64,
    next_request: u64,
    now: Instant,
}

impl RaftCluster {
    /// A three-node cluster, its leader elected; `macs` authenticates
    /// every message between the nodes.
    fn new(batch: usize, clients: usize, macs: bool) -> RaftCluster {
        let ids = vec![1u64, 2, 3];
        let mut config = RaftConfig::default();
        config.append_entries_max = batch;
        config.inflight_messages_max = IN_FLIGHT;
        config.proposals_pending_max = config.proposals_pending_max.max(clients * 2);
        let nodes = ids
            .iter()
            .map(|&id| {
                let startup = Startup::bootstrap(id, id, Instant::ZERO, ids.clone());
                RaftNode::start(startup, config.clone(), RaftKv::default()).expect("a raft node")
            })
            .collect();
        let mut cluster = RaftCluster {
            nodes,
            disks: ids.iter().map(|_| RaftDisk::new()).collect(),
            queue: VecDeque::new(),
            macs: macs.then(|| {
                let mut keys = Keyring::derive_all(KEY_SEED, &ids);
                RaftMacs {
                    keys: ids
                        .iter()
                        .map(|id| keys.remove(id).expect("a keyring per node"))
                        .collect(),
                    scratch: Vec::new(),
                    rejected: 0,
                }
            }),
            actions: Vec::new(),
            clients,
            waiting: std::collections::BTreeMap::new(),
            leader: 0,
            issued: 0,
            completed: 0,
            limit: 0,
            next_request: 1,
            now: Instant::ZERO,
        };
        while !cluster.nodes.iter().any(RaftNode::is_leader) {
            cluster.now = cluster.now + Duration::from_millis(10);
            for (at, node) in cluster.nodes.iter().enumerate() {
                if node.next_deadline().is_some_and(|d| d <= cluster.now) {
                    cluster.queue.push_back((at, Input::Tick, None));
                }
            }
            cluster.drain();
        }
        cluster.leader = cluster
            .nodes
            .iter()
            .position(RaftNode::is_leader)
            .expect("a leader");
        cluster
    }

    fn submit(&mut self, client: usize) {
        if self.issued >= self.limit {
            return;
        }
        self.issued += 1;
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.waiting.insert(id, client);
        let request = RaftRequest::Propose(operation(client, self.issued));
        self.queue
            .push_back((self.leader, Input::Request { id, request }, None));
    }

    fn drain(&mut self) {
        while let Some((at, input, mac)) = self.queue.pop_front() {
            self.deliver(at, input, mac);
        }
    }

    /// Hands `input` to node `at`, once its MAC checks out if MACs are on.
    fn deliver(&mut self, at: usize, input: RaftInput, mac: Option<Mac>) {
        if let (Some(macs), Input::Message { from, message }) = (&mut self.macs, &input) {
            raft_macs::authenticated_bytes(&mut macs.scratch, *from, at as NodeId + 1, message);
            let valid = mac
                .is_some_and(|tag| macs.keys[at].check_mac_bytes_from(*from, &macs.scratch, &tag));
            if !valid {
                macs.rejected += 1;
                return;
            }
        }
        self.step(at, input);
    }

    fn step(&mut self, at: usize, input: RaftInput) {
        let mut input = Some(input);
        while let Some(next) = input.take() {
            let mut actions = std::mem::take(&mut self.actions);
            self.nodes[at].handle(self.now, next, &mut actions);
            for action in actions.drain(..) {
                match action {
                    Action::Send { to, message } => {
                        let from = at as NodeId + 1;
                        let mac = self.macs.as_mut().map(|macs| {
                            raft_macs::authenticated_bytes(&mut macs.scratch, from, to, &message);
                            macs.keys[at]
                                .mac_bytes_for(to, &macs.scratch)
                                .expect("a MAC key for every peer")
                        });
                        self.queue.push_back((
                            to as usize - 1,
                            Input::Message { from, message },
                            mac,
                        ));
                    }
                    Action::Persist { id, write } => {
                        self.disks[at].write(write).expect("an in-memory write");
                        input = Some(Input::Persisted { up_to: id });
                    }
                    Action::Reply { id, response } => {
                        if let Some(client) = self.waiting.remove(&id)
                            && matches!(response, RaftResponse::Applied { .. })
                        {
                            self.completed += 1;
                            self.submit(client);
                        }
                    }
                    Action::ModeChanged(_) => {}
                }
            }
            self.actions = actions;
        }
    }

    fn run(&mut self, requests: u64) {
        let target = self.completed + requests;
        self.limit = self.issued + requests;
        let busy: std::collections::BTreeSet<usize> = self.waiting.values().copied().collect();
        for client in 0..self.clients {
            if !busy.contains(&client) {
                self.submit(client);
            }
        }
        while self.completed < target {
            let Some((at, input, mac)) = self.queue.pop_front() else {
                panic!(
                    "the Raft cluster went quiet at {} of {target}",
                    self.completed
                );
            };
            self.deliver(at, input, mac);
        }
        if let Some(macs) = &self.macs {
            assert_eq!(macs.rejected, 0, "a Raft message failed its MAC check");
        }
    }
}

// ---- The cryptographic limit -----------------------------------------------

/// The cryptography of `batch` requests through n = 4 replicas, alone: what
/// the protocol computes for them, with none of the protocol around it.
struct CryptoWork {
    config: PbftConfig,
    replicas: Vec<Keyring>,
    client: Keyring,
    operations: Vec<Vec<u8>>,
    batches: u64,
}

impl CryptoWork {
    fn new(batch: usize) -> CryptoWork {
        let nodes = [1, 2, 3, 4, CLIENT_BASE];
        let config = PbftConfig::new([1, 2, 3, 4]).expect("four replicas");
        CryptoWork {
            replicas: (1..=4)
                .map(|id| Keyring::derive(KEY_SEED, id, &nodes))
                .collect(),
            client: Keyring::derive(KEY_SEED, CLIENT_BASE, &nodes),
            operations: (0..batch).map(|i| operation(i, i as u64)).collect(),
            config,
            batches: 0,
        }
    }

    fn batch(&mut self) {
        let config = &self.config;
        let seq = self.batches + 1;
        // The client seals each request; every replica checks its entry.
        let requests: Vec<ClientRequest> = self
            .operations
            .iter()
            .map(|op| ClientRequest::seal(&self.client, config, seq, op.clone()))
            .collect();
        for keys in &self.replicas {
            for request in &requests {
                black_box(request.verify(keys, config));
            }
        }
        let batch = Arc::new(Batch::new(requests));
        // The primary digests and seals the pre-prepare; each backup digests
        // the batch and checks the pre-prepare.
        let digest = batch.digest();
        let pre_prepare = Envelope::seal_for_replicas(
            &self.replicas[0],
            config,
            Payload::PrePrepare(PrePrepare {
                view: 0,
                seq,
                digest,
                batch: batch.clone(),
            }),
        );
        let vote = Vote {
            view: 0,
            seq,
            digest,
        };
        let prepares: Vec<Envelope> = self.replicas[1..]
            .iter()
            .map(|keys| Envelope::seal_for_replicas(keys, config, Payload::Prepare(vote)))
            .collect();
        let commits: Vec<Envelope> = self
            .replicas
            .iter()
            .map(|keys| Envelope::seal_for_replicas(keys, config, Payload::Commit(vote)))
            .collect();
        for (at, keys) in self.replicas.iter().enumerate() {
            if at > 0 {
                black_box(batch.digest());
                black_box(pre_prepare.verify(keys, config).is_ok());
            }
            for prepare in prepares
                .iter()
                .filter(|p| p.sender != keys.id() && keys.id() != 1)
            {
                black_box(prepare.verify(keys, config).is_ok());
            }
            for commit in commits.iter().filter(|c| c.sender != keys.id()) {
                black_box(commit.verify(keys, config).is_ok());
            }
        }
        // Every replica replies to every request; the client checks replies
        // until f + 1 match (later ones are dropped unchecked).
        for request in batch.requests.iter() {
            for (at, keys) in self.replicas.iter().enumerate() {
                let reply = Reply {
                    view: 0,
                    timestamp: request.timestamp,
                    client: CLIENT_BASE,
                    replica: keys.id(),
                    result: vec![2],
                };
                let envelope = Envelope::seal_for(keys, config, Payload::Reply(reply), CLIENT_BASE);
                if at < config.weak_quorum_size() {
                    black_box(envelope.verify(&self.client, config).is_ok());
                }
            }
        }
        // A checkpoint every K sequence numbers: state digest, a signature
        // per replica, 3f + 1 − 1 checks each.
        self.batches += 1;
        if self.batches.is_multiple_of(config.checkpoint_interval) {
            let digest = Digest::of(&MemKv::default().snapshot());
            let signed: Vec<Envelope> = self
                .replicas
                .iter()
                .map(|keys| {
                    Envelope::seal_for_replicas(
                        keys,
                        config,
                        Payload::Checkpoint(Checkpoint { seq, digest }),
                    )
                })
                .collect();
            for keys in &self.replicas {
                for message in signed.iter().filter(|m| m.sender != keys.id()) {
                    black_box(message.verify(keys, config).is_ok());
                }
            }
        }
    }
}

// ---- Figures ----------------------------------------------------------------

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn per_second(requests: u64, cpu: Duration) -> f64 {
    requests as f64 / cpu.as_secs_f64()
}

/// Interleaved rounds: PBFT, Raft with MACs, Raft without, and the
/// cryptographic limit side by side.
fn figures() {
    println!();
    println!(
        "| max batch | PBFT req/s | mean batch | Raft+MACs req/s | PBFT/(Raft+MACs) | Raft req/s | PBFT/Raft | crypto limit req/s | PBFT/limit | PBFT latency under load | Raft+MACs latency under load |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for batch in [1usize, 16, 64] {
        let clients = batch * IN_FLIGHT;
        let mut pbft = PbftCluster::new(batch, clients);
        let mut raft_macs = RaftCluster::new(batch, clients, true);
        let mut raft = RaftCluster::new(batch, clients, false);
        let mut crypto = CryptoWork::new(batch);
        pbft.run(REQUESTS_PER_ROUND / 4);
        raft_macs.run(REQUESTS_PER_ROUND / 4);
        raft.run(REQUESTS_PER_ROUND / 4);
        let mut rates: [Vec<f64>; 4] = Default::default();
        let mut ratios: [Vec<f64>; 3] = Default::default();
        for _ in 0..ROUNDS {
            let start = thread_cpu();
            pbft.run(REQUESTS_PER_ROUND);
            let pbft_rate = per_second(REQUESTS_PER_ROUND, thread_cpu() - start);
            let start = thread_cpu();
            raft_macs.run(REQUESTS_PER_ROUND);
            let raft_macs_rate = per_second(REQUESTS_PER_ROUND, thread_cpu() - start);
            let start = thread_cpu();
            raft.run(REQUESTS_PER_ROUND);
            let raft_rate = per_second(REQUESTS_PER_ROUND, thread_cpu() - start);
            let batches = REQUESTS_PER_ROUND / batch as u64;
            let start = thread_cpu();
            for _ in 0..batches {
                crypto.batch();
            }
            let limit_rate = per_second(batches * batch as u64, thread_cpu() - start);
            for (all, rate) in
                rates
                    .iter_mut()
                    .zip([pbft_rate, raft_macs_rate, raft_rate, limit_rate])
            {
                all.push(rate);
            }
            ratios[0].push(pbft_rate / raft_macs_rate);
            ratios[1].push(pbft_rate / raft_rate);
            ratios[2].push(pbft_rate / limit_rate);
        }
        let [pbft_rate, raft_macs_rate, raft_rate, limit_rate] = rates.map(median);
        let [vs_raft_macs, vs_raft, vs_limit] = ratios.map(median);
        println!(
            "| {batch} | {pbft_rate:.0} | {:.1} | {raft_macs_rate:.0} | {vs_raft_macs:.2} | {raft_rate:.0} | {vs_raft:.2} | {limit_rate:.0} | {vs_limit:.2} | {:.1} µs | {:.1} µs |",
            pbft.mean_batch(),
            clients as f64 / pbft_rate * 1e6,
            clients as f64 / raft_macs_rate * 1e6,
        );
    }
    // One client, one request at a time: the CPU time of a request's
    // whole path through the cluster.
    let mut pbft = PbftCluster::new(1, 1);
    let mut raft_macs = RaftCluster::new(1, 1, true);
    let mut raft = RaftCluster::new(1, 1, false);
    pbft.run(256);
    raft_macs.run(256);
    raft.run(256);
    let mut latencies: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        let start = thread_cpu();
        pbft.run(1024);
        latencies[0].push((thread_cpu() - start).as_secs_f64() / 1024.0 * 1e6);
        let start = thread_cpu();
        raft_macs.run(1024);
        latencies[1].push((thread_cpu() - start).as_secs_f64() / 1024.0 * 1e6);
        let start = thread_cpu();
        raft.run(1024);
        latencies[2].push((thread_cpu() - start).as_secs_f64() / 1024.0 * 1e6);
    }
    let [pbft_latency, raft_macs_latency, raft_latency] = latencies.map(median);
    println!();
    println!(
        "one client, one request at a time: PBFT {pbft_latency:.1} µs, Raft with MACs {raft_macs_latency:.1} µs, Raft {raft_latency:.1} µs per request"
    );
    println!();
}

fn benches(c: &mut Criterion<ThreadCpuTime>) {
    check_operation_encoding();
    if let Some(batch) = std::env::var("PBFT_PROFILE")
        .ok()
        .and_then(|b| b.parse::<usize>().ok())
    {
        let mut pbft = PbftCluster::new(batch, batch * IN_FLIGHT);
        pbft.run(REQUESTS_PER_ROUND);
        let start = thread_cpu();
        pbft.run(REQUESTS_PER_ROUND * 50);
        let rate = per_second(REQUESTS_PER_ROUND * 50, thread_cpu() - start);
        println!("PBFT batch {batch}: {rate:.0} req/s");
        return;
    }
    figures();
    let mut group = c.benchmark_group("pbft");
    group.sample_size(10);
    group.throughput(Throughput::Elements(REQUESTS_PER_ROUND));
    for batch in [1usize, 16, 64] {
        let mut pbft = PbftCluster::new(batch, batch * IN_FLIGHT);
        group.bench_function(format!("pbft_n4_batch_{batch}"), |b| {
            b.iter(|| pbft.run(REQUESTS_PER_ROUND))
        });
        let mut raft_macs = RaftCluster::new(batch, batch * IN_FLIGHT, true);
        group.bench_function(format!("raft_macs_n3_batch_{batch}"), |b| {
            b.iter(|| raft_macs.run(REQUESTS_PER_ROUND))
        });
        let mut raft = RaftCluster::new(batch, batch * IN_FLIGHT, false);
        group.bench_function(format!("raft_n3_batch_{batch}"), |b| {
            b.iter(|| raft.run(REQUESTS_PER_ROUND))
        });
        let mut crypto = CryptoWork::new(batch);
        let batches = REQUESTS_PER_ROUND / batch as u64;
        group.bench_function(format!("crypto_limit_batch_{batch}"), |b| {
            b.iter(|| {
                for _ in 0..batches {
                    crypto.batch();
                }
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = pbft;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = benches
}
criterion_main!(pbft);

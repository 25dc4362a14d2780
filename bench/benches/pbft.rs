//! tessera-pbft against tessera-raft and against its own cryptographic
//! limit, in one process, in memory, with real cryptography:
//!
//! 1. **throughput** of n = 4 PBFT replicas (f = 1) with MAC
//!    authenticators and batches of at most 1, 16 and 64 requests, clients
//!    included (each signs its request with a MAC vector and checks the
//!    replies' MACs until f + 1 match), against tessera-raft with 3 nodes
//!    on the same workload — the same number of closed-loop clients, each
//!    putting a 16-byte value under its own key, appends of at most the
//!    same number of entries — with a target of at least 0.3× of Raft;
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

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_core::{Action, Input, Instant, NodeId, Protocol, RequestId};
use tessera_pbft::{
    Batch, Checkpoint, Client, ClientDisk, ClientOutcome, ClientRequest, Digest, Envelope, Keyring,
    KvCommand, MemKv, Payload, PbftConfig, PbftDisk, PrePrepare, Replica, Reply, StateMachine,
    Vote,
};
use tessera_raft::{
    RaftConfig, RaftDisk, RaftNode, Request as RaftRequest, Response as RaftResponse,
    SnapshotBuffer, Startup,
};

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

fn operation(client: usize, counter: u64) -> Vec<u8> {
    let mut value = vec![0u8; VALUE_BYTES];
    value[..8].copy_from_slice(&counter.to_le_bytes());
    KvCommand::Put((client as u64).to_le_bytes().to_vec(), value).encode()
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
            let mut actions = Vec::new();
            self.replicas[at].handle(Instant::ZERO, next, &mut actions);
            let from = at as NodeId + 1;
            for action in actions {
                match action {
                    Action::Send { to, message } => self.route(to, message, from),
                    Action::Persist { id, write } => {
                        tessera_core::DurableState::apply(&mut self.disks[at], write);
                        input = Some(Input::Persisted { up_to: id });
                    }
                    Action::Reply { .. } | Action::ModeChanged(_) => {}
                }
            }
        }
    }

    fn step_client(&mut self, at: usize, input: Input<Envelope, Vec<u8>>) {
        let mut input = Some(input);
        while let Some(next) = input.take() {
            let mut actions = Vec::new();
            self.clients[at].handle(Instant::ZERO, next, &mut actions);
            let from = CLIENT_BASE + at as NodeId;
            for action in actions {
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

struct RaftCluster {
    nodes: Vec<RaftNode<RaftKv>>,
    disks: Vec<RaftDisk<Vec<u8>>>,
    queue: VecDeque<(usize, RaftInput)>,
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
    fn new(batch: usize, clients: usize) -> RaftCluster {
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
                    cluster.queue.push_back((at, Input::Tick));
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
            .push_back((self.leader, Input::Request { id, request }));
    }

    fn drain(&mut self) {
        while let Some((at, input)) = self.queue.pop_front() {
            self.step(at, input);
        }
    }

    fn step(&mut self, at: usize, input: RaftInput) {
        let mut input = Some(input);
        while let Some(next) = input.take() {
            let mut actions = Vec::new();
            self.nodes[at].handle(self.now, next, &mut actions);
            for action in actions {
                match action {
                    Action::Send { to, message } => {
                        self.queue.push_back((
                            to as usize - 1,
                            Input::Message {
                                from: at as NodeId + 1,
                                message,
                            },
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
            let Some((at, input)) = self.queue.pop_front() else {
                panic!(
                    "the Raft cluster went quiet at {} of {target}",
                    self.completed
                );
            };
            self.step(at, input);
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

/// Interleaved rounds: PBFT, Raft and the cryptographic limit side by side.
fn figures() {
    println!();
    println!(
        "| max batch | PBFT req/s | mean batch | Raft req/s | PBFT/Raft | crypto limit req/s | PBFT/limit | PBFT latency under load | Raft latency under load |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for batch in [1usize, 16, 64] {
        let clients = batch * IN_FLIGHT;
        let mut pbft = PbftCluster::new(batch, clients);
        let mut raft = RaftCluster::new(batch, clients);
        let mut crypto = CryptoWork::new(batch);
        pbft.run(REQUESTS_PER_ROUND / 4);
        raft.run(REQUESTS_PER_ROUND / 4);
        let (mut pbft_rates, mut raft_rates, mut limit_rates, mut vs_raft, mut vs_limit) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let start = thread_cpu();
            pbft.run(REQUESTS_PER_ROUND);
            let pbft_rate = per_second(REQUESTS_PER_ROUND, thread_cpu() - start);
            let start = thread_cpu();
            raft.run(REQUESTS_PER_ROUND);
            let raft_rate = per_second(REQUESTS_PER_ROUND, thread_cpu() - start);
            let batches = REQUESTS_PER_ROUND / batch as u64;
            let start = thread_cpu();
            for _ in 0..batches {
                crypto.batch();
            }
            let limit_rate = per_second(batches * batch as u64, thread_cpu() - start);
            pbft_rates.push(pbft_rate);
            raft_rates.push(raft_rate);
            limit_rates.push(limit_rate);
            vs_raft.push(pbft_rate / raft_rate);
            vs_limit.push(pbft_rate / limit_rate);
        }
        let (pbft_rate, raft_rate) = (median(pbft_rates), median(raft_rates));
        println!(
            "| {batch} | {:.0} | {:.1} | {:.0} | {:.2} | {:.0} | {:.2} | {:.1} µs | {:.1} µs |",
            pbft_rate,
            pbft.mean_batch(),
            raft_rate,
            median(vs_raft),
            median(limit_rates),
            median(vs_limit),
            clients as f64 / pbft_rate * 1e6,
            clients as f64 / raft_rate * 1e6,
        );
    }
    // One client, one request at a time: the CPU time of a request's
    // whole path through the cluster.
    let mut pbft = PbftCluster::new(1, 1);
    let mut raft = RaftCluster::new(1, 1);
    pbft.run(256);
    raft.run(256);
    let (mut pbft_latency, mut raft_latency) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = thread_cpu();
        pbft.run(1024);
        pbft_latency.push((thread_cpu() - start).as_secs_f64() / 1024.0 * 1e6);
        let start = thread_cpu();
        raft.run(1024);
        raft_latency.push((thread_cpu() - start).as_secs_f64() / 1024.0 * 1e6);
    }
    let (pbft_latency, raft_latency) = (median(pbft_latency), median(raft_latency));
    println!();
    println!(
        "one client, one request at a time: PBFT {pbft_latency:.1} µs, Raft {raft_latency:.1} µs per request (ratio {:.2})",
        raft_latency / pbft_latency
    );
    println!();
}

fn benches(c: &mut Criterion<ThreadCpuTime>) {
    figures();
    let mut group = c.benchmark_group("pbft");
    group.sample_size(10);
    group.throughput(Throughput::Elements(REQUESTS_PER_ROUND));
    for batch in [1usize, 16, 64] {
        let mut pbft = PbftCluster::new(batch, batch * IN_FLIGHT);
        group.bench_function(format!("pbft_n4_batch_{batch}"), |b| {
            b.iter(|| pbft.run(REQUESTS_PER_ROUND))
        });
        let mut raft = RaftCluster::new(batch, batch * IN_FLIGHT);
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

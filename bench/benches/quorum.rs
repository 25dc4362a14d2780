//! tessera-quorum's figures against the targets of its issue (there is no
//! peer crate doing the same job in the same way, so each figure is
//! reported against its target):
//!
//! 1. anti-entropy between two replicas of 1,000,000 keys of which 100
//!    differ: bytes exchanged, messages (rounds), and the ratio of bytes to
//!    the minimum — the 100 objects plus the hashes on their paths — with a
//!    target of at most 4×;
//! 2. Merkle tree build time and incremental update time for 10³ … 10⁶
//!    keys: updates cost O(depth) = O(log n), not a rebuild;
//! 3. coordinator throughput in the simulator, N = 3, R = W = 2.
//!
//! ```sh
//! cargo bench -p tessera-bench --bench quorum
//! ```

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant as WallClock};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_core::{NodeId, SeededRng};
use tessera_quorum::{
    AntiEntropySession, ConflictPolicy, KeyRange, MerkleTree, ObjectStore, Replica, ReplicaConfig,
    ReplicaDisk, ReplicaRequest, ReplicaResponse, RequestOptions, Ring, Version,
};
use tessera_sim::{Boot, Latency, Reply, SimConfig, Simulation, Workload};
use tessera_vclock::{CompactEncoding, Dot, DottedVersionVector, VersionVector};

/// The whole ring as one range.
const WHOLE_RING: KeyRange = KeyRange {
    start: u64::MAX,
    end: u64::MAX,
};

const KEYS: u64 = 1_000_000;
const DIFFERING: u64 = 100;
/// Bytes of each value: a small record.
const VALUE_BYTES: usize = 32;

fn key(i: u64) -> Vec<u8> {
    format!("user:{i:08}").into_bytes()
}

fn version(actor: NodeId, counter: u64, context: VersionVector, i: u64) -> Version<Vec<u8>> {
    let mut value = vec![0u8; VALUE_BYTES];
    value[..8].copy_from_slice(&i.to_le_bytes());
    value[8..16].copy_from_slice(&counter.to_le_bytes());
    Version {
        clock: DottedVersionVector::new(Dot::new(actor, counter), context).expect("fresh dot"),
        value: Some(value),
    }
}

/// Two replicas of `KEYS` keys, each key written once by one of three
/// coordinators; on `a`, `DIFFERING` keys spread over the key space have a
/// newer version that `b` lacks. Returns the stores and the differing keys.
fn two_replicas(depth: u8) -> (ObjectStore<Vec<u8>>, ObjectStore<Vec<u8>>, Vec<u64>) {
    let mut a = ObjectStore::new(depth).expect("valid depth");
    let mut b = ObjectStore::new(depth).expect("valid depth");
    let mut rng = SeededRng::new(42);
    let mut differing = BTreeSet::new();
    while (differing.len() as u64) < DIFFERING {
        differing.insert(rng.below(KEYS));
    }
    for i in 0..KEYS {
        let first = version(1 + i % 3, 1, VersionVector::new(), i);
        let k = key(i);
        b.add(WHOLE_RING, &k, first.clone());
        if differing.contains(&i) {
            let newer = version(1 + i % 3, 2, first.clock.to_version_vector(), i);
            a.add(WHOLE_RING, &k, newer);
        } else {
            a.add(WHOLE_RING, &k, first);
        }
    }
    (a, b, differing.into_iter().collect())
}

/// The least any protocol must send: the differing keys with their newer
/// objects, plus one hash per tree node on the paths from the root to
/// their leaves (shared nodes counted once).
fn minimum_bytes(a: &ObjectStore<Vec<u8>>, differing: &[u64], depth: u8) -> usize {
    let mut nodes = BTreeSet::new();
    let mut objects = 0;
    for i in differing {
        let k = key(*i);
        let object = a.get(&k).expect("stored");
        objects += k.len() + object.to_bytes().len();
        let leaf = MerkleTree::bucket(&k, depth);
        for level in 0..=depth {
            nodes.insert((level, leaf >> (depth - level)));
        }
    }
    objects + 8 * nodes.len()
}

fn anti_entropy() {
    println!("\n== anti-entropy: {KEYS} keys, {DIFFERING} differing ==");
    println!("| depth | messages | bytes | minimum | ratio | objects | sync time |");
    println!("|---|---|---|---|---|---|---|");
    for depth in [17u8, 18, 19, 20] {
        let (mut a, mut b, differing) = two_replicas(depth);
        let minimum = minimum_bytes(&a, &differing, depth);
        let started = WallClock::now();
        let report = AntiEntropySession::synchronize(&mut a, &mut b, WHOLE_RING)
            .expect("well-formed session");
        let elapsed = started.elapsed();
        assert_eq!(a.root(WHOLE_RING), b.root(WHOLE_RING), "replicas converged");
        let again = AntiEntropySession::synchronize(&mut a, &mut b, WHOLE_RING)
            .expect("well-formed session");
        assert_eq!(again.messages, 2, "a second session finds nothing to do");
        println!(
            "| {depth} | {} | {} | {minimum} | {:.2}× | {} | {:.1} ms |",
            report.messages,
            report.bytes,
            report.bytes as f64 / minimum as f64,
            report.objects,
            elapsed.as_secs_f64() * 1e3,
        );
    }
}

fn merkle_tree(c: &mut Criterion) {
    let mut group = c.benchmark_group("merkle");
    println!("\n== Merkle tree: build and incremental update ==");
    println!("| keys | depth | build | build per key |");
    println!("|---|---|---|---|");
    for exponent in 3..=6u32 {
        let n = 10u64.pow(exponent);
        let depth = (n as f64).log2().ceil() as u8;
        let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
        let started = WallClock::now();
        let mut tree = MerkleTree::new(depth).expect("valid depth");
        for (i, k) in keys.iter().enumerate() {
            tree.insert(k, i as u64);
        }
        let build = started.elapsed();
        println!(
            "| {n} | {depth} | {:.2} ms | {:.0} ns |",
            build.as_secs_f64() * 1e3,
            build.as_nanos() as f64 / n as f64
        );
        let mut rng = SeededRng::new(7);
        let mut digests: Vec<u64> = (0..n).collect();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("update/{n}_keys_depth_{depth}"), |bencher| {
            bencher.iter(|| {
                let i = rng.below(n) as usize;
                let new = digests[i].wrapping_add(n);
                tree.update(black_box(&keys[i]), digests[i], new);
                digests[i] = new;
            })
        });
    }
    // A write through the store: copy the object, add a version, digest
    // it, and move its tree path.
    let (mut a, _, _) = two_replicas(20);
    let mut counter = 10u64;
    group.bench_function("store_write/1000000_keys_depth_20", |bencher| {
        bencher.iter(|| {
            counter += 1;
            let i = counter * 7_919 % KEYS;
            let k = key(i);
            let mut object = a.get(&k).cloned().expect("stored");
            object.add(version(4, counter, object.context(), i));
            a.put(WHOLE_RING, &k, object)
        })
    });
    group.finish();
}

/// Clients writing and reading random keys through random home replicas.
struct Clients {
    ring: Ring,
    next_value: u64,
}

impl Workload<Replica<u64>> for Clients {
    type Op = (u64, bool);
    type Ret = ();

    fn next_op(&mut self, _client: usize, rng: &mut SeededRng) -> Option<(u64, bool)> {
        Some((rng.below(1_000), rng.chance(0.5)))
    }

    fn request(
        &mut self,
        _client: usize,
        op: &(u64, bool),
        _redirect: Option<NodeId>,
        _nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, ReplicaRequest<u64>)> {
        let k = key(op.0);
        let node = *rng.pick(self.ring.preference_list(&k))?;
        self.next_value += 1;
        let options = Some(RequestOptions::strict(3, 2, 2));
        let request = if op.1 {
            ReplicaRequest::Put {
                key: k,
                value: self.next_value,
                context: VersionVector::new(),
                options,
            }
        } else {
            ReplicaRequest::Get {
                key: k,
                options,
                session: None,
            }
        };
        Some((node, request))
    }

    fn interpret(
        &mut self,
        _client: usize,
        _op: &(u64, bool),
        response: ReplicaResponse<u64>,
    ) -> Reply<()> {
        match response {
            ReplicaResponse::Read(_) | ReplicaResponse::Written { .. } => Reply::Ok(()),
            _ => Reply::Fail,
        }
    }
}

fn coordinator_throughput(c: &mut Criterion) {
    const VIRTUAL: Duration = Duration::from_secs(2);
    let mut group = c.benchmark_group("coordinator");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let run = || {
        let ring = Ring::new([1, 2, 3, 4, 5], 8, 3).expect("valid ring");
        let mut config = SimConfig::new(1, vec![1, 2, 3, 4, 5]);
        config.clients.clients = 64;
        config.clients.think_time = Latency::Fixed(Duration::ZERO);
        let workload = Clients {
            ring: ring.clone(),
            next_value: 0,
        };
        let mut sim = Simulation::new(config, workload, move |boot: Boot<'_, ReplicaDisk<u64>>| {
            Replica::new(
                boot.id,
                ring.clone(),
                ReplicaConfig::default(),
                ConflictPolicy::Siblings,
                boot.durable,
                boot.seed,
                boot.now,
            )
            .expect("valid replica")
        })
        .expect("valid simulation");
        sim.run_for(VIRTUAL).expect("no invariants");
        let summary = sim.history().summary();
        (summary.ok, sim.stats().messages_delivered)
    };
    let started = WallClock::now();
    let (ok, messages) = run();
    let wall = started.elapsed();
    println!("\n== coordinator: N = 3, R = W = 2, 5 replicas, 64 clients, 50% puts ==");
    println!(
        "{ok} operations in {:.2} s of virtual time, {:.2} s of wall time: {:.0} operations per wall-clock second, {:.1} messages per operation",
        VIRTUAL.as_secs_f64(),
        wall.as_secs_f64(),
        ok as f64 / wall.as_secs_f64(),
        messages as f64 / ok as f64
    );
    group.throughput(Throughput::Elements(ok as u64));
    group.bench_function("n3_r2_w2_64_clients_2s_virtual", |bencher| {
        bencher.iter(run)
    });
    group.finish();
}

fn figures(c: &mut Criterion) {
    anti_entropy();
    merkle_tree(c);
    coordinator_throughput(c);
}

criterion_group!(benches, figures);
criterion_main!(benches);

//! Shared by the simulation tests: a key-value workload whose clients
//! carry session tokens, how replicas boot, step-by-step invariants over
//! the cluster, and checkers over the recorded history.
//!
//! The history checkers are written for leaderless replication: a store
//! with siblings is not linearizable in general (two concurrent writes are
//! both "current"), so the simulator's linearizability checker does not
//! apply. Instead they check what N/R/W replication does promise, stated in
//! terms of dots: a read "has seen" a write when the write's dot is in the
//! read's context.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use tessera_core::{Invariant, NodeId, SeededRng, Violation};
use tessera_quorum::{
    ConflictPolicy, NO_RESURRECTION, NO_STALE_READ, ReadResult, Replica, ReplicaConfig,
    ReplicaDisk, ReplicaRequest, ReplicaResponse, RequestOptions, Ring, SESSION_GUARANTEES,
    SessionToken, UNIQUE_DOTS, Version,
};
use tessera_sim::{
    Boot, Cluster, History, Latency, NemesisConfig, Outcome, Reply, SimConfig, SimFailure,
    Simulation, Workload,
};
use tessera_vclock::{Dot, DottedVersionVector, VersionVector};

/// Values are unique per put, so a read's value names the put that wrote it.
pub(crate) type Value = u64;
pub(crate) type KvCluster = Cluster<Replica<Value>, ReplicaDisk<Value>>;
pub(crate) type KvSim = Simulation<Replica<Value>, ReplicaDisk<Value>, KvWorkload>;

/// The nodes of every simulation.
pub(crate) const NODES: [NodeId; 5] = [1, 2, 3, 4, 5];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvAction {
    Get,
    Put(Value),
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvOp {
    pub(crate) key: u8,
    pub(crate) action: KvAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvRet {
    Read {
        versions: Vec<Version<Value>>,
        context: VersionVector,
    },
    Written {
        version: DottedVersionVector,
    },
}

/// Which nodes a client sends its requests to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coordinators {
    /// A random home replica of the key (a partition-aware client).
    PreferenceList,
    /// Any node at all.
    AnyNode,
}

/// One completed operation of one client, in the client's order.
#[derive(Debug, Clone)]
pub(crate) struct SessionRecord {
    pub(crate) client: usize,
    pub(crate) key: u8,
    pub(crate) coordinator: NodeId,
    pub(crate) ret: KvRet,
}

pub(crate) fn key_bytes(key: u8) -> Vec<u8> {
    vec![b'k', key]
}

/// Clients doing gets, puts and deletes on a few keys, each carrying a
/// session token from coordinator to coordinator.
pub(crate) struct KvWorkload {
    pub(crate) keys: u8,
    pub(crate) read_options: RequestOptions,
    pub(crate) write_options: RequestOptions,
    /// Whether reads carry the session's vector for the key.
    pub(crate) sessions: bool,
    pub(crate) coordinators: Coordinators,
    /// Percentages of puts and deletes; the rest are gets.
    pub(crate) put_percent: u64,
    pub(crate) delete_percent: u64,
    ring: Ring,
    tokens: Vec<SessionToken>,
    /// Each client's last read context per key: the context of its writes,
    /// as Dynamo's clients do (a write covers what its writer read).
    read_contexts: Vec<BTreeMap<u8, VersionVector>>,
    next_value: Value,
    /// Where each client's current request went.
    sent_to: Vec<NodeId>,
    pub(crate) log: Vec<SessionRecord>,
}

impl KvWorkload {
    pub(crate) fn new(ring: Ring, clients: usize, options: RequestOptions) -> Self {
        KvWorkload {
            keys: 4,
            read_options: options,
            write_options: options,
            sessions: true,
            coordinators: Coordinators::PreferenceList,
            put_percent: 40,
            delete_percent: 10,
            ring,
            tokens: vec![SessionToken::new(); clients],
            read_contexts: vec![BTreeMap::new(); clients],
            next_value: 1,
            sent_to: vec![0; clients],
            log: Vec::new(),
        }
    }
}

impl Workload<Replica<Value>> for KvWorkload {
    type Op = KvOp;
    type Ret = KvRet;

    fn next_op(&mut self, _client: usize, rng: &mut SeededRng) -> Option<KvOp> {
        let key = rng.below(u64::from(self.keys)) as u8;
        let roll = rng.below(100);
        let action = if roll < self.put_percent {
            self.next_value += 1;
            KvAction::Put(self.next_value)
        } else if roll < self.put_percent + self.delete_percent {
            KvAction::Delete
        } else {
            KvAction::Get
        };
        Some(KvOp { key, action })
    }

    fn request(
        &mut self,
        client: usize,
        op: &KvOp,
        _redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, ReplicaRequest<Value>)> {
        let key = key_bytes(op.key);
        let node = match self.coordinators {
            Coordinators::PreferenceList => *rng.pick(self.ring.preference_list(&key))?,
            Coordinators::AnyNode => *rng.pick(nodes)?,
        };
        self.sent_to[client] = node;
        let seen = self.tokens[client].for_key(&key).cloned();
        let context = self.read_contexts[client]
            .get(&op.key)
            .cloned()
            .unwrap_or_default();
        let request = match &op.action {
            KvAction::Get => ReplicaRequest::Get {
                key,
                options: Some(self.read_options),
                session: if self.sessions { seen } else { None },
            },
            KvAction::Put(value) => ReplicaRequest::Put {
                key,
                value: *value,
                context,
                options: Some(self.write_options),
            },
            KvAction::Delete => ReplicaRequest::Delete {
                key,
                context,
                options: Some(self.write_options),
            },
        };
        Some((node, request))
    }

    fn interpret(
        &mut self,
        client: usize,
        op: &KvOp,
        response: ReplicaResponse<Value>,
    ) -> Reply<KvRet> {
        let key = key_bytes(op.key);
        let ret = match response {
            ReplicaResponse::Read(ReadResult {
                versions, context, ..
            }) => {
                self.tokens[client].observe(&key, &context);
                self.read_contexts[client].insert(op.key, context.clone());
                KvRet::Read { versions, context }
            }
            ReplicaResponse::Written { version } => {
                self.tokens[client].observe(&key, &version.to_version_vector());
                KvRet::Written { version }
            }
            // A write that timed out may have reached some replicas.
            ReplicaResponse::Unavailable { .. } if op.action != KvAction::Get => {
                return Reply::Unknown;
            }
            _ => return Reply::Fail,
        };
        self.log.push(SessionRecord {
            client,
            key: op.key,
            coordinator: self.sent_to[client],
            ret: ret.clone(),
        });
        Reply::Ok(ret)
    }
}

/// A ring of [`NODES`] with 4 tokens each, replicating on 3.
pub(crate) fn ring() -> Ring {
    Ring::new(NODES, 4, 3).expect("valid ring")
}

/// Timers scaled to a simulation of a few seconds.
pub(crate) fn replica_config() -> ReplicaConfig {
    ReplicaConfig {
        default_options: RequestOptions::strict(3, 2, 2),
        request_timeout: Duration::from_millis(300),
        retry_interval: Duration::from_millis(20),
        suspect_after: Duration::from_millis(50),
        hint_ttl: Duration::from_secs(4),
        handoff_interval: Duration::from_millis(50),
        anti_entropy_interval: Duration::from_millis(40),
        anti_entropy_timeout: Duration::from_millis(500),
        merkle_depth: 4,
        tombstone_grace: Duration::from_secs(5),
        tombstone_gc_interval: Duration::from_millis(200),
        purge_retention: Duration::from_secs(8),
        mode_hold: Duration::from_millis(300),
        pending_requests_max: 1_000,
    }
}

pub(crate) fn sim_config(seed: u64, safety_phase: Duration) -> SimConfig {
    let mut config = SimConfig::new(seed, NODES.to_vec());
    config.network.loss_probability = 0.02;
    config.network.duplicate_probability = 0.01;
    config.clients.clients = 4;
    config.clients.request_timeout = Duration::from_millis(600);
    config.nemesis = Some(NemesisConfig {
        active_for: safety_phase,
        fault_duration: Latency::Uniform {
            min: Duration::from_millis(50),
            max: Duration::from_millis(800),
        },
        crashed_max: 1,
        ..NemesisConfig::default()
    });
    config
}

/// Every purge any replica made during a run, by key: what was deleted,
/// remembered after the replicas forget.
pub(crate) type PurgeLog = Rc<RefCell<BTreeMap<Vec<u8>, VersionVector>>>;

/// A simulation of replicas with `replica` settings and `workload`, with
/// the cluster invariants checked after every step, and the log of purges
/// the NO RESURRECTION invariant keeps.
pub(crate) fn simulation(
    config: SimConfig,
    replica: ReplicaConfig,
    workload: KvWorkload,
) -> (KvSim, PurgeLog) {
    simulation_on(Rc::new(RefCell::new(ring())), config, replica, workload)
}

/// [`simulation`] with replicas that boot (and reboot) with whatever ring
/// `ring` holds at the time.
pub(crate) fn simulation_on(
    ring: Rc<RefCell<Ring>>,
    config: SimConfig,
    replica: ReplicaConfig,
    workload: KvWorkload,
) -> (KvSim, PurgeLog) {
    let mut sim = Simulation::new(
        config,
        workload,
        move |boot: Boot<'_, ReplicaDisk<Value>>| {
            Replica::new(
                boot.id,
                ring.borrow().clone(),
                replica.clone(),
                ConflictPolicy::Siblings,
                boot.durable,
                boot.seed,
                boot.now,
            )
            .expect("valid replica configuration")
        },
    )
    .expect("valid simulation configuration");
    let purges = PurgeLog::default();
    sim.add_invariant(UniqueDots);
    sim.add_invariant(NoResurrection {
        purged: Rc::clone(&purges),
    });
    (sim, purges)
}

/// A failure of a history or end-state check, reported like the
/// simulator's own.
pub(crate) fn failure(sim: &KvSim, violation: Violation) -> SimFailure {
    SimFailure {
        seed: sim.seed(),
        step: sim.stats().steps,
        at: sim.now(),
        violation: Box::new(violation),
        rerun: None,
    }
}

/// Every version anywhere in the cluster — live stores and hints, durable
/// objects and hints — with where it was found.
fn all_versions(cluster: &KvCluster) -> Vec<(NodeId, &[u8], &Version<Value>)> {
    let mut found = Vec::new();
    for view in cluster.nodes() {
        if let Some(node) = view.node {
            for (key, object) in node.store().iter() {
                found.extend(
                    object
                        .versions()
                        .iter()
                        .map(|v| (view.id, key.as_slice(), v)),
                );
            }
            for ((_, key), hint) in node.hints() {
                found.extend(
                    hint.object
                        .versions()
                        .iter()
                        .map(|v| (view.id, key.as_slice(), v)),
                );
            }
        }
        for (key, object) in &view.durable.objects {
            found.extend(
                object
                    .versions()
                    .iter()
                    .map(|v| (view.id, key.as_slice(), v)),
            );
        }
        for ((_, key), hint) in &view.durable.hints {
            found.extend(
                hint.object
                    .versions()
                    .iter()
                    .map(|v| (view.id, key.as_slice(), v)),
            );
        }
    }
    found
}

/// UNIQUE DOTS, after every step: no two different versions anywhere in
/// the cluster, live or durable, share a dot — across crashes and
/// restarts, which is what the actor epochs are for.
pub(crate) struct UniqueDots;

impl Invariant<KvCluster> for UniqueDots {
    fn name(&self) -> &'static str {
        UNIQUE_DOTS
    }

    fn check(&mut self, cluster: &KvCluster) -> Result<(), Violation> {
        let mut seen: BTreeMap<Dot, (&[u8], &Version<Value>, NodeId)> = BTreeMap::new();
        for (node, key, version) in all_versions(cluster) {
            match seen.get(&version.dot()) {
                Some((other_key, other, other_node)) if *other_key != key || *other != version => {
                    return Err(Violation::new(UNIQUE_DOTS, "two versions share a dot")
                        .with("dot", version.dot())
                        .with("first", (other_node, other_key, other))
                        .with("second", (node, key, version)));
                }
                Some(_) => {}
                None => {
                    seen.insert(version.dot(), (key, version, node));
                }
            }
        }
        Ok(())
    }
}

/// NO RESURRECTION, after every step: once a tombstone has been purged
/// anywhere, no home store (live or durable) ever again holds a value it
/// had deleted. The invariant remembers every purge it has seen, longer
/// than the replicas do.
pub(crate) struct NoResurrection {
    purged: PurgeLog,
}

impl Invariant<KvCluster> for NoResurrection {
    fn name(&self) -> &'static str {
        NO_RESURRECTION
    }

    fn check(&mut self, cluster: &KvCluster) -> Result<(), Violation> {
        let mut purged = self.purged.borrow_mut();
        for view in cluster.nodes() {
            let live = view.node.map(|node| node.purged().iter());
            for (key, record) in live.into_iter().flatten().chain(view.durable.purged.iter()) {
                purged
                    .entry(key.clone())
                    .or_default()
                    .merge(&record.context);
            }
        }
        for view in cluster.nodes() {
            let live = view.node.map(|node| node.store().iter());
            let durable = view.durable.objects.iter();
            for (key, object) in live.into_iter().flatten().chain(durable) {
                let Some(deleted) = purged.get(key) else {
                    continue;
                };
                if let Some(version) = object
                    .versions()
                    .iter()
                    .find(|v| v.value.is_some() && deleted.contains(v.dot()))
                {
                    return Err(Violation::new(
                        NO_RESURRECTION,
                        "a value deleted by a purged tombstone is back in a store",
                    )
                    .on_node(view.id)
                    .with("key", key)
                    .with("version", version)
                    .with("purged", deleted));
                }
            }
        }
        Ok(())
    }
}

type KvHistory = History<KvOp, KvRet>;

/// Puts with a known outcome, by key: their dot and full clock.
fn acknowledged_writes(
    history: &KvHistory,
) -> Vec<(u8, tessera_core::Instant, DottedVersionVector)> {
    history
        .operations()
        .iter()
        .filter_map(|op| match (&op.outcome, op.completed_at) {
            (Outcome::Ok(KvRet::Written { version }), Some(done)) => {
                Some((op.input.key, done, version.clone()))
            }
            _ => None,
        })
        .collect()
}

/// NO STALE READ on the history: a read that returned must have seen
/// every write (put or delete) acknowledged before it was invoked — the
/// write's dot is in the read's context — and must not return a version
/// such a write had overwritten. Returns how many (read, write) pairs were
/// checked.
pub(crate) fn check_no_stale_reads(history: &KvHistory) -> Result<usize, Violation> {
    let writes = acknowledged_writes(history);
    let mut pairs = 0;
    for read in history.operations() {
        let Outcome::Ok(KvRet::Read { versions, context }) = &read.outcome else {
            continue;
        };
        for (key, done, write) in &writes {
            if *key != read.input.key || *done >= read.invoked_at {
                continue;
            }
            pairs += 1;
            if !context.contains(write.dot()) {
                return Err(Violation::new(
                    NO_STALE_READ,
                    "a read missed a write acknowledged before it began",
                )
                .with("key", key)
                .with("read", (read.id, read.invoked_at))
                .with("write", (write, done))
                .with("read context", context));
            }
            if let Some(old) = versions.iter().find(|v| write.context().contains(v.dot())) {
                return Err(Violation::new(
                    NO_STALE_READ,
                    "a read returned a version overwritten before it began",
                )
                .with("key", key)
                .with("returned", old)
                .with("overwritten by", write));
            }
        }
    }
    Ok(pairs)
}

/// Every value a read returns was written by a put of that key, and when
/// the put was acknowledged, under the dot it was acknowledged with.
pub(crate) fn check_values(history: &KvHistory) -> Result<(), Violation> {
    let mut written: BTreeMap<Value, u8> = BTreeMap::new();
    let mut dots: BTreeMap<Value, Dot> = BTreeMap::new();
    for op in history.operations() {
        if let KvAction::Put(value) = op.input.action {
            written.insert(value, op.input.key);
            if let Outcome::Ok(KvRet::Written { version }) = &op.outcome {
                dots.insert(value, version.dot());
            }
        }
    }
    for op in history.operations() {
        let Outcome::Ok(KvRet::Read { versions, .. }) = &op.outcome else {
            continue;
        };
        for version in versions {
            let Some(value) = version.value else { continue };
            if written.get(&value) != Some(&op.input.key) {
                return Err(Violation::new(
                    "VALID VALUES",
                    "a read returned a value nobody wrote to that key",
                )
                .with("key", op.input.key)
                .with("version", version));
            }
            if dots.get(&value).is_some_and(|dot| *dot != version.dot()) {
                return Err(
                    Violation::new("VALID VALUES", "a value came back under another dot")
                        .with("version", version)
                        .with("acknowledged as", dots.get(&value)),
                );
            }
        }
    }
    Ok(())
}

/// Deleted values stay deleted: a read invoked after a delete was
/// acknowledged returns no value that delete covered.
pub(crate) fn check_deletes_hold(
    history: &KvHistory,
    reads_from: tessera_core::Instant,
) -> Result<usize, Violation> {
    let deletes: Vec<(u8, tessera_core::Instant, DottedVersionVector)> = history
        .operations()
        .iter()
        .filter(|op| op.input.action == KvAction::Delete)
        .filter_map(|op| match (&op.outcome, op.completed_at) {
            (Outcome::Ok(KvRet::Written { version }), Some(done)) => {
                Some((op.input.key, done, version.clone()))
            }
            _ => None,
        })
        .collect();
    let mut pairs = 0;
    for read in history.operations() {
        let Outcome::Ok(KvRet::Read { versions, .. }) = &read.outcome else {
            continue;
        };
        if read.invoked_at < reads_from {
            continue;
        }
        for (key, done, delete) in &deletes {
            if *key != read.input.key || *done >= read.invoked_at {
                continue;
            }
            pairs += 1;
            if let Some(back) = versions
                .iter()
                .find(|v| v.value.is_some() && delete.context().contains(v.dot()))
            {
                return Err(Violation::new(NO_RESURRECTION, "a deleted value came back")
                    .with("key", key)
                    .with("value", back)
                    .with("deleted by", (delete, done)));
            }
        }
    }
    Ok(pairs)
}

/// Read-your-writes and monotonic reads, per client, in the client's own
/// order, whichever coordinator served each operation: every read's
/// context contains every dot the client wrote or read before on that key.
/// Returns how many reads were checked.
pub(crate) fn check_sessions(log: &[SessionRecord]) -> Result<usize, Violation> {
    let mut seen: BTreeMap<(usize, u8), BTreeSet<Dot>> = BTreeMap::new();
    let mut reads = 0;
    for record in log {
        let known = seen.entry((record.client, record.key)).or_default();
        match &record.ret {
            KvRet::Written { version } => {
                known.insert(version.dot());
            }
            KvRet::Read { versions, context } => {
                reads += 1;
                if let Some(missed) = known.iter().find(|dot| !context.contains(**dot)) {
                    return Err(Violation::new(
                        SESSION_GUARANTEES,
                        "a read missed a version its own session wrote or read before",
                    )
                    .with("client", record.client)
                    .with("key", record.key)
                    .with("coordinator", record.coordinator)
                    .with("missed", missed)
                    .with("read context", context));
                }
                known.extend(versions.iter().map(Version::dot));
            }
        }
    }
    Ok(reads)
}

/// After healing and quiet: every home replica of every key holds the same
/// object, no hints are left, and every acknowledged write is seen by every
/// home replica (or was deleted by a tombstone that was purged).
pub(crate) fn check_converged(sim: &KvSim, purges: &PurgeLog, keys: u8) -> Result<(), Violation> {
    check_converged_on(sim, purges, &ring(), keys)
}

/// [`check_converged`] for the replicas of `ring`.
pub(crate) fn check_converged_on(
    sim: &KvSim,
    purges: &PurgeLog,
    ring: &Ring,
    keys: u8,
) -> Result<(), Violation> {
    let purges = purges.borrow();
    let cluster = sim.cluster();
    for view in cluster.nodes() {
        let node = view.node.ok_or_else(|| {
            Violation::new("CONVERGENCE", "a node is still down").on_node(view.id)
        })?;
        if !node.hints().is_empty() {
            return Err(
                Violation::new("CONVERGENCE", "hints were never handed back")
                    .on_node(view.id)
                    .with("hints", node.hints().len()),
            );
        }
    }
    for key in 0..keys {
        let bytes = key_bytes(key);
        let homes = ring.preference_list(&bytes);
        let objects: Vec<_> = homes
            .iter()
            .filter_map(|home| cluster.node(*home))
            .map(|node| node.store().get(&bytes).cloned().unwrap_or_default())
            .collect();
        if objects.windows(2).any(|pair| pair[0] != pair[1]) {
            return Err(
                Violation::new("CONVERGENCE", "home replicas differ after healing")
                    .with("key", key)
                    .with("objects", &objects),
            );
        }
    }
    for (key, _, write) in acknowledged_writes(sim.history()) {
        let bytes = key_bytes(key);
        for home in ring.preference_list(&bytes) {
            let Some(node) = cluster.node(*home) else {
                continue;
            };
            let seen = node
                .store()
                .get(&bytes)
                .is_some_and(|object| object.has_seen(write.dot()))
                || purges
                    .get(&bytes)
                    .is_some_and(|deleted| deleted.contains(write.dot()));
            if !seen {
                return Err(Violation::new(
                    "CONVERGENCE",
                    "an acknowledged write is missing after handoff and anti-entropy",
                )
                .on_node(*home)
                .with("key", key)
                .with("write", write));
            }
        }
    }
    Ok(())
}

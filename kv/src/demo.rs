//! The one-command demo: a cluster on loopback with mutual TLS and durable
//! storage in a temporary directory, a mixed client workload, a leader
//! crash, a follower cut off by a network partition (its process keeps
//! running), and at the end a linearizability check of the whole client
//! history, a report and an SVG chart.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tessera_core::{Mode, ModeLevel, NodeId, SeededRng};
use tessera_net::{
    CertificateAuthority, ClientAuth, ClientTls, DurableStore, Listeners, NetError, NodeConfig,
    NodeSetup, PartitionSwitch, PaxosAdapter, PaxosStore, PbftAdapter, PbftStore, PeerConfig,
    ProtocolAdapter, RaftAdapter, RaftStore, ReadConsistency, RunningNode, RuntimeClock, TlsConfig,
    TokioNetwork, WriteOf, paxos_setup, pbft_keys_file_name, pbft_setup, raft_setup, start_node,
    start_node_with, write_pbft_keys,
};
use tessera_sim::{History, KvModel, KvOp, LinearizabilityChecker, RegisterOp, RegisterRet};
use tessera_storage::StdFs;
use tokio::sync::watch;

use crate::{KvClient, KvCommand, KvError, KvStore, chart};

/// The consensus backends the demo knows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Raft (tessera-raft), through tessera-net's Raft adapter.
    Raft,
    /// Multi-Paxos (tessera-paxos), through tessera-net's Multi-Paxos
    /// adapter.
    Paxos,
    /// PBFT (tessera-pbft), through tessera-net's PBFT adapter: every
    /// node a replica and its clients' gateway.
    Pbft,
}

impl Backend {
    /// Parses a `--protocol` value.
    ///
    /// # Errors
    ///
    /// A one-line message for an unknown name.
    pub fn parse(name: &str) -> Result<Backend, String> {
        match name {
            "raft" => Ok(Backend::Raft),
            "paxos" => Ok(Backend::Paxos),
            "pbft" => Ok(Backend::Pbft),
            other => Err(format!(
                "unknown protocol `{other}`: use --protocol raft, --protocol paxos or --protocol pbft"
            )),
        }
    }

    /// The nodes the demo runs by default, which is also the fewest it
    /// runs: 3 (a majority survives one crash), or 4 for PBFT (3f + 1
    /// replicas tolerate f = 1 Byzantine one).
    pub fn default_nodes(self) -> usize {
        match self {
            Backend::Raft | Backend::Paxos => 3,
            Backend::Pbft => 4,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Raft => "raft",
            Backend::Paxos => "paxos",
            Backend::Pbft => "pbft",
        }
    }

    /// Its name in prose.
    pub fn title(self) -> &'static str {
        match self {
            Backend::Raft => "Raft",
            Backend::Paxos => "Multi-Paxos",
            Backend::Pbft => "PBFT",
        }
    }
}

/// A protocol the demo can run: how one node of it is set up from its
/// configuration, and how the demo tunes that configuration.
trait DemoProtocol: ProtocolAdapter + Sized {
    /// Where its writes go.
    type Store: DurableStore<WriteOf<Self>>;

    /// The demo's timing, on top of the defaults.
    fn tune(config: &mut NodeConfig);

    /// Generates what the whole cluster needs before it starts, into
    /// `dir`, and points each node's configuration at its part (PBFT: its
    /// keys). By default, nothing.
    fn provision(_dir: &Path, _configs: &mut BTreeMap<NodeId, NodeConfig>) -> Result<(), NetError> {
        Ok(())
    }

    /// Opens the node's storage and boots it.
    fn setup(
        config: &NodeConfig,
        clock: RuntimeClock,
    ) -> Result<NodeSetup<Self, Self::Store>, NetError>;
}

impl DemoProtocol for RaftAdapter<KvStore> {
    type Store = RaftStore<KvCommand>;

    fn tune(config: &mut NodeConfig) {
        // Elections after 400-800 ms of silence: the leader's lease (which
        // these bound) then survives a late heartbeat on a busy machine,
        // and a crashed leader is still replaced within a second.
        config.raft.election_timeout_min_ms = 400;
        config.raft.election_timeout_max_ms = 800;
    }

    fn setup(
        config: &NodeConfig,
        clock: RuntimeClock,
    ) -> Result<NodeSetup<Self, Self::Store>, NetError> {
        raft_setup(config, KvStore::default(), Arc::new(StdFs), clock)
    }
}

impl DemoProtocol for PaxosAdapter<KvStore> {
    type Store = PaxosStore<KvCommand>;

    fn tune(config: &mut NodeConfig) {
        // Phase one after 400-800 ms of silence (a late heartbeat on a busy
        // machine does not start one); the lease outlives two missed
        // heartbeats, and a crashed leader is replaced once the leases it
        // was granted lapse, about a second later.
        config.paxos.election_timeout_ms = 400;
        config.paxos.lease_ms = 500;
    }

    fn setup(
        config: &NodeConfig,
        clock: RuntimeClock,
    ) -> Result<NodeSetup<Self, Self::Store>, NetError> {
        paxos_setup(config, KvStore::default(), Arc::new(StdFs), clock)
    }
}

impl DemoProtocol for PbftAdapter<KvStore> {
    type Store = PbftStore;

    fn tune(config: &mut NodeConfig) {
        // A backup suspects the primary after 600 ms without progress on a
        // request it holds (a crashed primary is replaced within about a
        // second; a busy machine's late message does not start a view
        // change); checkpoints every 32 sequence numbers, so the restarted
        // and the partitioned node catch up by state transfer.
        config.pbft.view_change_timeout_ms = 600;
        config.pbft.checkpoint_interval = 32;
    }

    fn provision(dir: &Path, configs: &mut BTreeMap<NodeId, NodeConfig>) -> Result<(), NetError> {
        let ids: Vec<NodeId> = configs.keys().copied().collect();
        let gateway_clients = configs
            .values()
            .map(|config| config.pbft.gateway_clients)
            .max()
            .unwrap_or_default();
        write_pbft_keys(dir, &ids, gateway_clients)?;
        for (id, config) in configs.iter_mut() {
            config.pbft.keys = Some(dir.join(pbft_keys_file_name(*id)));
        }
        Ok(())
    }

    fn setup(
        config: &NodeConfig,
        clock: RuntimeClock,
    ) -> Result<NodeSetup<Self, Self::Store>, NetError> {
        pbft_setup(config, KvStore::default(), Arc::new(StdFs), clock)
    }
}

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Nodes in the cluster (3 to 7; 4 to 7 under PBFT).
    pub nodes: usize,
    /// The short run (CI): every phase a couple of seconds.
    pub quick: bool,
    /// Where the chart goes (`None`: a new directory under the system's
    /// temporary directory, kept after the demo).
    pub out: Option<PathBuf>,
    /// Concurrent clients.
    pub clients: usize,
    /// The consensus protocol the nodes run (Raft, Multi-Paxos or PBFT).
    pub protocol: Backend,
    /// Print a progress line and phase messages on stderr.
    pub progress: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            nodes: 3,
            quick: false,
            out: None,
            clients: 6,
            protocol: Backend::Raft,
            progress: true,
        }
    }
}

/// Why the demo did not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Bad options or an unusable output directory: the user's to fix.
    #[error("{0}")]
    Usage(String),
    /// The cluster could not be set up or did not recover.
    #[error("{0}")]
    Failed(String),
    /// Stopped by the user (Ctrl-C); the cluster was shut down cleanly.
    #[error("interrupted: the cluster was shut down cleanly")]
    Interrupted,
}

/// One entry of the timeline: a node's mode change (with its trigger) or
/// something the demo did to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEvent {
    /// Since the demo started.
    pub at: Duration,
    /// The node.
    pub node: NodeId,
    /// The state entered: a mode name, or `down`.
    pub state: String,
    /// The state left (empty if none).
    pub from: String,
    /// Why.
    pub trigger: String,
    /// Whether `state` is a Target mode.
    pub target: bool,
}

/// A completed operation's latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySample {
    /// When it completed, since the demo started.
    pub at: Duration,
    /// How long it took.
    pub latency: Duration,
    /// Whether it was a write.
    pub write: bool,
}

/// A node at the end of the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalStatus {
    /// The node.
    pub node: NodeId,
    /// Its mode.
    pub mode: &'static str,
    /// Whether that is a Target mode.
    pub target: bool,
    /// Its term.
    pub term: u64,
    /// Its leader.
    pub leader: Option<NodeId>,
    /// Its commit index.
    pub commit_index: u64,
    /// Its applied index.
    pub applied_index: u64,
    /// At the leader: how long its lease has left.
    pub lease_left: Option<Duration>,
}

/// What the demo found.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The protocol the nodes ran.
    pub protocol: Backend,
    /// Operations invoked.
    pub operations: usize,
    /// Completed with an answer.
    pub ok: usize,
    /// Definitely not done.
    pub failed: usize,
    /// Outcome unknown.
    pub unknown: usize,
    /// How long the workload ran.
    pub workload: Duration,
    /// Successful operations per second.
    pub throughput: f64,
    /// Median latency of successful operations.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Whether the checker found the history linearizable.
    pub linearizable: bool,
    /// The checker's verdict in words.
    pub verdict: String,
    /// Every mode change and fault, in time order.
    pub timeline: Vec<TimelineEvent>,
    /// Each node at the end.
    pub final_status: Vec<FinalStatus>,
    /// Whether every node ended in a Target mode, caught up.
    pub all_target: bool,
    /// The SVG chart.
    pub chart: PathBuf,
    /// The latency samples (for the chart).
    pub samples: Vec<LatencySample>,
}

impl DemoReport {
    /// Whether the demo passed: linearizable, and every node back in Target.
    pub fn passed(&self) -> bool {
        self.linearizable && self.all_target
    }

    /// The report as printed.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n== tessera-kv demo report ({}) ==",
            self.protocol.title()
        );
        let _ = writeln!(
            out,
            "operations: {} invoked, {} ok, {} failed (not done), {} unknown outcome",
            self.operations, self.ok, self.failed, self.unknown
        );
        let _ = writeln!(
            out,
            "throughput: {:.0} ops/s over {:.1} s; latency p50 {:.2} ms, p99 {:.2} ms",
            self.throughput,
            self.workload.as_secs_f64(),
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3
        );
        let _ = writeln!(out, "linearizability: {}", self.verdict);
        let _ = writeln!(out, "timeline (seconds since start):");
        for event in &self.timeline {
            let arrow = if event.from.is_empty() {
                event.state.clone()
            } else {
                format!("{} → {}", event.from, event.state)
            };
            let _ = writeln!(
                out,
                "  {:>7.3}  node {}  {:<24} {}",
                event.at.as_secs_f64(),
                event.node,
                arrow,
                event.trigger
            );
        }
        let _ = writeln!(out, "final status:");
        for node in &self.final_status {
            let lease = node.lease_left.map_or(String::new(), |left| {
                format!("  lease valid {:.0} ms more", left.as_secs_f64() * 1e3)
            });
            let _ = writeln!(
                out,
                "  node {}  {:<9} ({})  term {}  leader {}  commit {}  applied {}{}",
                node.node,
                node.mode,
                if node.target { "Target" } else { "not Target" },
                node.term,
                node.leader.map_or("?".to_string(), |id| id.to_string()),
                node.commit_index,
                node.applied_index,
                lease
            );
        }
        let _ = writeln!(out, "chart: {}", self.chart.display());
        let _ = writeln!(
            out,
            "result: {}",
            if self.passed() {
                "PASS — linearizable, every node back in Target mode"
            } else {
                "FAIL"
            }
        );
        out
    }
}

/// Keys the workload uses: few enough that operations contend.
const KEYS: u64 = 12;
/// The cluster's id (a DNS label: it names the certificates).
const CLUSTER: &str = "kvdemo";

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the workload and the watchers record, shared between tasks.
struct Recorder {
    start: std::time::Instant,
    history: Mutex<History<KvOp<u64, u64>, RegisterRet<u64>>>,
    samples: Mutex<Vec<LatencySample>>,
    timeline: Mutex<Vec<TimelineEvent>>,
    ok: AtomicU64,
    failed: AtomicU64,
    unknown: AtomicU64,
}

impl Recorder {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn instant(&self) -> tessera_core::Instant {
        tessera_core::Instant::from_nanos(u64::try_from(self.now().as_nanos()).unwrap_or(u64::MAX))
    }

    fn event(&self, node: NodeId, from: &str, state: &str, trigger: &str, target: bool) {
        lock(&self.timeline).push(TimelineEvent {
            at: self.now(),
            node,
            state: state.to_string(),
            from: from.to_string(),
            trigger: trigger.to_string(),
            target,
        });
    }
}

/// The cluster the demo runs.
struct Cluster<A: ProtocolAdapter> {
    configs: BTreeMap<NodeId, NodeConfig>,
    nodes: BTreeMap<NodeId, RunningNode<A>>,
    recorder: Arc<Recorder>,
    /// The last known mode of each node (for `from` of the next event).
    last_state: Arc<Mutex<BTreeMap<NodeId, String>>>,
    /// Cuts nodes off from their peers: every node's network goes through
    /// it.
    partitions: PartitionSwitch,
}

fn failed(what: &str, error: impl std::fmt::Display) -> DemoError {
    DemoError::Failed(format!("{what}: {error}"))
}

impl<A: DemoProtocol> Cluster<A> {
    fn watch(&self, node: &RunningNode<A>, why: &str) {
        let handle = node.handle().clone();
        let id = handle.id();
        let status = handle.status();
        let from = lock(&self.last_state)
            .insert(id, status.mode.to_string())
            .unwrap_or_default();
        self.recorder
            .event(id, &from, status.mode, why, status.mode_is_target);
        let recorder = Arc::clone(&self.recorder);
        let last_state = Arc::clone(&self.last_state);
        let mut modes = handle.subscribe_modes();
        modes.mark_unchanged();
        tokio::spawn(async move {
            while modes.changed().await.is_ok() {
                let Some(transition) = modes.borrow_and_update().clone() else {
                    continue;
                };
                let to = transition.to.name();
                lock(&last_state).insert(id, to.to_string());
                recorder.event(
                    id,
                    transition.from.name(),
                    to,
                    &transition.trigger,
                    transition.to.level() == ModeLevel::Target,
                );
            }
        });
    }

    async fn start(&mut self, id: NodeId, why: &str) -> Result<(), DemoError> {
        let config = self.configs.get(&id).ok_or_else(|| failed("no node", id))?;
        let mut attempt = 0;
        let node = loop {
            let setup = A::setup(config, RuntimeClock::new())
                .map_err(|error| failed(&format!("node {id}"), error))?;
            let network = self.partitions.network(id, TokioNetwork);
            match start_node(config, setup, network).await {
                Ok(node) => break node,
                // The port may linger briefly after the node's crash.
                Err(error @ tessera_net::NetError::Bind { .. }) if attempt < 20 => {
                    attempt += 1;
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(failed(&format!("restarting node {id}"), error)),
            }
        };
        self.watch(&node, why);
        self.nodes.insert(id, node);
        Ok(())
    }

    /// Cuts node `id` off from its peers, both directions; its process
    /// keeps running. The timeline marks the moment.
    fn partition(&self, id: NodeId, trigger: &str) {
        self.partitions.isolate(id);
        self.mark(id, trigger);
    }

    /// Ends node `id`'s partition. The timeline marks the moment.
    fn heal(&self, id: NodeId, trigger: &str) {
        self.partitions.heal(id);
        self.mark(id, trigger);
    }

    /// A timeline event that leaves node `id` in its current mode: a fault
    /// injected from outside, not a mode change of the node's own.
    fn mark(&self, id: NodeId, trigger: &str) {
        let state = lock(&self.last_state).get(&id).cloned().unwrap_or_default();
        let target = self
            .nodes
            .get(&id)
            .is_some_and(|node| node.handle().status().mode_is_target);
        self.recorder.event(id, &state, &state, trigger, target);
    }

    fn down(&self, id: NodeId, trigger: &str) {
        let from = lock(&self.last_state)
            .insert(id, "down".to_string())
            .unwrap_or_default();
        self.recorder.event(id, &from, "down", trigger, false);
    }

    async fn kill(&mut self, id: NodeId, trigger: &str) {
        if let Some(node) = self.nodes.remove(&id) {
            node.kill().await;
            self.down(id, trigger);
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .map(|node| node.handle().status())
            .find(tessera_net::NodeStatus::is_leader)
            .map(|status| status.id)
    }

    /// Whether every configured node runs, in a Target mode, with one
    /// leader, and has applied everything the leader committed.
    fn settled(&self) -> bool {
        if self.nodes.len() != self.configs.len() {
            return false;
        }
        let statuses: Vec<_> = self.nodes.values().map(|n| n.handle().status()).collect();
        let Some(leader) = statuses.iter().find(|s| s.is_leader()) else {
            return false;
        };
        statuses.iter().all(|status| {
            status.mode_is_target
                && status.leader == Some(leader.id)
                && status.applied_index >= leader.commit_index
        })
    }

    async fn final_status(&self) -> Vec<FinalStatus> {
        let mut out = Vec::new();
        for node in self.nodes.values() {
            let status = node.handle().status();
            // The lease's time left, as the node's Status reply reports it.
            let lease_left = node
                .handle()
                .status_with_evidence()
                .await
                .ok()
                .and_then(|(_, evidence)| evidence.lease_remaining);
            out.push(FinalStatus {
                node: status.id,
                mode: status.mode,
                target: status.mode_is_target,
                term: status.term,
                leader: status.leader,
                commit_index: status.commit_index,
                applied_index: status.applied_index,
                lease_left,
            });
        }
        out
    }

    async fn shutdown(&mut self) {
        for (_, node) in std::mem::take(&mut self.nodes) {
            let _ = node.shutdown().await;
        }
    }
}

/// Sleeps `duration`, or less if asked to stop. Returns whether to stop.
async fn pause(duration: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Waits until `condition` holds (checked every 20 ms) or `timeout` passes.
async fn wait_until<A: ProtocolAdapter>(
    cluster: &Cluster<A>,
    timeout: Duration,
    stop: &mut watch::Receiver<bool>,
    condition: impl Fn(&Cluster<A>) -> bool,
) -> Result<bool, DemoError> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if condition(cluster) {
            return Ok(true);
        }
        if pause(Duration::from_millis(20), stop).await {
            return Err(DemoError::Interrupted);
        }
    }
    Ok(condition(cluster))
}

/// One client's loop: a random mix of reads, writes, compare-and-sets and
/// deletes on a few keys, every operation recorded in the history.
async fn client_loop(
    client: Arc<KvClient>,
    recorder: Arc<Recorder>,
    process_ids: Arc<AtomicU64>,
    values: Arc<AtomicU64>,
    seed: u64,
    running: Arc<AtomicBool>,
) {
    let mut rng = SeededRng::new(seed);
    let mut process = process_ids.fetch_add(1, Ordering::Relaxed);
    let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
    while running.load(Ordering::Relaxed) {
        let key = rng.below(KEYS);
        let key_bytes = format!("key-{key:02}").into_bytes();
        let roll = rng.below(100);
        let op = match roll {
            0..50 => RegisterOp::Read,
            50..75 => RegisterOp::Write(values.fetch_add(1, Ordering::Relaxed)),
            75..92 => match seen.get(&key) {
                Some(&expected) => RegisterOp::Cas {
                    expected,
                    new: values.fetch_add(1, Ordering::Relaxed),
                },
                None => RegisterOp::Write(values.fetch_add(1, Ordering::Relaxed)),
            },
            _ => RegisterOp::Delete,
        };
        let invoked = {
            let mut history = lock(&recorder.history);
            let at = recorder.instant();
            history.invoke(
                process,
                KvOp {
                    key,
                    op: op.clone(),
                },
                at,
            )
        };
        let Ok(id) = invoked else {
            // A busy process cannot happen: each loop waits for its
            // operation. Move on as a fresh process rather than stop.
            process = process_ids.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let began = recorder.now();
        let result: Result<RegisterRet<u64>, KvError> = match &op {
            RegisterOp::Read => client
                .get(&key_bytes, ReadConsistency::Linearizable)
                .await
                .and_then(|answer| match answer.value {
                    None => Ok(RegisterRet::Read(None)),
                    Some(versioned) => std::str::from_utf8(&versioned.value)
                        .ok()
                        .and_then(|text| text.parse().ok())
                        .map(|value| RegisterRet::Read(Some(value)))
                        .ok_or_else(|| KvError::NotDone("a value the demo never wrote".into())),
                }),
            RegisterOp::Write(value) => client
                .put(&key_bytes, value.to_string().as_bytes())
                .await
                .map(|_| RegisterRet::Done),
            RegisterOp::Cas { expected, new } => client
                .compare_and_set(
                    &key_bytes,
                    Some(expected.to_string().as_bytes()),
                    new.to_string().as_bytes(),
                )
                .await
                .map(|(swapped, _)| RegisterRet::Cas(swapped)),
            RegisterOp::Delete => client.delete(&key_bytes).await.map(|_| RegisterRet::Done),
        };
        let ended = recorder.now();
        let mut history = lock(&recorder.history);
        let at = recorder.instant();
        let recorded = match result {
            Ok(output) => {
                match (&op, &output) {
                    (RegisterOp::Read, RegisterRet::Read(Some(value))) => {
                        seen.insert(key, *value);
                    }
                    (RegisterOp::Read, RegisterRet::Read(None)) | (RegisterOp::Delete, _) => {
                        seen.remove(&key);
                    }
                    (RegisterOp::Write(value), _) => {
                        seen.insert(key, *value);
                    }
                    (RegisterOp::Cas { new, .. }, RegisterRet::Cas(true)) => {
                        seen.insert(key, *new);
                    }
                    _ => {}
                }
                recorder.ok.fetch_add(1, Ordering::Relaxed);
                lock(&recorder.samples).push(LatencySample {
                    at: ended,
                    latency: ended.saturating_sub(began),
                    write: !matches!(op, RegisterOp::Read),
                });
                history.ok(id, output, at)
            }
            Err(KvError::NotDone(_)) => {
                recorder.failed.fetch_add(1, Ordering::Relaxed);
                history.fail(id, at)
            }
            Err(KvError::Unknown(_)) => {
                recorder.unknown.fetch_add(1, Ordering::Relaxed);
                // The operation may still be in flight: continue as a new
                // process (Jepsen's rule).
                process = process_ids.fetch_add(1, Ordering::Relaxed);
                history.info(id, at)
            }
        };
        drop(history);
        debug_assert!(recorded.is_ok(), "{recorded:?}");
    }
}

/// Prints the progress line every 250 ms until told to stop.
async fn progress_loop(recorder: Arc<Recorder>, phase: watch::Receiver<String>) {
    let terminal = std::io::stderr().is_terminal();
    let mut last_phase = String::new();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let current = phase.borrow().clone();
        if current == "done" {
            if terminal {
                eprintln!();
            }
            return;
        }
        let ok = recorder.ok.load(Ordering::Relaxed);
        let failed = recorder.failed.load(Ordering::Relaxed);
        let unknown = recorder.unknown.load(Ordering::Relaxed);
        let line = format!(
            "[{:>5.1}s] {current:<44} ops ok {ok:>6}  failed {failed:>4}  unknown {unknown:>3}",
            recorder.now().as_secs_f64()
        );
        if terminal {
            eprint!("\r{line}");
            let _ = std::io::stderr().flush();
        } else if current != last_phase {
            eprintln!("{line}");
        }
        last_phase = current;
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn out_dir(options: &DemoOptions) -> Result<PathBuf, DemoError> {
    let dir = match &options.out {
        Some(dir) => dir.clone(),
        None => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            std::env::temp_dir().join(format!("tessera-kv-demo-{stamp}-{}", std::process::id()))
        }
    };
    std::fs::create_dir_all(&dir).map_err(|error| {
        DemoError::Usage(format!(
            "--out {}: cannot create the output directory ({error}); choose a writable directory",
            dir.display()
        ))
    })?;
    let probe = dir.join(".tessera-kv-probe");
    std::fs::write(&probe, b"").map_err(|error| {
        DemoError::Usage(format!(
            "--out {}: the output directory is not writable ({error}); choose a writable directory",
            dir.display()
        ))
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(dir)
}

/// Runs the demo; stops early (shutting the cluster down) when `stop`
/// turns true.
///
/// # Errors
///
/// [`DemoError::Usage`] for bad options, [`DemoError::Failed`] if the
/// cluster cannot be set up or never recovers, [`DemoError::Interrupted`]
/// when stopped.
pub async fn run_demo(
    options: DemoOptions,
    stop: watch::Receiver<bool>,
) -> Result<DemoReport, DemoError> {
    match options.protocol {
        Backend::Raft => run_demo_with::<RaftAdapter<KvStore>>(options, stop).await,
        Backend::Paxos => run_demo_with::<PaxosAdapter<KvStore>>(options, stop).await,
        Backend::Pbft => run_demo_with::<PbftAdapter<KvStore>>(options, stop).await,
    }
}

async fn run_demo_with<A: DemoProtocol>(
    options: DemoOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<DemoReport, DemoError> {
    let min_nodes = options.protocol.default_nodes();
    if !(min_nodes..=7).contains(&options.nodes) {
        let why = if options.protocol == Backend::Pbft {
            " (PBFT needs 3f + 1 replicas to tolerate f Byzantine ones: 4 for one)"
        } else {
            ""
        };
        return Err(DemoError::Usage(format!(
            "--nodes {}: the {} demo runs {min_nodes} to 7 nodes{why}; choose a count in that range",
            options.nodes,
            options.protocol.title()
        )));
    }
    if !(1..=64).contains(&options.clients) {
        return Err(DemoError::Usage(format!(
            "--clients {}: between 1 and 64",
            options.clients
        )));
    }
    let out = out_dir(&options)?;
    let data = tempfile::Builder::new()
        .prefix("tessera-kv-demo-data-")
        .tempdir()
        .map_err(|error| failed("cannot create a temporary directory", error))?;
    let say = |line: String| {
        if options.progress {
            if std::io::stderr().is_terminal() {
                eprint!("\r\x1b[2K");
            }
            eprintln!("{line}");
        }
    };
    say(format!(
        "tessera-kv demo: {} {} nodes on loopback, mutual TLS, data in {}",
        options.nodes,
        options.protocol.title(),
        data.path().display()
    ));

    // Certificates: a CA, one per node, one for the demo's client.
    let certs = data.path().join("certs");
    let ids: Vec<NodeId> = (1..=options.nodes as NodeId).collect();
    let ca = CertificateAuthority::generate(CLUSTER).map_err(|e| failed("the test CA", e))?;
    ca.write_files(
        &certs,
        &ids,
        &["demo"],
        &["localhost".into(), "127.0.0.1".into()],
    )
    .map_err(|e| failed("writing certificates", e))?;
    let client_tls = ClientTls::load(
        CLUSTER,
        &certs.join("ca.pem"),
        Some((
            &certs.join("client-demo.pem"),
            &certs.join("client-demo.key"),
        )),
    )
    .map_err(|e| failed("the client's TLS", e))?;

    // Ports first (the system picks them), then the configurations.
    let partitions = PartitionSwitch::new();
    let mut listeners = Vec::new();
    for &id in &ids {
        listeners.push(
            Listeners::bind(
                &partitions.network(id, TokioNetwork),
                "127.0.0.1:0",
                "127.0.0.1:0",
            )
            .await
            .map_err(|e| failed("binding loopback ports", e))?,
        );
    }
    let peers: Vec<PeerConfig> = listeners
        .iter()
        .zip(&ids)
        .map(|(l, &id)| PeerConfig {
            id,
            peer_address: l.peer_address().into(),
            client_address: l.client_address().into(),
        })
        .collect();
    let mut configs = BTreeMap::new();
    for &id in &ids {
        let mut config = NodeConfig::new(
            CLUSTER,
            id,
            data.path().join(format!("node-{id}")),
            peers.clone(),
        );
        config.tls = Some(TlsConfig {
            ca_cert: certs.join("ca.pem"),
            cert: certs.join(format!("node-{id}.pem")),
            key: certs.join(format!("node-{id}.key")),
            client_auth: ClientAuth::Required,
        });
        config.client.request_timeout_ms = 2_000;
        A::tune(&mut config);
        config.transport.backoff_max_ms = 200;
        configs.insert(id, config);
    }
    A::provision(&data.path().join("keys"), &mut configs)
        .map_err(|e| failed("provisioning the nodes", e))?;
    let recorder = Arc::new(Recorder {
        start: std::time::Instant::now(),
        history: Mutex::new(History::new()),
        samples: Mutex::new(Vec::new()),
        timeline: Mutex::new(Vec::new()),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
    });
    let mut cluster = Cluster {
        configs,
        nodes: BTreeMap::new(),
        recorder: Arc::clone(&recorder),
        last_state: Arc::new(Mutex::new(BTreeMap::new())),
        partitions,
    };
    for (listeners, &id) in listeners.into_iter().zip(&ids) {
        let config = &cluster.configs[&id];
        let setup =
            A::setup(config, RuntimeClock::new()).map_err(|e| failed(&format!("node {id}"), e))?;
        let network = cluster.partitions.network(id, TokioNetwork);
        let node = start_node_with(config, setup, network, listeners)
            .await
            .map_err(|e| failed(&format!("starting node {id}"), e))?;
        cluster.watch(&node, "started");
        cluster.nodes.insert(id, node);
    }

    let result = scenario(&mut cluster, &options, client_tls, &mut stop, &say).await;
    cluster.shutdown().await;
    let (workload, all_target, final_status) = result?;

    // The check.
    say("checking the history for linearizability (tessera-sim's WGL checker)…".into());
    let history = std::mem::take(&mut *lock(&recorder.history));
    let operations = history.len();
    let checked = tokio::task::spawn_blocking(move || {
        LinearizabilityChecker::new(KvModel::<u64, u64>::new()).check(&history)
    })
    .await
    .map_err(|e| failed("the checker", e))?;
    let linearizable = checked.is_linearizable();
    let verdict = match &checked.verdict {
        tessera_sim::Verdict::Linearizable => format!(
            "linearizable ({} operations on {} keys, {} states explored)",
            checked.operations, checked.partitions, checked.states
        ),
        tessera_sim::Verdict::NotLinearizable(counterexample) => {
            format!("NOT linearizable: {counterexample}")
        }
        tessera_sim::Verdict::Unknown { partition, states } => {
            format!("undecided: key {partition} exceeded the search budget after {states} states")
        }
    };

    let mut samples = std::mem::take(&mut *lock(&recorder.samples));
    samples.sort_by_key(|sample| sample.at);
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    let mut timeline = std::mem::take(&mut *lock(&recorder.timeline));
    timeline.sort_by_key(|event| event.at);
    let ok = recorder.ok.load(Ordering::Relaxed) as usize;
    let chart_path = out.join("tessera-kv-demo.svg");
    let svg = chart::render(&timeline, &samples, recorder.now(), &ids);
    std::fs::write(&chart_path, svg).map_err(|error| {
        DemoError::Usage(format!(
            "cannot write {}: {error}; choose a writable --out directory",
            chart_path.display()
        ))
    })?;
    Ok(DemoReport {
        protocol: options.protocol,
        operations,
        ok,
        failed: recorder.failed.load(Ordering::Relaxed) as usize,
        unknown: recorder.unknown.load(Ordering::Relaxed) as usize,
        workload,
        throughput: ok as f64 / workload.as_secs_f64().max(1e-9),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        linearizable,
        verdict,
        timeline,
        final_status,
        all_target,
        chart: chart_path,
        samples,
    })
}

/// The faults and the workload; returns how long the workload ran,
/// whether every node ended in Target mode, caught up, and each node's
/// status at that moment.
async fn scenario<A: DemoProtocol>(
    cluster: &mut Cluster<A>,
    options: &DemoOptions,
    client_tls: ClientTls,
    stop: &mut watch::Receiver<bool>,
    say: &impl Fn(String),
) -> Result<(Duration, bool, Vec<FinalStatus>), DemoError> {
    let phase_length = if options.quick {
        Duration::from_millis(1_500)
    } else {
        Duration::from_secs(5)
    };
    let recover_timeout = Duration::from_secs(15);
    let (phase_sender, phase) = watch::channel("electing a leader".to_string());
    let progress = options
        .progress
        .then(|| tokio::spawn(progress_loop(Arc::clone(&cluster.recorder), phase)));
    let set_phase = |text: &str| {
        let _ = phase_sender.send(text.to_string());
    };
    let outcome = async {
        if !wait_until(cluster, recover_timeout, stop, Cluster::settled).await? {
            return Err(DemoError::Failed(
                "the cluster elected no leader within 15 s".into(),
            ));
        }
        let addresses = cluster
            .configs
            .values()
            .filter_map(|c| c.own_peer().map(|p| p.client_address.clone()))
            .collect();
        let client = Arc::new(
            KvClient::new(addresses, Some(client_tls), Duration::from_secs(2))
                .map_err(|e| failed("the client", e))?,
        );
        let running = Arc::new(AtomicBool::new(true));
        let process_ids = Arc::new(AtomicU64::new(0));
        let values = Arc::new(AtomicU64::new(1));
        let workload_start = cluster.recorder.now();
        let clients: Vec<_> = (0..options.clients)
            .map(|n| {
                tokio::spawn(client_loop(
                    Arc::clone(&client),
                    Arc::clone(&cluster.recorder),
                    Arc::clone(&process_ids),
                    Arc::clone(&values),
                    0x6b76_0000 + n as u64,
                    Arc::clone(&running),
                ))
            })
            .collect();
        let faults = async {
            set_phase("steady workload");
            if pause(phase_length, stop).await {
                return Err(DemoError::Interrupted);
            }
            // An election may be under way on a busy machine: wait for it.
            wait_until(cluster, recover_timeout, stop, |c| c.leader().is_some()).await?;
            let leader = cluster
                .leader()
                .ok_or_else(|| DemoError::Failed("no leader within 15 s to kill".into()))?;
            set_phase(&format!("killed leader {leader}: electing"));
            say(format!("killing the leader, node {leader}"));
            cluster.kill(leader, "killed by the demo (it led)").await;
            if pause(phase_length * 2, stop).await {
                return Err(DemoError::Interrupted);
            }
            set_phase(&format!("restarting node {leader}"));
            say(format!("restarting node {leader} from its disk"));
            cluster.start(leader, "restarted from disk").await?;
            if pause(phase_length, stop).await {
                return Err(DemoError::Interrupted);
            }
            let follower = cluster
                .nodes
                .values()
                .map(|n| n.handle().status())
                .filter(|s| !s.is_leader())
                // Another node than the one that crashed, if there is one.
                .max_by_key(|s| s.id != leader)
                .map(|s| s.id)
                .ok_or_else(|| DemoError::Failed("no follower to partition".into()))?;
            set_phase(&format!("node {follower} partitioned"));
            say(format!(
                "partitioning node {follower} off the cluster (it keeps running; no peer can reach it, nor it them)"
            ));
            cluster.partition(follower, "partitioned by the demo (no peer can reach it)");
            if pause(phase_length * 2, stop).await {
                return Err(DemoError::Interrupted);
            }
            set_phase(&format!("node {follower} rejoining"));
            say(format!("healing the partition: node {follower} rejoins and catches up"));
            cluster.heal(follower, "partition healed by the demo");
            if pause(phase_length, stop).await {
                return Err(DemoError::Interrupted);
            }
            Ok(())
        }
        .await;
        running.store(false, Ordering::Relaxed);
        set_phase("draining clients");
        for task in clients {
            let _ = task.await;
        }
        let workload = cluster.recorder.now().saturating_sub(workload_start);
        faults?;
        set_phase("waiting for every node to be back in Target mode");
        let deadline = tokio::time::Instant::now() + recover_timeout;
        loop {
            if cluster.settled() {
                let status = cluster.final_status().await;
                if status.iter().all(|node| node.target) {
                    return Ok((workload, true, status));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok((workload, false, cluster.final_status().await));
            }
            if pause(Duration::from_millis(20), stop).await {
                return Err(DemoError::Interrupted);
            }
        }
    }
    .await;
    set_phase("done");
    if let Some(progress) = progress {
        let _ = progress.await;
    }
    outcome
}

//! The simulation harness of the Byzantine tests: a node type holding an
//! honest replica, a Byzantine one (an honest core whose inputs and outputs
//! the test controls) or a client; their disks; a key-value workload; and
//! the invariants over the correct replicas.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurableState, Input, InputOf, Instant, Invariant, NodeId, Protocol,
    SeededRng, Violation,
};
use tessera_pbft::invariants::{
    CheckpointAgreement, ExecutionAgreement, PreparedUniqueness, ViewMonotonic, Watermarks,
};
use tessera_pbft::{
    Authenticator, Batch, Claim, Client, ClientDisk, ClientOutcome, ClientWrite, Digest, Envelope,
    Gateway, Keyring, KvCommand, KvOutcome, MemKv, Payload, PbftConfig, PbftDisk, PbftMode,
    PbftWrite, PrePrepare, Replica, ViewChange, Vote,
};
pub(crate) mod hand;

use tessera_sim::{
    Cluster, KvOp, Latency, NemesisConfig, RegisterOp, RegisterRet, Reply, SimConfig, Workload,
};

/// Client node ids start here.
pub(crate) const CLIENT_BASE: NodeId = 100;

/// The seed every run's keys derive from (the simulation's own seed drives
/// everything else).
pub(crate) const KEY_SEED: u64 = 0x5eed;

/// What a Byzantine replica does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Sends nothing at all.
    Silent,
    /// As primary, sends a different batch to half the backups for the same
    /// sequence number.
    Equivocate,
    /// As primary, assigns sequence numbers outside the watermarks.
    OutOfWatermarks,
    /// Corrupts, strips or swaps the MACs and signatures of half its
    /// messages.
    ForgeAuthenticators,
    /// Claims to be another replica.
    ImpersonateSender,
    /// Replays old messages (its own and others') from earlier views and
    /// sequence numbers.
    ReplayOld,
    /// Sends pre-prepares, prepares and commits with digests that match no
    /// batch.
    WrongDigests,
    /// Sends different, fabricated view changes to different replicas.
    ConflictingViewChanges,
    /// As primary, ignores every request of one client.
    CensorClient(NodeId),
}

impl Behaviour {
    /// Every behaviour the CI seeds cycle through.
    pub(crate) const ALL: [Behaviour; 9] = [
        Behaviour::Silent,
        Behaviour::Equivocate,
        Behaviour::OutOfWatermarks,
        Behaviour::ForgeAuthenticators,
        Behaviour::ImpersonateSender,
        Behaviour::ReplayOld,
        Behaviour::WrongDigests,
        Behaviour::ConflictingViewChanges,
        Behaviour::CensorClient(CLIENT_BASE),
    ];

    /// Whether, as primary, it keeps requests from executing, so that the
    /// correct replicas must vote it out.
    pub(crate) fn stalls_as_primary(self) -> bool {
        matches!(
            self,
            Behaviour::Silent
                | Behaviour::Equivocate
                | Behaviour::OutOfWatermarks
                | Behaviour::WrongDigests
                | Behaviour::CensorClient(_)
        )
    }
}

/// Messages a replaying replica remembers.
const REPLAY_MEMORY: usize = 256;

/// A replica under the test's control: an honest core whose messages it
/// rewrites, drops, duplicates or replays.
pub(crate) struct ByzantineReplica {
    pub(crate) inner: Replica<MemKv>,
    pub(crate) behaviour: Behaviour,
    keys: Keyring,
    config: PbftConfig,
    rng: SeededRng,
    memory: VecDeque<Envelope>,
    /// Messages the behaviour sent (or suppressed) instead of the honest
    /// ones.
    pub(crate) tampered: u64,
}

impl ByzantineReplica {
    fn rewrite(
        &mut self,
        action: Action<Envelope, PbftWrite, tessera_pbft::Reply, PbftMode>,
        out: &mut Vec<ActionOf<SimNode>>,
    ) {
        let Action::Send { to, message } = action else {
            out.push(map_replica_action(action));
            return;
        };
        let me = self.inner.id();
        let send = |out: &mut Vec<ActionOf<SimNode>>, message: Envelope| {
            out.push(Action::Send { to, message })
        };
        match self.behaviour {
            Behaviour::Silent => self.tampered += 1,
            Behaviour::Equivocate => match &message.payload {
                Payload::PrePrepare(pre_prepare) if to % 2 == 0 => {
                    let mut requests = pre_prepare.batch.requests.clone();
                    requests.reverse();
                    if requests.len() < 2 {
                        requests.clear();
                    }
                    let batch = Arc::new(Batch::new(requests));
                    let forged = PrePrepare {
                        digest: batch.digest(),
                        batch,
                        ..pre_prepare.clone()
                    };
                    self.tampered += 1;
                    send(
                        out,
                        Envelope::seal_for_replicas(
                            &self.keys,
                            &self.config,
                            Payload::PrePrepare(forged),
                        ),
                    );
                }
                _ => send(out, message),
            },
            Behaviour::OutOfWatermarks => match &message.payload {
                Payload::PrePrepare(pre_prepare) => {
                    let shifted = if self.rng.chance(0.5) {
                        pre_prepare.seq + 3 * self.config.watermark_window
                    } else {
                        self.inner.low_watermark()
                    };
                    let forged = PrePrepare {
                        seq: shifted,
                        ..pre_prepare.clone()
                    };
                    self.tampered += 1;
                    send(
                        out,
                        Envelope::seal_for_replicas(
                            &self.keys,
                            &self.config,
                            Payload::PrePrepare(forged),
                        ),
                    );
                }
                _ => send(out, message),
            },
            Behaviour::ForgeAuthenticators => {
                if self.rng.chance(0.5) {
                    send(out, message);
                    return;
                }
                self.tampered += 1;
                let mut forged = message;
                forged.authenticator = match forged.authenticator {
                    Authenticator::Mac(mut mac) => {
                        mac[0] ^= 0x55;
                        Authenticator::Mac(mac)
                    }
                    Authenticator::MacVector(mut macs) => {
                        for mac in &mut macs {
                            mac[3] ^= 1;
                        }
                        Authenticator::MacVector(macs)
                    }
                    Authenticator::Signature(mut signature) => {
                        if self.rng.chance(0.5) {
                            signature[10] ^= 0x80;
                            Authenticator::Signature(signature)
                        } else {
                            Authenticator::None
                        }
                    }
                    Authenticator::None => Authenticator::Signature(Box::new([7; 64])),
                };
                send(out, forged);
            }
            Behaviour::ImpersonateSender => {
                if self.rng.chance(0.5) {
                    send(out, message);
                    return;
                }
                self.tampered += 1;
                let others: Vec<NodeId> = self
                    .config
                    .replicas()
                    .iter()
                    .copied()
                    .filter(|r| *r != me)
                    .collect();
                let claimed = *self.rng.pick(&others).expect("other replicas");
                // Sealed with its own keys under another's name: the MACs
                // and signatures cannot match the claimed sender's keys.
                let mut forged =
                    Envelope::seal_for_replicas(&self.keys, &self.config, message.payload.clone());
                forged.sender = claimed;
                send(out, forged);
            }
            Behaviour::ReplayOld => {
                self.remember(message.clone());
                send(out, message);
                if self.rng.chance(0.3) && !self.memory.is_empty() {
                    let pick = self.rng.below(self.memory.len() as u64) as usize;
                    let old = self.memory[pick].clone();
                    self.tampered += 1;
                    send(out, old);
                }
            }
            Behaviour::WrongDigests => {
                let random = Digest::of(&self.rng.next_u64().to_le_bytes());
                let forged = match &message.payload {
                    Payload::PrePrepare(pre_prepare) => Some(Payload::PrePrepare(PrePrepare {
                        digest: random,
                        ..pre_prepare.clone()
                    })),
                    Payload::Prepare(vote) => Some(Payload::Prepare(Vote {
                        digest: random,
                        ..*vote
                    })),
                    Payload::Commit(vote) => Some(Payload::Commit(Vote {
                        digest: random,
                        ..*vote
                    })),
                    _ => None,
                };
                match forged {
                    Some(payload) => {
                        self.tampered += 1;
                        send(
                            out,
                            Envelope::seal_for_replicas(&self.keys, &self.config, payload),
                        );
                    }
                    None => send(out, message),
                }
            }
            Behaviour::ConflictingViewChanges => match &message.payload {
                Payload::ViewChange(view_change) if to % 2 == 0 => {
                    let low = view_change.checkpoint.as_ref().map_or(0, |proof| proof.seq);
                    let fake = Digest::of(&self.rng.next_u64().to_le_bytes());
                    let claim = Claim {
                        seq: low + 1,
                        digest: fake,
                        view: view_change.view - 1,
                    };
                    let forged = ViewChange {
                        prepared: vec![claim],
                        pre_prepared: vec![claim],
                        ..(**view_change).clone()
                    };
                    self.tampered += 1;
                    send(
                        out,
                        Envelope::seal_for_replicas(
                            &self.keys,
                            &self.config,
                            Payload::ViewChange(Box::new(forged)),
                        ),
                    );
                    // And a view change for a later view, to nobody's benefit.
                    let later = ViewChange {
                        view: view_change.view + 1,
                        prepared: vec![],
                        pre_prepared: vec![],
                        ..(**view_change).clone()
                    };
                    send(
                        out,
                        Envelope::seal_for_replicas(
                            &self.keys,
                            &self.config,
                            Payload::ViewChange(Box::new(later)),
                        ),
                    );
                }
                _ => send(out, message),
            },
            Behaviour::CensorClient(_) => send(out, message),
        }
    }

    fn remember(&mut self, envelope: Envelope) {
        if self.memory.len() == REPLAY_MEMORY {
            self.memory.pop_front();
        }
        self.memory.push_back(envelope);
    }

    fn handle(
        &mut self,
        now: Instant,
        input: InputOf<Replica<MemKv>>,
        out: &mut Vec<ActionOf<SimNode>>,
    ) {
        if let Input::Message { message, .. } = &input {
            match (self.behaviour, &message.payload) {
                (Behaviour::CensorClient(client), Payload::Request(request))
                    if request.client == client =>
                {
                    self.tampered += 1;
                    return;
                }
                (Behaviour::ReplayOld, _) => self.remember(message.clone()),
                _ => {}
            }
        }
        let mut actions = Vec::new();
        self.inner.handle(now, input, &mut actions);
        for action in actions {
            self.rewrite(action, out);
        }
    }
}

fn map_replica_action(
    action: Action<Envelope, PbftWrite, tessera_pbft::Reply, PbftMode>,
) -> ActionOf<SimNode> {
    match action {
        Action::Send { to, message } => Action::Send { to, message },
        Action::Persist { id, write } => Action::Persist {
            id,
            write: NodeWrite::Replica(write),
        },
        Action::Reply { id, response } => Action::Reply {
            id,
            response: ClientOutcome::Executed {
                timestamp: response.timestamp,
                result: response.result,
            },
        },
        Action::ModeChanged(transition) => Action::ModeChanged(transition),
    }
}

/// A simulated node.
pub(crate) enum SimNode {
    Honest(Box<Replica<MemKv>>),
    Byzantine(Box<ByzantineReplica>),
    Client(Box<Client>),
}

impl SimNode {
    pub(crate) fn replica(&self) -> Option<&Replica<MemKv>> {
        match self {
            SimNode::Honest(replica) => Some(replica),
            SimNode::Byzantine(byzantine) => Some(&byzantine.inner),
            SimNode::Client(_) => None,
        }
    }

    pub(crate) fn honest(&self) -> Option<&Replica<MemKv>> {
        match self {
            SimNode::Honest(replica) => Some(replica),
            _ => None,
        }
    }

    pub(crate) fn byzantine(&self) -> Option<&ByzantineReplica> {
        match self {
            SimNode::Byzantine(byzantine) => Some(byzantine),
            _ => None,
        }
    }

    pub(crate) fn client(&self) -> Option<&Client> {
        match self {
            SimNode::Client(client) => Some(client),
            _ => None,
        }
    }
}

/// A durable write of any node.
#[derive(Debug)]
pub(crate) enum NodeWrite {
    Replica(PbftWrite),
    Client(ClientWrite),
}

/// Any node's disk.
#[derive(Debug, Default)]
pub(crate) struct NodeDisk {
    pub(crate) replica: PbftDisk,
    pub(crate) client: ClientDisk,
}

impl DurableState<NodeWrite> for NodeDisk {
    fn apply(&mut self, write: NodeWrite) {
        match write {
            NodeWrite::Replica(write) => self.replica.apply(write),
            NodeWrite::Client(write) => self.client.apply(write),
        }
    }
}

impl Protocol for SimNode {
    type Message = Envelope;
    type Request = Vec<u8>;
    type Response = ClientOutcome;
    type Write = NodeWrite;
    type Mode = PbftMode;

    fn id(&self) -> NodeId {
        match self {
            SimNode::Honest(replica) => replica.id(),
            SimNode::Byzantine(byzantine) => byzantine.inner.id(),
            SimNode::Client(client) => client.id(),
        }
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        match self {
            SimNode::Client(client) => {
                let mut actions = Vec::new();
                client.handle(now, input, &mut actions);
                out.extend(actions.into_iter().map(|action| match action {
                    Action::Send { to, message } => Action::Send { to, message },
                    Action::Persist { id, write } => Action::Persist {
                        id,
                        write: NodeWrite::Client(write),
                    },
                    Action::Reply { id, response } => Action::Reply { id, response },
                    Action::ModeChanged(transition) => Action::ModeChanged(transition),
                }));
            }
            SimNode::Honest(replica) => {
                let Some(input) = replica_input(input) else {
                    return;
                };
                let mut actions = Vec::new();
                replica.handle(now, input, &mut actions);
                out.extend(actions.into_iter().map(map_replica_action));
            }
            SimNode::Byzantine(byzantine) => {
                let Some(input) = replica_input(input) else {
                    return;
                };
                byzantine.handle(now, input, out);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match self {
            SimNode::Honest(replica) => replica.next_deadline(),
            SimNode::Byzantine(byzantine) => byzantine.inner.next_deadline(),
            SimNode::Client(client) => client.next_deadline(),
        }
    }

    fn mode(&self) -> PbftMode {
        match self {
            SimNode::Honest(replica) => replica.mode(),
            SimNode::Byzantine(byzantine) => byzantine.inner.mode(),
            SimNode::Client(client) => client.mode(),
        }
    }
}

/// Replicas take no operations from the workload: clients send them.
fn replica_input(input: InputOf<SimNode>) -> Option<InputOf<Replica<MemKv>>> {
    match input {
        Input::Message { from, message } => Some(Input::Message { from, message }),
        Input::Tick => Some(Input::Tick),
        Input::Persisted { up_to } => Some(Input::Persisted { up_to }),
        Input::Request { .. } => None,
    }
}

/// How a test cluster is made.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub(crate) faults: usize,
    pub(crate) clients: usize,
    pub(crate) byzantine: BTreeMap<NodeId, Behaviour>,
    pub(crate) config: PbftConfig,
}

impl Setup {
    /// `3f + 1` replicas with test timings, `clients` clients, no Byzantine
    /// replica yet.
    pub(crate) fn new(faults: usize, clients: usize) -> Setup {
        let replicas: Vec<NodeId> = (1..=(3 * faults as u64 + 1)).collect();
        let mut config = PbftConfig::with_faults(replicas, faults).expect("3f + 1 replicas");
        config.checkpoint_interval = 8;
        config.watermark_window = 16;
        config.batch_size_max = 8;
        config.batches_in_flight_max = 2;
        config.view_change_timeout = Duration::from_millis(200);
        config.view_change_timeout_max = Duration::from_secs(2);
        config.status_interval = Duration::from_millis(40);
        config.peer_silence_timeout = Duration::from_millis(400);
        config.client_retransmit_timeout = Duration::from_millis(100);
        config.client_retransmit_timeout_max = Duration::from_millis(800);
        Setup {
            faults,
            clients,
            byzantine: BTreeMap::new(),
            config,
        }
    }

    pub(crate) fn with(mut self, node: NodeId, behaviour: Behaviour) -> Setup {
        self.byzantine.insert(node, behaviour);
        self
    }

    pub(crate) fn replicas(&self) -> Vec<NodeId> {
        self.config.replicas().to_vec()
    }

    pub(crate) fn client_ids(&self) -> Vec<NodeId> {
        (0..self.clients as u64).map(|i| CLIENT_BASE + i).collect()
    }

    pub(crate) fn nodes(&self) -> Vec<NodeId> {
        let mut nodes = self.replicas();
        nodes.extend(self.client_ids());
        nodes
    }

    /// A simulation configuration: the nodes, a LAN, some loss and
    /// duplication, clients that wait long enough for view changes.
    pub(crate) fn sim_config(&self, seed: u64) -> SimConfig {
        let mut config = SimConfig::new(seed, self.nodes());
        config.clients.clients = self.clients;
        config.clients.request_timeout = Duration::from_secs(4);
        config.network.loss_probability = 0.01;
        config.network.duplicate_probability = 0.01;
        config
    }

    /// The nemesis for a safety phase of `active_for`.
    pub(crate) fn nemesis(active_for: Duration) -> NemesisConfig {
        NemesisConfig {
            active_for,
            fault_duration: Latency::Uniform {
                min: Duration::from_millis(20),
                max: Duration::from_millis(800),
            },
            ..NemesisConfig::default()
        }
    }

    /// The boot function: each node from its disk.
    pub(crate) fn boot(&self) -> impl FnMut(tessera_sim::Boot<'_, NodeDisk>) -> SimNode + 'static {
        let setup = self.clone();
        let nodes = self.nodes();
        move |boot| {
            let keys = Keyring::derive(KEY_SEED, boot.id, &nodes);
            if setup.config.is_replica(boot.id) {
                let replica = Replica::recover(
                    setup.config.clone(),
                    keys.clone(),
                    MemKv::default(),
                    boot.durable.replica.recovered(),
                    boot.now,
                )
                .expect("a replica boots from its own disk");
                match setup.byzantine.get(&boot.id) {
                    None => SimNode::Honest(Box::new(replica)),
                    Some(behaviour) => SimNode::Byzantine(Box::new(ByzantineReplica {
                        inner: replica,
                        behaviour: *behaviour,
                        keys,
                        config: setup.config.clone(),
                        rng: SeededRng::new(boot.seed),
                        memory: VecDeque::new(),
                        tampered: 0,
                    })),
                }
            } else {
                SimNode::Client(Box::new(
                    Client::new(setup.config.clone(), keys, &boot.durable.client, boot.now)
                        .expect("a client boots"),
                ))
            }
        }
    }
}

/// A simulated node that may hold a correct replica: the invariants are
/// checked over those.
pub(crate) trait CorrectReplica {
    /// The node's replica, if it is a correct one.
    fn correct_replica(&self) -> Option<&Replica<MemKv>>;
}

impl CorrectReplica for SimNode {
    fn correct_replica(&self) -> Option<&Replica<MemKv>> {
        self.honest()
    }
}

impl CorrectReplica for Gateway<MemKv> {
    fn correct_replica(&self) -> Option<&Replica<MemKv>> {
        Some(self.replica())
    }
}

/// Runs a PBFT invariant over the running correct replicas of a simulated
/// cluster.
pub(crate) struct OnCorrectReplicas<I>(pub I);

impl<I, P, D> Invariant<Cluster<P, D>> for OnCorrectReplicas<I>
where
    I: for<'a> Invariant<[&'a Replica<MemKv>]>,
    P: Protocol + CorrectReplica,
{
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn source(&self) -> &'static str {
        self.0.source()
    }

    fn check(&mut self, cluster: &Cluster<P, D>) -> Result<(), Violation> {
        let correct: Vec<&Replica<MemKv>> = cluster
            .running()
            .filter_map(CorrectReplica::correct_replica)
            .collect();
        self.0
            .check(&correct[..])
            .map_err(|violation| violation.at(cluster.now()))
    }
}

/// Registers every PBFT invariant on a simulation.
pub(crate) fn add_invariants<P, D, W>(sim: &mut tessera_sim::Simulation<P, D, W>)
where
    P: Protocol + CorrectReplica + 'static,
    D: DurableState<P::Write> + 'static,
    W: Workload<P>,
{
    sim.add_invariant(OnCorrectReplicas(ExecutionAgreement::default()));
    sim.add_invariant(OnCorrectReplicas(PreparedUniqueness));
    sim.add_invariant(OnCorrectReplicas(CheckpointAgreement::default()));
    sim.add_invariant(OnCorrectReplicas(ViewMonotonic::default()));
    sim.add_invariant(OnCorrectReplicas(Watermarks));
}

/// Reads, writes, compare-and-sets and deletes on a few keys, each client
/// through its own PBFT client node; written values are unique.
#[derive(Debug, Clone)]
pub(crate) struct KvWorkload {
    keys: u64,
    next_value: u64,
    ops_per_client: Option<u64>,
    issued: BTreeMap<usize, u64>,
}

impl KvWorkload {
    pub(crate) fn new(keys: u64) -> Self {
        KvWorkload {
            keys,
            next_value: 1,
            ops_per_client: None,
            issued: BTreeMap::new(),
        }
    }

    pub(crate) fn with_ops_per_client(mut self, ops: u64) -> Self {
        self.ops_per_client = Some(ops);
        self
    }
}

fn key_bytes(key: u64) -> Vec<u8> {
    key.to_le_bytes().to_vec()
}

fn value_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

impl Workload<SimNode> for KvWorkload {
    type Op = KvOp<u64, u64>;
    type Ret = RegisterRet<u64>;

    fn next_op(&mut self, client: usize, rng: &mut SeededRng) -> Option<Self::Op> {
        let issued = self.issued.entry(client).or_default();
        if self.ops_per_client.is_some_and(|max| *issued >= max) {
            return None;
        }
        *issued += 1;
        let key = rng.below(self.keys);
        let value = self.next_value;
        self.next_value += 1;
        let op = match rng.below(20) {
            0..=7 => RegisterOp::Read,
            8..=15 => RegisterOp::Write(value),
            16..=18 => RegisterOp::Cas {
                expected: value.saturating_sub(1 + rng.below(3)),
                new: value,
            },
            _ => RegisterOp::Delete,
        };
        Some(KvOp { key, op })
    }

    fn request(
        &mut self,
        client: usize,
        op: &Self::Op,
        _redirect: Option<NodeId>,
        _nodes: &[NodeId],
        _rng: &mut SeededRng,
    ) -> Option<(NodeId, Vec<u8>)> {
        let key = key_bytes(op.key);
        let command = match &op.op {
            RegisterOp::Read => KvCommand::Get(key),
            RegisterOp::Write(value) => KvCommand::Put(key, key_bytes(*value)),
            RegisterOp::Cas { expected, new } => KvCommand::Cas {
                key,
                expected: Some(key_bytes(*expected)),
                new: key_bytes(*new),
            },
            RegisterOp::Delete => KvCommand::Delete(key),
        };
        Some((CLIENT_BASE + client as u64, command.encode()))
    }

    fn interpret(
        &mut self,
        _client: usize,
        op: &Self::Op,
        response: ClientOutcome,
    ) -> Reply<Self::Ret> {
        let ClientOutcome::Executed { result, .. } = response else {
            return Reply::Fail;
        };
        match (KvOutcome::decode(&result), &op.op) {
            (Some(KvOutcome::Value(value)), RegisterOp::Read) => match value {
                None => Reply::Ok(RegisterRet::Read(None)),
                Some(bytes) => value_of(&bytes)
                    .map_or(Reply::Unknown, |v| Reply::Ok(RegisterRet::Read(Some(v)))),
            },
            (Some(KvOutcome::Done), RegisterOp::Write(_) | RegisterOp::Delete) => {
                Reply::Ok(RegisterRet::Done)
            }
            (Some(KvOutcome::Swapped(swapped)), RegisterOp::Cas { .. }) => {
                Reply::Ok(RegisterRet::Cas(swapped))
            }
            _ => Reply::Unknown,
        }
    }
}

/// The correct replicas' views, and whether each is active.
pub(crate) fn correct_views(cluster: &Cluster<SimNode, NodeDisk>) -> BTreeSet<(u64, bool)> {
    cluster
        .running()
        .filter_map(SimNode::honest)
        .map(|replica| (replica.view(), replica.is_view_active()))
        .collect()
}

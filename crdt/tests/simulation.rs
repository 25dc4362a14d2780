//! Delta-state anti-entropy in the deterministic simulator: three replicas
//! under the nemesis — partitions, one-way cuts, crashes with restarts
//! from durable state, clock steps, bursts of loss — with message loss,
//! duplication and reordering throughout, and clients updating every
//! replica.
//!
//! After every step: INFLATION (no replica's state, nor its causal
//! context, ever shrinks; durable states only grow; the live state holds
//! the durable one) and NO PHANTOM ELEMENT (no replica holds an element no
//! client ever added). Once faults stop and anti-entropy has run:
//! CONVERGENCE (every replica equal), every acknowledged update present,
//! and every replica back in Target mode.
//!
//! `TESSERA_SEEDS=N` runs more seeds; a failure prints the seed and the
//! command that reruns it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use tessera_core::{Invariant, Mode, ModeLevel, NodeId, Protocol, SeededRng, Violation};
use tessera_crdt::*;
use tessera_sim::{
    Boot, Cluster, NemesisConfig, Reply, SimConfig, SimFailure, Simulation, Workload, run_seeds,
};
use tessera_vclock::Dot;

/// Seeds per test in CI.
const SEEDS: u64 = 10;
/// The nemesis is active this long.
const SAFETY_PHASE: Duration = Duration::from_secs(3);
/// Then clients go on this long, faults healed.
const LIVENESS_PHASE: Duration = Duration::from_secs(1);
/// Then clients stop, and anti-entropy gets this long to converge.
const QUIET_PHASE: Duration = Duration::from_secs(2);

fn sync_config() -> DeltaSyncConfig {
    DeltaSyncConfig {
        sync_interval: Duration::from_millis(10),
        peer_timeout: Duration::from_millis(150),
        delta_buffer_max: 256,
    }
}

fn sim_config(seed: u64) -> SimConfig {
    let mut config = SimConfig::new(seed, vec![1, 2, 3]);
    config.network.loss_probability = 0.05;
    config.network.duplicate_probability = 0.05;
    config.clients.clients = 3;
    config.nemesis = Some(NemesisConfig {
        active_for: SAFETY_PHASE,
        ..NemesisConfig::default()
    });
    config
}

fn boot<C, M>(boot: Boot<'_, DurableReplica<C>>) -> DeltaSyncNode<C, M>
where
    C: DeltaCrdt + CrdtEncoding,
    M: Mutation<C>,
{
    DeltaSyncNode::new(
        boot.id,
        boot.members,
        boot.durable,
        boot.incarnation,
        boot.now,
        sync_config(),
    )
    .expect("a valid configuration")
}

fn views<C, M>(cluster: &Cluster<DeltaSyncNode<C, M>, DurableReplica<C>>) -> Vec<ReplicaView<'_, C>>
where
    C: DeltaCrdt + CrdtEncoding,
    M: Mutation<C>,
{
    cluster
        .nodes()
        .map(|view| ReplicaView {
            node: view.id,
            incarnation: view.incarnation,
            live: view.node.map(DeltaSyncNode::state),
            durable: view.durable.state(),
        })
        .collect()
}

/// A tessera-crdt invariant over replica views, checked on the cluster.
struct OnCluster<I>(I);

impl<C, M, I> Invariant<Cluster<DeltaSyncNode<C, M>, DurableReplica<C>>> for OnCluster<I>
where
    C: DeltaCrdt + CrdtEncoding,
    M: Mutation<C>,
    I: for<'a> Invariant<[ReplicaView<'a, C>]>,
{
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn check(
        &mut self,
        cluster: &Cluster<DeltaSyncNode<C, M>, DurableReplica<C>>,
    ) -> Result<(), Violation> {
        self.0.check(&views(cluster))
    }
}

/// After the quiet phase: CONVERGENCE, and everyone back in Target.
fn check_converged<C, M, W>(
    sim: &Simulation<DeltaSyncNode<C, M>, DurableReplica<C>, W>,
) -> Result<(), SimFailure>
where
    C: DeltaCrdt + CrdtEncoding,
    M: Mutation<C>,
    W: Workload<DeltaSyncNode<C, M>>,
{
    let fail = |violation: Violation| SimFailure {
        seed: sim.seed(),
        step: sim.stats().steps,
        at: sim.now(),
        violation: Box::new(violation),
        rerun: None,
    };
    Convergence.check(&views(sim.cluster())[..]).map_err(fail)?;
    for node in sim.cluster().running() {
        if node.mode().level() != ModeLevel::Target {
            return Err(fail(
                Violation::new("TARGET AFTER HEALING", "a replica did not return to Target")
                    .on_node(node.id())
                    .with("mode", node.mode().name())
                    .with("why", node.mode_tracker().why()),
            ));
        }
    }
    if sim.cluster().running().count() != 3 {
        return Err(fail(Violation::new("HEALED", "a replica is still down")));
    }
    Ok(())
}

// ----- an observed-remove set -----

type SetNode = DeltaSyncNode<OrSet<u64>, OrSetRequest<u64>>;
type SetDisk = DurableReplica<OrSet<u64>>;

/// Clients add, remove and read small numbers at random replicas; every
/// element ever sent in an add is recorded, and every add acknowledged.
#[derive(Default)]
struct SetWorkload {
    issued: Rc<RefCell<BTreeSet<u64>>>,
    acknowledged: Rc<RefCell<Vec<Dot>>>,
}

impl Workload<SetNode> for SetWorkload {
    type Op = OrSetRequest<u64>;
    type Ret = OrSetReply<u64>;

    fn next_op(&mut self, _client: usize, rng: &mut SeededRng) -> Option<Self::Op> {
        let element = rng.below(40);
        Some(match rng.below(10) {
            0..=5 => OrSetRequest::Add(element),
            6..=8 => OrSetRequest::Remove(element),
            _ => OrSetRequest::Read,
        })
    }

    fn request(
        &mut self,
        _client: usize,
        op: &Self::Op,
        _redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, Self::Op)> {
        if let OrSetRequest::Add(element) = op {
            self.issued.borrow_mut().insert(*element);
        }
        let node = nodes[rng.below(nodes.len() as u64) as usize];
        Some((node, op.clone()))
    }

    fn interpret(
        &mut self,
        _client: usize,
        _op: &Self::Op,
        response: Result<OrSetReply<u64>, CrdtError>,
    ) -> Reply<Self::Ret> {
        match response {
            Ok(reply) => {
                if let OrSetReply::Added(dot) = &reply {
                    self.acknowledged.borrow_mut().push(*dot);
                }
                Reply::Ok(reply)
            }
            Err(_) => Reply::Fail,
        }
    }
}

/// NO PHANTOM ELEMENT: every element a replica holds, live or durable,
/// was sent by a client in an add.
struct NoPhantomElement(Rc<RefCell<BTreeSet<u64>>>);

impl Invariant<Cluster<SetNode, SetDisk>> for NoPhantomElement {
    fn name(&self) -> &'static str {
        "NO PHANTOM ELEMENT"
    }

    fn check(&mut self, cluster: &Cluster<SetNode, SetDisk>) -> Result<(), Violation> {
        let issued = self.0.borrow();
        for view in views(cluster) {
            for state in view.live.into_iter().chain([view.durable]) {
                if let Some(element) = state.iter().find(|element| !issued.contains(element)) {
                    return Err(Violation::new(
                        self.name(),
                        "a replica holds an element never added",
                    )
                    .on_node(view.node)
                    .with("element", element));
                }
            }
        }
        Ok(())
    }
}

/// CONTEXT NEVER SHRINKS, checked on the causal contexts themselves (a
/// restart may lose what was never acknowledged, so the live context is
/// compared within one incarnation; the durable one always).
#[derive(Default)]
struct ContextNeverShrinks {
    last: std::collections::BTreeMap<NodeId, (u64, Option<CausalContext>, CausalContext)>,
}

impl Invariant<Cluster<SetNode, SetDisk>> for ContextNeverShrinks {
    fn name(&self) -> &'static str {
        "CONTEXT NEVER SHRINKS"
    }

    fn check(&mut self, cluster: &Cluster<SetNode, SetDisk>) -> Result<(), Violation> {
        for view in views(cluster) {
            let live = view.live.map(|state| state.context().clone());
            let durable = view.durable.context().clone();
            if let Some((incarnation, last_live, last_durable)) = self.last.get(&view.node) {
                let live_shrank = *incarnation == view.incarnation
                    && matches!((last_live, &live), (Some(before), Some(after)) if !before.is_subset_of(after));
                if live_shrank || !last_durable.is_subset_of(&durable) {
                    return Err(
                        Violation::new(self.name(), "a causal context lost an event")
                            .on_node(view.node),
                    );
                }
            }
            self.last
                .insert(view.node, (view.incarnation, live, durable));
        }
        Ok(())
    }
}

fn run_set(seed: u64) -> Result<Simulation<SetNode, SetDisk, SetWorkload>, SimFailure> {
    let workload = SetWorkload::default();
    let issued = workload.issued.clone();
    let mut sim = Simulation::new(
        sim_config(seed),
        workload,
        boot::<OrSet<u64>, OrSetRequest<u64>>,
    )
    .expect("a valid configuration");
    sim.add_invariant(OnCluster(Inflation::<OrSet<u64>>::new()));
    sim.add_invariant(NoPhantomElement(issued));
    sim.add_invariant(ContextNeverShrinks::default());
    sim.run_for(SAFETY_PHASE + LIVENESS_PHASE)?;
    sim.stop_clients();
    sim.run_for(QUIET_PHASE)?;
    check_converged(&sim)?;
    Ok(sim)
}

#[test]
fn or_set_replicas_converge_under_faults() {
    run_seeds(SEEDS, "-p tessera-crdt --test simulation or_set", |seed| {
        let sim = run_set(seed)?;
        // No acknowledged add is lost: its dot is in every replica's
        // context (and the element present unless a remove saw it).
        let node = sim.cluster().running().next().expect("a replica");
        for dot in sim.workload().acknowledged.borrow().iter() {
            assert!(
                node.state().context().contains(*dot),
                "seed {seed}: acknowledged add {dot} lost"
            );
        }
        let stats = sim.stats();
        assert!(
            stats.steps > 5_000,
            "seed {seed}: only {} steps",
            stats.steps
        );
        Ok(())
    });
}

#[test]
fn the_nemesis_really_partitions_and_replicas_report_it() {
    // Over the seeds, faults happened and replicas went through Degraded
    // and Recovery and back, each change with its trigger.
    let mut degraded = 0;
    let mut recovered = 0;
    for seed in 0..4 {
        let sim = run_set(seed).unwrap_or_else(|failure| panic!("{failure}"));
        assert!(sim.stats().messages_dropped_partition > 0 || sim.stats().crashes > 0);
        for change in sim.mode_log() {
            assert!(!change.transition.trigger.is_empty());
            match change.transition.to {
                SyncMode::Partitioned => degraded += 1,
                SyncMode::Converging if change.transition.from == SyncMode::CatchingUp => {
                    recovered += 1
                }
                _ => {}
            }
        }
    }
    assert!(
        degraded > 0 && recovered > 0,
        "degraded {degraded}, recovered {recovered}"
    );
}

// ----- a grow-only counter -----

type CounterNode = DeltaSyncNode<GCounter, GCounterRequest>;

#[derive(Default)]
struct CounterWorkload {
    issued: Rc<RefCell<u128>>,
    acknowledged: Rc<RefCell<u128>>,
}

impl Workload<CounterNode> for CounterWorkload {
    type Op = GCounterRequest;
    type Ret = u128;

    fn next_op(&mut self, _client: usize, rng: &mut SeededRng) -> Option<GCounterRequest> {
        Some(if rng.below(5) == 0 {
            GCounterRequest::Read
        } else {
            GCounterRequest::Increment(1 + rng.below(9))
        })
    }

    fn request(
        &mut self,
        _client: usize,
        op: &GCounterRequest,
        _redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, GCounterRequest)> {
        if let GCounterRequest::Increment(amount) = op {
            *self.issued.borrow_mut() += u128::from(*amount);
        }
        Some((nodes[rng.below(nodes.len() as u64) as usize], *op))
    }

    fn interpret(
        &mut self,
        _client: usize,
        op: &GCounterRequest,
        response: Result<u128, CrdtError>,
    ) -> Reply<u128> {
        match response {
            Ok(value) => {
                if let GCounterRequest::Increment(amount) = op {
                    *self.acknowledged.borrow_mut() += u128::from(*amount);
                }
                Reply::Ok(value)
            }
            Err(_) => Reply::Fail,
        }
    }
}

#[test]
fn counter_replicas_converge_and_count_every_acknowledged_increment() {
    run_seeds(
        SEEDS / 2,
        "-p tessera-crdt --test simulation counter",
        |seed| {
            let workload = CounterWorkload::default();
            let (issued, acknowledged) = (workload.issued.clone(), workload.acknowledged.clone());
            let mut sim = Simulation::new(
                sim_config(seed),
                workload,
                boot::<GCounter, GCounterRequest>,
            )
            .expect("a valid configuration");
            sim.add_invariant(OnCluster(Inflation::<GCounter>::new()));
            sim.run_for(SAFETY_PHASE + LIVENESS_PHASE)?;
            sim.stop_clients();
            sim.run_for(QUIET_PHASE)?;
            check_converged(&sim)?;
            let value = sim
                .cluster()
                .running()
                .next()
                .expect("a replica")
                .state()
                .value();
            // Every acknowledged increment counted; nothing counted that was
            // never sent (an unacknowledged one may or may not count).
            assert!(
                *acknowledged.borrow() <= value && value <= *issued.borrow(),
                "seed {seed}: acknowledged {} ≤ value {value} ≤ issued {}",
                acknowledged.borrow(),
                issued.borrow()
            );
            Ok(())
        },
    );
}

// ----- a text -----

type TextNode = DeltaSyncNode<Sequence<char>, SequenceRequest<char>>;

/// Clients type and delete at random positions of random replicas.
#[derive(Default)]
struct TypingWorkload;

impl Workload<TextNode> for TypingWorkload {
    type Op = SequenceRequest<char>;
    type Ret = Option<Vec<char>>;

    fn next_op(&mut self, _client: usize, rng: &mut SeededRng) -> Option<Self::Op> {
        // Near the start: valid at every replica once a few characters
        // are in (an out-of-range edit is refused, and recorded as failed).
        let at = rng.below(6) as usize;
        Some(match rng.below(10) {
            0..=6 => SequenceRequest::Insert {
                position: at,
                values: vec![char::from(b'a' + rng.below(26) as u8); 1 + rng.below(3) as usize],
            },
            7..=8 => SequenceRequest::Delete {
                position: at,
                count: 1,
            },
            _ => SequenceRequest::Read,
        })
    }

    fn request(
        &mut self,
        _client: usize,
        op: &Self::Op,
        _redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, Self::Op)> {
        Some((nodes[rng.below(nodes.len() as u64) as usize], op.clone()))
    }

    fn interpret(
        &mut self,
        _client: usize,
        _op: &Self::Op,
        response: Result<Option<Vec<char>>, CrdtError>,
    ) -> Reply<Self::Ret> {
        match response {
            Ok(reply) => Reply::Ok(reply),
            // A position past the end at that replica: refused, nothing done.
            Err(_) => Reply::Fail,
        }
    }
}

#[test]
fn text_replicas_converge_under_faults() {
    run_seeds(
        SEEDS / 4,
        "-p tessera-crdt --test simulation text",
        |seed| {
            let mut sim = Simulation::new(
                sim_config(seed),
                TypingWorkload,
                boot::<Sequence<char>, SequenceRequest<char>>,
            )
            .expect("a valid configuration");
            sim.add_invariant(OnCluster(Inflation::<Sequence<char>>::new()));
            sim.run_for(SAFETY_PHASE + LIVENESS_PHASE)?;
            sim.stop_clients();
            sim.run_for(QUIET_PHASE)?;
            check_converged(&sim)?;
            let text = sim.cluster().running().next().expect("a replica").state();
            assert_eq!(
                text.pending_len(),
                0,
                "seed {seed}: operations left pending"
            );
            assert!(
                text.stats().operations > 0,
                "seed {seed}: nothing was typed"
            );
            Ok(())
        },
    );
}

//! Multi-Paxos under the simulator's nemesis — partitions, one-way links,
//! crashes with restarts from durable state, loss, duplication,
//! reordering, clock skew, drift and steps — with majority, flexible and
//! grid quorums. UNIQUENESS, AGREEMENT, VALIDITY and TOTAL ORDER are
//! checked after every step, and every run's key-value history must be
//! linearizable.

mod common;

use std::time::Duration;

use common::OnCluster;
use common::kv::{KvClients, KvCommand, KvMachine};
use tessera_core::NodeId;
use tessera_paxos::invariants::{Agreement, TotalOrder, Uniqueness, Validity};
use tessera_paxos::multi::{
    Configuration, LeaseConfig, MultiPaxos, MultiPaxosConfig, PaxosDisk, QuorumSpec, SlotValue,
};
use tessera_sim::{
    KvModel, Latency, NemesisConfig, Outcome, SimConfig, SimFailure, Simulation, run_seeds,
};

/// Seeds CI runs per quorum system; `TESSERA_SEEDS` runs more.
const SEEDS: u64 = 200;
/// Each run takes at least this many steps.
const STEPS_MIN: u64 = 10_000;
/// The nemesis is active this long, then everything heals.
const SAFETY_PHASE: Duration = Duration::from_secs(3);
/// Clients keep going this long after the nemesis stops.
const LIVENESS_PHASE: Duration = Duration::from_millis(3500);

type Node = MultiPaxos<KvMachine>;
type PaxosSim = Simulation<Node, PaxosDisk<KvCommand>, KvClients>;

#[derive(Debug, Clone, Copy)]
enum Quorums {
    /// Three nodes, majorities, leases on.
    Majority,
    /// Five nodes, phase one on four, phase two on two.
    Flexible,
    /// A 2 × 2 grid, leases on.
    Grid,
}

impl Quorums {
    fn spec(self) -> QuorumSpec {
        match self {
            Quorums::Majority => QuorumSpec::Majority(vec![1, 2, 3]),
            Quorums::Flexible => QuorumSpec::Flexible {
                members: vec![1, 2, 3, 4, 5],
                phase1: 4,
                phase2: 2,
            },
            Quorums::Grid => QuorumSpec::Grid(vec![vec![1, 2], vec![3, 4]]),
        }
    }

    fn leases(self) -> bool {
        !matches!(self, Quorums::Flexible)
    }
}

fn simulate(seed: u64, quorums: Quorums) -> Result<PaxosSim, SimFailure> {
    let spec = quorums.spec();
    let members = Configuration::initial(spec.clone()).members();
    let mut sim_config = SimConfig::new(seed, members.clone());
    sim_config.network.loss_probability = 0.02;
    sim_config.network.duplicate_probability = 0.02;
    sim_config.clients.clients = 3;
    sim_config.clients.think_time = Latency::Uniform {
        min: Duration::ZERO,
        max: Duration::from_millis(3),
    };
    sim_config.nemesis = Some(NemesisConfig {
        active_for: SAFETY_PHASE,
        fault_duration: Latency::Uniform {
            min: Duration::from_millis(20),
            max: Duration::from_millis(800),
        },
        // Clock steps within the bound the leases assume.
        clock_step_max: Duration::from_millis(100),
        clock_drift_max_ppm: 500,
        ..NemesisConfig::default()
    });
    let leases = quorums.leases();
    let boot_spec = spec.clone();
    let mut sim = Simulation::new(sim_config, KvClients::new(4), move |boot| {
        let mut config = MultiPaxosConfig::new(boot.id, Configuration::initial(boot_spec.clone()))
            .expect("a member");
        config.audit_capacity = 1 << 16;
        config.snapshot_interval = 64;
        config.window = 8;
        config.batch_max = 16;
        if leases {
            // Initial offsets (10 ms), drift (500 ppm over the run) and
            // steps (100 ms) stay within 150 ms.
            config.lease = Some(LeaseConfig {
                duration: Duration::from_millis(1000),
                max_clock_offset: Duration::from_millis(150),
            });
        }
        MultiPaxos::boot(
            config,
            boot.durable,
            KvMachine::default(),
            boot.seed,
            boot.now,
        )
        .expect("boots from its own disk")
    })
    .expect("valid simulation");
    let paxos_quorums = spec.build().expect("valid quorums");
    sim.add_invariant(
        OnCluster::new()
            .with(Uniqueness::<SlotValue<KvCommand>>::new(paxos_quorums))
            .with(Agreement::<SlotValue<KvCommand>>::new())
            .with(Validity::<KvCommand>::new())
            .with(TotalOrder::<SlotValue<KvCommand>>::new()),
    );
    sim.run_for(SAFETY_PHASE + LIVENESS_PHASE)?;
    sim.stop_clients();
    sim.run_for(Duration::from_secs(1))?;
    sim.check_history(KvModel::new())?;
    Ok(sim)
}

fn check_run(seed: u64, quorums: Quorums) -> Result<(), SimFailure> {
    let sim = simulate(seed, quorums)?;
    let stats = sim.stats();
    if std::env::var("PAXOS_SIM_VERBOSE").is_ok() {
        let leader_counters: Vec<_> = sim
            .cluster()
            .running()
            .filter(|n| n.is_leader())
            .map(|n| n.counters())
            .collect();
        eprintln!("seed {seed} {quorums:?}: {stats:?} {leader_counters:?}");
        for node in sim.cluster().running() {
            use tessera_core::Protocol;
            eprintln!(
                "  node {} mode {:?} leader {:?} commit {} applied {} last {} deadline {:?} now {:?} promised {} lease {:?} granted {:?}",
                node.id(),
                node.mode(),
                node.leader(),
                node.commit_index(),
                node.applied_index(),
                node.last_slot(),
                node.next_deadline(),
                sim.cluster().clock(node.id()),
                node.promised(),
                node.lease().map(|l| l.expiry()),
                node.granted_lease().map(|l| (l.holder(), l.held_until()))
            );
            eprintln!("    {}", node.debug_leader_state());
        }
        let outcomes: std::collections::BTreeMap<String, usize> = sim
            .history()
            .operations()
            .iter()
            .fold(Default::default(), |mut m, op| {
                *m.entry(format!("{:?}", op.outcome).chars().take(12).collect())
                    .or_default() += 1;
                m
            });
        eprintln!(
            "  outcomes {outcomes:?} answers {:?}",
            sim.workload().answers
        );
        if std::env::var("PAXOS_SIM_MODES").is_ok() {
            for change in sim.mode_log() {
                eprintln!(
                    "  {} node {}: {}",
                    change.at, change.node, change.transition
                );
            }
            for fault in sim.fault_log() {
                eprintln!("  {} fault {:?}", fault.at, fault.fault);
            }
        }
    }
    assert!(
        stats.steps >= STEPS_MIN,
        "seed {seed}: only {} steps",
        stats.steps
    );
    // Liveness: once healed, operations succeed again.
    let settled = (SAFETY_PHASE + Duration::from_millis(1500)).as_nanos() as u64;
    let late_ok = sim
        .history()
        .operations()
        .iter()
        .filter(|op| op.invoked_at.as_nanos() > settled)
        .filter(|op| matches!(op.outcome, Outcome::Ok(_)))
        .count();
    assert!(
        late_ok > 0,
        "seed {seed} {quorums:?}: nothing succeeded after healing"
    );
    Ok(())
}

#[test]
fn majority_quorums_with_leases_survive_the_nemesis() {
    run_seeds(
        SEEDS,
        "-p tessera-paxos --test multi_sim majority",
        |seed| check_run(seed, Quorums::Majority),
    );
}

#[test]
fn flexible_quorums_survive_the_nemesis() {
    run_seeds(
        SEEDS,
        "-p tessera-paxos --test multi_sim flexible",
        |seed| check_run(seed, Quorums::Flexible),
    );
}

#[test]
fn grid_quorums_with_leases_survive_the_nemesis() {
    run_seeds(SEEDS, "-p tessera-paxos --test multi_sim grid", |seed| {
        check_run(seed, Quorums::Grid)
    });
}

#[allow(dead_code)]
fn members(quorums: Quorums) -> Vec<NodeId> {
    Configuration::initial(quorums.spec()).members()
}

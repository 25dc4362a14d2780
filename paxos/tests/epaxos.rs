//! EPaxos scenarios through the public API — the fast path, the slow path
//! under interference, explicit-prepare recovery of a failed command
//! leader in each of its cases — bad input, the invariants catching broken
//! states, and the simulator under the nemesis.

mod common;

use std::time::Duration;

use common::kv::{EpCommand, EpKv, EpOp, KvClients};
use common::{Net, OnCluster};
use tessera_core::{Input, Instant, Invariant, NodeId, Protocol};
use tessera_paxos::epaxos::{
    Attributes, Epaxos, EpaxosConfig, EpaxosDisk, EpaxosMessage, EpaxosMode, EpaxosResponse,
    InstanceId, InstanceRecord, Status,
};
use tessera_paxos::invariants::{
    CONSISTENT_EXECUTION, ConsistentExecution, InstanceAgreement, InstanceUniqueness, UNIQUENESS,
};
use tessera_paxos::{Ballot, PaxosError};
use tessera_sim::{KvModel, Latency, NemesisConfig, SimConfig, SimFailure, Simulation, run_seeds};

type Node = Epaxos<EpKv>;
type EpaxosNet = Net<Node, EpaxosDisk<EpCommand>>;

const TICK: Duration = Duration::from_millis(5);

fn net(ids: &[NodeId]) -> EpaxosNet {
    let members = ids.to_vec();
    Net::new(ids, move |id, disk, incarnation| {
        let mut config = EpaxosConfig::new(id, members.clone()).expect("valid");
        config.audit_capacity = 65_536;
        Epaxos::boot(
            config,
            disk,
            EpKv::default(),
            id * 1000 + incarnation,
            Instant::ZERO,
        )
        .expect("boots")
    })
}

fn put(id: u64, key: u64, value: u64) -> EpCommand {
    EpCommand {
        id,
        key,
        op: EpOp::Put(value),
    }
}

struct Checks {
    uniqueness: InstanceUniqueness<EpCommand>,
    agreement: InstanceAgreement<EpCommand>,
    execution: ConsistentExecution<u64>,
}

impl Checks {
    fn new(members: usize) -> Self {
        Checks {
            uniqueness: InstanceUniqueness::new(members),
            agreement: InstanceAgreement::new(),
            execution: ConsistentExecution::new(),
        }
    }

    fn check(&mut self, net: &EpaxosNet) {
        let view = net.view();
        self.uniqueness.check(&view).expect("UNIQUENESS");
        self.agreement.check(&view).expect("AGREEMENT");
        self.execution.check(&view).expect("CONSISTENT EXECUTION");
    }
}

#[test]
fn non_interfering_commands_commit_on_the_fast_path() {
    let mut net = net(&[1, 2, 3, 4, 5]);
    let mut checks = Checks::new(5);
    let mut requests = Vec::new();
    for id in 1..=5u64 {
        requests.push(net.request(id, put(id, id, 10 * id)));
    }
    checks.check(&net);
    net.run(TICK, 20);
    checks.check(&net);
    for id in 1..=5u64 {
        let counters = net.node(id).counters();
        assert_eq!(
            (counters.fast_commits, counters.slow_commits),
            (1, 0),
            "replica {id}"
        );
        assert_eq!(net.node(id).state_machine().data.len(), 5);
        assert_eq!(net.node(id).mode(), EpaxosMode::FastPath);
    }
    for request in requests {
        assert!(matches!(
            net.reply_to(request),
            Some(EpaxosResponse::Executed {
                output: tessera_sim::RegisterRet::Done,
                ..
            })
        ));
    }
}

#[test]
fn interfering_commands_take_the_slow_path_and_execute_in_one_order() {
    let mut net = net(&[1, 2, 3, 4, 5]);
    let mut checks = Checks::new(5);
    let a = net.request(1, put(1, 7, 100));
    let b = net.request(2, put(2, 7, 200));
    checks.check(&net);
    // Replicas see the two pre-accepts in different orders.
    net.deliver_where(|e| e.from == 1 && [3, 4].contains(&e.to));
    net.deliver_where(|e| e.from == 2 && [3, 4, 5, 1].contains(&e.to));
    net.run(TICK, 40);
    checks.check(&net);
    let slow: u64 = (1..=5).map(|id| net.node(id).counters().slow_commits).sum();
    assert!(slow >= 1, "interference forced the accept round");
    assert!(matches!(
        net.reply_to(a),
        Some(EpaxosResponse::Executed { .. })
    ));
    assert!(matches!(
        net.reply_to(b),
        Some(EpaxosResponse::Executed { .. })
    ));
    let value = net.node(1).state_machine().data.get(&7).copied();
    for id in 1..=5 {
        assert_eq!(
            net.node(id).state_machine().data.get(&7).copied(),
            value,
            "replica {id}"
        );
    }
    assert_eq!(checks.execution.order(&7).len(), 2);
    assert!(net.modes.iter().any(|(_, t)| t.to == EpaxosMode::SlowPath));
}

/// The bug class of efficient/epaxos#27: a command leader commits on the
/// fast path, executes and answers, then crashes before anyone hears the
/// commit. Recovery must commit exactly the attributes it executed with.
#[test]
fn a_fast_path_commit_survives_its_leaders_crash() {
    let mut net = net(&[1, 2, 3, 4, 5]);
    let mut checks = Checks::new(5);
    let first = net.request(1, put(1, 7, 100));
    checks.check(&net);
    // Pre-accepts and their replies flow; the commit never leaves node 1.
    net.deliver_where(|e| {
        matches!(
            e.message,
            EpaxosMessage::PreAccept { .. } | EpaxosMessage::PreAcceptReply { .. }
        )
    });
    assert!(matches!(
        net.reply_to(first),
        Some(EpaxosResponse::Executed { .. })
    ));
    let instance = InstanceId::new(1, 1);
    let executed_with = net.node(1).instance(instance).cloned().expect("known");
    assert_eq!(executed_with.status, Some(Status::Committed));
    net.drop_where(|e| e.from == 1);
    checks.check(&net);
    net.crash(1);
    // An interfering command at node 2 depends on it: its execution blocks
    // until node 2 (or another) recovers the instance.
    let second = net.request(2, put(2, 7, 200));
    net.run(TICK, 200);
    checks.check(&net);
    assert!(matches!(
        net.reply_to(second),
        Some(EpaxosResponse::Executed { .. })
    ));
    for id in 2..=5 {
        let recovered = net.node(id).instance(instance).expect("recovered");
        assert_eq!(recovered.status, Some(Status::Committed));
        assert_eq!(
            recovered.attributes, executed_with.attributes,
            "replica {id}"
        );
        assert_eq!(recovered.command, executed_with.command);
        assert!(net.node(id).is_executed(instance));
    }
    let recoveries: u64 = (2..=5).map(|id| net.node(id).counters().recoveries).sum();
    assert!(recoveries >= 1);
    assert!(
        net.modes
            .iter()
            .any(|(_, t)| t.to == EpaxosMode::ExplicitPrepare)
    );
    // Node 1 comes back and agrees.
    net.restart(1);
    net.run(TICK, 100);
    checks.check(&net);
    assert!(net.node(1).is_executed(InstanceId::new(2, 1)));
}

/// Only one replica besides the failed leader saw the command: fewer than
/// F unchanged pre-accepts, so no fast path can have completed; recovery
/// runs phase one again and commits the command.
#[test]
fn recovery_with_one_witness_runs_phase_one_again() {
    let mut net = net(&[1, 2, 3, 4, 5]);
    let mut checks = Checks::new(5);
    net.request(1, put(1, 7, 100));
    checks.check(&net);
    net.deliver_where(|e| {
        e.from == 1 && e.to == 2 && matches!(e.message, EpaxosMessage::PreAccept { .. })
    });
    net.queue.clear();
    net.crash(1);
    // Node 3's command on the same key learns of (1.1) from node 2.
    let second = net.request(3, put(2, 7, 300));
    net.run(TICK, 300);
    checks.check(&net);
    assert!(matches!(
        net.reply_to(second),
        Some(EpaxosResponse::Executed { .. })
    ));
    let instance = InstanceId::new(1, 1);
    for id in 2..=5 {
        let record = net.node(id).instance(instance).expect("recovered");
        assert_eq!(record.status, Some(Status::Committed), "replica {id}");
        assert!(
            record.command.is_some(),
            "the command was recovered, not a no-op"
        );
        assert!(net.node(id).is_executed(instance));
    }
}

/// Nobody but the failed leader ever heard of an instance: recovery
/// commits a no-op, and the instances after it (which implicitly depend on
/// their replica's previous instance) execute.
#[test]
fn recovery_of_an_instance_nobody_saw_commits_a_no_op() {
    let mut net = net(&[1, 2, 3, 4, 5]);
    let mut checks = Checks::new(5);
    let lost = net.request(1, put(1, 5, 50));
    net.drop_where(|e| e.from == 1); // (1.1)'s pre-accepts never leave
    let kept = net.request(1, put(2, 6, 60));
    net.deliver_all();
    checks.check(&net);
    net.crash(1);
    net.run(TICK, 300);
    checks.check(&net);
    let no_op = InstanceId::new(1, 1);
    for id in 2..=5 {
        let record = net.node(id).instance(no_op).expect("recovered");
        assert_eq!(record.status, Some(Status::Committed));
        assert_eq!(record.command, None, "replica {id}: a no-op");
        assert!(net.node(id).is_executed(InstanceId::new(1, 2)));
        assert_eq!(net.node(id).state_machine().data.get(&6), Some(&60));
        assert_eq!(net.node(id).state_machine().data.get(&5), None);
    }
    // Their leader crashed before it could execute either (the second
    // waits for the first): neither client got an answer from it.
    assert!(net.reply_to(lost).is_none());
    assert!(net.reply_to(kept).is_none());
    // The old leader, back, learns its instance became a no-op.
    net.restart(1);
    net.run(TICK, 200);
    assert_eq!(
        net.node(1).instance(no_op).and_then(|r| r.status),
        Some(Status::Committed)
    );
    assert_eq!(net.node(1).state_machine().data.get(&5), None);
}

/// Found by the simulator (seed 6 of the first run, kept as a scenario):
/// a command leader that commits on the fast path must not act on the
/// commit before its commit record is durable. Otherwise it could answer
/// its client, crash, restart knowing only its pre-accept, and then — in a
/// recovery quorum with fewer than F unchanged witnesses besides itself —
/// let other attributes be chosen than the ones it executed with.
#[test]
fn a_fast_commit_is_not_acted_on_before_it_is_durable() {
    let mut net = net(&[1, 2, 3, 4, 5]);
    let mut checks = Checks::new(5);
    let request = net.request(1, put(1, 7, 100));
    checks.check(&net);
    net.deliver_where(|e| matches!(e.message, EpaxosMessage::PreAccept { .. }));
    net.instant_disk = false;
    net.deliver_where(|e| matches!(e.message, EpaxosMessage::PreAcceptReply { .. }));
    let instance = InstanceId::new(1, 1);
    assert_eq!(
        net.node(1).instance(instance).and_then(|r| r.status),
        Some(Status::Committed),
        "committed in memory"
    );
    assert!(
        net.reply_to(request).is_none(),
        "not answered before durable"
    );
    assert!(
        !net.queue
            .iter()
            .any(|e| matches!(e.message, EpaxosMessage::Commit { .. }))
    );
    assert!(!net.node(1).is_executed(instance));
    // The commit record never reaches the disk.
    net.crash(1);
    net.instant_disk = true;
    net.restart(1);
    assert_eq!(
        net.node(1).instance(instance).and_then(|r| r.status),
        Some(Status::PreAccepted)
    );
    // Another command on the key forces a recovery; whatever it decides,
    // every replica agrees and executes in one order.
    net.request(2, put(2, 7, 200));
    net.run(TICK, 300);
    checks.check(&net);
    for id in 1..=5 {
        assert!(net.node(id).is_executed(instance), "replica {id}");
    }
}

/// Found by the simulator (seed 948 of a 1,000-seed soak): a replica
/// recovering an instance in ballot b that promises a higher ballot to
/// another recovery before its own replies arrive must not act in b — it
/// would overwrite its own promise with b and then accept in a ballot it
/// had promised to refuse, letting two recoveries choose different values.
#[test]
fn a_recovery_superseded_by_a_higher_ballot_does_not_act() {
    let mut net = net(&[1, 2, 3, 4, 5]);
    net.request(1, put(1, 7, 100));
    net.deliver_where(|e| {
        e.from == 1 && e.to == 2 && matches!(e.message, EpaxosMessage::PreAccept { .. })
    });
    net.queue.clear();
    net.crash(1);
    // Node 3's command on the key depends on (1.1) through node 2; its
    // execution blocks, and node 3 starts explicit prepare.
    net.request(3, put(2, 7, 300));
    let instance = InstanceId::new(1, 1);
    let mut ballot = None;
    for _ in 0..200 {
        net.now = net.now + TICK;
        for id in 2..=5 {
            net.input(id, Input::Tick);
        }
        net.deliver_where(|e| !matches!(e.message, EpaxosMessage::Prepare { .. }));
        ballot = net.queue.iter().find_map(|e| match e.message {
            EpaxosMessage::Prepare {
                instance: i,
                ballot,
            } if i == instance && e.from == 3 => Some(ballot),
            _ => None,
        });
        if ballot.is_some() {
            break;
        }
        net.queue
            .retain(|e| !matches!(e.message, EpaxosMessage::Prepare { .. }));
    }
    let ballot = ballot.expect("node 3 started explicit prepare");
    // Node 3's prepares and their replies flow, but before the replies
    // reach it, node 3 promises a higher ballot to node 4's recovery.
    net.deliver_where(|e| matches!(e.message, EpaxosMessage::Prepare { .. }) && e.from == 3);
    let higher = Ballot::new(ballot.round + 1, 4);
    net.input(
        3,
        Input::Message {
            from: 4,
            message: EpaxosMessage::Prepare {
                instance,
                ballot: higher,
            },
        },
    );
    net.queue.retain(|e| {
        e.from != 3 || !matches!(e.message, EpaxosMessage::PrepareReply { .. }) || e.to == 3
    });
    net.deliver_where(|e| e.to == 3 && matches!(e.message, EpaxosMessage::PrepareReply { .. }));
    assert!(
        !net.queue
            .iter()
            .any(|e| e.from == 3 && e.message.ballot() == ballot),
        "node 3 acted in its superseded ballot"
    );
    assert_eq!(
        net.node(3).instance(instance).map(|r| r.promised),
        Some(higher)
    );
}

/// The simulator run that found the bug above, kept as it is.
#[test]
fn seed_948_recovery_in_a_superseded_ballot() {
    simulate(948).expect("seed 948 passes");
}

#[test]
fn a_replica_answers_only_once_its_pre_accept_is_durable() {
    let mut net = net(&[1, 2, 3]);
    net.instant_disk = false;
    net.request(1, put(1, 1, 1));
    assert!(
        net.queue.is_empty(),
        "the leader sends nothing before its own record is durable"
    );
    net.sync(1);
    net.deliver_where(|e| e.to == 2);
    assert!(
        !net.queue.iter().any(|e| e.from == 2),
        "no reply before durable"
    );
    net.crash(2);
    net.restart(2);
    assert!(
        net.node(2).instance(InstanceId::new(1, 1)).is_none(),
        "never durable, never answered"
    );
}

#[test]
fn bad_input_is_rejected_and_never_applied() {
    let mut net = net(&[1, 2, 3]);
    let instance = InstanceId::new(2, 1);
    let attributes = Attributes::default();
    let cases: Vec<(NodeId, EpaxosMessage<EpCommand>)> = vec![
        (
            9,
            EpaxosMessage::Prepare {
                instance,
                ballot: Ballot::new(1, 9),
            },
        ),
        (
            2,
            EpaxosMessage::Prepare {
                instance,
                ballot: Ballot::new(1, 9),
            },
        ),
        (
            2,
            EpaxosMessage::Prepare {
                instance: InstanceId::new(9, 1),
                ballot: Ballot::new(1, 2),
            },
        ),
        (
            2,
            EpaxosMessage::Prepare {
                instance: InstanceId::new(2, 0),
                ballot: Ballot::new(1, 2),
            },
        ),
        // Only the command leader pre-accepts in the initial ballot.
        (
            3,
            EpaxosMessage::PreAccept {
                instance,
                ballot: Ballot::ZERO,
                command: Some(put(1, 1, 1)),
                attributes: attributes.clone(),
            },
        ),
        // Too many dependencies, unsorted, or on the instance itself.
        (
            2,
            EpaxosMessage::PreAccept {
                instance,
                ballot: Ballot::ZERO,
                command: Some(put(1, 1, 1)),
                attributes: Attributes {
                    seq: 1,
                    deps: (1..=4).map(|n| InstanceId::new(1, n)).collect(),
                },
            },
        ),
        (
            2,
            EpaxosMessage::PreAccept {
                instance,
                ballot: Ballot::ZERO,
                command: Some(put(1, 1, 1)),
                attributes: Attributes {
                    seq: 1,
                    deps: vec![InstanceId::new(3, 1), InstanceId::new(1, 1)],
                },
            },
        ),
        (
            2,
            EpaxosMessage::Commit {
                instance,
                command: Some(put(1, 1, 1)),
                attributes: Attributes {
                    seq: 1,
                    deps: vec![instance],
                },
            },
        ),
        (
            2,
            EpaxosMessage::Commit {
                instance,
                command: Some(put(1, 1, 1)),
                attributes: Attributes {
                    seq: 1,
                    deps: vec![InstanceId::new(7, 1)],
                },
            },
        ),
    ];
    for (from, message) in cases {
        let before = net.node(1).counters().rejected;
        net.input(
            1,
            Input::Message {
                from,
                message: message.clone(),
            },
        );
        let node = net.node(1);
        assert_eq!(
            node.counters().rejected,
            before + 1,
            "{message:?} was not rejected"
        );
        assert!(node.last_rejection().is_some_and(PaxosError::is_peer_fault));
        assert!(node.instance(instance).is_none(), "{message:?} was applied");
        assert_eq!(node.executed_count(), 0);
    }
    assert!(net.queue.is_empty());
}

#[test]
fn uniqueness_catches_a_recovery_that_picks_other_attributes_than_a_fast_quorum() {
    // Four of five replicas (the leader's included) hold the leader's
    // attributes unchanged, durably: the leader may have committed them on
    // the fast path. A recovery that ignored them and had a majority
    // accept others is caught — with no commit record needed.
    let mut uniqueness = InstanceUniqueness::new(5);
    let instance = InstanceId::new(1, 1);
    let fast = InstanceRecord {
        command: Some(put(1, 1, 1)),
        attributes: Attributes {
            seq: 1,
            deps: vec![],
        },
        status: Some(Status::PreAccepted),
        promised: Ballot::ZERO,
        accepted_ballot: Ballot::ZERO,
        unchanged: true,
    };
    for replica in 1..=4 {
        uniqueness.observe(replica, instance, &fast).unwrap();
    }
    let wrong = InstanceRecord {
        attributes: Attributes {
            seq: 2,
            deps: vec![InstanceId::new(2, 1)],
        },
        status: Some(Status::Accepted),
        accepted_ballot: Ballot::new(1, 5),
        promised: Ballot::new(1, 5),
        unchanged: false,
        ..fast.clone()
    };
    uniqueness.observe(5, instance, &wrong).unwrap();
    uniqueness.observe(4, instance, &wrong).unwrap();
    let violation = uniqueness.observe(3, instance, &wrong).unwrap_err();
    assert_eq!(violation.invariant, UNIQUENESS);
    assert!(violation.message.contains("fast quorum"), "{violation}");
}

#[test]
fn uniqueness_allows_the_leaders_own_slow_path_after_a_late_fast_quorum() {
    // The leader stopped waiting and took the slow path; the last
    // unchanged reply arrived after. The slow path's value is chosen, and
    // that is not a violation: the leader's record shows it went slow.
    let mut uniqueness = InstanceUniqueness::new(5);
    let instance = InstanceId::new(1, 1);
    let fast = InstanceRecord {
        command: Some(put(1, 1, 1)),
        attributes: Attributes {
            seq: 1,
            deps: vec![],
        },
        status: Some(Status::PreAccepted),
        promised: Ballot::ZERO,
        accepted_ballot: Ballot::ZERO,
        unchanged: true,
    };
    let slow = InstanceRecord {
        attributes: Attributes {
            seq: 3,
            deps: vec![InstanceId::new(5, 1)],
        },
        status: Some(Status::Accepted),
        unchanged: false,
        ..fast.clone()
    };
    for replica in 1..=4 {
        uniqueness.observe(replica, instance, &fast).unwrap();
    }
    uniqueness.observe(1, instance, &slow).unwrap(); // the leader goes slow
    uniqueness.observe(2, instance, &slow).unwrap();
    uniqueness.observe(3, instance, &slow).unwrap(); // a majority: chosen
    let committed = InstanceRecord {
        status: Some(Status::Committed),
        ..slow.clone()
    };
    uniqueness.observe(1, instance, &committed).unwrap();
    // Any other commit record is a second value.
    let other = InstanceRecord {
        attributes: Attributes {
            seq: 9,
            deps: vec![],
        },
        ..committed
    };
    assert!(uniqueness.observe(4, instance, &other).is_err());
}

#[test]
fn consistent_execution_catches_replicas_diverging_on_a_key() {
    let mut execution = ConsistentExecution::new();
    execution
        .observe(1, 0, 7u64, InstanceId::new(1, 1))
        .unwrap();
    execution
        .observe(1, 0, 7u64, InstanceId::new(2, 1))
        .unwrap();
    let violation = execution
        .observe(2, 0, 7u64, InstanceId::new(2, 1))
        .unwrap_err();
    assert_eq!(violation.invariant, CONSISTENT_EXECUTION);
}

// ----- simulation -----------------------------------------------------

/// Seeds CI runs; `TESSERA_SEEDS` runs more.
const SEEDS: u64 = 200;
/// Each run takes at least this many steps.
const STEPS_MIN: u64 = 10_000;

fn simulate(seed: u64) -> Result<Simulation<Node, EpaxosDisk<EpCommand>, KvClients>, SimFailure> {
    let members = vec![1, 2, 3, 4, 5];
    let mut sim_config = SimConfig::new(seed, members.clone());
    sim_config.network.loss_probability = 0.02;
    sim_config.network.duplicate_probability = 0.02;
    sim_config.clients.clients = 4;
    sim_config.clients.think_time = Latency::Uniform {
        min: Duration::ZERO,
        max: Duration::from_millis(3),
    };
    sim_config.nemesis = Some(NemesisConfig {
        active_for: Duration::from_secs(3),
        crashed_max: 2,
        fault_duration: Latency::Uniform {
            min: Duration::from_millis(20),
            max: Duration::from_millis(800),
        },
        ..NemesisConfig::default()
    });
    let boot_members = members.clone();
    let mut sim = Simulation::new(sim_config, KvClients::new(3), move |boot| {
        let mut config = EpaxosConfig::new(boot.id, boot_members.clone()).expect("a member");
        config.audit_capacity = 1 << 16;
        Epaxos::boot(config, boot.durable, EpKv::default(), boot.seed, boot.now)
            .expect("boots from its own disk")
    })
    .expect("valid simulation");
    sim.add_invariant(
        OnCluster::new()
            .with(InstanceUniqueness::<EpCommand>::new(members.len()))
            .with(InstanceAgreement::<EpCommand>::new())
            .with(ConsistentExecution::<u64>::new()),
    );
    if let Err(failure) = sim.run_for(Duration::from_millis(5500)) {
        if let Ok(filter) = std::env::var("PAXOS_DUMP_INSTANCE") {
            for view in sim.cluster().nodes() {
                if let Ok(writes) = view.durable.writes().since(0) {
                    for (seq, write) in writes {
                        if format!("{}", write.instance) == filter {
                            eprintln!(
                                "node {} write {seq}: {:?} promised {} accepted {} unchanged {} cmd {} seq {}",
                                view.id,
                                write.record.status,
                                write.record.promised,
                                write.record.accepted_ballot,
                                write.record.unchanged,
                                write.record.command.is_some(),
                                write.record.attributes.seq
                            );
                        }
                    }
                }
            }
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
        return Err(failure);
    }
    sim.stop_clients();
    sim.run_for(Duration::from_secs(2))?;
    sim.check_history(KvModel::new())?;
    Ok(sim)
}

#[test]
fn simulation_keeps_execution_consistent_under_the_nemesis() {
    run_seeds(SEEDS, "-p tessera-paxos --test epaxos simulation", |seed| {
        let sim = simulate(seed)?;
        let stats = sim.stats();
        if std::env::var("PAXOS_SIM_VERBOSE").is_ok() {
            let counters: Vec<_> = sim.cluster().running().map(|n| n.counters()).collect();
            eprintln!("seed {seed}: {stats:?} {counters:?}");
        }
        assert!(
            stats.steps >= STEPS_MIN,
            "seed {seed}: only {} steps",
            stats.steps
        );
        let recoveries: u64 = sim
            .cluster()
            .running()
            .map(|n| n.counters().recoveries)
            .sum();
        let _ = recoveries;
        Ok(())
    });
}

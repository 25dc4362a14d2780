//! Single-decree Paxos: the classic scenarios of "Paxos Made Simple" (§2)
//! through the public API, bad input, and the simulator under the nemesis.

mod common;

use std::time::Duration;

use common::{Net, OnCluster};
use tessera_core::{Input, Instant, Invariant, NodeId, SeededRng};
use tessera_paxos::invariants::{Agreement, TotalOrder, UNIQUENESS, Uniqueness, Validity};
use tessera_paxos::synod::{Synod, SynodConfig, SynodDisk, SynodMessage, SynodResponse};
use tessera_paxos::{Ballot, PaxosError, PaxosQuorums, ROUND_MAX};
use tessera_sim::{
    Fault, Latency, Model, NemesisConfig, Reply, SimConfig, Simulation, Workload, run_seeds,
};

type Node = Synod<u64>;
type SynodNet = Net<Node, SynodDisk<u64>>;

fn quorums() -> PaxosQuorums {
    PaxosQuorums::majority([1, 2, 3]).expect("three members")
}

fn config(id: NodeId) -> SynodConfig {
    let mut config = SynodConfig::new(id, quorums()).expect("valid");
    config.audit_capacity = 1024;
    config
}

fn net() -> SynodNet {
    Net::new(&[1, 2, 3], |id, disk, incarnation| {
        Synod::new(config(id), disk, id * 100 + incarnation, Instant::ZERO)
    })
}

/// Checks UNIQUENESS, AGREEMENT, VALIDITY and TOTAL ORDER on the net.
struct Checks {
    uniqueness: Uniqueness<u64>,
    agreement: Agreement<u64>,
    validity: Validity<u64>,
    total_order: TotalOrder<u64>,
}

impl Checks {
    fn new() -> Self {
        Checks {
            uniqueness: Uniqueness::new(quorums()),
            agreement: Agreement::new(),
            validity: Validity::new(),
            total_order: TotalOrder::new(),
        }
    }

    fn check(&mut self, net: &SynodNet) {
        let view = net.view();
        self.uniqueness.check(&view).expect("UNIQUENESS");
        self.agreement.check(&view).expect("AGREEMENT");
        self.validity.check(&view).expect("VALIDITY");
        self.total_order.check(&view).expect("TOTAL ORDER");
    }
}

fn chosen(net: &SynodNet, id: NodeId) -> Option<u64> {
    net.node(id).chosen().copied()
}

/// Paxos Made Simple §2.5: two proposers can keep preempting each other.
/// Here they duel for two rounds on purpose; then, with the random backoff,
/// one wins, and both clients get the same value.
#[test]
fn dueling_proposers_converge_on_one_value() {
    let mut net = net();
    let mut checks = Checks::new();
    let a = net.request(1, 10);
    // Node 1's phase one completes...
    net.deliver_where(|e| {
        matches!(
            e.message,
            SynodMessage::Prepare { .. } | SynodMessage::Promise { .. }
        )
    });
    assert!(
        net.queue
            .iter()
            .any(|e| matches!(e.message, SynodMessage::Accept { .. }))
    );
    // ...but node 3's prepare reaches the acceptors before node 1's accepts.
    let b = net.request(3, 30);
    net.deliver_where(|e| {
        matches!(
            e.message,
            SynodMessage::Prepare { .. } | SynodMessage::Promise { .. }
        )
    });
    checks.check(&net);
    // Node 1's accepts are refused; node 3's are about to go out. Node 1
    // retries before node 3's accepts land: round two of the duel.
    net.deliver_where(|e| {
        e.from == 1 || (e.to == 1 && matches!(e.message, SynodMessage::Nack { .. }))
    });
    assert_eq!(net.node(1).counters().preemptions, 1);
    // Node 1's backoff expires: Prepare(2.1) goes out and wins phase one
    // before node 3's accepts are delivered, which are then refused.
    net.now = net.now + Duration::from_millis(50);
    net.input(1, Input::Tick);
    net.deliver_where(|e| {
        matches!(
            e.message,
            SynodMessage::Prepare { .. } | SynodMessage::Promise { .. }
        )
    });
    net.deliver_all();
    assert_eq!(net.node(3).counters().preemptions, 1);
    checks.check(&net);
    // Everything flows now: exactly one value, learned everywhere.
    net.run(Duration::from_millis(20), 50);
    checks.check(&net);
    let value = chosen(&net, 1).expect("a value was chosen");
    assert!(value == 10 || value == 30);
    for id in [1, 2, 3] {
        assert_eq!(chosen(&net, id), Some(value), "node {id}");
    }
    assert_eq!(net.reply_to(a), Some(&SynodResponse::Chosen(value)));
    assert_eq!(net.reply_to(b), Some(&SynodResponse::Chosen(value)));
    assert!(net.node(3).counters().preemptions + net.node(1).counters().preemptions >= 2);
}

/// A proposer that crashes right after phase one leaves nothing accepted:
/// the next proposer is free to choose its own value.
#[test]
fn proposer_crashing_after_phase_one_leaves_the_choice_open() {
    let mut net = net();
    net.request(1, 10);
    net.deliver_where(|e| {
        matches!(
            e.message,
            SynodMessage::Prepare { .. } | SynodMessage::Promise { .. }
        )
    });
    assert!(net.node(1).promise_certificate().is_some(), "phase one won");
    net.drop_where(|e| e.from == 1); // its accepts never leave
    net.crash(1);
    let b = net.request(2, 20);
    net.run(Duration::from_millis(20), 50);
    assert_eq!(chosen(&net, 2), Some(20));
    assert_eq!(chosen(&net, 3), Some(20));
    assert_eq!(net.reply_to(b), Some(&SynodResponse::Chosen(20)));
    // Back from its disk, node 1 learns the decision when asked.
    net.restart(1);
    let late = net.request(1, 11);
    net.run(Duration::from_millis(20), 50);
    assert_eq!(net.reply_to(late), Some(&SynodResponse::Chosen(20)));
}

/// P2c: a new proposer whose phase-one quorum reports a value accepted by
/// a minority must propose that value, not its own.
#[test]
fn a_value_accepted_by_a_minority_is_adopted_by_the_next_proposer() {
    let mut net = net();
    let mut checks = Checks::new();
    net.request(1, 10);
    checks.check(&net);
    net.deliver_where(|e| {
        matches!(
            e.message,
            SynodMessage::Prepare { .. } | SynodMessage::Promise { .. }
        )
    });
    // Node 1's accept reaches node 3 only, then node 1 crashes.
    net.deliver_where(|e| {
        e.from == 1 && e.to == 3 && matches!(e.message, SynodMessage::Accept { .. })
    });
    net.drop_where(|e| e.from == 1 || e.to == 1);
    net.crash(1);
    net.drop_where(|e| matches!(e.message, SynodMessage::Accepted { .. }));
    assert_eq!(net.node(3).accepted(), Some(&(Ballot::new(1, 1), 10)));
    checks.check(&net);
    assert!(
        chosen(&net, 3).is_none(),
        "one acceptor of three is no quorum"
    );
    let b = net.request(2, 20);
    net.run(Duration::from_millis(20), 50);
    checks.check(&net);
    assert_eq!(net.reply_to(b), Some(&SynodResponse::Chosen(10)));
}

/// A value accepted by a quorum is chosen, even if the proposer crashed
/// before anyone learned it: every later proposer finds it.
#[test]
fn a_value_accepted_by_a_quorum_stays_chosen() {
    let mut net = net();
    let mut checks = Checks::new();
    net.request(1, 10);
    checks.check(&net);
    net.deliver_where(|e| {
        matches!(
            e.message,
            SynodMessage::Prepare { .. } | SynodMessage::Promise { .. }
        )
    });
    net.deliver_where(|e| {
        e.from == 1 && e.to != 1 && matches!(e.message, SynodMessage::Accept { .. })
    });
    net.drop_where(|_| true); // nobody hears the acceptances
    net.crash(1);
    checks.check(&net);
    assert_eq!(checks.uniqueness.chosen(0), Some(&(Ballot::new(1, 1), 10)));
    let b = net.request(3, 30);
    net.run(Duration::from_millis(20), 50);
    checks.check(&net);
    assert_eq!(net.reply_to(b), Some(&SynodResponse::Chosen(10)));
}

/// An acceptor answers only once its promise is durable; a crash loses only
/// what was never answered; a durable promise outlives the crash.
#[test]
fn acceptor_restarted_from_durable_state_keeps_its_promise() {
    let mut net = net();
    net.instant_disk = false;
    net.request(3, 30);
    // Prepare(1.3) reaches node 2, which asks for its promise to be written.
    net.deliver_where(|e| e.to == 2 && matches!(e.message, SynodMessage::Prepare { .. }));
    assert!(
        !net.queue.iter().any(|e| e.from == 2),
        "no promise before the write is durable"
    );
    net.crash(2); // the write was not durable: lost, and never answered
    net.restart(2);
    assert_eq!(net.node(2).promised(), Ballot::ZERO);
    // Again, durably this time.
    net.input(
        2,
        Input::Message {
            from: 3,
            message: SynodMessage::Prepare {
                ballot: Ballot::new(1, 3),
            },
        },
    );
    net.sync(2);
    assert!(
        net.queue
            .iter()
            .any(|e| e.from == 2 && matches!(e.message, SynodMessage::Promise { .. }))
    );
    net.crash(2);
    net.restart(2);
    assert_eq!(net.node(2).promised(), Ballot::new(1, 3));
    // A lower ballot's accept is refused after the restart.
    net.queue.clear();
    net.input(
        2,
        Input::Message {
            from: 1,
            message: SynodMessage::Accept {
                ballot: Ballot::new(1, 1),
                value: 10,
            },
        },
    );
    assert!(net.node(2).accepted().is_none());
    assert!(net.queue.iter().any(|e| matches!(
        e.message,
        SynodMessage::Nack { promised, .. } if promised == Ballot::new(1, 3)
    )));
    // An acceptance survives a restart and is reported in the next promise.
    net.input(
        2,
        Input::Message {
            from: 3,
            message: SynodMessage::Accept {
                ballot: Ballot::new(1, 3),
                value: 30,
            },
        },
    );
    net.sync(2);
    net.crash(2);
    net.restart(2);
    assert_eq!(net.node(2).accepted(), Some(&(Ballot::new(1, 3), 30)));
    net.queue.clear();
    net.input(
        2,
        Input::Message {
            from: 1,
            message: SynodMessage::Prepare {
                ballot: Ballot::new(2, 1),
            },
        },
    );
    net.sync(2);
    assert!(net.queue.iter().any(|e| e.message
        == SynodMessage::Promise {
            ballot: Ballot::new(2, 1),
            accepted: Some((Ballot::new(1, 3), 30))
        }));
}

/// Bad input is rejected, counted, and never applied — never a panic.
#[test]
fn bad_input_is_rejected_and_never_applied() {
    let mut net = net();
    let message = |m| Input::Message {
        from: 2,
        message: m,
    };
    type Case = (NodeId, SynodMessage<u64>, fn(&PaxosError) -> bool);
    let cases: Vec<Case> = vec![
        // An unknown sender.
        (
            9,
            SynodMessage::Prepare {
                ballot: Ballot::new(1, 9),
            },
            |e| matches!(e, PaxosError::UnknownSender { from: 9 }),
        ),
        // A ballot owned by a node outside the configuration.
        (
            2,
            SynodMessage::Prepare {
                ballot: Ballot::new(7, 9),
            },
            |e| matches!(e, PaxosError::BallotFromUnknownNode { owner: 9, .. }),
        ),
        // A ballot round beyond the protocol's range.
        (
            2,
            SynodMessage::Accept {
                ballot: Ballot::new(ROUND_MAX + 1, 2),
                value: 1,
            },
            |e| matches!(e, PaxosError::Malformed { .. }),
        ),
        // A certificate of one voter: not a quorum.
        (
            2,
            SynodMessage::Decided {
                ballot: Ballot::new(1, 2),
                value: 5,
                voters: vec![2],
            },
            |e| matches!(e, PaxosError::Malformed { .. }),
        ),
        // A certificate naming a non-member.
        (
            2,
            SynodMessage::Decided {
                ballot: Ballot::new(1, 2),
                value: 5,
                voters: vec![2, 7],
            },
            |e| matches!(e, PaxosError::Malformed { .. }),
        ),
        // An oversized certificate.
        (
            2,
            SynodMessage::Decided {
                ballot: Ballot::new(1, 2),
                value: 5,
                voters: vec![1; 1000],
            },
            |e| matches!(e, PaxosError::Oversized { .. }),
        ),
    ];
    for (from, bad, expected) in cases {
        let before = net.node(1).counters().rejected;
        net.input(
            1,
            Input::Message {
                from,
                message: bad.clone(),
            },
        );
        let node = net.node(1);
        assert_eq!(
            node.counters().rejected,
            before + 1,
            "{bad:?} was not rejected"
        );
        let error = node.last_rejection().expect("recorded");
        assert!(expected(error), "{bad:?} rejected as {error}");
        assert!(error.is_peer_fault());
        assert_eq!(node.promised(), Ballot::ZERO, "{bad:?} was applied");
        assert!(node.chosen().is_none(), "{bad:?} was applied");
    }
    assert!(net.queue.is_empty(), "nothing was answered");
    // A promise that reports an acceptance above its own ballot, to a
    // proposer in phase one.
    net.request(1, 10);
    net.queue.clear();
    net.input(
        1,
        message(SynodMessage::Promise {
            ballot: Ballot::new(1, 1),
            accepted: Some((Ballot::new(5, 3), 99)),
        }),
    );
    assert!(matches!(
        net.node(1).last_rejection(),
        Some(PaxosError::Malformed { .. })
    ));
}

// ----- simulation -----------------------------------------------------

/// Seeds CI runs; `TESSERA_SEEDS` runs more.
const SEEDS: u64 = 200;
/// Each run takes at least this many steps.
const STEPS_MIN: u64 = 10_000;

/// The sequential specification of one consensus decision: the first
/// proposal wins, and every proposal returns the winner.
#[derive(Debug, Clone, Copy, Default)]
struct ConsensusModel;

impl Model for ConsensusModel {
    type State = Option<u64>;
    type Input = u64;
    type Output = u64;
    type Partition = ();

    fn init(&self) -> Option<u64> {
        None
    }

    fn step(&self, state: &Option<u64>, input: &u64, output: Option<&u64>) -> Option<Option<u64>> {
        let winner = state.unwrap_or(*input);
        match output {
            Some(out) if *out != winner => None,
            _ => Some(Some(winner)),
        }
    }

    fn partition(&self, _input: &u64) {}
}

/// Clients propose fresh values to random nodes.
struct ProposeWorkload {
    next: u64,
}

impl Workload<Node> for ProposeWorkload {
    type Op = u64;
    type Ret = u64;

    fn next_op(&mut self, _client: usize, _rng: &mut SeededRng) -> Option<u64> {
        self.next += 1;
        Some(self.next)
    }

    fn request(
        &mut self,
        _client: usize,
        op: &u64,
        _redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, u64)> {
        Some((*rng.pick(nodes)?, *op))
    }

    fn interpret(&mut self, _client: usize, _op: &u64, response: SynodResponse<u64>) -> Reply<u64> {
        match response {
            SynodResponse::Chosen(value) => Reply::Ok(value),
            SynodResponse::Overloaded => Reply::Fail,
        }
    }
}

fn simulate(
    seed: u64,
) -> Result<Simulation<Node, SynodDisk<u64>, ProposeWorkload>, tessera_sim::SimFailure> {
    let mut sim_config = SimConfig::new(seed, vec![1, 2, 3, 4, 5]);
    sim_config.network.loss_probability = 0.05;
    sim_config.network.duplicate_probability = 0.05;
    sim_config.clients.clients = 5;
    sim_config.clients.think_time = Latency::Uniform {
        min: Duration::ZERO,
        max: Duration::from_millis(2),
    };
    sim_config.nemesis = Some(NemesisConfig {
        active_for: Duration::from_secs(3),
        crashed_max: 2,
        ..NemesisConfig::default()
    });
    let quorums = PaxosQuorums::majority([1, 2, 3, 4, 5]).expect("five members");
    let boot_quorums = quorums.clone();
    let mut sim = Simulation::new(sim_config, ProposeWorkload { next: 0 }, move |boot| {
        let mut config = SynodConfig::new(boot.id, boot_quorums.clone()).expect("member");
        config.audit_capacity = 4096;
        Synod::new(config, boot.durable, boot.seed, boot.now)
    })
    .expect("valid simulation");
    sim.add_invariant(
        OnCluster::new()
            .with(Uniqueness::<u64>::new(quorums))
            .with(Agreement::<u64>::new())
            .with(Validity::<u64>::new())
            .with(TotalOrder::<u64>::new()),
    );
    // Start in a storm of losses, so that proposers duel and retry before
    // anything is decided.
    sim.apply(Fault::MessageLoss(0.5))
        .expect("valid probability");
    sim.schedule(Duration::from_millis(800), Fault::MessageLoss(0.05))
        .expect("valid probability");
    sim.run_for(Duration::from_secs(4))?;
    // Every run covers at least STEPS_MIN steps: a quiet seed (few
    // retries, short duels) runs on with its clients until it has.
    while sim.stats().steps < STEPS_MIN {
        sim.run_for(Duration::from_millis(250))?;
    }
    sim.stop_clients();
    sim.run_for(Duration::from_secs(1))?;
    sim.check_history(ConsensusModel)?;
    Ok(sim)
}

#[test]
fn simulation_keeps_one_decision_under_the_nemesis() {
    run_seeds(SEEDS, "-p tessera-paxos --test synod simulation", |seed| {
        let sim = simulate(seed)?;
        if std::env::var("PAXOS_SIM_VERBOSE").is_ok() {
            eprintln!("seed {seed}: {:?}", sim.stats());
        }
        assert!(
            sim.stats().steps >= STEPS_MIN,
            "seed {seed}: only {} steps",
            sim.stats().steps
        );
        let decided = sim
            .cluster()
            .running()
            .filter(|n| n.chosen().is_some())
            .count();
        assert!(decided > 0, "seed {seed}: nothing was decided");
        Ok(())
    });
}

#[test]
fn uniqueness_would_catch_a_proposer_that_ignores_reported_values() {
    // A broken proposer: it skips P2c and proposes its own value in a
    // higher ballot although phase one reported one already chosen.
    let mut uniqueness = Uniqueness::new(quorums());
    let mut net = net();
    net.request(1, 10);
    net.run(Duration::from_millis(20), 20);
    uniqueness.check(&net.view()).expect("correct so far");
    for id in [2, 3] {
        net.input(
            id,
            Input::Message {
                from: 1,
                message: SynodMessage::Accept {
                    ballot: Ballot::new(9, 1),
                    value: 66,
                },
            },
        );
    }
    // The acceptors ignore it (they know the decision) — so feed the
    // checker the acceptance a broken acceptor would have made.
    let violation = uniqueness
        .observe(
            2,
            &tessera_paxos::invariants::Acceptance {
                instance: 0,
                ballot: Ballot::new(9, 1),
                value: 66,
            },
        )
        .unwrap_err();
    assert_eq!(violation.invariant, UNIQUENESS);
}

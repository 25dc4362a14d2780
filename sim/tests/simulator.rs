//! The simulator's mechanics: each fault does what it says, durability is
//! honest, clocks skew and step, timers fire, invariants run after every
//! step, and bad parameters are errors.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurableState, Input, InputOf, Instant, InvariantFn, NodeId, PersistId,
    Protocol, Violation,
};
use tessera_sim::fixture::Steady;
use tessera_sim::{
    Cluster, Fault, Latency, NoClients, SimConfig, SimError, Simulation, VIRTUAL_EPOCH,
};

#[derive(Debug)]
enum Probe {
    Send { to: NodeId, payload: u64 },
    Persist(u64),
    WakeAfter(Duration),
}

/// A node that does what it is told and remembers what happened to it.
struct ProbeNode {
    id: NodeId,
    received: Vec<(NodeId, u64)>,
    ticks: Vec<Instant>,
    durable_up_to: PersistId,
    next_persist: u64,
    deadline: Option<Instant>,
    booted_from: Vec<u64>,
    incarnation: u64,
    /// Writes in the order requested.
    issued: Vec<u64>,
    /// Every `now` the node was handed.
    seen: Vec<Instant>,
}

#[derive(Debug, Default)]
struct Disk(Vec<u64>);

impl DurableState<u64> for Disk {
    fn apply(&mut self, write: u64) {
        self.0.push(write);
    }
}

impl Protocol for ProbeNode {
    type Message = u64;
    type Request = Probe;
    type Response = ();
    type Write = u64;
    type Mode = Steady;

    fn id(&self) -> NodeId {
        self.id
    }

    fn mode(&self) -> Steady {
        Steady
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        self.seen.push(now);
        match input {
            Input::Message { from, message } => self.received.push((from, message)),
            Input::Request { id, request } => {
                match request {
                    Probe::Send { to, payload } => out.push(Action::Send {
                        to,
                        message: payload,
                    }),
                    Probe::Persist(value) => {
                        self.issued.push(value);
                        self.next_persist += 1;
                        out.push(Action::Persist {
                            id: PersistId(self.next_persist),
                            write: value,
                        });
                    }
                    Probe::WakeAfter(after) => self.deadline = Some(now + after),
                }
                out.push(Action::Reply { id, response: () });
            }
            Input::Tick => {
                self.ticks.push(now);
                if self.deadline.is_some_and(|d| now >= d) {
                    self.deadline = None;
                }
            }
            Input::Persisted { up_to } => self.durable_up_to = up_to,
        }
    }
}

type ProbeSim = Simulation<ProbeNode, Disk, NoClients>;

fn probe_sim(config: SimConfig) -> Result<ProbeSim, SimError> {
    Simulation::new(config, NoClients, |boot: tessera_sim::Boot<'_, Disk>| {
        ProbeNode {
            id: boot.id,
            received: Vec::new(),
            ticks: Vec::new(),
            durable_up_to: PersistId(0),
            next_persist: 0,
            deadline: None,
            booted_from: boot.durable.0.clone(),
            incarnation: boot.incarnation,
            issued: Vec::new(),
            seen: Vec::new(),
        }
    })
}

fn quiet_config(seed: u64) -> SimConfig {
    let mut config = SimConfig::new(seed, vec![1, 2, 3]);
    config.network.latency = Latency::Uniform {
        min: Duration::from_millis(1),
        max: Duration::from_millis(3),
    };
    config
}

fn received(sim: &ProbeSim, node: NodeId) -> Vec<(NodeId, u64)> {
    sim.cluster().node(node).expect("running").received.clone()
}

fn send(sim: &mut ProbeSim, from: NodeId, to: NodeId, payload: u64) {
    sim.submit(from, Probe::Send { to, payload })
        .expect("known node");
}

#[test]
fn symmetric_partition_cuts_across_groups_only() {
    let mut sim = probe_sim(quiet_config(1)).unwrap();
    sim.apply(Fault::Partition(vec![vec![1, 2], vec![3]]))
        .unwrap();
    send(&mut sim, 1, 2, 10);
    send(&mut sim, 1, 3, 11);
    send(&mut sim, 3, 1, 12);
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(received(&sim, 2), vec![(1, 10)]);
    assert!(received(&sim, 3).is_empty());
    assert!(received(&sim, 1).is_empty());
    assert_eq!(sim.stats().messages_dropped_partition, 2);

    sim.apply(Fault::HealNetwork).unwrap();
    send(&mut sim, 3, 1, 13);
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(received(&sim, 1), vec![(3, 13)]);
}

#[test]
fn one_way_block_cuts_one_direction() {
    let mut sim = probe_sim(quiet_config(2)).unwrap();
    sim.apply(Fault::BlockLink { from: 1, to: 2 }).unwrap();
    send(&mut sim, 1, 2, 1);
    send(&mut sim, 2, 1, 2);
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert!(received(&sim, 2).is_empty());
    assert_eq!(received(&sim, 1), vec![(2, 2)]);
    sim.apply(Fault::HealLink { from: 1, to: 2 }).unwrap();
    send(&mut sim, 1, 2, 3);
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(received(&sim, 2), vec![(1, 3)]);
}

#[test]
fn messages_in_flight_are_dropped_when_a_partition_starts() {
    let mut sim = probe_sim(quiet_config(3)).unwrap();
    send(&mut sim, 1, 2, 1);
    // The request reaches node 1 within 1 ms; the message is then in the
    // network for at least 1 ms more.
    sim.run_for(Duration::from_micros(1_100)).unwrap();
    sim.apply(Fault::Isolate(2)).unwrap();
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert!(received(&sim, 2).is_empty());
}

#[test]
fn loss_and_duplication_happen_at_their_rates() {
    let mut config = quiet_config(4);
    config.network.duplicate_probability = 1.0;
    let mut sim = probe_sim(config).unwrap();
    send(&mut sim, 1, 2, 7);
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(received(&sim, 2), vec![(1, 7), (1, 7)]);

    sim.apply(Fault::MessageLoss(1.0)).unwrap();
    send(&mut sim, 1, 2, 8);
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(received(&sim, 2).len(), 2);
    assert_eq!(sim.stats().messages_dropped_loss, 1);
}

#[test]
fn independent_latencies_reorder_messages() {
    let mut sim = probe_sim(quiet_config(5)).unwrap();
    for payload in 0..50 {
        send(&mut sim, 1, 2, payload);
    }
    sim.run_for(Duration::from_millis(50)).unwrap();
    let payloads: Vec<u64> = received(&sim, 2).into_iter().map(|(_, p)| p).collect();
    assert_eq!(payloads.len(), 50);
    let mut sorted = payloads.clone();
    sorted.sort_unstable();
    assert_ne!(
        payloads, sorted,
        "50 messages over jittery links should not all arrive in order"
    );
}

#[test]
fn per_link_latency_applies_to_its_link_only() {
    let mut config = quiet_config(6);
    config
        .network
        .link_latency
        .insert((1, 2), Latency::Fixed(Duration::from_millis(40)));
    let mut sim = probe_sim(config).unwrap();
    send(&mut sim, 1, 2, 1);
    send(&mut sim, 1, 3, 2);
    sim.run_for(Duration::from_millis(20)).unwrap();
    assert!(received(&sim, 2).is_empty());
    assert_eq!(received(&sim, 3), vec![(1, 2)]);
    sim.run_for(Duration::from_millis(30)).unwrap();
    assert_eq!(received(&sim, 2), vec![(1, 1)]);
}

#[test]
fn writes_become_durable_in_order_and_are_confirmed_only_then() {
    let mut config = quiet_config(7);
    config.disk_latency = Latency::Fixed(Duration::from_millis(10));
    let mut sim = probe_sim(config).unwrap();
    for value in [5, 6, 7] {
        sim.submit(1, Probe::Persist(value)).unwrap();
    }
    sim.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(sim.cluster().node(1).unwrap().durable_up_to, PersistId(0));
    assert!(sim.cluster().durable(1).unwrap().0.is_empty());
    sim.run_for(Duration::from_millis(20)).unwrap();
    assert_eq!(sim.cluster().node(1).unwrap().durable_up_to, PersistId(3));
    assert_eq!(sim.cluster().durable(1).unwrap().0, vec![5, 6, 7]);
}

#[test]
fn a_crash_keeps_a_prefix_of_pending_writes_and_restart_boots_from_it() {
    let (mut kept_none, mut kept_some) = (false, false);
    for seed in 0..40 {
        let mut config = quiet_config(seed);
        config.disk_latency = Latency::Fixed(Duration::from_millis(10));
        let mut sim = probe_sim(config).unwrap();
        sim.submit(1, Probe::Persist(1)).unwrap();
        sim.run_for(Duration::from_millis(20)).unwrap();
        for value in [2, 3, 4] {
            sim.submit(1, Probe::Persist(value)).unwrap();
        }
        sim.run_for(Duration::from_millis(2)).unwrap();
        // Client requests may arrive reordered: what counts is the order
        // the node asked for the writes.
        let issued = sim.cluster().node(1).unwrap().issued.clone();
        assert_eq!(issued.len(), 4, "seed {seed}");
        sim.apply(Fault::Crash(1)).unwrap();
        assert!(!sim.cluster().is_running(1));
        let durable = sim.cluster().durable(1).unwrap().0.clone();
        assert!(
            issued.starts_with(&durable) && !durable.is_empty(),
            "seed {seed}: {durable:?} is not a prefix of {issued:?}"
        );
        kept_none |= durable == vec![1];
        kept_some |= durable.len() > 1;

        // Messages to a crashed node are dropped.
        send(&mut sim, 2, 1, 9);
        sim.run_for(Duration::from_millis(20)).unwrap();
        assert_eq!(sim.stats().messages_dropped_crashed, 1);

        sim.apply(Fault::Restart(1)).unwrap();
        let node = sim.cluster().node(1).unwrap();
        assert_eq!(node.booted_from, durable);
        assert_eq!(node.incarnation, 1);
        // The old incarnation's pending confirmations never arrive.
        sim.run_for(Duration::from_millis(50)).unwrap();
        assert_eq!(sim.cluster().node(1).unwrap().durable_up_to, PersistId(0));
    }
    assert!(
        kept_none && kept_some,
        "both outcomes of a crash should occur"
    );
}

#[test]
fn clocks_are_skewed_within_the_configured_offset() {
    let mut config = quiet_config(8);
    config.clocks.max_offset = Duration::from_millis(10);
    config.clocks.max_drift_ppm = 0;
    let sim = probe_sim(config).unwrap();
    let readings: Vec<u64> = [1, 2, 3]
        .iter()
        .map(|n| sim.cluster().clock(*n).unwrap().as_nanos())
        .collect();
    let spread = readings.iter().max().unwrap() - readings.iter().min().unwrap();
    assert!(spread <= 10_000_000, "{readings:?}");
    assert!(spread > 0, "{readings:?}");
    for reading in readings {
        assert!(reading.abs_diff(VIRTUAL_EPOCH.as_nanos()) <= 5_000_000);
    }
}

#[test]
fn timers_fire_when_the_node_clock_reaches_the_deadline() {
    let mut config = quiet_config(9);
    config.clocks.max_drift_ppm = 0;
    let mut sim = probe_sim(config).unwrap();
    sim.submit(1, Probe::WakeAfter(Duration::from_millis(30)))
        .unwrap();
    sim.run_for(Duration::from_millis(10)).unwrap();
    let asked_at = sim.cluster().node(1).unwrap().deadline.unwrap();
    sim.run_for(Duration::from_millis(40)).unwrap();
    let node = sim.cluster().node(1).unwrap();
    let fired = node.ticks.last().copied().unwrap();
    assert!(fired >= asked_at);
    assert!(fired.duration_since(asked_at) < Duration::from_millis(1));
    assert_eq!(node.deadline, None);
}

#[test]
fn a_forward_clock_step_fires_timers_early_in_true_time() {
    let mut config = quiet_config(10);
    config.clocks.max_drift_ppm = 0;
    let mut sim = probe_sim(config).unwrap();
    sim.submit(1, Probe::WakeAfter(Duration::from_secs(10)))
        .unwrap();
    sim.run_for(Duration::from_millis(10)).unwrap();
    let ticks_before = sim.cluster().node(1).unwrap().ticks.len();
    sim.apply(Fault::ClockForward {
        node: 1,
        by: Duration::from_secs(20),
    })
    .unwrap();
    sim.run_for(Duration::from_millis(10)).unwrap();
    assert!(sim.cluster().node(1).unwrap().ticks.len() > ticks_before);
}

#[test]
fn a_backward_clock_step_holds_the_node_clock_still() {
    let mut config = quiet_config(11);
    config.clocks.max_drift_ppm = 0;
    let mut sim = probe_sim(config).unwrap();
    sim.submit(1, Probe::Persist(0)).unwrap();
    sim.run_for(Duration::from_millis(10)).unwrap();
    let last_seen = *sim.cluster().node(1).unwrap().seen.last().unwrap();
    sim.apply(Fault::ClockBackward {
        node: 1,
        by: Duration::from_millis(50),
    })
    .unwrap();
    let seen_before = sim.cluster().node(1).unwrap().seen.len();
    for value in 1..10 {
        sim.submit(1, Probe::Persist(value)).unwrap();
        sim.run_for(Duration::from_millis(3)).unwrap();
    }
    let after: Vec<Instant> = sim.cluster().node(1).unwrap().seen[seen_before..].to_vec();
    assert!(after.len() >= 9);
    for now in after {
        assert_eq!(
            now, last_seen,
            "the node's clock must hold still, never go back"
        );
    }
}

#[test]
fn invariants_run_after_every_step_and_failures_name_the_seed() {
    let mut sim = probe_sim(quiet_config(12)).unwrap();
    let checks = Rc::new(Cell::new(0u64));
    let counter = Rc::clone(&checks);
    sim.add_invariant(InvariantFn::new(
        "COUNTED",
        move |_: &Cluster<ProbeNode, Disk>| {
            counter.set(counter.get() + 1);
            Ok(())
        },
    ));
    send(&mut sim, 1, 2, 1);
    send(&mut sim, 2, 3, 2);
    let steps_before = sim.stats().steps;
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(checks.get(), sim.stats().steps - steps_before);
    assert!(checks.get() >= 4);

    sim.add_invariant(InvariantFn::new(
        "NOTHING RECEIVED",
        |cluster: &Cluster<ProbeNode, Disk>| match cluster
            .running()
            .find(|n| !n.received.is_empty())
        {
            Some(node) => Err(
                Violation::new("NOTHING RECEIVED", "a node received a message").on_node(node.id),
            ),
            None => Ok(()),
        },
    ));
    send(&mut sim, 1, 3, 3);
    let failure = sim.run_for(Duration::from_millis(50)).unwrap_err();
    assert_eq!(failure.violation.invariant, "NOTHING RECEIVED");
    assert_eq!(failure.seed, 12);
    let message = failure
        .with_rerun("-p tessera-sim --test simulator")
        .to_string();
    assert!(message.contains("seed 12"), "{message}");
    assert!(
        message.contains("TESSERA_SEED=12 cargo test -p tessera-sim --test simulator"),
        "{message}"
    );
}

#[test]
fn bad_parameters_are_errors_not_panics() {
    let mut config = quiet_config(13);
    config.network.loss_probability = 2.0;
    assert!(matches!(
        probe_sim(config),
        Err(SimError::InvalidParameter(_))
    ));

    let mut sim = probe_sim(quiet_config(13)).unwrap();
    assert_eq!(sim.apply(Fault::Crash(99)), Err(SimError::UnknownNode(99)));
    assert_eq!(
        sim.apply(Fault::Partition(vec![vec![1], vec![42]])),
        Err(SimError::UnknownNode(42))
    );
    assert!(matches!(
        sim.apply(Fault::MessageLoss(-1.0)),
        Err(SimError::InvalidParameter(_))
    ));
    assert!(
        sim.schedule(Duration::from_secs(1), Fault::BlockLink { from: 1, to: 7 })
            .is_err()
    );
    assert!(matches!(
        sim.submit(8, Probe::Persist(1)),
        Err(SimError::UnknownNode(8))
    ));
    assert_eq!(sim.add_node(2), Err(SimError::DuplicateNode(2)));
}

#[test]
fn added_nodes_are_reachable_at_once() {
    let mut sim = probe_sim(quiet_config(14)).unwrap();
    sim.add_node(4).unwrap();
    send(&mut sim, 1, 4, 5);
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(received(&sim, 4), vec![(1, 5)]);
    assert_eq!(sim.members(), &[1, 2, 3, 4]);
}

#[test]
fn scheduled_faults_apply_at_their_time() {
    let mut sim = probe_sim(quiet_config(15)).unwrap();
    sim.schedule(Duration::from_millis(20), Fault::Crash(2))
        .unwrap();
    sim.run_for(Duration::from_millis(19)).unwrap();
    assert!(sim.cluster().is_running(2));
    sim.run_for(Duration::from_millis(2)).unwrap();
    assert!(!sim.cluster().is_running(2));
    let record = sim.fault_log().last().unwrap();
    assert_eq!(record.fault, Fault::Crash(2));
    assert_eq!(record.at, Instant::from_millis(20));
}

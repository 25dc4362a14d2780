//! PBFT against Byzantine replicas, in the deterministic simulator: each
//! behaviour alone, then every behaviour under the nemesis for many seeds,
//! with every safety invariant checked after every step and the client
//! history of a key-value store checked for linearizability.

mod support;

use std::time::Duration;

use support::*;
use tessera_core::NodeId;
use tessera_pbft::DropReason;
use tessera_sim::{Fault, KvModel, Outcome, SimFailure, Simulation};

type Sim = Simulation<SimNode, NodeDisk, KvWorkload>;

fn correct_drops(sim: &Sim, reason: DropReason) -> u64 {
    sim.cluster()
        .running()
        .filter_map(SimNode::honest)
        .map(|r| r.drops().get(reason))
        .sum()
}

fn tampered(sim: &Sim) -> u64 {
    sim.cluster()
        .running()
        .filter_map(SimNode::byzantine)
        .map(|b| b.tampered)
        .sum()
}

/// The view every correct replica settled in, and its primary.
fn settled_view(sim: &Sim, setup: &Setup) -> (u64, NodeId) {
    let views = correct_views(sim.cluster());
    assert_eq!(
        views.len(),
        1,
        "correct replicas disagree on the view: {views:?}"
    );
    let (view, active) = views.into_iter().next().expect("one view");
    assert!(active, "view {view} is not active");
    (view, setup.config.primary(view))
}

/// The view the active correct replicas work in, and its primary. A
/// correct replica whose view-change timer expired while it was cut off
/// may still wait for a later view that nobody else wants yet (Castro and
/// Liskov: it joins the others at their next view change, or pulls them
/// along once f + 1 replicas want it); it must be waiting for a later view,
/// never an earlier one.
fn working_view(sim: &Sim, setup: &Setup) -> (u64, NodeId) {
    let views = correct_views(sim.cluster());
    let active: Vec<u64> = views
        .iter()
        .filter(|(_, active)| *active)
        .map(|(view, _)| *view)
        .collect();
    assert_eq!(
        active.len(),
        1,
        "the active correct replicas disagree on the view: {views:?}"
    );
    let view = active[0];
    assert!(
        views.iter().all(|(other, _)| *other >= view),
        "a correct replica is behind: {views:?}"
    );
    (view, setup.config.primary(view))
}

/// Operations invoked after `after` all succeeded.
fn late_operations_succeed(sim: &Sim, after: Duration) {
    let after = after.as_nanos() as u64;
    let late: Vec<_> = sim
        .history()
        .operations()
        .iter()
        .filter(|op| op.invoked_at.as_nanos() > after)
        .collect();
    assert!(!late.is_empty(), "no operation after {after} ns");
    for op in late {
        assert!(
            matches!(op.outcome, Outcome::Ok(_)),
            "{op:?} did not succeed"
        );
    }
}

/// One Byzantine replica, no other fault: run, stop the clients, check.
fn run_one(
    seed: u64,
    node: NodeId,
    behaviour: Behaviour,
    faults: &[(Duration, Fault)],
) -> Result<(Sim, Setup), SimFailure> {
    let setup = Setup::new(1, 3).with(node, behaviour);
    let mut sim = Simulation::new(setup.sim_config(seed), KvWorkload::new(4), setup.boot())
        .expect("valid configuration");
    add_invariants(&mut sim);
    for (at, fault) in faults {
        sim.schedule(*at, fault.clone()).expect("known node");
    }
    sim.run_for(Duration::from_secs(6))?;
    sim.stop_clients();
    sim.run_for(Duration::from_secs(3))?;
    sim.check_history(KvModel::new())?;
    Ok((sim, setup))
}

#[test]
fn a_silent_primary_is_voted_out() {
    let (sim, setup) = run_one(1, 1, Behaviour::Silent, &[]).unwrap();
    let (view, primary) = settled_view(&sim, &setup);
    assert!(view >= 1 && primary != 1, "view {view}");
    late_operations_succeed(&sim, Duration::from_secs(2));
    assert!(tampered(&sim) > 0);
}

#[test]
fn an_equivocating_primary_is_voted_out() {
    // Replica 1, primary of view 0, sends a different batch to the even
    // replicas for every sequence number it assigns.
    let (sim, setup) = run_one(2, 1, Behaviour::Equivocate, &[]).unwrap();
    let (view, primary) = settled_view(&sim, &setup);
    assert!(view >= 1 && primary != 1, "view {view}");
    late_operations_succeed(&sim, Duration::from_secs(2));
    assert!(tampered(&sim) > 0);
}

#[test]
fn a_primary_ordering_outside_the_watermarks_is_refused_and_voted_out() {
    let (sim, setup) = run_one(3, 1, Behaviour::OutOfWatermarks, &[]).unwrap();
    assert!(correct_drops(&sim, DropReason::OutsideWatermarks) > 0);
    let (view, primary) = settled_view(&sim, &setup);
    assert!(view >= 1 && primary != 1, "view {view}");
    late_operations_succeed(&sim, Duration::from_secs(2));
}

#[test]
fn forged_and_missing_authenticators_are_dropped_and_counted() {
    // As primary and as backup: replica 1 leads view 0, replica 2 would
    // lead view 1.
    for node in [1, 2] {
        let (sim, _) = run_one(4, node, Behaviour::ForgeAuthenticators, &[]).unwrap();
        assert!(
            correct_drops(&sim, DropReason::BadAuthenticator) > 0,
            "node {node}"
        );
        late_operations_succeed(&sim, Duration::from_secs(3));
    }
}

#[test]
fn messages_claiming_another_sender_are_dropped_and_counted() {
    for node in [1, 3] {
        let (sim, _) = run_one(5, node, Behaviour::ImpersonateSender, &[]).unwrap();
        assert!(
            correct_drops(&sim, DropReason::SenderMismatch) > 0,
            "node {node}"
        );
        late_operations_succeed(&sim, Duration::from_secs(3));
    }
}

#[test]
fn replayed_messages_from_earlier_views_are_refused() {
    // Replica 1 (correct) crashes, so view 1 starts under replica 2, which
    // then replays old messages of view 0 and earlier sequence numbers.
    let faults = [
        (Duration::from_millis(800), Fault::Crash(1)),
        (Duration::from_millis(2500), Fault::Restart(1)),
    ];
    let (sim, setup) = run_one(6, 2, Behaviour::ReplayOld, &faults).unwrap();
    let (view, _) = settled_view(&sim, &setup);
    assert!(view >= 1);
    assert!(correct_drops(&sim, DropReason::StaleView) > 0);
    assert!(tampered(&sim) > 0);
    late_operations_succeed(&sim, Duration::from_secs(3));
}

#[test]
fn wrong_request_digests_are_refused_and_their_primary_voted_out() {
    let (sim, setup) = run_one(7, 1, Behaviour::WrongDigests, &[]).unwrap();
    assert!(correct_drops(&sim, DropReason::WrongDigest) > 0);
    let (view, primary) = settled_view(&sim, &setup);
    assert!(view >= 1 && primary != 1, "view {view}");
    late_operations_succeed(&sim, Duration::from_secs(2));
}

#[test]
fn conflicting_view_changes_do_not_derail_the_view_change() {
    // Replica 1 (correct) crashes; replica 3 sends different, fabricated
    // view changes to different replicas.
    let faults = [
        (Duration::from_millis(800), Fault::Crash(1)),
        (Duration::from_millis(3000), Fault::Restart(1)),
    ];
    let (sim, setup) = run_one(8, 3, Behaviour::ConflictingViewChanges, &faults).unwrap();
    let (view, primary) = settled_view(&sim, &setup);
    assert!(view >= 1 && primary != 1, "view {view}");
    assert!(tampered(&sim) > 0);
    late_operations_succeed(&sim, Duration::from_secs(3));
}

#[test]
fn a_primary_that_ignores_a_client_is_voted_out() {
    let (sim, setup) = run_one(9, 1, Behaviour::CensorClient(CLIENT_BASE), &[]).unwrap();
    // A correct replica whose timer for the censored client's request ran
    // out again may already wait for the next view (seed 9 ends so).
    let (view, primary) = working_view(&sim, &setup);
    assert!(view >= 1 && primary != 1, "view {view}");
    assert!(tampered(&sim) > 0);
    // The censored client's operations completed once the view changed.
    let censored_ok = sim
        .cluster()
        .node(CLIENT_BASE)
        .and_then(SimNode::client)
        .map(|client| client.counts().0)
        .unwrap_or(0);
    assert!(censored_ok > 0);
    late_operations_succeed(&sim, Duration::from_secs(2));
}

/// Seeds CI runs with f = 1 (`TESSERA_SEEDS` runs more).
const SEEDS_F1: u64 = 200;
/// Seeds CI runs with f = 2.
const SEEDS_F2: u64 = 200;
/// Each seed's run takes at least this many steps.
const STEPS_MIN: u64 = 10_000;
/// The nemesis is active this long, then everything heals.
const SAFETY_PHASE: Duration = Duration::from_secs(6);
/// Clients keep going this long after the nemesis stops.
const LIVENESS_PHASE: Duration = Duration::from_secs(6);
/// Time for the correct replicas to settle into a view after healing: the
/// view-change timeout may have backed off to its maximum (2 s) and a
/// crashed replica needs a state transfer.
const SETTLE: Duration = Duration::from_secs(4);

/// `f` Byzantine replicas among `3f + 1`: the first `f` (so the first
/// primaries are faulty), each with a behaviour chosen by the seed.
fn nemesis_setup(seed: u64, faults: usize) -> Setup {
    let mut setup = Setup::new(faults, 3);
    for i in 0..faults {
        let behaviour = Behaviour::ALL[((seed as usize) + 3 * i) % Behaviour::ALL.len()];
        setup = setup.with(1 + i as NodeId, behaviour);
    }
    setup
}

fn run_nemesis(seed: u64, faults: usize) -> Result<(Sim, Setup), SimFailure> {
    let setup = nemesis_setup(seed, faults);
    let mut config = setup.sim_config(seed);
    config.nemesis = Some(Setup::nemesis(SAFETY_PHASE));
    let mut sim =
        Simulation::new(config, KvWorkload::new(4), setup.boot()).expect("valid configuration");
    add_invariants(&mut sim);
    sim.run_for(SAFETY_PHASE + LIVENESS_PHASE)?;
    sim.stop_clients();
    sim.run_for(Duration::from_secs(5))?;
    sim.check_history(KvModel::new())?;
    Ok((sim, setup))
}

fn check_liveness(seed: u64, sim: &Sim, setup: &Setup) {
    assert!(sim.clients_done(), "seed {seed}: clients did not finish");
    assert!(
        sim.stats().steps >= STEPS_MIN,
        "seed {seed}: only {} steps",
        sim.stats().steps
    );
    late_operations_succeed(sim, SAFETY_PHASE + SETTLE);
    let (_, primary) = working_view(sim, setup);
    if let Some(&behaviour) = setup.byzantine.get(&primary) {
        assert!(
            !must_be_voted_out(behaviour, primary, setup),
            "seed {seed}: faulty primary {primary} ({behaviour:?}) still leads"
        );
    }
}

/// Whether a faulty primary with `behaviour` keeps requests from
/// committing, so that the correct replicas must replace it. PBFT replaces
/// only a primary that blocks progress: an equivocating primary sends the
/// true pre-prepare to odd-numbered replicas and a forged one to the
/// others, and when the odd correct replicas together with the faulty ones
/// (which may follow the protocol in the normal case) make a commit quorum
/// of 2f + 1, requests still commit and it may rightly stay (f = 2, seed
/// 196: replicas 3, 5 and 7 with the faulty 1 and 2).
fn must_be_voted_out(behaviour: Behaviour, primary: NodeId, setup: &Setup) -> bool {
    if !behaviour.stalls_as_primary() {
        return false;
    }
    if matches!(behaviour, Behaviour::Equivocate) {
        let with_true_pre_prepare = setup
            .config
            .replicas()
            .iter()
            .filter(|&&id| id % 2 == 1 && id != primary && !setup.byzantine.contains_key(&id))
            .count();
        return with_true_pre_prepare + setup.byzantine.len() < 2 * setup.faults + 1;
    }
    true
}

#[test]
fn safety_and_liveness_under_the_nemesis_with_one_byzantine_replica() {
    tessera_sim::run_seeds(
        SEEDS_F1,
        "-p tessera-pbft --test byzantine one_byzantine",
        |seed| {
            let (sim, setup) = run_nemesis(seed, 1)?;
            check_liveness(seed, &sim, &setup);
            Ok(())
        },
    );
}

/// Seed 196 (f = 2): an equivocating primary whose true pre-prepares
/// reach a commit quorum keeps leading, and rightly so (see
/// `must_be_voted_out`); the check once demanded it be replaced.
#[test]
fn seed_196_an_equivocating_primary_that_still_commits_may_stay() {
    let (sim, setup) = run_nemesis(196, 2).unwrap();
    check_liveness(196, &sim, &setup);
    let (_, primary) = working_view(&sim, &setup);
    assert_eq!(setup.byzantine.get(&primary), Some(&Behaviour::Equivocate));
}

#[test]
fn safety_and_liveness_under_the_nemesis_with_two_byzantine_replicas() {
    tessera_sim::run_seeds(
        SEEDS_F2,
        "-p tessera-pbft --test byzantine two_byzantine",
        |seed| {
            let (sim, setup) = run_nemesis(seed, 2)?;
            check_liveness(seed, &sim, &setup);
            Ok(())
        },
    );
}

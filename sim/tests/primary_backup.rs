//! The simulator and the checker, proven on the primary-backup fixture:
//! the correct protocol passes every seed, and each deliberately broken
//! variant is caught within a bounded number of seeds, with a failure that
//! names the seed and the violated invariant.

use std::time::Duration;

use tessera_sim::fixture::primary_backup::{
    BACKUP_NOT_AHEAD, Flaw, KvWorkload, PbDisk, PbInvariants, PbMode, PrimaryBackup,
};
use tessera_sim::{
    Fault, KvModel, LINEARIZABILITY, Latency, NemesisConfig, SimConfig, SimFailure, Simulation,
    first_failure, run_seeds,
};

/// Seeds CI runs for the correct protocol; `TESSERA_SEEDS` runs more.
const SEEDS: u64 = 200;

/// Each seed's run takes at least this many steps.
const STEPS_MIN: u64 = 10_000;

/// The nemesis is active this long (the safety phase).
const SAFETY_PHASE: Duration = Duration::from_secs(16);

/// Then everything is healed and the clients run this long (liveness).
const LIVENESS_PHASE: Duration = Duration::from_secs(3);

/// A flawed variant must be caught within this many seeds.
const SEEDS_TO_CATCH: u64 = 30;

fn config(seed: u64) -> SimConfig {
    let mut config = SimConfig::new(seed, vec![1, 2, 3]);
    config.network.loss_probability = 0.02;
    config.network.duplicate_probability = 0.02;
    config.clients.clients = 4;
    config.nemesis = Some(NemesisConfig {
        active_for: SAFETY_PHASE,
        fault_duration: Latency::Uniform {
            min: Duration::from_millis(20),
            max: Duration::from_millis(600),
        },
        ..NemesisConfig::default()
    });
    config
}

type PbSim = Simulation<PrimaryBackup, PbDisk, KvWorkload>;

fn simulation(seed: u64, flaw: Flaw) -> PbSim {
    let reads_anywhere = flaw == Flaw::AckBeforeReplication;
    let mut sim = Simulation::new(
        config(seed),
        KvWorkload::new(4, reads_anywhere),
        move |boot| PrimaryBackup::boot(&boot, flaw),
    )
    .expect("valid configuration");
    sim.add_invariant(PbInvariants);
    sim
}

/// Faults during the safety phase, then healed; clients keep going through
/// the liveness phase, then stop; everything in flight finishes.
fn run(seed: u64, flaw: Flaw) -> Result<PbSim, SimFailure> {
    let mut sim = simulation(seed, flaw);
    sim.run_for(SAFETY_PHASE + LIVENESS_PHASE)?;
    sim.stop_clients();
    sim.run_for(Duration::from_secs(2))?;
    sim.check_history(KvModel::new())?;
    Ok(sim)
}

#[test]
fn correct_protocol_keeps_every_invariant_and_stays_linearizable() {
    run_seeds(
        SEEDS,
        "-p tessera-sim --test primary_backup correct_protocol",
        |seed| {
            let sim = run(seed, Flaw::None)?;
            assert!(sim.clients_done(), "seed {seed}: clients did not finish");
            assert!(
                sim.stats().steps >= STEPS_MIN,
                "seed {seed}: only {} steps",
                sim.stats().steps
            );
            Ok(())
        },
    );
}

#[test]
fn correct_protocol_heals_after_the_nemesis_stops() {
    run_seeds(
        SEEDS / 4,
        "-p tessera-sim --test primary_backup heals",
        |seed| {
            let sim = run(seed, Flaw::None)?;
            // The nemesis heals everything at its first tick after the
            // safety phase (ticks come at most 500 ms apart). Every
            // operation invoked after that, plus time for a restarted
            // primary to recover, succeeded.
            let settled = (SAFETY_PHASE + Duration::from_millis(700)).as_nanos() as u64;
            let late: Vec<_> = sim
                .history()
                .operations()
                .iter()
                .filter(|op| op.invoked_at.as_nanos() > settled)
                .collect();
            assert!(!late.is_empty(), "seed {seed}: no operations after healing");
            for op in late {
                assert!(
                    matches!(op.outcome, tessera_sim::Outcome::Ok(_)),
                    "seed {seed}: {op:?} did not succeed after healing"
                );
            }
            Ok(())
        },
    );
}

#[test]
fn acknowledging_before_replication_is_caught_as_stale_reads() {
    let failure = first_failure(0..SEEDS_TO_CATCH, |seed| {
        run(seed, Flaw::AckBeforeReplication).map(|_| ())
    })
    .expect("stale reads from backups must be caught");
    assert_eq!(failure.violation.invariant, LINEARIZABILITY);
    let message = failure.to_string();
    assert!(
        message.contains(&format!("seed {}", failure.seed)),
        "{message}"
    );
    assert!(message.contains("TESSERA_SEED="), "{message}");
}

#[test]
fn acknowledging_before_persisting_is_caught() {
    let failure = first_failure(0..SEEDS_TO_CATCH, |seed| {
        run(seed, Flaw::AckBeforePersist).map(|_| ())
    })
    .expect("lost acknowledged writes must be caught");
    // Caught either by the durable-state invariant, step by step, or by the
    // history check when a read misses an acknowledged write.
    assert!(
        [BACKUP_NOT_AHEAD, LINEARIZABILITY].contains(&failure.violation.invariant),
        "{failure}"
    );
    assert!(failure.to_string().contains("rerun: TESSERA_SEED="));
}

#[test]
fn acknowledging_before_persisting_loses_writes_even_with_the_invariant_off() {
    // Without the step-by-step invariant, the history alone shows the loss.
    let failure = first_failure(0..SEEDS_TO_CATCH, |seed| {
        let reads_anywhere = false;
        let mut sim = Simulation::new(config(seed), KvWorkload::new(2, reads_anywhere), |boot| {
            PrimaryBackup::boot(&boot, Flaw::AckBeforePersist)
        })
        .expect("valid configuration");
        sim.run_for(Duration::from_secs(6))?;
        sim.stop_clients();
        sim.run_for(Duration::from_secs(2))?;
        sim.check_history(KvModel::new()).map(|_| ())
    })
    .expect("lost acknowledged writes must show in the history");
    assert_eq!(failure.violation.invariant, LINEARIZABILITY);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = run(11, Flaw::None).expect("seed 11 passes");
    let b = run(11, Flaw::None).expect("seed 11 passes");
    assert_eq!(a.stats(), b.stats());
    assert_eq!(a.history(), b.history());
    let faults_a: Vec<_> = a.fault_log().collect();
    let faults_b: Vec<_> = b.fault_log().collect();
    assert_eq!(faults_a, faults_b);
    let c = run(12, Flaw::None).expect("seed 12 passes");
    assert_ne!(a.history(), c.history());
}

#[test]
fn mode_changes_are_recorded_with_their_triggers() {
    let mut config = SimConfig::new(3, vec![1, 2, 3]);
    config.clients.clients = 2;
    let mut sim = Simulation::new(config, KvWorkload::new(2, false), |boot| {
        PrimaryBackup::boot(&boot, Flaw::None)
    })
    .expect("valid configuration");
    sim.run_for(Duration::from_millis(200)).unwrap();
    // A backup down: writes wait, and the primary says so.
    sim.apply(Fault::Crash(3)).unwrap();
    sim.run_for(Duration::from_millis(300)).unwrap();
    sim.apply(Fault::Restart(3)).unwrap();
    sim.run_for(Duration::from_millis(300)).unwrap();
    // The primary down: after restart it recovers before serving.
    sim.apply(Fault::Crash(1)).unwrap();
    sim.run_for(Duration::from_millis(100)).unwrap();
    sim.apply(Fault::Restart(1)).unwrap();
    sim.run_for(Duration::from_millis(300)).unwrap();

    let changes: Vec<(PbMode, PbMode, &str)> = sim
        .mode_log()
        .map(|c| {
            (
                c.transition.from,
                c.transition.to,
                c.transition.trigger.as_str(),
            )
        })
        .collect();
    assert!(changes.contains(&(PbMode::Serving, PbMode::Stalled, "a write waited too long")));
    assert!(changes.contains(&(
        PbMode::Stalled,
        PbMode::Serving,
        "every backup acknowledged the last write"
    )));
    assert!(changes.contains(&(
        PbMode::Recovering,
        PbMode::Serving,
        "every backup acknowledged the last write"
    )));
    sim.check_history(KvModel::new()).unwrap();
}

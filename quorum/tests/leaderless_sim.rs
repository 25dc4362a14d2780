//! Leaderless replication under the nemesis (tessera-sim): partitions,
//! one-way links, crashes with restarts from disk, message loss,
//! duplication and clock skew. UNIQUE DOTS and NO RESURRECTION are checked
//! after every step; the client history is checked afterwards with the
//! checkers in `common` (the sim's linearizability checker does not apply
//! to a store with siblings — see there).
//!
//! `TESSERA_SEEDS=N` runs more seeds; a failure prints the seed and the
//! command that reruns it.

mod common;

use std::time::Duration;

use common::{
    Coordinators, KvSim, KvWorkload, PurgeLog, check_converged, check_deletes_hold,
    check_no_stale_reads, check_sessions, check_values, failure, key_bytes, replica_config, ring,
    sim_config, simulation,
};
use tessera_core::{Instant, Protocol};
use tessera_quorum::{
    NO_STALE_READ, ReplicaConfig, ReplicaRequest, ReplicaResponse, RequestOptions,
    SESSION_GUARANTEES,
};
use tessera_sim::{Fault, SimFailure, first_failure, run_seeds};

/// Seeds per test in CI.
const SEEDS: u64 = 12;
/// Faults for this long…
const SAFETY_PHASE: Duration = Duration::from_secs(5);
/// …then healed, with clients still running this long…
const LIVENESS_PHASE: Duration = Duration::from_secs(2);
/// …then quiet, clients stopped, for handoff and anti-entropy to finish.
const QUIET_PHASE: Duration = Duration::from_secs(6);
/// A deliberately weakened configuration must be caught within this many
/// seeds.
const SEEDS_TO_CATCH: u64 = 20;

fn workload(options: RequestOptions) -> KvWorkload {
    KvWorkload::new(ring(), 4, options)
}

/// Runs the three phases and returns the simulation for checking, with
/// the log of purges.
fn run(
    seed: u64,
    replica: ReplicaConfig,
    workload: KvWorkload,
) -> Result<(KvSim, PurgeLog), SimFailure> {
    let (mut sim, purges) = simulation(sim_config(seed, SAFETY_PHASE), replica, workload);
    sim.run_for(SAFETY_PHASE + LIVENESS_PHASE)?;
    sim.stop_clients();
    sim.run_for(QUIET_PHASE)?;
    Ok((sim, purges))
}

#[test]
fn strict_quorums_never_return_a_read_older_than_an_acknowledged_write() {
    run_seeds(
        SEEDS,
        "-p tessera-quorum --test leaderless_sim strict_quorums",
        |seed| {
            let mut workload = workload(RequestOptions::strict(3, 2, 2));
            // No session tokens: only R + W > N keeps reads fresh.
            workload.sessions = false;
            let (sim, purges) = run(seed, replica_config(), workload)?;
            let history = sim.history();
            let pairs = check_no_stale_reads(history).map_err(|v| failure(&sim, v))?;
            check_values(history).map_err(|v| failure(&sim, v))?;
            check_deletes_hold(history, Instant::ZERO).map_err(|v| failure(&sim, v))?;
            check_converged(&sim, &purges, 4).map_err(|v| failure(&sim, v))?;
            assert!(
                pairs > 1_000,
                "seed {seed}: only {pairs} read/write pairs checked"
            );
            assert!(sim.stats().crashes + sim.stats().messages_dropped_partition > 0);
            Ok(())
        },
    );
}

#[test]
fn weak_quorums_are_caught_returning_stale_reads() {
    // The same checker on R + W <= N: it must find a stale read, which
    // shows it is not vacuous.
    let failure = first_failure(0..SEEDS_TO_CATCH, |seed| {
        let mut workload = workload(RequestOptions::strict(3, 1, 1));
        workload.sessions = false;
        let (sim, _) = run(seed, replica_config(), workload)?;
        check_no_stale_reads(sim.history())
            .map(|_| ())
            .map_err(|v| failure(&sim, v))
    })
    .expect("R = W = 1 of 3 must produce a stale read");
    assert_eq!(failure.violation.invariant, NO_STALE_READ);
}

#[test]
fn sloppy_quorums_converge_and_lose_no_acknowledged_write() {
    run_seeds(
        SEEDS,
        "-p tessera-quorum --test leaderless_sim sloppy_quorums",
        |seed| {
            let mut workload = workload(RequestOptions::sloppy(3, 2, 2));
            workload.coordinators = Coordinators::AnyNode;
            let (sim, purges) = run(seed, replica_config(), workload)?;
            check_values(sim.history()).map_err(|v| failure(&sim, v))?;
            check_sessions(&sim.workload().log).map_err(|v| failure(&sim, v))?;
            check_converged(&sim, &purges, 4).map_err(|v| failure(&sim, v))?;
            // Deletes hold once the replicas have converged.
            let settled = Instant::from_nanos((SAFETY_PHASE + LIVENESS_PHASE).as_nanos() as u64);
            check_deletes_hold(sim.history(), settled).map_err(|v| failure(&sim, v))?;
            Ok(())
        },
    );
}

/// Reads every key through a home replica and deletes it over what the
/// read saw, with every home replica acknowledging.
fn delete_every_key(sim: &mut KvSim, keys: u8) -> Result<(), SimFailure> {
    let ring = ring();
    for key in 0..keys {
        let bytes = key_bytes(key);
        let home = ring.preference_list(&bytes)[0];
        let get = ReplicaRequest::Get {
            key: bytes.clone(),
            options: None,
            session: None,
        };
        sim.submit(home, get).expect("known node");
        sim.run_for(Duration::from_millis(400))?;
        let context = sim
            .take_responses()
            .into_iter()
            .find_map(|(_, response)| match response {
                ReplicaResponse::Read(result) => Some(result.context),
                _ => None,
            })
            .expect("the healed cluster answers reads");
        let delete = ReplicaRequest::Delete {
            key: bytes,
            context,
            options: Some(RequestOptions::strict(3, 2, 3)),
        };
        sim.submit(home, delete).expect("known node");
        sim.run_for(Duration::from_millis(400))?;
        let deleted = sim
            .take_responses()
            .into_iter()
            .any(|(_, response)| matches!(response, ReplicaResponse::Written { .. }));
        assert!(
            deleted,
            "seed {}: the healed cluster acknowledges deletes",
            sim.seed()
        );
    }
    Ok(())
}

#[test]
fn deleted_keys_never_come_back() {
    run_seeds(
        SEEDS,
        "-p tessera-quorum --test leaderless_sim deleted_keys",
        |seed| {
            let mut workload = workload(RequestOptions::strict(3, 2, 2));
            workload.delete_percent = 30;
            workload.put_percent = 30;
            let replica = ReplicaConfig {
                hint_ttl: Duration::from_millis(800),
                tombstone_grace: Duration::from_secs(1),
                purge_retention: Duration::from_secs(2),
                ..replica_config()
            };
            let (mut sim, purges) = run(seed, replica, workload)?;
            check_deletes_hold(sim.history(), Instant::ZERO).map_err(|v| failure(&sim, v))?;
            check_values(sim.history()).map_err(|v| failure(&sim, v))?;
            check_converged(&sim, &purges, 4).map_err(|v| failure(&sim, v))?;
            // Then delete everything, with a crash and restart while the
            // tombstones wait out their grace period.
            delete_every_key(&mut sim, 4)?;
            sim.apply(Fault::Crash(2)).expect("known node");
            sim.run_for(Duration::from_millis(1_500))?;
            sim.apply(Fault::Restart(2)).expect("known node");
            sim.run_for(Duration::from_secs(4))?;
            check_converged(&sim, &purges, 4).map_err(|v| failure(&sim, v))?;
            let collected: Vec<u8> = (0..4u8)
                .filter(|key| purges.borrow().contains_key(&key_bytes(*key)))
                .collect();
            assert_eq!(
                collected.len(),
                4,
                "seed {seed}: only keys {collected:?} were collected"
            );
            for node in sim.cluster().running() {
                assert!(
                    node.store().is_empty(),
                    "seed {seed}: node {} kept objects",
                    node.id()
                );
            }
            Ok(())
        },
    );
}

#[test]
fn session_guarantees_hold_for_a_client_moving_between_coordinators() {
    run_seeds(
        SEEDS,
        "-p tessera-quorum --test leaderless_sim session_guarantees",
        |seed| {
            // The weakest quorums, sloppy, any coordinator: only the session
            // token keeps a client's reads from going back in time.
            let mut workload = workload(RequestOptions::sloppy(3, 1, 1));
            workload.coordinators = Coordinators::AnyNode;
            let (sim, _) = run(seed, replica_config(), workload)?;
            let reads = check_sessions(&sim.workload().log).map_err(|v| failure(&sim, v))?;
            assert!(reads > 500, "seed {seed}: only {reads} reads checked");
            let coordinators: std::collections::BTreeSet<_> = sim
                .workload()
                .log
                .iter()
                .map(|r| (r.client, r.coordinator))
                .collect();
            assert!(
                coordinators.len() > 8,
                "clients did not move between coordinators"
            );
            Ok(())
        },
    );
}

#[test]
fn without_session_tokens_the_same_clients_are_caught() {
    let failure = first_failure(0..SEEDS_TO_CATCH, |seed| {
        let mut workload = workload(RequestOptions::sloppy(3, 1, 1));
        workload.coordinators = Coordinators::AnyNode;
        workload.sessions = false;
        let (sim, _) = run(seed, replica_config(), workload)?;
        check_sessions(&sim.workload().log)
            .map(|_| ())
            .map_err(|v| failure(&sim, v))
    })
    .expect("R = W = 1 without tokens must break a session guarantee");
    assert_eq!(failure.violation.invariant, SESSION_GUARANTEES);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let (a, _) = run(
        5,
        replica_config(),
        workload(RequestOptions::sloppy(3, 2, 2)),
    )
    .expect("seed 5");
    let (b, _) = run(
        5,
        replica_config(),
        workload(RequestOptions::sloppy(3, 2, 2)),
    )
    .expect("seed 5");
    assert_eq!(a.stats(), b.stats());
    assert_eq!(a.history(), b.history());
}

//! Scenario tests through the public API, each citing the part of Castro
//! and Liskov's PBFT (OSDI 1999, §4; TOCS 2002) it reproduces, on a cluster
//! driven by hand.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::CLIENT_BASE;
use support::hand::{HandCluster, small_config as config};
use tessera_core::{
    Evidence, EvidenceKind, EvidenceState, Input, Instant, Invariant, Mode, ModeLevel, Protocol,
};
use tessera_pbft::invariants::{EXECUTION_AGREEMENT, ExecutionAgreement};
use tessera_pbft::{
    Authentication, Batch, ClientOutcome, ClientRequest, DropReason, Envelope, KvCommand,
    KvOutcome, MemKv, Payload, PbftMode, PrePrepare, Replica, Vote,
};

const TICK: Duration = Duration::from_millis(10);

fn put(key: &str, value: &str) -> Vec<u8> {
    KvCommand::Put(key.as_bytes().to_vec(), value.as_bytes().to_vec()).encode()
}

fn executed(outcome: &ClientOutcome) -> KvOutcome {
    match outcome {
        ClientOutcome::Executed { result, .. } => KvOutcome::decode(result).expect("a KV outcome"),
        ClientOutcome::Refused { reason } => panic!("refused: {reason}"),
    }
}

/// Every replica's executions agree (the safety invariant over all four).
fn agreement(cluster: &HandCluster) -> Result<(), tessera_core::Violation> {
    let replicas: Vec<&Replica<MemKv>> = cluster.replicas.values().collect();
    ExecutionAgreement::default().check(&replicas[..])
}

#[test]
fn the_normal_case_orders_in_three_phases_and_the_client_needs_f_plus_one_replies() {
    // Reference: OSDI 1999 §4.2 (pre-prepare, prepare, commit) and §4.1
    // (the client waits for f + 1 replies with the same result).
    let mut cluster = HandCluster::new(config(), 1);
    cluster.submit(CLIENT_BASE, put("x", "1"));
    cluster.deliver_all();
    let outcomes = cluster.outcomes(CLIENT_BASE);
    assert_eq!(outcomes.len(), 1);
    assert_eq!(executed(outcomes[0]), KvOutcome::Done);
    for replica in cluster.replicas.values() {
        assert_eq!(replica.last_executed(), 1);
        assert_eq!(replica.app().get(b"x"), Some(&b"1"[..]));
        let now = Instant::from_secs(2);
        let prepared = replica.prepared_certificate(1).expect("prepared");
        assert_eq!(prepared.state_at(now), EvidenceState::Active);
        assert!(prepared.voters().count() >= 3, "2f + 1 votes");
        let committed = replica.committed_certificate(1).expect("committed");
        assert_eq!(committed.kind(), EvidenceKind::CommitCertificate);
        assert_eq!(committed.digest(), prepared.digest());
        assert!(committed.proves(&committed.scope(), now));
        assert!(!committed.proves(
            &tessera_core::EvidenceScope::Instance { epoch: 0, index: 2 },
            now
        ));
        let pre_prepare = replica.pre_prepare_certificate(1).expect("pre-prepared");
        assert_eq!(pre_prepare.primary, 1);
        assert!(pre_prepare.validate().is_ok());
    }
    agreement(&cluster).unwrap();
}

#[test]
fn the_client_accepts_only_f_plus_one_matching_replies() {
    // Reference: OSDI 1999 §4.1: one faulty replica's reply proves nothing.
    let mut cluster = HandCluster::new(config(), 1);
    // Only replica 4's reply reaches the client.
    cluster.filter = Some(Box::new(|from, to, message| {
        !(to == CLIENT_BASE && from != 4 && matches!(message.payload, Payload::Reply(_)))
    }));
    cluster.submit(CLIENT_BASE, put("x", "1"));
    cluster.deliver_all();
    assert!(
        cluster.outcomes(CLIENT_BASE).is_empty(),
        "one reply is not enough"
    );
    cluster.filter = None;
    cluster.run_for(Duration::from_millis(400), TICK);
    assert_eq!(
        cluster.outcomes(CLIENT_BASE).len(),
        1,
        "the retransmission gathered f + 1"
    );
    // Executed once, although the request was retransmitted.
    assert_eq!(cluster.replica(1).last_executed(), 1);
}

#[test]
fn a_retransmitted_request_is_answered_from_the_reply_cache_and_an_old_one_refused() {
    // Reference: OSDI 1999 §4.1: timestamps order a client's requests;
    // replicas keep the last reply per client and never execute a request
    // twice.
    let config = config();
    let mut cluster = HandCluster::new(config.clone(), 1);
    let keys = cluster.keys(CLIENT_BASE);
    let cas = KvCommand::Cas {
        key: b"k".to_vec(),
        expected: None,
        new: b"v".to_vec(),
    }
    .encode();
    let request = ClientRequest::seal(&keys, &config, 5_000, cas);
    let envelope = Envelope {
        sender: CLIENT_BASE,
        payload: Payload::Request(Arc::new(request.clone())),
        authenticator: tessera_pbft::Authenticator::None,
    };
    for replica in 1..=4 {
        cluster.deliver(CLIENT_BASE, replica, envelope.clone());
    }
    cluster.deliver_all();
    assert_eq!(cluster.replica(2).last_executed(), 1);
    // The same request again: answered from the cache (the compare-and-set
    // would fail if it ran twice), nothing new ordered.
    let before = cluster.inbox.len();
    cluster.deliver(CLIENT_BASE, 2, envelope.clone());
    let replies: Vec<_> = cluster.inbox.iter().skip(before).collect();
    assert_eq!(replies.len(), 1);
    let Payload::Reply(reply) = &replies[0].2.payload else {
        panic!("not a reply")
    };
    assert_eq!(
        KvOutcome::decode(&reply.result),
        Some(KvOutcome::Swapped(true))
    );
    cluster.deliver_all();
    assert_eq!(cluster.replica(2).last_executed(), 1);
    // An older request of the same client is refused and counted.
    let old = ClientRequest::seal(&keys, &config, 4_999, put("k", "old"));
    let old = Envelope {
        sender: CLIENT_BASE,
        payload: Payload::Request(Arc::new(old)),
        authenticator: tessera_pbft::Authenticator::None,
    };
    cluster.deliver(CLIENT_BASE, 3, old);
    assert_eq!(cluster.replica(3).drops().get(DropReason::StaleRequest), 1);
    assert_eq!(cluster.replica(3).app().get(b"k"), Some(&b"v"[..]));
}

#[test]
fn checkpoints_become_stable_and_the_log_below_them_is_collected() {
    // Reference: OSDI 1999 §4.3: a checkpoint with 2f + 1 matching signed
    // messages is stable; the low watermark moves to it and the log below
    // is discarded.
    let mut cluster = HandCluster::new(config(), 1);
    for i in 0..10 {
        cluster.submit(CLIENT_BASE, put("k", &i.to_string()));
        cluster.deliver_all();
    }
    assert_eq!(cluster.outcomes(CLIENT_BASE).len(), 10);
    for replica in cluster.replicas.values() {
        assert_eq!(replica.last_executed(), 10);
        assert_eq!(
            replica.low_watermark(),
            8,
            "checkpoints every 4: 4 and 8 are stable"
        );
        assert_eq!(replica.high_watermark(), 16);
        let stable = replica.stable_checkpoint().expect("a stable checkpoint");
        assert_eq!(stable.kind(), EvidenceKind::Checkpoint);
        assert!(stable.voters().count() >= 3);
        assert!(replica.prepared_certificate(8).is_none(), "collected");
        assert!(replica.committed_certificate(9).is_some());
        replica.validate().unwrap();
    }
    // The journal was compacted: it starts with the stable proof.
    let disk = &cluster.disks[&1];
    assert!(matches!(
        disk.log().iter().next().map(|e| &e.record),
        Some(tessera_pbft::JournalRecord::Stable(_))
    ));
    assert!(disk.log().len() < 10 * 3, "{} records", disk.log().len());
}

#[test]
fn a_primary_outside_the_watermarks_is_refused() {
    // Reference: OSDI 1999 §4.2: a backup accepts a pre-prepare only if its
    // sequence number is between the watermarks h and H.
    let config = config();
    let mut cluster = HandCluster::new(config.clone(), 1);
    let primary_keys = cluster.keys(1);
    let batch = Arc::new(Batch::default());
    for seq in [0, config.watermark_window + 1] {
        let pre_prepare = PrePrepare {
            view: 0,
            seq,
            digest: batch.digest(),
            batch: batch.clone(),
        };
        let envelope =
            Envelope::seal_for_replicas(&primary_keys, &config, Payload::PrePrepare(pre_prepare));
        cluster.deliver(1, 2, envelope);
    }
    assert_eq!(
        cluster
            .replica(2)
            .drops()
            .get(DropReason::OutsideWatermarks),
        2
    );
    // A backup cannot pose as the primary.
    let keys = cluster.keys(3);
    let pre_prepare = PrePrepare {
        view: 0,
        seq: 1,
        digest: batch.digest(),
        batch,
    };
    cluster.deliver(
        3,
        2,
        Envelope::seal_for_replicas(&keys, &config, Payload::PrePrepare(pre_prepare)),
    );
    assert_eq!(cluster.replica(2).drops().get(DropReason::WrongRole), 1);
}

#[test]
fn more_than_f_byzantine_replicas_can_break_agreement_and_the_invariant_catches_it() {
    // Reference: OSDI 1999 §4 (n ≥ 3f + 1 is needed). Replicas 1 (the
    // primary) and 2 collude — two faults where f = 1 — and equivocate:
    // replica 3 is shown batch A, replica 4 batch B, each with a full set
    // of matching prepares and commits. With one fault this is impossible:
    // each side would lack a vote.
    let config = config();
    let mut cluster = HandCluster::new(config.clone(), 1);
    let (one, two) = (cluster.keys(1), cluster.keys(2));
    let client = cluster.keys(CLIENT_BASE);
    let batch_for = |value: &str| {
        Arc::new(Batch::new(vec![ClientRequest::seal(
            &client,
            &config,
            1,
            put("x", value),
        )]))
    };
    for (victim, batch) in [(3, batch_for("A")), (4, batch_for("B"))] {
        let digest = batch.digest();
        let vote = Vote {
            view: 0,
            seq: 1,
            digest,
        };
        let messages = [
            (
                1,
                Envelope::seal_for_replicas(
                    &one,
                    &config,
                    Payload::PrePrepare(PrePrepare {
                        view: 0,
                        seq: 1,
                        digest,
                        batch,
                    }),
                ),
            ),
            (
                2,
                Envelope::seal_for_replicas(&two, &config, Payload::Prepare(vote)),
            ),
            (
                1,
                Envelope::seal_for_replicas(&one, &config, Payload::Commit(vote)),
            ),
            (
                2,
                Envelope::seal_for_replicas(&two, &config, Payload::Commit(vote)),
            ),
        ];
        cluster.filter = Some(Box::new(move |_, to, _| to == victim));
        for (from, message) in messages {
            cluster.deliver(from, victim, message);
        }
        cluster.deliver_all();
    }
    let honest: Vec<&Replica<MemKv>> = vec![cluster.replica(3), cluster.replica(4)];
    assert_eq!(honest[0].last_executed(), 1);
    assert_eq!(honest[1].last_executed(), 1);
    let violation = ExecutionAgreement::default()
        .check(&honest[..])
        .unwrap_err();
    assert_eq!(violation.invariant, EXECUTION_AGREEMENT);
}

#[test]
fn a_request_committed_in_one_view_survives_into_the_next() {
    // Reference: OSDI 1999 §4.4 and TOCS 2002 §4.5: the new primary's
    // decision keeps every request committed before the view change.
    // Replica 4 misses every commit of view 0, so it has prepared the
    // request but not executed it when the primary fails; after the view
    // change it executes the same request at the same sequence number.
    let mut cluster = HandCluster::new(config(), 1);
    cluster.filter = Some(Box::new(|_, to, message| {
        !(to == 4 && matches!(message.payload, Payload::Commit(_)))
    }));
    cluster.submit(CLIENT_BASE, put("x", "committed"));
    cluster.deliver_all();
    assert_eq!(
        cluster.outcomes(CLIENT_BASE).len(),
        1,
        "committed and answered in view 0"
    );
    assert_eq!(cluster.replica(4).last_executed(), 0);
    assert!(cluster.replica(4).prepared_certificate(1).is_some());
    // The primary fails before anyone retransmits; a new request waits.
    cluster.crash(1);
    cluster.filter = None;
    cluster.submit(CLIENT_BASE, put("y", "later"));
    cluster.run_for(Duration::from_secs(2), TICK);
    let replica = cluster.replica(4);
    assert!(replica.view() >= 1 && replica.is_view_active());
    assert_eq!(replica.app().get(b"x"), Some(&b"committed"[..]));
    assert_eq!(replica.app().get(b"y"), Some(&b"later"[..]));
    let proof = replica.view_change_proof().expect("the new view's proof");
    assert_eq!(proof.kind(), EvidenceKind::ViewChangeProof);
    assert!(proof.voters().count() >= 3);
    assert_eq!(cluster.outcomes(CLIENT_BASE).len(), 2);
    cluster.restart(1);
    cluster.run_for(Duration::from_millis(500), TICK);
    agreement(&cluster).unwrap();
}

#[test]
fn view_change_timers_back_off() {
    // Reference: OSDI 1999 §4.5.2: if the new view does not arrive in time,
    // a replica moves to the next view and waits twice as long.
    let config = config();
    let base = config.view_change_timeout;
    let mut cluster = HandCluster::new(config, 1);
    // Replicas 1 and 2 — the primaries of views 0 and 1 — are down: the
    // view change to 1 cannot complete, the one to 2 can.
    cluster.crash(1);
    cluster.crash(2);
    cluster.submit(CLIENT_BASE, put("x", "1"));
    cluster.run_for(base * 4, TICK);
    // Two replicas cannot form a quorum of 3, and each hears from fewer
    // than 2f others: neither starts a view change it could not complete
    // (and could never take back); both wait, stalled, in view 0.
    for id in [3, 4] {
        assert_eq!(cluster.replica(id).view(), 0);
        assert!(cluster.replica(id).is_view_active());
        assert_eq!(cluster.replica(id).mode(), PbftMode::Stalled);
        assert_eq!(cluster.replica(id).view_change_timeout(), base);
    }
    // Replica 1 back: three replicas hear each other and ask for view 1,
    // whose primary is still down; the new-view timer expires and they
    // move to view 2, waiting twice as long.
    // (New views are held back for a moment, to look at the timeout.)
    cluster.filter = Some(Box::new(|_, _, message| {
        !matches!(message.payload, Payload::NewView(_))
    }));
    cluster.restart(1);
    while cluster.replica(4).view() < 2 {
        cluster.run_for(TICK, TICK);
    }
    assert!(!cluster.replica(4).is_view_active());
    assert_eq!(cluster.replica(4).view_change_timeout(), base * 2);
    cluster.filter = None;
    cluster.run_for(Duration::from_secs(2), TICK);
    let replica = cluster.replica(3);
    assert_eq!(replica.view(), 2);
    assert!(replica.is_view_active());
    assert_eq!(cluster.outcomes(CLIENT_BASE).len(), 1);
    // Requests execute again: the timeout is back to the configured one.
    assert_eq!(cluster.replica(3).view_change_timeout(), base);
}

#[test]
fn a_replica_that_fell_behind_catches_up_by_state_transfer() {
    // Reference: OSDI 1999 §4.3 / TOCS 2002 §5.3: a replica that missed
    // requests below the stable checkpoint fetches the checkpoint's state
    // and checks it against the digest 2f + 1 replicas signed.
    let mut cluster = HandCluster::new(config(), 1);
    cluster.filter = Some(Box::new(|from, to, _| from != 4 && to != 4));
    for i in 0..20 {
        cluster.submit(CLIENT_BASE, put("k", &i.to_string()));
        cluster.deliver_all();
    }
    assert_eq!(cluster.replica(4).last_executed(), 0);
    assert_eq!(cluster.replica(1).low_watermark(), 20);
    cluster.filter = None;
    cluster.submit(CLIENT_BASE, put("k", "last"));
    cluster.run_for(Duration::from_millis(600), TICK);
    let replica = cluster.replica(4);
    assert_eq!(replica.last_executed(), cluster.replica(1).last_executed());
    assert_eq!(replica.app().get(b"k"), Some(&b"last"[..]));
    assert!(
        replica
            .mode_history()
            .any(|t| t.to == PbftMode::Transferring),
        "it transferred state"
    );
    assert_eq!(replica.mode(), PbftMode::Normal);
}

#[test]
fn a_restarted_replica_recovers_its_view_state_and_log_from_disk() {
    // Reference: TOCS 2002 §4.7 (a replica's state survives a crash: what it
    // sent depends only on what it persisted first).
    let mut cluster = HandCluster::new(config(), 1);
    for i in 0..6 {
        cluster.submit(CLIENT_BASE, put("k", &i.to_string()));
        cluster.deliver_all();
    }
    let before = (
        cluster.replica(2).last_executed(),
        cluster.replica(2).low_watermark(),
    );
    cluster.crash(2);
    cluster.restart(2);
    let replica = cluster.replica(2);
    assert_eq!((replica.last_executed(), replica.low_watermark()), before);
    assert_eq!(replica.app().get(b"k"), Some(&b"5"[..]));
    replica.validate().unwrap();
    cluster.submit(CLIENT_BASE, put("k", "after"));
    cluster.deliver_all();
    assert_eq!(cluster.replica(2).app().get(b"k"), Some(&b"after"[..]));
}

#[test]
fn modes_report_suspicion_view_change_and_recovery_with_triggers() {
    // The mode matrix in action: a silent primary is suspected after half
    // the view-change timeout, the view changes, and normal operation
    // resumes.
    let mut cluster = HandCluster::new(config(), 1);
    cluster.crash(1);
    cluster.submit(CLIENT_BASE, put("x", "1"));
    cluster.run_for(Duration::from_secs(1), TICK);
    let replica = cluster.replica(3);
    let path: Vec<(PbftMode, &str)> = replica
        .mode_history()
        .map(|t| (t.to, t.trigger.as_str()))
        .collect();
    assert!(
        path.contains(&(PbftMode::Suspecting, "a request waits too long")),
        "{path:?}"
    );
    assert!(
        path.contains(&(PbftMode::ChangingView, "view-change timer expired")),
        "{path:?}"
    );
    assert!(
        path.contains(&(PbftMode::Normal, "a new view accepted")),
        "{path:?}"
    );
    assert_eq!(replica.mode().level(), ModeLevel::Target);
}

#[test]
fn signing_every_message_works_and_refuses_macs() {
    // Authentication::Signatures: every normal-case message is signed; a
    // MAC-authenticated one is refused.
    let mut config = config();
    config.authentication = Authentication::Signatures;
    let mut cluster = HandCluster::new(config.clone(), 1);
    cluster.submit(CLIENT_BASE, put("x", "1"));
    cluster.deliver_all();
    assert_eq!(cluster.outcomes(CLIENT_BASE).len(), 1);
    let mut macs = config.clone();
    macs.authentication = Authentication::Macs;
    let keys = cluster.keys(3);
    let vote = Vote {
        view: 0,
        seq: 2,
        digest: Batch::null_digest(),
    };
    cluster.deliver(
        3,
        2,
        Envelope::seal_for_replicas(&keys, &macs, Payload::Prepare(vote)),
    );
    assert_eq!(
        cluster.replica(2).drops().get(DropReason::BadAuthenticator),
        1
    );
}

#[test]
fn requests_the_replica_cannot_authenticate_are_refused() {
    // Reference: OSDI 1999 §4.2: a backup accepts a pre-prepare only if it
    // can authenticate the requests in it.
    let config = config();
    let mut cluster = HandCluster::new(config.clone(), 1);
    let mut request =
        ClientRequest::seal(&cluster.keys(CLIENT_BASE), &config, 1, put("x", "forged"));
    request.operation = put("x", "changed");
    let batch = Arc::new(Batch::new(vec![request.clone()]));
    let pre_prepare = PrePrepare {
        view: 0,
        seq: 1,
        digest: batch.digest(),
        batch,
    };
    let primary = cluster.keys(1);
    cluster.deliver(
        1,
        2,
        Envelope::seal_for_replicas(&primary, &config, Payload::PrePrepare(pre_prepare)),
    );
    assert_eq!(
        cluster
            .replica(2)
            .drops()
            .get(DropReason::UnauthenticatedRequest),
        1
    );
    // Handed in directly, too.
    cluster.input_replica(
        3,
        Input::Request {
            id: tessera_core::RequestId(1),
            request,
        },
    );
    assert_eq!(
        cluster
            .replica(3)
            .drops()
            .get(DropReason::UnauthenticatedRequest),
        1
    );
}

//! What a node tells operators and drivers: its mode and every transition
//! with its trigger, its status, and the evidence it holds; and proposal
//! forwarding from followers.

mod common;

use std::time::Duration;

use common::{KvCommand, Net, config};
use tessera_core::{Action, EvidenceKind, EvidenceScope, EvidenceState, Input, Instant, Protocol};
use tessera_raft::{RaftConfig, RaftMode, ReadPolicy, Response, RoleKind};

#[test]
fn every_mode_transition_is_reported_with_its_trigger() {
    let mut net = Net::new(&[1, 2, 3]);
    assert_eq!(net.node(1).mode(), RaftMode::Bootstrap);
    net.elect(1);
    net.heartbeat(1);
    assert_eq!(net.node(1).mode(), RaftMode::Leading);
    assert_eq!(net.node(2).mode(), RaftMode::Following);
    let status = net.node(1).status();
    assert_eq!(
        status.mode_trigger.as_deref(),
        Some("committed an entry of its term with a quorum's lease")
    );
    // Every change came out as an action, in order.
    let modes: Vec<&str> = net
        .trace
        .iter()
        .filter(|(id, a)| *id == 1 && a.starts_with("mode"))
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(modes, vec!["mode Recovery", "mode Leading"]);
    // Lost contact: degraded, then stepping down, then following again.
    net.isolate(1);
    net.run_for(Duration::from_millis(300), Duration::from_millis(10));
    let modes: Vec<&str> = net
        .trace
        .iter()
        .filter(|(id, a)| *id == 1 && a.starts_with("mode"))
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(&modes[2..4], &["mode Degraded", "mode Recovery"]);
}

#[test]
fn mode_transitions_carry_triggers_an_operator_understands() {
    let mut net = Net::new(&[1, 2, 3]);
    let mut transitions = Vec::new();
    net.advance(net.config.election_timeout_max);
    let deadline = net.node(1).next_deadline().expect("deadline");
    net.now = net.now.max(deadline);
    let now = net.now;
    let mut out = Vec::new();
    net.node_mut(1).handle(now, Input::Tick, &mut out);
    for action in out {
        if let Action::ModeChanged(t) = action {
            transitions.push(t.to_string());
        }
    }
    assert_eq!(transitions.len(), 1);
    assert!(
        transitions[0].starts_with("bootstrap → recovery at")
            && transitions[0].ends_with("election timeout: campaigning for term 1"),
        "{}",
        transitions[0]
    );
}

#[test]
fn status_reports_replication_per_follower() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.crash(3);
    for key in 0..5 {
        net.put(1, key, key);
    }
    let status = net.node(1).status();
    assert_eq!(status.role, RoleKind::Leader);
    assert_eq!(status.leader, Some(1));
    assert_eq!(status.commit_index, 6);
    assert_eq!(status.last_applied.index, 6);
    assert_eq!(status.last_log.index, 6);
    assert!(status.lease_valid_until.is_some());
    let by_id = |id| {
        status
            .followers
            .iter()
            .find(|f| f.id == id)
            .expect("a follower")
    };
    assert_eq!((by_id(2).match_index, by_id(2).lag), (6, 0));
    assert_eq!(by_id(3).lag, 5, "node 3 is down: five entries behind");
    assert!(by_id(2).voter && by_id(2).last_ack.is_some());
    let follower = net.node(2).status();
    assert!(follower.followers.is_empty());
    assert_eq!(follower.leader, Some(1));
}

#[test]
fn evidence_held_by_a_leader() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.put(1, 1, 1);
    net.heartbeat(1);
    let now = net.now;
    let evidence = net.node(1).evidence(now);
    let kinds: Vec<EvidenceKind> = evidence.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::CommitCertificate,
            EvidenceKind::Lease
        ]
    );
    assert!(
        evidence.iter().all(|e| e.state == EvidenceState::Active),
        "{evidence:?}"
    );
    let commit = net.node(1).commit_certificate().expect("a certificate");
    assert_eq!((commit.term(), commit.index()), (1, 2));
    assert!(commit.voters().len() >= 2);
    // Transitive down the log, by Log Matching; not beyond its index.
    use tessera_core::Evidence;
    assert!(commit.is_transitive());
    assert!(commit.proves(&EvidenceScope::Instance { epoch: 1, index: 1 }, now));
    assert!(!commit.proves(&EvidenceScope::Instance { epoch: 1, index: 3 }, now));
    // The lease expires: its summary says so.
    let later = now + net.config.election_timeout_min;
    let lease = net
        .node(1)
        .evidence(later)
        .into_iter()
        .find(|e| e.kind == EvidenceKind::Lease);
    assert_eq!(lease.map(|l| l.state), Some(EvidenceState::Expired));
    // A follower holds its term and vote.
    let follower = net.node(2).evidence(now);
    assert_eq!(follower[0].kind, EvidenceKind::TermVote);
    assert_eq!(follower[0].scope, EvidenceScope::Epoch(1));
    let _ = Instant::ZERO;
}

#[test]
fn snapshot_metadata_is_evidence_once_durable() {
    let config = RaftConfig {
        snapshot_threshold_entries: 4,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    for key in 0..6 {
        net.put(1, key, key);
    }
    let evidence = net.node(1).evidence(net.now);
    assert!(
        evidence
            .iter()
            .any(|e| e.kind == EvidenceKind::SnapshotMeta && e.state == EvidenceState::Active)
    );
    assert!(net.node(1).status().snapshot.is_some());
}

#[test]
fn followers_forward_proposals_to_the_leader() {
    let config = RaftConfig {
        forward_proposals: true,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    let id = net.propose(2, KvCommand::Put(4, 40));
    net.settle();
    net.heartbeat(1);
    assert!(
        matches!(net.reply(id), Some(Response::Applied { .. })),
        "{:?}",
        net.reply(id)
    );
    assert_eq!(net.node(2).counters().proposals_forwarded, 1);
    assert_eq!(net.node(1).state_machine().data.get(&4), Some(&40));
    // A forwarded message delivered twice is appended once.
    let first = net.propose(3, KvCommand::Put(5, 50));
    let forward = net
        .queue
        .iter()
        .find(|e| e.from == 3)
        .cloned()
        .expect("a forward");
    net.queue.push_back(forward);
    net.settle();
    net.heartbeat(1);
    assert!(matches!(net.reply(first), Some(Response::Applied { .. })));
    let fives = net
        .node(1)
        .log()
        .iter()
        .filter(|e| {
            matches!(
                e.payload,
                tessera_raft::Payload::Command(KvCommand::Put(5, 50))
            )
        })
        .count();
    assert_eq!(fives, 1);
}

#[test]
fn a_forward_without_an_answer_times_out_as_unknown() {
    let config = RaftConfig {
        forward_proposals: true,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    net.isolate(2);
    let id = net.propose(2, KvCommand::Put(1, 1));
    net.settle();
    assert!(net.reply(id).is_none());
    net.advance(net.config.forward_timeout);
    net.input(2, Input::Tick);
    assert_eq!(net.reply(id), Some(&Response::Unknown));
}

#[test]
fn without_forwarding_a_follower_names_the_leader() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(3);
    let id = net.propose(1, KvCommand::Put(1, 1));
    assert_eq!(
        net.reply(id),
        Some(&Response::NotLeader { leader: Some(3) })
    );
    // Before any leader is known: "not leader", no hint.
    let mut fresh = Net::new(&[1, 2, 3]);
    let id = fresh.read(1, 1, ReadPolicy::Lease);
    assert_eq!(fresh.reply(id), Some(&Response::NotLeader { leader: None }));
}

//! Each invariant catches the bug it exists for: deliberately broken nodes
//! (a `Flaw`) driven through the scenario that exposes the bug, with every
//! invariant checked after every step — and the same scenario with a
//! correct node, where nothing fires.

mod common;

use std::time::Duration;

use common::{KvCommand, Net, config};
use tessera_core::{Input, Instant, Protocol};
use tessera_raft::invariants::{
    DURABLE_MONOTONIC, ELECTION_SAFETY, LEADER_APPEND_ONLY, LEADER_COMPLETENESS, LOG_MATCHING,
    STATE_MACHINE_SAFETY,
};
use tessera_raft::{Flaw, Message, RaftConfig, ReadPath, ReadPolicy, Response, VoteRequest};
use tessera_sim::{History, LinearizabilityChecker, RegisterModel, RegisterOp, RegisterRet};
use tessera_storage::{LogPosition, LogStore};

fn plain(flaw: Flaw) -> RaftConfig {
    RaftConfig {
        pre_vote: false,
        check_quorum: false,
        flaw,
        ..config()
    }
}

fn fired(net: &Net) -> Vec<&'static str> {
    let mut names: Vec<_> = net.violations.iter().map(|v| v.invariant).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Two candidates of term 1; node 1 votes for 2, crashes before the vote is
/// durable, restarts, and is asked by 3. Then each leader appends its own
/// command at index 2.
fn double_vote(flaw: Flaw) -> Net {
    let mut net = Net::with_config(&[1, 2, 3], plain(flaw));
    net.panic_on_violation = false;
    net.auto_persist = false;
    net.cut.insert((2, 3));
    net.cut.insert((3, 2));
    net.advance(Duration::from_secs(1));
    net.input(2, Input::Tick);
    net.input(3, Input::Tick);
    net.flush(2);
    net.flush(3);
    // Only node 2's request reaches node 1 before the crash.
    net.queue.retain(|e| e.from == 2 && e.to == 1);
    net.deliver_one();
    let responses: Vec<_> = net.queue.drain(..).collect();
    net.crash(1);
    net.restart(1);
    net.queue.extend(responses);
    net.input(
        1,
        Input::Message {
            from: 3,
            message: Message::VoteRequest(VoteRequest {
                term: 1,
                last_log: LogPosition::ZERO,
                pre_vote: false,
                transfer: false,
            }),
        },
    );
    net.auto_persist = true;
    net.flush(1);
    net.settle();
    for leader in net.leaders() {
        net.propose(leader, KvCommand::Put(leader, leader));
        net.flush(leader);
    }
    net.settle();
    net
}

#[test]
fn election_safety_and_log_matching_catch_a_vote_forgotten_in_a_crash() {
    let net = double_vote(Flaw::VoteBeforePersist);
    assert_eq!(net.leaders().len(), 2, "both candidates won term 1");
    let fired = fired(&net);
    assert!(fired.contains(&ELECTION_SAFETY), "{fired:?}");
    assert!(
        fired.contains(&LOG_MATCHING),
        "two entries (2, 1): {fired:?}"
    );
    let correct = double_vote(Flaw::None);
    assert!(correct.violations.is_empty(), "{:?}", correct.violations);
    assert!(correct.leaders().len() <= 1);
}

/// The Raft paper's Figure 8, one term earlier (our leaders start at
/// term 1): an entry of an old term replicated to a majority by a later
/// leader, then overwritten by another.
fn figure_8(flaw: Flaw) -> Net {
    let mut net = Net::with_config(&[1, 2, 3, 4, 5], plain(flaw));
    net.panic_on_violation = false;
    // (a) node 1 leads term 1 and gets entry 2 to node 2 only.
    net.elect(1);
    net.partition(&[1], &[3, 4, 5]);
    net.propose(1, KvCommand::Put(1, 1));
    net.settle();
    // (b) node 1 crashes; node 5 wins term 2 with 3 and 4 and appends its
    // own entry 2, which goes nowhere.
    net.crash(1);
    net.heal();
    net.advance(net.config.election_timeout_min);
    net.fire_election_without_delivery(5);
    net.propose(5, KvCommand::Put(5, 5));
    net.drop_queue();
    // (c) node 5 crashes; node 1 returns and wins term 3; it gets entry 2
    // (of term 1) to the others, but not its own entry 3 of term 3.
    net.crash(5);
    net.restart(1);
    net.strip_entries_of_term(3);
    net.elect_eventually(1);
    assert_eq!(net.node(1).term(), 3);
    // (With the flaw node 1 commits and applies entry 2 now; the others
    // have not heard the commit index yet.)
    // (d) node 1 crashes; node 5 returns and wins term 4 with 2, 3 and 4,
    // and overwrites entry 2 everywhere.
    net.filter = None;
    net.crash(1);
    net.restart(5);
    net.elect_eventually(5);
    net.heartbeat(5);
    net.restart(1);
    net.heartbeat(5);
    net.heartbeat(5);
    net
}

#[test]
fn leader_completeness_and_state_machine_safety_catch_the_figure_8_bug() {
    let net = figure_8(Flaw::CommitByCountingOldTerms);
    let fired = fired(&net);
    assert!(fired.contains(&LEADER_COMPLETENESS), "{fired:?}");
    assert!(fired.contains(&STATE_MACHINE_SAFETY), "{fired:?}");
    let correct = figure_8(Flaw::None);
    assert!(correct.violations.is_empty(), "{:?}", correct.violations);
    // With the rule kept, node 5's entry 2 was never committed-then-lost:
    // everyone ends with it.
    assert_eq!(correct.log_terms(1), correct.log_terms(5));
}

#[test]
fn leader_append_only_catches_a_leader_dropping_entries() {
    for flaw in [Flaw::LeaderTruncates, Flaw::None] {
        let mut net = Net::with_config(&[1, 2, 3], RaftConfig { flaw, ..config() });
        net.panic_on_violation = false;
        net.elect(1);
        net.isolate(1);
        net.propose(1, KvCommand::Put(1, 1));
        net.heartbeat(1);
        let fired = fired(&net);
        if flaw == Flaw::None {
            assert!(fired.is_empty(), "{fired:?}");
        } else {
            assert_eq!(fired, vec![LEADER_APPEND_ONLY]);
        }
    }
}

#[test]
fn durable_monotonic_catches_a_disk_that_forgets_the_term() {
    // Mutated state: a node's disk comes back with an older hard state, as
    // a storage layer that lost a synced write would.
    let mut net = Net::new(&[1, 2, 3]);
    net.panic_on_violation = false;
    net.elect(1);
    net.elect(2);
    net.check_invariants();
    assert!(net.violations.is_empty());
    let disk = net.disks.get_mut(&3).expect("node 3's disk");
    let mut state = disk.log.hard_state().cloned().expect("a hard state");
    state.term = 1;
    state.vote = Some(1);
    disk.log.save_hard_state(state).expect("in memory");
    net.check_invariants();
    assert_eq!(fired(&net), vec![DURABLE_MONOTONIC]);
}

#[test]
fn leader_stickiness_is_what_keeps_lease_reads_linearizable() {
    // Dissertation §6.4.1: with followers voting while they still hear from
    // their leader (the flaw), a new leader commits a write while the old
    // one still holds its lease and serves the old value: a stale read.
    for flaw in [Flaw::VoteDuringLease, Flaw::None] {
        let mut net = Net::with_config(&[1, 2, 3], RaftConfig { flaw, ..config() });
        net.elect(1);
        net.put(1, 7, 1);
        // Node 3 loses node 1 but still hears node 2.
        net.partition(&[1], &[3]);
        let mut elected = false;
        for _ in 0..40 {
            net.advance(Duration::from_millis(5));
            for id in [1, 2, 3] {
                if net.node(id).next_deadline().is_some_and(|d| d <= net.now) {
                    net.input(id, Input::Tick);
                }
                // Deliver only what does not tell node 1 about a new term.
                let term_2 = net.node(2).term();
                net.queue
                    .retain(|e| e.from != 2 || e.to != 1 || term_2 == 1);
                net.settle();
            }
            if net.node(3).is_leader() {
                elected = true;
                break;
            }
        }
        assert_eq!(elected, flaw == Flaw::VoteDuringLease, "{flaw:?}");
        if !elected {
            continue;
        }
        // Freeze node 1's view, commit a write at node 3, read at node 1.
        net.partition(&[1], &[2, 3]);
        let write_at = net.now;
        let write = net.put(3, 7, 2);
        assert!(matches!(net.reply(write), Some(Response::Applied { .. })));
        net.advance(Duration::from_millis(1));
        let read_at = net.now;
        assert!(
            net.node(1).valid_lease(net.now).is_some(),
            "the old lease still holds"
        );
        let read = net.read(1, 7, ReadPolicy::Lease);
        let Some(Response::Read { output, path, .. }) = net.reply(read) else {
            panic!("the old leader answered at once");
        };
        assert_eq!((*output, *path), (Some(1), ReadPath::Lease), "a stale read");
        // The checker agrees it is not linearizable.
        let mut history = History::new();
        let first = history
            .invoke(0, RegisterOp::Write(1u64), Instant::ZERO)
            .expect("invoke");
        history
            .ok(first, RegisterRet::Done, Instant::from_nanos(1))
            .expect("ok");
        let second = history
            .invoke(0, RegisterOp::Write(2), write_at)
            .expect("invoke");
        history.ok(second, RegisterRet::Done, write_at).expect("ok");
        let third = history
            .invoke(1, RegisterOp::Read, read_at)
            .expect("invoke");
        history
            .ok(third, RegisterRet::Read(*output), read_at)
            .expect("ok");
        let report = LinearizabilityChecker::new(RegisterModel::new()).check(&history);
        assert!(!report.is_linearizable());
    }
}

//! Leader election: the classic scenarios (etcd raft's election tests are
//! the checklist; these are written against the public API), each citing
//! the paper section it reproduces.

mod common;

use std::time::Duration;

use common::{KvCommand, Net, config};
use tessera_core::{Input, Protocol};
use tessera_raft::{Message, RaftConfig, RoleKind, VoteRequest};
use tessera_storage::LogPosition;

fn without_pre_vote() -> RaftConfig {
    RaftConfig {
        pre_vote: false,
        ..config()
    }
}

fn election_cases(config: RaftConfig) {
    // Raft §5.2: a candidate wins with votes from a majority; without a
    // majority reachable it cannot win.
    let cases: [(&[u64], &[u64], bool); 4] = [
        (&[1, 2, 3], &[], true),
        (&[1, 2, 3], &[3], true),
        (&[1, 2, 3], &[2, 3], false),
        (&[1, 2, 3, 4, 5], &[4, 5], true),
    ];
    for (ids, down, elected) in cases {
        let mut net = Net::with_config(ids, config.clone());
        for id in down {
            net.crash(*id);
        }
        net.advance(net.config.election_timeout_min);
        net.fire_election(1);
        assert_eq!(
            net.node(1).is_leader(),
            elected,
            "{ids:?} with {down:?} down: {:?}",
            net.node(1)
        );
        if elected {
            assert_eq!(net.node(1).term(), 1);
        } else {
            // Without pre-vote the node is a candidate of term 1; with it,
            // it never even raised its term.
            let expected = if config.pre_vote { 0 } else { 1 };
            assert_eq!(net.node(1).term(), expected);
            assert_ne!(net.node(1).role_kind(), RoleKind::Leader);
        }
    }
}

#[test]
fn leader_election() {
    election_cases(without_pre_vote());
}

#[test]
fn leader_election_with_pre_vote() {
    election_cases(config());
}

fn leader_cycle(config: RaftConfig) {
    // Each node in turn campaigns and wins, starting from a cluster that
    // already had leaders (not a clean state).
    let mut net = Net::with_config(&[1, 2, 3], config);
    for round in 0..2 {
        for id in [1, 2, 3] {
            net.elect(id);
            for other in [1, 2, 3] {
                if other != id {
                    assert_eq!(net.node(other).leader(), Some(id), "round {round}");
                    assert_eq!(net.node(other).role_kind(), RoleKind::Follower);
                }
            }
        }
    }
}

#[test]
fn leader_cycle_without_pre_vote() {
    leader_cycle(without_pre_vote());
}

#[test]
fn leader_cycle_with_pre_vote() {
    leader_cycle(config());
}

fn overwrite_newer_logs(config: RaftConfig) {
    // Raft §5.3, §5.4.1: a newly elected leader whose log lacks a
    // higher-term uncommitted entry overwrites it on the follower that has
    // it. Node 3 holds an entry of term 2 at index 2 that nobody else has;
    // node 1, with an entry of term 1 there, wins term 3 with 2, 4 and 5.
    let mut net = Net::from_logs(
        config,
        &[
            (1, &[1, 1], 2),
            (2, &[1, 1], 2),
            (3, &[1, 2], 2),
            (4, &[1], 2),
            (5, &[1], 2),
        ],
    );
    net.elect(1);
    assert_eq!(net.node(1).term(), 3);
    net.heartbeat(1);
    let expected = vec![1, 1, 3];
    for id in [1, 2, 3, 4, 5] {
        assert_eq!(net.log_terms(id), expected, "node {id}");
        assert_eq!(net.node(id).commit_index(), 3, "node {id}");
    }
}

#[test]
fn new_leader_overwrites_newer_uncommitted_logs() {
    overwrite_newer_logs(without_pre_vote());
}

#[test]
fn new_leader_overwrites_newer_uncommitted_logs_with_pre_vote() {
    overwrite_newer_logs(config());
}

/// Puts node 1 of a 3-node cluster (term 1 where needed) in `role`.
fn node_in_role(role: RoleKind, pre_vote: bool) -> Net {
    let mut net = Net::with_config(
        &[1, 2, 3],
        RaftConfig {
            pre_vote,
            ..config()
        },
    );
    net.advance(net.config.election_timeout_min);
    match role {
        RoleKind::Follower => {
            net.elect(2);
        }
        RoleKind::PreCandidate | RoleKind::Candidate => {
            net.isolate(1);
            net.fire_election(1);
            if role == RoleKind::Candidate && pre_vote {
                // A pre-candidate becomes a candidate only with pre-votes:
                // let them through, then stop its vote requests.
                net.heal();
                net.drop_queue();
                let deadline = net.node(1).next_deadline().expect("deadline");
                net.now = net.now.max(deadline);
                net.input(1, Input::Tick);
                while net.node(1).role_kind() != RoleKind::Candidate && net.deliver_one() {}
                net.drop_queue();
            }
        }
        RoleKind::Leader => net.elect(1),
    }
    net.heal();
    net.drop_queue();
    net
}

#[test]
fn vote_from_any_state() {
    // Raft §5.1, §5.2: a node in any role that sees a vote request of a
    // higher term adopts the term, becomes a follower and grants the vote
    // if the candidate's log is up to date. (Leader stickiness is out of
    // the way: the request comes after an election timeout of silence.)
    let cases = [
        (RoleKind::Follower, false),
        (RoleKind::Candidate, false),
        (RoleKind::Leader, false),
        (RoleKind::PreCandidate, true),
        (RoleKind::Candidate, true),
    ];
    for (role, pre_vote) in cases {
        let mut net = node_in_role(role, pre_vote);
        assert_eq!(net.node(1).role_kind(), role, "setup for {role:?}");
        let term = net.node(1).term();
        net.advance(Duration::from_secs(1));
        // Keep node 1 from stepping down through its own timer first.
        let request = Message::VoteRequest(VoteRequest {
            term: term + 1,
            last_log: LogPosition::new(10, term + 1),
            pre_vote: false,
            transfer: role == RoleKind::Leader,
        });
        net.input(
            1,
            Input::Message {
                from: 3,
                message: request,
            },
        );
        assert_eq!(net.node(1).term(), term + 1, "{role:?}");
        assert_eq!(net.node(1).role_kind(), RoleKind::Follower, "{role:?}");
        assert_eq!(net.node(1).vote(), Some(3), "{role:?}");
        let granted = net.queue.iter().any(|e| {
            e.from == 1
                && e.to == 3
                && matches!(&e.message, Message::VoteResponse(r) if r.granted && r.term == term + 1)
        });
        assert!(granted, "{role:?}: {:?}", net.queue);
    }
}

#[test]
fn pre_vote_from_any_state_changes_nothing() {
    // Dissertation §9.6: a pre-vote is granted to an up-to-date log of a
    // higher term, but changes neither the voter's term nor its vote.
    for (role, pre_vote) in [
        (RoleKind::Follower, true),
        (RoleKind::PreCandidate, true),
        (RoleKind::Candidate, true),
        (RoleKind::Leader, true),
    ] {
        let mut net = node_in_role(role, pre_vote);
        let (term, vote, kind) = (
            net.node(1).term(),
            net.node(1).vote(),
            net.node(1).role_kind(),
        );
        net.advance(Duration::from_secs(1));
        let request = Message::VoteRequest(VoteRequest {
            term: term + 1,
            last_log: LogPosition::new(10, term + 1),
            pre_vote: true,
            transfer: role == RoleKind::Leader,
        });
        net.input(
            1,
            Input::Message {
                from: 3,
                message: request,
            },
        );
        assert_eq!(
            (
                net.node(1).term(),
                net.node(1).vote(),
                net.node(1).role_kind()
            ),
            (term, vote, kind),
            "{role:?}"
        );
        let granted = net.queue.iter().any(|e| {
            matches!(&e.message, Message::VoteResponse(r) if r.granted && r.pre_vote && r.term == term + 1)
        });
        assert!(granted, "{role:?}");
    }
}

#[test]
fn vote_refused_to_a_stale_log_and_a_second_candidate() {
    // Raft §5.4.1: refuse a candidate whose log is behind; §5.2: at most one
    // vote per term.
    let mut net = Net::from_logs(
        without_pre_vote(),
        &[(1, &[1, 2], 2), (2, &[1], 2), (3, &[1], 2)],
    );
    net.advance(Duration::from_secs(1));
    let stale = Message::VoteRequest(VoteRequest {
        term: 3,
        last_log: LogPosition::new(5, 1),
        pre_vote: false,
        transfer: false,
    });
    net.input(
        1,
        Input::Message {
            from: 2,
            message: stale,
        },
    );
    assert_eq!(net.node(1).vote(), None);
    assert_eq!(
        net.node(1).term(),
        3,
        "the term is adopted even when refusing"
    );
    let fine = Message::VoteRequest(VoteRequest {
        term: 3,
        last_log: LogPosition::new(2, 2),
        pre_vote: false,
        transfer: false,
    });
    net.input(
        1,
        Input::Message {
            from: 3,
            message: fine,
        },
    );
    assert_eq!(net.node(1).vote(), Some(3));
    let second = Message::VoteRequest(VoteRequest {
        term: 3,
        last_log: LogPosition::new(9, 9),
        pre_vote: false,
        transfer: false,
    });
    net.input(
        1,
        Input::Message {
            from: 2,
            message: second,
        },
    );
    assert_eq!(net.node(1).vote(), Some(3), "one vote per term");
}

#[test]
fn dueling_candidates() {
    // Raft §5.2: two candidates split a cluster; the one that reaches a
    // majority wins; the other, behind, can disrupt the term (no pre-vote,
    // no check-quorum stickiness, as in the classic test) but never win
    // with a stale log.
    let mut net = Net::with_config(
        &[1, 2, 3],
        RaftConfig {
            check_quorum: false,
            ..without_pre_vote()
        },
    );
    net.partition(&[1], &[3]);
    net.advance(net.config.election_timeout_min);
    net.fire_election(1);
    net.fire_election(3);
    assert!(net.node(1).is_leader());
    assert_eq!(net.node(3).role_kind(), RoleKind::Candidate);
    net.heal();
    // Node 3 times out again, in term 2, with a log behind node 1's.
    net.advance(net.config.election_timeout_max);
    net.fire_election(3);
    assert_eq!(net.node(3).term(), 2);
    assert!(!net.node(3).is_leader(), "a stale log never wins");
    assert_eq!(
        net.node(1).role_kind(),
        RoleKind::Follower,
        "disrupted: saw term 2"
    );
    // A later election restores a leader, with node 1's entry kept.
    net.advance(net.config.election_timeout_max);
    net.fire_election(1);
    assert!(net.node(1).is_leader());
    net.heartbeat(1);
    assert_eq!(net.log_terms(3), net.log_terms(1));
}

#[test]
fn dueling_pre_candidates() {
    // Dissertation §9.6: the same split with pre-vote: node 3 cannot win a
    // pre-vote, so its term never rises and the leader is not disrupted.
    let mut net = Net::with_config(
        &[1, 2, 3],
        RaftConfig {
            check_quorum: false,
            ..config()
        },
    );
    net.partition(&[1], &[3]);
    net.advance(net.config.election_timeout_min);
    net.fire_election(1);
    net.fire_election(3);
    assert!(net.node(1).is_leader());
    // Node 3 lost its pre-vote: it learned the cluster's term from the
    // refusal, without ever campaigning in a term of its own.
    assert_eq!(net.node(3).term(), 1);
    assert_eq!(net.node(3).role_kind(), RoleKind::Follower);
    assert_eq!(net.node(3).counters().elections_started, 0);
    net.heal();
    net.advance(net.config.election_timeout_max);
    net.fire_election(3);
    assert_eq!(net.node(3).term(), 1);
    assert_eq!(net.node(3).counters().elections_started, 0);
    assert!(net.node(1).is_leader(), "not disrupted");
    assert_eq!(net.node(1).term(), 1);
}

#[test]
fn candidate_concedes_to_the_leader() {
    // Raft §5.2: a candidate that hears from a leader of its term or later
    // becomes its follower, and its log converges.
    let mut net = Net::with_config(&[1, 2, 3], without_pre_vote());
    net.isolate(1);
    net.advance(net.config.election_timeout_min);
    net.fire_election(1);
    assert_eq!(net.node(1).role_kind(), RoleKind::Candidate);
    net.elect(3);
    net.heal();
    net.put(3, 7, 70);
    net.heartbeat(3);
    assert_eq!(net.node(1).role_kind(), RoleKind::Follower);
    assert_eq!(net.node(1).leader(), Some(3));
    assert_eq!(net.log_terms(1), net.log_terms(3));
    assert_eq!(net.node(1).state_machine().data.get(&7), Some(&70));
}

#[test]
fn split_vote_with_pre_vote_then_recovery() {
    // Dissertation §9.6 with a split vote: after the leader fails, two
    // nodes campaign at once and split the vote; pre-vote still lets the
    // next campaign win.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.crash(1);
    net.advance(net.config.election_timeout_max);
    // Both time out together: their pre-votes and votes cross.
    net.input(2, Input::Tick);
    net.input(3, Input::Tick);
    net.settle();
    let (t2, t3) = (net.node(2).term(), net.node(3).term());
    assert_eq!((t2, t3), (2, 2), "both reached candidacy");
    assert!(net.leaders().is_empty(), "the vote split");
    // Node 2 times out first next time and wins.
    net.advance(net.config.election_timeout_max);
    net.fire_election(2);
    assert!(net.node(2).is_leader());
    assert_eq!(net.node(2).term(), 3);
}

#[test]
fn learners_never_campaign() {
    // Dissertation §4.2.1: a learner (non-voting member) never starts an
    // election, however long it hears nothing.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.add_joiner(4);
    let id = net.request(
        1,
        tessera_raft::Request::ChangeMembership(tessera_raft::MembershipChange::AddLearner(4)),
    );
    net.settle();
    net.heartbeat(1);
    assert!(matches!(
        net.reply(id),
        Some(tessera_raft::Response::MembershipChanged { .. })
    ));
    assert!(net.node(4).membership().is_learner(4));
    net.crash(1);
    for _ in 0..20 {
        net.advance(net.config.election_timeout_max);
        net.input(4, Input::Tick);
    }
    net.settle();
    assert_eq!(net.node(4).term(), 1);
    assert_eq!(net.node(4).role_kind(), RoleKind::Follower);
    assert_eq!(net.node(4).counters().pre_votes_started, 0);
    assert_eq!(net.node(4).counters().elections_started, 0);
}

#[test]
fn a_restarted_node_keeps_its_term_and_vote() {
    // Raft Figure 2: currentTerm and votedFor are persistent state.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(2);
    assert_eq!(net.node(1).vote(), Some(2));
    net.crash(1);
    net.restart(1);
    assert_eq!((net.node(1).term(), net.node(1).vote()), (1, Some(2)));
    // It refuses another candidate of the same term.
    let request = Message::VoteRequest(VoteRequest {
        term: 1,
        last_log: LogPosition::new(99, 1),
        pre_vote: false,
        transfer: false,
    });
    net.advance(Duration::from_secs(1));
    net.input(
        1,
        Input::Message {
            from: 3,
            message: request,
        },
    );
    assert_eq!(net.node(1).vote(), Some(2));
    let _ = KvCommand::Delete(0);
}

#[test]
fn election_timeouts_are_randomized_within_bounds_and_seeded() {
    // Raft §5.2: randomized election timeouts, here from the driver's seed.
    let net = Net::new(&[1, 2, 3]);
    let start = net.now;
    let mut deadlines = Vec::new();
    for id in [1, 2, 3] {
        let deadline = net
            .node(id)
            .next_deadline()
            .expect("a follower has a deadline");
        let timeout = deadline.duration_since(start);
        assert!(
            timeout >= net.config.election_timeout_min && timeout < net.config.election_timeout_max
        );
        deadlines.push(deadline);
    }
    deadlines.dedup();
    assert_eq!(deadlines.len(), 3, "different seeds, different timeouts");
    let again = Net::new(&[1, 2, 3]);
    assert_eq!(
        again.node(1).next_deadline(),
        net.node(1).next_deadline(),
        "same seed, same timeout"
    );
}

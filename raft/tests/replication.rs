//! Log replication and the commit rule: the classic scenarios, each citing
//! the paper section or figure it reproduces.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{BLOB_HEADER_BYTES, Envelope, Kv, KvCommand, KvOutput, Net, config};
use tessera_core::Input;
use tessera_raft::{
    AppendRequest, Entry, Flaw, Message, Payload, RaftConfig, Request, Response, RoleKind,
    StateMachine,
};
use tessera_storage::LogPosition;

#[test]
fn single_node_commit() {
    // Raft §5.3: a one-node cluster commits as soon as its own write is
    // durable.
    let mut net = Net::new(&[1]);
    net.elect(1);
    let a = net.put(1, 1, 10);
    let b = net.put(1, 2, 20);
    assert!(matches!(
        net.reply(a),
        Some(Response::Applied {
            index: 2,
            output: KvOutput::Done
        })
    ));
    assert!(matches!(
        net.reply(b),
        Some(Response::Applied { index: 3, .. })
    ));
    assert_eq!(net.node(1).commit_index(), 3);
}

#[test]
fn log_replication_across_leader_changes() {
    // Raft §5.3: entries proposed under successive leaders end up in every
    // log, in order, and are applied everywhere.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.put(1, 1, 10);
    net.elect(2);
    net.put(2, 2, 20);
    net.heartbeat(2);
    for id in [1, 2, 3] {
        assert_eq!(net.log_terms(id), vec![1, 1, 2, 2], "node {id}");
        assert_eq!(net.node(id).commit_index(), 4);
        let data = &net.node(id).state_machine().data;
        assert_eq!(
            (data.get(&1), data.get(&2)),
            (Some(&10), Some(&20)),
            "node {id}"
        );
    }
}

#[test]
fn proposals_with_and_without_a_quorum() {
    // Raft §5.3: a proposal commits once a majority holds it; with no
    // majority reachable it waits (and the client is not told it failed).
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.crash(3);
    let with_quorum = net.put(1, 1, 1);
    assert!(matches!(
        net.reply(with_quorum),
        Some(Response::Applied { .. })
    ));
    net.crash(2);
    let without = net.put(1, 2, 2);
    assert!(net.reply(without).is_none(), "no quorum: no answer yet");
    assert_eq!(net.node(1).commit_index(), 2);
    // A proposal at a follower is answered "not leader, try 1".
    net.restart(2);
    net.heartbeat(1);
    let at_follower = net.propose(2, KvCommand::Put(9, 9));
    assert_eq!(
        net.reply(at_follower),
        Some(&Response::NotLeader { leader: Some(1) })
    );
    // Once the quorum is back the waiting proposal commits.
    net.heartbeat(1);
    assert!(matches!(
        net.reply(without),
        Some(Response::Applied { index: 3, .. })
    ));
}

/// A 5-node cluster with leader 1 in term 1 whose next two entries reached
/// only node 2; then node 2 leads term 2 with 3, 4 and 5.
fn old_term_entries_on_a_new_leader(flaw: Flaw) -> Net {
    let mut net = Net::with_config(&[1, 2, 3, 4, 5], RaftConfig { flaw, ..config() });
    net.elect(1);
    net.partition(&[1, 2], &[3, 4, 5]);
    net.propose(1, KvCommand::Put(1, 1));
    net.propose(1, KvCommand::Put(2, 2));
    net.settle();
    assert_eq!(net.node(2).log().last_index(), 3);
    assert_eq!(net.node(1).commit_index(), 1, "two of five is no quorum");
    net.crash(1);
    net.heal();
    net.advance(Duration::from_secs(1));
    net
}

#[test]
fn cannot_commit_without_a_new_term_entry() {
    // Raft §5.4.2 and Figure 8: a leader does not commit entries of an
    // earlier term by counting replicas, even once a majority holds them:
    // only an entry of its own term, once on a majority, commits them.
    let mut net = old_term_entries_on_a_new_leader(Flaw::None);
    net.fire_election_without_delivery(2);
    // Deliver node 2's appends with its own (term 2) entry stripped: the
    // followers then hold the old entries, a majority with node 2.
    net.strip_entries_of_term(2);
    net.settle();
    assert!(net.node(2).is_leader());
    assert_eq!(net.node(3).log().last_index(), 3);
    assert_eq!(
        net.node(2).commit_index(),
        1,
        "term-1 entries on a majority do not commit"
    );
    // Figure 8's commit-with-new-term-entry: once the term-2 entry reaches
    // a majority, everything before it commits.
    net.filter = None;
    net.heartbeat(2);
    net.heartbeat(2);
    assert_eq!(net.node(2).commit_index(), 4);
}

#[test]
fn the_figure_8_flaw_commits_by_counting() {
    // The same scenario with the rule broken commits index 3 early: the
    // previous test would fail on a node with this bug.
    let mut net = old_term_entries_on_a_new_leader(Flaw::CommitByCountingOldTerms);
    net.fire_election_without_delivery(2);
    net.strip_entries_of_term(2);
    net.settle();
    assert_eq!(net.node(2).commit_index(), 3);
}

#[test]
fn ignores_messages_of_an_older_term() {
    // Raft §5.1: a request with a stale term is rejected and the sender
    // learns the newer term; the receiver's log is untouched.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.put(1, 1, 1);
    net.elect(2);
    net.put(2, 2, 2);
    let before = net.log_terms(3);
    let stale = Message::Append(AppendRequest {
        term: 1,
        prev: LogPosition::new(2, 1),
        entries: vec![Entry::command(3, 1, KvCommand::Put(66, 66))],
        commit: 3,
        round: 1,
    });
    net.input(
        3,
        Input::Message {
            from: 1,
            message: stale,
        },
    );
    assert_eq!(net.log_terms(3), before);
    let told = net
        .queue
        .iter()
        .any(|e| e.to == 1 && matches!(&e.message, Message::AppendResponse(r) if r.term == 2));
    assert!(told, "the stale leader is told the newer term");
}

#[test]
fn follower_log_repair_figure_7() {
    // Raft §5.3, Figure 7: whatever a follower's log looks like — missing
    // entries (a, b), extra entries (c, d), or both (e, f) — the leader of
    // term 8 makes it identical to its own.
    let leader: &[u64] = &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let followers: [&[u64]; 6] = [
        &[1, 1, 1, 4, 4, 5, 5, 6, 6],
        &[1, 1, 1, 4],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        &[1, 1, 1, 4, 4, 4, 4],
        &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for (case, follower) in followers.iter().enumerate() {
        // Node 3 has the leader's log, so node 1 can win term 8.
        let mut net = Net::from_logs(
            config(),
            &[(1, leader, 7), (2, follower, 7), (3, leader, 7)],
        );
        net.elect(1);
        assert_eq!(net.node(1).term(), 8);
        net.heartbeat(1);
        let mut expected = leader.to_vec();
        expected.push(8);
        assert_eq!(
            net.log_terms(2),
            expected,
            "case {}",
            (b'a' + case as u8) as char
        );
        assert_eq!(net.node(2).commit_index(), 11);
    }
}

#[test]
fn fast_log_rejection_needs_few_round_trips() {
    // Dissertation §5.3 (fast back-off): with the follower's hint, a long
    // conflicting suffix is skipped a term at a time, not an entry at a
    // time.
    let mut leader = vec![1, 1];
    leader.extend(std::iter::repeat_n(4, 30));
    let mut follower = vec![1, 1];
    follower.extend(std::iter::repeat_n(2, 20));
    follower.extend(std::iter::repeat_n(3, 20));
    let mut net = Net::from_logs(
        RaftConfig {
            pre_vote: false,
            ..config()
        },
        &[(1, &leader, 4), (2, &follower, 4), (3, &leader, 4)],
    );
    net.elect(1);
    net.heartbeat(1);
    assert_eq!(net.log_terms(2), net.log_terms(1));
    let rejections = net.node(2).counters().appends_rejected;
    assert!(
        rejections <= 3,
        "{rejections} rejections for a 40-entry conflict"
    );
}

#[test]
fn reordered_and_duplicated_appends_leave_the_log_intact() {
    // Raft §5.3 with an unreliable network: pipelined appends that arrive
    // out of order or twice never make a follower lose or reorder entries.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.heartbeat(1);
    for key in 0..6 {
        net.propose(1, KvCommand::Put(key, key));
    }
    // Reverse and duplicate everything queued for node 2.
    let (mut to_two, rest): (Vec<_>, Vec<_>) = net.queue.drain(..).partition(|e| e.to == 2);
    net.queue.extend(rest);
    let copies = to_two.clone();
    to_two.reverse();
    net.queue.extend(to_two);
    net.queue.extend(copies);
    net.settle();
    net.heartbeat(1);
    net.heartbeat(1);
    assert_eq!(net.log_terms(2), net.log_terms(1));
    assert_eq!(net.node(2).commit_index(), net.node(1).commit_index());
    assert_eq!(net.node(2).log().rewrites(), 0, "nothing was truncated");
    assert_eq!(net.node(2).state_machine().data.len(), 6);
}

#[test]
fn leader_steps_down_when_it_loses_the_quorum() {
    // Dissertation §6.2 (check-quorum): a leader that has not heard from a
    // majority within an election timeout steps down; without check-quorum
    // it would stay leader for ever.
    for check_quorum in [true, false] {
        let mut net = Net::with_config(
            &[1, 2, 3],
            RaftConfig {
                check_quorum,
                ..config()
            },
        );
        net.elect(1);
        net.isolate(1);
        for _ in 0..20 {
            net.heartbeat(1);
        }
        assert_eq!(
            net.node(1).is_leader(),
            !check_quorum,
            "check_quorum {check_quorum}"
        );
        if check_quorum {
            assert_eq!(net.node(1).counters().check_quorum_step_downs, 1);
        }
    }
}

#[test]
fn a_rejoining_node_disrupts_the_leader_without_pre_vote_only() {
    // Dissertation §9.6: a node partitioned away keeps campaigning. Without
    // pre-vote its term races ahead and, when it returns, its higher term
    // deposes the leader; with pre-vote its term never moved.
    for pre_vote in [false, true] {
        let mut net = Net::with_config(
            &[1, 2, 3],
            RaftConfig {
                pre_vote,
                ..config()
            },
        );
        net.elect(1);
        net.isolate(3);
        net.run_for(Duration::from_secs(1), Duration::from_millis(10));
        assert!(net.node(1).is_leader());
        let term_3 = net.node(3).term();
        assert_eq!(term_3 > 1, !pre_vote, "pre_vote {pre_vote}: term {term_3}");
        net.heal();
        net.heartbeat(1);
        net.settle();
        assert_eq!(
            net.node(1).is_leader(),
            pre_vote,
            "pre_vote {pre_vote}: {:?}",
            net.node(1)
        );
        // Either way the cluster ends with one leader and node 3 caught up.
        net.run_for(Duration::from_secs(2), Duration::from_millis(10));
        assert_eq!(net.leaders().len(), 1);
        let leader = net.leaders()[0];
        assert_eq!(net.log_terms(3), net.log_terms(leader));
    }
}

#[test]
fn flow_control_bounds_messages_in_flight() {
    // Dissertation §10.2 (pipelining): the leader keeps at most
    // `inflight_messages_max` appends in flight to a follower that does
    // not answer, and batches what it could not send.
    let config = RaftConfig {
        inflight_messages_max: 3,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    net.heartbeat(1);
    net.isolate(1);
    for key in 0..20 {
        net.propose(1, KvCommand::Put(key, key));
    }
    let to_two = net
        .queue
        .iter()
        .filter(|e| e.to == 2 && matches!(e.message, Message::Append(_)))
        .count();
    assert_eq!(to_two, 3, "three appends in flight, the rest waits");
    net.drop_queue();
    net.heal();
    net.heartbeat(1);
    net.heartbeat(1);
    assert_eq!(
        net.node(2).log().last_index(),
        net.node(1).log().last_index()
    );
    let status = net.node(1).status();
    assert!(
        status
            .followers
            .iter()
            .all(|f| f.lag == 0 && f.state == "replicate")
    );
}

#[test]
fn batches_respect_the_entry_limit() {
    // Every append carries at most `append_entries_max` entries.
    let config = RaftConfig {
        append_entries_max: 4,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2], config);
    net.elect(1);
    net.isolate(2);
    for key in 0..30 {
        net.propose(1, KvCommand::Put(key, key));
    }
    net.drop_queue();
    net.heal();
    net.advance(Duration::from_millis(20));
    net.input(1, Input::Tick);
    let mut largest = 0;
    while let Some(envelope) = net.queue.front() {
        if let Message::Append(append) = &envelope.message {
            largest = largest.max(append.entries.len());
        }
        net.deliver_one();
    }
    assert!(largest <= 4 && largest > 0, "{largest}");
    net.heartbeat(1);
    assert_eq!(net.node(2).commit_index(), 31);
}

/// The size the leader counts for an entry against `append_bytes_max` and
/// `inflight_bytes_max`: the command's `StateMachine::command_bytes` plus a
/// fixed overhead of 24 bytes for index, term and tag.
fn counted_bytes(entry: &Entry<KvCommand>) -> usize {
    const ENTRY_OVERHEAD_BYTES: usize = 24;
    ENTRY_OVERHEAD_BYTES
        + match &entry.payload {
            Payload::Command(command) => Kv::command_bytes(command),
            Payload::Blank => 0,
            Payload::Membership(m) => 8 * m.members().count(),
        }
}

/// A command whose entry counts `bytes` (at least 32).
fn blob(key: u64, bytes: usize) -> KvCommand {
    KvCommand::Blob(key, vec![7; bytes - 24 - BLOB_HEADER_BYTES])
}

#[test]
fn batches_respect_the_byte_limit() {
    // Every append carries at most `append_bytes_max` bytes of entries,
    // filled greedily in log order; an entry larger than the limit travels
    // alone, so that it still gets through.
    let config = RaftConfig {
        append_bytes_max: 1_000,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2], config);
    net.elect(1);
    net.isolate(2);
    // Entry sizes after the leader's blank entry (index 1), with one entry
    // exactly at the limit and three beyond it.
    let sizes = [
        132, 282, 432, 632, 1_000, 1_532, 42, 42, 42, 332, 732, 2_032, 2_032, 532, 500, 37,
    ];
    for (key, size) in sizes.iter().enumerate() {
        net.propose(1, blob(key as u64, *size));
    }
    // Node 2 missed all of them: at the next heartbeat the leader probes
    // and then streams the backlog in batches.
    net.drop_queue();
    net.heal();
    net.advance(Duration::from_millis(20));
    net.input(1, Input::Tick);
    let mut batches = Vec::new();
    while let Some(envelope) = net.queue.front() {
        if let Message::Append(append) = &envelope.message
            && envelope.to == 2
        {
            let bytes: Vec<usize> = append.entries.iter().map(counted_bytes).collect();
            let total: usize = bytes.iter().sum();
            assert!(
                bytes.len() == 1 || total <= 1_000,
                "{} entries of {total} bytes in one append",
                bytes.len()
            );
            batches.push((append.prev.index + 1, bytes));
        }
        net.deliver_one();
    }
    // The probe is sent twice (the heartbeat's answer unpauses it before
    // the append's answer arrives); otherwise each entry goes once.
    batches.dedup();
    let expected: Vec<(u64, Vec<usize>)> = vec![
        (2, vec![132, 282, 432]), // a fourth entry would make 1 478
        (5, vec![632]),
        (6, vec![1_000]), // exactly the limit fits
        (7, vec![1_532]), // beyond the limit: alone
        (8, vec![42, 42, 42, 332]),
        (12, vec![732]),
        (13, vec![2_032]),
        (14, vec![2_032]),
        (15, vec![532]), // with the next, 1 032
        (16, vec![500, 37]),
    ];
    assert_eq!(batches, expected);
    net.heartbeat(1);
    assert_eq!(net.log_terms(2), net.log_terms(1));
    assert_eq!(net.node(2).commit_index(), 17);
    assert_eq!(net.node(2).state_machine().data.get(&11), Some(&2_000));
}

/// The appends among `held`: the index of each one's first entry and the
/// sizes of its entries.
fn held_appends(held: &RefCell<Vec<Envelope>>) -> Vec<(u64, Vec<usize>)> {
    held.borrow()
        .iter()
        .filter_map(|e| match &e.message {
            Message::Append(a) => Some((
                a.prev.index + 1,
                a.entries.iter().map(counted_bytes).collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn flow_control_bounds_bytes_in_flight() {
    // The leader sends appends to a follower while fewer than
    // `inflight_bytes_max` bytes of entries are in flight to it (so the
    // last one may overshoot the bound by at most one append), whatever the
    // message count allows; acknowledgements free room for more.
    let config = RaftConfig {
        inflight_messages_max: 1_000,
        inflight_bytes_max: 1_000,
        append_bytes_max: 200,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    net.heartbeat(1);
    // Node 2 receives nothing (and so answers nothing): what the leader
    // sends it is held here.
    let held: Rc<RefCell<Vec<Envelope>>> = Rc::default();
    let hold = Rc::clone(&held);
    net.filter = Some(Box::new(move |envelope: &mut Envelope| {
        if envelope.to == 2 {
            hold.borrow_mut().push(envelope.clone());
            return false;
        }
        true
    }));
    // Thirty entries of 100 bytes, proposed one at a time: node 3 answers,
    // so each commits; node 2 gets the first ten, one append each, until
    // 1 000 bytes are in flight.
    for key in 0..30 {
        net.propose(1, blob(key, 100));
        net.settle();
    }
    assert_eq!(net.node(1).commit_index(), 31);
    let first: Vec<(u64, Vec<usize>)> = (2..12).map(|i| (i, vec![100])).collect();
    assert_eq!(held_appends(&held), first);
    let two = net.node(1).status().followers[0].clone();
    assert_eq!(
        (two.id, two.state, two.inflight_messages, two.next_index),
        (2, "replicate", 10, 12)
    );
    // Node 2 now gets the first three appends (entries 2, 3 and 4) and
    // acknowledges them one by one. Acknowledging 2 leaves 900 bytes in
    // flight: entries 12 and 13 go out together (`append_bytes_max`), 1 100
    // in flight. Acknowledging 3 leaves exactly 1 000: nothing goes out.
    // Acknowledging 4 leaves 900 again: entries 14 and 15 go out.
    let acknowledged: Vec<Envelope> = held.borrow_mut().drain(..3).collect();
    held.borrow_mut().clear();
    for envelope in acknowledged {
        net.input(
            2,
            Input::Message {
                from: 1,
                message: envelope.message,
            },
        );
    }
    net.settle();
    assert_eq!(
        held_appends(&held),
        vec![(12, vec![100, 100]), (14, vec![100, 100])]
    );
    let two = net.node(1).status().followers[0].clone();
    assert_eq!(
        (two.match_index, two.inflight_messages, two.next_index),
        (4, 9, 16)
    );
    // Once node 2 answers again it catches up.
    net.filter = None;
    net.heartbeat(1);
    net.heartbeat(1);
    assert_eq!(net.log_terms(2), net.log_terms(1));
    assert_eq!(net.node(2).commit_index(), 31);
}

#[test]
fn a_dropped_append_is_resent() {
    // Raft §5.3: "If followers crash or run slowly, or if network packets
    // are lost, the leader retries AppendEntries RPCs indefinitely".
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.heartbeat(1);
    let id = net.propose(1, KvCommand::Put(5, 5));
    net.drop_queue();
    assert!(net.reply(id).is_none());
    net.heartbeat(1);
    net.heartbeat(1);
    assert!(matches!(net.reply(id), Some(Response::Applied { .. })));
    assert_eq!(net.node(3).state_machine().data.get(&5), Some(&5));
}

#[test]
fn an_overwritten_proposal_is_answered_dropped() {
    // Raft §5.3: a leader's uncommitted entry may be overwritten by the
    // next leader; its client learns it definitely did not happen.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(1);
    let lost = net.propose(1, KvCommand::Put(1, 1));
    net.settle();
    net.elect(2);
    net.put(2, 2, 2);
    net.heal();
    net.heartbeat(2);
    assert_eq!(net.reply(lost), Some(&Response::Dropped));
    assert_eq!(net.node(1).state_machine().data.get(&1), None);
}

#[test]
fn proposals_are_refused_beyond_the_pending_bound() {
    let config = RaftConfig {
        proposals_pending_max: 2,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    net.isolate(1);
    net.propose(1, KvCommand::Put(1, 1));
    net.propose(1, KvCommand::Put(2, 2));
    let third = net.propose(1, KvCommand::Put(3, 3));
    assert!(matches!(
        net.reply(third),
        Some(Response::Rejected(
            tessera_raft::RaftError::Overloaded { .. }
        ))
    ));
    let _ = Request::<KvCommand, u64>::Propose(KvCommand::Delete(1));
    assert_eq!(net.node(1).role_kind(), RoleKind::Leader);
}

//! The durability rule (tessera-core's protocol contract; Raft Figure 2's
//! "updated on stable storage before responding to RPCs"): a node votes,
//! acknowledges an append, or counts itself in a quorum only after the
//! driver confirms the state it depends on is durable. Each test asserts
//! the exact action sequence, and the deliberately flawed variants show the
//! tests would fail if the rule were broken.

mod common;

use std::time::Duration;

use common::{Kv, KvCommand, Net, config, describe};
use tessera_core::{Action, Input, Instant, PersistId, Protocol};
use tessera_raft::{
    AppendRequest, Entry, Flaw, Message, RaftAction, RaftConfig, RaftNode, Startup, VoteRequest,
};
use tessera_storage::LogPosition;

fn node(id: u64, voters: &[u64], flaw: Flaw) -> RaftNode<Kv> {
    let config = RaftConfig { flaw, ..config() };
    RaftNode::start(
        Startup::bootstrap(id, 7, Instant::ZERO, voters.to_vec()),
        config,
        Kv::default(),
    )
    .expect("valid node")
}

fn describe_all(actions: &[RaftAction<Kv>]) -> Vec<String> {
    actions
        .iter()
        .map(describe)
        .filter(|a| !a.starts_with("mode"))
        .collect()
}

fn last_persist(actions: &[RaftAction<Kv>]) -> PersistId {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Persist { id, .. } => Some(*id),
            _ => None,
        })
        .next_back()
        .expect("a write")
}

const LATER: Instant = Instant::from_secs(10);

fn vote_request() -> Input<Message<KvCommand>, tessera_raft::Request<KvCommand, u64>> {
    Input::Message {
        from: 2,
        message: Message::VoteRequest(VoteRequest {
            term: 1,
            last_log: LogPosition::ZERO,
            pre_vote: false,
            transfer: false,
        }),
    }
}

#[test]
fn a_vote_is_sent_only_after_it_is_durable() {
    let mut follower = node(1, &[1, 2, 3], Flaw::None);
    let mut out = Vec::new();
    follower.handle(LATER, vote_request(), &mut out);
    assert_eq!(
        describe_all(&out),
        vec!["persist hard state term 1 vote Some(2)"]
    );
    let write = last_persist(&out);
    out.clear();
    follower.handle(LATER, Input::Persisted { up_to: write }, &mut out);
    assert_eq!(describe_all(&out), vec!["send vote granted to 2"]);
}

#[test]
fn the_vote_before_persist_flaw_breaks_that_sequence() {
    let mut follower = node(1, &[1, 2, 3], Flaw::VoteBeforePersist);
    let mut out = Vec::new();
    follower.handle(LATER, vote_request(), &mut out);
    assert_eq!(
        describe_all(&out),
        vec![
            "persist hard state term 1 vote Some(2)",
            "send vote granted to 2"
        ]
    );
}

fn append_with_one_entry() -> Input<Message<KvCommand>, tessera_raft::Request<KvCommand, u64>> {
    Input::Message {
        from: 2,
        message: Message::Append(AppendRequest {
            term: 1,
            prev: LogPosition::ZERO,
            entries: vec![Entry::command(1, 1, KvCommand::Put(1, 1))],
            commit: 0,
            round: 1,
        }),
    }
}

#[test]
fn an_append_is_acknowledged_only_after_it_is_durable() {
    let mut follower = node(1, &[1, 2, 3], Flaw::None);
    let mut out = Vec::new();
    follower.handle(LATER, append_with_one_entry(), &mut out);
    assert_eq!(
        describe_all(&out),
        vec!["persist hard state term 1 vote None", "persist append 1"]
    );
    let first = PersistId(1);
    let write = last_persist(&out);
    out.clear();
    // The hard state alone is not enough: the entry must be durable too.
    follower.handle(LATER, Input::Persisted { up_to: first }, &mut out);
    assert!(describe_all(&out).is_empty());
    follower.handle(LATER, Input::Persisted { up_to: write }, &mut out);
    assert_eq!(describe_all(&out), vec!["send append response to 2"]);
}

#[test]
fn the_ack_before_persist_flaw_breaks_that_sequence() {
    let mut follower = node(1, &[1, 2, 3], Flaw::AckBeforePersist);
    let mut out = Vec::new();
    follower.handle(LATER, append_with_one_entry(), &mut out);
    assert_eq!(
        describe_all(&out),
        vec![
            "persist hard state term 1 vote None",
            "persist append 1",
            "send append response to 2"
        ]
    );
}

#[test]
fn a_candidate_counts_its_own_vote_only_once_durable() {
    // A single-voter cluster: the node's own vote is the quorum, so it
    // becomes leader exactly when its vote is confirmed durable, and
    // commits its first entry exactly when that entry is.
    let mut solo = node(1, &[1], Flaw::None);
    let mut out = Vec::new();
    let deadline = solo.next_deadline().expect("a deadline");
    solo.handle(deadline, Input::Tick, &mut out);
    assert_eq!(
        describe_all(&out),
        vec!["persist hard state term 1 vote Some(1)"]
    );
    assert!(!solo.is_leader(), "not before the vote is durable");
    let vote = last_persist(&out);
    out.clear();
    solo.handle(deadline, Input::Persisted { up_to: vote }, &mut out);
    assert!(solo.is_leader());
    assert_eq!(describe_all(&out), vec!["persist append 1"]);
    assert_eq!(solo.commit_index(), 0, "its own entry is not durable yet");
    let entry = last_persist(&out);
    out.clear();
    solo.handle(deadline, Input::Persisted { up_to: entry }, &mut out);
    assert_eq!(solo.commit_index(), 1);
}

#[test]
fn a_leader_counts_itself_in_the_commit_quorum_only_once_durable() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.crash(3);
    net.auto_persist = false;
    let id = net.propose(1, KvCommand::Put(1, 1));
    // Node 2 persists and acknowledges; node 1's own write is still pending.
    while net.deliver_one() {
        net.flush(2);
    }
    assert_eq!(
        net.node(1).commit_index(),
        1,
        "leader + follower, but the leader's copy is not durable"
    );
    assert!(net.reply(id).is_none());
    net.flush(1);
    assert_eq!(net.node(1).commit_index(), 2);
    assert!(net.reply(id).is_some());
}

#[test]
fn a_crash_before_durability_forgets_the_vote_but_nothing_was_promised() {
    // Persist ids restart at 1 per incarnation, and what was not durable is
    // gone: the node never sent the vote, so no one counted it.
    let mut net = Net::new(&[1, 2, 3]);
    net.auto_persist = false;
    net.advance(Duration::from_secs(1));
    net.input(1, vote_request());
    assert!(
        net.queue.is_empty(),
        "nothing sent before the write is durable"
    );
    net.crash(1);
    net.restart(1);
    assert_eq!((net.node(1).term(), net.node(1).vote()), (0, None));
}

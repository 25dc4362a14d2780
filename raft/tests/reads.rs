//! Linearizable reads: ReadIndex (dissertation §6.4), lease reads (§6.4.1)
//! and reads on a fresh leader, each citing its source.

mod common;

use std::time::Duration;

use common::{KvCommand, Net, config};
use tessera_core::{Evidence, Input, Protocol};
use tessera_raft::{Message, RaftConfig, RaftError, RaftMode, ReadPath, ReadPolicy, Response};

fn read_answer(net: &Net, id: tessera_core::RequestId) -> Option<(Option<u64>, ReadPath)> {
    match net.reply(id) {
        Some(Response::Read { output, path, .. }) => Some((*output, *path)),
        _ => None,
    }
}

#[test]
fn read_index_confirms_leadership_with_a_quorum_round() {
    // Dissertation §6.4: the leader records its commit index, sends a round
    // of heartbeats, and answers once a majority acknowledged it.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.put(1, 7, 70);
    let read = net.read(1, 7, ReadPolicy::ReadIndex);
    assert!(net.reply(read).is_none(), "not before the quorum answers");
    let heartbeats = net
        .queue
        .iter()
        .filter(|e| matches!(e.message, Message::Heartbeat(_)))
        .count();
    assert_eq!(heartbeats, 2, "one round to each follower");
    net.settle();
    assert_eq!(
        read_answer(&net, read),
        Some((Some(70), ReadPath::ReadIndex))
    );
    assert_eq!(net.node(1).counters().read_index_reads, 1);
}

#[test]
fn read_index_is_not_served_by_a_deposed_leader() {
    // Dissertation §6.4: a leader cut off from the majority cannot confirm
    // its leadership, so it never answers a read a newer leader could
    // contradict; it answers "not leader" once it steps down.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(1);
    let read = net.read(1, 7, ReadPolicy::ReadIndex);
    net.settle();
    assert!(net.reply(read).is_none());
    net.elect(2);
    net.put(2, 7, 99);
    net.run_for(Duration::from_millis(300), Duration::from_millis(20));
    assert!(!net.node(1).is_leader());
    assert!(matches!(net.reply(read), Some(Response::NotLeader { .. })));
}

#[test]
fn lease_read_is_served_without_a_round_trip() {
    // Dissertation §6.4.1: with a valid lease the leader answers at once.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.put(1, 7, 70);
    net.heartbeat(1);
    assert!(net.node(1).valid_lease(net.now).is_some());
    let read = net.read(1, 7, ReadPolicy::Lease);
    assert_eq!(
        read_answer(&net, read),
        Some((Some(70), ReadPath::Lease)),
        "no message needed"
    );
    assert!(net.queue.is_empty());
    assert_eq!(net.node(1).counters().lease_reads, 1);
    // The lease is a tessera-hlc lease: held by the leader, epoch = term,
    // lasting the election timeout minus the clock bound.
    let lease = net.node(1).valid_lease(net.now).expect("a lease").clone();
    assert_eq!((lease.holder(), lease.epoch()), (1, net.node(1).term()));
    assert_eq!(lease.max_offset(), net.config.max_clock_offset);
    assert_eq!(
        lease.expiry().duration_since(lease.start()),
        net.config.election_timeout_min
    );
    assert!(lease.validate().is_ok());
}

#[test]
fn lease_expires_without_acknowledgements_and_reads_fall_back() {
    // Dissertation §6.4.1: once the lease lapses (no quorum acknowledged a
    // recent round) a lease read falls back to ReadIndex, and the mode says
    // the leader is degraded.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.heartbeat(1);
    assert_eq!(net.node(1).mode(), RaftMode::Leading);
    net.isolate(1);
    // Just short of check-quorum stepping down, the lease is gone.
    net.advance(net.config.election_timeout_min - net.config.max_clock_offset);
    net.input(1, Input::Tick);
    assert!(net.node(1).is_leader());
    assert!(net.node(1).valid_lease(net.now).is_none());
    assert_eq!(net.node(1).mode(), RaftMode::Degraded);
    let read = net.read(1, 7, ReadPolicy::Lease);
    assert!(net.reply(read).is_none(), "fell back to a quorum round");
    assert_eq!(net.node(1).counters().lease_fallbacks, 1);
    net.heal();
    net.settle();
    assert_eq!(read_answer(&net, read), Some((None, ReadPath::ReadIndex)));
    net.heartbeat(1);
    assert_eq!(net.node(1).mode(), RaftMode::Leading);
}

#[test]
fn followers_refuse_votes_while_the_lease_holds() {
    // Dissertation §6.4.1 rests on this: a follower that heard from its
    // leader within the election timeout ignores vote requests, so no new
    // leader can be elected while the old one may serve lease reads.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.heartbeat(1);
    net.partition(&[1], &[2, 3]);
    // Node 2 asks at once: node 3 heard from node 1 too recently.
    let last_log = net.node(2).log().last_position();
    for pre_vote in [true, false] {
        let request = Message::VoteRequest(tessera_raft::VoteRequest {
            term: 2,
            last_log,
            pre_vote,
            transfer: false,
        });
        net.input(
            3,
            Input::Message {
                from: 2,
                message: request,
            },
        );
    }
    assert_eq!(net.node(3).counters().votes_ignored_in_lease, 2);
    assert_eq!((net.node(3).term(), net.node(3).vote()), (1, Some(1)));
    assert!(net.queue.is_empty(), "ignored, not even answered");
    // After the election timeout the old lease has expired, and 2 can win.
    net.advance(net.config.election_timeout_min);
    net.fire_election(2);
    assert!(net.node(2).is_leader());
    assert!(
        net.node(1).valid_lease(net.now).is_none(),
        "the old leader's lease lapsed first"
    );
}

#[test]
fn reads_on_a_fresh_leader_wait_for_an_entry_of_its_term() {
    // Dissertation §6.4 step 1: a new leader does not know the commit index
    // until it commits an entry of its own term; reads wait for that.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.put(1, 7, 70);
    // Node 2 becomes leader, but its first entry cannot reach anyone yet.
    net.advance(net.config.election_timeout_min);
    net.fire_election_without_delivery(2);
    net.drop_queue();
    net.isolate(2);
    for policy in [ReadPolicy::ReadIndex, ReadPolicy::Lease] {
        let read = net.read(2, 7, policy);
        net.settle();
        assert!(
            net.reply(read).is_none(),
            "{policy:?} before the term's first commit"
        );
    }
    assert_eq!(net.node(2).mode(), RaftMode::Recovery);
    net.heal();
    net.heartbeat(2);
    net.heartbeat(2);
    let served: Vec<_> = net
        .replies
        .iter()
        .filter_map(|(_, _, r)| match r {
            Response::Read { output, .. } => Some(*output),
            _ => None,
        })
        .collect();
    assert_eq!(served, vec![Some(70), Some(70)]);
}

#[test]
fn reads_at_a_follower_redirect_to_the_leader() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let read = net.read(3, 7, ReadPolicy::ReadIndex);
    assert_eq!(
        net.reply(read),
        Some(&Response::NotLeader { leader: Some(1) })
    );
}

#[test]
fn a_transfer_gives_the_lease_up() {
    // The transfer's election ignores stickiness, so the leader stops using
    // its lease before it sends TimeoutNow, for the rest of its term.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.heartbeat(1);
    assert!(net.node(1).valid_lease(net.now).is_some());
    net.request(1, tessera_raft::Request::TransferLeadership { to: 2 });
    assert!(net.node(1).valid_lease(net.now).is_none());
    assert!(net.node(1).lease().is_some_and(|l| l.is_revoked()));
    assert_eq!(net.node(1).mode(), RaftMode::Degraded);
}

#[test]
fn reads_are_bounded() {
    let config = RaftConfig {
        reads_pending_max: 2,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    net.isolate(1);
    net.read(1, 1, ReadPolicy::ReadIndex);
    net.read(1, 1, ReadPolicy::ReadIndex);
    let third = net.read(1, 1, ReadPolicy::ReadIndex);
    assert!(matches!(
        net.reply(third),
        Some(Response::Rejected(RaftError::Overloaded { .. }))
    ));
    let _ = KvCommand::Delete(0);
}

#[test]
fn many_reads_share_rounds() {
    // Reads arriving while a round is in flight wait for the next one: at
    // most one read round in flight, however many reads.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    for _ in 0..10 {
        net.read(1, 1, ReadPolicy::ReadIndex);
    }
    let heartbeats = net
        .queue
        .iter()
        .filter(|e| matches!(e.message, Message::Heartbeat(_)))
        .count();
    assert_eq!(heartbeats, 2);
    net.settle();
    let served = net
        .replies
        .iter()
        .filter(|(_, _, r)| matches!(r, Response::Read { .. }))
        .count();
    assert_eq!(served, 10);
}

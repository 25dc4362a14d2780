//! Leadership transfer (dissertation §3.10): the classic cases.

mod common;

use std::time::Duration;

use common::{KvCommand, Net, config};
use tessera_core::Input;
use tessera_raft::{Message, RaftConfig, RaftError, Request, Response};

fn transfer(net: &mut Net, leader: u64, to: u64) -> tessera_core::RequestId {
    let id = net.request(leader, Request::TransferLeadership { to });
    net.settle();
    id
}

#[test]
fn transfer_to_an_up_to_date_node() {
    // §3.10: the target holds the whole log, so the leader sends TimeoutNow
    // at once; the target wins the next term without waiting.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.put(1, 1, 1);
    let id = transfer(&mut net, 1, 2);
    assert!(net.node(2).is_leader());
    assert_eq!(net.node(2).term(), 2);
    assert_eq!(
        net.reply(id),
        Some(&Response::LeadershipTransferred { to: 2, term: 2 })
    );
    // And back again.
    let back = transfer(&mut net, 2, 1);
    assert!(net.node(1).is_leader());
    assert!(matches!(
        net.reply(back),
        Some(Response::LeadershipTransferred { to: 1, .. })
    ));
}

#[test]
fn transfer_to_a_slow_follower_catches_it_up_first() {
    // §3.10 step 1: the leader first brings the target's log up to date.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    for key in 0..5 {
        net.put(1, key, key);
    }
    net.heal();
    let id = net.request(1, Request::TransferLeadership { to: 3 });
    let timeout_now_first = net
        .queue
        .iter()
        .any(|e| matches!(e.message, Message::TimeoutNow { .. }));
    assert!(!timeout_now_first, "not before node 3 caught up");
    net.settle();
    assert!(net.node(3).is_leader());
    assert!(matches!(
        net.reply(id),
        Some(Response::LeadershipTransferred { to: 3, .. })
    ));
    assert_eq!(net.node(3).state_machine().data.len(), 5);
}

#[test]
fn transfer_after_a_snapshot_sends_the_snapshot_first() {
    // §3.10 with §7: a target behind the compacted log gets the snapshot,
    // then TimeoutNow.
    let config = RaftConfig {
        snapshot_threshold_entries: 5,
        snapshot_keep_entries: 0,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    net.isolate(3);
    for key in 0..12 {
        net.put(1, key, key);
    }
    assert!(
        net.node(1).log().base().index > 0,
        "the leader compacted its log"
    );
    net.heal();
    let id = transfer(&mut net, 1, 3);
    assert!(net.node(3).is_leader());
    assert!(matches!(
        net.reply(id),
        Some(Response::LeadershipTransferred { to: 3, .. })
    ));
    assert_eq!(net.node(3).counters().snapshots_installed, 1);
    assert_eq!(net.node(3).state_machine().data.len(), 12);
}

#[test]
fn transfer_to_self_is_a_no_op() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let id = transfer(&mut net, 1, 1);
    assert!(net.node(1).is_leader());
    assert_eq!(
        net.reply(id),
        Some(&Response::LeadershipTransferred { to: 1, term: 1 })
    );
}

#[test]
fn transfer_to_a_non_member_or_a_learner_is_refused() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let id = transfer(&mut net, 1, 9);
    assert!(matches!(
        net.reply(id),
        Some(Response::Rejected(RaftError::TransferFailed { to: 9, .. }))
    ));
    assert!(net.node(1).is_leader());
    net.add_joiner(4);
    net.request(
        1,
        Request::ChangeMembership(tessera_raft::MembershipChange::AddLearner(4)),
    );
    net.settle();
    let to_learner = transfer(&mut net, 1, 4);
    assert!(matches!(
        net.reply(to_learner),
        Some(Response::Rejected(RaftError::TransferFailed { to: 4, .. }))
    ));
}

#[test]
fn transfer_times_out_after_an_election_timeout() {
    // §3.10: if the transfer does not complete within an election timeout
    // the leader aborts it and accepts proposals again.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.crash(3);
    let id = transfer(&mut net, 1, 3);
    assert_eq!(net.node(1).transfer_target(), Some(3));
    net.run_for(net.config.election_timeout_min, Duration::from_millis(10));
    assert_eq!(net.node(1).transfer_target(), None);
    assert!(matches!(
        net.reply(id),
        Some(Response::Rejected(RaftError::TransferFailed { to: 3, .. }))
    ));
    assert!(net.node(1).is_leader());
    let proposal = net.put(1, 1, 1);
    assert!(matches!(
        net.reply(proposal),
        Some(Response::Applied { .. })
    ));
}

#[test]
fn proposals_are_refused_while_a_transfer_is_pending() {
    // §3.10 step 1: "the prior leader stops accepting new client requests".
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.crash(3);
    transfer(&mut net, 1, 3);
    let proposal = net.propose(1, KvCommand::Put(1, 1));
    assert_eq!(
        net.reply(proposal),
        Some(&Response::Rejected(RaftError::TransferInProgress { to: 3 }))
    );
    let change = net.request(
        1,
        Request::ChangeMembership(tessera_raft::MembershipChange::RemoveNode(2)),
    );
    assert!(matches!(
        net.reply(change),
        Some(Response::Rejected(RaftError::TransferInProgress { .. }))
    ));
}

#[test]
fn a_second_transfer_to_the_same_node_waits_with_the_first() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    let first = net.request(1, Request::TransferLeadership { to: 3 });
    let second = net.request(1, Request::TransferLeadership { to: 3 });
    net.heal();
    net.heartbeat(1);
    assert!(net.node(3).is_leader());
    for id in [first, second] {
        assert!(matches!(
            net.reply(id),
            Some(Response::LeadershipTransferred { to: 3, .. })
        ));
    }
}

#[test]
fn a_transfer_to_another_node_supersedes_the_first() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.crash(3);
    let first = transfer(&mut net, 1, 3);
    let second = transfer(&mut net, 1, 2);
    assert!(matches!(
        net.reply(first),
        Some(Response::Rejected(RaftError::TransferFailed { to: 3, .. }))
    ));
    assert!(net.node(2).is_leader());
    assert!(matches!(
        net.reply(second),
        Some(Response::LeadershipTransferred { to: 2, .. })
    ));
}

#[test]
fn timeout_now_from_a_stranger_is_ignored() {
    // Only the current leader may tell a node to campaign.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.input(
        2,
        Input::Message {
            from: 3,
            message: Message::TimeoutNow { term: 1 },
        },
    );
    net.settle();
    assert!(net.node(1).is_leader());
    assert_eq!(net.node(2).term(), 1);
}

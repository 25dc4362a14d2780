//! Membership changes by joint consensus, learners and their promotion
//! (Raft §6; dissertation §4).

mod common;

use std::time::Duration;

use common::{KvCommand, Net, config};
use tessera_core::Input;
use tessera_raft::{
    Membership, MembershipChange, RaftConfig, RaftError, Request, Response, RoleKind,
};

fn change(net: &mut Net, leader: u64, change: MembershipChange) -> tessera_core::RequestId {
    let id = net.request(leader, Request::ChangeMembership(change));
    net.settle();
    net.heartbeat(leader);
    id
}

#[test]
fn add_learner_then_promote_it_through_joint_consensus() {
    // Dissertation §4.2.1 and Raft §6: a new node first catches up as a
    // learner, then becomes a voter through C_old,new and C_new.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.put(1, 1, 1);
    net.add_joiner(4);
    let added = change(&mut net, 1, MembershipChange::AddLearner(4));
    assert!(matches!(
        net.reply(added),
        Some(Response::MembershipChanged { .. })
    ));
    assert_eq!(
        net.node(4).state_machine().data.get(&1),
        Some(&1),
        "the learner has the log"
    );
    let promoted = change(&mut net, 1, MembershipChange::PromoteLearner(4));
    let Some(Response::MembershipChanged { membership, .. }) = net.reply(promoted) else {
        panic!("promotion answered: {:?}", net.reply(promoted));
    };
    assert_eq!(membership.voters(), &[1, 2, 3, 4]);
    assert!(!membership.is_joint());
    // The log shows the joint configuration, then the final one.
    let configs: Vec<Membership> = net
        .node(1)
        .log()
        .iter()
        .filter_map(|e| match &e.payload {
            tessera_raft::Payload::Membership(m) => Some((**m).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(configs.len(), 3);
    assert!(configs[1].is_joint());
    assert_eq!(configs[1].outgoing(), &[1, 2, 3]);
    // The promoted learner can now campaign and win.
    net.elect(4);
    assert_eq!(net.node(4).role_kind(), RoleKind::Leader);
}

#[test]
fn a_learner_is_not_counted_in_the_quorum() {
    // A learner's acknowledgement commits nothing: two voters of three must
    // hold an entry.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.add_joiner(4);
    change(&mut net, 1, MembershipChange::AddLearner(4));
    net.crash(2);
    net.crash(3);
    let id = net.put(1, 5, 5);
    assert!(net.reply(id).is_none(), "leader + learner is not a quorum");
    assert_eq!(
        net.node(4).log().last_index(),
        net.node(1).log().last_index()
    );
}

#[test]
fn commit_after_removing_a_node() {
    // Raft §6: once the removal commits, entries waiting for the removed
    // node's acknowledgement commit with the remaining voters alone.
    let mut net = Net::new(&[1, 2]);
    net.elect(1);
    net.crash(2);
    let stuck = net.put(1, 1, 1);
    assert!(net.reply(stuck).is_none(), "two voters need both");
    // Removing node 2 needs C_{1,2},{1}: it must commit on both halves, so
    // bring node 2 back for the joint step, then let it go.
    net.restart(2);
    let removed = change(&mut net, 1, MembershipChange::RemoveNode(2));
    net.heartbeat(1);
    assert!(matches!(
        net.reply(removed),
        Some(Response::MembershipChanged { .. })
    ));
    assert!(matches!(net.reply(stuck), Some(Response::Applied { .. })));
    net.crash(2);
    let alone = net.put(1, 2, 2);
    assert!(
        matches!(net.reply(alone), Some(Response::Applied { .. })),
        "node 1 alone is the quorum now"
    );
}

#[test]
fn a_removed_leader_steps_down_once_the_change_commits() {
    // Dissertation §4.2.2: the leader keeps managing the cluster until
    // C_new (without it) is committed, then steps down.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let id = change(&mut net, 1, MembershipChange::RemoveNode(1));
    assert!(matches!(
        net.reply(id),
        Some(Response::MembershipChanged { .. })
    ));
    assert!(!net.node(1).is_leader());
    assert_eq!(net.node(1).counters().removed_step_downs, 1);
    let campaigns = net.node(1).counters().pre_votes_started;
    // The rest elect a leader among themselves; node 1 never campaigns.
    net.run_for(Duration::from_secs(1), Duration::from_millis(10));
    let leaders = net.leaders();
    assert_eq!(leaders.len(), 1);
    assert_ne!(leaders[0], 1);
    assert_eq!(net.node(1).counters().pre_votes_started, campaigns);
    let put = net.put(leaders[0], 3, 3);
    assert!(matches!(net.reply(put), Some(Response::Applied { .. })));
}

#[test]
fn one_change_at_a_time() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.crash(3);
    net.crash(2);
    let first = net.request(
        1,
        Request::ChangeMembership(MembershipChange::RemoveNode(3)),
    );
    let second = net.request(
        1,
        Request::ChangeMembership(MembershipChange::AddLearner(9)),
    );
    assert!(net.reply(first).is_none());
    assert_eq!(
        net.reply(second),
        Some(&Response::Rejected(RaftError::MembershipChangeInProgress))
    );
}

#[test]
fn a_lagging_learner_is_not_promoted() {
    let config = RaftConfig {
        promote_lag_max: 3,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    net.add_joiner(4);
    change(&mut net, 1, MembershipChange::AddLearner(4));
    net.crash(4);
    for key in 0..10 {
        net.put(1, key, key);
    }
    let refused = net.request(
        1,
        Request::ChangeMembership(MembershipChange::PromoteLearner(4)),
    );
    assert!(matches!(
        net.reply(refused),
        Some(Response::Rejected(
            RaftError::MembershipChangeRefused { .. }
        ))
    ));
}

#[test]
fn configurations_take_effect_when_appended_and_revert_when_truncated() {
    // Raft §6: a node uses the latest configuration in its log, committed
    // or not; if that entry is overwritten, it falls back to the previous.
    let mut net = Net::new(&[1, 2, 3, 4, 5]);
    net.elect(1);
    // Only node 3 receives the configuration entry.
    net.partition(&[1], &[2, 4, 5]);
    net.request(
        1,
        Request::ChangeMembership(MembershipChange::AddLearner(9)),
    );
    net.settle();
    assert!(
        net.node(3).membership().is_learner(9),
        "in force once appended"
    );
    assert!(!net.node(2).membership().is_learner(9));
    // Node 2 wins the next term with 4 and 5 and overwrites that entry.
    net.crash(1);
    net.heal();
    net.elect(2);
    net.heartbeat(2);
    assert_eq!(net.log_terms(3), net.log_terms(2));
    assert!(
        !net.node(3).membership().is_learner(9),
        "reverted with the truncation"
    );
    assert_eq!(net.node(3).membership().voters(), &[1, 2, 3, 4, 5]);
    assert!(net.node(3).log().rewrites() > 0);
    let _ = (
        KvCommand::Delete(0),
        Input::<common::Msg, Request<KvCommand, u64>>::Tick,
    );
}

#[test]
fn membership_requests_at_a_follower_redirect() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let id = net.request(
        2,
        Request::ChangeMembership(MembershipChange::AddLearner(4)),
    );
    assert_eq!(
        net.reply(id),
        Some(&Response::NotLeader { leader: Some(1) })
    );
}

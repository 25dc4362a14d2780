//! The evidence Paxos nodes report: promises (proposal numbers), promise
//! and commit certificates, the leader's lease.

mod common;

use std::time::Duration;

use common::Net;
use common::kv::{KvCommand, KvMachine, KvWrite};
use tessera_core::{
    Evidence, EvidenceKind, EvidenceScope, EvidenceState, Instant, NodeId, Protocol,
};
use tessera_paxos::multi::{
    Configuration, LeaseConfig, MultiPaxos, MultiPaxosConfig, PaxosDisk, QuorumSpec, Request,
};
use tessera_paxos::{Ballot, PaxosMode, Promise};

type Node = MultiPaxos<KvMachine>;
type PaxosNet = Net<Node, PaxosDisk<KvCommand>>;

const TICK: Duration = Duration::from_millis(5);

fn leased_majority() -> PaxosNet {
    let spec = QuorumSpec::Majority(vec![1, 2, 3]);
    Net::new(&[1, 2, 3], move |id, disk, incarnation| {
        let mut config =
            MultiPaxosConfig::new(id, Configuration::initial(spec.clone())).expect("valid");
        config.lease = Some(LeaseConfig {
            duration: Duration::from_millis(400),
            max_clock_offset: Duration::from_millis(20),
        });
        MultiPaxos::boot(
            config,
            disk,
            KvMachine::default(),
            id * 1000 + incarnation,
            Instant::ZERO,
        )
        .expect("boots")
    })
}

fn elect(net: &mut PaxosNet) -> NodeId {
    for _ in 0..2_000 {
        net.advance(TICK);
        let leader = net
            .nodes
            .iter()
            .find(|(_, n)| n.as_ref().is_some_and(MultiPaxos::is_leader))
            .map(|(id, _)| *id);
        if let Some(leader) = leader
            && net.node(leader).mode() == PaxosMode::StableLeader
        {
            return leader;
        }
    }
    panic!("no leader elected");
}

fn kinds(node: &Node, now: Instant) -> Vec<EvidenceKind> {
    node.evidence(now).iter().map(|e| e.kind).collect()
}

#[test]
fn before_an_election_a_node_holds_only_its_zero_promise() {
    let net = leased_majority();
    let node = net.node(1);
    assert_eq!(
        node.promise(),
        Promise {
            node: 1,
            ballot: Ballot::ZERO
        }
    );
    assert_eq!(kinds(node, net.now), vec![EvidenceKind::TermVote]);
}

#[test]
fn a_leader_reports_its_promise_certificates_and_lease_and_followers_their_promise() {
    let mut net = leased_majority();
    let leader = elect(&mut net);
    let write = net.request(
        leader,
        Request::Propose(KvCommand {
            id: 1,
            key: 1,
            write: KvWrite::Put(7),
        }),
    );
    net.run(TICK, 40);
    assert!(net.reply_to(write).is_some(), "the write was answered");

    let node = net.node(leader);
    let ballot = node.leader_ballot().expect("a leader has a ballot");
    assert_eq!(
        node.promise().ballot,
        ballot,
        "a leader promised its own ballot"
    );
    let evidence = node.evidence(net.now);
    assert_eq!(
        evidence.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::Lease,
        ],
        "{evidence:?}"
    );
    assert_eq!(evidence[0].scope, EvidenceScope::Epoch(ballot.epoch()));
    // The promise certificate proves phase one of the ballot; the commit
    // certificate one slot in it (per instance, not transitive).
    assert_eq!(
        evidence[1].scope,
        EvidenceScope::Instance {
            epoch: ballot.epoch(),
            index: 0
        }
    );
    let EvidenceScope::Instance { epoch, index } = evidence[2].scope else {
        panic!(
            "a commit certificate is scoped to one instance: {:?}",
            evidence[2].scope
        );
    };
    assert_eq!(epoch, ballot.epoch());
    assert!(index >= 1 && index <= node.commit_index());
    assert_eq!(evidence[3].state, EvidenceState::Active);

    for id in [1, 2, 3].into_iter().filter(|id| *id != leader) {
        let follower = net.node(id);
        assert_eq!(
            follower.promise().ballot,
            ballot,
            "node {id} promised the leader's ballot"
        );
        assert!(follower.promise().validate().is_ok());
        assert_eq!(
            kinds(follower, net.now),
            vec![EvidenceKind::TermVote],
            "node {id}"
        );
    }
}

#[test]
fn a_promise_outside_the_ballot_range_does_not_validate() {
    let bad_round = Promise {
        node: 1,
        ballot: Ballot::new(u64::MAX, 1),
    };
    assert!(bad_round.validate().is_err());
    let bad_node = Promise {
        node: 1,
        ballot: Ballot::new(1, u64::MAX),
    };
    assert!(bad_node.validate().is_err());
    let round_zero = Promise {
        node: 1,
        ballot: Ballot::new(0, 2),
    };
    assert!(
        round_zero.validate().is_err(),
        "round 0 belongs to ZERO alone"
    );
}

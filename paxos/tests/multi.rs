//! Multi-Paxos scenarios through the public API: leader election, phase two
//! with batching, recovery of in-progress slots (gaps filled with no-ops),
//! acceptors restarted from durable state, leases, snapshots and catch-up,
//! grid quorums with a row down, reconfiguration by stop-sign, bad input.

mod common;

use std::time::Duration;

use common::Net;
use common::kv::{KvCommand, KvMachine, KvWrite};
use tessera_core::{Input, Instant, Invariant, NodeId, Protocol};
use tessera_paxos::invariants::{Agreement, TotalOrder, Uniqueness, Validity};
use tessera_paxos::multi::{
    Configuration, LeaseConfig, Message, MultiPaxos, MultiPaxosConfig, PaxosDisk, QuorumSpec,
    ReadPath, Request, Response, SlotValue,
};
use tessera_paxos::{Ballot, PaxosError, PaxosMode, PaxosQuorums};
use tessera_sim::RegisterRet;

type Node = MultiPaxos<KvMachine>;
type PaxosNet = Net<Node, PaxosDisk<KvCommand>>;

const TICK: Duration = Duration::from_millis(5);

fn base_config(id: NodeId, spec: &QuorumSpec) -> MultiPaxosConfig {
    let mut config =
        MultiPaxosConfig::new(id, Configuration::initial(spec.clone())).expect("valid config");
    config.audit_capacity = 65_536;
    config
}

fn net_with(ids: &[NodeId], spec: QuorumSpec, tweak: fn(&mut MultiPaxosConfig)) -> PaxosNet {
    Net::new(ids, move |id, disk, incarnation| {
        let mut config = if ids_contains(&spec, id) {
            base_config(id, &spec)
        } else {
            let mut config = MultiPaxosConfig::joining(id).expect("valid");
            config.audit_capacity = 65_536;
            config
        };
        tweak(&mut config);
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

fn ids_contains(spec: &QuorumSpec, id: NodeId) -> bool {
    Configuration::initial(spec.clone()).members().contains(&id)
}

fn majority(ids: &[NodeId]) -> PaxosNet {
    net_with(ids, QuorumSpec::Majority(ids.to_vec()), |_| {})
}

fn put(id: u64, key: u64, value: u64) -> Request<KvCommand, u64> {
    Request::Propose(KvCommand {
        id,
        key,
        write: KvWrite::Put(value),
    })
}

fn leader_of(net: &PaxosNet) -> Option<NodeId> {
    net.nodes
        .iter()
        .find(|(_, n)| n.as_ref().is_some_and(MultiPaxos::is_leader))
        .map(|(id, _)| *id)
}

/// Runs until some node leads and has recovered (bounded).
fn elect(net: &mut PaxosNet) -> NodeId {
    for _ in 0..2_000 {
        net.advance(TICK);
        if let Some(leader) = leader_of(net)
            && net.node(leader).mode() != PaxosMode::LeaderChange
        {
            return leader;
        }
    }
    panic!("no leader elected");
}

struct Checks {
    uniqueness: Uniqueness<SlotValue<KvCommand>>,
    agreement: Agreement<SlotValue<KvCommand>>,
    validity: Validity<KvCommand>,
    total_order: TotalOrder<SlotValue<KvCommand>>,
}

impl Checks {
    fn new(quorums: PaxosQuorums) -> Self {
        Checks {
            uniqueness: Uniqueness::new(quorums),
            agreement: Agreement::new(),
            validity: Validity::new(),
            total_order: TotalOrder::new(),
        }
    }

    fn with_configuration(mut self, first: u64, quorums: PaxosQuorums) -> Self {
        self.uniqueness = self.uniqueness.with_configuration(first, quorums);
        self
    }

    fn check(&mut self, net: &PaxosNet) {
        let view = net.view();
        self.uniqueness.check(&view).expect("UNIQUENESS");
        self.agreement.check(&view).expect("AGREEMENT");
        self.validity.check(&view).expect("VALIDITY");
        self.total_order.check(&view).expect("TOTAL ORDER");
    }
}

fn assert_same_state(net: &PaxosNet, ids: &[NodeId]) {
    let first = net.node(ids[0]).state_machine().clone();
    for id in &ids[1..] {
        assert_eq!(
            net.node(*id).state_machine(),
            &first,
            "node {id} differs from node {}",
            ids[0]
        );
    }
}

#[test]
fn a_leader_is_elected_and_commands_commit_everywhere() {
    let mut net = majority(&[1, 2, 3]);
    let mut checks = Checks::new(PaxosQuorums::majority([1, 2, 3]).expect("valid"));
    let leader = elect(&mut net);
    assert_eq!(net.node(leader).mode(), PaxosMode::StableLeader);
    let mut requests = Vec::new();
    for i in 0..20 {
        requests.push(net.request(leader, put(i, i % 3, i)));
        checks.check(&net);
    }
    net.run(TICK, 40);
    checks.check(&net);
    for (i, request) in requests.iter().enumerate() {
        assert!(
            matches!(
                net.reply_to(*request),
                Some(Response::Applied {
                    output: RegisterRet::Done,
                    ..
                })
            ),
            "request {i}: {:?}",
            net.reply_to(*request)
        );
    }
    // Followers learn the commit index from heartbeats and apply too.
    assert_same_state(&net, &[1, 2, 3]);
    assert_eq!(net.node(leader).state_machine().applied, 20);
    // The leader knows each acceptor acknowledged its last slot; a crashed
    // acceptor falls behind while the others keep up.
    let last = net.node(leader).last_slot();
    let progress = net.node(leader).acceptor_progress();
    assert_eq!(progress.len(), 2, "{progress:?}");
    assert!(
        progress.iter().all(|(_, slot)| *slot == last),
        "{progress:?}"
    );
    let down = if leader == 3 { 2 } else { 3 };
    net.crash(down);
    net.request(leader, put(50, 1, 1));
    net.run(TICK, 40);
    let last = net.node(leader).last_slot();
    for (member, slot) in net.node(leader).acceptor_progress() {
        if member == down {
            assert!(
                slot < last,
                "{member} acknowledged {slot} of {last} while down"
            );
        } else {
            assert_eq!(slot, last, "{member}");
        }
    }
    assert!(
        net.node(if leader == 1 { 2 } else { 1 })
            .acceptor_progress()
            .is_empty()
    );
    // A follower redirects to the leader.
    let follower = if leader == 1 { 2 } else { 1 };
    let redirected = net.request(follower, put(99, 1, 1));
    assert_eq!(
        net.reply_to(redirected),
        Some(&Response::NotLeader {
            leader: Some(leader)
        })
    );
    // The mode history says why: bootstrap, leader change, stable leader.
    let trail: Vec<(PaxosMode, PaxosMode)> = net
        .modes
        .iter()
        .filter(|(id, _)| *id == leader)
        .map(|(_, t)| (t.from, t.to))
        .collect();
    assert!(
        trail.contains(&(PaxosMode::Bootstrap, PaxosMode::LeaderChange)),
        "{trail:?}"
    );
    assert!(
        trail.contains(&(PaxosMode::LeaderChange, PaxosMode::StableLeader)),
        "{trail:?}"
    );
}

#[test]
fn slots_and_accepts_stay_within_the_message_byte_limit() {
    // Room for three commands in a slot, and so in an accept.
    let mut net = net_with(&[1, 2, 3], QuorumSpec::Majority(vec![1, 2, 3]), |c| {
        c.window = 1;
        c.message_bytes_max =
            tessera_paxos::multi::SLOT_OVERHEAD_BYTES + 3 * std::mem::size_of::<KvCommand>();
    });
    let leader = elect(&mut net);
    let requests: Vec<_> = (0..20).map(|i| net.request(leader, put(i, i, i))).collect();
    let mut largest = 0;
    for _ in 0..100 {
        while let Some(envelope) = net.queue.front() {
            if let Message::Accept { values, .. } = &envelope.message {
                let commands: usize = values.iter().map(|v| v.commands().len()).sum();
                largest = largest.max(commands);
                assert!(
                    commands <= 3,
                    "an accept of {commands} commands: {values:?}"
                );
            }
            net.deliver_one();
        }
        net.advance(TICK);
    }
    assert_eq!(largest, 3, "full slots were proposed");
    for request in requests {
        assert!(
            matches!(net.reply_to(request), Some(Response::Applied { .. })),
            "{:?}",
            net.reply_to(request)
        );
    }
    assert_same_state(&net, &[1, 2, 3]);
}

#[test]
fn commands_waiting_for_the_pipeline_are_batched_into_one_slot() {
    let mut net = net_with(&[1, 2, 3], QuorumSpec::Majority(vec![1, 2, 3]), |c| {
        c.window = 2
    });
    let leader = elect(&mut net);
    let slot_before = net.node(leader).last_slot();
    // Two slots fill the window; the next 50 commands wait and go out in
    // the next slot together.
    for i in 0..52 {
        net.request(leader, put(i, 0, i));
    }
    net.run(TICK, 40);
    let used = net.node(leader).last_slot() - slot_before;
    assert!(used <= 4, "52 commands used {used} slots");
    assert_eq!(net.node(leader).state_machine().applied, 52);
    assert!(net.node(leader).counters().commands_proposed >= 52);
}

#[test]
fn reads_take_a_barrier_without_a_lease_and_see_every_acknowledged_write() {
    let mut net = majority(&[1, 2, 3]);
    let leader = elect(&mut net);
    let write = net.request(leader, put(1, 7, 70));
    net.run(TICK, 20);
    assert!(matches!(
        net.reply_to(write),
        Some(Response::Applied { .. })
    ));
    let read = net.request(leader, Request::Read(7));
    assert!(
        net.reply_to(read).is_none(),
        "a barrier read waits for its slot"
    );
    net.run(TICK, 20);
    assert_eq!(
        net.reply_to(read),
        Some(&Response::Read {
            slot: net.node(leader).applied_index(),
            output: Some(70),
            path: ReadPath::Barrier
        })
    );
}

fn with_lease(config: &mut MultiPaxosConfig) {
    config.lease = Some(LeaseConfig {
        duration: Duration::from_millis(400),
        max_clock_offset: Duration::from_millis(20),
    });
}

#[test]
fn a_leader_with_a_lease_reads_locally_and_falls_back_when_it_lapses() {
    let mut net = net_with(&[1, 2, 3], QuorumSpec::Majority(vec![1, 2, 3]), with_lease);
    let leader = elect(&mut net);
    net.run(TICK, 40);
    assert!(
        net.node(leader)
            .lease()
            .is_some_and(|l| l.is_valid_for_holder(net.now))
    );
    assert_eq!(net.node(leader).mode(), PaxosMode::StableLeader);
    let write = net.request(leader, put(1, 3, 30));
    net.run(TICK, 10);
    assert!(matches!(
        net.reply_to(write),
        Some(Response::Applied { .. })
    ));
    let read = net.request(leader, Request::Read(3));
    assert!(matches!(
        net.reply_to(read),
        Some(Response::Read {
            output: Some(30),
            path: ReadPath::Lease,
            ..
        })
    ));
    // A barrier read ignores the lease: it waits for a barrier slot (no
    // clock assumption), and sees the same value.
    let barrier_read = net.request(leader, Request::BarrierRead(3));
    assert_eq!(net.reply_to(barrier_read), None, "not answered at once");
    net.run(TICK, 10);
    assert!(matches!(
        net.reply_to(barrier_read),
        Some(Response::Read {
            output: Some(30),
            path: ReadPath::Barrier,
            ..
        })
    ));
    // Cut the leader off: its lease lapses, it says so, and reads stop
    // being served locally.
    for peer in [1, 2, 3] {
        if peer != leader {
            net.cut.insert((leader, peer));
            net.cut.insert((peer, leader));
        }
    }
    net.run(TICK, 100);
    let suspected = net.modes.iter().any(|(id, t)| {
        *id == leader && t.to == PaxosMode::LeaderSuspected && t.trigger == "lease lapsed"
    });
    assert!(suspected, "{:?}", net.modes);
    let read = net.request(leader, Request::Read(3));
    assert!(
        !matches!(
            net.reply_to(read),
            Some(Response::Read {
                path: ReadPath::Lease,
                ..
            })
        ),
        "no lease read without a lease"
    );
}

#[test]
fn no_new_leader_before_the_old_lease_has_expired_everywhere() {
    let mut net = net_with(&[1, 2, 3], QuorumSpec::Majority(vec![1, 2, 3]), with_lease);
    let old = elect(&mut net);
    net.run(TICK, 40);
    let lease = net.node(old).lease().cloned().expect("lease held");
    for peer in [1, 2, 3] {
        if peer != old {
            net.cut.insert((old, peer));
            net.cut.insert((peer, old));
        }
    }
    // The old leader's last lease, as the others granted it, expires at
    // its `held_until`; nobody may win phase one before.
    let mut new_leader_at = None;
    for _ in 0..1_000 {
        net.advance(TICK);
        if let Some(leader) = net
            .nodes
            .iter()
            .filter(|(id, _)| **id != old)
            .find(|(_, n)| n.as_ref().is_some_and(MultiPaxos::is_leader))
            .map(|(id, _)| *id)
        {
            new_leader_at = Some((leader, net.now));
            break;
        }
    }
    let (_, at) = new_leader_at.expect("a new leader after the lease");
    let granted_until = [1, 2, 3]
        .iter()
        .filter(|id| **id != old)
        .filter_map(|id| net.node(*id).granted_lease().map(|l| l.held_until()))
        .max()
        .unwrap_or(lease.held_until());
    assert!(
        at >= lease.held_until().min(granted_until),
        "new leader at {at}, lease held until {}",
        lease.held_until()
    );
    assert!(
        at >= lease.expiry(),
        "new leader at {at} before the old lease's expiry {}",
        lease.expiry()
    );
}

/// Paxos Made Simple §3: a new leader finds slots 1 and 3 accepted and
/// slot 2 empty; it re-proposes 1 and 3 and fills 2 with a no-op.
#[test]
fn a_new_leader_fills_gaps_with_no_ops() {
    let mut net = majority(&[1, 2, 3]);
    let mut checks = Checks::new(PaxosQuorums::majority([1, 2, 3]).expect("valid"));
    let leader = elect(&mut net);
    let first = net.node(leader).last_slot() + 1;
    let follower = if leader == 1 { 2 } else { 1 };
    for i in 0..3 {
        net.request(leader, put(i, i, 10 + i));
    }
    checks.check(&net);
    // Only `follower` hears slots `first` and `first + 2`; slot `first + 1`
    // reaches nobody. No answer gets back.
    net.deliver_where(|e| {
        e.to == follower
            && matches!(&e.message, Message::Accept { first_slot, .. } if *first_slot != first + 1)
    });
    net.queue.clear();
    net.crash(leader);
    checks.check(&net);
    let new_leader = elect(&mut net);
    assert_ne!(new_leader, leader);
    net.run(TICK, 20);
    checks.check(&net);
    let node = net.node(new_leader);
    assert!(node.counters().gaps_filled >= 1, "{:?}", node.counters());
    assert!(
        node.counters().slots_recovered >= 2,
        "{:?}",
        node.counters()
    );
    assert_eq!(node.commit_index(), node.last_slot());
    assert!(matches!(node.slot_value(first), Some(SlotValue::Batch(_))));
    assert_eq!(node.slot_value(first + 1), Some(&SlotValue::NoOp));
    assert!(matches!(
        node.slot_value(first + 2),
        Some(SlotValue::Batch(_))
    ));
    assert_eq!(node.state_machine().data.get(&0), Some(&10));
    assert_eq!(node.state_machine().data.get(&2), Some(&12));
    assert_eq!(node.state_machine().data.get(&1), None);
}

/// The leader proposes one command; its accept reaches `others` of the
/// other nodes only (so it is accepted by `others + 1` of five), then it
/// crashes. Returns the net, the slot, the old leader, the acceptors that
/// took it, and the checks.
fn recovered_value_scenario(others: usize) -> (PaxosNet, u64, NodeId, Vec<NodeId>, Checks) {
    let mut net = majority(&[1, 2, 3, 4, 5]);
    let mut checks = Checks::new(PaxosQuorums::majority([1, 2, 3, 4, 5]).expect("valid"));
    let leader = elect(&mut net);
    let slot = net.node(leader).last_slot() + 1;
    net.request(leader, put(1, 9, 900));
    checks.check(&net);
    let accepting: Vec<NodeId> = [1, 2, 3, 4, 5]
        .into_iter()
        .filter(|id| *id != leader)
        .take(others)
        .collect();
    let took = accepting.clone();
    net.deliver_where(|e| {
        e.from == leader && accepting.contains(&e.to) && matches!(e.message, Message::Accept { .. })
    });
    net.queue.clear();
    net.crash(leader);
    (net, slot, leader, took, checks)
}

/// A value accepted by a minority (the old leader and one acceptor, two of
/// five) is found by the new leader's phase-one quorum when it includes
/// that acceptor — and re-proposed, never replaced.
#[test]
fn a_new_leader_adopts_a_value_accepted_by_a_minority() {
    let (mut net, slot, old, took, mut checks) = recovered_value_scenario(1);
    assert!(
        checks.uniqueness.chosen(slot).is_none(),
        "two of five is no quorum"
    );
    // Make sure the acceptor that took it is in the new leader's phase-one
    // quorum: one of the other three is down.
    let down = [1, 2, 3, 4, 5]
        .into_iter()
        .find(|id| *id != old && !took.contains(id))
        .expect("another node");
    net.crash(down);
    let new_leader = elect(&mut net);
    net.run(TICK, 20);
    checks.check(&net);
    let node = net.node(new_leader);
    assert!(
        matches!(node.slot_value(slot), Some(SlotValue::Batch(b)) if b[0].id == 1),
        "{:?}",
        node.slot_value(slot)
    );
    assert_eq!(node.state_machine().data.get(&9), Some(&900));
}

/// A value accepted by a quorum is chosen; whichever quorum the new leader
/// hears in phase one, it finds and keeps it.
#[test]
fn a_new_leader_keeps_a_value_accepted_by_a_quorum() {
    let (mut net, slot, _old, _took, mut checks) = recovered_value_scenario(2);
    checks.check(&net);
    assert!(
        checks.uniqueness.chosen(slot).is_some(),
        "three of five accepted it: slot {slot}"
    );
    let new_leader = elect(&mut net);
    net.run(TICK, 20);
    checks.check(&net);
    let node = net.node(new_leader);
    assert!(matches!(node.slot_value(slot), Some(SlotValue::Batch(b)) if b[0].id == 1));
    assert_eq!(node.state_machine().data.get(&9), Some(&900));
}

#[test]
fn dueling_candidates_end_with_one_leader() {
    let mut net = majority(&[1, 2, 3]);
    // Every node campaigns, repeatedly, while no promise can reach anyone.
    for a in [1, 2, 3] {
        for b in [1, 2, 3] {
            if a != b {
                net.cut.insert((a, b));
            }
        }
    }
    net.advance(Duration::from_millis(2_000));
    let campaigns: u64 = [1, 2, 3]
        .iter()
        .map(|id| net.node(*id).counters().campaigns)
        .sum();
    assert!(
        campaigns >= 6,
        "every node campaigned more than once: {campaigns}"
    );
    assert!(leader_of(&net).is_none());
    net.cut.clear();
    let leader = elect(&mut net);
    net.run(TICK, 100);
    let leaders: Vec<NodeId> = [1, 2, 3]
        .into_iter()
        .filter(|id| net.node(*id).is_leader())
        .collect();
    assert_eq!(leaders, vec![leader]);
    let request = net.request(leader, put(1, 1, 1));
    net.run(TICK, 20);
    assert!(matches!(
        net.reply_to(request),
        Some(Response::Applied { .. })
    ));
}

/// An acceptor's log rewrite interrupted by a crash — after the intent
/// record, before the append — is finished at restart, so no acceptance
/// it acknowledged before is lost.
#[test]
fn an_acceptor_restarted_mid_rewrite_finishes_it() {
    let mut net = majority(&[1, 2, 3]);
    let leader = elect(&mut net);
    let follower = if leader == 1 { 2 } else { 1 };
    let base = net.node(leader).last_slot();
    net.request(leader, put(1, 1, 10));
    net.request(leader, put(2, 2, 20));
    net.request(leader, put(3, 3, 30));
    // The follower receives slot base+1 and base+3 (a hole at base+2).
    net.deliver_where(|e| {
        e.to == follower
            && matches!(&e.message, Message::Accept { first_slot, .. } if *first_slot != base + 2)
    });
    // Now slot base+2 arrives: a rewrite of the suffix. Only its first
    // write (the intent) reaches the disk before the crash.
    net.instant_disk = false;
    net.deliver_where(|e| {
        e.to == follower
            && matches!(&e.message, Message::Accept { first_slot, .. } if *first_slot == base + 2)
    });
    let pending = net.pending_count(follower);
    assert!(
        pending >= 3,
        "intent, truncate, append, hard state: {pending}"
    );
    net.sync_prefix(follower, 2); // intent and truncation only
    net.crash(follower);
    net.instant_disk = true;
    net.restart(follower);
    let node = net.node(follower);
    for slot in base + 1..=base + 3 {
        assert!(
            matches!(node.slot_value(slot), Some(SlotValue::Batch(_))),
            "slot {slot}: {:?}",
            node.slot_value(slot)
        );
    }
}

#[test]
fn an_acceptor_acknowledges_only_durable_acceptances() {
    let mut net = majority(&[1, 2, 3]);
    let leader = elect(&mut net);
    let follower = if leader == 1 { 2 } else { 1 };
    net.instant_disk = false;
    net.request(leader, put(1, 1, 10));
    net.deliver_where(|e| e.to == follower && matches!(e.message, Message::Accept { .. }));
    assert!(
        !net.queue
            .iter()
            .any(|e| e.from == follower && matches!(e.message, Message::Accepted { .. })),
        "acknowledged before durable"
    );
    net.sync(follower);
    assert!(
        net.queue
            .iter()
            .any(|e| e.from == follower && matches!(e.message, Message::Accepted { .. }))
    );
    // Crash with the acceptance durable: it is still there after restart.
    let slot = net.node(follower).last_slot();
    net.crash(follower);
    net.instant_disk = true;
    net.restart(follower);
    assert!(matches!(
        net.node(follower).slot_value(slot),
        Some(SlotValue::Batch(_))
    ));
    assert!(net.node(follower).promised() >= Ballot::new(1, 1));
}

#[test]
fn grid_quorums_keep_writing_with_a_whole_row_down_but_cannot_elect() {
    let rows = vec![vec![1, 2, 3], vec![4, 5, 6]];
    let mut net = net_with(&[1, 2, 3, 4, 5, 6], QuorumSpec::Grid(rows.clone()), |_| {});
    let quorums = PaxosQuorums::grid(rows).expect("valid grid");
    let mut checks = Checks::new(quorums);
    let leader = elect(&mut net);
    // Take down the row the leader is not in.
    let other_row: Vec<NodeId> = if leader <= 3 {
        vec![4, 5, 6]
    } else {
        vec![1, 2, 3]
    };
    for id in &other_row {
        net.crash(*id);
    }
    let request = net.request(leader, put(1, 1, 11));
    net.run(TICK, 20);
    checks.check(&net);
    assert!(
        matches!(net.reply_to(request), Some(Response::Applied { .. })),
        "a whole row is a phase-two quorum: {:?}",
        net.reply_to(request)
    );
    // Without the leader, nobody can complete phase one: every phase-one
    // quorum needs a member of the row that is down.
    net.crash(leader);
    net.run(TICK, 400);
    assert!(leader_of(&net).is_none());
    // One member of the row back is enough.
    net.restart(other_row[0]);
    let new_leader = elect(&mut net);
    assert_ne!(new_leader, leader);
    checks.check(&net);
}

#[test]
fn quorums_that_do_not_intersect_are_refused() {
    let spec = QuorumSpec::Flexible {
        members: vec![1, 2, 3, 4, 5],
        phase1: 2,
        phase2: 3,
    };
    let error = MultiPaxosConfig::new(1, Configuration::initial(spec)).unwrap_err();
    assert!(
        matches!(error, PaxosError::QuorumsDoNotIntersect { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("do not intersect"));
}

#[test]
fn flexible_quorums_commit_with_two_of_five() {
    let spec = QuorumSpec::Flexible {
        members: vec![1, 2, 3, 4, 5],
        phase1: 4,
        phase2: 2,
    };
    let mut net = net_with(&[1, 2, 3, 4, 5], spec, |_| {});
    let leader = elect(&mut net);
    // Three of five down: phase two still has its two.
    let mut down = Vec::new();
    for id in [1, 2, 3, 4, 5] {
        if id != leader && down.len() < 3 {
            net.crash(id);
            down.push(id);
        }
    }
    let request = net.request(leader, put(1, 1, 11));
    net.run(TICK, 20);
    assert!(matches!(
        net.reply_to(request),
        Some(Response::Applied { .. })
    ));
}

#[test]
fn a_lagging_replica_catches_up_from_a_snapshot() {
    let mut net = net_with(&[1, 2, 3], QuorumSpec::Majority(vec![1, 2, 3]), |c| {
        c.snapshot_interval = 5;
    });
    let leader = elect(&mut net);
    let lagging = if leader == 3 { 2 } else { 3 };
    for peer in [1, 2, 3] {
        net.cut.insert((peer, lagging));
        net.cut.insert((lagging, peer));
    }
    for i in 0..30 {
        net.request(leader, put(i, i % 4, i));
        net.run(TICK, 2);
    }
    net.run(TICK, 20);
    assert!(
        net.node(leader).snapshot_index() > 0,
        "the leader compacted its log"
    );
    assert!(net.node(leader).counters().snapshots_taken > 0);
    net.cut.clear();
    net.run(TICK, 200);
    assert_eq!(
        net.node(lagging).applied_index(),
        net.node(leader).applied_index()
    );
    assert!(net.node(lagging).counters().snapshots_installed >= 1);
    assert_same_state(&net, &[1, 2, 3]);
}

#[test]
fn reconfiguration_by_stop_sign_moves_the_log_to_new_members() {
    let mut net = net_with(&[1, 2, 3, 4], QuorumSpec::Majority(vec![1, 2, 3]), |_| {});
    let mut checks = Checks::new(PaxosQuorums::majority([1, 2, 3]).expect("valid"));
    let leader = elect(&mut net);
    for i in 0..5 {
        net.request(leader, put(i, i, i));
    }
    net.run(TICK, 20);
    // Replace the member that is not the leader with node 4.
    let leaving = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader)
        .expect("another");
    let staying: Vec<NodeId> = [1, 2, 3].into_iter().filter(|id| *id != leaving).collect();
    let new_members = vec![staying[0], staying[1], 4];
    let request = net.request(
        leader,
        Request::Reconfigure(QuorumSpec::Majority(new_members.clone())),
    );
    net.run(TICK, 200);
    assert!(
        matches!(
            net.reply_to(request),
            Some(Response::Reconfigured { epoch: 1, .. })
        ),
        "{:?}",
        net.reply_to(request)
    );
    let stop = match net.reply_to(request) {
        Some(Response::Reconfigured { start_slot, .. }) => start_slot - 1,
        _ => unreachable!("checked above"),
    };
    checks = checks.with_configuration(
        stop + 1,
        PaxosQuorums::majority(new_members.clone()).expect("valid"),
    );
    checks.check(&net);
    assert_eq!(net.node(4).configuration().map(|c| c.epoch), Some(1));
    let new_leader = elect(&mut net);
    assert!(new_members.contains(&new_leader));
    let after = net.request(new_leader, put(100, 50, 5000));
    net.run(TICK, 40);
    assert!(
        matches!(net.reply_to(after), Some(Response::Applied { .. })),
        "{:?}",
        net.reply_to(after)
    );
    checks.check(&net);
    assert_eq!(net.node(4).state_machine().data.get(&50), Some(&5000));
    assert_eq!(net.node(4).state_machine().data.get(&3), Some(&3));
    // The member that left neither campaigns nor applies the new slots.
    assert!(!net.node(leaving).is_leader());
}

#[test]
fn bad_input_is_rejected_and_never_applied() {
    let mut net = majority(&[1, 2, 3]);
    let leader = elect(&mut net);
    let target = if leader == 1 { 2 } else { 1 };
    let ballot = net.node(leader).leader_ballot().expect("leads");
    let before_slot = net.node(target).last_slot();
    let huge = vec![
        KvCommand {
            id: 1,
            key: 1,
            write: KvWrite::Put(1)
        };
        tessera_paxos::multi::BATCH_COMMANDS_LIMIT + 1
    ];
    let cases: Vec<(NodeId, Message<KvCommand>)> = vec![
        (
            9,
            Message::Prepare {
                ballot: Ballot::new(50, 9),
                from_slot: 1,
            },
        ),
        (
            leader,
            Message::Prepare {
                ballot: Ballot::new(50, 9),
                from_slot: 1,
            },
        ),
        (
            leader,
            Message::Accept {
                ballot,
                first_slot: before_slot + 1,
                values: vec![SlotValue::Vacant],
                commit: 0,
            },
        ),
        (
            leader,
            Message::Accept {
                ballot,
                first_slot: before_slot + 1,
                values: vec![SlotValue::Batch(huge)],
                commit: 0,
            },
        ),
        (
            leader,
            Message::Accept {
                ballot,
                first_slot: before_slot + 1,
                values: vec![SlotValue::NoOp; 5000],
                commit: 0,
            },
        ),
        (
            leader,
            Message::Accept {
                ballot,
                first_slot: 0,
                values: vec![SlotValue::NoOp],
                commit: 0,
            },
        ),
        (
            leader,
            Message::Accept {
                ballot,
                first_slot: u64::MAX,
                values: vec![SlotValue::NoOp, SlotValue::NoOp],
                commit: 0,
            },
        ),
        (
            leader,
            Message::CatchUp {
                entries: vec![],
                commit: 0,
            },
        ),
        (
            leader,
            Message::SnapshotChunk {
                last: tessera_storage::LogPosition::new(10_000, 1),
                configuration: vec![],
                total_bytes: u64::MAX,
                offset: 0,
                data: vec![0; 10],
            },
        ),
        (
            leader,
            Message::Accepted {
                ballot,
                first_slot: 1,
                count: u64::MAX,
            },
        ),
    ];
    for (from, message) in cases {
        let before = net.node(target).counters().rejected;
        let is_empty_catch_up =
            matches!(&message, Message::CatchUp { entries, .. } if entries.is_empty());
        net.input(
            target,
            Input::Message {
                from,
                message: message.clone(),
            },
        );
        let node = net.node(target);
        if !is_empty_catch_up {
            assert_eq!(
                node.counters().rejected,
                before + 1,
                "{message:?} not rejected"
            );
            assert!(node.last_rejection().is_some_and(PaxosError::is_peer_fault));
        }
        assert_eq!(node.last_slot(), before_slot, "{message:?} was applied");
        assert!(node.promised() <= ballot, "{message:?} moved the promise");
    }
    // Promises from a peer must report ascending slots below the ballot.
    let promise = Message::Promise {
        ballot,
        from_slot: 1,
        entries: vec![tessera_paxos::multi::SlotEntry {
            slot: 1,
            ballot: Ballot::new(ballot.round + 5, 1),
            value: SlotValue::NoOp,
        }],
        next: None,
        base: 0,
    };
    let before = net.node(leader).counters().rejected;
    net.input(
        leader,
        Input::Message {
            from: target,
            message: promise,
        },
    );
    assert_eq!(net.node(leader).counters().rejected, before + 1);
}

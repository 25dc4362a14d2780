//! Leaderless replication, case by case: bad input refused and never
//! applied, sloppy quorums available while home replicas are cut off,
//! hints handed back or expired, tombstones held while a replica is down,
//! read repair, CRDT values, and mode changes with their triggers.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    Coordinators, KvWorkload, Value, check_converged_on, check_values, failure, key_bytes,
    replica_config, ring, simulation, simulation_on,
};
use tessera_core::{
    Action, ActionOf, Input, Instant, Mode, ModeLevel, ModeTransition, NodeId, Protocol, RequestId,
};
use tessera_quorum::{
    AbortReason, AntiEntropyMessage, ConflictPolicy, KeyRange, LeafEntry, Mergeable, Replica,
    ReplicaDisk, ReplicaMessage, ReplicaRequest, ReplicaResponse, ReplicationMode, RequestOptions,
    Ring, Version, VersionedObject,
};
use tessera_sim::{Fault, SimConfig};
use tessera_vclock::{
    CompactEncoding, Decoder, Dot, DottedVersionVector, VclockError, VersionVector,
};

/// Feeds `input` to `replica` at `now`, confirming every write at once,
/// and returns what it asked for besides persisting.
fn drive<V: tessera_quorum::ReplicatedValue>(
    replica: &mut Replica<V>,
    now: Instant,
    input: Input<ReplicaMessage<V>, ReplicaRequest<V>>,
) -> Vec<ActionOf<Replica<V>>> {
    let mut pending = vec![input];
    let mut actions = Vec::new();
    while let Some(input) = pending.pop() {
        let mut out = Vec::new();
        replica.handle(now, input, &mut out);
        for action in out {
            match action {
                Action::Persist { id, .. } => pending.push(Input::Persisted { up_to: id }),
                other => actions.push(other),
            }
        }
    }
    actions
}

fn replica(id: NodeId) -> Replica<Value> {
    Replica::new(
        id,
        ring(),
        replica_config(),
        ConflictPolicy::Siblings,
        &ReplicaDisk::default(),
        id,
        Instant::ZERO,
    )
    .expect("valid replica")
}

fn replies<V>(actions: &[ActionOf<Replica<V>>]) -> Vec<&ReplicaResponse<V>>
where
    V: tessera_quorum::ReplicatedValue,
{
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Reply { response, .. } => Some(response),
            _ => None,
        })
        .collect()
}

#[test]
fn rule_requests_with_r_or_w_above_n_or_zero_get_a_clear_error_and_change_nothing() {
    let mut node = replica(1);
    let cases = [
        (
            RequestOptions::strict(3, 4, 2),
            "invalid parameter `r`: must be within 1..=3 (n), got 4",
        ),
        (
            RequestOptions::strict(3, 2, 4),
            "invalid parameter `w`: must be within 1..=3 (n), got 4",
        ),
        (
            RequestOptions::strict(3, 0, 2),
            "invalid parameter `r`: must be within 1..=3 (n), got 0",
        ),
        (
            RequestOptions::strict(3, 2, 0),
            "invalid parameter `w`: must be within 1..=3 (n), got 0",
        ),
        (
            RequestOptions::strict(4, 2, 2),
            "invalid parameter `n`: must be within 1..=3 (the ring's replication factor), got 4",
        ),
    ];
    for (options, expected) in cases {
        let put = ReplicaRequest::Put {
            key: b"k".to_vec(),
            value: 1,
            context: VersionVector::new(),
            options: Some(options),
        };
        let mut out = Vec::new();
        node.handle(
            Instant::ZERO,
            Input::Request {
                id: RequestId(1),
                request: put,
            },
            &mut out,
        );
        // One reply, nothing persisted, nothing sent.
        assert_eq!(
            out,
            vec![Action::Reply {
                id: RequestId(1),
                response: ReplicaResponse::Rejected {
                    reason: expected.to_string()
                }
            }]
        );
    }
    assert!(node.store().is_empty());
    assert_eq!(node.stats().requests_rejected, 5);
}

#[test]
fn rule_a_context_with_an_exhausted_counter_is_refused_and_nothing_applied() {
    let mut node = replica(1);
    let key = (0..=u8::MAX)
        .map(key_bytes)
        .find(|k| ring().preference_list(k)[0] == 1)
        .expect("some key lives on node 1");
    // A context claiming the last event of the actor node 1 would use.
    let context: VersionVector = [Dot::new(1 << 32 | 1, u64::MAX)].into_iter().collect();
    let put = ReplicaRequest::Put {
        key,
        value: 1,
        context,
        options: None,
    };
    let actions = drive(
        &mut node,
        Instant::ZERO,
        Input::Request {
            id: RequestId(1),
            request: put,
        },
    );
    assert!(
        matches!(replies(&actions)[..], [ReplicaResponse::Rejected { reason }] if reason.contains("exhausted")),
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Send { .. })));
    assert!(node.store().is_empty());
}

/// A key node 1 and node 2 both replicate, with its range.
fn shared_key() -> (Vec<u8>, KeyRange) {
    let ring = ring();
    (0..=u8::MAX)
        .map(key_bytes)
        .find(|k| {
            let homes = ring.preference_list(k);
            homes.contains(&1) && homes.contains(&2)
        })
        .map(|k| {
            let range = ring.range_of(&k);
            (k, range)
        })
        .expect("nodes 1 and 2 share a range")
}

fn object(actor: NodeId, counter: u64, value: Value) -> VersionedObject<Value> {
    let mut object = VersionedObject::new();
    object.add(Version {
        clock: DottedVersionVector::new(Dot::new(actor, counter), VersionVector::new())
            .expect("fresh dot"),
        value: Some(value),
    });
    object
}

fn anti_entropy(
    message: AntiEntropyMessage<Value>,
) -> Input<ReplicaMessage<Value>, ReplicaRequest<Value>> {
    Input::Message {
        from: 2,
        message: ReplicaMessage::AntiEntropy(message),
    }
}

fn abort_reason(actions: &[ActionOf<Replica<Value>>]) -> Option<AbortReason> {
    actions.iter().find_map(|action| match action {
        Action::Send {
            message: ReplicaMessage::AntiEntropy(AntiEntropyMessage::Abort { reason, .. }),
            ..
        } => Some(*reason),
        _ => None,
    })
}

#[test]
fn rule_malformed_anti_entropy_messages_are_rejected_never_applied() {
    let (key, range) = shared_key();
    let mut node = replica(1);
    // Give node 1 the key, via read repair.
    drive(
        &mut node,
        Instant::ZERO,
        Input::Message {
            from: 2,
            message: ReplicaMessage::Repair {
                key: key.clone(),
                object: object(7, 1, 70),
            },
        },
    );
    let before = node.store().clone();

    // A range node 1 does not replicate.
    let foreign = ring()
        .ranges()
        .find(|r| !ring().replicas_of(*r).contains(&1))
        .expect("some range lives elsewhere");
    let actions = drive(
        &mut node,
        Instant::ZERO,
        anti_entropy(AntiEntropyMessage::Begin {
            session: 1,
            range: foreign,
            depth: 4,
            root: 0,
        }),
    );
    assert_eq!(abort_reason(&actions), Some(AbortReason::NotAReplica));

    // A depth that does not match.
    let actions = drive(
        &mut node,
        Instant::ZERO,
        anti_entropy(AntiEntropyMessage::Begin {
            session: 2,
            range,
            depth: 9,
            root: 0,
        }),
    );
    assert_eq!(abort_reason(&actions), Some(AbortReason::DepthMismatch));

    // A message for a session that does not exist.
    let actions = drive(
        &mut node,
        Instant::ZERO,
        anti_entropy(AntiEntropyMessage::Objects {
            session: 99,
            objects: vec![(key.clone(), object(8, 1, 666))],
            wanted: vec![],
        }),
    );
    assert_eq!(abort_reason(&actions), Some(AbortReason::UnknownSession));

    // A real session, then a reply with the wrong number of flags.
    let actions = drive(
        &mut node,
        Instant::ZERO,
        anti_entropy(AntiEntropyMessage::Begin {
            session: 3,
            range,
            depth: 4,
            root: 12345,
        }),
    );
    assert!(matches!(
        actions.as_slice(),
        [Action::Send {
            message: ReplicaMessage::AntiEntropy(AntiEntropyMessage::Hashes { level: 1, .. }),
            ..
        }]
    ));
    let actions = drive(
        &mut node,
        Instant::ZERO,
        anti_entropy(AntiEntropyMessage::Hashes {
            session: 3,
            level: 2,
            differs: vec![true, true, true],
            hashes: vec![0; 6],
        }),
    );
    assert_eq!(abort_reason(&actions), Some(AbortReason::Malformed));

    // A session that reaches the leaves, then objects smuggled in for a
    // leaf that does not differ, or outside the range: refused whole.
    let mut session = 4;
    for smuggled in [
        vec![
            (key.clone(), object(8, 1, 666)),
            (b"elsewhere".to_vec(), object(8, 2, 667)),
        ],
        vec![
            (key.clone(), object(8, 1, 666)),
            (key.clone(), object(8, 3, 668)),
        ],
    ] {
        session += 1;
        open_to_leaves(&mut node, session, range);
        let actions = drive(
            &mut node,
            Instant::ZERO,
            anti_entropy(AntiEntropyMessage::Objects {
                session,
                objects: smuggled,
                wanted: vec![],
            }),
        );
        assert_eq!(
            abort_reason(&actions),
            Some(AbortReason::Malformed),
            "{actions:?}"
        );
    }
    assert_eq!(
        node.store(),
        &before,
        "nothing of a refused message was applied"
    );
    assert!(node.stats().messages_rejected >= 3);

    // Bytes that do not decode are an error, not a panic.
    for garbage in [
        &[][..],
        &[3, 1, 200],
        &[1, 0, 4, 0xff, 0xff, 0xff, 0xff, 0x0f],
    ] {
        assert!(AntiEntropyMessage::<Value>::decode(garbage).is_err());
    }
}

/// Runs a session from node 2's side far enough that node 1 has sent its
/// entries for the leaves (every leaf "differs" from an empty peer).
fn open_to_leaves(node: &mut Replica<Value>, session: u64, range: KeyRange) {
    let depth = replica_config().merkle_depth;
    let mut actions = drive(
        node,
        Instant::ZERO,
        anti_entropy(AntiEntropyMessage::Begin {
            session,
            range,
            depth,
            root: 1,
        }),
    );
    loop {
        let Some(Action::Send {
            message: ReplicaMessage::AntiEntropy(message),
            ..
        }) = actions.pop()
        else {
            panic!("node 1 answers every step");
        };
        match message {
            AntiEntropyMessage::Hashes { level, hashes, .. } => {
                // Claim every node differs, with hashes nobody has.
                let next = if level == depth {
                    AntiEntropyMessage::Entries {
                        session,
                        differs: vec![true; hashes.len()],
                        entries: Vec::<LeafEntry>::new(),
                    }
                } else {
                    AntiEntropyMessage::Hashes {
                        session,
                        level: level + 1,
                        differs: vec![true; hashes.len()],
                        hashes: vec![1; hashes.len() * 2],
                    }
                };
                actions = drive(node, Instant::ZERO, anti_entropy(next));
                if level == depth {
                    return;
                }
            }
            AntiEntropyMessage::Entries { .. } => return,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A simulation of the ring's nodes whose only requests are the test's.
fn without_clients(seed: u64) -> SimConfig {
    let mut config = SimConfig::new(seed, ring().nodes().to_vec());
    config.clients.clients = 0;
    config
}

/// A sloppy quorum keeps a key writable while two of its three home
/// replicas are cut off; the stand-ins hand their hints back after the
/// partition heals, and the home replicas converge.
#[test]
fn sloppy_quorum_stays_available_during_a_partition_and_hands_back_after() {
    let ring = ring();
    let key = key_bytes(0);
    let homes = ring.preference_list(&key).to_vec();
    let others: Vec<NodeId> = ring
        .nodes()
        .iter()
        .copied()
        .filter(|n| !homes.contains(n))
        .collect();
    let config = without_clients(3);
    let mut workload = KvWorkload::new(ring.clone(), 0, RequestOptions::sloppy(3, 2, 2));
    workload.coordinators = Coordinators::PreferenceList;
    let (mut sim, _) = simulation(config, replica_config(), workload);
    sim.run_for(Duration::from_millis(100)).expect("healthy");
    // Home 0 with the two non-home nodes; homes 1 and 2 on their own.
    let mut reachable = vec![homes[0]];
    reachable.extend(&others);
    sim.apply(Fault::Partition(vec![reachable, vec![homes[1], homes[2]]]))
        .expect("known nodes");

    let put = |options| ReplicaRequest::Put {
        key: key.clone(),
        value: 42,
        context: VersionVector::new(),
        options: Some(options),
    };
    // Strict: two of three homes are unreachable, so W = 2 cannot be met.
    sim.submit(homes[0], put(RequestOptions::strict(3, 2, 2)))
        .expect("known node");
    sim.run_for(Duration::from_millis(500))
        .expect("no invariant broken");
    let answers = sim.take_responses();
    assert!(
        matches!(
            answers[..],
            [(
                _,
                ReplicaResponse::Unavailable {
                    answered: 1,
                    needed: 2
                }
            )]
        ),
        "{answers:?}"
    );
    // Sloppy: the non-home nodes stand in.
    sim.submit(homes[0], put(RequestOptions::sloppy(3, 2, 2)))
        .expect("known node");
    sim.run_for(Duration::from_millis(500))
        .expect("no invariant broken");
    let answers = sim.take_responses();
    assert!(
        matches!(answers[..], [(_, ReplicaResponse::Written { .. })]),
        "{answers:?}"
    );
    let hints: usize = others
        .iter()
        .filter_map(|n| sim.cluster().node(*n))
        .map(|node| node.hints().len())
        .sum();
    assert!(hints >= 1, "a stand-in keeps the write as a hint");
    let modes: Vec<ReplicationMode> = sim.mode_log().map(|c| c.transition.to).collect();
    assert!(modes.contains(&ReplicationMode::Sloppy), "{modes:?}");

    sim.apply(Fault::HealNetwork).expect("heal");
    sim.run_for(Duration::from_secs(2))
        .expect("no invariant broken");
    for node in sim.cluster().running() {
        assert!(
            node.hints().is_empty(),
            "node {} still holds hints",
            node.id()
        );
    }
    let objects: Vec<_> = homes
        .iter()
        .map(|h| {
            sim.cluster()
                .node(*h)
                .and_then(|n| n.store().get(&key).cloned())
        })
        .collect();
    assert!(
        objects
            .iter()
            .all(|o| o.as_ref().is_some_and(|o| o.values().any(|v| *v == 42)))
    );
    assert!(objects.windows(2).all(|pair| pair[0] == pair[1]));
    // The mode log tells the story, with triggers.
    let story: Vec<(ReplicationMode, String)> = sim
        .mode_log()
        .map(|c| (c.transition.to, c.transition.trigger.clone()))
        .collect();
    assert!(story.contains(&(
        ReplicationMode::Sloppy,
        "a request used fallback replicas (sloppy quorum)".to_string()
    )));
    assert!(story.contains(&(
        ReplicationMode::Repairing,
        "handing hints back to a returned replica".to_string()
    )));
    assert!(story.contains(&(
        ReplicationMode::Healthy,
        "replicas healthy and nothing to repair".to_string()
    )));
}

/// A hint whose home stays away longer than the hint lifetime is dropped;
/// the write is not lost, because anti-entropy brings it from the home
/// replica that has it.
#[test]
fn hints_expire_and_anti_entropy_still_delivers() {
    let ring = ring();
    let key = key_bytes(1);
    let homes = ring.preference_list(&key).to_vec();
    let config = without_clients(4);
    let workload = KvWorkload::new(ring.clone(), 0, RequestOptions::sloppy(3, 2, 2));
    let (mut sim, _) = simulation(config, replica_config(), workload);
    sim.run_for(Duration::from_millis(100)).expect("healthy");
    sim.apply(Fault::Crash(homes[2])).expect("known node");
    let put = ReplicaRequest::Put {
        key: key.clone(),
        value: 7,
        context: VersionVector::new(),
        options: Some(RequestOptions::sloppy(3, 3, 3)),
    };
    sim.submit(homes[0], put).expect("known node");
    // Past the hint lifetime (4 s) with the home still down.
    sim.run_for(Duration::from_secs(5))
        .expect("no invariant broken");
    assert!(matches!(
        sim.take_responses()[..],
        [(_, ReplicaResponse::Written { .. })]
    ));
    let expired: u64 = sim
        .cluster()
        .running()
        .map(|n| n.stats().hints_expired)
        .sum();
    assert!(expired >= 1, "the hint for the crashed home expired");
    sim.apply(Fault::Restart(homes[2])).expect("known node");
    sim.run_for(Duration::from_secs(3))
        .expect("no invariant broken");
    let restored = sim.cluster().node(homes[2]).expect("running");
    assert!(
        restored
            .store()
            .get(&key)
            .is_some_and(|o| o.values().any(|v| *v == 7)),
        "anti-entropy delivered the write the expired hint carried"
    );
}

/// A tombstone is not collected while one home replica is down, however
/// long past its grace period; once the replica is back and holds it, it
/// is.
#[test]
fn tombstones_wait_for_every_home_replica() {
    let ring = ring();
    let key = key_bytes(2);
    let homes = ring.preference_list(&key).to_vec();
    let config = without_clients(5);
    let workload = KvWorkload::new(ring.clone(), 0, RequestOptions::strict(3, 2, 2));
    let replica = tessera_quorum::ReplicaConfig {
        hint_ttl: Duration::from_millis(500),
        tombstone_grace: Duration::from_secs(1),
        purge_retention: Duration::from_secs(30),
        ..replica_config()
    };
    let (mut sim, purges) = simulation(config, replica, workload);
    let put = ReplicaRequest::Put {
        key: key.clone(),
        value: 9,
        context: VersionVector::new(),
        options: None,
    };
    sim.submit(homes[0], put).expect("known node");
    sim.run_for(Duration::from_millis(300)).expect("healthy");
    let Some((_, ReplicaResponse::Written { version })) = sim.take_responses().pop() else {
        panic!("the put is acknowledged");
    };
    sim.apply(Fault::Crash(homes[2])).expect("known node");
    let delete = ReplicaRequest::Delete {
        key: key.clone(),
        context: version.to_version_vector(),
        options: None,
    };
    sim.submit(homes[0], delete).expect("known node");
    sim.run_for(Duration::from_secs(4))
        .expect("no invariant broken");
    assert!(
        purges.borrow().is_empty(),
        "no purge while a home replica is down"
    );
    let tombstone = sim
        .cluster()
        .node(homes[0])
        .and_then(|n| n.store().get(&key).cloned());
    assert!(tombstone.is_some_and(|o| o.is_tombstone()));

    // The crashed replica still has the value on disk. Back, it gets the
    // tombstone by anti-entropy; then, and only then, it is collected.
    sim.apply(Fault::Restart(homes[2])).expect("known node");
    sim.run_for(Duration::from_secs(4))
        .expect("no invariant broken");
    assert!(
        purges.borrow().contains_key(&key),
        "collected once everyone held it"
    );
    for home in &homes {
        let node = sim.cluster().node(*home).expect("running");
        assert!(
            node.store().get(&key).is_none(),
            "node {home} still has the key"
        );
    }
    // And the value never comes back.
    let get = ReplicaRequest::Get {
        key: key.clone(),
        options: Some(RequestOptions::strict(3, 3, 1)),
        session: None,
    };
    sim.submit(homes[2], get).expect("known node");
    sim.run_for(Duration::from_millis(300))
        .expect("no invariant broken");
    let Some((_, ReplicaResponse::Read(result))) = sim.take_responses().pop() else {
        panic!("the read is answered");
    };
    assert!(result.is_absent());
    // While the replicas remember the purge, a read reports the deleted
    // versions in its context: a write over it replaces them for good.
    assert!(
        result.context.contains(version.dot()),
        "the read has seen the deletion"
    );
}

/// A replica that missed a write gets it back when a read finds it
/// behind.
#[test]
fn read_repair_brings_a_lagging_replica_up_to_date() {
    let ring = ring();
    let key = key_bytes(3);
    let homes = ring.preference_list(&key).to_vec();
    let config = without_clients(6);
    let replica = tessera_quorum::ReplicaConfig {
        // No anti-entropy during the test: only read repair can help.
        anti_entropy_interval: Duration::from_secs(3_600),
        ..replica_config()
    };
    let workload = KvWorkload::new(ring.clone(), 0, RequestOptions::strict(3, 2, 2));
    let (mut sim, _) = simulation(config, replica, workload);
    sim.apply(Fault::Isolate(homes[2])).expect("known node");
    let put = ReplicaRequest::Put {
        key: key.clone(),
        value: 5,
        context: VersionVector::new(),
        options: None,
    };
    sim.submit(homes[0], put).expect("known node");
    sim.run_for(Duration::from_millis(400)).expect("healthy");
    assert!(
        sim.cluster()
            .node(homes[2])
            .and_then(|n| n.store().get(&key))
            .is_none()
    );
    sim.apply(Fault::HealNetwork).expect("heal");
    let get = ReplicaRequest::Get {
        key: key.clone(),
        options: Some(RequestOptions::strict(3, 3, 1)),
        session: None,
    };
    sim.submit(homes[1], get).expect("known node");
    sim.run_for(Duration::from_millis(400)).expect("healthy");
    let repaired = sim
        .cluster()
        .node(homes[2])
        .and_then(|n| n.store().get(&key).cloned());
    assert!(repaired.is_some_and(|o| o.values().any(|v| *v == 5)));
    let repairs: u64 = sim
        .cluster()
        .running()
        .map(|n| n.stats().read_repairs)
        .sum();
    assert!(repairs >= 1);
}

/// A grow-only counter, as a CRDT crate would provide: per-actor counts
/// merged by maximum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct GCounter(BTreeMap<u64, u64>);

impl GCounter {
    fn value(&self) -> u64 {
        self.0.values().sum()
    }
}

impl Mergeable for GCounter {
    fn merge(&mut self, other: &Self) {
        for (actor, count) in &other.0 {
            let mine = self.0.entry(*actor).or_insert(0);
            *mine = (*mine).max(*count);
        }
    }
}

impl CompactEncoding for GCounter {
    fn encode(&self, out: &mut Vec<u8>) {
        tessera_vclock::write_varint(out, self.0.len() as u64);
        for (actor, count) in &self.0 {
            tessera_vclock::write_varint(out, *actor);
            tessera_vclock::write_varint(out, *count);
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, VclockError> {
        let entries = decoder.read_length(2)?;
        let mut counts = BTreeMap::new();
        for _ in 0..entries {
            counts.insert(decoder.read_varint()?, decoder.read_varint()?);
        }
        Ok(GCounter(counts))
    }
}

/// Replicas wired together by hand: every message delivered, every write
/// confirmed at once.
struct Wired<V: tessera_quorum::ReplicatedValue> {
    nodes: BTreeMap<NodeId, Replica<V>>,
    in_flight: Vec<(NodeId, NodeId, ReplicaMessage<V>)>,
    answers: Vec<ReplicaResponse<V>>,
}

impl<V: tessera_quorum::ReplicatedValue> Wired<V> {
    fn absorb(&mut self, at: NodeId, actions: Vec<ActionOf<Replica<V>>>) {
        for action in actions {
            match action {
                Action::Send { to, message } => self.in_flight.push((at, to, message)),
                Action::Reply { response, .. } => self.answers.push(response),
                _ => {}
            }
        }
    }

    fn request(&mut self, at: NodeId, id: u64, request: ReplicaRequest<V>) {
        let node = self.nodes.get_mut(&at).expect("known node");
        let actions = drive(
            node,
            Instant::ZERO,
            Input::Request {
                id: RequestId(id),
                request,
            },
        );
        self.absorb(at, actions);
    }

    fn deliver_all(&mut self) {
        while let Some((from, to, message)) = self.in_flight.pop() {
            let node = self.nodes.get_mut(&to).expect("known node");
            let actions = drive(node, Instant::ZERO, Input::Message { from, message });
            self.absorb(to, actions);
        }
    }
}

/// With a mergeable value, concurrent writes are merged on read instead of
/// surfacing as siblings: two clients increment the same counter through
/// different coordinators at once, and the read sees both increments.
#[test]
fn mergeable_values_merge_concurrent_writes_instead_of_returning_siblings() {
    let ring = Ring::new([1, 2, 3], 4, 3).expect("valid ring");
    let boot = |id: NodeId| {
        Replica::new(
            id,
            ring.clone(),
            replica_config(),
            ConflictPolicy::<GCounter>::merging(),
            &ReplicaDisk::default(),
            id,
            Instant::ZERO,
        )
        .expect("valid replica")
    };
    let mut wired = Wired {
        nodes: [1, 2, 3].into_iter().map(|id| (id, boot(id))).collect(),
        in_flight: Vec::new(),
        answers: Vec::new(),
    };
    let key = b"likes".to_vec();
    // Both clients read nothing, then write their own increment.
    let increment = |actor: u64| ReplicaRequest::Put {
        key: key.clone(),
        value: GCounter(BTreeMap::from([(actor, 1)])),
        context: VersionVector::new(),
        options: Some(RequestOptions::strict(3, 1, 1)),
    };
    wired.request(1, 100, increment(100));
    wired.request(2, 200, increment(200));
    wired.deliver_all();
    let written = wired
        .answers
        .iter()
        .filter(|a| matches!(a, ReplicaResponse::Written { .. }))
        .count();
    assert_eq!(written, 2);
    let stored = wired.nodes[&3].store().get(&key).expect("replicated");
    assert_eq!(stored.len(), 2, "the store keeps both concurrent versions");

    let get = ReplicaRequest::Get {
        key: key.clone(),
        options: Some(RequestOptions::strict(3, 3, 1)),
        session: None,
    };
    wired.request(3, 9, get);
    wired.deliver_all();
    let Some(ReplicaResponse::Read(result)) = wired.answers.last() else {
        panic!("the read is answered: {:?}", wired.answers);
    };
    assert_eq!(result.versions.len(), 2, "both versions are returned…");
    let merged = result.merged.as_ref().expect("…and merged into one value");
    assert_eq!(merged.value(), 2, "both increments count");
}

/// A sixth node joins a ring of five while clients keep writing: keys move
/// only where the node took a place in the preference list, every node
/// ends up holding exactly the keys it replicates, and no acknowledged
/// write is lost.
#[test]
fn a_joining_node_takes_over_only_the_affected_ranges() {
    tessera_sim::run_seeds(
        4,
        "-p tessera-quorum --test leaderless_scenarios joining",
        |seed| {
            joining_node(seed);
            Ok(())
        },
    );
}

fn joining_node(seed: u64) {
    let before = ring();
    let after = before.with_node(6).expect("a new node");
    let shared = std::rc::Rc::new(std::cell::RefCell::new(before.clone()));
    let mut config = SimConfig::new(seed, vec![1, 2, 3, 4, 5, 6]);
    config.clients.clients = 4;
    config.network.loss_probability = 0.01;
    let mut workload = KvWorkload::new(before.clone(), 4, RequestOptions::strict(3, 2, 2));
    workload.keys = 40;
    workload.delete_percent = 0;
    let (mut sim, purges) = simulation_on(
        std::rc::Rc::clone(&shared),
        config,
        replica_config(),
        workload,
    );
    sim.run_for(Duration::from_millis(1_500))
        .expect("no invariant broken");

    *shared.borrow_mut() = after.clone();
    for node in 1..=6 {
        let change = ReplicaRequest::ChangeRing {
            ring: after.clone(),
        };
        sim.submit(node, change).expect("known node");
    }
    sim.run_for(Duration::from_millis(1_500))
        .expect("no invariant broken");
    sim.stop_clients();
    sim.run_for(Duration::from_secs(4))
        .expect("no invariant broken");

    let handed_over: usize = sim
        .take_responses()
        .into_iter()
        .filter_map(|(_, response)| match response {
            ReplicaResponse::RingChanged { handed_over } => Some(handed_over),
            _ => None,
        })
        .sum();
    // One hint per key that node 6 took from someone: no more.
    let affected: Vec<u8> = (0..40u8)
        .filter(|key| after.preference_list(&key_bytes(*key)).contains(&6))
        .collect();
    assert!(!affected.is_empty() && affected.len() < 40, "{affected:?}");
    assert!(
        handed_over > 0 && handed_over <= affected.len(),
        "{handed_over} hints for {} keys",
        affected.len()
    );

    check_values(sim.history()).expect("values are valid");
    check_converged_on(&sim, &purges, &after, 40)
        .map_err(|v| failure(&sim, v))
        .expect("converged");
    for node in sim.cluster().running() {
        for (key, _) in node.store().iter() {
            assert!(
                after.preference_list(key).contains(&node.id()),
                "node {} still stores a key it gave away",
                node.id()
            );
        }
    }
    let sixth = sim.cluster().node(6).expect("running");
    for key in 0..40u8 {
        let bytes = key_bytes(key);
        let written = sim
            .cluster()
            .node(after.preference_list(&bytes)[0])
            .and_then(|n| n.store().get(&bytes))
            .is_some();
        assert_eq!(
            sixth.store().get(&bytes).is_some(),
            written && affected.contains(&key),
            "key {key}"
        );
    }
}

/// [`drive`] for a replica on its own: the messages it sends itself (a
/// coordinator's acknowledgement of its own store) are delivered back; the
/// rest are returned with everything else it asked for.
fn drive_alone(
    replica: &mut Replica<Value>,
    now: Instant,
    input: Input<ReplicaMessage<Value>, ReplicaRequest<Value>>,
) -> Vec<ActionOf<Replica<Value>>> {
    let id = replica.id();
    let mut pending = vec![input];
    let mut actions = Vec::new();
    while let Some(input) = pending.pop() {
        for action in drive(replica, now, input) {
            match action {
                Action::Send { to, message } if to == id => {
                    pending.push(Input::Message { from: id, message });
                }
                other => actions.push(other),
            }
        }
    }
    actions
}

/// The mode changes among `actions`, as the driver sees them.
fn mode_changes(actions: &[ActionOf<Replica<Value>>]) -> Vec<ModeTransition<ReplicationMode>> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::ModeChanged(transition) => Some(transition.clone()),
            _ => None,
        })
        .collect()
}

/// A key whose first home replica is `node`.
fn key_led_by(node: NodeId) -> Vec<u8> {
    (0..=u8::MAX)
        .map(key_bytes)
        .find(|k| ring().preference_list(k)[0] == node)
        .expect("some key has this node first")
}

const WEAK_QUORUM: &str = "a request chose r + w <= n";
const BACK_TO_TARGET: &str = "replicas healthy and nothing to repair";
const ANTI_ENTROPY_REPAIR: &str = "anti-entropy is repairing differences";

/// Which requests put a coordinator in the Degraded mode: exactly those
/// that chose `r + w <= n`, sloppy or not; strict quorums leave it in the
/// Target mode.
#[test]
fn only_a_request_choosing_r_plus_w_at_most_n_degrades_the_coordinator() {
    let key = key_led_by(1);
    let cases = [
        (RequestOptions::strict(3, 2, 2), false),
        (RequestOptions::strict(3, 3, 1), false),
        (RequestOptions::strict(1, 1, 1), false),
        (RequestOptions::strict(3, 1, 1), true),
        (RequestOptions::strict(3, 1, 2), true),
        (RequestOptions::strict(2, 1, 1), true),
        // No replica is suspected, so no fallback stands in: only the weak
        // quorum makes this request eventual.
        (RequestOptions::sloppy(3, 1, 1), true),
    ];
    for (options, degrades) in cases {
        for request in [
            ReplicaRequest::Put {
                key: key.clone(),
                value: 1,
                context: VersionVector::new(),
                options: Some(options),
            },
            ReplicaRequest::Get {
                key: key.clone(),
                options: Some(options),
                session: None,
            },
        ] {
            let mut node = replica(1);
            let at = Instant::from_millis(10);
            let actions = drive(
                &mut node,
                at,
                Input::Request {
                    id: RequestId(1),
                    request: request.clone(),
                },
            );
            let changes = mode_changes(&actions);
            if degrades {
                let expected = ModeTransition {
                    from: ReplicationMode::Healthy,
                    to: ReplicationMode::Sloppy,
                    trigger: WEAK_QUORUM.to_string(),
                    at,
                };
                assert_eq!(changes, vec![expected.clone()], "{options:?} {request:?}");
                assert_eq!(node.mode(), ReplicationMode::Sloppy);
                assert_eq!(node.mode().level(), ModeLevel::Degraded);
                assert_eq!(node.mode_tracker().why(), Some(&expected));
            } else {
                assert!(changes.is_empty(), "{options:?} {request:?}: {changes:?}");
                assert_eq!(node.mode(), ReplicationMode::Healthy);
                assert!(node.mode_tracker().why().is_none());
            }
        }
    }
}

/// A coordinator that served a request with `r + w <= n` reports the
/// Degraded mode with that trigger, stays there for `mode_hold` after the
/// last such request, and then reports the return to the Target mode.
#[test]
fn a_weak_quorum_request_degrades_the_coordinator_until_the_hold_ends() {
    let hold = replica_config().mode_hold;
    let key = key_led_by(1);
    let mut node = replica(1);
    let t1 = Instant::from_millis(10);
    // W = 1: node 1, the key's first home, acknowledges the put itself.
    let actions = drive_alone(
        &mut node,
        t1,
        Input::Request {
            id: RequestId(1),
            request: ReplicaRequest::Put {
                key: key.clone(),
                value: 11,
                context: VersionVector::new(),
                options: Some(RequestOptions::strict(3, 1, 1)),
            },
        },
    );
    assert!(
        matches!(replies(&actions)[..], [ReplicaResponse::Written { .. }]),
        "{actions:?}"
    );
    let degraded = ModeTransition {
        from: ReplicationMode::Healthy,
        to: ReplicationMode::Sloppy,
        trigger: WEAK_QUORUM.to_string(),
        at: t1,
    };
    assert_eq!(mode_changes(&actions), vec![degraded.clone()]);
    assert_eq!(node.mode_tracker().why(), Some(&degraded));
    assert_eq!(node.mode_tracker().since(), t1);
    // The driver is woken by the time the hold ends.
    assert!(
        node.next_deadline()
            .is_some_and(|deadline| deadline <= t1.saturating_add(hold))
    );

    // Another weak request, a read this time, renews the hold; being
    // degraded already, it is not a new transition.
    let t2 = t1.saturating_add(hold / 2);
    let actions = drive_alone(
        &mut node,
        t2,
        Input::Request {
            id: RequestId(2),
            request: ReplicaRequest::Get {
                key: key.clone(),
                options: Some(RequestOptions::strict(3, 1, 1)),
                session: None,
            },
        },
    );
    assert!(
        matches!(replies(&actions)[..], [ReplicaResponse::Read(_)]),
        "{actions:?}"
    );
    assert!(mode_changes(&actions).is_empty());

    // Past the first hold but within the renewed one: still degraded.
    let actions = drive_alone(&mut node, t1.saturating_add(hold), Input::Tick);
    assert!(mode_changes(&actions).is_empty(), "{actions:?}");
    assert_eq!(node.mode(), ReplicationMode::Sloppy);
    let end = t2.saturating_add(hold);
    let actions = drive_alone(
        &mut node,
        end.saturating_sub(Duration::from_nanos(1)),
        Input::Tick,
    );
    assert!(mode_changes(&actions).is_empty(), "{actions:?}");
    assert!(node.next_deadline().is_some_and(|deadline| deadline <= end));

    // The hold ends: back to the Target mode, and the tracker says why.
    let actions = drive_alone(&mut node, end, Input::Tick);
    let healthy = ModeTransition {
        from: ReplicationMode::Sloppy,
        to: ReplicationMode::Healthy,
        trigger: BACK_TO_TARGET.to_string(),
        at: end,
    };
    assert_eq!(mode_changes(&actions), vec![healthy.clone()]);
    assert_eq!(node.mode(), ReplicationMode::Healthy);
    assert_eq!(node.mode().level(), ModeLevel::Target);
    let history: Vec<_> = node.mode_tracker().history().cloned().collect();
    assert_eq!(history, vec![degraded, healthy]);

    // A strict request afterwards does not degrade it again.
    let later = end.saturating_add(hold);
    let actions = drive_alone(
        &mut node,
        later,
        Input::Request {
            id: RequestId(3),
            request: ReplicaRequest::Get {
                key,
                options: Some(RequestOptions::strict(3, 2, 2)),
                session: None,
            },
        },
    );
    assert!(mode_changes(&actions).is_empty(), "{actions:?}");
    assert_eq!(node.mode(), ReplicationMode::Healthy);
}

/// A replica that was down while a write was acknowledged comes back
/// behind; anti-entropy brings it the write, which puts it in the
/// Recovery mode with that trigger, and it returns to the Target mode
/// `mode_hold` after the repair, once it holds what its peers hold.
#[test]
fn anti_entropy_puts_a_restarted_replica_in_recovery_until_the_repair_is_done() {
    let ring = ring();
    let key = key_bytes(3);
    let homes = ring.preference_list(&key).to_vec();
    let behind = homes[2];
    let replica = replica_config();
    let hold = replica.mode_hold;
    let workload = KvWorkload::new(ring.clone(), 0, RequestOptions::strict(3, 2, 2));
    let (mut sim, _) = simulation(without_clients(8), replica, workload);
    sim.run_for(Duration::from_millis(100)).expect("healthy");
    sim.apply(Fault::Crash(behind)).expect("known node");
    let put = ReplicaRequest::Put {
        key: key.clone(),
        value: 33,
        context: VersionVector::new(),
        options: None,
    };
    sim.submit(homes[0], put).expect("known node");
    // Past the request timeout: the coordinator no longer re-sends, so
    // only anti-entropy can bring the write to the crashed replica.
    sim.run_for(Duration::from_millis(600))
        .expect("no invariant broken");
    assert!(
        matches!(
            sim.take_responses()[..],
            [(_, ReplicaResponse::Written { .. })]
        ),
        "the put is acknowledged by the two live home replicas"
    );
    let durable = sim.cluster().durable(behind).expect("known node");
    assert!(
        !durable.objects.contains_key(&key),
        "the crashed replica missed it"
    );

    sim.apply(Fault::Restart(behind)).expect("known node");
    let restarted = sim.now();
    let node = |sim: &common::KvSim| {
        sim.cluster()
            .node(behind)
            .expect("running")
            .mode_tracker()
            .clone()
    };
    assert_eq!(node(&sim).current(), ReplicationMode::Healthy);

    // Step until the replica reports Recovery.
    let deadline = restarted.saturating_add(Duration::from_secs(2));
    while sim.cluster().node(behind).expect("running").mode() != ReplicationMode::Repairing {
        assert!(
            sim.now() < deadline,
            "anti-entropy never repaired the replica"
        );
        assert!(sim.step().expect("no invariant broken"), "events left");
    }
    let repaired = sim.cluster().node(behind).expect("running");
    let entered = repaired
        .mode_tracker()
        .why()
        .cloned()
        .expect("a transition");
    assert_eq!(
        (entered.from, entered.to, entered.trigger.as_str()),
        (
            ReplicationMode::Healthy,
            ReplicationMode::Repairing,
            ANTI_ENTROPY_REPAIR
        )
    );
    assert_eq!(repaired.mode().level(), ModeLevel::Recovery);
    assert_eq!(repaired.stats().keys_repaired, 1, "the one missed key");
    assert!(
        repaired
            .store()
            .get(&key)
            .is_some_and(|o| o.values().any(|v| *v == 33)),
        "the repair brought the write"
    );

    // Nothing else differs: it leaves Recovery one hold after the repair.
    sim.run_for(Duration::from_secs(1))
        .expect("no invariant broken");
    let node = sim.cluster().node(behind).expect("running");
    assert_eq!(node.mode(), ReplicationMode::Healthy);
    assert_eq!(node.stats().keys_repaired, 1, "nothing else to repair");
    let history: Vec<_> = node.mode_tracker().history().cloned().collect();
    let [first, back] = &history[..] else {
        panic!("two transitions expected: {history:?}");
    };
    assert_eq!(first, &entered);
    assert_eq!(
        (back.from, back.to, back.trigger.as_str()),
        (
            ReplicationMode::Repairing,
            ReplicationMode::Healthy,
            BACK_TO_TARGET
        )
    );
    // Woken when the hold ends, it leaves then, not at some later input
    // (the slack allows for the timer's resolution and clock drift).
    let stayed = back.at.duration_since(entered.at);
    assert!(
        stayed >= hold && stayed < hold + Duration::from_millis(1),
        "in Recovery for {stayed:?}, hold {hold:?}"
    );
    let peer = sim.cluster().node(homes[0]).expect("running");
    assert_eq!(node.store().get(&key), peer.store().get(&key));
    // The simulator's log, what an operator sees, tells the same story.
    let story: Vec<(ReplicationMode, String)> = sim
        .mode_log()
        .filter(|change| change.node == behind)
        .map(|change| (change.transition.to, change.transition.trigger.clone()))
        .collect();
    assert_eq!(
        story,
        vec![
            (ReplicationMode::Repairing, ANTI_ENTROPY_REPAIR.to_string()),
            (ReplicationMode::Healthy, BACK_TO_TARGET.to_string()),
        ]
    );
}

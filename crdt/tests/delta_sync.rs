//! The delta-sync protocol, driven by hand: exact scenarios — what is
//! shipped, when, and how big; removes that do not advance a clock; deltas
//! out of order; malformed peers; modes.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tessera_core::{Action, DurableState, Input, Instant, NodeId, Protocol, RequestId};
use tessera_crdt::*;

type SetNode = DeltaSyncNode<OrSet<u64>, OrSetRequest<u64>>;

/// A cluster of nodes wired by a perfect network and instant disks, with
/// a switch to cut nodes off. Time moves only when told.
struct Harness {
    nodes: BTreeMap<NodeId, SetNode>,
    disks: BTreeMap<NodeId, DurableReplica<OrSet<u64>>>,
    in_flight: VecDeque<(NodeId, NodeId, SyncMessage<OrSet<u64>>)>,
    cut: Vec<NodeId>,
    replies: Vec<(NodeId, RequestId, Result<OrSetReply<u64>, CrdtError>)>,
    mode_changes: Vec<(NodeId, SyncMode, String)>,
    now: Instant,
    next_request: u64,
    /// Every message sent, with its encoded size.
    sent: Vec<(NodeId, NodeId, SyncMessage<OrSet<u64>>, usize)>,
}

fn config() -> DeltaSyncConfig {
    DeltaSyncConfig {
        sync_interval: Duration::from_millis(10),
        peer_timeout: Duration::from_millis(100),
        delta_buffer_max: 64,
    }
}

impl Harness {
    fn new(members: &[NodeId]) -> Self {
        let mut harness = Harness {
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            in_flight: VecDeque::new(),
            cut: Vec::new(),
            replies: Vec::new(),
            mode_changes: Vec::new(),
            now: Instant::from_secs(1),
            next_request: 1,
            sent: Vec::new(),
        };
        for id in members {
            let disk = DurableReplica::default();
            let node = SetNode::new(*id, members, &disk, 0, harness.now, config()).expect("valid");
            harness.nodes.insert(*id, node);
            harness.disks.insert(*id, disk);
        }
        harness
    }

    fn input(&mut self, id: NodeId, input: Input<SyncMessage<OrSet<u64>>, OrSetRequest<u64>>) {
        let mut out = Vec::new();
        let node = self.nodes.get_mut(&id).expect("a node");
        node.handle(self.now, input, &mut out);
        let mut persisted = None;
        for action in out {
            match action {
                Action::Persist {
                    id: write_id,
                    write,
                } => {
                    self.disks.get_mut(&id).expect("a disk").apply(write);
                    persisted = Some(write_id);
                }
                Action::Send { to, message } => {
                    let size = message.to_bytes().len();
                    self.sent.push((id, to, message.clone(), size));
                    if !self.cut.contains(&id) && !self.cut.contains(&to) {
                        self.in_flight.push_back((id, to, message));
                    }
                }
                Action::Reply {
                    id: request,
                    response,
                } => self.replies.push((id, request, response)),
                Action::ModeChanged(transition) => {
                    self.mode_changes
                        .push((id, transition.to, transition.trigger))
                }
            }
        }
        // Instant disks: every write is durable at once.
        if let Some(up_to) = persisted {
            self.input(id, Input::Persisted { up_to });
        }
    }

    fn request(&mut self, node: NodeId, request: OrSetRequest<u64>) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.input(node, Input::Request { id, request });
        id
    }

    /// Delivers every message in flight, and whatever they cause.
    fn deliver(&mut self) {
        let mut budget = 10_000;
        while let Some((from, to, message)) = self.in_flight.pop_front() {
            budget -= 1;
            assert!(budget > 0, "delivery does not settle");
            self.input(to, Input::Message { from, message });
        }
    }

    /// Advances time by one sync interval: every node ticks, then every
    /// message is delivered.
    fn round(&mut self) {
        self.now = self.now + config().sync_interval;
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.input(id, Input::Tick);
        }
        self.deliver();
    }

    fn state(&self, id: NodeId) -> &OrSet<u64> {
        self.nodes[&id].state()
    }
}

#[test]
fn replicas_converge_and_acknowledge() {
    let mut h = Harness::new(&[1, 2, 3]);
    h.request(1, OrSetRequest::Add(7));
    h.request(2, OrSetRequest::Add(8));
    h.request(3, OrSetRequest::Remove(7));
    for _ in 0..3 {
        h.round();
    }
    assert_eq!(h.state(1), h.state(2));
    assert_eq!(h.state(2), h.state(3));
    assert!(h.state(1).contains(&7) && h.state(1).contains(&8));
    // Every delta acknowledged by every peer, and then collected.
    for node in h.nodes.values() {
        for peer in node.peers() {
            assert_eq!(node.buffer().unacknowledged(*peer), 0);
        }
        assert!(node.buffer().is_empty());
    }
    // Client replies came once the update was durable (instant here).
    assert_eq!(h.replies.len(), 3);
}

/// Deltas sent are proportional to the change, not the state: with 10,000
/// elements replicated, adding one ships a message of a few dozen bytes.
#[test]
fn deltas_shipped_are_proportional_to_the_change() {
    let mut h = Harness::new(&[1, 2]);
    for element in 0..10_000 {
        h.request(1, OrSetRequest::Add(element));
    }
    for _ in 0..3 {
        h.round();
    }
    assert_eq!(h.state(2).len(), 10_000);
    let state_bytes = h.state(1).to_bytes().len();
    h.sent.clear();
    h.request(1, OrSetRequest::Add(123_456));
    h.request(1, OrSetRequest::Remove(17));
    h.round();
    assert!(h.state(2).contains(&123_456) && !h.state(2).contains(&17));
    let deltas: Vec<usize> = h
        .sent
        .iter()
        .filter(|(from, _, message, _)| *from == 1 && matches!(message, SyncMessage::Delta { .. }))
        .map(|(_, _, _, size)| *size)
        .collect();
    assert_eq!(deltas.len(), 1, "one delta group for the two updates");
    assert!(
        deltas[0] < 64,
        "a {}-byte delta for two updates to a {state_bytes}-byte state",
        deltas[0]
    );
    assert!(state_bytes > 30_000);
    assert!(
        h.sent
            .iter()
            .all(|(_, _, message, _)| !matches!(message, SyncMessage::State { .. })),
        "no whole state once peers acknowledge"
    );
}

/// Regression for the bug class of rust-crdt issue #160: a remove does not
/// advance the set's causal context (it creates no dot), so a sync that
/// decides "the peer has seen everything" by comparing contexts never
/// ships it, and the remove is silently lost. Here removes are deltas with
/// their own sequence numbers in the sender's buffer, shipped until
/// acknowledged whatever the contexts say.
#[test]
fn a_remove_that_does_not_advance_the_context_is_still_shipped() {
    let mut h = Harness::new(&[1, 2]);
    h.request(1, OrSetRequest::Add(42));
    h.round();
    h.round();
    assert!(h.state(2).contains(&42));
    let before = h.state(1).context().clone();
    h.request(1, OrSetRequest::Remove(42));
    // The remove left the context where it was: the peer's context
    // already covers it, and a context comparison sees nothing to send.
    assert_eq!(h.state(1).context(), &before);
    assert!(h.state(1).context().is_subset_of(h.state(2).context()));
    assert_ne!(h.state(1), h.state(2));
    h.round();
    assert!(!h.state(2).contains(&42), "the remove reached the peer");
    assert_eq!(h.state(1), h.state(2));
}

/// The same bug class with deltas out of order: the remove's delta arrives
/// before the add's. The receiver's context keeps the removed dot (in its
/// dot cloud), so the late add does not resurrect the element; and a
/// context compacted into a plain version vector would have claimed the
/// dots in between too.
#[test]
fn a_remove_delivered_before_its_add_wins() {
    let mut a = OrSet::new();
    a.add(0u64, 1).unwrap();
    let add = a.add(42, 1).unwrap();
    let remove = a.remove(&42);
    let mut c = OrSet::new();
    c.join_delta(&remove);
    assert!(c.context().has_gaps(), "(1, 2) seen without (1, 1)");
    c.join_delta(&add);
    assert!(
        !c.contains(&42),
        "the late add does not resurrect the element"
    );
    // The earlier add still lands: its dot was never claimed.
    c.merge(&a);
    assert!(c.contains(&0));
    assert_eq!(c, a);
}

/// Bytes whose dots lie outside their own causal context never decode;
/// a delta that contradicts the receiver (one dot naming two elements: an
/// actor id reused) is refused and counted, never joined nor acknowledged;
/// a message from a non-member is refused.
#[test]
fn inconsistent_deltas_and_strangers_are_refused() {
    // Element 5 under dot (9, 1) with the dot in the context…
    let consistent = [1, 9, 1, 0, 1, 5, 1, 9, 0];
    assert!(OrSetDelta::<u64>::from_bytes(&consistent).is_ok());
    // …and with an empty context: well-formed, inconsistent.
    let inconsistent = [0, 0, 1, 5, 1, 9, 0];
    assert!(matches!(
        OrSetDelta::<u64>::from_bytes(&inconsistent),
        Err(CrdtError::Inconsistent { .. })
    ));

    let mut h = Harness::new(&[1, 2]);
    h.request(2, OrSetRequest::Add(5));
    let mut impostor = OrSet::new();
    let conflicting = impostor.add(6u64, 2).unwrap(); // node 2's dot (2, 1) again
    let acks_before = h.nodes[&2].stats().acks_sent;
    h.input(
        2,
        Input::Message {
            from: 1,
            message: SyncMessage::Delta {
                incarnation: 0,
                from: 0,
                to: 1,
                delta: conflicting,
            },
        },
    );
    assert_eq!(h.nodes[&2].stats().messages_rejected, 1);
    assert_eq!(
        h.nodes[&2].stats().acks_sent,
        acks_before,
        "not acknowledged"
    );
    assert!(!h.state(2).contains(&6));

    h.input(
        2,
        Input::Message {
            from: 77,
            message: SyncMessage::Ack {
                incarnation: 0,
                to: 1,
            },
        },
    );
    assert_eq!(h.nodes[&2].stats().messages_rejected, 2);
}

#[test]
fn partition_degrades_then_recovery_catches_up() {
    let mut h = Harness::new(&[1, 2, 3]);
    h.round();
    h.cut = vec![3];
    h.request(1, OrSetRequest::Add(1));
    h.request(3, OrSetRequest::Add(3));
    for _ in 0..15 {
        h.round();
    }
    assert_eq!(h.nodes[&1].mode(), SyncMode::Partitioned);
    assert_eq!(h.nodes[&3].mode(), SyncMode::Partitioned);
    assert!(!h.state(1).contains(&3), "diverged");
    // Still available while partitioned.
    h.request(3, OrSetRequest::Add(33));
    assert!(h.replies.iter().all(|(_, _, reply)| reply.is_ok()));
    h.cut.clear();
    for _ in 0..15 {
        h.round();
    }
    for id in [1, 2, 3] {
        assert_eq!(h.nodes[&id].mode(), SyncMode::Converging, "node {id}");
    }
    assert_eq!(h.state(1), h.state(3));
    assert!(h.state(1).contains(&33));
    // The partitioned node went Converging → Partitioned → CatchingUp →
    // Converging, each change with its trigger.
    let three: Vec<_> = h
        .mode_changes
        .iter()
        .filter(|(id, _, _)| *id == 3)
        .map(|(_, mode, _)| *mode)
        .collect();
    assert_eq!(
        three,
        vec![
            SyncMode::Partitioned,
            SyncMode::CatchingUp,
            SyncMode::Converging
        ]
    );
    let trigger = &h
        .mode_changes
        .iter()
        .find(|(id, _, _)| *id == 3)
        .expect("a change")
        .2;
    assert!(trigger.contains("no message from node"), "{trigger}");
}

/// A peer too far behind the bounded buffer gets the whole state.
#[test]
fn a_peer_behind_the_buffer_gets_the_whole_state() {
    let mut h = Harness::new(&[1, 2]);
    h.round();
    h.cut = vec![2];
    for element in 0..100 {
        h.request(1, OrSetRequest::Add(element));
    }
    assert_eq!(h.nodes[&1].buffer().len(), config().delta_buffer_max);
    h.cut.clear();
    h.sent.clear();
    for _ in 0..15 {
        h.round();
    }
    assert_eq!(h.state(2).len(), 100);
    assert!(
        h.sent
            .iter()
            .any(|(from, _, message, _)| *from == 1 && matches!(message, SyncMessage::State { .. }))
    );
}

#[test]
fn configuration_is_validated() {
    let bad = DeltaSyncConfig {
        peer_timeout: Duration::from_millis(5),
        ..config()
    };
    let error = bad.validate().unwrap_err();
    assert_eq!(error.parameter, "peer_timeout");
    let disk = DurableReplica::<OrSet<u64>>::default();
    assert!(SetNode::new(1, &[1, 2], &disk, 0, Instant::ZERO, bad).is_err());
    let zero = DeltaSyncConfig {
        delta_buffer_max: 0,
        ..config()
    };
    assert_eq!(zero.validate().unwrap_err().parameter, "delta_buffer_max");
}

/// Every message kind round-trips through the compact encoding, and
/// random bytes are refused, never a panic.
#[test]
fn messages_round_trip() {
    let mut set = OrSet::new();
    let delta = set.add(3u64, 1).unwrap();
    let messages: Vec<SyncMessage<OrSet<u64>>> = vec![
        SyncMessage::Delta {
            incarnation: 2,
            from: 4,
            to: 9,
            delta,
        },
        SyncMessage::State {
            incarnation: 2,
            to: 9,
            state: set,
        },
        SyncMessage::Ack {
            incarnation: 2,
            to: 9,
        },
    ];
    for message in messages {
        let bytes = message.to_bytes();
        assert_eq!(SyncMessage::from_bytes(&bytes), Ok(message));
    }
    assert!(SyncMessage::<OrSet<u64>>::from_bytes(&[7, 1, 2]).is_err());
}

/// The guide prints the mode matrix from this crate's own data: the table
/// in docs/replication-crdt.md is `render_mode_matrix::<SyncMode>()`,
/// checked here so it cannot drift.
#[test]
fn the_guide_prints_the_mode_matrix_from_the_code() {
    let table = tessera_core::render_mode_matrix::<SyncMode>();
    if std::env::var_os("TESSERA_PRINT_MATRIX").is_some() {
        println!("{table}");
    }
    let chapter = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/replication-crdt.md"
    ))
    .expect("the chapter exists");
    assert!(
        chapter.contains(&table),
        "docs/replication-crdt.md must contain the rendered matrix:\n{table}"
    );
}

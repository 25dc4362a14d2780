//! The JSON protocol, message type by message type: for every workload,
//! each request Maelstrom sends (doc/workloads.md) and the exact reply the
//! node writes. Single in-process nodes, so the replies are deterministic.

use std::time::Duration;

use serde_json::{Value, json};
use tessera_core::Instant;
use tessera_maelstrom::{Envelope, MaelstromNode, NodeOptions, Output, Workload};

struct Session {
    node: MaelstromNode,
    now: Instant,
}

impl Session {
    fn new(workload: Workload) -> Session {
        let node = MaelstromNode::new(
            workload,
            NodeOptions {
                seed: 3,
                ..NodeOptions::default()
            },
        )
        .expect("valid options");
        let mut session = Session {
            node,
            now: Instant::from_secs(10),
        };
        let init = session
            .request(json!({"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1"]}));
        assert_eq!(init, json!({"type": "init_ok", "in_reply_to": 1}));
        session
    }

    /// Lets `duration` pass, ticking the node; nothing may be sent to a
    /// client meanwhile.
    fn wait(&mut self, duration: Duration) {
        let until = self.now + duration;
        let mut out = Vec::new();
        while self.now < until {
            self.now = self.now + Duration::from_millis(10);
            self.node.tick(self.now, &mut out);
        }
        assert!(out.iter().all(|o| o.as_message().is_none()), "{out:?}");
    }

    /// Sends `body` from client c1 and returns the one reply's body, with
    /// its `msg_id` checked and removed. Time advances (and the node is
    /// ticked) until the reply comes.
    fn request(&mut self, body: Value) -> Value {
        let line = json!({"src": "c1", "dest": "n1", "body": body}).to_string();
        let mut out = Vec::new();
        self.node.handle_line(self.now, &line, &mut out);
        for _ in 0..1_000 {
            if out.iter().any(|o| o.as_message().is_some()) {
                break;
            }
            self.now = self.now + Duration::from_millis(10);
            self.node.tick(self.now, &mut out);
        }
        let replies: Vec<&Envelope> = out.iter().filter_map(Output::as_message).collect();
        assert_eq!(replies.len(), 1, "{out:?}");
        let reply = replies[0];
        assert_eq!((reply.src.as_str(), reply.dest.as_str()), ("n1", "c1"));
        let mut value: Value = serde_json::from_str(&reply.to_line()).expect("json");
        let body = value["body"].as_object_mut().expect("a body object");
        assert!(
            body.remove("msg_id").and_then(|id| id.as_u64()).is_some(),
            "replies carry a msg_id"
        );
        if let Some(text) = body.get("text") {
            assert!(text.is_string());
            body.remove("text");
        }
        value["body"].take()
    }
}

/// lin-kv: read, write, cas and their errors (20, 22, 12), with keys and
/// values of any JSON type.
#[test]
fn lin_kv_messages() {
    let mut s = Session::new(Workload::LinKv);
    // A single node elects itself; until then requests may be refused
    // with 11, so the first write is retried.
    let mut reply = Value::Null;
    for id in 2..200 {
        reply = s.request(json!({"type": "write", "msg_id": id, "key": 1, "value": 2}));
        if reply["type"] == "write_ok" {
            break;
        }
        assert_eq!(reply["code"], 11, "{reply}");
        s.wait(Duration::from_millis(50));
    }
    assert_eq!(reply["type"], "write_ok");
    let cases = [
        (
            json!({"type": "read", "msg_id": 300, "key": 1}),
            json!({"type": "read_ok", "in_reply_to": 300, "value": 2}),
        ),
        (
            json!({"type": "read", "msg_id": 301, "key": 2}),
            json!({"type": "error", "in_reply_to": 301, "code": 20}),
        ),
        (
            json!({"type": "cas", "msg_id": 302, "key": 1, "from": 3, "to": 4}),
            json!({"type": "error", "in_reply_to": 302, "code": 22}),
        ),
        (
            json!({"type": "cas", "msg_id": 303, "key": 2, "from": 3, "to": 4}),
            json!({"type": "error", "in_reply_to": 303, "code": 20}),
        ),
        (
            json!({"type": "cas", "msg_id": 304, "key": 1, "from": 2, "to": 4}),
            json!({"type": "cas_ok", "in_reply_to": 304}),
        ),
        (
            json!({"type": "read", "msg_id": 305, "key": 1}),
            json!({"type": "read_ok", "in_reply_to": 305, "value": 4}),
        ),
        (
            json!({"type": "write", "msg_id": 306, "key": "k", "value": [1, {"x": null}]}),
            json!({"type": "write_ok", "in_reply_to": 306}),
        ),
        (
            json!({"type": "read", "msg_id": 307, "key": "k"}),
            json!({"type": "read_ok", "in_reply_to": 307, "value": [1, {"x": null}]}),
        ),
        (
            json!({"type": "read", "msg_id": 308}),
            json!({"type": "error", "in_reply_to": 308, "code": 12}),
        ),
        (
            json!({"type": "add", "msg_id": 309, "delta": 1}),
            json!({"type": "error", "in_reply_to": 309, "code": 12}),
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(s.request(request.clone()), expected, "{request}");
    }
    // Every acknowledged write went through the in-memory durable image:
    // the log there holds the commands, and the hard state their commit.
    let raft = s.node.raft().expect("a lin-kv node");
    let recovered = s.node.raft_disk().expect("a lin-kv node").recovered();
    let hard_state = recovered
        .hard_state
        .clone()
        .expect("a hard state was persisted");
    assert!(recovered.entries.len() >= 4, "{recovered:?}");
    assert_eq!(
        recovered.entries.last().map(|e| e.index),
        Some(raft.commit_index())
    );
    assert!(hard_state.term >= 1 && hard_state.vote == Some(1));
}

/// g-counter and pn-counter: add and read; g-counter refuses a negative
/// delta.
#[test]
fn counter_messages() {
    for workload in [Workload::GCounter, Workload::PnCounter] {
        let mut s = Session::new(workload);
        assert_eq!(
            s.request(json!({"type": "add", "msg_id": 2, "delta": 5})),
            json!({"type": "add_ok", "in_reply_to": 2})
        );
        let negative = s.request(json!({"type": "add", "msg_id": 3, "delta": -2}));
        let expected_value = match workload {
            Workload::GCounter => {
                assert_eq!(
                    negative,
                    json!({"type": "error", "in_reply_to": 3, "code": 12})
                );
                5
            }
            _ => {
                assert_eq!(negative, json!({"type": "add_ok", "in_reply_to": 3}));
                3
            }
        };
        assert_eq!(
            s.request(json!({"type": "read", "msg_id": 4})),
            json!({"type": "read_ok", "in_reply_to": 4, "value": expected_value})
        );
        assert_eq!(
            s.request(json!({"type": "add", "msg_id": 5, "delta": "1"})),
            json!({"type": "error", "in_reply_to": 5, "code": 12})
        );
    }
}

/// g-set: add and read (the elements in `value`).
#[test]
fn g_set_messages() {
    let mut s = Session::new(Workload::GSet);
    for (id, element) in [(2, json!(3)), (3, json!("x")), (4, json!(3))] {
        assert_eq!(
            s.request(json!({"type": "add", "msg_id": id, "element": element})),
            json!({"type": "add_ok", "in_reply_to": id})
        );
    }
    let read = s.request(json!({"type": "read", "msg_id": 5}));
    assert_eq!(read["type"], "read_ok");
    let mut elements = read["value"].as_array().expect("an array").clone();
    elements.sort_by_key(Value::to_string);
    assert_eq!(elements, [json!("x"), json!(3)]);
    assert_eq!(
        s.request(json!({"type": "add", "msg_id": 6})),
        json!({"type": "error", "in_reply_to": 6, "code": 12})
    );
}

/// broadcast: topology, broadcast and read (the values in `messages`).
#[test]
fn broadcast_messages() {
    let mut s = Session::new(Workload::Broadcast);
    assert_eq!(
        s.request(json!({"type": "topology", "msg_id": 2, "topology": {"n1": []}})),
        json!({"type": "topology_ok", "in_reply_to": 2})
    );
    // A topology naming a node init did not list.
    assert_eq!(
        s.request(json!({"type": "topology", "msg_id": 3, "topology": {"n1": ["n7"]}})),
        json!({"type": "error", "in_reply_to": 3, "code": 12})
    );
    assert_eq!(
        s.request(json!({"type": "broadcast", "msg_id": 4, "message": 42})),
        json!({"type": "broadcast_ok", "in_reply_to": 4})
    );
    assert_eq!(
        s.request(json!({"type": "read", "msg_id": 5})),
        json!({"type": "read_ok", "in_reply_to": 5, "messages": [42]})
    );
}

/// Topologies are made symmetric: a node syncs with the nodes it lists and
/// the nodes that list it.
#[test]
fn topology_neighbours_are_symmetric() {
    let mut node =
        MaelstromNode::new(Workload::Broadcast, NodeOptions::default()).expect("options");
    let mut out = Vec::new();
    let now = Instant::from_secs(1);
    let init = json!({"src": "c0", "dest": "n2", "body": {"type": "init", "msg_id": 1, "node_id": "n2", "node_ids": ["n1", "n2", "n3", "n4"]}});
    node.handle_line(now, &init.to_string(), &mut out);
    assert_eq!(
        node.sync_peers(),
        Some(&[1, 3, 4][..]),
        "every other node until a topology arrives"
    );
    let topology = json!({"src": "c0", "dest": "n2", "body": {"type": "topology", "msg_id": 2,
        "topology": {"n1": ["n2"], "n2": ["n3"], "n3": [], "n4": ["n1"]}}});
    node.handle_line(now, &topology.to_string(), &mut out);
    assert_eq!(node.sync_peers(), Some(&[1, 3][..]));
}

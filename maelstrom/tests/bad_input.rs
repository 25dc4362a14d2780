//! Bad input never panics a node: lines that are not messages, requests
//! with missing or wrong fields, unknown types, messages before `init`,
//! and node-to-node payloads that do not decode. Answerable ones get a
//! definite `malformed-request` (or `temporarily-unavailable` before
//! `init`); the rest are logged and skipped; the node keeps serving.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::Cluster;
use proptest::prelude::*;
use serde_json::json;
use tessera_core::Instant;
use tessera_maelstrom::{
    Body, ErrorCode, KvCommand, MaelstromNode, NodeOptions, Output, Workload, decode_raft_message,
    encode_raft_message,
};
use tessera_raft::{Heartbeat, Message};

const PATIENCE: Duration = Duration::from_secs(10);

fn init_line(name: &str, names: &[&str]) -> String {
    json!({"src": "c0", "dest": name, "body": {"type": "init", "msg_id": 1, "node_id": name, "node_ids": names}})
        .to_string()
}

fn messages(out: &[Output]) -> Vec<&tessera_maelstrom::Envelope> {
    out.iter().filter_map(Output::as_message).collect()
}

/// The process: garbage on stdin, then normal service.
#[test]
fn a_node_process_survives_garbage_and_keeps_serving() {
    let mut cluster = Cluster::start("lin-kv", 1, &[]);
    let garbage = [
        "not json at all",
        "[1, 2, 3]",
        "{}",
        r#"{"src":"c1","dest":"n1","body":"a string"}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":"seven"}}"#,
        r#"{"src":"n9","dest":"n1","body":{"type":"raft","msg":"AAAA"}}"#,
        r#"{"src":"n1","dest":"n1","body":{"type":"raft","msg":"!!! not base64"}}"#,
        r#"{"src":"n1","dest":"n1","body":{"type":"raft","msg":"/////w=="}}"#,
        r#"{"src":"n1","dest":"n1","body":{"type":"raft"}}"#,
        r#"{"src":"n1","dest":"n1","body":{"type":"init_ok","in_reply_to":77}}"#,
        "\u{0}\u{1}\u{2}",
    ];
    for line in garbage {
        cluster.write_line("n1", line);
    }
    // Answerable bad requests get a definite malformed-request.
    for body in [
        Body::new("read"),
        Body::new("write").with("key", json!(1)),
        Body::new("cas")
            .with("key", json!(1))
            .with("from", json!(1)),
        Body::new("broadcast").with("message", json!(1)),
        Body::new("no_such_type"),
    ] {
        let kind = body.kind.clone();
        let reply = cluster.call("c1", "n1", body, PATIENCE).expect("a reply");
        assert_eq!(
            reply.body.error_code(),
            Some(ErrorCode::MalformedRequest),
            "{kind}: {:?}",
            reply.body
        );
        assert!(ErrorCode::MalformedRequest.is_definite());
    }
    let no_type = r#"{"src":"c1","dest":"n1","body":{"msg_id":4242}}"#;
    cluster.write_line("n1", no_type);
    let until = std::time::Instant::now() + PATIENCE;
    let reply = loop {
        let message = cluster
            .next_client_message(until)
            .expect("an answer to the typeless request");
        if message.envelope.body.in_reply_to == Some(4242) {
            break message.envelope;
        }
    };
    assert_eq!(reply.body.error_code(), Some(ErrorCode::MalformedRequest));

    // Still serving.
    let write = Body::new("write")
        .with("key", json!(1))
        .with("value", json!(2));
    cluster.call_until_ok("c1", "n1", write, PATIENCE);
    let reply = cluster
        .call(
            "c1",
            "n1",
            Body::new("read").with("key", json!(1)),
            PATIENCE,
        )
        .expect("a reply");
    assert_eq!(reply.body.fields["value"], json!(2));
    let (clean, logs) = cluster.shutdown();
    assert!(clean[0], "{logs}");
    assert!(logs.contains("peer_messages_rejected: 4"), "{logs}");
    assert!(logs.contains("replies_ignored: 1"), "{logs}");
}

#[test]
fn requests_before_init_are_refused_definitely() {
    let mut node = MaelstromNode::new(Workload::PnCounter, NodeOptions::default()).unwrap();
    let mut out = Vec::new();
    let now = Instant::from_secs(1);
    node.handle_line(
        now,
        r#"{"src":"c1","dest":"n1","body":{"type":"add","msg_id":5,"delta":1}}"#,
        &mut out,
    );
    let reply = messages(&out)[0];
    assert_eq!(
        reply.body.error_code(),
        Some(ErrorCode::TemporarilyUnavailable)
    );
    assert_eq!(reply.body.in_reply_to, Some(5));
    out.clear();

    // A node message before init is dropped, not answered.
    node.handle_line(
        now,
        r#"{"src":"n2","dest":"n1","body":{"type":"delta_sync","msg":"AA=="}}"#,
        &mut out,
    );
    assert!(messages(&out).is_empty());
    assert_eq!(node.stats().peer_messages_rejected, 1);

    // A bad init: this node is not listed.
    out.clear();
    node.handle_line(now, &init_line("n1", &["n2", "n3"]), &mut out);
    assert_eq!(
        messages(&out)[0].body.error_code(),
        Some(ErrorCode::MalformedRequest)
    );
    assert_eq!(node.node_id(), None);

    // A good one, repeated: acknowledged twice. A different one is refused.
    out.clear();
    node.handle_line(now, &init_line("n1", &["n1", "n2"]), &mut out);
    node.handle_line(now, &init_line("n1", &["n1", "n2"]), &mut out);
    let other = json!({"src": "c0", "dest": "n1", "body": {"type": "init", "msg_id": 2, "node_id": "n2", "node_ids": ["n1", "n2"]}});
    node.handle_line(now, &other.to_string(), &mut out);
    let kinds: Vec<_> = messages(&out)
        .iter()
        .map(|m| (m.body.kind.clone(), m.body.error_code()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("init_ok".to_string(), None),
            ("init_ok".to_string(), None),
            ("error".to_string(), Some(ErrorCode::MalformedRequest))
        ]
    );
    // Every message the node sends has its own msg_id.
    let mut ids: Vec<u64> = messages(&out)
        .iter()
        .filter_map(|m| m.body.msg_id)
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

fn initialised(workload: Workload) -> MaelstromNode {
    let mut node = MaelstromNode::new(workload, NodeOptions::default()).expect("valid options");
    let mut out = Vec::new();
    node.handle_line(
        Instant::from_secs(1),
        &init_line("n1", &["n1", "n2", "n3"]),
        &mut out,
    );
    assert_eq!(messages(&out)[0].body.kind, "init_ok");
    node
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any line, for any workload: no panic, and anything sent back is a
    /// well-formed answer.
    #[test]
    fn arbitrary_lines_never_panic(line in ".{0,200}", workload in 0..5usize) {
        let mut node = initialised(Workload::ALL[workload]);
        let mut out = Vec::new();
        node.handle_line(Instant::from_secs(2), &line, &mut out);
        for message in messages(&out) {
            prop_assert!(message.body.in_reply_to.is_some() || message.body.kind == "raft");
        }
    }

    /// Lines that are almost requests: real field names with arbitrary
    /// values.
    #[test]
    fn near_miss_requests_never_panic(
        kind in prop::sample::select(vec!["read", "write", "cas", "add", "broadcast", "topology", "init", "raft", "delta_sync"]),
        field in prop::sample::select(vec!["key", "value", "from", "to", "delta", "element", "message", "topology", "msg", "node_ids"]),
        value in prop_oneof![
            any::<i64>().prop_map(|v| json!(v)),
            ".{0,20}".prop_map(|v| json!(v)),
            Just(json!(null)),
            Just(json!({"n1": ["n2"], "n2": "x"})),
            Just(json!([1, "a", null])),
            Just(json!(-1)),
        ],
        workload in 0..5usize,
    ) {
        let mut node = initialised(Workload::ALL[workload]);
        let line = json!({"src": "n2", "dest": "n1", "body": {"type": kind, "msg_id": 3, field: value}}).to_string();
        let mut out = Vec::new();
        node.handle_line(Instant::from_secs(2), &line, &mut out);
        node.tick(Instant::from_secs(3), &mut out);
    }

    /// Random payloads in node-to-node messages of both kinds are dropped
    /// and counted, never applied or panicked on; so are valid Raft
    /// messages with a byte flipped.
    #[test]
    fn random_peer_payloads_are_dropped(bytes in prop::collection::vec(any::<u8>(), 0..64), workload in 0..5usize, flip in any::<usize>()) {
        let mut node = initialised(Workload::ALL[workload]);
        let mut out = Vec::new();
        let kind = if workload == 0 { "raft" } else { "delta_sync" };
        let line = json!({"src": "n2", "dest": "n1", "body": {"type": kind, "msg": BASE64.encode(&bytes)}}).to_string();
        node.handle_line(Instant::from_secs(2), &line, &mut out);

        let mut valid = encode_raft_message::<KvCommand>(&Message::Heartbeat(Heartbeat { term: 1, commit: 0, round: 1 }));
        let at = flip % valid.len();
        valid[at] ^= 0x80;
        let decoded = decode_raft_message::<KvCommand>(&valid);
        prop_assert!(at > 0 || decoded.is_err(), "the tag byte changed: must not decode");
    }
}

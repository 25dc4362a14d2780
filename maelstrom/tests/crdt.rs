//! The CRDT workloads end to end: `tessera-maelstrom` processes behind the
//! in-test router, clients playing Maelstrom's g-counter, pn-counter, g-set
//! and broadcast workloads, a node cut off for a while, and every node's
//! final read checked as Maelstrom's checkers do: counters equal the sum of
//! the acknowledged adds, sets hold every acknowledged element.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant as WallInstant};

use common::{Cluster, field};
use serde_json::{Value, json};
use tessera_core::SeededRng;
use tessera_maelstrom::{Body, ErrorCode};

const PATIENCE: Duration = Duration::from_secs(10);

/// Reads `node` until `done` holds for the read's `field`, or fails after
/// [`PATIENCE`].
fn read_until(
    cluster: &mut Cluster,
    node: &str,
    name: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let until = WallInstant::now() + PATIENCE;
    loop {
        let reply = cluster
            .call("c9", node, Body::new("read"), PATIENCE)
            .expect("a read reply");
        assert_eq!(reply.body.kind, "read_ok", "{:?}", reply.body);
        let value = field(&reply, name).clone();
        if done(&value) {
            return value;
        }
        assert!(
            WallInstant::now() < until,
            "{node} still reads {value} after {PATIENCE:?}\n{}",
            cluster.logs()
        );
        cluster.pump(Duration::from_millis(20));
    }
}

/// Adds `deltas` through random nodes, one acknowledged add at a time;
/// returns their sum.
fn add_all(cluster: &mut Cluster, rng: &mut SeededRng, nodes: &[String], deltas: &[i64]) -> i64 {
    for delta in deltas {
        let node = rng.pick(nodes).expect("nodes");
        let add = Body::new("add").with("delta", json!(delta));
        let reply = cluster
            .call("c1", node, add, PATIENCE)
            .expect("an add reply");
        assert_eq!(reply.body.kind, "add_ok", "{:?}", reply.body);
    }
    deltas.iter().sum()
}

/// Adds through every node, some while a node is cut off; the cut-off node
/// keeps accepting adds (a CRDT stays available), falls behind, and once
/// healed every node reads the sum of every add.
fn counter_converges(workload: &str, negative: bool) {
    let mut cluster = Cluster::start(workload, 3, &[]);
    let names = cluster.names();
    let mut rng = SeededRng::new(5);
    let mut delta = || {
        let magnitude = rng.range(0, 20) as i64;
        if negative && magnitude % 3 == 0 {
            -magnitude
        } else {
            magnitude
        }
    };
    let before: Vec<i64> = (0..20).map(|_| delta()).collect();
    let during: Vec<i64> = (0..20).map(|_| delta()).collect();
    let after: Vec<i64> = (0..10).map(|_| delta()).collect();
    let mut pick = SeededRng::new(6);

    let mut sum = add_all(&mut cluster, &mut pick, &names, &before);
    for node in &names {
        read_until(&mut cluster, node, "value", |v| v.as_i64() == Some(sum));
    }

    cluster.isolate("n3");
    let others = [names[0].clone(), names[1].clone()];
    let apart = add_all(&mut cluster, &mut pick, &others, &during);
    let alone = add_all(&mut cluster, &mut pick, &names[2..], &[7]);
    cluster.pump(Duration::from_millis(300));
    // Apart, each side sees only its own adds.
    read_until(&mut cluster, "n1", "value", |v| {
        v.as_i64() == Some(sum + apart)
    });
    let isolated = read_until(&mut cluster, "n3", "value", |_| true);
    assert_eq!(isolated.as_i64(), Some(sum + alone), "n3 is cut off");
    sum += apart + alone;

    cluster.heal();
    sum += add_all(&mut cluster, &mut pick, &names, &after);
    for node in &names {
        read_until(&mut cluster, node, "value", |v| v.as_i64() == Some(sum));
    }
    let (clean, logs) = cluster.shutdown();
    assert!(clean.iter().all(|c| *c), "{logs}");
    assert!(
        logs.contains("delta-sync mode: converging → partitioned"),
        "{logs}"
    );
}

#[test]
fn g_counter_converges_to_the_sum_of_the_adds() {
    counter_converges("g-counter", false);
}

#[test]
fn pn_counter_converges_to_the_sum_of_the_adds() {
    counter_converges("pn-counter", true);
}

#[test]
fn g_counter_refuses_a_negative_add_definitely() {
    let mut cluster = Cluster::start("g-counter", 1, &[]);
    let add = Body::new("add").with("delta", json!(-1));
    let reply = cluster.call("c1", "n1", add, PATIENCE).expect("a reply");
    assert_eq!(reply.body.error_code(), Some(ErrorCode::MalformedRequest));
    let reply = cluster
        .call("c1", "n1", Body::new("read"), PATIENCE)
        .expect("a reply");
    assert_eq!(field(&reply, "value"), &json!(0), "nothing was added");
    cluster.shutdown();
}

fn as_set(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(Value::to_string)
        .collect()
}

/// Elements added at every node, some while one node is cut off, reach
/// every node once healed; any JSON value is an element.
#[test]
fn g_set_delivers_every_element_everywhere_after_a_partition() {
    let mut cluster = Cluster::start("g-set", 3, &[]);
    let names = cluster.names();
    let mut expected = BTreeSet::new();
    let mut add = |cluster: &mut Cluster, node: &str, element: Value| {
        let body = Body::new("add").with("element", element.clone());
        let reply = cluster
            .call("c1", node, body, PATIENCE)
            .expect("an add reply");
        assert_eq!(reply.body.kind, "add_ok");
        expected.insert(element.to_string());
    };
    for i in 0..12 {
        add(&mut cluster, &names[i % 3], json!(i));
    }
    add(&mut cluster, "n1", json!({"a": [1, 2], "b": null}));
    cluster.isolate("n2");
    for i in 100..110 {
        add(&mut cluster, &names[(i % 2) * 2], json!(i));
    }
    add(&mut cluster, "n2", json!("only n2 has me"));
    cluster.pump(Duration::from_millis(300));
    let isolated = read_until(&mut cluster, "n2", "value", |_| true);
    assert!(
        !as_set(&isolated).contains("100"),
        "n2 is cut off: {isolated}"
    );
    cluster.heal();
    for node in &names {
        read_until(&mut cluster, node, "value", |v| as_set(v) == expected);
    }
    cluster.shutdown();
}

/// Broadcast on a line of five nodes (n1 – n2 – n3 – n4 – n5): values
/// travel hop by hop through the neighbours the topology names, and reach
/// every node also when the middle node was cut off for a while.
#[test]
fn broadcast_reaches_every_node_along_the_topology() {
    let mut cluster = Cluster::start("broadcast", 5, &[]);
    let names = cluster.names();
    let mut topology = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let mut neighbours = Vec::new();
        if i > 0 {
            neighbours.push(names[i - 1].clone());
        }
        if i + 1 < names.len() {
            neighbours.push(names[i + 1].clone());
        }
        topology.insert(name.clone(), json!(neighbours));
    }
    for name in &names {
        let body = Body::new("topology").with("topology", Value::Object(topology.clone()));
        let reply = cluster.call("c0", name, body, PATIENCE).expect("a reply");
        assert_eq!(reply.body.kind, "topology_ok");
    }
    let mut rng = SeededRng::new(9);
    let mut expected = BTreeSet::new();
    let mut broadcast = |cluster: &mut Cluster, node: &str, message: i64| {
        let body = Body::new("broadcast").with("message", json!(message));
        let reply = cluster.call("c1", node, body, PATIENCE).expect("a reply");
        assert_eq!(reply.body.kind, "broadcast_ok");
        expected.insert(message.to_string());
    };
    for message in 0..15 {
        let node = rng.pick(&names).expect("nodes").clone();
        broadcast(&mut cluster, &node, message);
    }
    cluster.isolate("n3");
    for message in 100..110 {
        let node = if message % 2 == 0 { "n1" } else { "n5" };
        broadcast(&mut cluster, node, message);
    }
    cluster.pump(Duration::from_millis(300));
    // The line is cut: n1's values cannot have crossed to n5.
    let far = read_until(&mut cluster, "n5", "messages", |_| true);
    assert!(
        !as_set(&far).contains("100"),
        "n3 carries nothing while cut off: {far}"
    );
    cluster.heal();
    for node in &names {
        read_until(&mut cluster, node, "messages", |v| as_set(v) == expected);
    }
    let (clean, logs) = cluster.shutdown();
    assert!(clean.iter().all(|c| *c), "{logs}");
    // Each node synced with its topology neighbours only.
    assert!(
        logs.contains("delta sync: peers [2, 4]"),
        "n3's neighbours\n{logs}"
    );
    assert!(
        logs.contains("delta sync: peers [4]"),
        "n5's neighbour\n{logs}"
    );
}

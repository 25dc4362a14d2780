//! lin-kv end to end: `tessera-maelstrom lin-kv` processes behind the
//! in-test router, clients playing Maelstrom's lin-kv workload, and every
//! history checked with tessera-sim's linearizability checker — the check
//! Maelstrom runs (Knossos) on the same kind of history.

mod common;

use std::time::{Duration, Instant as WallInstant};

use common::{Cluster, field};
use serde_json::json;
use tessera_core::SeededRng;
use tessera_maelstrom::{Body, ErrorCode};
use tessera_sim::{
    History, KvModel, KvOp, LinearizabilityChecker, OpId, Outcome, RegisterOp, RegisterRet,
};

type KvHistory = History<KvOp<i64, i64>, RegisterRet<i64>>;

/// Keys written; reads and compare-and-sets also use key `KEYS`, which is
/// never written, so histories always hold reads of a missing key.
const KEYS: u64 = 3;
/// A client that hears nothing for this long records the operation as
/// indefinite and moves on, as Maelstrom's clients do (after one second).
const CLIENT_PATIENCE: Duration = Duration::from_secs(2);

fn error_code(reply: &tessera_maelstrom::Envelope) -> Option<ErrorCode> {
    reply.body.error_code()
}

/// Maelstrom's lin-kv requests, from the first request to the last, with
/// every node answering: writes and reads forwarded by followers, a missing
/// key, compare-and-set failures of both kinds.
#[test]
fn every_request_is_answered_through_every_node() {
    let mut cluster = Cluster::start("lin-kv", 3, &[]);
    let patience = Duration::from_secs(10);
    // The first write succeeds once a leader is elected.
    let write = Body::new("write")
        .with("key", json!(1))
        .with("value", json!(10));
    let reply = cluster.call_until_ok("c1", "n1", write, patience);
    assert_eq!(reply.body.kind, "write_ok");

    for node in cluster.names() {
        // A key never written: definite key-does-not-exist, for a read and
        // for a compare-and-set.
        let read = Body::new("read").with("key", json!(99));
        let reply = cluster.call("c1", &node, read, patience).expect("a reply");
        assert_eq!(
            error_code(&reply),
            Some(ErrorCode::KeyDoesNotExist),
            "{node}: {:?}",
            reply.body
        );
        let cas = Body::new("cas")
            .with("key", json!(99))
            .with("from", json!(1))
            .with("to", json!(2));
        let reply = cluster.call("c1", &node, cas, patience).expect("a reply");
        assert_eq!(
            error_code(&reply),
            Some(ErrorCode::KeyDoesNotExist),
            "{node}"
        );

        // Read what the last node wrote, then move it on with a
        // compare-and-set: a wrong `from` fails with precondition-failed.
        let read = Body::new("read").with("key", json!(1));
        let reply = cluster.call("c1", &node, read, patience).expect("a reply");
        assert_eq!(reply.body.kind, "read_ok", "{node}: {:?}", reply.body);
        let current = field(&reply, "value").as_i64().expect("an integer");
        let wrong = Body::new("cas")
            .with("key", json!(1))
            .with("from", json!(current + 100))
            .with("to", json!(0));
        let reply = cluster.call("c1", &node, wrong, patience).expect("a reply");
        assert_eq!(
            error_code(&reply),
            Some(ErrorCode::PreconditionFailed),
            "{node}"
        );
        let cas = Body::new("cas")
            .with("key", json!(1))
            .with("from", json!(current))
            .with("to", json!(current + 1));
        let reply = cluster.call("c1", &node, cas, patience).expect("a reply");
        assert_eq!(reply.body.kind, "cas_ok", "{node}: {:?}", reply.body);

        // Keys and values are any JSON: objects compare by content, not by
        // the order their fields were written in.
        let key = json!({"user": node, "n": [1, 2]});
        let write = Body::new("write")
            .with("key", key.clone())
            .with("value", json!({"a": 1, "b": 2}));
        let reply = cluster.call("c1", &node, write, patience).expect("a reply");
        assert_eq!(reply.body.kind, "write_ok");
        let reordered: serde_json::Value =
            serde_json::from_str(r#"{"b": 2, "a": 1}"#).expect("json");
        let cas = Body::new("cas")
            .with("key", key)
            .with("from", reordered)
            .with("to", json!("done"));
        let reply = cluster.call("c1", &node, cas, patience).expect("a reply");
        assert_eq!(reply.body.kind, "cas_ok", "{node}: {:?}", reply.body);
    }
    let read = Body::new("read").with("key", json!(1));
    let reply = cluster.call("c1", "n2", read, patience).expect("a reply");
    assert_eq!(field(&reply, "value"), &json!(13));

    // A request that lacks a field is refused, definitely.
    let reply = cluster
        .call(
            "c1",
            "n3",
            Body::new("write").with("key", json!(1)),
            patience,
        )
        .expect("a reply");
    assert_eq!(error_code(&reply), Some(ErrorCode::MalformedRequest));
    let (clean, logs) = cluster.shutdown();
    assert!(
        clean.iter().all(|clean| *clean),
        "every node exits cleanly at the end of input\n{logs}"
    );
    assert_eq!(logs.matches("input ended; raft:").count(), 3, "{logs}");
}

/// What a client is waiting for.
struct Waiting {
    msg_id: u64,
    op: OpId,
    cas: bool,
    read: bool,
    deadline: WallInstant,
}

/// Outcomes, for the assertions that the run exercised what it should.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    missing_reads: usize,
    failed_cas: usize,
    definite_errors: usize,
    indefinite: usize,
}

/// Runs `clients` clients for `duration`, each sending random reads,
/// writes and compare-and-sets to random nodes, one at a time; `nemesis`
/// is called as time passes, to partition and heal.
fn run_workload(
    cluster: &mut Cluster,
    seed: u64,
    clients: u64,
    duration: Duration,
    mut nemesis: impl FnMut(&mut Cluster, Duration),
) -> (KvHistory, Tally) {
    let mut rng = SeededRng::new(seed);
    let mut history = KvHistory::new();
    let mut tally = Tally::default();
    let names = cluster.names();
    // process ids: a client that gives up on an operation continues as a
    // new process, as in Jepsen (the old one may still be running).
    let mut process: Vec<u64> = (0..clients).collect();
    let mut next_process = clients;
    let mut waiting: Vec<Option<Waiting>> = (0..clients).map(|_| None).collect();
    let mut next_value = 1;
    let begin = WallInstant::now();
    loop {
        let elapsed = begin.elapsed();
        nemesis(cluster, elapsed);
        let running = elapsed < duration;
        for client in 0..clients as usize {
            if waiting[client].is_some() || !running {
                continue;
            }
            let key = rng.below(KEYS + 1) as i64;
            let (key, op, body) = match rng.below(3) {
                0 => (
                    key,
                    RegisterOp::Read,
                    Body::new("read").with("key", json!(key)),
                ),
                1 => {
                    let key = key % KEYS as i64;
                    next_value += 1;
                    (
                        key,
                        RegisterOp::Write(next_value),
                        Body::new("write")
                            .with("key", json!(key))
                            .with("value", json!(next_value)),
                    )
                }
                _ => {
                    // Small values, so that compare-and-sets both succeed and fail.
                    let expected = next_value - rng.below(3) as i64;
                    next_value += 1;
                    (
                        key,
                        RegisterOp::Cas {
                            expected,
                            new: next_value,
                        },
                        Body::new("cas")
                            .with("key", json!(key))
                            .with("from", json!(expected))
                            .with("to", json!(next_value)),
                    )
                }
            };
            let node = &names[rng.below(names.len() as u64) as usize];
            let (cas, read) = (matches!(op, RegisterOp::Cas { .. }), op == RegisterOp::Read);
            let id = history
                .invoke(process[client], KvOp { key, op }, cluster.now())
                .expect("one operation per process");
            let msg_id = cluster.send(&format!("c{}", client + 1), node, body);
            waiting[client] = Some(Waiting {
                msg_id,
                op: id,
                cas,
                read,
                deadline: WallInstant::now() + CLIENT_PATIENCE,
            });
        }
        if !running && waiting.iter().all(Option::is_none) {
            break;
        }
        // Give up on what took too long.
        for client in 0..clients as usize {
            if waiting[client]
                .as_ref()
                .is_some_and(|w| w.deadline <= WallInstant::now())
            {
                let gone = waiting[client].take().expect("checked");
                history.info(gone.op, cluster.now()).expect("pending");
                tally.indefinite += 1;
                process[client] = next_process;
                next_process += 1;
            }
        }
        let until = WallInstant::now() + Duration::from_millis(20);
        while let Some(message) = cluster.next_client_message(until) {
            let Some(client) = message
                .envelope
                .dest
                .strip_prefix('c')
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            let client = client - 1;
            let Some(w) = waiting.get(client).and_then(Option::as_ref) else {
                continue; // a late reply to an operation given up on
            };
            if message.envelope.body.in_reply_to != Some(w.msg_id) {
                continue;
            }
            let w = waiting[client].take().expect("checked");
            let body = &message.envelope.body;
            let at = message.at;
            match (body.kind.as_str(), body.error_code()) {
                ("read_ok", _) => {
                    let value = body.fields["value"].as_i64().expect("integer value");
                    history
                        .ok(w.op, RegisterRet::Read(Some(value)), at)
                        .expect("pending");
                    tally.ok += 1;
                }
                ("write_ok", _) => {
                    history.ok(w.op, RegisterRet::Done, at).expect("pending");
                    tally.ok += 1;
                }
                ("cas_ok", _) => {
                    history
                        .ok(w.op, RegisterRet::Cas(true), at)
                        .expect("pending");
                    tally.ok += 1;
                }
                // Key-does-not-exist and precondition-failed are results.
                ("error", Some(ErrorCode::KeyDoesNotExist)) if w.read => {
                    history
                        .ok(w.op, RegisterRet::Read(None), at)
                        .expect("pending");
                    tally.missing_reads += 1;
                }
                ("error", Some(ErrorCode::KeyDoesNotExist | ErrorCode::PreconditionFailed))
                    if w.cas =>
                {
                    history
                        .ok(w.op, RegisterRet::Cas(false), at)
                        .expect("pending");
                    tally.failed_cas += 1;
                }
                ("error", Some(code)) if code.is_definite() => {
                    history.fail(w.op, at).expect("pending");
                    tally.definite_errors += 1;
                }
                ("error", Some(_)) => {
                    history.info(w.op, at).expect("pending");
                    tally.indefinite += 1;
                    process[client] = next_process;
                    next_process += 1;
                }
                other => panic!("unexpected reply {other:?}: {body:?}"),
            }
        }
    }
    (history, tally)
}

fn assert_linearizable(history: &KvHistory, cluster: &Cluster) {
    let report = LinearizabilityChecker::new(KvModel::<i64, i64>::new()).check(history);
    assert!(
        report.is_linearizable(),
        "{:?}\nhistory: {:?}\n{}",
        report.verdict,
        history.summary(),
        cluster.logs()
    );
}

/// `history` with one operation's outcome replaced: the events are
/// replayed in time order into a new history.
fn with_outcome(
    history: &KvHistory,
    target: OpId,
    outcome: Outcome<RegisterRet<i64>>,
) -> KvHistory {
    let mut events = Vec::new();
    for op in history.operations() {
        events.push((op.invoked_at, 0, op.id));
        if let Some(at) = op.completed_at {
            events.push((at, 1, op.id));
        }
    }
    events.sort();
    let mut copy = KvHistory::new();
    let mut ids = std::collections::BTreeMap::new();
    for (at, kind, id) in events {
        let op = history.get(id).expect("recorded");
        if kind == 0 {
            ids.insert(
                id,
                copy.invoke(op.process, op.input.clone(), at)
                    .expect("replay"),
            );
            continue;
        }
        let new = ids[&id];
        let outcome = if id == target {
            outcome.clone()
        } else {
            op.outcome.clone()
        };
        match outcome {
            Outcome::Ok(output) => copy.ok(new, output, at),
            Outcome::Fail => copy.fail(new, at),
            Outcome::Info | Outcome::Pending => copy.info(new, at),
        }
        .expect("replay");
    }
    copy
}

/// Five clients against three nodes, requests spread over every node: the
/// history is linearizable, and it contains successes, reads of missing
/// keys and failed compare-and-sets. Had a node answered a write that took
/// effect with a definite error, the checker would have caught it: the
/// same history with one such write turned into a failure is refused.
#[test]
fn concurrent_clients_see_a_linearizable_store() {
    let mut cluster = Cluster::start("lin-kv", 3, &[]);
    let ready = Body::new("write")
        .with("key", json!(100))
        .with("value", json!(0));
    cluster.call_until_ok("c0", "n1", ready, Duration::from_secs(10));
    let (history, tally) = run_workload(&mut cluster, 11, 5, Duration::from_secs(3), |_, _| {});
    eprintln!("{tally:?} {:?}", history.summary());
    assert_linearizable(&history, &cluster);
    assert!(tally.ok >= 30, "{tally:?}");
    assert!(tally.failed_cas > 0, "{tally:?}");
    assert!(tally.missing_reads > 0, "{tally:?}");

    // A write whose value was read, reported as definitely failed.
    let read_values: Vec<(i64, i64)> = history
        .operations()
        .iter()
        .filter_map(|op| match (&op.input.op, &op.outcome) {
            (RegisterOp::Read, Outcome::Ok(RegisterRet::Read(Some(v)))) => Some((op.input.key, *v)),
            _ => None,
        })
        .collect();
    let observed_write = history
        .operations()
        .iter()
        .find(|op| match (&op.input.op, &op.outcome) {
            (RegisterOp::Write(v), Outcome::Ok(_)) => read_values.contains(&(op.input.key, *v)),
            _ => false,
        })
        .expect("some write was read");
    let wrong = with_outcome(&history, observed_write.id, Outcome::Fail);
    let report = LinearizabilityChecker::new(KvModel::<i64, i64>::new()).check(&wrong);
    assert!(
        !report.is_linearizable(),
        "a wrong definite error must be caught"
    );
    // Reported as indefinite instead, the history is fine again.
    let unknown = with_outcome(&history, observed_write.id, Outcome::Info);
    assert!(
        LinearizabilityChecker::new(KvModel::<i64, i64>::new())
            .check(&unknown)
            .is_linearizable()
    );
    cluster.shutdown();
}

/// Five nodes; the router cuts off the leader, later another node, while
/// clients keep going. Requests at the isolated node fail or time out —
/// never with a wrong definite answer: the history stays linearizable —
/// and once healed every node serves again. Snapshots every 20 entries make
/// an isolated node fall behind the compacted log, so it catches up from a
/// snapshot sent as Maelstrom messages.
#[test]
fn partitions_never_produce_a_wrong_answer() {
    let mut cluster = Cluster::start("lin-kv", 5, &["--snapshot-entries", "20"]);
    let ready = Body::new("write")
        .with("key", json!(100))
        .with("value", json!(0));
    cluster.call_until_ok("c0", "n1", ready, Duration::from_secs(10));
    let mut phase = 0;
    let mut cut = Vec::new();
    let (history, tally) = run_workload(
        &mut cluster,
        29,
        5,
        Duration::from_secs(6),
        |cluster, elapsed| {
            let next = match elapsed.as_millis() {
                0..1_000 => 0,
                1_000..2_500 => 1,
                2_500..3_000 => 2,
                3_000..4_500 => 3,
                _ => 4,
            };
            if next == phase {
                return;
            }
            phase = next;
            match phase {
                1 | 3 => {
                    let victim = cluster
                        .leader()
                        .filter(|leader| !cut.contains(leader))
                        .unwrap_or_else(|| {
                            if cut.contains(&"n2".to_string()) {
                                "n4".into()
                            } else {
                                "n2".into()
                            }
                        });
                    cluster.isolate(&victim);
                    cut.push(victim);
                }
                _ => cluster.heal(),
            }
        },
    );
    eprintln!(
        "{tally:?} {:?} {:?} cut {cut:?}",
        history.summary(),
        cluster.stats
    );
    assert_linearizable(&history, &cluster);
    assert!(
        cluster.stats.node_messages_dropped > 0,
        "the partition dropped traffic"
    );
    assert!(tally.ok >= 20, "{tally:?}");

    // Healed: every node answers, and sees the last value written through
    // another node.
    let write = Body::new("write")
        .with("key", json!(7))
        .with("value", json!(-1));
    cluster.call_until_ok("c9", "n5", write, Duration::from_secs(10));
    for node in cluster.names() {
        let read = Body::new("read").with("key", json!(7));
        let reply = cluster.call_until_ok("c9", &node, read, Duration::from_secs(10));
        assert_eq!(field(&reply, "value"), &json!(-1), "{node}");
    }
    assert_eq!(cut.len(), 2, "two nodes were cut off: {cut:?}");
    let (clean, logs) = cluster.shutdown();
    assert!(clean.iter().all(|clean| *clean), "{logs}");
    // A node cut off for 1.5 s misses far more than the 2 entries kept
    // behind a snapshot: it catches up from a snapshot.
    let installed: u64 = logs
        .lines()
        .filter_map(|line| line.split("installed ").nth(1))
        .filter_map(|rest| rest.split(';').next()?.parse::<u64>().ok())
        .sum();
    assert!(installed > 0, "no snapshot was installed\n{logs}");
    eprintln!(
        "{}",
        logs.lines()
            .filter(|l| l.contains("input ended"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

//! The sequence CRDT replays real editing traces — josephg's
//! editing-traces (data/editing-traces/, see its README) — one operation
//! per edit, and reaches each trace's exact final text.
//!
//! The sequential traces run as one author typing; the concurrent
//! `friendsforever` trace runs as two replicas, each editing its own copy
//! and merging the other's operations exactly when the trace says it saw
//! them (its `parents`), then merging everything at the end.
//!
//! All traces replay in full by default: the workspace's dev profile
//! optimises (opt-level 1), and the automerge-paper trace (259,778 edits)
//! takes well under a second there. `TESSERA_TRACE_PREFIX=N` replays only
//! the first N transactions of each trace (checking the text against a
//! plain string model instead of `endContent`), for slow debug builds.

use std::io::Read;

use serde_json::Value;
use tessera_crdt::{CrdtEncoding, StateCrdt, Text};
use tessera_vclock::VersionVector;

const TRACES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/editing-traces");

/// One patch: delete `delete` characters at `position`, then insert `insert`.
#[derive(Debug, Clone)]
struct Patch {
    position: usize,
    delete: usize,
    insert: String,
}

#[derive(Debug, Clone)]
struct Transaction {
    parents: Vec<usize>,
    agent: usize,
    patches: Vec<Patch>,
}

#[derive(Debug)]
struct Trace {
    start: String,
    end: String,
    transactions: Vec<Transaction>,
}

fn load(path: &str) -> Trace {
    let file = std::fs::File::open(format!("{TRACES}/{path}")).expect("trace file present");
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .expect("a gzipped trace");
    let value: Value = serde_json::from_str(&json).expect("a JSON trace");
    let text = |key: &str| value[key].as_str().map(str::to_string).unwrap_or_default();
    let transactions = value["txns"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|txn| Transaction {
            parents: txn["parents"]
                .as_array()
                .map(|parents| {
                    parents
                        .iter()
                        .map(|p| p.as_u64().expect("parent index") as usize)
                        .collect()
                })
                .unwrap_or_default(),
            agent: txn["agent"].as_u64().unwrap_or(0) as usize,
            patches: txn["patches"]
                .as_array()
                .expect("patches")
                .iter()
                .map(|patch| Patch {
                    position: patch[0].as_u64().expect("position") as usize,
                    delete: patch[1].as_u64().expect("delete count") as usize,
                    insert: patch[2].as_str().expect("inserted text").to_string(),
                })
                .collect(),
        })
        .collect();
    Trace {
        start: text("startContent"),
        end: text("endContent"),
        transactions,
    }
}

fn prefix() -> Option<usize> {
    std::env::var("TESSERA_TRACE_PREFIX").ok().map(|count| {
        count
            .trim()
            .parse()
            .expect("TESSERA_TRACE_PREFIX is a number")
    })
}

/// Applies one patch to the CRDT (one operation per delete and per insert,
/// as an editor would) and, if given, to a plain string model.
fn apply(text: &mut Text, model: Option<&mut Vec<char>>, actor: u64, patch: &Patch) {
    if patch.delete > 0 {
        text.delete(actor, patch.position, patch.delete)
            .expect("delete within the document");
    }
    if !patch.insert.is_empty() {
        text.insert_str(actor, patch.position, &patch.insert)
            .expect("insert within the document");
    }
    if let Some(model) = model {
        model.drain(patch.position..patch.position + patch.delete);
        let at = patch.position;
        model.splice(at..at, patch.insert.chars());
    }
}

fn replay_sequential(path: &str) {
    let trace = load(path);
    let mut text = Text::new();
    text.insert_str(1, 0, &trace.start).expect("start content");
    // A prefix has no known final text: a plain string model checks it.
    let limit = prefix().unwrap_or(trace.transactions.len());
    let mut model: Option<Vec<char>> =
        (limit < trace.transactions.len()).then(|| trace.start.chars().collect());
    for transaction in trace.transactions.iter().take(limit) {
        for patch in &transaction.patches {
            apply(&mut text, model.as_mut(), 1, patch);
        }
    }
    let result = text.to_string();
    match model {
        None => {
            assert_eq!(result.len(), trace.end.len(), "{path}: length");
            assert!(
                result == trace.end,
                "{path}: the final text differs from endContent"
            );
        }
        Some(model) => assert_eq!(result, model.iter().collect::<String>(), "{path}: model"),
    }

    // The encoding round-trips and replays to the same document.
    let bytes = text.to_bytes();
    let decoded = Text::from_bytes(&bytes).expect("decodes");
    assert_eq!(decoded, text);
    assert_eq!(decoded.to_string(), result);
}

#[test]
fn automerge_paper_replays_to_its_exact_final_text() {
    replay_sequential("sequential/automerge-paper.json.gz");
}

#[test]
fn seph_blog_replays_to_its_exact_final_text() {
    replay_sequential("sequential/seph-blog1.json.gz");
}

#[test]
fn friendsforever_flat_replays_to_its_exact_final_text() {
    replay_sequential("sequential/friendsforever_flat.json.gz");
}

/// The operations of `source` a replica at `known` lacks, up to `target`.
fn ops_between(
    source: &Text,
    known: &VersionVector,
    target: &VersionVector,
) -> tessera_crdt::SequenceDelta<char> {
    use tessera_crdt::SequenceOp;
    let ops = source
        .ops_since(known)
        .into_ops()
        .into_iter()
        .filter_map(|mut op| {
            let limit = target.get(op.id().actor);
            if op.id().counter > limit {
                return None;
            }
            let keep = limit - op.id().counter + 1;
            match &mut op {
                SequenceOp::Insert { values, .. } => values.truncate(keep as usize),
                SequenceOp::Delete { len, .. } => *len = (*len).min(keep),
            }
            Some(op)
        });
    tessera_crdt::SequenceDelta::from_ops(ops)
}

#[test]
fn friendsforever_replays_through_two_concurrent_replicas() {
    let trace = load("concurrent/friendsforever.json.gz");
    let agents = trace
        .transactions
        .iter()
        .map(|txn| txn.agent)
        .max()
        .unwrap_or(0)
        + 1;
    assert_eq!(agents, 2, "the trace has two authors");
    // Author `a` is node `a + 1`, editing its own replica.
    let mut replicas: Vec<Text> = (0..agents).map(|_| Text::new()).collect();
    let mut versions_after: Vec<VersionVector> = Vec::with_capacity(trace.transactions.len());
    let limit = prefix().unwrap_or(trace.transactions.len());
    for transaction in trace.transactions.iter().take(limit) {
        // The document the author saw: the join of its parents.
        let mut target = VersionVector::new();
        for parent in &transaction.parents {
            target.merge(&versions_after[*parent]);
        }
        let author = transaction.agent;
        let known = replicas[author].version();
        assert!(
            target.descends(&known),
            "the author's replica holds only what its parents hold"
        );
        for other in 0..agents {
            if other != author {
                let delta = ops_between(&replicas[other], &replicas[author].version(), &target);
                tessera_crdt::DeltaCrdt::join_delta(&mut replicas[author], &delta);
            }
        }
        assert_eq!(
            replicas[author].version(),
            target,
            "caught up to the parents"
        );
        assert_eq!(replicas[author].pending_len(), 0);
        for patch in &transaction.patches {
            apply(&mut replicas[author], None, author as u64 + 1, patch);
        }
        versions_after.push(replicas[author].version());
    }
    // Both replicas merge everything.
    let (first, second) = replicas.split_at_mut(1);
    first[0].merge(&second[0]);
    second[0].merge(&first[0]);
    assert_eq!(first[0], second[0], "CONVERGENCE");
    if limit >= trace.transactions.len() {
        assert!(
            first[0].to_string() == trace.end,
            "the merged text differs from endContent"
        );
    }
}

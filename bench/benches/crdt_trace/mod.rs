//! Loads an editing trace from data/editing-traces/ (josephg's
//! editing-traces; see that folder's README) for the sequence-CRDT
//! benchmarks.

use std::io::Read;

/// One patch: delete `delete` characters at `position`, then insert
/// `insert` there.
pub(crate) struct Patch {
    pub position: usize,
    pub delete: usize,
    pub insert: String,
}

/// A sequential trace: every patch in order, and the final text.
pub(crate) struct Trace {
    pub patches: Vec<Patch>,
    pub end: String,
}

/// Loads `data/editing-traces/<path>` (a gzipped sequential trace).
pub(crate) fn load(path: &str) -> Trace {
    let full = format!(
        "{}/../data/editing-traces/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let file = std::fs::File::open(&full).expect("the trace is in the repository");
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .expect("a gzipped trace");
    let value: serde_json::Value = serde_json::from_str(&json).expect("a JSON trace");
    assert_eq!(
        value["startContent"].as_str(),
        Some(""),
        "traces start empty"
    );
    let mut patches = Vec::new();
    for transaction in value["txns"].as_array().expect("transactions") {
        for patch in transaction["patches"].as_array().expect("patches") {
            patches.push(Patch {
                position: patch[0].as_u64().expect("position") as usize,
                delete: patch[1].as_u64().expect("delete count") as usize,
                insert: patch[2].as_str().expect("inserted text").to_string(),
            });
        }
    }
    Trace {
        patches,
        end: value["endContent"]
            .as_str()
            .expect("final text")
            .to_string(),
    }
}

/// The automerge-paper trace: 259,778 single-character edits.
pub(crate) fn automerge_paper() -> Trace {
    load("sequential/automerge-paper.json.gz")
}

/// Replays `trace` into tessera-crdt's text, one operation per edit.
pub(crate) fn replay_tessera(trace: &Trace) -> tessera_crdt::Text {
    let mut text = tessera_crdt::Text::new();
    for patch in &trace.patches {
        if patch.delete > 0 {
            text.delete(1, patch.position, patch.delete)
                .expect("delete within the text");
        }
        if !patch.insert.is_empty() {
            text.insert_str(1, patch.position, &patch.insert)
                .expect("insert within the text");
        }
    }
    text
}

/// Replays `trace` into a diamond-types list, one local operation per edit.
pub(crate) fn replay_diamond(trace: &Trace) -> diamond_types::list::ListCRDT {
    let mut doc = diamond_types::list::ListCRDT::new();
    let agent = doc.get_or_create_agent_id("bench");
    for patch in &trace.patches {
        if patch.delete > 0 {
            doc.delete(agent, patch.position..patch.position + patch.delete);
        }
        if !patch.insert.is_empty() {
            doc.insert(agent, patch.position, &patch.insert);
        }
    }
    doc
}

/// Replays `trace` into a yrs text, one transaction per edit.
pub(crate) fn replay_yrs(trace: &Trace) -> (yrs::Doc, yrs::TextRef) {
    use yrs::{Text, Transact};
    let doc = yrs::Doc::with_client_id(1);
    let text = doc.get_or_insert_text("text");
    for patch in &trace.patches {
        let mut txn = doc.transact_mut();
        if patch.delete > 0 {
            text.remove_range(&mut txn, patch.position as u32, patch.delete as u32);
        }
        if !patch.insert.is_empty() {
            text.insert(&mut txn, patch.position as u32, &patch.insert);
        }
    }
    (doc, text)
}

/// Replays `trace` into an automerge text, one splice per edit (on an
/// `AutoCommit` document: every splice is applied at once; the change is
/// closed when the document is saved).
pub(crate) fn replay_automerge(trace: &Trace) -> (automerge::AutoCommit, automerge::ObjId) {
    use automerge::transaction::Transactable;
    let mut doc = automerge::AutoCommit::new();
    let text = doc
        .put_object(automerge::ROOT, "text", automerge::ObjType::Text)
        .expect("a text object");
    for patch in &trace.patches {
        doc.splice_text(&text, patch.position, patch.delete as isize, &patch.insert)
            .expect("a splice within the text");
    }
    (doc, text)
}

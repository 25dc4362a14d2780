//! Riak's sibling-explosion example, reproduced.
//!
//! Source: the DVVSet README (ricardobcl/Dotted-Version-Vectors, "Real World
//! with Riak") and Basho's "Vector Clocks Revisited Part 2: Dotted Version
//! Vectors". Two write patterns through one coordinating server:
//!
//! 1. client C writes and reads back; another client writes with no causal
//!    context; repeat;
//! 2. client A writes and reads back; client B writes and reads back; repeat.
//!
//! With one version vector for all siblings (Riak's vnode vector clocks),
//! each write looks concurrent with the stored siblings and 101 writes leave
//! 101 siblings. With a DVVSet they leave 2: the latest write of each side.

use tessera_core::NodeId;
use tessera_vclock::{DvvSet, VersionVector};

const SERVER: NodeId = 1;
const WRITES: usize = 101;

/// One key in a store, as the two clients see it.
trait KeyStore: Default {
    /// A write of `value` by a client whose last read returned `context`.
    fn put(&mut self, context: &VersionVector, value: String);
    /// The context a read returns.
    fn get(&self) -> VersionVector;
    /// The sibling values, newest first.
    fn siblings(&self) -> Vec<String>;
}

/// A key stored Riak's pre-DVV way: one version vector (with the server as
/// the actor) covering every sibling.
#[derive(Default)]
struct VnodeVectorStore {
    clock: VersionVector,
    siblings: Vec<String>,
}

impl KeyStore for VnodeVectorStore {
    /// Riak's vnode vector clock rule: if the incoming context descends the
    /// stored clock, the write replaces everything; otherwise the clocks are
    /// merged and the value is added as a sibling. Either way the server's
    /// entry is incremented.
    fn put(&mut self, context: &VersionVector, value: String) {
        if context.descends(&self.clock) {
            self.clock = context.clone();
            self.siblings = vec![value];
        } else {
            self.clock.merge(context);
            self.siblings.insert(0, value);
        }
        self.clock.increment(SERVER).expect("the counter has room");
    }

    fn get(&self) -> VersionVector {
        self.clock.clone()
    }

    fn siblings(&self) -> Vec<String> {
        self.siblings.clone()
    }
}

/// The same key as a DVVSet.
#[derive(Default)]
struct DvvSetStore {
    clock: DvvSet<String>,
}

impl KeyStore for DvvSetStore {
    fn put(&mut self, context: &VersionVector, value: String) {
        self.clock
            .update(context, value, SERVER)
            .expect("the counter has room");
    }

    fn get(&self) -> VersionVector {
        self.clock.join()
    }

    fn siblings(&self) -> Vec<String> {
        self.clock.values().cloned().collect()
    }
}

/// Pattern 1: client C writes and reads back; another client writes with no
/// context. Returns the store and the most siblings seen along the way.
fn writer_and_blind_writer<S: KeyStore>() -> (S, usize) {
    let mut store = S::default();
    let mut context = VersionVector::new();
    let mut most = 0;
    for write in 1..=WRITES {
        if write % 2 == 1 {
            store.put(&context, format!("v{write}"));
            context = store.get();
        } else {
            store.put(&VersionVector::new(), format!("v{write}"));
        }
        most = most.max(store.siblings().len());
    }
    (store, most)
}

/// Pattern 2: clients A and B take turns, each writing with the context of
/// its own last read, which always misses the other's last write.
fn two_writers_in_turn<S: KeyStore>() -> (S, usize) {
    let mut store = S::default();
    let mut contexts = [VersionVector::new(), VersionVector::new()];
    let mut most = 0;
    for write in 1..=WRITES {
        let client = write % 2;
        store.put(&contexts[client], format!("v{write}"));
        contexts[client] = store.get();
        most = most.max(store.siblings().len());
    }
    (store, most)
}

#[test]
fn pattern_one_version_vectors_explode_and_dvvsets_keep_two() {
    let (vectors, _) = writer_and_blind_writer::<VnodeVectorStore>();
    assert_eq!(vectors.siblings().len(), WRITES, "101 writes, 101 siblings");

    let (dvvset, most) = writer_and_blind_writer::<DvvSetStore>();
    assert_eq!(
        dvvset.siblings(),
        vec!["v101", "v100"],
        "101 writes, 2 siblings"
    );
    // "with DVVSet you have always 2 or 3 siblings"
    assert_eq!(most, 3);
}

#[test]
fn pattern_two_version_vectors_explode_and_dvvsets_keep_two() {
    let (vectors, _) = two_writers_in_turn::<VnodeVectorStore>();
    assert_eq!(vectors.siblings().len(), WRITES, "101 writes, 101 siblings");

    let (dvvset, most) = two_writers_in_turn::<DvvSetStore>();
    assert_eq!(
        dvvset.siblings(),
        vec!["v101", "v100"],
        "101 writes, 2 siblings"
    );
    assert_eq!(most, 2);
    // The history is complete: one event per write.
    assert_eq!(dvvset.get().get(SERVER), WRITES as u64);
}

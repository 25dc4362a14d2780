//! The laws the leaderless half rests on, property-tested: merging
//! versioned objects is commutative, associative, idempotent and
//! order-independent (CONVERGENCE); anti-entropy makes two stores equal
//! whatever they hold; incremental Merkle updates equal a rebuild; and a
//! membership change moves only the ranges next to the node's tokens.

use proptest::prelude::*;
use tessera_core::NodeId;
use tessera_quorum::{
    AntiEntropySession, KeyRange, MerkleTree, ObjectStore, Ring, Version, VersionedObject,
};
use tessera_vclock::{Dot, DottedVersionVector};

/// What happens to a few replicas: a write by one of them (over what it
/// has), or one replica receiving another's object.
#[derive(Debug, Clone)]
enum Step {
    Write { replica: usize, tombstone: bool },
    Sync { from: usize, to: usize },
}

fn steps(replicas: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (0..replicas, any::<bool>()).prop_map(|(replica, tombstone)| Step::Write {
            replica,
            tombstone: tombstone && replica == 0,
        }),
        (0..replicas, 0..replicas).prop_map(|(from, to)| Step::Sync { from, to }),
    ];
    proptest::collection::vec(step, 1..40)
}

/// Plays `steps` as a coordinator-per-replica system does (each replica
/// writes as its own actor over its whole object), returning the replicas'
/// objects and every version ever written.
fn play(replicas: usize, steps: &[Step]) -> (Vec<VersionedObject<u64>>, Vec<Version<u64>>) {
    let mut objects = vec![VersionedObject::new(); replicas];
    let mut counters = vec![0u64; replicas];
    let mut written = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Write { replica, tombstone } => {
                counters[*replica] += 1;
                let dot = Dot::new(*replica as NodeId + 1, counters[*replica]);
                let version = Version {
                    clock: DottedVersionVector::new(dot, objects[*replica].context())
                        .expect("a new dot is outside the context"),
                    value: (!tombstone).then_some(n as u64),
                };
                objects[*replica].add(version.clone());
                written.push(version);
            }
            Step::Sync { from, to } => {
                let incoming = objects[*from].clone();
                objects[*to].merge(&incoming);
            }
        }
    }
    (objects, written)
}

/// A store of `keys` keys over the whole ring, every key's object built
/// from `steps`.
fn store(depth: u8, keys: &[(u32, VersionedObject<u64>)]) -> ObjectStore<u64> {
    let mut store = ObjectStore::new(depth).expect("valid depth");
    for (key, object) in keys {
        store.put(WHOLE_RING, &key.to_le_bytes(), object.clone());
    }
    store
}

const WHOLE_RING: KeyRange = KeyRange {
    start: u64::MAX,
    end: u64::MAX,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// CONVERGENCE: merge is commutative, associative and idempotent.
    #[test]
    fn merge_is_a_semilattice(steps in steps(3)) {
        let (objects, _) = play(3, &steps);
        let (a, b, c) = (&objects[0], &objects[1], &objects[2]);
        let merge = |x: &VersionedObject<u64>, y: &VersionedObject<u64>| {
            let mut z = x.clone();
            z.merge(y);
            z
        };
        prop_assert_eq!(merge(a, b), merge(b, a));
        prop_assert_eq!(merge(&merge(a, b), c), merge(a, &merge(b, c)));
        prop_assert_eq!(merge(a, a), a.clone());
    }

    /// CONVERGENCE: replicas that receive the same versions in any order
    /// end up equal, and keep exactly the versions nothing superseded.
    #[test]
    fn any_delivery_order_gives_the_same_object(steps in steps(3), seed in any::<u64>()) {
        let (_, written) = play(3, &steps);
        let mut shuffled = written.clone();
        tessera_core::SeededRng::new(seed).shuffle(&mut shuffled);
        let mut forward = VersionedObject::new();
        for version in &written {
            forward.add(version.clone());
        }
        let mut backward = VersionedObject::new();
        for version in &shuffled {
            backward.add(version.clone());
        }
        prop_assert_eq!(&forward, &backward);
        for version in &written {
            let superseded = written.iter().any(|other| other.supersedes(version));
            prop_assert_eq!(forward.versions().contains(version), !superseded);
            prop_assert!(forward.has_seen(version.dot()));
        }
    }

    /// One anti-entropy session makes two stores equal — each key's object
    /// the merge of both sides' — whatever each side holds. Each key's
    /// objects are two replicas' views of one history; some keys are on
    /// one side only.
    #[test]
    fn anti_entropy_makes_two_stores_equal(
        keys in proptest::collection::btree_map(0u32..200, (steps(2), 0u8..3), 0..60),
        depth in 0u8..7,
    ) {
        let mut left = Vec::new();
        let mut right = Vec::new();
        for (key, (steps, presence)) in &keys {
            let (objects, _) = play(2, steps);
            if *presence != 2 && !objects[0].is_empty() {
                left.push((*key, objects[0].clone()));
            }
            if *presence != 1 && !objects[1].is_empty() {
                right.push((*key, objects[1].clone()));
            }
        }
        let mut a = store(depth, &left);
        let mut b = store(depth, &right);
        let mut expected = a.clone();
        for (key, object) in b.iter() {
            expected.merge(WHOLE_RING, key, object);
        }
        let report = AntiEntropySession::synchronize(&mut a, &mut b, WHOLE_RING).expect("well-formed");
        prop_assert_eq!(a.root(WHOLE_RING), b.root(WHOLE_RING));
        prop_assert_eq!(a.root(WHOLE_RING), expected.root(WHOLE_RING));
        for (key, object) in expected.iter() {
            prop_assert_eq!(a.get(key), Some(object));
            prop_assert_eq!(b.get(key), Some(object));
        }
        // At most one message per level, then the leaves.
        prop_assert!(report.messages <= usize::from(depth) + 4, "{:?}", report);
    }

    /// Incremental updates leave the tree exactly as a rebuild would.
    #[test]
    fn incremental_tree_equals_a_rebuild(
        changes in proptest::collection::vec((0u32..40, proptest::option::of(0u64..5)), 1..80),
    ) {
        let mut store: ObjectStore<u64> = ObjectStore::new(5).expect("valid depth");
        for (n, (key, value)) in changes.iter().enumerate() {
            let key = key.to_le_bytes();
            match value {
                Some(value) => {
                    let context = store.get(&key).map(VersionedObject::context).unwrap_or_default();
                    let version = Version {
                        clock: DottedVersionVector::new(Dot::new(1, n as u64 + 1), context)
                            .expect("fresh dot"),
                        value: Some(*value),
                    };
                    store.add(WHOLE_RING, &key, version);
                }
                None => {
                    store.remove(&key);
                }
            }
        }
        let mut rebuilt = MerkleTree::new(5).expect("valid depth");
        for (key, object) in store.iter() {
            rebuilt.insert(key, object.digest());
        }
        prop_assert_eq!(store.root(WHOLE_RING), rebuilt.root());
    }

    /// A membership change moves only the affected ranges: a key's home
    /// replicas change only by the joining node taking one place, or the
    /// leaving node giving one up.
    #[test]
    fn membership_changes_move_only_affected_ranges(
        nodes in proptest::collection::btree_set(1u64..1_000, 4..9),
        joining in 1_000u64..2_000,
        vnodes in 1usize..16,
    ) {
        let ring = Ring::new(nodes.iter().copied(), vnodes, 3).expect("valid ring");
        let grown = ring.with_node(joining).expect("new node");
        let leaving = *nodes.iter().next().expect("non-empty");
        let shrunk = ring.without_node(leaving).expect("enough nodes remain");
        let mut moved = 0;
        for i in 0..500u32 {
            let key = i.to_le_bytes();
            let before = ring.preference_list(&key);
            let gained: Vec<NodeId> = grown
                .preference_list(&key)
                .iter()
                .copied()
                .filter(|n| !before.contains(n))
                .collect();
            prop_assert!(gained.is_empty() || gained == vec![joining]);
            moved += gained.len();
            let after = shrunk.preference_list(&key);
            let lost: Vec<NodeId> = before.iter().copied().filter(|n| !after.contains(n)).collect();
            prop_assert!(lost.is_empty() || lost == vec![leaving]);
        }
        // On average a joining node takes 1/(n+1) of the placements; allow
        // for the variance of few tokens.
        let expected = 1_500.0 / (nodes.len() + 1) as f64;
        prop_assert!((moved as f64) < expected * 3.0, "{} placements moved, {} expected", moved, expected);
    }
}

#[test]
fn one_differing_key_among_many_costs_one_path() {
    // 2,000 keys, one differs: the bytes are those of the path and the
    // object, not of the keys.
    let steps = vec![Step::Write {
        replica: 0,
        tombstone: false,
    }];
    let object = play(1, &steps).0.swap_remove(0);
    let keys: Vec<(u32, VersionedObject<u64>)> = (0..2_000).map(|k| (k, object.clone())).collect();
    let mut a = store(11, &keys);
    let mut b = store(11, &keys[1..]);
    let report = AntiEntropySession::synchronize(&mut a, &mut b, WHOLE_RING).expect("well-formed");
    assert_eq!(a.root(WHOLE_RING), b.root(WHOLE_RING));
    assert_eq!(report.objects, 1);
    // 11 levels × 2 hashes × 8 bytes, plus framing and the object.
    assert!(report.bytes < 11 * 2 * 8 + 200, "{report:?}");
    assert_eq!(
        report.messages, 15,
        "Begin, 11 levels, entries, objects, and the end"
    );
}

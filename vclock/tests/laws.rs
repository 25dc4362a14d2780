//! Property tests: the causal order is a partial order, merge is its least
//! upper bound (so commutative, associative, idempotent), and the dotted
//! structures agree with the event sets they stand for.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tessera_vclock::{
    CausalOrder, CompactEncoding, Dot, DottedVersionVector, DvvSet, VersionVector,
};

/// Vectors over a few actors with small counters, so that ordered pairs and
/// equal vectors are common.
fn vector() -> impl Strategy<Value = VersionVector> {
    proptest::collection::vec((0u64..6, 0u64..5), 0..8).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(actor, counter)| Dot::new(actor, counter))
            .collect()
    })
}

/// The definition the fast implementation must agree with: actor by actor.
fn reference_compare(a: &VersionVector, b: &VersionVector) -> CausalOrder {
    let actors: BTreeSet<u64> = a.actors().chain(b.actors()).collect();
    let a_ahead = actors.iter().any(|&actor| a.get(actor) > b.get(actor));
    let b_ahead = actors.iter().any(|&actor| b.get(actor) > a.get(actor));
    match (a_ahead, b_ahead) {
        (false, false) => CausalOrder::Equal,
        (true, false) => CausalOrder::After,
        (false, true) => CausalOrder::Before,
        (true, true) => CausalOrder::Concurrent,
    }
}

fn at_most(a: &VersionVector, b: &VersionVector) -> bool {
    matches!(a.compare(b), CausalOrder::Before | CausalOrder::Equal)
}

proptest! {
    #[test]
    fn compare_agrees_with_the_definition(a in vector(), b in vector()) {
        prop_assert_eq!(a.compare(&b), reference_compare(&a, &b));
        prop_assert_eq!(b.compare(&a), a.compare(&b).reverse());
        prop_assert_eq!(a.partial_cmp(&b), a.compare(&b).to_ordering());
    }

    #[test]
    fn order_is_reflexive(a in vector()) {
        prop_assert_eq!(a.compare(&a), CausalOrder::Equal);
        prop_assert!(a.descends(&a) && !a.dominates(&a));
    }

    #[test]
    fn order_is_antisymmetric(a in vector(), b in vector()) {
        if at_most(&a, &b) && at_most(&b, &a) {
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn order_is_transitive(a in vector(), x in vector(), y in vector(), c in vector()) {
        // Chains built by merging, so the premise holds often.
        let b = a.merged(&x);
        let d = b.merged(&y);
        prop_assert!(at_most(&a, &b) && at_most(&b, &d) && at_most(&a, &d));
        // And for arbitrary triples.
        if at_most(&a, &x) && at_most(&x, &c) {
            prop_assert!(at_most(&a, &c));
        }
    }

    #[test]
    fn merge_is_the_least_upper_bound(a in vector(), b in vector(), c in vector()) {
        let join = a.merged(&b);
        prop_assert!(at_most(&a, &join) && at_most(&b, &join));
        if at_most(&a, &c) && at_most(&b, &c) {
            prop_assert!(at_most(&join, &c));
        }
        // Actor by actor, it is the maximum.
        for actor in 0..6 {
            prop_assert_eq!(join.get(actor), a.get(actor).max(b.get(actor)));
        }
    }

    #[test]
    fn merge_is_commutative_associative_and_idempotent(a in vector(), b in vector(), c in vector()) {
        prop_assert_eq!(a.merged(&b), b.merged(&a));
        prop_assert_eq!(a.merged(&b).merged(&c), a.merged(&b.merged(&c)));
        prop_assert_eq!(a.merged(&a), a.clone());
        prop_assert_eq!(a.merged(&VersionVector::new()), a);
    }

    #[test]
    fn meet_is_the_greatest_lower_bound(a in vector(), b in vector(), c in vector()) {
        let meet = a.meet(&b);
        prop_assert!(at_most(&meet, &a) && at_most(&meet, &b));
        if at_most(&c, &a) && at_most(&c, &b) {
            prop_assert!(at_most(&c, &meet));
        }
        prop_assert_eq!(a.meet(&b), b.meet(&a));
    }

    #[test]
    fn increment_moves_strictly_up(a in vector(), actor in 0u64..8) {
        let mut next = a.clone();
        let dot = next.increment(actor).unwrap();
        prop_assert_eq!(next.compare(&a), CausalOrder::After);
        prop_assert!(next.contains(dot) && !a.contains(dot));
    }

    #[test]
    fn encoding_round_trips_and_is_canonical(a in vector(), b in vector()) {
        let bytes = a.to_bytes();
        prop_assert_eq!(VersionVector::from_bytes(&bytes).unwrap(), a.clone());
        // Equal values, equal bytes; different values, different bytes.
        prop_assert_eq!(a == b, bytes == b.to_bytes());
    }
}

/// A dotted version vector's events, spelled out.
fn events(version: &DottedVersionVector) -> BTreeSet<Dot> {
    let mut events: BTreeSet<Dot> = version
        .context()
        .iter()
        .flat_map(|dot| (1..=dot.counter).map(move |counter| Dot::new(dot.actor, counter)))
        .collect();
    events.insert(version.dot());
    events
}

fn dotted() -> impl Strategy<Value = DottedVersionVector> {
    (vector(), 0u64..6, 1u64..4).prop_map(|(context, actor, gap)| {
        let dot = Dot::new(actor, context.get(actor) + gap);
        DottedVersionVector::new(dot, context).expect("the dot lies beyond its context")
    })
}

proptest! {
    #[test]
    fn dotted_order_is_event_set_inclusion(a in dotted(), b in dotted()) {
        let (events_a, events_b) = (events(&a), events(&b));
        let expected = match (events_a.is_superset(&events_b), events_b.is_superset(&events_a)) {
            (true, true) => CausalOrder::Equal,
            (true, false) => CausalOrder::After,
            (false, true) => CausalOrder::Before,
            (false, false) => CausalOrder::Concurrent,
        };
        prop_assert_eq!(a.compare(&b), expected);
        prop_assert_eq!(DottedVersionVector::from_bytes(&a.to_bytes()).unwrap(), a);
    }
}

/// A DVVSet reached by a random history of client writes through three
/// servers and replica syncs, as a store would produce.
fn history() -> impl Strategy<Value = Vec<(u8, u64, u8)>> {
    // (operation, server, which earlier read to use as context)
    proptest::collection::vec((0u8..4, 1u64..4, 0u8..8), 0..24)
}

fn replay(history: &[(u8, u64, u8)]) -> (DvvSet<u64>, DvvSet<u64>) {
    let mut replicas = [DvvSet::default(), DvvSet::default()];
    let mut reads = vec![VersionVector::new()];
    for (step, &(operation, server, read)) in history.iter().enumerate() {
        let replica = (server % 2) as usize;
        let context = reads[read as usize % reads.len()].clone();
        match operation {
            0 | 1 => {
                replicas[replica]
                    .update(&context, step as u64, server)
                    .expect("counters have room");
            }
            2 => reads.push(replicas[replica].join()),
            _ => {
                let other = replicas[1 - replica].clone();
                replicas[replica].sync(other);
            }
        }
    }
    let [first, second] = replicas;
    (first, second)
}

fn sorted_values(clock: &DvvSet<u64>) -> Vec<u64> {
    let mut values: Vec<u64> = clock.values().copied().collect();
    values.sort_unstable();
    values
}

proptest! {
    #[test]
    fn dvvset_sync_is_commutative_and_idempotent(history in history()) {
        let (a, b) = replay(&history);
        let mut ab = a.clone();
        ab.sync(b.clone());
        let mut ba = b.clone();
        ba.sync(a.clone());
        prop_assert_eq!(ab.join(), ba.join());
        prop_assert_eq!(sorted_values(&ab), sorted_values(&ba));
        let mut twice = ab.clone();
        twice.sync(ab.clone());
        prop_assert_eq!(sorted_values(&twice), sorted_values(&ab));
        prop_assert_eq!(twice.join(), ab.join());
        prop_assert_eq!(DvvSet::<u64>::from_bytes(&ab.to_bytes()).unwrap(), ab);
    }

    #[test]
    fn dvvset_keeps_exactly_the_writes_no_later_write_has_seen(history in history()) {
        // Replay the history recording each write's dot and context, then
        // check the merged clock holds exactly the values whose dot no other
        // surviving or discarded write's context covered.
        let mut replicas = [DvvSet::default(), DvvSet::default()];
        let mut reads = vec![VersionVector::new()];
        let mut writes: BTreeMap<u64, (Dot, VersionVector)> = BTreeMap::new();
        for (step, &(operation, server, read)) in history.iter().enumerate() {
            let replica = (server % 2) as usize;
            let context = reads[read as usize % reads.len()].clone();
            match operation {
                0 | 1 => {
                    let dot = replicas[replica].update(&context, step as u64, server).unwrap();
                    writes.insert(step as u64, (dot, context));
                }
                2 => reads.push(replicas[replica].join()),
                _ => {
                    let other = replicas[1 - replica].clone();
                    replicas[replica].sync(other);
                }
            }
        }
        let [mut merged, other] = replicas;
        merged.sync(other);
        let expected: Vec<u64> = writes
            .iter()
            .filter(|(_, (dot, _))| !writes.values().any(|(_, context)| context.contains(*dot)))
            .map(|(&value, _)| value)
            .collect();
        prop_assert_eq!(sorted_values(&merged), expected);
    }
}

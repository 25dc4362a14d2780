//! The semantics each type promises under concurrency, scenario by
//! scenario, each citing where it is specified.

use tessera_crdt::*;
use tessera_hlc::{NodeTimestamp, Timestamp};

fn merged<T: StateCrdt>(a: &T, b: &T) -> T {
    let mut joined = a.clone();
    joined.merge(b);
    joined
}

/// Bieniusa et al., "An optimized conflict-free replicated set" (2012),
/// §3: a remove removes only the adds it observed; a concurrent add wins.
#[test]
fn or_set_add_wins_over_a_concurrent_remove() {
    let mut a = OrSet::new();
    a.add(1u64, 1).unwrap();
    let mut b = a.clone();
    a.remove(&1);
    b.add(1, 2).unwrap();
    assert!(merged(&a, &b).contains(&1));
    assert!(merged(&b, &a).contains(&1));
    // Removing again, having seen both adds, removes it everywhere.
    let mut both = merged(&a, &b);
    let delta = both.remove(&1);
    let mut other = merged(&b, &a);
    other.join_delta(&delta);
    assert!(!other.contains(&1));
}

/// Metadata stays bounded: removed elements leave no tombstone behind,
/// only the causal context (a version vector) remembers them.
#[test]
fn or_set_and_or_map_keep_no_tombstones() {
    let mut set = OrSet::new();
    let mut map: OrMap<u64, MvRegister<u64>> = OrMap::new();
    for element in 0..1_000u64 {
        set.add(element, 1).unwrap();
        map.update(element, |register| register.write(element, 1))
            .unwrap();
    }
    for element in 0..1_000u64 {
        set.remove(&element);
        map.remove(&element);
    }
    assert!(set.is_empty() && map.is_empty());
    // The context is one version-vector entry: a few bytes for a
    // thousand removed elements.
    assert_eq!(set.context().version_vector().get(1), 1_000);
    assert!(!set.context().has_gaps());
    assert!(set.to_bytes().len() < 16, "{} bytes", set.to_bytes().len());
    assert!(map.to_bytes().len() < 16, "{} bytes", map.to_bytes().len());
}

/// Almeida et al. (2018), `ORMap`: a remove resets the value causally —
/// an update concurrent with the remove survives, on a value that has
/// forgotten what the remover saw.
#[test]
fn or_map_remove_resets_the_value_causally() {
    let mut a: OrMap<u8, OrSet<u8>> = OrMap::new();
    a.update(1, |set| set.add(10, 1)).unwrap();
    a.update(1, |set| set.add(11, 1)).unwrap();
    let mut b = a.clone();
    a.remove(&1);
    b.update(1, |set| set.add(12, 2)).unwrap();
    let result = merged(&a, &b);
    let set = result.get(&1).expect("kept by the concurrent add");
    assert_eq!(set.iter().copied().collect::<Vec<_>>(), vec![12]);
    assert_eq!(merged(&b, &a), result);
}

/// Almeida et al. (2018), §7: enable-wins and disable-wins flags.
#[test]
fn flags_resolve_concurrent_enable_and_disable_by_their_policy() {
    let mut ew = EwFlag::new();
    ew.enable(1).unwrap();
    let mut ew_other = ew.clone();
    ew.disable();
    ew_other.enable(2).unwrap();
    assert!(merged(&ew, &ew_other).value(), "enable wins");

    let mut dw = DwFlag::new();
    assert!(dw.value(), "starts enabled");
    dw.disable(1).unwrap();
    let mut dw_other = dw.clone();
    dw.enable();
    dw_other.disable(2).unwrap();
    assert!(!merged(&dw, &dw_other).value(), "disable wins");
    // Without concurrency the last action holds.
    let mut seen = merged(&dw, &dw_other);
    seen.enable();
    assert!(seen.value());
}

/// Shapiro et al. (2011), §3.2.1, with the tie rule stated: equal hybrid
/// timestamps are ordered by node id, the higher winning, on every replica.
#[test]
fn lww_register_breaks_timestamp_ties_by_node_id() {
    let time = Timestamp::from_nanos(1 << 20);
    let mut low = LwwRegister::new();
    low.set("low".to_string(), NodeTimestamp::new(time, 3));
    let mut high = LwwRegister::new();
    high.set("high".to_string(), NodeTimestamp::new(time, 7));
    assert_eq!(
        merged(&low, &high).value().map(String::as_str),
        Some("high")
    );
    assert_eq!(
        merged(&high, &low).value().map(String::as_str),
        Some("high")
    );
    // A later timestamp beats a higher node id.
    let mut later = LwwRegister::new();
    later.set(
        "later".to_string(),
        NodeTimestamp::new(time.next().unwrap(), 1),
    );
    assert_eq!(
        merged(&high, &later).value().map(String::as_str),
        Some("later")
    );
    // The HLC send rule: a replica's own write is stamped above what it saw.
    let stamp = high.next_stamp(Timestamp::ZERO, 1);
    assert!(stamp > high.stamp().unwrap());
}

/// Preguiça et al., "Dotted version vectors" (2010): a write replaces the
/// values its context covers, and keeps the concurrent ones as siblings.
#[test]
fn mv_register_keeps_concurrent_writes_as_siblings() {
    let mut a = MvRegister::new();
    a.write(1u64, 1).unwrap();
    let read = a.context().clone();
    let mut b = a.clone();
    a.write(2, 1).unwrap();
    b.write(3, 2).unwrap();
    let mut both = merged(&a, &b);
    assert!(both.is_conflicted());
    assert_eq!(both.values().copied().collect::<Vec<_>>(), vec![2, 3]);
    // A client that read before both writes writes through replica 1: its
    // context covers neither, so both stay as siblings beside it.
    both.write_after(4, 1, &read).unwrap();
    assert_eq!(both.values().len(), 3);
    // A write that has seen everything reconciles.
    both.write(5, 2).unwrap();
    assert_eq!(both.values().copied().collect::<Vec<_>>(), vec![5]);
}

/// Shapiro et al. (2011), §3.3.2: in a 2P-set a removed element never
/// returns.
#[test]
fn two_p_set_removes_for_good() {
    let mut set = TwoPSet::new();
    set.insert(1u8);
    set.remove(&1).unwrap();
    set.insert(1);
    assert!(!set.contains(&1) && set.was_removed(&1));
    assert_eq!(set.remove(&2), Err(CrdtError::NotPresent));
}

#[test]
fn pn_counter_counts_both_ways_across_replicas() {
    let mut a = PnCounter::new();
    let mut b = PnCounter::new();
    a.add(1, 10).unwrap();
    b.add(2, -4).unwrap();
    a.add(1, -3).unwrap();
    assert_eq!(merged(&a, &b).value(), 3);
    assert_eq!(
        GCounter::new().increment(1, u64::MAX).unwrap().value(),
        u128::from(u64::MAX)
    );
    let mut full = GCounter::new();
    full.increment(1, u64::MAX).unwrap();
    assert_eq!(
        full.increment(1, 1),
        Err(CrdtError::CounterExhausted { actor: 1 })
    );
}

// ----- the sequence -----

/// Concurrent runs of typing at one place never interleave, forward (the
/// YATA property) or backward (Fugue's maximal non-interleaving, where
/// RGA interleaves) — Weidner and Kleppmann (2023), §3.
#[test]
fn concurrent_runs_of_typing_never_interleave() {
    let mut base = Text::new();
    base.insert_str(9, 0, "[]").unwrap();
    // Forward typing inside the brackets.
    let (mut a, mut b) = (base.clone(), base.clone());
    for (offset, character) in "abc".chars().enumerate() {
        a.insert(1, 1 + offset, [character]).unwrap();
    }
    for (offset, character) in "xyz".chars().enumerate() {
        b.insert(2, 1 + offset, [character]).unwrap();
    }
    let forward = merged(&a, &b).to_string();
    assert!(forward == "[abcxyz]" || forward == "[xyzabc]", "{forward}");
    assert_eq!(merged(&b, &a).to_string(), forward);
    // Backward typing: each character typed before the previous one.
    let (mut a, mut b) = (base.clone(), base.clone());
    for character in "cba".chars() {
        a.insert(1, 1, [character]).unwrap();
    }
    for character in "zyx".chars() {
        b.insert(2, 1, [character]).unwrap();
    }
    let backward = merged(&a, &b).to_string();
    assert!(
        backward == "[abcxyz]" || backward == "[xyzabc]",
        "{backward}"
    );
}

/// Three replicas edit concurrently — inserts, deletes, range deletes and
/// splices — merging in different orders, and converge.
#[test]
fn three_replicas_editing_concurrently_converge() {
    let mut rng = tessera_core::SeededRng::new(2024);
    let mut replicas = [Text::new(), Text::new(), Text::new()];
    replicas[0].insert_str(1, 0, "the quick brown fox").unwrap();
    let start = replicas[0].clone();
    replicas[1] = start.clone();
    replicas[2] = start;
    for round in 0..200 {
        for (index, replica) in replicas.iter_mut().enumerate() {
            let actor = index as u64 + 1;
            let len = replica.len();
            let position = rng.below(len as u64 + 1) as usize;
            match rng.below(4) {
                0 | 1 => replica
                    .insert_str(actor, position, &format!("{round}"))
                    .unwrap(),
                2 if len > 0 => {
                    let position = position.min(len - 1);
                    let count = (rng.below(3) as usize + 1).min(len - position);
                    replica.delete(actor, position, count).unwrap();
                }
                _ if len > 0 => {
                    let position = position.min(len - 1);
                    replica
                        .splice(actor, position..position + 1, "*".chars())
                        .unwrap();
                }
                _ => {}
            }
        }
        if round % 17 == 0 {
            let from = rng.below(3) as usize;
            let to = (from + 1) % 3;
            let source = replicas[from].clone();
            replicas[to].merge(&source);
        }
    }
    let [a, b, c] = &replicas;
    let left = merged(&merged(a, b), c);
    let right = merged(&merged(c, a), b);
    assert_eq!(left, right);
    assert_eq!(left.to_string(), right.to_string());
    assert_eq!(left.pending_len(), 0);
}

/// Edits out of range are refused and change nothing.
#[test]
fn sequence_refuses_out_of_range_edits() {
    let mut text = Text::new();
    text.insert_str(1, 0, "abc").unwrap();
    let before = text.clone();
    assert_eq!(
        text.insert_str(1, 4, "x"),
        Err(CrdtError::OutOfBounds {
            position: 4,
            len: 3
        })
    );
    assert!(matches!(
        text.delete(1, 2, 2),
        Err(CrdtError::OutOfBounds { .. })
    ));
    let (start, end) = (2, 1);
    assert!(text.delete_range(1, start..end).is_err());
    assert_eq!(text, before);
    assert_eq!(text.get(1), Some(&'b'));
    assert_eq!(text.get(3), None);
}

/// Deletions are operations with dots of their own: a delete advances the
/// version, so anti-entropy that compares versions never misses one.
#[test]
fn a_sequence_delete_advances_the_version() {
    let mut a = Text::new();
    a.insert_str(1, 0, "abc").unwrap();
    let mut b = a.clone();
    let before = a.version();
    a.delete(1, 1, 1).unwrap();
    assert!(a.version().dominates(&before));
    let delta = a.ops_since(&b.version());
    assert_eq!(delta.dot_count(), 1);
    b.join_delta(&delta);
    assert_eq!(b.to_string(), "ac");
}

/// Compaction at a quiescent version every replica holds: tombstones,
/// their values and the history go; replicas that compact at the same
/// version are equal, keep converging afterwards, and encode smaller.
#[test]
fn compaction_at_an_acknowledged_version_drops_tombstones() {
    let mut a = Text::new();
    a.insert_str(1, 0, "the quick brown fox jumps").unwrap();
    a.delete(1, 4, 6).unwrap();
    a.insert_str(1, 4, "slow ").unwrap();
    let mut b = a.clone();
    b.delete(2, 0, 4).unwrap();
    a.merge(&b);
    b.merge(&a);
    assert_eq!(a.to_string(), "slow brown fox jumps");
    let encoded_before = a.to_bytes().len();
    assert!(a.stats().tombstones > 0);

    // Both hold the same version: both compact.
    let report = a.compact().unwrap();
    b.compact().unwrap();
    assert_eq!(report.tombstones_dropped, 10);
    assert_eq!(a.stats().tombstones, 0);
    assert_eq!(a, b);
    assert_eq!(a.to_string(), "slow brown fox jumps");
    assert!(a.to_bytes().len() < encoded_before);
    assert_eq!(Text::from_bytes(&a.to_bytes()).unwrap(), a);

    // Concurrent edits after compaction converge, deltas included.
    let base = a.version();
    a.insert_str(1, 0, "A ").unwrap();
    a.delete(1, 7, 6).unwrap();
    b.insert_str(2, 20, " over").unwrap();
    b.delete(2, 0, 1).unwrap();
    let delta = b.ops_since(&base);
    a.join_delta(&delta);
    b.merge(&a);
    assert_eq!(a, b);
    assert_eq!(a.to_string(), "A low fox jumps over");
    let decoded = Text::from_bytes(&a.to_bytes()).unwrap();
    assert_eq!(decoded, a);
    assert_eq!(decoded.to_string(), a.to_string());

    // A fresh replica adopts a compacted one; one that missed the
    // compaction version is told it cannot merge.
    let mut fresh = Text::new();
    fresh.try_merge(&a).unwrap();
    assert_eq!(fresh, a);
    let mut stale = Text::new();
    stale.insert_str(3, 0, "x").unwrap();
    assert!(matches!(
        stale.try_merge(&a),
        Err(CrdtError::Inconsistent { .. })
    ));
    // Pending operations block compaction.
    let mut waiting = Text::new();
    waiting.join_delta(&delta);
    assert!(waiting.pending_len() > 0);
    assert!(waiting.compact().is_err());
}

/// Random edits, full sync, compaction everywhere, more random edits:
/// replicas still converge, and encode and decode to themselves.
#[test]
fn replicas_keep_converging_across_compaction() {
    fn edit(rng: &mut tessera_core::SeededRng, text: &mut Text, actor: u64) {
        let len = text.len();
        if len > 0 && rng.below(3) == 0 {
            let position = rng.below(len as u64) as usize;
            let count = (rng.below(4) as usize + 1).min(len - position);
            text.delete(actor, position, count).unwrap();
        } else {
            let position = rng.below(len as u64 + 1) as usize;
            text.insert_str(actor, position, "ab").unwrap();
        }
    }
    for seed in 0..20 {
        let mut rng = tessera_core::SeededRng::new(seed);
        let mut replicas = [Text::new(), Text::new(), Text::new()];
        for phase in 0..2 {
            for _ in 0..30 {
                let index = rng.below(3) as usize;
                edit(&mut rng, &mut replicas[index], index as u64 + 1);
                if rng.below(5) == 0 {
                    let from = rng.below(3) as usize;
                    let source = replicas[from].clone();
                    replicas[(from + 1) % 3].merge(&source);
                }
            }
            // Full sync.
            let all = merged(&merged(&replicas[0], &replicas[1]), &replicas[2]);
            for replica in &mut replicas {
                replica.merge(&all);
                assert_eq!(*replica, all, "seed {seed}");
            }
            if phase == 0 {
                for replica in &mut replicas {
                    replica.compact().unwrap();
                }
                assert_eq!(replicas[0], replicas[1]);
            }
            for replica in &replicas {
                assert_eq!(
                    &Text::from_bytes(&replica.to_bytes()).unwrap(),
                    replica,
                    "seed {seed}"
                );
            }
        }
    }
}

//! The conformance suite of [`LogStore`]: tests generic over the interface,
//! which every implementation must pass.
//!
//! A test crate provides a [`LogStoreHarness`] — how to create a store, how
//! to restart it, how to make an entry — and expands
//! [`log_store_conformance!`](crate::log_store_conformance) into one test
//! per case. [`MemLog`](crate::MemLog) and [`DurableLog`](crate::DurableLog)
//! both run it (`tests/conformance.rs`); a consensus crate with a store of
//! its own can run it too:
//!
//! ```
//! use tessera_storage::conformance::LogStoreHarness;
//! use tessera_storage::{HardState, MemLog, RawEntry};
//!
//! struct Memory;
//!
//! impl LogStoreHarness for Memory {
//!     type Store = MemLog<RawEntry>;
//!     type Entry = RawEntry;
//!     type HardState = HardState;
//!     fn create(&mut self) -> Self::Store { MemLog::new() }
//!     fn restart(&mut self, store: Self::Store) -> Self::Store { store }
//!     fn entry(&self, index: u64, term: u64) -> RawEntry {
//!         RawEntry::new(index, term, index.to_le_bytes())
//!     }
//!     fn hard_state(&self, term: u64) -> HardState {
//!         HardState { term, vote: Some(term % 3), ..HardState::default() }
//!     }
//! }
//!
//! // In a test file: `tessera_storage::log_store_conformance!(Memory);`
//! // expands to one `#[test]` per case. Or call a case directly:
//! tessera_storage::conformance::purge_keeps_the_suffix(&mut Memory);
//! ```
//!
//! Every case states the rule it checks; a failing assertion names it.
//!
//! Snapshot stores have their half of the suite: a
//! [`SnapshotStoreHarness`] and
//! [`snapshot_store_conformance!`](crate::snapshot_store_conformance),
//! run against [`MemSnapshots`](crate::MemSnapshots) and
//! [`SnapshotDir`](crate::SnapshotDir) (`tests/snapshots.rs`):
//!
//! ```
//! use tessera_storage::MemSnapshots;
//! use tessera_storage::conformance::SnapshotStoreHarness;
//!
//! struct Memory;
//!
//! impl SnapshotStoreHarness for Memory {
//!     type Store = MemSnapshots;
//!     fn create(&mut self) -> MemSnapshots { MemSnapshots::new(2).expect("keeps two") }
//!     fn restart(&mut self, store: MemSnapshots) -> MemSnapshots { store }
//! }
//!
//! tessera_storage::conformance::snapshot_keeps_the_newest(&mut Memory);
//! ```

use std::fmt;

use tessera_core::SeededRng;

use crate::{
    LogEntry, LogPosition, LogStore, LogWrite, SnapshotMeta, SnapshotStore, SnapshotWriter,
    StorageError, verify_snapshot,
};

/// How the suite makes and restarts the store under test.
pub trait LogStoreHarness {
    /// The store under test.
    type Store: LogStore<Entry = Self::Entry, HardState = Self::HardState>;
    /// Its entry type.
    type Entry: LogEntry + PartialEq + fmt::Debug;
    /// Its hard-state type.
    type HardState: Clone + PartialEq + fmt::Debug;

    /// A new, empty store.
    fn create(&mut self) -> Self::Store;

    /// The store as a restarted process finds it. The suite calls
    /// [`LogStore::sync`] first, so everything must survive: a durable
    /// store is closed (or its file system crashed) and reopened; an
    /// in-memory one is returned as is.
    fn restart(&mut self, store: Self::Store) -> Self::Store;

    /// An entry at `index` in `term`, with some payload depending on both.
    fn entry(&self, index: u64, term: u64) -> Self::Entry;

    /// A hard state that differs for every `term`.
    fn hard_state(&self, term: u64) -> Self::HardState;
}

fn entries<H: LogStoreHarness>(harness: &H, from: u64, terms: &[u64]) -> Vec<H::Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(offset, term)| harness.entry(from + offset as u64, *term))
        .collect()
}

fn restart<H: LogStoreHarness>(harness: &mut H, mut store: H::Store) -> H::Store {
    store.sync().expect("sync before restart");
    harness.restart(store)
}

/// Rule: an empty log has base 0, first index 1, last index 0, term 0 at
/// index 0, nothing to read, and no hard state.
pub fn empty_log<H: LogStoreHarness>(harness: &mut H) {
    let store = harness.create();
    assert_eq!(store.base(), LogPosition::ZERO, "empty log: base");
    assert_eq!(store.first_index(), 1, "empty log: first index");
    assert_eq!(store.last_index(), 0, "empty log: last index");
    assert_eq!(store.term_at(0).expect("term at 0"), 0, "empty log: term 0");
    assert!(
        store.entries(1..1).expect("empty range").is_empty(),
        "empty log: empty range"
    );
    assert!(
        matches!(store.entry(1), Err(StorageError::BeyondEnd { .. })),
        "empty log: reading index 1 is beyond the end"
    );
    assert!(store.hard_state().is_none(), "empty log: no hard state");
}

/// Rule: appended entries are read back by index, with their terms, in
/// order.
pub fn append_and_read<H: LogStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    let written = entries(harness, 1, &[1, 1, 2, 3, 3]);
    store.append(written.clone()).expect("append");
    assert_eq!(store.last_index(), 5, "append: last index");
    for entry in &written {
        assert_eq!(
            store.term_at(entry.index()).expect("term"),
            entry.term(),
            "append: term at {}",
            entry.index()
        );
    }
    assert_eq!(
        store.entries(2..5).expect("range"),
        written[1..4].to_vec(),
        "append: range read"
    );
    assert_eq!(store.entry(5).expect("entry"), written[4], "append: entry");
    assert_eq!(
        store.last_position().expect("last position"),
        LogPosition::new(5, 3),
        "append: last position"
    );
    assert!(
        matches!(store.entries(4..7), Err(StorageError::BeyondEnd { .. })),
        "append: a range past the end is refused"
    );
    assert!(
        matches!(store.term_at(6), Err(StorageError::BeyondEnd { .. })),
        "append: term past the end is refused"
    );
}

/// Rule: an append must continue the log without a gap or overlap; a bad
/// batch is refused whole.
pub fn append_must_continue_the_log<H: LogStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    assert!(
        matches!(
            store.append(vec![harness.entry(2, 1)]),
            Err(StorageError::NotContiguous {
                expected: 1,
                got: 2
            })
        ),
        "contiguity: a gap at the start is refused"
    );
    let gapped = vec![harness.entry(1, 1), harness.entry(3, 1)];
    assert!(
        matches!(
            store.append(gapped),
            Err(StorageError::NotContiguous { .. })
        ),
        "contiguity: a gap inside the batch is refused"
    );
    assert_eq!(
        store.last_index(),
        0,
        "contiguity: nothing of a refused batch is appended"
    );
    store.append(vec![harness.entry(1, 1)]).expect("append 1");
    assert!(
        matches!(
            store.append(vec![harness.entry(1, 2)]),
            Err(StorageError::NotContiguous { .. })
        ),
        "contiguity: an overlap is refused (truncate first)"
    );
    store.append(Vec::new()).expect("an empty append is fine");
    assert_eq!(store.last_index(), 1);
}

/// Rule: truncating removes the suffix from the index on, and the log
/// continues there with new entries (Raft's conflict resolution).
pub fn truncate_removes_the_suffix<H: LogStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    store
        .append(entries(harness, 1, &[1, 1, 1, 2, 2]))
        .expect("append");
    store.truncate_from(3).expect("truncate");
    assert_eq!(store.last_index(), 2, "truncate: last index");
    assert!(
        matches!(store.term_at(3), Err(StorageError::BeyondEnd { .. })),
        "truncate: truncated entries are gone"
    );
    let replacement = entries(harness, 3, &[3, 3]);
    store
        .append(replacement.clone())
        .expect("append after truncate");
    assert_eq!(
        store.entries(3..5).expect("read"),
        replacement,
        "truncate: new entries replace the old"
    );
    store.truncate_from(5).expect("truncating nothing");
    assert_eq!(
        store.last_index(),
        4,
        "truncate at last + 1 removes nothing"
    );
    assert!(
        matches!(store.truncate_from(6), Err(StorageError::BeyondEnd { .. })),
        "truncate: past last + 1 is refused"
    );
    store.truncate_from(1).expect("truncate everything");
    assert_eq!(store.last_index(), 0, "truncate: the whole log");
    store.append(entries(harness, 1, &[4])).expect("append");
    assert_eq!(store.term_at(1).expect("term"), 4);
}

/// Rule: purging to a position the log holds keeps the entries after it,
/// remembers the base's term, and refuses reads below it.
pub fn purge_keeps_the_suffix<H: LogStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    let written = entries(harness, 1, &[1, 1, 2, 2, 2, 3, 3, 3, 3, 3]);
    store.append(written.clone()).expect("append");
    store.purge_to(LogPosition::new(4, 2)).expect("purge");
    assert_eq!(store.base(), LogPosition::new(4, 2), "purge: base");
    assert_eq!(store.first_index(), 5, "purge: first index");
    assert_eq!(store.last_index(), 10, "purge: last index");
    assert_eq!(store.term_at(4).expect("base term"), 2, "purge: base term");
    assert!(
        matches!(store.term_at(3), Err(StorageError::Compacted { .. })),
        "purge: term below the base is compacted"
    );
    assert!(
        matches!(store.entries(4..6), Err(StorageError::Compacted { .. })),
        "purge: entries at the base are compacted"
    );
    assert_eq!(
        store.entries(5..11).expect("suffix"),
        written[4..].to_vec(),
        "purge: the suffix is intact"
    );
    assert!(
        matches!(store.truncate_from(4), Err(StorageError::Compacted { .. })),
        "purge: purged entries are never truncated"
    );
    store
        .purge_to(LogPosition::new(2, 1))
        .expect("purge below base");
    assert_eq!(
        store.base(),
        LogPosition::new(4, 2),
        "purge: below the base changes nothing"
    );
    store
        .append(entries(harness, 11, &[4]))
        .expect("append after purge");
    assert_eq!(store.last_index(), 11);
}

/// Rule: purging to a position whose term conflicts with the log, or past
/// its end, discards the whole log (Raft, Figure 13, step 6) and the log
/// continues after the position.
pub fn purge_past_or_conflicting_discards_the_log<H: LogStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    store
        .append(entries(harness, 1, &[1, 1, 2, 2, 2]))
        .expect("append");
    store
        .purge_to(LogPosition::new(3, 7))
        .expect("conflicting purge");
    assert_eq!(store.base(), LogPosition::new(3, 7), "conflict: base");
    assert_eq!(
        store.last_index(),
        3,
        "conflict: every entry after the base is gone"
    );
    assert_eq!(store.term_at(3).expect("term"), 7, "conflict: base term");
    store
        .purge_to(LogPosition::new(20, 8))
        .expect("purge past the end");
    assert_eq!(store.base(), LogPosition::new(20, 8), "past the end: base");
    assert_eq!(
        store.last_index(),
        20,
        "past the end: empty log at the base"
    );
    assert!(
        matches!(
            store.append(vec![harness.entry(4, 8)]),
            Err(StorageError::NotContiguous { expected: 21, .. })
        ),
        "past the end: the log continues after the base"
    );
    store.append(entries(harness, 21, &[8, 9])).expect("append");
    assert_eq!(
        store.last_position().expect("last"),
        LogPosition::new(22, 9)
    );
}

/// Rule: the hard state reads back as last saved.
pub fn hard_state_reads_back<H: LogStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    let first = harness.hard_state(1);
    store.save_hard_state(first.clone()).expect("save");
    assert_eq!(store.hard_state(), Some(&first), "hard state: saved");
    let second = harness.hard_state(2);
    store.save_hard_state(second.clone()).expect("save again");
    assert_eq!(store.hard_state(), Some(&second), "hard state: replaced");
}

/// Rule: after a sync, a restart finds the same log, base and hard state,
/// and appending continues.
pub fn restart_keeps_everything_synced<H: LogStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    store
        .append(entries(harness, 1, &[1, 1, 2, 2, 2, 3]))
        .expect("append");
    store.truncate_from(5).expect("truncate");
    store.append(entries(harness, 5, &[4, 4])).expect("append");
    store.purge_to(LogPosition::new(2, 1)).expect("purge");
    let state = harness.hard_state(4);
    store.save_hard_state(state.clone()).expect("save");
    let expected = store.entries(3..7).expect("read");
    let store = restart(harness, store);
    assert_eq!(store.base(), LogPosition::new(2, 1), "restart: base");
    assert_eq!(store.last_index(), 6, "restart: last index");
    assert_eq!(
        store.term_at(2).expect("base term"),
        1,
        "restart: base term"
    );
    assert_eq!(
        store.entries(3..7).expect("read"),
        expected,
        "restart: entries"
    );
    assert_eq!(store.hard_state(), Some(&state), "restart: hard state");
    let mut store = store;
    store
        .append(entries(harness, 7, &[5]))
        .expect("append after restart");
    let store = restart(harness, store);
    assert_eq!(store.last_position().expect("last"), LogPosition::new(7, 5));
}

/// Rule: a restart after discarding the log for a snapshot finds the empty
/// log at the snapshot's position.
pub fn restart_after_discarding_the_log<H: LogStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    store
        .append(entries(harness, 1, &[1, 2, 2]))
        .expect("append");
    store.purge_to(LogPosition::new(9, 3)).expect("discard");
    let mut store = restart(harness, store);
    assert_eq!(store.base(), LogPosition::new(9, 3), "discard: base");
    assert_eq!(store.last_index(), 9, "discard: last index");
    store.append(entries(harness, 10, &[3])).expect("append");
    let store = restart(harness, store);
    assert_eq!(store.entry(10).expect("entry"), harness.entry(10, 3));
}

/// Rule: [`LogStore::apply`] performs each [`LogWrite`] as the method it
/// names.
pub fn log_writes_apply_in_order<H: LogStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    let writes = vec![
        LogWrite::Append(entries(harness, 1, &[1, 1, 1])),
        LogWrite::TruncateFrom(3),
        LogWrite::Append(entries(harness, 3, &[2])),
        LogWrite::HardState(harness.hard_state(2)),
        LogWrite::PurgeTo(LogPosition::new(1, 1)),
    ];
    for write in writes {
        store.apply(write).expect("apply");
    }
    assert_eq!(store.base(), LogPosition::new(1, 1));
    assert_eq!(store.last_position().expect("last"), LogPosition::new(3, 2));
    assert_eq!(store.hard_state(), Some(&harness.hard_state(2)));
}

/// The reference the random case compares stores with.
struct Model<E, S> {
    base: LogPosition,
    entries: Vec<E>,
    hard_state: Option<S>,
}

impl<E: LogEntry, S> Model<E, S> {
    fn last_index(&self) -> u64 {
        self.base.index + self.entries.len() as u64
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.base.index {
            return Some(self.base.term);
        }
        let offset = index.checked_sub(self.base.index + 1)?;
        self.entries.get(offset as usize).map(LogEntry::term)
    }
}

/// How many random operations each seed of
/// [`random_operations_match_a_model`] performs.
pub const RANDOM_OPERATIONS_PER_SEED: usize = 150;

/// Rule: any sequence of appends, truncations, purges, hard-state saves and
/// restarts leaves the store exactly as a simple model says.
pub fn random_operations_match_a_model<H: LogStoreHarness>(harness: &mut H) {
    for seed in 0..4 {
        random_operations_with_seed(harness, seed);
    }
}

fn random_operations_with_seed<H: LogStoreHarness>(harness: &mut H, seed: u64) {
    let mut rng = SeededRng::new(seed);
    let mut store = harness.create();
    let mut model: Model<H::Entry, H::HardState> = Model {
        base: LogPosition::ZERO,
        entries: Vec::new(),
        hard_state: None,
    };
    let mut term = 1;
    for step in 0..RANDOM_OPERATIONS_PER_SEED {
        let context = format!("seed {seed} step {step}");
        match rng.below(10) {
            0..=3 => {
                if rng.chance(0.3) {
                    term += 1;
                }
                let count = rng.range(1, 5);
                let from = model.last_index() + 1;
                let batch: Vec<H::Entry> = (0..count)
                    .map(|offset| harness.entry(from + offset, term))
                    .collect();
                store.append(batch.clone()).expect("append");
                model.entries.extend(batch);
            }
            4 => {
                let index = rng.range(model.base.index + 1, model.last_index() + 2);
                store.truncate_from(index).expect("truncate");
                model
                    .entries
                    .truncate((index - model.base.index - 1) as usize);
            }
            5 => {
                let index = rng.range(model.base.index, model.last_index() + 4);
                let term_here = model.term_at(index);
                let upto_term = match (term_here, rng.chance(0.7)) {
                    (Some(existing), true) => existing,
                    _ => term + rng.below(2),
                };
                let upto = LogPosition::new(index, upto_term);
                store.purge_to(upto).expect("purge");
                if upto.index > model.base.index {
                    if term_here == Some(upto.term) {
                        model
                            .entries
                            .drain(..(upto.index - model.base.index) as usize);
                    } else {
                        model.entries.clear();
                    }
                    model.base = upto;
                }
            }
            6 => {
                let state = harness.hard_state(rng.below(100));
                store.save_hard_state(state.clone()).expect("save");
                model.hard_state = Some(state);
            }
            _ => {
                if rng.chance(0.3) {
                    store = restart(harness, store);
                }
            }
        }
        assert_eq!(store.base(), model.base, "{context}: base");
        assert_eq!(store.last_index(), model.last_index(), "{context}: last");
        assert_eq!(
            store.hard_state(),
            model.hard_state.as_ref(),
            "{context}: hard state"
        );
        for index in model.base.index..=model.last_index() {
            assert_eq!(
                store.term_at(index).ok(),
                model.term_at(index),
                "{context}: term at {index}"
            );
        }
        let all = store
            .entries(model.base.index + 1..model.last_index() + 1)
            .expect("read all");
        assert_eq!(all, model.entries, "{context}: entries");
    }
}

/// How the snapshot half of the suite makes and restarts the store under
/// test.
pub trait SnapshotStoreHarness {
    /// The store under test.
    type Store: SnapshotStore;

    /// A new, empty store that keeps the newest **two** snapshots.
    fn create(&mut self) -> Self::Store;

    /// The store as a restarted process finds it: every committed snapshot
    /// must survive (a durable store is crashed and reopened; an in-memory
    /// one is returned as is).
    fn restart(&mut self, store: Self::Store) -> Self::Store;
}

/// `len` bytes of test data that differ with `seed`.
pub fn snapshot_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Writes `bytes` as the snapshot up to `last` in chunks of `chunk` bytes
/// and commits it (configuration `voters 1 2 3`).
///
/// # Panics
///
/// If the store refuses a step, or miscounts the bytes written.
pub fn write_snapshot<S: SnapshotStore>(
    store: &mut S,
    last: LogPosition,
    bytes: &[u8],
    chunk: usize,
) -> SnapshotMeta {
    let mut writer = store
        .create(last, b"voters 1 2 3".to_vec())
        .expect("create a snapshot");
    for piece in bytes.chunks(chunk.max(1)) {
        writer.write_chunk(piece).expect("write a chunk");
    }
    assert_eq!(
        writer.written_bytes(),
        bytes.len() as u64,
        "the writer counts every byte written"
    );
    store.commit(writer).expect("commit the snapshot")
}

/// Reads the whole snapshot up to `last` back, `chunk` bytes at a time.
///
/// # Panics
///
/// If a read fails or returns more than `chunk` bytes.
pub fn read_snapshot<S: SnapshotStore>(store: &S, last: LogPosition, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let piece = store
            .read_chunk(last, out.len() as u64, chunk)
            .expect("read a chunk");
        if piece.is_empty() {
            return out;
        }
        assert!(piece.len() <= chunk, "a chunk is at most the length asked");
        out.extend(piece);
    }
}

/// Rule: a snapshot written in chunks of any size reads back identically
/// in chunks of any size, with its metadata (size, configuration,
/// checksum); reading at its end returns nothing; an empty snapshot is a
/// snapshot.
pub fn snapshot_chunks_round_trip<H: SnapshotStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    let bytes = snapshot_bytes(200_000 + 1234, 7);
    let meta = write_snapshot(&mut store, LogPosition::new(100, 4), &bytes, 10_000);
    assert_eq!(meta.size_bytes, bytes.len() as u64, "size");
    assert_eq!(meta.configuration, b"voters 1 2 3", "configuration");
    assert_eq!(meta.checksum, crc32c::crc32c(&bytes), "checksum");
    for chunk in [1000, 65_536, 100_000] {
        assert_eq!(
            read_snapshot(&store, meta.last, chunk),
            bytes,
            "read back in chunks of {chunk}"
        );
    }
    assert_eq!(
        store.read_chunk(meta.last, 70_000, 10).expect("read"),
        &bytes[70_000..70_010],
        "a chunk from the middle"
    );
    assert!(
        store
            .read_chunk(meta.last, bytes.len() as u64, 10)
            .expect("read at the end")
            .is_empty(),
        "nothing past the end"
    );
    verify_snapshot(&store, &meta, 4096).expect("the snapshot verifies");
    let empty = write_snapshot(&mut store, LogPosition::new(101, 4), &[], 1);
    assert_eq!(empty.size_bytes, 0, "an empty snapshot");
    assert!(read_snapshot(&store, empty.last, 10).is_empty());
}

/// Rule: only the newest two snapshots (by last index, whatever the order
/// they were written in) are kept; the latest covers the most of the log;
/// a removed one is refused by name.
pub fn snapshot_keeps_the_newest<H: SnapshotStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    for index in [10, 30, 20, 40] {
        write_snapshot(
            &mut store,
            LogPosition::new(index, 1),
            &snapshot_bytes(100, index as u8),
            33,
        );
    }
    let kept: Vec<u64> = store.list().iter().map(|meta| meta.last.index).collect();
    assert_eq!(kept, vec![30, 40], "the newest two, oldest first");
    assert_eq!(
        store.latest().map(|meta| meta.last),
        Some(LogPosition::new(40, 1)),
        "the latest"
    );
    assert!(
        matches!(
            store.read_chunk(LogPosition::new(10, 1), 0, 10),
            Err(StorageError::NoSuchSnapshot { index: 10, term: 1 })
        ),
        "a removed snapshot is refused"
    );
}

/// Rule: a committed snapshot survives a restart whole, with its metadata.
pub fn snapshot_commit_survives_restart<H: SnapshotStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    let bytes = snapshot_bytes(50_000, 3);
    let meta = write_snapshot(&mut store, LogPosition::new(9, 2), &bytes, 7_000);
    let store = harness.restart(store);
    assert_eq!(store.latest(), Some(meta.clone()), "the metadata survives");
    assert_eq!(
        read_snapshot(&store, meta.last, 16_384),
        bytes,
        "the bytes survive"
    );
}

/// Rule: a snapshot abandoned before its commit (the writer dropped) is
/// never listed, not even after a restart, and does not replace the
/// latest committed one.
pub fn snapshot_abandoned_is_never_listed<H: SnapshotStoreHarness>(harness: &mut H) {
    let mut store = harness.create();
    let committed = write_snapshot(&mut store, LogPosition::new(5, 1), b"committed", 4);
    let mut writer = store
        .create(LogPosition::new(8, 1), Vec::new())
        .expect("create");
    writer.write_chunk(b"partial").expect("write");
    drop(writer);
    assert_eq!(store.list(), vec![committed.clone()], "before a restart");
    let store = harness.restart(store);
    assert_eq!(store.list(), vec![committed], "after a restart");
    assert!(
        matches!(
            store.read_chunk(LogPosition::new(8, 1), 0, 10),
            Err(StorageError::NoSuchSnapshot { index: 8, term: 1 })
        ),
        "the abandoned snapshot cannot be read"
    );
}

/// Rule: an empty store lists nothing and refuses to read a snapshot it
/// does not have.
pub fn snapshot_unknown_is_refused<H: SnapshotStoreHarness>(harness: &mut H) {
    let store = harness.create();
    assert!(store.list().is_empty(), "an empty store lists nothing");
    assert_eq!(store.latest(), None);
    assert!(
        matches!(
            store.read_chunk(LogPosition::new(1, 1), 0, 10),
            Err(StorageError::NoSuchSnapshot { index: 1, term: 1 })
        ),
        "an unknown snapshot is refused"
    );
}

/// Expands to one `#[test]` per snapshot-store conformance case, each
/// calling the case with a fresh harness built by `$harness`.
///
/// ```ignore
/// tessera_storage::snapshot_store_conformance!(MyHarness::new());
/// ```
#[macro_export]
macro_rules! snapshot_store_conformance {
    ($harness:expr) => {
        $crate::log_store_conformance!(@cases $harness;
            snapshot_chunks_round_trip,
            snapshot_keeps_the_newest,
            snapshot_commit_survives_restart,
            snapshot_abandoned_is_never_listed,
            snapshot_unknown_is_refused
        );
    };
}

/// Expands to one `#[test]` per conformance case, each calling the case
/// with a fresh harness built by `$harness`.
///
/// ```ignore
/// tessera_storage::log_store_conformance!(MyHarness::new());
/// ```
#[macro_export]
macro_rules! log_store_conformance {
    ($harness:expr) => {
        $crate::log_store_conformance!(@cases $harness;
            empty_log,
            append_and_read,
            append_must_continue_the_log,
            truncate_removes_the_suffix,
            purge_keeps_the_suffix,
            purge_past_or_conflicting_discards_the_log,
            hard_state_reads_back,
            restart_keeps_everything_synced,
            restart_after_discarding_the_log,
            log_writes_apply_in_order,
            random_operations_match_a_model
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let mut harness = $harness;
                $crate::conformance::$case(&mut harness);
            }
        )*
    };
}

//! Snapshot stores: the same rules for the file store and the in-memory
//! one, then the file store's crash safety and corruption checks.

// A test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use tessera_core::{Evidence, EvidenceKind, EvidenceScope, Instant};
use tessera_storage::conformance::{
    self, SnapshotStoreHarness, read_snapshot, snapshot_bytes, write_snapshot,
};
use tessera_storage::{
    CrashKind, Faults, FaultyFs, LogPosition, MemSnapshots, SNAPSHOT_BLOCK_BYTES, SimFs,
    SnapshotDir, SnapshotMeta, SnapshotStore, SnapshotWriter, StorageError, verify_snapshot,
};

const DIR: &str = "/node/snapshots";

fn open_dir(fs: &SimFs) -> SnapshotDir {
    SnapshotDir::open(Arc::new(fs.clone()), DIR, 2).unwrap()
}

/// The in-memory store: restarting keeps it as it is.
struct Memory;

impl SnapshotStoreHarness for Memory {
    type Store = MemSnapshots;
    fn create(&mut self) -> MemSnapshots {
        MemSnapshots::new(2).unwrap()
    }
    fn restart(&mut self, store: MemSnapshots) -> MemSnapshots {
        store
    }
}

/// Snapshot files on the simulated file system: restarting crashes it
/// (only synced data survives) and reopens the directory.
struct Files {
    fs: SimFs,
}

impl SnapshotStoreHarness for Files {
    type Store = SnapshotDir;
    fn create(&mut self) -> SnapshotDir {
        open_dir(&self.fs)
    }
    fn restart(&mut self, store: SnapshotDir) -> SnapshotDir {
        drop(store);
        self.fs = self.fs.crash(CrashKind::SyncedOnly);
        open_dir(&self.fs)
    }
}

mod memory {
    use super::*;
    tessera_storage::snapshot_store_conformance!(Memory);
}

mod files {
    use super::*;
    tessera_storage::snapshot_store_conformance!(Files { fs: SimFs::new() });
}

#[test]
fn files_keep_the_newest_and_remove_the_rest() {
    let mut files = Files { fs: SimFs::new() };
    conformance::snapshot_keeps_the_newest(&mut files);
    let paths: Vec<PathBuf> = files.fs.paths();
    assert_eq!(paths.len(), 2, "{paths:?}");
    // Reopened, the same two.
    let store = open_dir(&files.fs.crash(CrashKind::SyncedOnly));
    let kept: Vec<u64> = store.list().iter().map(|meta| meta.last.index).collect();
    assert_eq!(kept, vec![30, 40]);
}

#[test]
fn keeping_none_is_refused() {
    assert!(matches!(
        MemSnapshots::new(0),
        Err(StorageError::InvalidParameter(_))
    ));
    assert!(SnapshotDir::open(Arc::new(SimFs::new()), DIR, 0).is_err());
}

// Rule: a commit is atomic: a power loss before it leaves no trace, after
// it the whole snapshot.
#[test]
fn commit_is_atomic_under_power_loss() {
    for seed in 0..20 {
        let fs = SimFs::new();
        let mut store = open_dir(&fs);
        let bytes = snapshot_bytes(200_000, seed as u8);
        let mut writer = store.create(LogPosition::new(9, 2), Vec::new()).unwrap();
        writer.write_chunk(&bytes).unwrap();
        let before = open_dir(&fs.crash(CrashKind::PowerLoss { seed }));
        assert!(before.list().is_empty(), "seed {seed}");
        let meta = store.commit(writer).unwrap();
        let after = open_dir(&fs.crash(CrashKind::PowerLoss { seed }));
        assert_eq!(after.latest(), Some(meta.clone()));
        assert_eq!(read_snapshot(&after, meta.last, 50_000), bytes);
    }
}

// Rule: an abandoned snapshot leaves nothing behind.
#[test]
fn abandoned_snapshots_leave_nothing() {
    let fs = SimFs::new();
    let mut store = open_dir(&fs);
    let mut writer = store.create(LogPosition::new(3, 1), Vec::new()).unwrap();
    writer.write_chunk(b"partial").unwrap();
    drop(writer);
    assert!(fs.paths().is_empty(), "{:?}", fs.paths());
    // A crash mid-write leaves a temporary file: the next open removes it.
    let writer = {
        let mut writer = store.create(LogPosition::new(4, 1), Vec::new()).unwrap();
        writer.write_chunk(b"partial").unwrap();
        writer
    };
    let crashed = fs.crash(CrashKind::ProcessCrash);
    drop(writer);
    assert_eq!(crashed.paths().len(), 1);
    let reopened = open_dir(&crashed);
    assert!(reopened.list().is_empty());
    assert!(crashed.paths().is_empty());
}

// Rule: a failed sync during commit is an error and the snapshot is not
// committed.
#[test]
fn failed_sync_does_not_commit() {
    let faults = Faults::new();
    let sim = SimFs::new();
    let mut store =
        SnapshotDir::open(Arc::new(FaultyFs::new(sim.clone(), faults.clone())), DIR, 2).unwrap();
    let mut writer = store.create(LogPosition::new(5, 1), Vec::new()).unwrap();
    writer.write_chunk(&snapshot_bytes(1000, 1)).unwrap();
    faults.fail_syncs_after(0);
    let error = store.commit(writer).unwrap_err();
    assert!(error.to_string().contains("fdatasync"), "{error}");
    assert!(store.list().is_empty());
    faults.heal();
    assert!(
        open_dir(&sim.crash(CrashKind::SyncedOnly))
            .list()
            .is_empty()
    );
}

fn the_file(fs: &SimFs) -> PathBuf {
    fs.paths()
        .into_iter()
        .find(|path| path.extension().is_some_and(|ext| ext == "snap"))
        .unwrap()
}

// Rule: damage to a block is reported with the file and offset when the
// chunk is read; damage to the footer or a truncation, when the store opens.
#[test]
fn damage_is_detected() {
    let fs = SimFs::new();
    let mut store = open_dir(&fs);
    let bytes = snapshot_bytes(2 * SNAPSHOT_BLOCK_BYTES as usize + 10, 3);
    let meta = write_snapshot(&mut store, LogPosition::new(50, 2), &bytes, 4096);
    let path = the_file(&fs);
    let pristine = fs.read_file(&path).unwrap();

    // A flipped bit in the second block.
    let mut damaged = pristine.clone();
    let at = 32 + SNAPSHOT_BLOCK_BYTES as usize + 4 + 100;
    damaged[at] ^= 1;
    fs.overwrite_file(&path, &damaged);
    let store = open_dir(&fs);
    assert_eq!(store.read_chunk(meta.last, 0, 100).unwrap(), &bytes[..100]);
    match store.read_chunk(meta.last, SNAPSHOT_BLOCK_BYTES as u64, 10) {
        Err(StorageError::Corruption { file, offset, .. }) => {
            assert_eq!(file, path);
            assert_eq!(offset, 32 + u64::from(SNAPSHOT_BLOCK_BYTES) + 4);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(verify_snapshot(&store, &meta, 1 << 20).is_err());

    // Every flip in the header, footer or trailer, and every truncation,
    // stops the store from opening.
    let footer_start = pristine.len() - 16 - (8 + 8 + 8 + 4 + 4 + 12);
    for offset in (0..32).chain(footer_start..pristine.len()) {
        let mut damaged = pristine.clone();
        damaged[offset] ^= 0x20;
        fs.overwrite_file(&path, &damaged);
        assert!(
            matches!(SnapshotDir::open(Arc::new(fs.clone()), DIR, 2), Err(e) if e.is_corruption()),
            "flip at {offset}"
        );
    }
    for len in (0..pristine.len()).step_by(997) {
        fs.overwrite_file(&path, &pristine[..len]);
        assert!(
            matches!(SnapshotDir::open(Arc::new(fs.clone()), DIR, 2), Err(e) if e.is_corruption()),
            "cut to {len}"
        );
    }
}

// Rule: snapshot metadata is core evidence of what state it includes,
// scoped to its last position.
#[test]
fn snapshot_metadata_is_evidence() {
    let meta = SnapshotMeta {
        last: LogPosition::new(12, 3),
        configuration: Vec::new(),
        size_bytes: 0,
        checksum: 0,
    };
    assert_eq!(meta.kind(), EvidenceKind::SnapshotMeta);
    assert!(meta.proves(
        &EvidenceScope::Instance {
            epoch: 3,
            index: 12
        },
        Instant::ZERO
    ));
    assert!(!meta.proves(
        &EvidenceScope::Instance {
            epoch: 3,
            index: 11
        },
        Instant::ZERO
    ));
    let bogus = SnapshotMeta {
        last: LogPosition::new(0, 3),
        ..meta
    };
    assert!(bogus.validate().is_err());
}

//! The LogStore conformance suite, run against every implementation.

// Test helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use tessera_storage::conformance::LogStoreHarness;
use tessera_storage::{
    CrashKind, DurableLog, HardState, MemLog, RawEntry, SimFs, StdFs, WalOptions,
};

fn entry(index: u64, term: u64) -> RawEntry {
    // Payloads of varying length, so records straddle segment boundaries.
    let len = (index * 7 + term) % 50;
    RawEntry::new(index, term, vec![(index % 251) as u8; len as usize])
}

fn hard_state(term: u64) -> HardState {
    HardState {
        term,
        vote: term.is_multiple_of(2).then_some(term % 5),
        commit: term * 3,
        configuration: term.to_le_bytes().to_vec(),
    }
}

fn options(segment_bytes_max: u64) -> WalOptions {
    WalOptions {
        segment_bytes_max,
        record_bytes_max: 200,
        ..WalOptions::default()
    }
}

/// The in-memory log: restarting keeps it as it is.
struct Memory;

impl LogStoreHarness for Memory {
    type Store = MemLog<RawEntry>;
    type Entry = RawEntry;
    type HardState = HardState;

    fn create(&mut self) -> Self::Store {
        MemLog::new()
    }
    fn restart(&mut self, store: Self::Store) -> Self::Store {
        store
    }
    fn entry(&self, index: u64, term: u64) -> RawEntry {
        entry(index, term)
    }
    fn hard_state(&self, term: u64) -> HardState {
        hard_state(term)
    }
}

mod mem_log {
    use super::*;
    tessera_storage::log_store_conformance!(Memory);
}

/// The durable log on the real file system, closed and reopened.
struct OnDisk {
    root: tempfile::TempDir,
    /// Each `create` starts a fresh log in a new directory under `root`.
    logs: usize,
    options: WalOptions,
}

impl OnDisk {
    fn new(segment_bytes_max: u64) -> Self {
        OnDisk {
            root: tempfile::tempdir().expect("temp dir"),
            logs: 0,
            options: options(segment_bytes_max),
        }
    }

    fn open(&self) -> DurableLog<RawEntry> {
        let dir = self.root.path().join(self.logs.to_string());
        let (log, _) = DurableLog::open(Arc::new(StdFs), dir, self.options.clone())
            .expect("open the durable log");
        log
    }
}

impl LogStoreHarness for OnDisk {
    type Store = DurableLog<RawEntry>;
    type Entry = RawEntry;
    type HardState = HardState;

    fn create(&mut self) -> Self::Store {
        self.logs += 1;
        self.open()
    }
    fn restart(&mut self, store: Self::Store) -> Self::Store {
        store.close().expect("close");
        self.open()
    }
    fn entry(&self, index: u64, term: u64) -> RawEntry {
        entry(index, term)
    }
    fn hard_state(&self, term: u64) -> HardState {
        hard_state(term)
    }
}

mod durable_log {
    use super::*;
    tessera_storage::log_store_conformance!(OnDisk::new(64 << 20));
}

// Segments of a few records each: appends roll segments, truncations cut
// across them, purges remove them.
mod durable_log_small_segments {
    use super::*;
    tessera_storage::log_store_conformance!(OnDisk::new(300));
}

/// The durable log on a simulated disk that loses power at every restart:
/// only what was synced survives, so `sync` must really mean durable.
struct PowerLoss {
    fs: SimFs,
    dir: PathBuf,
    options: WalOptions,
    /// The cache is turned off so that reads go to the (simulated) disk.
    cache: usize,
}

impl PowerLoss {
    fn new(segment_bytes_max: u64) -> Self {
        PowerLoss {
            fs: SimFs::new(),
            dir: PathBuf::from("/node/log"),
            options: options(segment_bytes_max),
            cache: 0,
        }
    }

    fn open(&self) -> DurableLog<RawEntry> {
        let (mut log, _) =
            DurableLog::open(Arc::new(self.fs.clone()), &self.dir, self.options.clone())
                .expect("open the durable log");
        log.set_cache_entries_max(self.cache);
        log
    }
}

impl LogStoreHarness for PowerLoss {
    type Store = DurableLog<RawEntry>;
    type Entry = RawEntry;
    type HardState = HardState;

    fn create(&mut self) -> Self::Store {
        self.fs = SimFs::new();
        self.open()
    }
    fn restart(&mut self, store: Self::Store) -> Self::Store {
        // The crash happens before the old log closes (and seals).
        let rebooted = self.fs.crash(CrashKind::SyncedOnly);
        drop(store);
        self.fs = rebooted;
        self.open()
    }
    fn entry(&self, index: u64, term: u64) -> RawEntry {
        entry(index, term)
    }
    fn hard_state(&self, term: u64) -> HardState {
        hard_state(term)
    }
}

mod durable_log_power_loss {
    use super::*;
    tessera_storage::log_store_conformance!(PowerLoss::new(400));
}

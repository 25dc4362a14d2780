//! Raft's persistence adapter: [`RaftWrite`]s onto a `DurableLog` and a
//! `SnapshotDir`, and a node's recovery from them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tessera_raft::{
    Entry, RaftError, RaftWrite, Recovered, StateMachine, apply_write, restore_from,
};
use tessera_storage::{
    Codec, DurableLog, DurableTicket, FileSystem, LogPosition, LogStore, RecoveryReport,
    SnapshotDir, SnapshotFileWriter, SnapshotStore, StorageError, WalOptions,
};

use crate::DurableStore;

/// How many committed snapshots a node keeps on disk (the newest is the
/// one that counts; the one before is a spare while the next is written).
pub const SNAPSHOTS_KEPT: usize = 2;

/// A Raft node's stable storage: its log and hard state in a
/// [`DurableLog`] under `<dir>/log`, its snapshots in a [`SnapshotDir`]
/// under `<dir>/snapshots`.
///
/// Writes keep their order across the two: before a snapshot is
/// committed, every earlier log write is made durable, so whatever prefix
/// of the writes a crash keeps is one the node can recover from (a
/// snapshot newer than the log it covers is fine; the node prefers it).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tessera_net::{DurableStore, MapCommand, RaftStore};
/// use tessera_raft::{Entry, RaftWrite};
/// use tessera_storage::{LogWrite, StdFs};
///
/// let dir = tempfile::tempdir()?;
/// let put = MapCommand::Put { key: b"k".to_vec(), value: b"v".to_vec() };
/// let (mut store, recovered) = RaftStore::<MapCommand>::open(Arc::new(StdFs), dir.path())?;
/// assert!(recovered.is_empty());
/// store.write(RaftWrite::Log(LogWrite::Append(vec![Entry::command(1, 1, put.clone())])))?;
/// store.durable_ticket().wait()?;
/// drop(store);
///
/// let (_store, recovered) = RaftStore::<MapCommand>::open(Arc::new(StdFs), dir.path())?;
/// assert_eq!(recovered.entries, vec![Entry::command(1, 1, put)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RaftStore<C> {
    log: DurableLog<Entry<C>>,
    snapshots: SnapshotDir,
    partial: Option<(LogPosition, SnapshotFileWriter)>,
    report: RecoveryReport,
}

impl<C> fmt::Debug for RaftStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaftStore")
            .field("snapshots", &self.snapshots.dir())
            .field(
                "writing_snapshot",
                &self.partial.as_ref().map(|(at, _)| *at),
            )
            .finish()
    }
}

impl<C: Codec + Clone> RaftStore<C> {
    /// Opens (creating if needed) the storage in `dir` and reads back what
    /// a restarting node recovers from.
    ///
    /// # Errors
    ///
    /// The storage's error: I/O, or corruption of synced data (named by
    /// file and offset).
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
    ) -> Result<(Self, Recovered<C>), StorageError> {
        let dir = dir.as_ref();
        let (log, report) =
            DurableLog::<Entry<C>>::open(Arc::clone(&fs), dir.join("log"), WalOptions::default())?;
        let snapshots = SnapshotDir::open(fs, dir.join("snapshots"), SNAPSHOTS_KEPT)?;
        let base = log.base();
        let entries = if log.last_index() > base.index {
            log.entries(base.index + 1..log.last_index() + 1)?
        } else {
            Vec::new()
        };
        let recovered = Recovered {
            hard_state: log.hard_state().cloned(),
            snapshot: snapshots.latest(),
            log_base: base,
            entries,
        };
        let store = RaftStore {
            log,
            snapshots,
            partial: None,
            report,
        };
        Ok((store, recovered))
    }

    /// What opening the log found and repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Restores `state_machine` from the latest committed snapshot, reading
    /// it `chunk_bytes` at a time; does nothing without one. A restarting
    /// node's state machine must be restored before the node starts.
    ///
    /// # Errors
    ///
    /// [`RaftError::SnapshotRestore`] if the snapshot cannot be read back,
    /// does not match its checksum, or the state machine refuses it.
    pub fn restore_state_machine<S: StateMachine<Command = C>>(
        &self,
        state_machine: &mut S,
        chunk_bytes: usize,
    ) -> Result<(), RaftError> {
        let Some(meta) = self.snapshots.latest() else {
            return Ok(());
        };
        restore_from(state_machine, &meta, chunk_bytes, |offset, len| {
            self.snapshots.read_chunk(meta.last, offset, len)
        })
    }
}

impl<C: Codec + Clone + Send + 'static> DurableStore<RaftWrite<C>> for RaftStore<C> {
    fn write(&mut self, write: RaftWrite<C>) -> Result<(), StorageError> {
        if matches!(write, RaftWrite::SnapshotCommit { .. }) {
            // A crash must keep a prefix of the writes: the log writes
            // before this commit become durable first.
            self.log.durable_ticket().wait()?;
        }
        apply_write(write, &mut self.log, &mut self.snapshots, &mut self.partial)
    }

    fn durable_ticket(&mut self) -> DurableTicket {
        self.log.durable_ticket()
    }
}

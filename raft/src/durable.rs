//! What a node asks its driver to persist, and what it restarts from.
//!
//! A node emits [`RaftWrite`]s in
//! [`Action::Persist`](tessera_core::Action::Persist). Log writes go to a
//! [`LogStore`] (tessera-storage's `MemLog` or `DurableLog`), snapshot
//! writes to a [`SnapshotStore`] (`MemSnapshots` or `SnapshotDir`):
//! [`apply_write`] performs one on any pair of them, and [`RaftDisk`] is
//! the in-memory pair the simulator keeps as a node's disk image.
//!
//! The order of writes is the order of durability: a snapshot is committed
//! before the log prefix it covers is purged, and a hard state naming a
//! commit index follows the entries it covers, so any prefix a crash keeps
//! is consistent.

use tessera_core::{DurableState, InvalidParameter};
use tessera_storage::{
    HardState, LogPosition, LogStore, LogWrite, MemLog, MemSnapshotWriter, MemSnapshots,
    SnapshotMeta, SnapshotStore, SnapshotWriter, StorageError,
};

use crate::{Entry, Membership, RaftError, StateMachine};

/// One write to stable storage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RaftWrite<C> {
    /// A log write: entries, a truncation, a purge, or the hard state.
    Log(LogWrite<Entry<C>, HardState>),
    /// Start writing a snapshot ([`SnapshotStore::create`]); abandons any
    /// snapshot being written and not committed.
    SnapshotBegin {
        /// Its last position.
        last: LogPosition,
        /// The configuration at `last` (boxed: rare and large).
        membership: Box<Membership>,
    },
    /// The next bytes of the snapshot being written.
    SnapshotChunk {
        /// Its last position.
        last: LogPosition,
        /// Where the bytes go (they follow the previous chunk).
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Make the snapshot durable and the latest ([`SnapshotStore::commit`]).
    SnapshotCommit {
        /// Its last position.
        last: LogPosition,
    },
}

/// Performs `write` on a log store and a snapshot store. `partial` holds
/// the snapshot being written between its begin and its commit; a driver
/// keeps it beside the stores (it is volatile: a crash abandons it).
///
/// # Errors
///
/// The stores' errors, or [`StorageError::InvalidParameter`] for a chunk or
/// commit that does not follow its begin (a node bug).
pub fn apply_write<C, L, S>(
    write: RaftWrite<C>,
    log: &mut L,
    snapshots: &mut S,
    partial: &mut Option<(LogPosition, S::Writer)>,
) -> Result<(), StorageError>
where
    C: Clone,
    L: LogStore<Entry = Entry<C>, HardState = HardState>,
    S: SnapshotStore,
{
    let out_of_order = |what: &str| {
        StorageError::InvalidParameter(InvalidParameter::new(
            "write",
            format!("a snapshot {what} without a matching begin"),
        ))
    };
    match write {
        RaftWrite::Log(write) => log.apply(write),
        RaftWrite::SnapshotBegin { last, membership } => {
            *partial = Some((last, snapshots.create(last, membership.to_bytes())?));
            Ok(())
        }
        RaftWrite::SnapshotChunk { last, offset, data } => match partial {
            Some((at, writer)) if *at == last && writer.written_bytes() == offset => {
                writer.write_chunk(&data)
            }
            _ => Err(out_of_order("chunk")),
        },
        RaftWrite::SnapshotCommit { last } => match partial.take() {
            Some((at, writer)) if at == last => snapshots.commit(writer).map(|_| ()),
            other => {
                *partial = other;
                Err(out_of_order("commit"))
            }
        },
    }
}

/// What a restarting node finds on stable storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered<C> {
    /// The last hard state saved, if any.
    pub hard_state: Option<HardState>,
    /// The latest committed snapshot's metadata, if any. The state machine
    /// handed to the node must already be restored from it.
    pub snapshot: Option<SnapshotMeta>,
    /// The log's purged prefix ends here.
    pub log_base: LogPosition,
    /// The log's entries after `log_base`.
    pub entries: Vec<Entry<C>>,
}

impl<C> Recovered<C> {
    /// Nothing on disk: a node's first start.
    pub fn empty() -> Self {
        Recovered {
            hard_state: None,
            snapshot: None,
            log_base: LogPosition::ZERO,
            entries: Vec::new(),
        }
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none() && self.snapshot.is_none() && self.entries.is_empty()
    }
}

/// A node's stable storage in memory: a [`MemLog`] of entries and hard
/// state, and [`MemSnapshots`]. It is the simulator's disk image
/// (a [`DurableState`] of [`RaftWrite`]s) and what in-process drivers and
/// benchmarks keep.
///
/// # Examples
///
/// ```
/// use tessera_core::{DurableState, InvalidParameter};
/// use tessera_raft::{Entry, RaftDisk, RaftWrite};
/// use tessera_storage::LogWrite;
///
/// let mut disk: RaftDisk<u64> = RaftDisk::default();
/// disk.apply(RaftWrite::Log(LogWrite::Append(vec![Entry::command(1, 1, 7)])));
/// let recovered = disk.recovered();
/// assert_eq!(recovered.entries.len(), 1);
/// ```
#[derive(Debug)]
pub struct RaftDisk<C> {
    /// The log and hard state.
    pub log: MemLog<Entry<C>, HardState>,
    /// The committed snapshots.
    pub snapshots: MemSnapshots,
    partial: Option<(LogPosition, MemSnapshotWriter)>,
}

/// A copy of what is durable: a snapshot being written and not committed
/// is not copied (a crash would abandon it too).
impl<C: Clone> Clone for RaftDisk<C> {
    fn clone(&self) -> Self {
        RaftDisk {
            log: self.log.clone(),
            snapshots: self.snapshots.clone(),
            partial: None,
        }
    }
}

impl<C> Default for RaftDisk<C> {
    fn default() -> Self {
        RaftDisk {
            log: MemLog::default(),
            snapshots: MemSnapshots::default(),
            partial: None,
        }
    }
}

impl<C: Clone> RaftDisk<C> {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Performs one write.
    ///
    /// # Errors
    ///
    /// As [`apply_write`].
    pub fn write(&mut self, write: RaftWrite<C>) -> Result<(), StorageError> {
        apply_write(write, &mut self.log, &mut self.snapshots, &mut self.partial)
    }

    /// What a node restarting from this disk starts from. A snapshot being
    /// written but not committed is left out, as a crash abandons it.
    pub fn recovered(&self) -> Recovered<C> {
        let base = self.log.base();
        Recovered {
            hard_state: self.log.hard_state().cloned(),
            snapshot: self.snapshots.latest(),
            log_base: base,
            entries: self.log.iter().cloned().collect(),
        }
    }

    /// Restores `state_machine` from the latest committed snapshot, chunk by
    /// chunk (`chunk_bytes` at a time). Does nothing without a snapshot.
    ///
    /// # Errors
    ///
    /// [`RaftError::SnapshotRestore`] if the state machine refuses it or
    /// the bytes cannot be read back.
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

/// Restores `state_machine` from the snapshot `meta` describes, reading it
/// `chunk_bytes` at a time through `read_chunk(offset, len)` — from a
/// [`SnapshotStore`] at start-up. The checksum is verified.
///
/// # Errors
///
/// [`RaftError::SnapshotRestore`] if a read fails, the checksum does not
/// match, or the state machine refuses the bytes.
pub fn restore_from<S: StateMachine>(
    state_machine: &mut S,
    meta: &SnapshotMeta,
    chunk_bytes: usize,
    mut read_chunk: impl FnMut(u64, usize) -> Result<Vec<u8>, StorageError>,
) -> Result<(), RaftError> {
    let fail = |reason: String| RaftError::SnapshotRestore { reason };
    let chunk_bytes = chunk_bytes.max(1);
    state_machine.restore_begin();
    let mut offset = 0;
    let mut crc = 0;
    while offset < meta.size_bytes {
        let chunk = read_chunk(offset, chunk_bytes).map_err(|e| fail(e.to_string()))?;
        if chunk.is_empty() {
            return Err(fail(format!(
                "snapshot ends at {offset} of {} bytes",
                meta.size_bytes
            )));
        }
        crc = crc32c::crc32c_append(crc, &chunk);
        state_machine.restore_chunk(&chunk).map_err(fail)?;
        offset += chunk.len() as u64;
    }
    if crc != meta.checksum {
        return Err(fail(format!(
            "checksum {crc:#010x} does not match the recorded {:#010x}",
            meta.checksum
        )));
    }
    state_machine.restore_finish().map_err(fail)
}

impl<C: Clone> DurableState<RaftWrite<C>> for RaftDisk<C> {
    /// # Panics
    ///
    /// If the write does not fit the disk (a gap in the log, a chunk
    /// without its begin): the node that emitted it has a bug.
    fn apply(&mut self, write: RaftWrite<C>) {
        if let Err(error) = self.write(write) {
            panic!("a Raft node persisted a write its disk cannot take: {error}");
        }
    }
}

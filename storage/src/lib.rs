//! # tessera-storage: durability, separate from consensus
//!
//! Consensus does not make a decision durable: a value chosen by a quorum
//! is lost if the nodes that accepted it forget it in a crash. A node must
//! sync before it acknowledges. This crate is that separate mechanism: a
//! crash-safe, segmented **write-ahead log** with **group commit**, the
//! **hard state** written atomically, a **snapshot store**, and the
//! [`LogStore`] interface the Raft, Paxos and PBFT crates keep their logs
//! behind — in memory ([`MemLog`], also the simulator's disk image) or on
//! disk ([`DurableLog`]).
//!
//! ## What it guards
//!
//! - **ACKNOWLEDGED WRITES SURVIVE** — a record is reported durable only
//!   after an `fdatasync` that covers it returned; after any crash,
//!   recovery finds every such record, intact and in order
//!   ([`AcknowledgedWritesSurvive`] checks it). A failed sync is never
//!   reported durable: the log is poisoned and refuses further writes
//!   rather than continue in an unknown state.
//! - **CORRUPTION DETECTED** — every byte on disk is covered by a CRC32C or
//!   a structural check; damage to synced data stops the log from opening
//!   with a [`StorageError::Corruption`] naming the file and offset. Only a
//!   torn tail — records a crash cut short before they were synced — is
//!   repaired, and the repair is reported.
//! - **LOG ORDER** — records keep their order, without gaps; a crash keeps
//!   a prefix of the operations.
//!
//! ## Evidence
//!
//! - **Durability acknowledgements**: a [`DurableTicket`] per operation,
//!   completed after its sync (blocking, as a `Future`, or by callback).
//! - **Checksums**: CRC32C on every record, segment header, state file and
//!   snapshot block, checked when written back and read back.
//! - **Hard state** ([`HardState`]: term, vote — core's `TermVote`
//!   evidence) and **snapshot metadata** ([`SnapshotMeta`], an
//!   [`Evidence`](tessera_core::Evidence) of kind `SnapshotMeta`).
//!
//! ## Modes
//!
//! [`StorageMode`] is a core [`Mode`](tessera_core::Mode) whose matrix is
//! data (and tested): **healthy** (Target), **degraded** (slow syncs or
//! near the size limit: still safe), **read-only** (Floor: poisoned after
//! a failed write or sync), **recovering** (Recovery: scanning and
//! repairing at open). [`Wal::mode_history`] says why the log is in its
//! mode.
//!
//! ## Example
//!
//! A log on disk, appended from many threads with group commit, reopened
//! after a crash:
//!
//! ```
//! use std::sync::Arc;
//! use tessera_storage::{CrashKind, SimFs, StorageMode, Wal, WalOptions};
//!
//! // SimFs is an in-memory disk that can crash; StdFs is the real one.
//! let disk = SimFs::new();
//! let (wal, _report) = Wal::open(Arc::new(disk.clone()), "/log", WalOptions::default())?;
//!
//! // Many appenders, one fdatasync per batch; each learns when its record
//! // is durable.
//! let tickets: Vec<_> = std::thread::scope(|scope| {
//!     let handles: Vec<_> = (0..8u64)
//!         .map(|n| { let wal = &wal; scope.spawn(move || wal.append(1, &n.to_le_bytes())) })
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).collect()
//! });
//! for ticket in tickets {
//!     let (_lsn, ticket) = ticket?;
//!     ticket.wait()?; // durable now, never before
//! }
//! assert_eq!(wal.mode(), StorageMode::Healthy);
//!
//! // The power fails: what was acknowledged survives.
//! let rebooted = disk.crash(CrashKind::SyncedOnly);
//! let (wal, report) = Wal::open(Arc::new(rebooted), "/log", WalOptions::default())?;
//! assert_eq!(report.records, 8);
//! assert_eq!(wal.read(8)?.payload.len(), 8);
//! # Ok::<(), tessera_storage::StorageError>(())
//! ```
//!
//! ## For the consensus crates
//!
//! Keep the log behind [`LogStore`]: [`MemLog`] for in-process runs and
//! benchmarks (typed entries, no serialization), [`DurableLog`] for real
//! nodes. A node emits [`LogWrite`]s in
//! [`Action::Persist`](tessera_core::Action::Persist); the simulator
//! applies them to a [`MemLog`] — which implements core's
//! [`DurableState`](tessera_core::DurableState) for them — and a real driver
//! applies them to a [`DurableLog`] and reports
//! [`Input::Persisted`](tessera_core::Input::Persisted) when
//! [`DurableLog::durable_ticket`] completes. Snapshot data lives in a
//! [`SnapshotStore`] ([`MemSnapshots`], [`SnapshotDir`]); mapping snapshot
//! installation to writes is left to each consensus crate.
//!
//! `docs/durability.md` describes the on-disk format, the recovery
//! procedure, and how to back up and inspect a log (the `tessera-wal`
//! tool).

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod conformance;
mod durable_log;
/// The guide's chapter on durability (`docs/durability.md`), included so
/// its examples are compiled and run as doc-tests.
#[doc = include_str!("../../docs/durability.md")]
pub mod guide {}
mod error;
mod faults;
mod fs;
mod group_commit;
mod index;
mod inspect;
mod invariants;
mod log_store;
mod loom;
mod mem_log;
mod mode;
mod record;
mod recovery;
mod segment;
mod sim_fs;
mod snapshot;
mod wal;

pub use durable_log::{CACHE_ENTRIES_MAX_DEFAULT, DurableLog};
pub use error::{Fault, StorageError};
pub use faults::{Faults, FaultyFs};
pub use fs::{FileSystem, FsFile, StdFs};
pub use group_commit::{CommitQueue, DurableCallback, DurableTicket};
pub use inspect::{InspectedRecord, InspectedSegment, LogInspection, inspect_log};
pub use invariants::AcknowledgedWritesSurvive;
pub use log_store::{
    Codec, CodecReader, HardState, LogEntry, LogPosition, LogStore, LogWrite, RawEntry,
    encode_prefixed,
};
pub use mem_log::MemLog;
pub use mode::{ACKNOWLEDGED_WRITES_SURVIVE, CORRUPTION_DETECTED, LOG_ORDER, StorageMode};
pub use record::{
    Frame, FrameDefect, RECORD_HEADER_BYTES, RECORD_PAYLOAD_MAX, RecordKind, decode_frame,
    encode_frame, fuzz_record_decoder,
};
pub use recovery::{RecoveryReport, Repair, fuzz_segment_recovery};
pub use segment::{FORMAT_VERSION, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC};
pub use sim_fs::{CrashKind, SECTOR_BYTES, SimFs};
pub use snapshot::{
    MemSnapshotWriter, MemSnapshots, SNAPSHOT_BLOCK_BYTES, SNAPSHOT_MAGIC, SnapshotDir,
    SnapshotFileWriter, SnapshotMeta, SnapshotStore, SnapshotWriter, verify_snapshot,
};
pub use wal::{Record, Wal, WalOptions, WalStats};

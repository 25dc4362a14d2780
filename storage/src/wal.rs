//! The segmented write-ahead log with group commit.

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tessera_core::{Clock, Instant, ModeTracker, ModeTransition, SystemClock, duration_nanos};

use crate::error::invalid;
use crate::fs::{FileSystem, read_exact_at, write_all_at};
use crate::group_commit::{CommitQueue, DurableTicket};
use crate::index::{IndexedSegment, SegmentIndex};
use crate::record::{
    RECORD_HEADER_BYTES, RECORD_PAYLOAD_MAX, RecordKind, decode_frame, seal_frame, write_header,
};
use crate::recovery::{RecoveryReport, recover};
use crate::segment::{
    HARD_STATE_FILE, HARD_STATE_MAGIC, META_FILE, META_MAGIC, SEGMENT_HEADER_BYTES, SegmentHeader,
    WalMeta, create_segment, write_state_file,
};
use crate::{LogPosition, StorageError, StorageMode};

/// How a [`Wal`] is sized and when it reports itself degraded.
#[derive(Clone)]
pub struct WalOptions {
    /// A segment is sealed and a new one started once the next record would
    /// take it past this size. Default 64 MiB; at most 1 GiB.
    pub segment_bytes_max: u64,
    /// The largest record payload accepted. Default 16 MiB; at most 1 GiB
    /// and at most `segment_bytes_max`.
    pub record_bytes_max: u32,
    /// Appenders wait while this many bytes are queued or being written, so
    /// a slow disk cannot make memory grow without bound. Default 64 MiB.
    pub queue_bytes_max: u64,
    /// Appends are refused with [`StorageError::LogFull`] once the segments
    /// and the queue hold this many bytes; above 90% the log reports
    /// [`StorageMode::Degraded`]. `None` (the default) for no limit.
    pub log_bytes_max: Option<u64>,
    /// A sync slower than this makes the log report
    /// [`StorageMode::Degraded`]. Default 500 ms.
    pub slow_sync_threshold: Duration,
    /// The clock that times syncs and mode transitions.
    pub clock: Arc<dyn Clock>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes_max: 64 << 20,
            record_bytes_max: 16 << 20,
            queue_bytes_max: 64 << 20,
            log_bytes_max: None,
            slow_sync_threshold: Duration::from_millis(500),
            clock: Arc::new(SystemClock::new()),
        }
    }
}

impl fmt::Debug for WalOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalOptions")
            .field("segment_bytes_max", &self.segment_bytes_max)
            .field("record_bytes_max", &self.record_bytes_max)
            .field("queue_bytes_max", &self.queue_bytes_max)
            .field("log_bytes_max", &self.log_bytes_max)
            .field("slow_sync_threshold", &self.slow_sync_threshold)
            .finish_non_exhaustive()
    }
}

impl WalOptions {
    /// Checks the options.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidParameter`] naming the field out of range.
    pub fn validate(&self) -> Result<(), StorageError> {
        let segment_min = (SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES) as u64;
        if self.segment_bytes_max < segment_min || self.segment_bytes_max > 1 << 30 {
            return Err(invalid(
                "segment_bytes_max",
                format!(
                    "must be within [{segment_min}, 1 GiB], got {}",
                    self.segment_bytes_max
                ),
            ));
        }
        if self.record_bytes_max > RECORD_PAYLOAD_MAX
            || u64::from(self.record_bytes_max) > self.segment_bytes_max
        {
            return Err(invalid(
                "record_bytes_max",
                format!(
                    "must be at most 1 GiB and at most segment_bytes_max, got {}",
                    self.record_bytes_max
                ),
            ));
        }
        if self.queue_bytes_max == 0 {
            return Err(invalid("queue_bytes_max", "must be positive"));
        }
        if self.log_bytes_max == Some(0) {
            return Err(invalid("log_bytes_max", "must be positive"));
        }
        Ok(())
    }
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its position in the log.
    pub lsn: u64,
    /// Its term.
    pub term: u64,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Counters of a [`Wal`], the metrics its modes are judged by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WalStats {
    /// Batches the syncer performed.
    pub batches: u64,
    /// `fdatasync` calls on segments.
    pub syncs: u64,
    /// Records written.
    pub records: u64,
    /// The most records one batch held.
    pub batch_records_max: u64,
    /// Bytes written to segments.
    pub bytes_written: u64,
    /// How long the last batch's sync took, in nanoseconds.
    pub last_sync_nanos: u64,
    /// Total time the syncer spent performing batches (writing and
    /// syncing), in nanoseconds: over a wall-clock interval, the fraction
    /// of time the disk was kept busy.
    pub busy_nanos: u64,
    /// Bytes in the segment files now.
    pub disk_bytes: u64,
    /// Bytes appended but not yet written.
    pub queued_bytes: u64,
}

/// An operation the syncer performs, in submission order.
enum WalOp {
    Append { frame: Arc<Vec<u8>> },
    Truncate { from: u64 },
    Purge { upto: LogPosition },
    Reset { upto: LogPosition },
    SaveState { bytes: Arc<Vec<u8>> },
}

/// A record appended but not yet written: readable from memory until the
/// syncer has written it.
struct Unwritten {
    seq: u64,
    lsn: u64,
    term: u64,
    frame: Arc<Vec<u8>>,
}

/// What appenders, readers and the syncer share, under the queue's lock.
struct WalState {
    /// The lsn the next append gets.
    next_lsn: u64,
    /// The purged prefix, as appenders see it.
    base: LogPosition,
    /// Every record at or below this lsn is durable: stamped into each new
    /// record as `durable_through`.
    durable_lsn: u64,
    /// The sequence number of the latest truncation or reset submitted.
    last_cut_seq: u64,
    unwritten: VecDeque<Unwritten>,
    unwritten_bytes: u64,
    index: SegmentIndex,
    /// Raised whenever records leave the index, so a reader that raced a
    /// truncation can tell.
    read_epoch: u64,
    hard_state: Option<Arc<Vec<u8>>>,
    /// Set once the log is poisoned: records above it may not be durable.
    poisoned_at: Option<u64>,
    mode: ModeTracker<StorageMode>,
    stats: WalStats,
    close_error: Option<StorageError>,
}

impl WalState {
    fn last_lsn(&self) -> u64 {
        let last = self.next_lsn - 1;
        self.poisoned_at.map_or(last, |durable| last.min(durable))
    }

    fn check_lsn(&self, lsn: u64) -> Result<(), StorageError> {
        if lsn <= self.base.index {
            return Err(StorageError::Compacted {
                index: lsn,
                first_index: self.base.index + 1,
            });
        }
        if lsn > self.last_lsn() {
            return Err(StorageError::BeyondEnd {
                index: lsn,
                last_index: self.last_lsn(),
            });
        }
        Ok(())
    }

    fn unwritten(&self, lsn: u64) -> Option<&Unwritten> {
        let position = self
            .unwritten
            .binary_search_by_key(&lsn, |record| record.lsn)
            .ok()?;
        self.unwritten.get(position)
    }

    /// Lowers the durability stamp after a cut at `from`.
    fn cut(&mut self, seq: u64, from: u64) {
        self.last_cut_seq = seq;
        self.durable_lsn = self.durable_lsn.min(from - 1);
        while self
            .unwritten
            .back()
            .is_some_and(|record| record.lsn >= from)
        {
            if let Some(record) = self.unwritten.pop_back() {
                self.unwritten_bytes -= record.frame.len() as u64;
            }
        }
        self.next_lsn = from;
    }
}

type Queue = CommitQueue<WalState, WalOp>;

/// A crash-safe, segmented write-ahead log with group commit.
///
/// Records are appended from any number of threads; each append returns a
/// [`DurableTicket`] that completes once one `fdatasync` covered the record
/// — one sync per batch of everything appended meanwhile, done by the log's
/// syncer thread. Records are numbered by lsn from 1, without gaps; a
/// suffix can be truncated, a prefix purged.
///
/// [`Wal::open`] recovers the log: torn tails are cut, corruption is
/// reported with the file and offset (see [`RecoveryReport`]).
///
/// After a failed write or sync the log is poisoned
/// ([`StorageMode::ReadOnly`]): nothing pending is reported durable, every
/// later write fails, and records known durable stay readable. Reopen it to
/// recover.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tessera_storage::{StdFs, Wal, WalOptions};
///
/// let dir = tempfile::tempdir()?;
/// let (wal, report) = Wal::open(Arc::new(StdFs), dir.path(), WalOptions::default())?;
/// assert_eq!(report.records, 0);
///
/// // Appends from many threads share syncs; each learns when it is durable.
/// std::thread::scope(|scope| {
///     for thread in 0..4u8 {
///         let wal = &wal;
///         scope.spawn(move || {
///             let (_lsn, ticket) = wal.append(1, &[thread; 16]).unwrap();
///             ticket.wait().unwrap();
///         });
///     }
/// });
/// assert_eq!(wal.last_lsn(), 4);
/// wal.close()?;
///
/// let (wal, report) = Wal::open(Arc::new(StdFs), dir.path(), WalOptions::default())?;
/// assert_eq!((report.records, report.clean), (4, true));
/// assert_eq!(wal.read(3)?.payload.len(), 16);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Wal {
    queue: Arc<Queue>,
    syncer: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
    options: WalOptions,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::io(operation, path, None, source)
}

impl Wal {
    /// Opens (creating if needed) the log in `dir`, recovering it: see the
    /// [`RecoveryReport`] for what was found and repaired. Only one `Wal`
    /// may have a directory open at a time.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corruption`] if the log is damaged beyond a torn
    /// tail (it does not open: an operator decides), an I/O error, or
    /// invalid options.
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
        options: WalOptions,
    ) -> Result<(Wal, RecoveryReport), StorageError> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let started = options.clock.now();
        let recovered = recover(&*fs, &dir, options.record_bytes_max)?;
        let report = recovered.report.clone();
        let last_lsn = report.last_lsn;
        let current = recovered
            .index
            .segments
            .back()
            .map(Current::of)
            .ok_or_else(|| {
                StorageError::corruption(&dir, 0, "recovery left no segment to append to")
            })?;
        let mut mode = ModeTracker::new(StorageMode::Recovering, started);
        mode.enter(
            StorageMode::Healthy,
            format!("recovery finished: {report}"),
            options.clock.now(),
        );
        let disk_bytes = recovered.index.bytes();
        let state = WalState {
            next_lsn: last_lsn + 1,
            base: recovered.meta.base,
            durable_lsn: last_lsn,
            last_cut_seq: 0,
            unwritten: VecDeque::new(),
            unwritten_bytes: 0,
            index: recovered.index,
            read_epoch: 0,
            hard_state: recovered.hard_state.map(Arc::new),
            poisoned_at: None,
            mode,
            stats: WalStats {
                disk_bytes,
                ..WalStats::default()
            },
            close_error: None,
        };
        let queue = Arc::new(CommitQueue::new(state, options.queue_bytes_max));
        let syncer = Syncer {
            fs,
            dir: dir.clone(),
            options: options.clone(),
            queue: Arc::clone(&queue),
            current,
            meta: recovered.meta,
            next_lsn: last_lsn + 1,
            unsynced: false,
            buffer: Vec::new(),
            buffered: Vec::new(),
            syncs: 0,
        };
        let handle = std::thread::Builder::new()
            .name("tessera-wal-syncer".to_string())
            .spawn(move || syncer.run())
            .map_err(io("spawn the syncer thread", &dir))?;
        Ok((
            Wal {
                queue,
                syncer: Mutex::new(Some(handle)),
                dir,
                options,
            },
            report,
        ))
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &WalOptions {
        &self.options
    }

    /// Appends a record with the next lsn; returns the lsn and the ticket
    /// that completes when the record is durable.
    ///
    /// Waits first if the queue is over its byte bound (back-pressure).
    ///
    /// # Errors
    ///
    /// [`StorageError::RecordTooLarge`], [`StorageError::LogFull`],
    /// [`StorageError::Poisoned`] or [`StorageError::Closed`].
    pub fn append(&self, term: u64, payload: &[u8]) -> Result<(u64, DurableTicket), StorageError> {
        self.append_checked(None, term, payload)
    }

    /// Appends a record that must get lsn `lsn`: for a caller that numbers
    /// records itself (a consensus log whose lsn is the entry's index).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotContiguous`] if `lsn` is not the next lsn, or as
    /// [`append`](Self::append).
    pub fn append_at(
        &self,
        lsn: u64,
        term: u64,
        payload: &[u8],
    ) -> Result<DurableTicket, StorageError> {
        self.append_checked(Some(lsn), term, payload)
            .map(|(_, ticket)| ticket)
    }

    fn append_checked(
        &self,
        expected_lsn: Option<u64>,
        term: u64,
        payload: &[u8],
    ) -> Result<(u64, DurableTicket), StorageError> {
        if payload.len() as u64 > u64::from(self.options.record_bytes_max) {
            return Err(StorageError::RecordTooLarge {
                len: payload.len() as u64,
                max: u64::from(self.options.record_bytes_max),
            });
        }
        // Everything that grows with the payload happens before the lock:
        // copying it into the frame and checksumming it.
        let payload_len = payload.len() as u32;
        let mut frame = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
        frame.resize(RECORD_HEADER_BYTES, 0);
        frame.extend_from_slice(payload);
        let payload_crc = crc32c::crc32c(payload);
        let cost = frame.len() as u64;
        let log_bytes_max = self.options.log_bytes_max;
        let mut assigned = 0;
        let ticket = CommitQueue::submit(&self.queue, cost, |state, seq| {
            let lsn = state.next_lsn;
            if let Some(expected) = expected_lsn
                && expected != lsn
            {
                return Err(StorageError::NotContiguous {
                    expected: lsn,
                    got: expected,
                });
            }
            if let Some(max) = log_bytes_max {
                let bytes = state.stats.disk_bytes + state.unwritten_bytes + cost;
                if bytes > max {
                    return Err(StorageError::LogFull { bytes, max });
                }
            }
            write_header(
                &mut frame,
                RecordKind::Entry,
                lsn,
                term,
                state.durable_lsn,
                payload_len,
            );
            seal_frame(&mut frame, payload_crc);
            let frame = Arc::new(std::mem::take(&mut frame));
            state.unwritten.push_back(Unwritten {
                seq,
                lsn,
                term,
                frame: Arc::clone(&frame),
            });
            state.unwritten_bytes += cost;
            state.next_lsn += 1;
            assigned = lsn;
            Ok(WalOp::Append { frame })
        })?;
        Ok((assigned, ticket))
    }

    /// Removes every record from `from` on. Records at `from` and after can
    /// be appended again at once; the truncation is durable (and ordered
    /// before them) when the ticket completes.
    ///
    /// # Errors
    ///
    /// [`StorageError::Compacted`] if `from` is within the purged prefix,
    /// [`StorageError::BeyondEnd`] past the next lsn, or
    /// [`StorageError::Poisoned`] / [`StorageError::Closed`].
    pub fn truncate_from(&self, from: u64) -> Result<DurableTicket, StorageError> {
        CommitQueue::submit(&self.queue, 0, |state, seq| {
            crate::log_store::check_truncation(from, state.base.index, state.next_lsn - 1)?;
            state.cut(seq, from);
            state.read_epoch += 1;
            Ok(WalOp::Truncate { from })
        })
    }

    /// Purges the prefix up to `upto`, as [`LogStore::purge_to`] says: if
    /// the log holds `upto.index` with term `upto.term`, later records stay;
    /// otherwise every record goes and the log continues at
    /// `upto.index + 1`. Whole segments are removed once their records are
    /// all purged.
    ///
    /// [`LogStore::purge_to`]: crate::LogStore::purge_to
    ///
    /// # Errors
    ///
    /// [`StorageError::Poisoned`] or [`StorageError::Closed`].
    pub fn purge_to(&self, upto: LogPosition) -> Result<DurableTicket, StorageError> {
        CommitQueue::submit(&self.queue, 0, |state, seq| {
            if upto.index <= state.base.index {
                // Nothing to do, but the ticket still orders after earlier
                // operations.
                return Ok(WalOp::Purge { upto: state.base });
            }
            let keeps_suffix = upto.index < state.next_lsn
                && term_of(state, upto.index).is_some_and(|term| term == upto.term);
            state.base = upto;
            state.read_epoch += 1;
            if keeps_suffix {
                Ok(WalOp::Purge { upto })
            } else {
                state.cut(seq, upto.index + 1);
                state.durable_lsn = upto.index;
                state.unwritten.clear();
                state.unwritten_bytes = 0;
                Ok(WalOp::Reset { upto })
            }
        })
    }

    /// Replaces the hard-state file (atomically: temporary file, sync,
    /// rename, directory sync), after every earlier operation is durable.
    ///
    /// # Errors
    ///
    /// [`StorageError::RecordTooLarge`], [`StorageError::Poisoned`] or
    /// [`StorageError::Closed`].
    pub fn save_hard_state(&self, bytes: Vec<u8>) -> Result<DurableTicket, StorageError> {
        if bytes.len() as u64 > u64::from(self.options.record_bytes_max) {
            return Err(StorageError::RecordTooLarge {
                len: bytes.len() as u64,
                max: u64::from(self.options.record_bytes_max),
            });
        }
        let bytes = Arc::new(bytes);
        CommitQueue::submit(&self.queue, bytes.len() as u64, |state, _| {
            state.hard_state = Some(Arc::clone(&bytes));
            Ok(WalOp::SaveState { bytes })
        })
    }

    /// The last hard state saved (durable or not yet), if any.
    pub fn hard_state(&self) -> Option<Arc<Vec<u8>>> {
        self.queue.with_state(|state| state.hard_state.clone())
    }

    /// A ticket that completes once every operation submitted so far is
    /// durable.
    pub fn barrier(&self) -> DurableTicket {
        CommitQueue::barrier(&self.queue)
    }

    /// Blocks until every operation submitted so far is durable.
    ///
    /// # Errors
    ///
    /// [`StorageError::Poisoned`] if one failed.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.barrier().wait()
    }

    /// The purged prefix.
    pub fn base(&self) -> LogPosition {
        self.queue.with_state(|state| state.base)
    }

    /// The last lsn (the base's if the log is empty). Once poisoned, the
    /// last lsn known durable.
    pub fn last_lsn(&self) -> u64 {
        self.queue.with_state(|state| state.last_lsn())
    }

    /// The term of the record at `lsn`, or the base's term at the base.
    ///
    /// # Errors
    ///
    /// [`StorageError::Compacted`] or [`StorageError::BeyondEnd`].
    pub fn term_at(&self, lsn: u64) -> Result<u64, StorageError> {
        self.queue.with_state(|state| {
            if lsn == state.base.index {
                return Ok(state.base.term);
            }
            state.check_lsn(lsn)?;
            term_of(state, lsn).ok_or(StorageError::BeyondEnd {
                index: lsn,
                last_index: state.last_lsn(),
            })
        })
    }

    /// Reads the record at `lsn`, checking its checksum again.
    ///
    /// # Errors
    ///
    /// [`StorageError::Compacted`] or [`StorageError::BeyondEnd`] outside
    /// the log, [`StorageError::Corruption`] if the bytes read back do not
    /// verify, or an I/O error.
    pub fn read(&self, lsn: u64) -> Result<Record, StorageError> {
        // A truncation or purge racing this read can make the bytes vanish
        // under it; then the read is retried, a bounded number of times.
        const READ_ATTEMPTS_MAX: usize = 3;
        let mut attempt = 1;
        loop {
            match self.read_once(lsn) {
                Ok(record) => return Ok(record),
                Err((error, None)) => return Err(error),
                Err((error, Some(epoch))) => {
                    let (raced, in_range) = self
                        .queue
                        .with_state(|state| (state.read_epoch != epoch, state.check_lsn(lsn)));
                    match (raced, in_range) {
                        (true, Err(out_of_range)) => return Err(out_of_range),
                        (true, Ok(())) if attempt < READ_ATTEMPTS_MAX => attempt += 1,
                        _ => return Err(error),
                    }
                }
            }
        }
    }

    /// One read attempt; a failure after the bytes were located carries the
    /// read epoch it was located in.
    fn read_once(&self, lsn: u64) -> Result<Record, (StorageError, Option<u64>)> {
        let located = self
            .queue
            .with_state(|state| {
                state.check_lsn(lsn)?;
                if let Some(record) = state.unwritten(lsn) {
                    return Ok(Err(Arc::clone(&record.frame)));
                }
                let (segment, offset, len) =
                    state.index.locate(lsn).ok_or(StorageError::BeyondEnd {
                        index: lsn,
                        last_index: state.last_lsn(),
                    })?;
                Ok(Ok((
                    Arc::clone(&segment.file),
                    segment.path.clone(),
                    offset,
                    len,
                    state.read_epoch,
                )))
            })
            .map_err(|error| (error, None))?;
        let (file, path, offset, len, epoch) = match located {
            Err(frame) => {
                return decode_record(&frame, lsn, &self.dir, 0, u32::MAX)
                    .map_err(|error| (error, None));
            }
            Ok(found) => found,
        };
        let mut bytes = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
        read_exact_at(&*file, &mut bytes, offset)
            .map_err(|e| StorageError::io("read", &path, Some(offset), e))
            .and_then(|()| decode_record(&bytes, lsn, &path, offset, self.options.record_bytes_max))
            .map_err(|error| (error, Some(epoch)))
    }

    /// The segment file and offset of the record at `lsn`, if written: for
    /// error messages and the inspection tool.
    pub fn location(&self, lsn: u64) -> Option<(PathBuf, u64)> {
        self.queue.with_state(|state| {
            state
                .index
                .locate(lsn)
                .map(|(segment, offset, _)| (segment.path.clone(), offset))
        })
    }

    /// The log's current mode.
    pub fn mode(&self) -> StorageMode {
        self.queue.with_state(|state| state.mode.current())
    }

    /// The log's recent mode transitions, oldest first, with their
    /// triggers: the answer to "why is the log read-only?".
    pub fn mode_history(&self) -> Vec<ModeTransition<StorageMode>> {
        self.queue
            .with_state(|state| state.mode.history().cloned().collect())
    }

    /// The log's counters.
    pub fn stats(&self) -> WalStats {
        self.queue.with_state(|state| WalStats {
            queued_bytes: state.unwritten_bytes,
            ..state.stats
        })
    }

    /// The error that poisoned the log, if one did.
    pub fn failure(&self) -> Option<Arc<StorageError>> {
        self.queue.failure()
    }

    /// Makes everything appended durable, seals the last segment (so the
    /// next open verifies every record strictly), and stops the syncer.
    ///
    /// # Errors
    ///
    /// The error that poisoned the log, or one from the final sync.
    pub fn close(self) -> Result<(), StorageError> {
        self.stop()
    }

    fn stop(&self) -> Result<(), StorageError> {
        self.queue.close();
        let handle = self
            .syncer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle
            // The last owner may drop the log from a completion callback,
            // on the syncer thread itself: it finishes on its own then.
            && handle.thread().id() != std::thread::current().id()
            && handle.join().is_err()
        {
            return Err(StorageError::io(
                "join the syncer thread",
                &self.dir,
                None,
                std::io::Error::other("the syncer thread panicked"),
            ));
        }
        if let Some(failure) = self.queue.failure() {
            return Err(failure.share());
        }
        match self.queue.with_state(|state| state.close_error.take()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        // Closing flushes and seals; an error here has no one to go to, and
        // every ticket already carries its own outcome.
        let _ = self.stop();
    }
}

fn term_of(state: &WalState, lsn: u64) -> Option<u64> {
    if let Some(record) = state.unwritten(lsn) {
        return Some(record.term);
    }
    if state.index.position_of(lsn).is_some() {
        return state.index.terms.term_at(lsn);
    }
    None
}

fn decode_record(
    bytes: &[u8],
    lsn: u64,
    path: &Path,
    offset: u64,
    payload_max: u32,
) -> Result<Record, StorageError> {
    let frame = decode_frame(bytes, payload_max)
        .map_err(|defect| StorageError::corruption(path, offset, defect))?;
    if frame.lsn != lsn || frame.encoded_len() != bytes.len() {
        return Err(StorageError::corruption(
            path,
            offset,
            format!("record holds lsn {}, lsn {lsn} expected", frame.lsn),
        ));
    }
    Ok(Record {
        lsn,
        term: frame.term,
        payload: frame.payload.to_vec(),
    })
}

/// The segment the syncer appends to.
struct Current {
    id: u64,
    path: PathBuf,
    file: Arc<dyn crate::fs::FsFile>,
    len: u64,
    records: u64,
}

impl Current {
    fn of(segment: &IndexedSegment) -> Current {
        Current {
            id: segment.id,
            path: segment.path.clone(),
            file: Arc::clone(&segment.file),
            len: segment.len,
            records: segment.offsets.len() as u64,
        }
    }
}

/// The syncer thread: performs batches, one sync each.
struct Syncer {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    options: WalOptions,
    queue: Arc<Queue>,
    current: Current,
    meta: WalMeta,
    /// One past the last lsn written.
    next_lsn: u64,
    /// Whether the current segment has writes not yet synced.
    unsynced: bool,
    /// Frames of the batch not yet written.
    buffer: Vec<u8>,
    /// For each buffered frame: its op's sequence number, lsn, term and
    /// offset in the current segment.
    buffered: Vec<(u64, u64, u64, u32)>,
    syncs: u64,
}

/// Fails every waiting ticket if the syncer thread unwinds, so no one
/// waits forever for a batch that will never finish.
struct AbandonOnPanic<'a> {
    queue: &'a Queue,
    dir: &'a Path,
}

impl Drop for AbandonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.queue.abandon(StorageError::io(
                "sync",
                self.dir,
                None,
                std::io::Error::other("the syncer thread panicked"),
            ));
        }
    }
}

impl Syncer {
    fn run(mut self) {
        let queue = Arc::clone(&self.queue);
        let dir = self.dir.clone();
        let _guard = AbandonOnPanic {
            queue: &queue,
            dir: &dir,
        };
        let mut batch = Vec::new();
        while let Some(last_seq) = self.queue.next_batch(&mut batch) {
            let records = batch
                .iter()
                .filter(|(_, op)| matches!(op, WalOp::Append { .. }))
                .count() as u64;
            let syncs_before = self.syncs;
            let started = self.options.clock.now();
            let outcome = self.perform(&mut batch);
            batch.clear();
            let finished = self.options.clock.now();
            self.finish(last_seq, outcome, records, syncs_before, started, finished);
        }
        if self.queue.failure().is_none()
            && let Err(error) = self.seal()
        {
            self.queue
                .with_state(|state| state.close_error = Some(error));
        }
    }

    fn finish(
        &mut self,
        last_seq: u64,
        outcome: Result<(), StorageError>,
        records: u64,
        syncs_before: u64,
        started: Instant,
        finished: Instant,
    ) {
        let written_through = self.next_lsn - 1;
        let sync_nanos = duration_nanos(finished.duration_since(started));
        let syncs = self.syncs - syncs_before;
        let options = &self.options;
        self.queue
            .finish_batch(last_seq, outcome, |state, outcome| match outcome {
                Ok(()) => {
                    // Records written before a truncation or reset that is
                    // still queued may not stay: only raise the stamp when
                    // no cut is pending.
                    if state.last_cut_seq <= last_seq {
                        state.durable_lsn = state.durable_lsn.max(written_through);
                    }
                    state.stats.batches += 1;
                    state.stats.busy_nanos += sync_nanos;
                    state.stats.syncs += syncs;
                    state.stats.records += records;
                    state.stats.batch_records_max = state.stats.batch_records_max.max(records);
                    state.stats.disk_bytes = state.index.bytes();
                    if syncs > 0 {
                        state.stats.last_sync_nanos = sync_nanos;
                    }
                    update_mode(state, options, finished);
                }
                Err(error) => {
                    state.poisoned_at = Some(state.durable_lsn);
                    state.mode.enter(
                        StorageMode::ReadOnly,
                        format!("poisoned: {error}"),
                        finished,
                    );
                }
            });
    }

    /// Performs one batch: writes, cuts and state files in order, then one
    /// sync of the segment written.
    fn perform(&mut self, batch: &mut Vec<(u64, WalOp)>) -> Result<(), StorageError> {
        for (seq, op) in batch.drain(..) {
            match op {
                WalOp::Append { frame } => self.buffer_frame(seq, &frame)?,
                WalOp::Truncate { from } => {
                    self.flush()?;
                    self.truncate(from)?;
                }
                WalOp::Purge { upto } => {
                    self.flush()?;
                    self.purge(upto)?;
                }
                WalOp::Reset { upto } => {
                    self.flush()?;
                    self.reset(upto)?;
                }
                WalOp::SaveState { bytes } => {
                    self.flush()?;
                    self.sync_current()?;
                    write_state_file(
                        &*self.fs,
                        &self.dir,
                        HARD_STATE_FILE,
                        HARD_STATE_MAGIC,
                        &bytes,
                    )?;
                }
            }
        }
        self.flush()?;
        self.sync_current()
    }

    fn buffer_frame(&mut self, seq: u64, frame: &[u8]) -> Result<(), StorageError> {
        let records = self.current.records + self.buffered.len() as u64;
        let end = self.current.len + self.buffer.len() as u64 + frame.len() as u64;
        if records > 0 && end > self.options.segment_bytes_max {
            self.flush()?;
            self.roll()?;
        }
        let offset = self.current.len + self.buffer.len() as u64;
        let (lsn, term) = frame_lsn_term(frame);
        self.buffered.push((seq, lsn, term, offset as u32));
        self.buffer.extend_from_slice(frame);
        Ok(())
    }

    /// Writes the buffered frames to the current segment and publishes them
    /// in the index.
    fn flush(&mut self) -> Result<(), StorageError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        write_all_at(&*self.current.file, &self.buffer, self.current.len).map_err(|e| {
            StorageError::io("write", &self.current.path, Some(self.current.len), e)
        })?;
        self.current.len += self.buffer.len() as u64;
        self.current.records += self.buffered.len() as u64;
        self.unsynced = true;
        let buffered = std::mem::take(&mut self.buffered);
        let current_id = self.current.id;
        let current_len = self.current.len;
        let written = self.buffer.len() as u64;
        self.queue.with_state(|state| {
            state.stats.bytes_written += written;
            if let Some(segment) = state.index.segments.back_mut()
                && segment.id == current_id
            {
                for (_, lsn, term, offset) in &buffered {
                    segment.offsets.push(*offset);
                    state.index.terms.push(*lsn, *term);
                }
                segment.len = current_len;
            }
            let last_seq = buffered.last().map_or(0, |(seq, ..)| *seq);
            while state
                .unwritten
                .front()
                .is_some_and(|record| record.seq <= last_seq)
            {
                if let Some(record) = state.unwritten.pop_front() {
                    state.unwritten_bytes -= record.frame.len() as u64;
                }
            }
        });
        if let Some((_, lsn, ..)) = buffered.last() {
            self.next_lsn = lsn + 1;
        }
        self.buffer.clear();
        Ok(())
    }

    fn sync_current(&mut self) -> Result<(), StorageError> {
        if self.unsynced {
            self.current
                .file
                .sync_data()
                .map_err(io("fdatasync", &self.current.path))?;
            self.unsynced = false;
            self.syncs += 1;
        }
        Ok(())
    }

    /// Seals the current segment and starts the next one.
    fn roll(&mut self) -> Result<(), StorageError> {
        self.sync_current()?;
        let header = SegmentHeader {
            id: self.current.id + 1,
            generation: self.meta.generation,
            first_lsn: self.next_lsn,
            previous_len: Some(self.current.len),
        };
        self.start_segment(&header)
    }

    fn start_segment(&mut self, header: &SegmentHeader) -> Result<(), StorageError> {
        let (path, file) = create_segment(&*self.fs, &self.dir, header)?;
        let segment = IndexedSegment {
            id: header.id,
            path: path.clone(),
            file: Arc::clone(&file),
            first_lsn: header.first_lsn,
            offsets: Vec::new(),
            len: SEGMENT_HEADER_BYTES as u64,
        };
        self.queue
            .with_state(|state| state.index.segments.push_back(segment));
        self.current = Current {
            id: header.id,
            path,
            file,
            len: SEGMENT_HEADER_BYTES as u64,
            records: 0,
        };
        Ok(())
    }

    /// Cuts the log back to `from`: later segments are removed newest first
    /// (each removal synced, so a crash leaves a contiguous prefix), then
    /// the segment holding `from` is cut and synced — before anything is
    /// written after it.
    fn truncate(&mut self, from: u64) -> Result<(), StorageError> {
        let plan = self.queue.with_state(|state| {
            let position = state.index.position_of(from)?;
            let segment = &state.index.segments[position];
            let (offset, _) = segment.frame(from)?;
            let later: Vec<PathBuf> = state
                .index
                .segments
                .iter()
                .skip(position + 1)
                .map(|segment| segment.path.clone())
                .collect();
            Some((position, offset, later))
        });
        let Some((position, offset, later)) = plan else {
            // Nothing at or after `from` was written.
            self.next_lsn = self.next_lsn.min(from);
            return Ok(());
        };
        for path in later.iter().rev() {
            self.fs.remove_file(path).map_err(io("remove", path))?;
            self.fs
                .sync_dir(&self.dir)
                .map_err(io("sync directory", &self.dir))?;
        }
        let (id, path, file, records) = self.queue.with_state(|state| {
            state.index.segments.truncate(position + 1);
            state.index.terms.truncate_from(from);
            let segment = &mut state.index.segments[position];
            let records = from - segment.first_lsn;
            segment.offsets.truncate(records as usize);
            segment.len = offset;
            let kept = (
                segment.id,
                segment.path.clone(),
                Arc::clone(&segment.file),
                records,
            );
            state.stats.disk_bytes = state.index.bytes();
            kept
        });
        file.set_len(offset).map_err(io("truncate", &path))?;
        file.sync_data().map_err(io("fdatasync", &path))?;
        self.syncs += 1;
        self.unsynced = false;
        self.current = Current {
            id,
            path,
            file,
            len: offset,
            records,
        };
        self.next_lsn = from;
        Ok(())
    }

    /// Records the purged prefix durably, then removes the segments whose
    /// records are all purged (never the current one).
    fn purge(&mut self, upto: LogPosition) -> Result<(), StorageError> {
        if upto.index <= self.meta.base.index {
            return Ok(());
        }
        self.sync_current()?;
        let meta = WalMeta {
            generation: self.meta.generation,
            base: upto,
        };
        write_state_file(&*self.fs, &self.dir, META_FILE, META_MAGIC, &meta.encode())?;
        self.meta = meta;
        let current_id = self.current.id;
        let doomed: Vec<PathBuf> = self.queue.with_state(|state| {
            state
                .index
                .segments
                .iter()
                .filter(|segment| segment.id != current_id && segment.end_lsn() <= upto.index + 1)
                .map(|segment| segment.path.clone())
                .collect()
        });
        for path in &doomed {
            self.fs.remove_file(path).map_err(io("remove", path))?;
        }
        if !doomed.is_empty() {
            self.fs
                .sync_dir(&self.dir)
                .map_err(io("sync directory", &self.dir))?;
        }
        self.queue.with_state(|state| {
            for _ in 0..doomed.len() {
                state.index.segments.pop_front();
            }
            if let Some(first) = state.index.segments.front() {
                state.index.terms.forget_before(first.first_lsn);
            }
            state.stats.disk_bytes = state.index.bytes();
        });
        Ok(())
    }

    /// Replaces the whole log: the new generation and base are recorded
    /// first, then the old segments removed and a fresh one started.
    fn reset(&mut self, upto: LogPosition) -> Result<(), StorageError> {
        self.sync_current()?;
        let meta = WalMeta {
            generation: self.meta.generation + 1,
            base: upto,
        };
        write_state_file(&*self.fs, &self.dir, META_FILE, META_MAGIC, &meta.encode())?;
        self.meta = meta;
        let old: Vec<PathBuf> = self.queue.with_state(|state| {
            state
                .index
                .segments
                .iter()
                .map(|segment| segment.path.clone())
                .collect()
        });
        for path in &old {
            self.fs.remove_file(path).map_err(io("remove", path))?;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(io("sync directory", &self.dir))?;
        self.queue.with_state(|state| {
            state.index.segments.clear();
            state.index.terms.clear();
        });
        self.next_lsn = upto.index + 1;
        let header = SegmentHeader {
            id: self.current.id + 1,
            generation: meta.generation,
            first_lsn: upto.index + 1,
            previous_len: None,
        };
        self.start_segment(&header)?;
        self.queue
            .with_state(|state| state.stats.disk_bytes = state.index.bytes());
        Ok(())
    }

    /// At close: if the current segment holds records, starts an empty one
    /// after it, so every record lies in a sealed segment whose length a
    /// later header vouches for.
    fn seal(&mut self) -> Result<(), StorageError> {
        self.flush()?;
        if self.current.records == 0 {
            return self.sync_current();
        }
        self.roll()
    }
}

fn frame_lsn_term(frame: &[u8]) -> (u64, u64) {
    let mut lsn = [0; 8];
    lsn.copy_from_slice(&frame[12..20]);
    let mut term = [0; 8];
    term.copy_from_slice(&frame[20..28]);
    (u64::from_le_bytes(lsn), u64::from_le_bytes(term))
}

/// Moves the log between Healthy and Degraded after a batch, with
/// hysteresis on the size limit (degraded above 90%, healthy again below
/// 80%).
fn update_mode(state: &mut WalState, options: &WalOptions, now: Instant) {
    let slow = state.stats.last_sync_nanos > duration_nanos(options.slow_sync_threshold);
    let used = state.stats.disk_bytes + state.unwritten_bytes;
    let (near_full, roomy) = match options.log_bytes_max {
        Some(max) => (used * 10 > max * 9, used * 10 < max * 8),
        None => (false, true),
    };
    match state.mode.current() {
        StorageMode::Healthy if slow => {
            let trigger = format!(
                "a sync took {} ms, over the {} ms threshold",
                state.stats.last_sync_nanos / 1_000_000,
                options.slow_sync_threshold.as_millis()
            );
            state.mode.enter(StorageMode::Degraded, trigger, now);
        }
        StorageMode::Healthy if near_full => {
            let trigger = format!("the log holds {used} bytes, over 90% of its limit");
            state.mode.enter(StorageMode::Degraded, trigger, now);
        }
        StorageMode::Degraded if !slow && roomy => {
            state.mode.enter(
                StorageMode::Healthy,
                "syncs fast again and the log below 80% of its limit",
                now,
            );
        }
        _ => {}
    }
}

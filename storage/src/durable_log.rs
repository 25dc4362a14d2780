//! The durable log: a [`LogStore`] on a [`Wal`], with the hard state in its
//! own atomic file.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use crate::log_store::{check_contiguous, check_range, check_truncation};
use crate::segment::HARD_STATE_FILE;
use crate::{
    Codec, DurableTicket, FileSystem, HardState, LogEntry, LogPosition, LogStore, RecoveryReport,
    StorageError, Wal, WalOptions,
};

/// How many recent entries a [`DurableLog`] keeps decoded in memory by
/// default, so that followers' catch-up reads of the tail do not touch the
/// disk.
pub const CACHE_ENTRIES_MAX_DEFAULT: usize = 4096;

/// A [`LogStore`] that survives crashes: entries in a [`Wal`] (one record
/// per entry, the lsn is the entry's index), the hard state in an atomic
/// file beside it.
///
/// Mutations are queued to the log's syncer and take effect for reads at
/// once; [`durable_ticket`](Self::durable_ticket) says when everything so far
/// is durable without blocking (for async drivers), [`LogStore::sync`]
/// blocks. A crash keeps a prefix of the mutations, in order: the hard state
/// is written only after every earlier append is durable.
///
/// Recent entries are kept decoded in memory (bounded); older ones are
/// read back from the segments and checked again.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tessera_storage::{DurableLog, HardState, LogStore, RawEntry, StdFs, WalOptions};
///
/// let dir = tempfile::tempdir()?;
/// let open = || DurableLog::<RawEntry>::open(Arc::new(StdFs), dir.path(), WalOptions::default());
///
/// let (mut log, _report) = open()?;
/// log.append(vec![RawEntry::new(1, 1, "x"), RawEntry::new(2, 1, "y")])?;
/// log.save_hard_state(HardState { term: 1, vote: Some(2), ..HardState::default() })?;
/// // An async driver would await this ticket instead of blocking.
/// log.durable_ticket().wait()?;
/// drop(log);
///
/// let (log, report) = open()?;
/// assert_eq!(report.records, 2);
/// assert_eq!(log.entry(2)?.payload, b"y");
/// assert_eq!(log.hard_state().map(|state| state.vote), Some(Some(2)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DurableLog<E, H = HardState> {
    wal: Wal,
    hard_state: Option<H>,
    /// Decoded entries `cache_first ..= last index`.
    cache: VecDeque<E>,
    cache_first: u64,
    cache_entries_max: usize,
    encoded: Vec<u8>,
    _entries: PhantomData<E>,
}

impl<E, H> DurableLog<E, H>
where
    E: LogEntry + Codec,
    H: Codec + Clone,
{
    /// Opens (creating if needed) the log in `dir`, recovering it.
    ///
    /// # Errors
    ///
    /// As [`Wal::open`], and [`StorageError::Corruption`] if the hard state
    /// does not decode.
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
        options: WalOptions,
    ) -> Result<(Self, RecoveryReport), StorageError> {
        let (wal, report) = Wal::open(fs, dir.as_ref(), options)?;
        let hard_state = match wal.hard_state() {
            None => None,
            Some(bytes) => Some(H::decode(&bytes).map_err(|reason| {
                StorageError::corruption(
                    dir.as_ref().join(HARD_STATE_FILE),
                    20,
                    format!("hard state does not decode: {reason}"),
                )
            })?),
        };
        let cache_first = wal.last_lsn() + 1;
        Ok((
            DurableLog {
                wal,
                hard_state,
                cache: VecDeque::new(),
                cache_first,
                cache_entries_max: CACHE_ENTRIES_MAX_DEFAULT,
                encoded: Vec::new(),
                _entries: PhantomData,
            },
            report,
        ))
    }

    /// Sets how many recent entries are kept decoded in memory.
    pub fn set_cache_entries_max(&mut self, entries: usize) {
        self.cache_entries_max = entries;
        self.trim_cache();
    }

    /// The write-ahead log underneath: its mode, stats and recovery.
    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// A ticket that completes once every mutation so far is durable: what
    /// an async driver awaits before reporting
    /// [`Input::Persisted`](tessera_core::Input::Persisted).
    pub fn durable_ticket(&self) -> DurableTicket {
        self.wal.barrier()
    }

    /// Makes everything durable, seals the log and closes it.
    ///
    /// # Errors
    ///
    /// As [`Wal::close`].
    pub fn close(self) -> Result<(), StorageError> {
        self.wal.close()
    }

    fn trim_cache(&mut self) {
        while self.cache.len() > self.cache_entries_max {
            self.cache.pop_front();
            self.cache_first += 1;
        }
    }

    fn read_entry(&self, index: u64) -> Result<E, StorageError> {
        if index >= self.cache_first
            && let Some(entry) = self.cache.get((index - self.cache_first) as usize)
        {
            return Ok(entry.clone());
        }
        let record = self.wal.read(index)?;
        let corrupt = |reason: String| {
            let (file, offset) = self
                .wal
                .location(index)
                .unwrap_or_else(|| (self.wal.dir().to_path_buf(), 0));
            StorageError::corruption(file, offset, reason)
        };
        let entry = E::decode(&record.payload)
            .map_err(|reason| corrupt(format!("entry {index} does not decode: {reason}")))?;
        // The paired check: the entry read back is the one written there.
        if entry.index() != index || entry.term() != record.term {
            return Err(corrupt(format!(
                "record {index} (term {}) holds entry {} of term {}",
                record.term,
                entry.index(),
                entry.term()
            )));
        }
        Ok(entry)
    }
}

impl<E, H> LogStore for DurableLog<E, H>
where
    E: LogEntry + Codec,
    H: Codec + Clone,
{
    type Entry = E;
    type HardState = H;

    fn base(&self) -> LogPosition {
        self.wal.base()
    }

    fn last_index(&self) -> u64 {
        self.wal.last_lsn()
    }

    fn term_at(&self, index: u64) -> Result<u64, StorageError> {
        self.wal.term_at(index)
    }

    fn entries(&self, range: Range<u64>) -> Result<Vec<E>, StorageError> {
        check_range(&range, self.wal.base().index, self.wal.last_lsn())?;
        range.map(|index| self.read_entry(index)).collect()
    }

    fn append(&mut self, entries: Vec<E>) -> Result<(), StorageError> {
        let last = self.wal.last_lsn();
        check_contiguous(&entries, last)?;
        if self.cache.is_empty() {
            self.cache_first = last + 1;
        }
        for entry in entries {
            self.encoded.clear();
            entry.encode(&mut self.encoded);
            // The ticket is not needed: operations complete in order, and
            // `durable_ticket` / `sync` cover this one.
            drop(
                self.wal
                    .append_at(entry.index(), entry.term(), &self.encoded)?,
            );
            self.cache.push_back(entry);
        }
        self.trim_cache();
        Ok(())
    }

    fn truncate_from(&mut self, index: u64) -> Result<(), StorageError> {
        check_truncation(index, self.wal.base().index, self.wal.last_lsn())?;
        drop(self.wal.truncate_from(index)?);
        if index <= self.cache_first {
            self.cache.clear();
            self.cache_first = index;
        } else {
            self.cache.truncate((index - self.cache_first) as usize);
        }
        Ok(())
    }

    fn purge_to(&mut self, upto: LogPosition) -> Result<(), StorageError> {
        drop(self.wal.purge_to(upto)?);
        let base = self.wal.base();
        if self.wal.last_lsn() <= base.index {
            self.cache.clear();
            self.cache_first = base.index + 1;
        } else {
            while self.cache_first <= base.index && self.cache.pop_front().is_some() {
                self.cache_first += 1;
            }
            if self.cache.is_empty() {
                self.cache_first = self.cache_first.max(base.index + 1);
            }
        }
        Ok(())
    }

    fn hard_state(&self) -> Option<&H> {
        self.hard_state.as_ref()
    }

    fn save_hard_state(&mut self, state: H) -> Result<(), StorageError> {
        let mut bytes = Vec::new();
        state.encode(&mut bytes);
        drop(self.wal.save_hard_state(bytes)?);
        self.hard_state = Some(state);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.wal.sync()
    }
}

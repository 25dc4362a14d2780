//! The in-memory log: typed entries, no serialization, nothing to sync.

use std::collections::VecDeque;
use std::ops::Range;

use tessera_core::DurableState;

use crate::log_store::{check_contiguous, check_range, check_truncation};
use crate::{HardState, LogEntry, LogPosition, LogStore, LogWrite, StorageError};

/// A [`LogStore`] in memory.
///
/// It keeps entries as typed values — no encoding, no copies beyond the
/// `Vec` they arrive in — so an in-process benchmark measures the protocol,
/// not the storage. [`sync`](LogStore::sync) has nothing to do.
///
/// It is also the simulator's disk: a [`DurableState`] of [`LogWrite`]s.
/// The simulator keeps one per node, applies each write once its driver
/// reports it durable, and restarts a crashed node from it. A write that
/// does not fit the log (a gap, a truncation below the base) is a bug in
/// the node that emitted it, and panics there so the simulation reports it.
///
/// Snapshot data is not part of it: keep a [`MemSnapshots`](crate::MemSnapshots)
/// beside it (the consensus crate's durable-state type can hold both).
///
/// # Examples
///
/// ```
/// use tessera_storage::{LogPosition, LogStore, MemLog, RawEntry};
///
/// let mut log: MemLog<RawEntry> = MemLog::new();
/// log.append(vec![RawEntry::new(1, 1, "a"), RawEntry::new(2, 1, "b"), RawEntry::new(3, 2, "c")])?;
/// log.truncate_from(3)?; // a conflicting suffix
/// log.append(vec![RawEntry::new(3, 3, "c'")])?;
/// log.purge_to(LogPosition::new(1, 1))?; // a snapshot covers index 1
/// assert_eq!((log.first_index(), log.last_index()), (2, 3));
/// assert_eq!(log.term_at(1)?, 1); // the base's term is remembered
/// assert_eq!(log.entry(3)?.payload, b"c'");
/// # Ok::<(), tessera_storage::StorageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemLog<E, H = HardState> {
    base: LogPosition,
    entries: VecDeque<E>,
    hard_state: Option<H>,
}

impl<E, H> Default for MemLog<E, H> {
    fn default() -> Self {
        MemLog {
            base: LogPosition::ZERO,
            entries: VecDeque::new(),
            hard_state: None,
        }
    }
}

impl<E: LogEntry, H: Clone> MemLog<E, H> {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries held, in order, by reference.
    pub fn iter(&self) -> impl Iterator<Item = &E> {
        self.entries.iter()
    }

    /// The entry at `index`, by reference, if the log holds it.
    pub fn get(&self, index: u64) -> Option<&E> {
        let offset = index.checked_sub(self.base.index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }
}

impl<E: LogEntry, H: Clone> LogStore for MemLog<E, H> {
    type Entry = E;
    type HardState = H;

    fn base(&self) -> LogPosition {
        self.base
    }

    fn last_index(&self) -> u64 {
        self.base.index + self.entries.len() as u64
    }

    fn term_at(&self, index: u64) -> Result<u64, StorageError> {
        if index == self.base.index {
            return Ok(self.base.term);
        }
        if index < self.base.index {
            return Err(StorageError::Compacted {
                index,
                first_index: self.base.index + 1,
            });
        }
        self.get(index)
            .map(LogEntry::term)
            .ok_or(StorageError::BeyondEnd {
                index,
                last_index: self.last_index(),
            })
    }

    fn entries(&self, range: Range<u64>) -> Result<Vec<E>, StorageError> {
        check_range(&range, self.base.index, self.last_index())?;
        let start = (range.start - self.base.index - 1) as usize;
        let end = (range.end - self.base.index - 1) as usize;
        Ok(self.entries.range(start..end).cloned().collect())
    }

    fn append(&mut self, entries: Vec<E>) -> Result<(), StorageError> {
        check_contiguous(&entries, self.last_index())?;
        self.entries.extend(entries);
        Ok(())
    }

    fn truncate_from(&mut self, index: u64) -> Result<(), StorageError> {
        check_truncation(index, self.base.index, self.last_index())?;
        self.entries
            .truncate((index - self.base.index - 1) as usize);
        Ok(())
    }

    fn purge_to(&mut self, upto: LogPosition) -> Result<(), StorageError> {
        if upto.index <= self.base.index {
            return Ok(());
        }
        let keeps_suffix = self
            .get(upto.index)
            .is_some_and(|entry| entry.term() == upto.term);
        if keeps_suffix {
            self.entries
                .drain(..(upto.index - self.base.index) as usize);
        } else {
            self.entries.clear();
        }
        self.base = upto;
        Ok(())
    }

    fn hard_state(&self) -> Option<&H> {
        self.hard_state.as_ref()
    }

    fn save_hard_state(&mut self, state: H) -> Result<(), StorageError> {
        self.hard_state = Some(state);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
}

impl<E: LogEntry, H: Clone> DurableState<LogWrite<E, H>> for MemLog<E, H> {
    /// Applies one durable write.
    ///
    /// # Panics
    ///
    /// If the write does not fit the log (an append with a gap, a
    /// truncation below the base): the node that emitted it has a bug.
    fn apply(&mut self, write: LogWrite<E, H>) {
        if let Err(error) = LogStore::apply(self, write) {
            panic!("a node persisted a write its log cannot take: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RawEntry;

    #[test]
    fn durable_state_applies_writes_in_order() {
        let mut log: MemLog<RawEntry> = MemLog::default();
        DurableState::apply(
            &mut log,
            LogWrite::Append(vec![RawEntry::new(1, 1, "a"), RawEntry::new(2, 1, "b")]),
        );
        DurableState::apply(&mut log, LogWrite::TruncateFrom(2));
        DurableState::apply(
            &mut log,
            LogWrite::HardState(HardState {
                term: 2,
                vote: Some(3),
                ..HardState::default()
            }),
        );
        assert_eq!(log.last_index(), 1);
        assert_eq!(log.hard_state().unwrap().vote, Some(3));
    }

    #[test]
    #[should_panic(expected = "cannot take")]
    fn durable_state_panics_on_a_gap() {
        let mut log: MemLog<RawEntry> = MemLog::default();
        DurableState::apply(&mut log, LogWrite::Append(vec![RawEntry::new(2, 1, "a")]));
    }
}

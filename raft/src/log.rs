//! The node's view of its log: the entries it holds in memory (a mirror of
//! what it asked its driver to persist), and the questions Raft asks of a
//! log.

use std::collections::VecDeque;
use std::ops::Range;

use tessera_storage::LogPosition;

use crate::{Entry, Membership, Payload};

/// A node's log, in memory. Every change the node makes here it also emits
/// as a [`RaftWrite`](crate::RaftWrite), in the same order, so this is what
/// the disk will hold once the writes are durable; it follows the
/// semantics of tessera-storage's `LogStore` (a purged prefix ending at the
/// base, whose position is remembered).
///
/// Observers (the invariants) can tell appends from rewrites:
/// [`rewrites`](Self::rewrites) counts every truncation and every snapshot
/// that replaced the log.
#[derive(Debug, Clone)]
pub struct RaftLog<C> {
    base: LogPosition,
    entries: VecDeque<Entry<C>>,
    /// The indexes of the entries holding a configuration, in order (so
    /// that finding the configuration in force never scans the log).
    configs: VecDeque<u64>,
    rewrites: u64,
}

impl<C: Clone> RaftLog<C> {
    pub(crate) fn new(base: LogPosition, entries: Vec<Entry<C>>) -> Result<Self, String> {
        for (expected, entry) in (base.index + 1..).zip(&entries) {
            if entry.index != expected {
                return Err(format!(
                    "log entries are not contiguous: index {} where {expected} was expected",
                    entry.index
                ));
            }
        }
        let configs = entries
            .iter()
            .filter(|e| matches!(e.payload, Payload::Membership(_)))
            .map(|e| e.index)
            .collect();
        Ok(RaftLog {
            base,
            entries: entries.into(),
            configs,
            rewrites: 0,
        })
    }

    /// The last purged position (covered by a snapshot).
    pub fn base(&self) -> LogPosition {
        self.base
    }

    /// The first index held.
    pub fn first_index(&self) -> u64 {
        self.base.index + 1
    }

    /// The last index (the base's if the log holds no entry).
    pub fn last_index(&self) -> u64 {
        self.base.index + self.entries.len() as u64
    }

    /// The term of the last entry (the base's if none).
    pub fn last_term(&self) -> u64 {
        self.term_at(self.last_index()).unwrap_or(0)
    }

    /// The position of the last entry.
    pub fn last_position(&self) -> LogPosition {
        LogPosition::new(self.last_index(), self.last_term())
    }

    /// The term at `index`, if known: held, or the base.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.base.index {
            return Some(self.base.term);
        }
        self.get(index).map(|e| e.term)
    }

    /// The entry at `index`, if held.
    pub fn get(&self, index: u64) -> Option<&Entry<C>> {
        let offset = index.checked_sub(self.base.index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// The entries held, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry<C>> {
        self.entries.iter()
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many times entries were removed from the end or the whole log
    /// replaced by a snapshot. Between two equal readings the log only grew
    /// at the end (or lost a prefix to compaction).
    pub fn rewrites(&self) -> u64 {
        self.rewrites
    }

    /// Whether a log ending at `last` is at least as up to date as this one
    /// (Raft §5.4.1: compare last terms, then lengths).
    pub fn is_up_to_date(&self, last: LogPosition) -> bool {
        let own = self.last_position();
        (last.term, last.index) >= (own.term, own.index)
    }

    /// The largest index at or below `index` whose term is at most `term`
    /// (or the base, if every held entry up to `index` has a later term):
    /// where a log that has `term` at `index` can match this one, at best.
    /// The fast back-off of conflicting appends is built on it.
    pub fn last_at_or_below(&self, index: u64, term: u64) -> LogPosition {
        let base = self.base();
        let mut at = index.min(self.last_index());
        while at > base.index {
            match self.term_at(at) {
                Some(t) if t <= term => return LogPosition::new(at, t),
                _ => at -= 1,
            }
        }
        base
    }

    /// Clones of the entries in `range`, at most `count_max` of them and
    /// about `bytes_max` bytes (at least one), sizing commands with
    /// `command_bytes`. Compacted or missing indexes yield fewer.
    pub(crate) fn slice(
        &self,
        range: Range<u64>,
        count_max: usize,
        bytes_max: usize,
        command_bytes: impl Fn(&C) -> usize,
    ) -> (Vec<Entry<C>>, usize) {
        let mut out = Vec::with_capacity(
            usize::try_from(range.end.saturating_sub(range.start))
                .unwrap_or(usize::MAX)
                .min(count_max),
        );
        let mut bytes = 0;
        for index in range {
            if out.len() >= count_max {
                break;
            }
            let Some(entry) = self.get(index) else {
                break;
            };
            let size = entry_bytes(entry, &command_bytes);
            if !out.is_empty() && bytes + size > bytes_max {
                break;
            }
            bytes += size;
            out.push(entry.clone());
        }
        (out, bytes)
    }

    /// Appends entries that continue the log.
    ///
    /// # Panics
    ///
    /// If they do not (an internal invariant).
    pub(crate) fn push(&mut self, entry: Entry<C>) {
        assert_eq!(
            entry.index,
            self.last_index() + 1,
            "the node appended an entry that does not continue its log"
        );
        if matches!(entry.payload, Payload::Membership(_)) {
            self.configs.push_back(entry.index);
        }
        self.entries.push_back(entry);
    }

    /// Removes the entries from `index` on.
    ///
    /// # Panics
    ///
    /// If `index` is at or below the base (an internal invariant: purged
    /// entries are committed and never truncated).
    pub(crate) fn truncate_from(&mut self, index: u64) {
        if index > self.last_index() {
            return;
        }
        assert!(
            index > self.base.index,
            "the node truncated its log at {index}, below its base {:?}",
            self.base
        );
        self.entries
            .truncate((index - self.base.index - 1) as usize);
        while self.configs.back().is_some_and(|c| *c >= index) {
            self.configs.pop_back();
        }
        self.rewrites += 1;
    }

    /// Drops the prefix up to `upto`, keeping the suffix if it follows from
    /// `upto`, or everything otherwise (a snapshot that replaces the log).
    pub(crate) fn purge_to(&mut self, upto: LogPosition) {
        if upto.index <= self.base().index {
            return;
        }
        let keeps_suffix = self.term_at(upto.index) == Some(upto.term);
        if keeps_suffix {
            self.entries
                .drain(..(upto.index - self.base.index) as usize);
            while self.configs.front().is_some_and(|c| *c <= upto.index) {
                self.configs.pop_front();
            }
        } else {
            self.entries.clear();
            self.configs.clear();
            self.rewrites += 1;
        }
        self.base = upto;
    }

    /// The membership configurations held in the log, in order.
    pub(crate) fn memberships(&self) -> impl Iterator<Item = (u64, &Membership)> {
        self.configs
            .iter()
            .filter_map(|index| match &self.get(*index)?.payload {
                Payload::Membership(m) => Some((*index, &**m)),
                _ => None,
            })
    }
}

/// An entry's size for the byte limits: its command's size plus a fixed
/// overhead for index, term and tag.
pub(crate) fn entry_bytes<C>(entry: &Entry<C>, command_bytes: impl Fn(&C) -> usize) -> usize {
    const ENTRY_OVERHEAD_BYTES: usize = 24;
    ENTRY_OVERHEAD_BYTES
        + match &entry.payload {
            Payload::Command(c) => command_bytes(c),
            Payload::Blank => 0,
            Payload::Membership(m) => 8 * m.members().count(),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(terms: &[u64]) -> RaftLog<u64> {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, t)| Entry::command(i as u64 + 1, *t, 0))
            .collect();
        RaftLog::new(LogPosition::ZERO, entries).unwrap()
    }

    #[test]
    fn up_to_date_compares_term_then_length() {
        let log = log(&[1, 1, 2]);
        assert!(log.is_up_to_date(LogPosition::new(3, 2)));
        assert!(log.is_up_to_date(LogPosition::new(1, 3)));
        assert!(!log.is_up_to_date(LogPosition::new(2, 2)));
        assert!(!log.is_up_to_date(LogPosition::new(9, 1)));
    }

    #[test]
    fn last_at_or_below_skips_later_terms() {
        let log = log(&[1, 1, 4, 4, 5, 5]);
        assert_eq!(log.last_at_or_below(6, 4), LogPosition::new(4, 4));
        assert_eq!(log.last_at_or_below(9, 3), LogPosition::new(2, 1));
        assert_eq!(log.last_at_or_below(6, 0), LogPosition::ZERO);
    }

    #[test]
    fn rewrites_count_truncations_and_replacing_snapshots_only() {
        let mut log = log(&[1, 1, 2]);
        log.purge_to(LogPosition::new(1, 1));
        assert_eq!(log.rewrites(), 0, "compaction keeps the suffix");
        log.truncate_from(3);
        assert_eq!(log.rewrites(), 1);
        log.purge_to(LogPosition::new(7, 3));
        assert_eq!(
            log.rewrites(),
            2,
            "a snapshot past the end replaces the log"
        );
        assert_eq!(log.last_position(), LogPosition::new(7, 3));
    }
}

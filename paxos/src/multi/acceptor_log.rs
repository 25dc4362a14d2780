//! The acceptor's log in memory, mirroring its durable log, and the
//! writes that keep the two equal.

use std::collections::VecDeque;

use tessera_storage::{LogEntry, LogPosition};

use crate::Ballot;
use crate::multi::{SlotEntry, SlotValue};

/// How the durable log must change to hold some new acceptances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogChange<C> {
    /// Nothing: every acceptance is already there.
    None,
    /// Append these entries (vacant placeholders first, for a gap).
    Append(Vec<SlotEntry<C>>),
    /// Rewrite the log from `from` on with `suffix` (acceptances in the
    /// middle changed; later entries are kept as they were).
    Overwrite {
        from: u64,
        suffix: Vec<SlotEntry<C>>,
    },
}

/// An acceptor's slots from `base + 1` on, in memory.
///
/// Every slot up to `base` is chosen and folded into a snapshot. Slots an
/// acceptor has not accepted anything in, below its last, hold vacant
/// placeholders, so the log stays contiguous (what a [`LogStore`] needs)
/// while acceptances may arrive out of order.
///
/// [`LogStore`]: tessera_storage::LogStore
#[derive(Debug, Clone)]
pub(crate) struct AcceptorLog<C> {
    base: LogPosition,
    entries: VecDeque<SlotEntry<C>>,
}

impl<C: Clone + PartialEq> AcceptorLog<C> {
    pub(crate) fn new(base: LogPosition, entries: Vec<SlotEntry<C>>) -> Self {
        AcceptorLog {
            base,
            entries: entries.into(),
        }
    }

    /// The compacted prefix's last position.
    pub(crate) fn base(&self) -> LogPosition {
        self.base
    }

    /// The last slot held (the base's if none).
    pub(crate) fn last(&self) -> u64 {
        self.base.index + self.entries.len() as u64
    }

    pub(crate) fn get(&self, slot: u64) -> Option<&SlotEntry<C>> {
        let offset = slot.checked_sub(self.base.index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// The ballot epoch at `slot`, or the base's term at the base.
    pub(crate) fn term_at(&self, slot: u64) -> Option<u64> {
        if slot == self.base.index {
            return Some(self.base.term);
        }
        self.get(slot).map(LogEntry::term)
    }

    /// The non-vacant entries from `from` on, at most `max`, and where the
    /// rest starts if cut short.
    pub(crate) fn report(
        &self,
        from: u64,
        max: usize,
        bytes_max: usize,
        size: impl Fn(&SlotValue<C>) -> usize,
    ) -> (Vec<SlotEntry<C>>, Option<u64>) {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut slot = from.max(self.base.index + 1);
        while slot <= self.last() {
            if out.len() == max {
                return (out, Some(slot));
            }
            if let Some(entry) = self.get(slot)
                && !entry.value.is_vacant()
            {
                bytes = bytes.saturating_add(size(&entry.value));
                if !out.is_empty() && bytes > bytes_max {
                    return (out, Some(slot));
                }
                out.push(entry.clone());
            }
            slot += 1;
        }
        (out, None)
    }

    /// Consecutive entries `from..=to` (clamped to the log).
    pub(crate) fn range(&self, from: u64, to: u64) -> Vec<SlotEntry<C>> {
        let from = from.max(self.base.index + 1);
        let to = to.min(self.last());
        (from..=to).filter_map(|s| self.get(s).cloned()).collect()
    }

    /// What must change for the log to hold `new` — consecutive entries —
    /// and updates the log in memory accordingly. Entries at or below the
    /// base are ignored (those slots are chosen and compacted).
    pub(crate) fn change_for(&mut self, new: Vec<SlotEntry<C>>) -> LogChange<C> {
        // The common case, a leader's next slots in order: a plain append.
        if new.first().is_some_and(|e| e.slot == self.last() + 1)
            && new.windows(2).all(|w| w[1].slot == w[0].slot + 1)
        {
            self.entries.extend(new.iter().cloned());
            return LogChange::Append(new);
        }
        let new: Vec<SlotEntry<C>> = new
            .into_iter()
            .filter(|e| e.slot > self.base.index)
            .collect();
        let (Some(first), Some(end)) = (new.first().map(|e| e.slot), new.last().map(|e| e.slot))
        else {
            return LogChange::None;
        };
        let last = self.last();
        // The first slot where an acceptance in the log changes.
        let changed = new
            .iter()
            .take_while(|e| e.slot <= last)
            .find(|e| self.get(e.slot) != Some(*e))
            .map(|e| e.slot);
        if let Some(from) = changed {
            let mut suffix = Vec::new();
            for slot in from..=end.max(last) {
                let entry = if slot >= first && slot <= end {
                    new[(slot - first) as usize].clone()
                } else {
                    match self.get(slot) {
                        Some(entry) => entry.clone(),
                        None => SlotEntry::vacant(slot),
                    }
                };
                suffix.push(entry);
            }
            self.truncate_from(from);
            self.entries.extend(suffix.iter().cloned());
            return LogChange::Overwrite { from, suffix };
        }
        if end <= last {
            return LogChange::None;
        }
        let mut appended: Vec<SlotEntry<C>> = (last + 1..first).map(SlotEntry::vacant).collect();
        appended.extend(new.into_iter().filter(|e| e.slot > last));
        self.entries.extend(appended.iter().cloned());
        LogChange::Append(appended)
    }

    /// Removes every entry from `slot` on.
    pub(crate) fn truncate_from(&mut self, slot: u64) {
        if slot <= self.base.index {
            self.entries.clear();
            return;
        }
        let keep = (slot - self.base.index - 1) as usize;
        self.entries.truncate(keep);
    }

    /// Drops the prefix up to `upto`, which a snapshot covers, exactly as
    /// [`LogStore::purge_to`](tessera_storage::LogStore::purge_to) does: the
    /// entries after it are kept only if the log holds `upto` itself (same
    /// slot, same ballot); otherwise the log is emptied.
    pub(crate) fn purge_to(&mut self, upto: LogPosition) {
        if upto.index <= self.base.index {
            return;
        }
        if self.get(upto.index).is_some_and(|e| e.term() == upto.term) {
            let drop = (upto.index - self.base.index) as usize;
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
        }
        self.base = upto;
    }

    /// The ballot of the entry at `slot`, if the log holds one.
    pub(crate) fn ballot_at(&self, slot: u64) -> Option<Ballot> {
        self.get(slot).map(|e| e.ballot)
    }

    /// The value at `slot`, if held.
    pub(crate) fn value_at(&self, slot: u64) -> Option<&SlotValue<C>> {
        self.get(slot).map(|e| &e.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(slot: u64, round: u64, value: u32) -> SlotEntry<u32> {
        SlotEntry {
            slot,
            ballot: Ballot::new(round, 1),
            value: SlotValue::Batch(vec![value]),
        }
    }

    #[test]
    fn a_gap_is_filled_with_vacant_placeholders() {
        let mut log = AcceptorLog::new(LogPosition::ZERO, vec![]);
        let change = log.change_for(vec![entry(3, 1, 30)]);
        assert_eq!(
            change,
            LogChange::Append(vec![
                SlotEntry::vacant(1),
                SlotEntry::vacant(2),
                entry(3, 1, 30)
            ])
        );
        assert_eq!(log.last(), 3);
        // The same acceptance again changes nothing.
        assert_eq!(log.change_for(vec![entry(3, 1, 30)]), LogChange::None);
    }

    #[test]
    fn filling_a_hole_rewrites_the_suffix_and_keeps_later_acceptances() {
        let mut log = AcceptorLog::new(LogPosition::ZERO, vec![]);
        log.change_for(vec![entry(1, 1, 10)]);
        log.change_for(vec![entry(3, 1, 30)]);
        let change = log.change_for(vec![entry(2, 1, 20)]);
        assert_eq!(
            change,
            LogChange::Overwrite {
                from: 2,
                suffix: vec![entry(2, 1, 20), entry(3, 1, 30)]
            }
        );
        assert_eq!(
            log.range(1, 3),
            vec![entry(1, 1, 10), entry(2, 1, 20), entry(3, 1, 30)]
        );
        let (report, next) = log.report(2, 1, usize::MAX, |_| 0);
        assert_eq!((report, next), (vec![entry(2, 1, 20)], Some(3)));
    }

    #[test]
    fn compacted_slots_are_never_rewritten() {
        let mut log = AcceptorLog::new(LogPosition::ZERO, vec![]);
        log.change_for(vec![entry(1, 1, 10), entry(2, 1, 20)]);
        log.purge_to(LogPosition::new(1, Ballot::new(1, 1).epoch()));
        assert_eq!(log.change_for(vec![entry(1, 2, 99)]), LogChange::None);
        assert_eq!(log.value_at(1), None);
        assert_eq!(log.term_at(1), Some(Ballot::new(1, 1).epoch()));
    }
}

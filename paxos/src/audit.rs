//! A bounded, numbered record of recent events, read by invariant checkers.

use std::collections::VecDeque;

/// How many events an [`Audit`] keeps by default: far more than one
/// simulated step produces, so a checker that reads after every step never
/// misses one.
pub const AUDIT_MAX: usize = 65_536;

/// A bounded record of recent events, each numbered from 0 in the order
/// recorded.
///
/// Nodes record what the invariants of [`invariants`](crate::invariants)
/// check — acceptances made durable, decisions applied, proposals received —
/// and a checker reads what is new since its last look with
/// [`since`](Self::since). The record is bounded: the oldest events are
/// dropped, and a reader that fell behind is told so rather than silently
/// missing events. An audit of capacity 0 records nothing and costs nothing
/// (the default for nodes outside tests).
///
/// # Examples
///
/// ```
/// use tessera_paxos::Audit;
///
/// let mut audit = Audit::new(2);
/// audit.record("a");
/// audit.record("b");
/// audit.record("c");
/// assert_eq!(audit.since(1).unwrap().collect::<Vec<_>>(), vec![(1, &"b"), (2, &"c")]);
/// assert_eq!(audit.since(0).err(), Some(1), "event 0 was dropped");
/// assert_eq!(audit.next_seq(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit<T> {
    entries: VecDeque<T>,
    next_seq: u64,
    capacity: usize,
}

impl<T> Default for Audit<T> {
    /// An audit that records nothing.
    fn default() -> Self {
        Audit::new(0)
    }
}

impl<T> Audit<T> {
    /// An audit keeping the last `capacity` events (0: records nothing).
    pub fn new(capacity: usize) -> Self {
        Audit {
            entries: VecDeque::new(),
            next_seq: 0,
            capacity,
        }
    }

    /// Whether events are recorded at all.
    pub fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Records an event (nothing if disabled).
    pub fn record(&mut self, event: T) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(event);
        self.next_seq += 1;
    }

    /// Records the event `make` builds, only if enabled (so that a disabled
    /// audit costs no clone).
    pub fn record_with(&mut self, make: impl FnOnce() -> T) {
        if self.capacity > 0 {
            self.record(make());
        }
    }

    /// The number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The events numbered `seq` and later, with their numbers.
    ///
    /// # Errors
    ///
    /// The number of the oldest event kept, if events from `seq` on were
    /// already dropped.
    pub fn since(&self, seq: u64) -> Result<impl Iterator<Item = (u64, &T)>, u64> {
        let oldest = self.next_seq - self.entries.len() as u64;
        if seq < oldest {
            return Err(oldest);
        }
        let skip = usize::try_from(seq - oldest).unwrap_or(usize::MAX);
        Ok(self
            .entries
            .iter()
            .enumerate()
            .skip(skip)
            .map(move |(i, event)| (oldest + i as u64, event)))
    }
}

//! The event queue: events ordered by virtual time, ties broken by the
//! order they were scheduled, so a run is a pure function of its seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Scheduled<E> {
    at: u64,
    sequence: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    /// Reversed, so the max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.sequence).cmp(&(self.at, self.sequence))
    }
}

/// A min-queue of events by virtual time (nanoseconds) and schedule order.
pub(crate) struct EventQueue<E> {
    heap: BinaryHeap<Scheduled<E>>,
    sequence: u64,
}

impl<E> EventQueue<E> {
    pub(crate) fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            sequence: 0,
        }
    }

    pub(crate) fn push(&mut self, at: u64, event: E) {
        self.sequence += 1;
        self.heap.push(Scheduled {
            at,
            sequence: self.sequence,
            event,
        });
    }

    pub(crate) fn pop(&mut self) -> Option<(u64, E)> {
        self.heap.pop().map(|s| (s.at, s.event))
    }

    pub(crate) fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|s| s.at)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_schedule_order() {
        let mut queue = EventQueue::new();
        queue.push(5, "late");
        queue.push(1, "first");
        queue.push(1, "second");
        assert_eq!(queue.peek_time(), Some(1));
        assert_eq!(queue.pop(), Some((1, "first")));
        assert_eq!(queue.pop(), Some((1, "second")));
        assert_eq!(queue.pop(), Some((5, "late")));
        assert_eq!(queue.pop(), None);
    }
}

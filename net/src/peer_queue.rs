//! The bounded queue between a node and one peer's lane: the node pushes
//! without ever waiting, the lane's sender pops batches.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// What became of a message pushed onto a [`PeerQueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; nothing dropped.
    Queued,
    /// Queued, and this many older messages were dropped to make room.
    DroppedOldest(usize),
}

/// Counters a queue keeps (monotonic, read by metrics and tests).
#[derive(Debug, Default)]
pub(crate) struct QueueCounters {
    /// Messages pushed.
    pub(crate) pushed: AtomicU64,
    /// Messages taken by the sender.
    pub(crate) taken: AtomicU64,
    /// Messages dropped because the queue was full.
    pub(crate) dropped_full: AtomicU64,
    /// Messages dropped because the peer was unreachable.
    pub(crate) dropped_unreachable: AtomicU64,
}

#[derive(Debug)]
struct State<M> {
    messages: VecDeque<(M, usize)>,
    bytes: usize,
}

/// A bounded FIFO of messages for one peer and lane.
///
/// Bounded by `messages_max` messages and about `bytes_max` bytes (a
/// single message larger than `bytes_max` is still queued alone). When a
/// push would exceed a bound, the **oldest** messages are dropped: a
/// protocol copes with lost messages, and for a peer that is slow or away
/// the newest messages (the latest heartbeat, vote or append) are the ones
/// worth delivering. A slow peer therefore never makes the node wait nor
/// memory grow.
#[derive(Debug)]
pub(crate) struct PeerQueue<M> {
    state: Mutex<State<M>>,
    ready: Notify,
    messages_max: usize,
    bytes_max: usize,
    pub(crate) counters: QueueCounters,
}

impl<M> PeerQueue<M> {
    /// A queue with these bounds (each at least 1).
    pub(crate) fn new(messages_max: usize, bytes_max: usize) -> Self {
        PeerQueue {
            state: Mutex::new(State {
                messages: VecDeque::new(),
                bytes: 0,
            }),
            ready: Notify::new(),
            messages_max: messages_max.max(1),
            bytes_max: bytes_max.max(1),
            counters: QueueCounters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // The state is a queue and a byte count updated together under the
        // lock: a panicking holder cannot leave it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `message` of about `bytes` bytes, dropping the oldest
    /// messages if needed. Never waits.
    pub(crate) fn push(&self, message: M, bytes: usize) -> Pushed {
        let dropped = {
            let mut state = self.lock();
            let mut dropped = 0;
            while !state.messages.is_empty()
                && (state.messages.len() >= self.messages_max
                    || state.bytes.saturating_add(bytes) > self.bytes_max)
            {
                if let Some((_, size)) = state.messages.pop_front() {
                    state.bytes -= size;
                    dropped += 1;
                }
            }
            state.messages.push_back((message, bytes));
            state.bytes += bytes;
            dropped
        };
        self.counters.pushed.fetch_add(1, Ordering::Relaxed);
        self.ready.notify_one();
        if dropped == 0 {
            Pushed::Queued
        } else {
            self.counters
                .dropped_full
                .fetch_add(dropped as u64, Ordering::Relaxed);
            Pushed::DroppedOldest(dropped)
        }
    }

    /// Moves up to `messages_max` messages and about `bytes_max` bytes (at
    /// least one message) into `out`, without waiting. Returns how many.
    pub(crate) fn take_batch(
        &self,
        messages_max: usize,
        bytes_max: usize,
        out: &mut Vec<M>,
    ) -> usize {
        let mut state = self.lock();
        let mut bytes = 0;
        let mut taken = 0;
        while taken < messages_max {
            let Some((_, size)) = state.messages.front() else {
                break;
            };
            if taken > 0 && bytes + size > bytes_max {
                break;
            }
            let size = *size;
            if let Some((message, _)) = state.messages.pop_front() {
                out.push(message);
            }
            state.bytes -= size;
            bytes += size;
            taken += 1;
        }
        drop(state);
        self.counters
            .taken
            .fetch_add(taken as u64, Ordering::Relaxed);
        taken
    }

    /// Waits until the queue holds a message (returns at once if it does).
    pub(crate) async fn ready(&self) {
        loop {
            let notified = self.ready.notified();
            if !self.lock().messages.is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// Drops everything queued (the peer is unreachable: by the time it is
    /// back these messages are stale, and the protocol resends what
    /// matters). Returns how many were dropped.
    pub(crate) fn clear_unreachable(&self) -> usize {
        let dropped = {
            let mut state = self.lock();
            let dropped = state.messages.len();
            state.messages.clear();
            state.bytes = 0;
            dropped
        };
        self.counters
            .dropped_unreachable
            .fetch_add(dropped as u64, Ordering::Relaxed);
        dropped
    }

    /// Messages queued now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().messages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let queue = PeerQueue::new(3, 1_000);
        for n in 0..3 {
            assert_eq!(queue.push(n, 10), Pushed::Queued);
        }
        assert_eq!(queue.push(3, 10), Pushed::DroppedOldest(1));
        let mut out = Vec::new();
        queue.take_batch(10, 1_000, &mut out);
        assert_eq!(out, vec![1, 2, 3]);
        assert_eq!(queue.counters.dropped_full.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_byte_bound_holds_but_one_large_message_still_goes() {
        let queue = PeerQueue::new(100, 100);
        queue.push("a", 60);
        assert_eq!(queue.push("b", 60), Pushed::DroppedOldest(1));
        assert_eq!(queue.push("huge", 500), Pushed::DroppedOldest(1));
        let mut out = Vec::new();
        assert_eq!(queue.take_batch(10, 10, &mut out), 1);
        assert_eq!(out, vec!["huge"]);
    }

    #[test]
    fn batches_respect_both_limits() {
        let queue = PeerQueue::new(100, 10_000);
        for n in 0..10 {
            queue.push(n, 100);
        }
        let mut out = Vec::new();
        assert_eq!(queue.take_batch(4, 10_000, &mut out), 4);
        assert_eq!(queue.take_batch(100, 250, &mut out), 2);
        assert_eq!(out, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(queue.clear_unreachable(), 4);
        assert_eq!(queue.len(), 0);
    }
}

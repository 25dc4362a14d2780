//! loom models of the group-commit queue: many appenders, one syncer.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p tessera-storage --release --test loom
//! ```
//!
//! loom runs every interleaving of the threads (up to the preemption bound)
//! and fails on a deadlock — a waiter never woken — as well as on the
//! assertions: no ticket completes before the syncer made its operation
//! durable, a failed batch is never reported durable, and nobody waits
//! forever.

#![cfg(loom)]
// A test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use loom::sync::Mutex;
use loom::thread;
use tessera_storage::{CommitQueue, StorageError};

type Queue = CommitQueue<(), u64>;

/// The syncer: takes batches, "writes and syncs" them by recording their
/// sequence numbers on the simulated disk, then reports them durable —
/// or, with `fail`, reports the first batch failed.
fn syncer(queue: Arc<Queue>, disk: Arc<Mutex<Vec<u64>>>, fail: bool) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut batch = Vec::new();
        while let Some(last) = queue.next_batch(&mut batch) {
            if fail {
                batch.clear();
                queue.finish_batch(last, Err(StorageError::Closed), |_, _| {});
                continue;
            }
            let mut durable = disk.lock().unwrap();
            durable.extend(batch.drain(..).map(|(seq, _)| seq));
            drop(durable);
            queue.finish_batch(last, Ok(()), |_, _| {});
        }
    })
}

// Rule: every appender is woken (no lost wake-up), and only after the
// syncer made its record durable — blocking waiters and futures alike.
#[test]
fn acknowledged_only_after_sync_and_no_lost_wakeup() {
    loom::model(|| {
        let queue: Arc<Queue> = Arc::new(CommitQueue::new((), u64::MAX));
        let disk = Arc::new(Mutex::new(Vec::new()));
        let syncer = syncer(Arc::clone(&queue), Arc::clone(&disk), false);
        let blocking = {
            let (queue, disk) = (Arc::clone(&queue), Arc::clone(&disk));
            thread::spawn(move || {
                let ticket = CommitQueue::submit(&queue, 1, |_, _| Ok(1)).unwrap();
                let seq = ticket.seq();
                ticket.wait().unwrap();
                assert!(
                    disk.lock().unwrap().contains(&seq),
                    "acknowledged before its sync"
                );
            })
        };
        let asynchronous = {
            let (queue, disk) = (Arc::clone(&queue), Arc::clone(&disk));
            thread::spawn(move || {
                let ticket = CommitQueue::submit(&queue, 1, |_, _| Ok(2)).unwrap();
                let seq = ticket.seq();
                loom::future::block_on(ticket).unwrap();
                assert!(
                    disk.lock().unwrap().contains(&seq),
                    "acknowledged before its sync"
                );
            })
        };
        blocking.join().unwrap();
        asynchronous.join().unwrap();
        queue.close();
        syncer.join().unwrap();
    });
}

// Rule: a callback runs exactly once, after the sync.
#[test]
fn callbacks_run_once_after_sync() {
    loom::model(|| {
        let queue: Arc<Queue> = Arc::new(CommitQueue::new((), u64::MAX));
        let disk = Arc::new(Mutex::new(Vec::new()));
        let calls = Arc::new(Mutex::new(0));
        let syncer = syncer(Arc::clone(&queue), Arc::clone(&disk), false);
        let appender = {
            let (queue, disk, calls) = (Arc::clone(&queue), Arc::clone(&disk), Arc::clone(&calls));
            thread::spawn(move || {
                let ticket = CommitQueue::submit(&queue, 1, |_, _| Ok(1)).unwrap();
                let seq = ticket.seq();
                ticket.on_durable(move |outcome| {
                    assert!(outcome.is_ok());
                    assert!(disk.lock().unwrap().contains(&seq), "called before sync");
                    *calls.lock().unwrap() += 1;
                });
            })
        };
        appender.join().unwrap();
        queue.close();
        syncer.join().unwrap();
        assert_eq!(*calls.lock().unwrap(), 1);
    });
}

// Rule: when the sync fails, every waiter is woken with the failure — none
// is told durable, none waits forever — and later submissions are refused.
#[test]
fn a_failed_sync_wakes_everyone_with_the_failure() {
    loom::model(|| {
        let queue: Arc<Queue> = Arc::new(CommitQueue::new((), u64::MAX));
        let disk = Arc::new(Mutex::new(Vec::new()));
        let syncer = syncer(Arc::clone(&queue), Arc::clone(&disk), true);
        let appenders: Vec<_> = (0..2)
            .map(|n| {
                let queue = Arc::clone(&queue);
                thread::spawn(move || match CommitQueue::submit(&queue, 1, |_, _| Ok(n)) {
                    Ok(ticket) => assert!(ticket.wait().is_err(), "a failed sync reported durable"),
                    // Submitted after the failure: refused outright.
                    Err(error) => assert!(matches!(error, StorageError::Poisoned { .. })),
                })
            })
            .collect();
        for appender in appenders {
            appender.join().unwrap();
        }
        queue.close();
        syncer.join().unwrap();
        assert!(disk.lock().unwrap().is_empty());
    });
}

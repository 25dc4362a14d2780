//! Multi-thread stress: threads issue timestamps and exchange them; every
//! thread's series must strictly increase and every timestamp be unique.
//!
//! The default run is short, to keep `cargo test` quick on a small machine;
//! `TESSERA_STRESS_ITERATIONS=1000000 cargo test -p tessera-hlc --release
//! --test stress` runs longer.
#![cfg(not(loom))]

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;

use tessera_core::Invariant;
use tessera_hlc::{
    Causality, Hlc, HlcConfig, LamportClock, MessageTimestamps, Monotonicity, NodeTimestamp,
    Timestamp,
};

const THREADS: usize = 4;

fn iterations() -> usize {
    std::env::var("TESSERA_STRESS_ITERATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000)
}

/// Rule: a shared clock is safe from many threads — ORDER (no duplicates)
/// and MONOTONICITY (each thread's series strictly increases) hold while the
/// threads also feed each other's timestamps back through `update`.
#[test]
fn threads_sharing_one_clock_never_see_a_duplicate_or_a_regression() {
    let hlc = Arc::new(Hlc::system(HlcConfig::new(1)).unwrap());
    let iterations = iterations();
    let barrier = Arc::new(Barrier::new(THREADS));
    // A ring: each thread sends every tenth timestamp to the next one.
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<Timestamp>()).unzip();
    let mut handles = Vec::new();
    for (index, receiver) in receivers.into_iter().enumerate() {
        let hlc = Arc::clone(&hlc);
        let barrier = Arc::clone(&barrier);
        let next = senders[(index + 1) % THREADS].clone();
        handles.push(thread::spawn(move || {
            barrier.wait();
            let mut series = Vec::with_capacity(iterations);
            for step in 0..iterations {
                while let Ok(remote) = receiver.try_recv() {
                    hlc.update(remote).unwrap();
                    let after = hlc.now();
                    assert!(after > remote, "CAUSALITY: {after} after update({remote})");
                    series.push(after);
                }
                let timestamp = hlc.now();
                if step % 10 == 0 {
                    // The next thread may already have finished.
                    let _ = next.send(timestamp);
                }
                series.push(timestamp);
            }
            series
        }));
    }
    drop(senders);
    let mut all = HashSet::new();
    let mut total = 0;
    for handle in handles {
        let series = handle.join().unwrap();
        for pair in series.windows(2) {
            assert!(
                pair[0] < pair[1],
                "MONOTONICITY: {} then {}",
                pair[0],
                pair[1]
            );
        }
        total += series.len();
        all.extend(series);
    }
    assert_eq!(all.len(), total, "ORDER: every timestamp is unique");
}

/// Rule: separate nodes exchanging messages — every receipt is stamped after
/// its send (CAUSALITY), each node's series increases (MONOTONICITY), and
/// with node ids no two timestamps anywhere are equal (ORDER).
#[test]
fn nodes_exchanging_messages_keep_causality_and_uniqueness() {
    let iterations = iterations();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<NodeTimestamp>())
        .unzip();
    let barrier = Arc::new(Barrier::new(THREADS));
    let mut handles = Vec::new();
    for (index, receiver) in receivers.into_iter().enumerate() {
        let node = index as u64 + 1;
        let hlc = Hlc::system(HlcConfig::new(node)).unwrap();
        let peers: Vec<_> = senders.clone();
        let barrier = Arc::clone(&barrier);
        handles.push(thread::spawn(move || {
            barrier.wait();
            let mut issued = Vec::with_capacity(iterations * 2);
            let mut messages = Vec::new();
            for step in 0..iterations {
                while let Ok(sent) = receiver.try_recv() {
                    let received = NodeTimestamp::new(hlc.receive(sent.time).unwrap(), node);
                    issued.push(received);
                    messages.push(MessageTimestamps { sent, received });
                }
                let stamp = NodeTimestamp::new(hlc.now(), node);
                issued.push(stamp);
                let _ = peers[step % THREADS].send(stamp);
            }
            (issued, messages)
        }));
    }
    drop(senders);
    let mut monotonicity = Monotonicity::default();
    let mut causality = Causality;
    let mut all = HashSet::new();
    let mut total = 0;
    for handle in handles {
        let (issued, messages) = handle.join().unwrap();
        for stamp in &issued {
            monotonicity.check(stamp).unwrap();
        }
        for message in &messages {
            causality.check(message).unwrap();
        }
        total += issued.len();
        all.extend(issued);
    }
    assert_eq!(all.len(), total, "ORDER: node timestamps are unique");
}

/// Rule: the atomic Lamport clock hands every caller a distinct value.
#[test]
fn lamport_clock_values_are_unique_across_threads() {
    let clock = Arc::new(LamportClock::new(1));
    let iterations = iterations();
    let handles: Vec<_> = (0..THREADS)
        .map(|index| {
            let clock = Arc::clone(&clock);
            thread::spawn(move || {
                let mut series = Vec::with_capacity(iterations);
                for step in 0..iterations {
                    let stamp = if step % 7 == index {
                        clock.observe(clock.current() + 3).unwrap()
                    } else {
                        clock.tick().unwrap()
                    };
                    series.push(stamp.time);
                }
                series
            })
        })
        .collect();
    let mut all = HashSet::new();
    let mut total = 0;
    for handle in handles {
        let series = handle.join().unwrap();
        assert!(series.windows(2).all(|pair| pair[0] < pair[1]));
        total += series.len();
        all.extend(series);
    }
    assert_eq!(all.len(), total);
}

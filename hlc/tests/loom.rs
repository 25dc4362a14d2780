//! loom models of the lock-free clocks: every interleaving of two or three
//! threads, within the preemption bound, must keep ORDER (no duplicate
//! timestamp) and MONOTONICITY (no regression).
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p tessera-hlc --release --test loom
//! ```
#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use tessera_core::{ManualClock, WallTime};
use tessera_hlc::{Hlc, HlcConfig, HlcError, LamportClock, Timestamp};

fn clock() -> ManualClock {
    ManualClock::new(WallTime::from_unix_nanos(1_000_000_000))
}

fn assert_unique(mut all: Vec<Timestamp>) {
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "ORDER: a timestamp was issued twice");
}

#[test]
fn hlc_now_from_two_threads_never_duplicates_or_regresses() {
    loom::model(|| {
        let hlc = Arc::new(Hlc::new(clock(), HlcConfig::new(1)).unwrap());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let hlc = Arc::clone(&hlc);
                thread::spawn(move || [hlc.now(), hlc.now()])
            })
            .collect();
        let mut all = Vec::new();
        for handle in handles {
            let series = handle.join().unwrap();
            assert!(series[0] < series[1], "MONOTONICITY");
            all.extend(series);
        }
        let last = *all.iter().max().unwrap();
        assert_eq!(hlc.current(), last);
        assert_unique(all);
    });
}

#[test]
fn hlc_now_while_physical_time_moves_takes_both_paths() {
    // The physical clock advancing between calls sends some calls through
    // the compare-and-swap that catches the clock up with physical time,
    // racing the others' fetch_add.
    loom::model(|| {
        let physical = clock();
        let hlc = Arc::new(Hlc::new(physical.clone(), HlcConfig::new(1)).unwrap());
        let mover = {
            let hlc = Arc::clone(&hlc);
            thread::spawn(move || {
                let first = hlc.now();
                physical.advance(Duration::from_micros(5));
                [first, hlc.now()]
            })
        };
        let issuer = {
            let hlc = Arc::clone(&hlc);
            thread::spawn(move || [hlc.now(), hlc.now()])
        };
        let mut all = Vec::new();
        for handle in [mover, issuer] {
            let series = handle.join().unwrap();
            assert!(series[0] < series[1], "MONOTONICITY");
            all.extend(series);
        }
        assert_unique(all);
    });
}

#[test]
fn hlc_update_races_with_now_from_three_threads() {
    loom::model(|| {
        let physical = clock();
        let hlc = Arc::new(Hlc::new(physical.clone(), HlcConfig::new(1)).unwrap());
        let remote = Timestamp::from_wall(WallTime::from_unix_nanos(1_000_000_000))
            .saturating_add(Duration::from_millis(100));

        let updater = {
            let hlc = Arc::clone(&hlc);
            thread::spawn(move || {
                hlc.update(remote).unwrap();
                let after = hlc.now();
                assert!(after > remote, "CAUSALITY: {after} after update({remote})");
                vec![after]
            })
        };
        let issuer = {
            let hlc = Arc::clone(&hlc);
            thread::spawn(move || vec![hlc.now(), hlc.now()])
        };
        let receiver = {
            let hlc = Arc::clone(&hlc);
            thread::spawn(move || vec![hlc.receive(remote).unwrap()])
        };

        let mut all = Vec::new();
        for handle in [updater, issuer, receiver] {
            let series = handle.join().unwrap();
            assert!(
                series.windows(2).all(|pair| pair[0] < pair[1]),
                "MONOTONICITY"
            );
            all.extend(series);
        }
        assert!(hlc.current() > remote);
        assert_unique(all);
    });
}

#[test]
fn hlc_upper_bound_is_never_crossed_while_it_is_raised() {
    loom::model(|| {
        let start = Timestamp::from_wall(WallTime::from_unix_nanos(1_000_000_000));
        let first_bound = start.next().unwrap().next().unwrap();
        let hlc = Arc::new(Hlc::restore(clock(), HlcConfig::new(1), start).unwrap());
        hlc.raise_upper_bound(first_bound).unwrap();
        let second_bound = first_bound.next().unwrap().next().unwrap();

        let raiser = {
            let hlc = Arc::clone(&hlc);
            thread::spawn(move || hlc.raise_upper_bound(second_bound).unwrap())
        };
        let issuers: Vec<_> = (0..2)
            .map(|_| {
                let hlc = Arc::clone(&hlc);
                thread::spawn(move || {
                    let mut issued = Vec::new();
                    for _ in 0..2 {
                        match hlc.try_now() {
                            Ok(timestamp) => issued.push(timestamp),
                            Err(HlcError::UpperBoundReached { .. }) => {}
                            Err(other) => panic!("unexpected {other}"),
                        }
                    }
                    issued
                })
            })
            .collect();
        raiser.join().unwrap();
        let mut all = Vec::new();
        for handle in issuers {
            let series = handle.join().unwrap();
            assert!(
                series.windows(2).all(|pair| pair[0] < pair[1]),
                "MONOTONICITY"
            );
            all.extend(series);
        }
        for timestamp in &all {
            assert!(
                *timestamp > start && *timestamp < second_bound,
                "{timestamp}"
            );
        }
        assert_unique(all);
    });
}

#[test]
fn lamport_tick_and_observe_from_three_threads() {
    loom::model(|| {
        let clock = Arc::new(LamportClock::new(1));
        let handles: Vec<_> = (0..3u64)
            .map(|index| {
                let clock = Arc::clone(&clock);
                thread::spawn(move || {
                    let first = if index == 0 {
                        clock.observe(10).unwrap()
                    } else {
                        clock.tick().unwrap()
                    };
                    let second = clock.tick().unwrap();
                    assert!(first < second, "MONOTONICITY");
                    [first.time, second.time]
                })
            })
            .collect();
        let mut all = Vec::new();
        for handle in handles {
            all.extend(handle.join().unwrap());
        }
        let total = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), total, "ORDER: a Lamport value was issued twice");
        assert!(clock.current() > 10);
    });
}

//! The hybrid clock's rules, each checked through the public API. Every test
//! names the rule it checks; each would fail if the rule were broken.
#![cfg(not(loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tessera_core::{Clock, Instant, Invariant, ManualClock, WallTime};
use tessera_hlc::{
    ClockJump, Hlc, HlcConfig, HlcError, Monotonicity, NodeTimestamp, RealtimeClock, Timestamp,
};

const SECOND: u64 = 1_000_000_000;

fn manual(at_nanos: u64) -> ManualClock {
    ManualClock::new(WallTime::from_unix_nanos(at_nanos))
}

fn hlc(clock: &ManualClock) -> Hlc<ManualClock> {
    Hlc::new(clock.clone(), HlcConfig::new(1)).expect("a valid configuration")
}

/// A clock whose wall time and monotonic time move independently, like a
/// real machine's when NTP or an operator steps the wall clock (core's
/// `ManualClock` makes its instant follow forward wall steps, which hides
/// forward jumps from a wall-versus-monotonic comparison).
#[derive(Clone, Default)]
struct SteppingClock {
    wall: Arc<AtomicU64>,
    monotonic: Arc<AtomicU64>,
}

impl SteppingClock {
    fn at(nanos: u64) -> Self {
        let clock = SteppingClock::default();
        clock.wall.store(nanos, Ordering::SeqCst);
        clock.monotonic.store(nanos, Ordering::SeqCst);
        clock
    }
    fn elapse(&self, by: Duration) {
        let nanos = by.as_nanos() as u64;
        self.wall.fetch_add(nanos, Ordering::SeqCst);
        self.monotonic.fetch_add(nanos, Ordering::SeqCst);
    }
    fn step_wall(&self, forward: bool, by: Duration) {
        let nanos = by.as_nanos() as u64;
        if forward {
            self.wall.fetch_add(nanos, Ordering::SeqCst);
        } else {
            self.wall.fetch_sub(nanos, Ordering::SeqCst);
        }
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.monotonic.load(Ordering::SeqCst))
    }
    fn wall(&self) -> WallTime {
        WallTime::from_unix_nanos(self.wall.load(Ordering::SeqCst))
    }
}

#[test]
fn never_goes_backwards_when_the_physical_clock_steps_back() {
    // Rule: MONOTONICITY, even when the physical clock steps back.
    let clock = manual(100 * SECOND);
    let hlc = hlc(&clock);
    let mut invariant = Monotonicity::default();
    let before = hlc.now();
    invariant.check(&NodeTimestamp::new(before, 1)).unwrap();
    clock.set_wall(WallTime::from_unix_nanos(40 * SECOND));
    for _ in 0..5_000 {
        let next = hlc.now();
        invariant.check(&NodeTimestamp::new(next, 1)).unwrap();
        // It holds the physical part and counts logically.
        assert!(next.physical() >= before.physical());
    }
    // Physical time catching up is taken as soon as it passes the clock.
    clock.set_wall(WallTime::from_unix_nanos(101 * SECOND));
    let caught_up = hlc.now();
    assert_eq!(caught_up, Timestamp::from_micros(101_000_000));
}

#[test]
fn follows_physical_time_when_it_moves_ahead() {
    // HLC rule: l = max(l, pt) — a timestamp is never behind the physical
    // clock it read.
    let clock = manual(5 * SECOND);
    let hlc = hlc(&clock);
    assert_eq!(hlc.now(), Timestamp::from_micros(5_000_000));
    assert_eq!(hlc.now(), Timestamp::from_micros(5_000_000).next().unwrap());
    clock.advance(Duration::from_micros(3));
    assert_eq!(hlc.now(), Timestamp::from_micros(5_000_003));
    assert_eq!(hlc.physical_now(), Timestamp::from_micros(5_000_003));
}

#[test]
fn the_logical_counter_carries_into_the_physical_part_instead_of_wrapping() {
    // Rule: the logical counter never silently wraps; on overflow it carries.
    let clock = manual(7 * SECOND);
    let hlc = hlc(&clock);
    let physical = Timestamp::from_wall(clock.wall());
    let mut last = hlc.now();
    assert_eq!(last, physical);
    for _ in 0..Timestamp::LOGICAL_MAX {
        let next = hlc.now();
        assert!(next > last);
        last = next;
    }
    assert_eq!(
        (last.physical(), last.logical()),
        (physical, Timestamp::LOGICAL_MAX)
    );
    let carried = hlc.now();
    assert_eq!(
        (carried.physical_nanos(), carried.logical()),
        (physical.physical_nanos() + 1_024, 0)
    );
    assert_eq!(hlc.lead(), Timestamp::TICK);
}

#[test]
fn the_end_of_the_range_is_an_error_not_a_wrap() {
    // Rule: no rollover — at the end of the range the clock refuses.
    let last = Timestamp::LAST_ISSUABLE;
    let clock = manual(last.physical_nanos());
    let hlc = hlc(&clock);
    let mut issued = Vec::new();
    let error = loop {
        match hlc.try_now() {
            Ok(timestamp) => issued.push(timestamp),
            Err(error) => break error,
        }
    };
    assert_eq!(issued.len(), usize::from(last.logical()) + 1);
    assert_eq!(issued.last(), Some(&last));
    assert!(matches!(error, HlcError::Exhausted { .. }), "{error}");
    // Refusals keep refusing; nothing wraps around to small timestamps.
    for _ in 0..10_000 {
        assert!(hlc.try_now().is_err());
    }
    assert!(hlc.current() > last);
    // A physical clock past the end refuses at once.
    clock.set_wall(WallTime::from_unix_nanos(u64::MAX));
    assert!(matches!(hlc.try_now(), Err(HlcError::Exhausted { .. })));
    // A bound persisted at the very end refuses too, without overflowing.
    let restored = Hlc::restore(clock.clone(), HlcConfig::new(1), Timestamp::MAX).unwrap();
    assert!(matches!(
        restored.try_now(),
        Err(HlcError::UpperBoundReached { .. })
    ));
    assert!(restored.update(Timestamp::MAX).is_err());
}

#[test]
fn update_refuses_a_remote_beyond_the_maximum_offset_and_leaves_the_clock_unchanged() {
    // Rule: CockroachDB's UpdateAndCheckMaxOffset — refuse, and change
    // nothing.
    let clock = manual(10 * SECOND);
    let hlc = Hlc::new(
        clock.clone(),
        HlcConfig::new(1).with_max_offset(Duration::from_millis(250)),
    )
    .unwrap();
    let issued = hlc.now();
    let physical = hlc.physical_now();
    let at_the_limit = physical.saturating_add(Duration::from_millis(250));
    let beyond = at_the_limit.saturating_add(Timestamp::TICK);
    assert_eq!(
        hlc.update(beyond),
        Err(HlcError::RemoteTooFarAhead {
            remote: beyond,
            physical,
            ahead: beyond.duration_since(physical),
            max_offset: Duration::from_millis(250),
        })
    );
    assert_eq!(
        hlc.current(),
        issued,
        "a refused update leaves the clock unchanged"
    );
    assert!(hlc.receive(beyond).is_err());
    assert_eq!(
        hlc.current(),
        issued,
        "a refused receive leaves the clock unchanged"
    );
    assert!(hlc.now() < at_the_limit);
    // Exactly the maximum offset ahead is accepted.
    hlc.update(at_the_limit).unwrap();
    assert_eq!(hlc.current(), at_the_limit);
}

#[test]
fn after_an_update_every_timestamp_is_above_the_remote() {
    // Rule: CAUSALITY — update ratchets, receive stamps above the remote.
    let clock = manual(10 * SECOND);
    let hlc = hlc(&clock);
    let remote = Timestamp::from_parts(10_100_000_000, 7).unwrap();
    hlc.update(remote).unwrap();
    assert!(hlc.now() > remote);
    let later_remote = Timestamp::from_parts(10_200_000_000, Timestamp::LOGICAL_MAX).unwrap();
    let received = hlc.receive(later_remote).unwrap();
    assert_eq!(received, later_remote.next().unwrap());
    // An older remote changes nothing.
    let current = hlc.current();
    hlc.update(Timestamp::from_micros(1)).unwrap();
    assert_eq!(hlc.current(), current);
}

#[test]
fn a_restarted_clock_never_issues_below_what_it_issued_before_the_crash() {
    // Rule: the persisted upper bound survives restarts.
    let clock = manual(100 * SECOND);
    let first = Hlc::restore(clock.clone(), HlcConfig::new(1), Timestamp::ZERO).unwrap();
    assert!(matches!(
        first.try_now(),
        Err(HlcError::UpperBoundReached { .. })
    ));
    let lead = Duration::from_millis(20);
    let persisted = first.next_upper_bound(lead);
    first.raise_upper_bound(persisted).unwrap();
    assert_eq!(first.upper_bound(), Some(persisted));
    // Issue right up to the bound: the clock refuses rather than cross it.
    let mut last_before_crash = Timestamp::ZERO;
    let remote_near_bound = persisted.prev().unwrap().prev().unwrap();
    first.update(remote_near_bound).unwrap();
    while let Ok(timestamp) = first.try_now() {
        assert!(timestamp < persisted);
        last_before_crash = timestamp;
    }
    assert_eq!(last_before_crash, persisted.prev().unwrap());
    assert!(matches!(
        first.update(persisted),
        Err(HlcError::UpperBoundReached { .. })
    ));

    // Crash; the physical clock comes back a minute behind.
    clock.set_wall(WallTime::from_unix_nanos(40 * SECOND));
    let restarted = Hlc::restore(clock.clone(), HlcConfig::new(1), persisted).unwrap();
    assert!(
        restarted.try_now().is_err(),
        "nothing is issued before a new bound is persisted"
    );
    let next_bound = restarted.next_upper_bound(lead);
    assert!(next_bound > persisted);
    restarted.raise_upper_bound(next_bound).unwrap();
    let first_after = restarted.now();
    assert!(first_after > last_before_crash);
    // Bounds only go up.
    restarted.raise_upper_bound(Timestamp::ZERO).unwrap();
    assert_eq!(restarted.upper_bound(), Some(next_bound));
}

#[test]
fn a_clock_without_a_persisted_bound_cannot_raise_one() {
    let clock = manual(SECOND);
    assert_eq!(
        hlc(&clock).raise_upper_bound(Timestamp::MAX),
        Err(HlcError::NoUpperBound)
    );
    assert_eq!(hlc(&clock).upper_bound(), None);
}

#[test]
fn forward_jumps_beyond_the_threshold_are_reported_once() {
    // Rule: a forward jump of the local physical clock beyond a threshold is
    // detected and reported.
    let clock = SteppingClock::at(1_000 * SECOND);
    let config = HlcConfig::new(1).with_forward_jump_threshold(Duration::from_millis(100));
    let hlc = Hlc::new(clock.clone(), config).unwrap();
    // An hour of idle time is not a jump: wall and monotonic move together.
    clock.elapse(Duration::from_secs(3_600));
    assert_eq!(hlc.check_physical_clock(), None);
    // A step within the threshold is tolerated.
    clock.step_wall(true, Duration::from_millis(100));
    assert_eq!(hlc.check_physical_clock(), None);
    clock.step_wall(true, Duration::from_secs(30));
    assert_eq!(
        hlc.check_physical_clock(),
        Some(ClockJump::Forward(Duration::from_secs(30)))
    );
    assert_eq!(hlc.check_physical_clock(), None, "reported once");
    clock.step_wall(false, Duration::from_secs(5));
    assert_eq!(
        hlc.check_physical_clock(),
        Some(ClockJump::Backward(Duration::from_secs(5)))
    );
}

#[test]
fn the_uncertainty_interval_is_the_physical_clock_plus_and_minus_the_error_bound() {
    let clock = manual(20 * SECOND);
    let hlc = Hlc::new(
        clock.clone(),
        HlcConfig::new(3).with_error_bound(Duration::from_millis(4)),
    )
    .unwrap();
    let interval = hlc.now_interval();
    assert_eq!(interval.earliest(), Timestamp::from_nanos(19_996_000_000));
    // 20.004 s rounded up to the next whole tick.
    assert_eq!(interval.latest(), Timestamp::from_nanos(20_004_000_768));
    assert_eq!(interval.node(), 3);
    hlc.set_error_bound(Duration::from_micros(10));
    let width = hlc.now_interval().width();
    assert!(
        width >= Duration::from_micros(20)
            && width <= Duration::from_micros(20) + 2 * Timestamp::TICK
    );
    assert!(hlc.now_interval().contains(hlc.now()));
}

#[test]
fn commit_wait_lasts_until_the_earliest_bound_passes_the_timestamp() {
    // Rule: commit wait waits until `earliest` has passed the timestamp.
    let clock = manual(30 * SECOND);
    let hlc = Hlc::new(
        clock.clone(),
        HlcConfig::new(1).with_error_bound(Duration::from_millis(7)),
    )
    .unwrap();
    let timestamp = hlc.now();
    // ε plus the rest of the timestamp's tick.
    assert_eq!(
        hlc.commit_wait_remaining(timestamp),
        Duration::from_nanos(7_001_024)
    );
    clock.advance(Duration::from_micros(7_000));
    assert!(!hlc.now_interval().is_definitely_past(timestamp));
    assert_eq!(hlc.commit_wait_remaining(timestamp), Timestamp::TICK);
    clock.advance(Timestamp::TICK);
    assert_eq!(hlc.commit_wait_remaining(timestamp), Duration::ZERO);
    assert!(hlc.now_interval().is_definitely_past(timestamp));
}

#[test]
fn blocking_commit_wait_returns_once_the_timestamp_has_certainly_passed() {
    // Rule: commit wait is usable from synchronous code. The real clock and
    // a 2 ms error bound: the call sleeps up to about 2 ms (less if this
    // thread was descheduled after issuing the timestamp).
    let hlc = Hlc::new(
        RealtimeClock::new(),
        HlcConfig::new(1).with_error_bound(Duration::from_millis(2)),
    )
    .unwrap();
    let timestamp = hlc.now();
    let waited = hlc.commit_wait_blocking(timestamp).unwrap();
    assert!(waited <= hlc.commit_wait_limit());
    assert!(hlc.now_interval().is_definitely_past(timestamp));
    assert_eq!(hlc.commit_wait_remaining(timestamp), Duration::ZERO);
}

#[test]
fn async_commit_wait_works_with_any_timer() {
    // Rule: commit wait is usable from async code without a runtime
    // dependency: the caller passes its runtime's sleep.
    let clock = manual(40 * SECOND);
    let hlc = Hlc::new(
        clock.clone(),
        HlcConfig::new(1).with_error_bound(Duration::from_millis(3)),
    )
    .unwrap();
    let timestamp = hlc.now();
    let mut sleeps = Vec::new();
    let waited = block_on(hlc.commit_wait(timestamp, |pause| {
        sleeps.push(pause);
        let clock = clock.clone();
        // A timer that completes on its second poll, after "sleeping".
        YieldOnce::new(move || clock.advance(pause))
    }))
    .unwrap();
    assert_eq!(sleeps, vec![Duration::from_nanos(3_001_024)]);
    assert_eq!(waited, Duration::from_nanos(3_001_024));
    assert!(hlc.now_interval().is_definitely_past(timestamp));
}

#[test]
fn commit_wait_refuses_timestamps_no_healthy_clock_issues() {
    let clock = manual(40 * SECOND);
    let hlc = hlc(&clock);
    let far = hlc.now().saturating_add(Duration::from_secs(60));
    assert!(matches!(
        hlc.commit_wait_blocking(far),
        Err(HlcError::CommitWaitTooLong { .. })
    ));
    // A physical clock that never advances cannot make the wait end: the
    // wait gives up at the limit instead of spinning forever.
    let stuck = hlc.now();
    let result = block_on(hlc.commit_wait(stuck, |_| std::future::ready(())));
    match result {
        Err(HlcError::CommitWaitTooLong { wait, limit, .. }) => assert!(wait > limit),
        other => panic!("expected CommitWaitTooLong, got {other:?}"),
    }
}

#[test]
fn invalid_configurations_are_refused() {
    let clock = manual(SECOND);
    for config in [
        HlcConfig::new(1).with_max_offset(Duration::ZERO),
        HlcConfig::new(1).with_max_offset(Duration::from_secs(7_200)),
        HlcConfig::new(1).with_error_bound(Duration::from_secs(1)),
        HlcConfig::new(1).with_forward_jump_threshold(Duration::ZERO),
    ] {
        assert!(matches!(
            Hlc::new(clock.clone(), config),
            Err(HlcError::InvalidParameter(_))
        ));
    }
}

/// A future that returns `Pending` once (waking itself) and then runs
/// `on_ready` and completes: a stand-in for a runtime's timer.
struct YieldOnce<F: FnMut()> {
    polled: bool,
    on_ready: F,
}

impl<F: FnMut()> YieldOnce<F> {
    fn new(on_ready: F) -> Self {
        YieldOnce {
            polled: false,
            on_ready,
        }
    }
}

impl<F: FnMut() + Unpin> std::future::Future for YieldOnce<F> {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.polled {
            (self.on_ready)();
            std::task::Poll::Ready(())
        } else {
            self.polled = true;
            context.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// Drives a future to completion on this thread (the futures used here
/// wake themselves, so polling again at once is enough).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

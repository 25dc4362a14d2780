//! The hybrid logical clock: lock-free, bounded against skewed peers,
//! persistable across restarts, with uncertainty intervals and commit wait.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tessera_core::{Clock, InvalidParameter, NodeId, duration_nanos};

use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::{ClockJump, HlcError, ReadUncertainty, RealtimeClock, Timestamp, UncertaintyInterval};

/// How an [`Hlc`] is configured.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_hlc::HlcConfig;
///
/// let config = HlcConfig::new(7).with_max_offset(Duration::from_millis(250));
/// assert_eq!(config.error_bound, Duration::from_millis(125));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlcConfig {
    /// The node the clock belongs to; it makes timestamps unique across the
    /// cluster ([`NodeTimestamp`](crate::NodeTimestamp)).
    pub node: NodeId,
    /// The largest offset between any two nodes' clocks the cluster
    /// tolerates: remote timestamps further ahead are refused, reads treat
    /// values this far above them as uncertain, and leases keep this margin.
    pub max_offset: Duration,
    /// The clock's error bound ε against true time, until a clock sync
    /// reports a better one ([`Hlc::set_error_bound`]): the half-width of
    /// [`Hlc::now_interval`] and the extra wait of commit wait.
    pub error_bound: Duration,
    /// A step of the wall clock larger than this is reported by
    /// [`Hlc::check_physical_clock`].
    pub forward_jump_threshold: Duration,
}

impl HlcConfig {
    /// CockroachDB's default maximum offset, 500 ms.
    pub const MAX_OFFSET_DEFAULT: Duration = Duration::from_millis(500);

    /// The configuration for `node` with the default maximum offset; the
    /// error bound and the jump threshold are half of it (two clocks each
    /// within ε of true time are within 2ε of each other, so ε ≤
    /// max_offset / 2 keeps them inside the maximum offset).
    pub fn new(node: NodeId) -> Self {
        HlcConfig {
            node,
            max_offset: Self::MAX_OFFSET_DEFAULT,
            error_bound: Self::MAX_OFFSET_DEFAULT / 2,
            forward_jump_threshold: Self::MAX_OFFSET_DEFAULT / 2,
        }
    }

    /// Sets the maximum offset, and the error bound and the jump threshold
    /// to half of it.
    pub fn with_max_offset(mut self, max_offset: Duration) -> Self {
        self.max_offset = max_offset;
        self.error_bound = max_offset / 2;
        self.forward_jump_threshold = max_offset / 2;
        self
    }

    /// Sets the initial error bound.
    pub fn with_error_bound(mut self, error_bound: Duration) -> Self {
        self.error_bound = error_bound;
        self
    }

    /// Sets the jump threshold.
    pub fn with_forward_jump_threshold(mut self, threshold: Duration) -> Self {
        self.forward_jump_threshold = threshold;
        self
    }

    /// Checks the parameters.
    ///
    /// # Errors
    ///
    /// [`InvalidParameter`] if the maximum offset is under one tick of the
    /// timestamp resolution ([`Timestamp::TICK`], 1.024 µs) or over an hour, if the error bound
    /// exceeds the maximum offset, or if the jump threshold is zero.
    pub fn validate(&self) -> Result<(), InvalidParameter> {
        const MAX_OFFSET_LIMIT: Duration = Duration::from_secs(3_600);
        if self.max_offset < Timestamp::TICK || self.max_offset > MAX_OFFSET_LIMIT {
            return Err(InvalidParameter::new(
                "max_offset",
                format!("must be within [1.024µs, 1h], got {:?}", self.max_offset),
            ));
        }
        if self.error_bound > self.max_offset {
            return Err(InvalidParameter::new(
                "error_bound",
                format!(
                    "must not exceed max_offset ({:?}), got {:?}",
                    self.max_offset, self.error_bound
                ),
            ));
        }
        if self.forward_jump_threshold.is_zero() {
            return Err(InvalidParameter::new(
                "forward_jump_threshold",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// A hybrid logical clock (Kulkarni et al. 2014, "Logical Physical Clocks
/// and Consistent Snapshots in Globally Distributed Databases"): timestamps
/// that follow physical time, never go backwards, and respect causality.
///
/// # How it works
///
/// The clock is one `AtomicU64` holding the last [`Timestamp`] it issued
/// or observed, packed (physical nanoseconds with the low 10 bits as the
/// logical counter). [`now`](Self::now) reads the physical clock `pt` and
/// moves the state to
///
/// ```text
/// next = max(pt, last + 1)
/// ```
///
/// which is the paper's rule in one integer operation: if physical time has
/// moved past the last timestamp, take it with logical counter zero;
/// otherwise keep the physical part and add one to the logical counter —
/// carrying into the physical part when the counter is full, so it never
/// wraps. Most calls fall in a tick the clock has already reached, where
/// `next` is `last + 1`: they take it with a single `fetch_add`, which
/// never fails or retries. The call that first sees a new tick moves the
/// state up with a compare-and-swap. No mutex anywhere; contention costs a
/// cache-line transfer, never a block.
///
/// # Rules
///
/// - **MONOTONICITY**: every timestamp issued is greater than every one the
///   clock issued or observed before, even when the physical clock steps
///   back (the clock then counts logically until physical time catches up).
/// - **ORDER**: no two calls on one clock return the same timestamp; with
///   the node id ([`NodeTimestamp`](crate::NodeTimestamp)) no two nodes do.
/// - **CAUSALITY**: after [`update`](Self::update) with a remote timestamp,
///   every timestamp issued is greater than it.
/// - **BOUNDED DIVERGENCE**: `update` refuses a remote timestamp more than
///   the maximum offset ahead of the local physical clock, and leaves the
///   clock unchanged (CockroachDB's `UpdateAndCheckMaxOffset`), so one
///   runaway clock cannot drag the cluster into the future.
/// - **Persisted upper bound**: a clock built with [`restore`](Self::restore)
///   never issues a timestamp at or above its upper bound, which the node
///   persists before raising; after a crash the clock restarts above the
///   persisted bound, so it never issues a timestamp below one it issued
///   before the crash.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::{ManualClock, WallTime};
/// use tessera_hlc::{Hlc, HlcConfig, HlcError};
///
/// let clock = ManualClock::new(WallTime::from_unix_nanos(1_000_000_000));
/// let hlc = Hlc::new(clock.clone(), HlcConfig::new(1))?;
/// let a = hlc.now();
/// // The physical clock steps back a second: the HLC does not.
/// clock.set_wall(WallTime::from_unix_nanos(0));
/// let b = hlc.now();
/// assert!(b > a);
/// assert_eq!(b.physical(), a.physical());
///
/// // A peer two seconds ahead is refused; the clock is unchanged.
/// let runaway = a.saturating_add(Duration::from_secs(2));
/// assert!(matches!(hlc.update(runaway), Err(HlcError::RemoteTooFarAhead { .. })));
/// assert_eq!(hlc.current(), b);
/// # Ok::<(), HlcError>(())
/// ```
pub struct Hlc<C: Clock = RealtimeClock> {
    /// The last timestamp issued or observed, packed (or a little more:
    /// refused calls may skip values).
    state: CachePadded<AtomicU64>,
    /// Timestamps at or above this are never issued: the persisted upper
    /// bound, or [`LIMIT_MAX`] without one. Only ever raised. Read on every
    /// call but rarely written, it lives on its own cache line so the
    /// writes to `state` do not evict it from the other cores.
    limit: CachePadded<AtomicU64>,
    /// Whether the clock enforces a persisted upper bound.
    bounded: bool,
    /// The current error bound ε, in nanoseconds.
    error_bound_nanos: AtomicU64,
    /// `wall − monotonic` at the last physical-clock check, as `i64` bits.
    wall_offset_nanos: AtomicU64,
    node: NodeId,
    max_offset: Duration,
    max_offset_nanos: u64,
    forward_jump_threshold: Duration,
    clock: C,
}

/// The clock never stores or issues a timestamp at or above this, 2^48 ns
/// (about 3.3 days) before the end of the encoding in 2554: the last
/// timestamp a clock issues is `LIMIT_MAX - 1`, whatever its upper bound.
///
/// The headroom is what lets [`Hlc::now`] take its value with a bare
/// `fetch_add`. A refused call may have moved the state one past the limit
/// before finding out, so the state is at most `LIMIT_MAX` plus the number
/// of refused calls; wrapping `u64` would take 2^48 of them (months of a
/// tight retry loop against a clock at the end of its range).
const LIMIT_MAX: u64 = Timestamp::LAST_ISSUABLE.as_u64() + 1;

/// Aligns a value to 128 bytes (a pair of cache lines, which x86 prefetches
/// together), so no other data shares its line.
#[repr(align(128))]
struct CachePadded<T>(T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Slack added to the commit-wait limit: rounding to whole ticks and the
/// time between reading the clock and sleeping.
const COMMIT_WAIT_SLACK: Duration = Duration::from_millis(1);

impl Hlc<RealtimeClock> {
    /// A clock on the operating system's real-time clock.
    ///
    /// # Errors
    ///
    /// [`HlcError::InvalidParameter`] if `config` is invalid.
    pub fn system(config: HlcConfig) -> Result<Self, HlcError> {
        Self::new(RealtimeClock::new(), config)
    }
}

impl<C: Clock> Hlc<C> {
    /// A clock reading physical time from `clock`, starting below every
    /// timestamp (its first [`now`](Self::now) is the physical time).
    ///
    /// # Errors
    ///
    /// [`HlcError::InvalidParameter`] if `config` is invalid.
    pub fn new(clock: C, config: HlcConfig) -> Result<Self, HlcError> {
        Self::build(clock, config, Timestamp::ZERO, None)
    }

    /// A clock restarting from a persisted upper bound: every timestamp it
    /// issues is above `persisted`, and it enforces an upper bound from now
    /// on. Use `Timestamp::ZERO` on a node's first start.
    ///
    /// The restored clock issues nothing until a new bound is persisted and
    /// raised — otherwise a second crash could repeat timestamps:
    ///
    /// 1. `let bound = hlc.next_upper_bound(lead);`
    /// 2. write `bound` durably (fsync);
    /// 3. `hlc.raise_upper_bound(bound)?;`
    ///
    /// and repeat every `lead / 2` or so, so the clock never reaches its
    /// bound. The clock may run up to `lead` ahead of physical time after a
    /// restart; keep `lead` well under the maximum offset.
    ///
    /// # Errors
    ///
    /// [`HlcError::InvalidParameter`] if `config` is invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tessera_core::{ManualClock, WallTime};
    /// use tessera_hlc::{Hlc, HlcConfig, HlcError, Timestamp};
    ///
    /// let clock = ManualClock::new(WallTime::from_unix_nanos(5_000_000_000));
    /// let hlc = Hlc::restore(clock.clone(), HlcConfig::new(1), Timestamp::ZERO)?;
    /// assert!(matches!(hlc.try_now(), Err(HlcError::UpperBoundReached { .. })));
    ///
    /// let bound = hlc.next_upper_bound(Duration::from_millis(100));
    /// // ... persist `bound` durably here ...
    /// hlc.raise_upper_bound(bound)?;
    /// let before_crash = hlc.now();
    ///
    /// // After a crash, with the physical clock set back a minute:
    /// clock.set_wall(WallTime::from_unix_nanos(4_940_000_000));
    /// let restarted = Hlc::restore(clock, HlcConfig::new(1), bound)?;
    /// let next = restarted.next_upper_bound(Duration::from_millis(100));
    /// restarted.raise_upper_bound(next)?;
    /// assert!(restarted.now() > before_crash);
    /// # Ok::<(), HlcError>(())
    /// ```
    pub fn restore(clock: C, config: HlcConfig, persisted: Timestamp) -> Result<Self, HlcError> {
        Self::build(clock, config, persisted, Some(persisted))
    }

    fn build(
        clock: C,
        config: HlcConfig,
        start: Timestamp,
        bound: Option<Timestamp>,
    ) -> Result<Self, HlcError> {
        config.validate()?;
        let wall_offset = wall_minus_monotonic(&clock);
        // Nothing at or above `LIMIT_MAX` is stored or issued, which keeps
        // the hot path's `fetch_add` and `last + 1` far from overflow.
        let start = start.as_u64().min(LIMIT_MAX);
        let limit = bound.map_or(LIMIT_MAX, |bound| bound.as_u64().min(LIMIT_MAX));
        Ok(Hlc {
            state: CachePadded(AtomicU64::new(start)),
            limit: CachePadded(AtomicU64::new(limit)),
            bounded: bound.is_some(),
            error_bound_nanos: AtomicU64::new(duration_nanos(config.error_bound)),
            wall_offset_nanos: AtomicU64::new(wall_offset as u64),
            node: config.node,
            max_offset: config.max_offset,
            max_offset_nanos: duration_nanos(config.max_offset),
            forward_jump_threshold: config.forward_jump_threshold,
            clock,
        })
    }

    /// The node this clock belongs to.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The maximum offset the clock enforces.
    pub fn max_offset(&self) -> Duration {
        self.max_offset
    }

    /// The physical clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// A new timestamp, greater than every timestamp this clock has issued
    /// or observed, and at least the current physical time.
    ///
    /// Lock-free: one physical clock read and one compare-and-swap (retried
    /// only if another thread moved the clock in between).
    ///
    /// # Panics
    ///
    /// If no timestamp can be issued: the clock's persisted upper bound is
    /// reached (the node has not persisted a new bound in time, and must
    /// stop issuing timestamps rather than risk repeating them after a
    /// crash), or the timestamp range is exhausted (the year 2554). Clocks
    /// with an upper bound should prefer [`try_now`](Self::try_now).
    #[inline]
    pub fn now(&self) -> Timestamp {
        match self.try_now() {
            Ok(timestamp) => timestamp,
            Err(error) => cannot_issue(error),
        }
    }

    /// A new timestamp, as [`now`](Self::now), or an error instead of a
    /// panic.
    ///
    /// # Errors
    ///
    /// [`HlcError::UpperBoundReached`] if the next timestamp would reach the
    /// persisted upper bound; [`HlcError::Exhausted`] at the end of the
    /// range. The clock is unchanged.
    #[inline]
    pub fn try_now(&self) -> Result<Timestamp, HlcError> {
        let physical = Timestamp::from_wall(self.clock.wall()).as_u64();
        self.issue_at_least(physical)
    }

    /// Moves the clock to `max(floor, last + 1)` and returns it.
    #[inline]
    fn issue_at_least(&self, floor: u64) -> Result<Timestamp, HlcError> {
        // Relaxed is enough for the clock's own rules: they all concern the
        // one `state` atomic, whose read-modify-writes form a single total
        // order in every memory ordering (coherence). So no two of them
        // return the same value, and a call that happens after another (by
        // program order or any synchronisation) sees its result or a later
        // one. A stale `limit` is only ever lower than the current one,
        // which refuses a timestamp that was allowed — never the reverse.
        let limit = self.limit.load(Ordering::Relaxed);
        if floor >= limit {
            return Err(self.limit_error(floor, limit));
        }
        // Fast path: most calls fall in a tick the clock has already
        // reached (a tick is 1024 ns, a call about 30), and the answer is
        // simply the next value. One `fetch_add` takes it: a single
        // read-modify-write that never fails or retries, and no read of the
        // shared line beforehand (which under contention would cost a
        // second cache-line transfer). No overflow: the state stays within
        // `LIMIT_MAX` plus one per refused call (see `LIMIT_MAX`).
        let taken = self.state.fetch_add(1, Ordering::Relaxed) + 1;
        if taken >= floor {
            if taken < limit {
                return Ok(Timestamp::from_u64(taken));
            }
            // Nothing at or above `limit` is ever returned; the value taken
            // is simply skipped.
            return Err(self.limit_error(taken, limit));
        }
        // Physical time has moved past the clock: move the clock up to it.
        // `taken` is below `floor < limit`, so giving it up is harmless.
        let mut last = taken;
        loop {
            let next = floor.max(last + 1);
            if next >= limit {
                return Err(self.limit_error(next, limit));
            }
            match self
                .state
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(Timestamp::from_u64(next)),
                Err(actual) => last = actual,
            }
        }
    }

    #[cold]
    fn limit_error(&self, wanted: u64, limit: u64) -> HlcError {
        if self.bounded {
            HlcError::UpperBoundReached {
                wanted: Timestamp::from_u64(wanted),
                bound: Timestamp::from_u64(limit),
            }
        } else {
            HlcError::Exhausted {
                last: Timestamp::from_u64(limit.saturating_sub(1)),
            }
        }
    }

    /// Observes a timestamp from another node (the receipt of a message), so
    /// that every timestamp this clock issues afterwards is greater.
    ///
    /// The remote timestamp is checked against the local physical clock
    /// first: one more than the maximum offset ahead is refused and the
    /// clock is left unchanged (CockroachDB's `UpdateAndCheckMaxOffset`).
    /// Accepting it would move this node — and everyone it talks to — into
    /// the runaway clock's future.
    ///
    /// Lock-free: a physical clock read and a load, plus a compare-and-swap
    /// only when the remote timestamp is ahead of the clock.
    ///
    /// # Errors
    ///
    /// [`HlcError::RemoteTooFarAhead`] if `remote` is beyond the maximum
    /// offset; [`HlcError::UpperBoundReached`] if it is at or above the
    /// persisted upper bound. The clock is unchanged in both cases.
    #[inline]
    pub fn update(&self, remote: Timestamp) -> Result<(), HlcError> {
        self.check_remote(remote)?;
        let remote = remote.as_u64();
        let limit = self.limit.load(Ordering::Relaxed);
        if remote >= limit {
            return Err(self.limit_error(remote, limit));
        }
        let mut last = self.state.load(Ordering::Relaxed);
        while remote > last {
            match self.state.compare_exchange_weak(
                last,
                remote,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => last = actual,
            }
        }
        Ok(())
    }

    /// The receive event of the HLC paper: observes `remote` and issues a
    /// timestamp for the receipt, greater than `remote` and than everything
    /// the clock issued before — in one compare-and-swap.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update), and as [`try_now`](Self::try_now).
    pub fn receive(&self, remote: Timestamp) -> Result<Timestamp, HlcError> {
        let physical = self.check_remote(remote)?;
        let after_remote = remote.next().ok_or(HlcError::Exhausted { last: remote })?;
        self.issue_at_least(physical.max(after_remote).as_u64())
    }

    /// Refuses `remote` if it is more than the maximum offset ahead of the
    /// physical clock; returns the physical reading.
    #[inline]
    fn check_remote(&self, remote: Timestamp) -> Result<Timestamp, HlcError> {
        let physical = Timestamp::from_wall(self.clock.wall());
        let ahead_nanos = remote
            .physical_nanos()
            .saturating_sub(physical.physical_nanos());
        if ahead_nanos > self.max_offset_nanos {
            return Err(HlcError::RemoteTooFarAhead {
                remote,
                physical,
                ahead: Duration::from_nanos(ahead_nanos),
                max_offset: self.max_offset,
            });
        }
        Ok(physical)
    }

    /// The last timestamp issued or observed, without issuing one.
    pub fn current(&self) -> Timestamp {
        Timestamp::from_u64(self.state.load(Ordering::Relaxed))
    }

    /// The physical clock as a timestamp (logical counter zero), without
    /// touching the hybrid clock.
    pub fn physical_now(&self) -> Timestamp {
        Timestamp::from_wall(self.clock.wall())
    }

    /// How far the hybrid clock is ahead of the physical clock (zero if it
    /// is not): what remote updates, logical carries and backward steps of
    /// the physical clock have added.
    pub fn lead(&self) -> Duration {
        self.current().duration_since(self.physical_now())
    }

    // ----- Persisted upper bound -------------------------------------------

    /// The persisted upper bound the clock enforces, if it was built with
    /// [`restore`](Self::restore).
    pub fn upper_bound(&self) -> Option<Timestamp> {
        self.bounded
            .then(|| Timestamp::from_u64(self.limit.load(Ordering::Relaxed)))
    }

    /// The bound to persist next: `lead` beyond the later of the clock and
    /// the physical time.
    pub fn next_upper_bound(&self, lead: Duration) -> Timestamp {
        self.current().max(self.physical_now()).saturating_add(lead)
    }

    /// Raises the upper bound to `bound`, which the caller has persisted
    /// durably. Lower bounds than the current one are ignored: the bound
    /// never goes down.
    ///
    /// # Errors
    ///
    /// [`HlcError::NoUpperBound`] if the clock was built with
    /// [`new`](Self::new) rather than [`restore`](Self::restore).
    pub fn raise_upper_bound(&self, bound: Timestamp) -> Result<(), HlcError> {
        if !self.bounded {
            return Err(HlcError::NoUpperBound);
        }
        self.limit
            .fetch_max(bound.as_u64().min(LIMIT_MAX), Ordering::Relaxed);
        Ok(())
    }

    // ----- Uncertainty and commit wait -------------------------------------

    /// The clock's current error bound ε against true time.
    pub fn error_bound(&self) -> Duration {
        Duration::from_nanos(self.error_bound_nanos.load(Ordering::Relaxed))
    }

    /// Records the error bound a clock sync measured (chrony's or NTP's
    /// maximum error, a PTP servo's bound). A bound beyond half the maximum
    /// offset means this clock may diverge from others by more than the
    /// maximum offset: [`ClockMonitor`](crate::ClockMonitor) turns that into
    /// Recovery.
    pub fn set_error_bound(&self, error_bound: Duration) {
        self.error_bound_nanos
            .store(duration_nanos(error_bound), Ordering::Relaxed);
    }

    /// The interval `[earliest, latest]` holding the true time now: the
    /// physical clock ± the error bound (TrueTime's `TT.now()`).
    pub fn now_interval(&self) -> UncertaintyInterval {
        UncertaintyInterval::new(self.node, self.clock.wall(), self.error_bound())
    }

    /// The uncertainty-restart rule for a read at `read` on this cluster:
    /// values in `(read, read + max_offset]` are uncertain.
    pub fn read_uncertainty(&self, read: Timestamp) -> ReadUncertainty {
        ReadUncertainty::new(read, self.max_offset)
    }

    /// How long until `timestamp` has certainly passed on every clock: until
    /// the earliest bound of [`now_interval`](Self::now_interval) is above
    /// it. Zero when it already has.
    ///
    /// A writer that waits this long before acknowledging a commit at
    /// `timestamp` (Spanner's commit wait) guarantees that any transaction
    /// starting after the acknowledgement gets a higher timestamp — external
    /// consistency. Async code sleeps for the returned duration on its own
    /// runtime and asks again, or uses [`commit_wait`](Self::commit_wait).
    pub fn commit_wait_remaining(&self, timestamp: Timestamp) -> Duration {
        // earliest > timestamp ⇔ tick(wall − ε) > physical(timestamp)
        //                      ⇔ wall ≥ physical(timestamp) + 1 tick + ε.
        let target = u128::from(timestamp.physical_nanos())
            + Timestamp::TICK.as_nanos()
            + u128::from(self.error_bound_nanos.load(Ordering::Relaxed));
        let wall = u128::from(self.clock.wall().as_unix_nanos());
        let remaining = target.saturating_sub(wall);
        Duration::from_nanos(u64::try_from(remaining).unwrap_or(u64::MAX))
    }

    /// The longest commit wait any timestamp of a healthy clock needs: the
    /// maximum offset (how far ahead an accepted remote timestamp can pull
    /// the clock), plus the error bound, plus a millisecond of slack.
    pub fn commit_wait_limit(&self) -> Duration {
        self.max_offset + self.error_bound() + COMMIT_WAIT_SLACK
    }

    /// One step of commit wait: `None` when done, or how long to sleep.
    fn commit_wait_step(
        &self,
        timestamp: Timestamp,
        waited: Duration,
    ) -> Result<Option<Duration>, HlcError> {
        let remaining = self.commit_wait_remaining(timestamp);
        if remaining.is_zero() {
            return Ok(None);
        }
        let limit = self.commit_wait_limit();
        let wait = waited.saturating_add(remaining);
        if wait > limit {
            return Err(HlcError::CommitWaitTooLong {
                timestamp,
                wait,
                limit,
            });
        }
        Ok(Some(remaining))
    }

    /// Commit wait for synchronous code: blocks the thread until
    /// `timestamp` has certainly passed, and returns how long it slept.
    ///
    /// # Errors
    ///
    /// [`HlcError::CommitWaitTooLong`] if the wait would exceed
    /// [`commit_wait_limit`](Self::commit_wait_limit) — a timestamp no
    /// healthy clock issues, or a physical clock that keeps stepping back.
    pub fn commit_wait_blocking(&self, timestamp: Timestamp) -> Result<Duration, HlcError> {
        let mut waited = Duration::ZERO;
        while let Some(pause) = self.commit_wait_step(timestamp, waited)? {
            std::thread::sleep(pause);
            waited += pause;
        }
        Ok(waited)
    }

    /// Commit wait for async code, on any runtime: `sleep` is the runtime's
    /// timer (`tokio::time::sleep`, `async_std::task::sleep`, a simulator's
    /// virtual timer). Returns how long it slept.
    ///
    /// # Errors
    ///
    /// As [`commit_wait_blocking`](Self::commit_wait_blocking).
    ///
    /// # Examples
    ///
    /// With tokio it is `hlc.commit_wait(timestamp, tokio::time::sleep).await?`.
    /// Here a test clock stands in for the runtime's timer:
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use std::time::Duration;
    /// use tessera_core::{ManualClock, WallTime};
    /// use tessera_hlc::{Hlc, HlcConfig};
    ///
    /// let clock = ManualClock::new(WallTime::from_unix_nanos(1_000_000_000));
    /// let config = HlcConfig::new(1).with_error_bound(Duration::from_millis(5));
    /// let hlc = Hlc::new(clock.clone(), config)?;
    /// let timestamp = hlc.now();
    /// // ... replicate the write at `timestamp` ...
    /// let sleep = |pause| {
    ///     clock.advance(pause);
    ///     std::future::ready(())
    /// };
    /// let mut wait = pin!(hlc.commit_wait(timestamp, sleep));
    /// let Poll::Ready(waited) = wait.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
    ///     unreachable!("the test timer is always ready")
    /// };
    /// assert!(waited? >= Duration::from_millis(5));
    /// // Now acknowledge: every later transaction gets a higher timestamp.
    /// assert!(hlc.now_interval().is_definitely_past(timestamp));
    /// # Ok::<(), tessera_hlc::HlcError>(())
    /// ```
    pub async fn commit_wait<S, F>(
        &self,
        timestamp: Timestamp,
        mut sleep: S,
    ) -> Result<Duration, HlcError>
    where
        S: FnMut(Duration) -> F,
        F: Future<Output = ()>,
    {
        let mut waited = Duration::ZERO;
        while let Some(pause) = self.commit_wait_step(timestamp, waited)? {
            sleep(pause).await;
            waited += pause;
        }
        Ok(waited)
    }

    // ----- Physical clock health -------------------------------------------

    /// Compares the wall clock with the monotonic clock since the previous
    /// check and reports a step larger than the jump threshold (see
    /// [`ClockJump`]). Call it on the driver's tick; a jump is reported once.
    ///
    /// Detection needs a clock whose [`now`](Clock::now) does not follow
    /// wall-clock steps, as [`RealtimeClock`] and
    /// [`tessera_core::SystemClock`] do.
    pub fn check_physical_clock(&self) -> Option<ClockJump> {
        let offset = wall_minus_monotonic(&self.clock);
        let previous = self
            .wall_offset_nanos
            .swap(offset as u64, Ordering::Relaxed) as i64;
        let drift = i128::from(offset) - i128::from(previous);
        let magnitude =
            Duration::from_nanos(u64::try_from(drift.unsigned_abs()).unwrap_or(u64::MAX));
        if magnitude <= self.forward_jump_threshold {
            None
        } else if drift > 0 {
            Some(ClockJump::Forward(magnitude))
        } else {
            Some(ClockJump::Backward(magnitude))
        }
    }
}

/// The panic of [`Hlc::now`], out of line so the hot path stays small.
#[cold]
#[inline(never)]
fn cannot_issue(error: HlcError) -> ! {
    panic!("Hlc::now cannot issue a timestamp: {error}")
}

/// `wall − monotonic` in nanoseconds, clamped to `i64`.
fn wall_minus_monotonic<C: Clock>(clock: &C) -> i64 {
    let wall = i128::from(clock.wall().as_unix_nanos());
    let monotonic = i128::from(clock.now().as_nanos());
    let difference = wall - monotonic;
    i64::try_from(difference).unwrap_or(if difference < 0 { i64::MIN } else { i64::MAX })
}

impl<C: Clock> fmt::Debug for Hlc<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hlc")
            .field("node", &self.node)
            .field("current", &self.current())
            .field("upper_bound", &self.upper_bound())
            .field("max_offset", &self.max_offset)
            .field("error_bound", &self.error_bound())
            .finish()
    }
}

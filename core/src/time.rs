//! Time as an input: instants on a node's clock, raw wall time, and the
//! [`Clock`] trait that drivers read them from.
//!
//! Protocol cores never read a clock. A driver reads one and passes the
//! reading in: the simulator a virtual clock with skew, drift and jumps, the
//! tokio runtime the [`SystemClock`], unit tests a [`ManualClock`].

use std::fmt;
use std::ops::{Add, Sub};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds in a [`Duration`], saturated to `u64` (about 584 years).
pub const fn duration_nanos(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    if nanos > u64::MAX as u128 {
        u64::MAX
    } else {
        nanos as u64
    }
}

/// A reading of a node's clock, in nanoseconds since the Unix epoch as the
/// node believes it, that never decreases.
///
/// This is the only time a protocol core sees. Because it is anchored at the
/// Unix epoch, readings of different nodes are comparable up to the clocks'
/// offset; because it never decreases, durations measured with it are never
/// negative. A driver whose physical clock steps backwards holds the reading
/// still until the clock catches up.
///
/// Arithmetic saturates: an `Instant` never wraps or panics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::Instant;
///
/// let start = Instant::from_millis(10);
/// let later = start + Duration::from_millis(5);
/// assert_eq!(later.duration_since(start), Duration::from_millis(5));
/// assert_eq!(start.duration_since(later), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant, used as "never".
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// An instant `micros` microseconds after the epoch (saturating).
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros.saturating_mul(1_000))
    }

    /// An instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1_000_000))
    }

    /// An instant `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Instant(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    pub const fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        match self.0.checked_sub(earlier.0) {
            Some(nanos) => Some(Duration::from_nanos(nanos)),
            None => None,
        }
    }

    /// `self + duration`, or `None` past [`Instant::MAX`].
    pub const fn checked_add(self, duration: Duration) -> Option<Instant> {
        let nanos = duration.as_nanos();
        if nanos > u64::MAX as u128 {
            return None;
        }
        match self.0.checked_add(nanos as u64) {
            Some(sum) => Some(Instant(sum)),
            None => None,
        }
    }

    /// `self + duration`, clamped at [`Instant::MAX`].
    pub const fn saturating_add(self, duration: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_nanos(duration)))
    }

    /// `self - duration`, clamped at [`Instant::ZERO`].
    pub const fn saturating_sub(self, duration: Duration) -> Instant {
        Instant(self.0.saturating_sub(duration_nanos(duration)))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating addition.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturating subtraction.
    fn sub(self, rhs: Duration) -> Instant {
        self.saturating_sub(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// A raw reading of a physical clock, in nanoseconds since the Unix epoch.
///
/// Unlike [`Instant`], wall time may step backwards (an NTP correction, an
/// operator's `date -s`). Hybrid logical clocks read it and guard against
/// exactly those steps; protocol cores only ever see [`Instant`].
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WallTime(u64);

impl WallTime {
    /// The Unix epoch.
    pub const UNIX_EPOCH: WallTime = WallTime(0);

    /// `nanos` nanoseconds after the Unix epoch.
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        WallTime(nanos)
    }

    /// Nanoseconds after the Unix epoch.
    pub const fn as_unix_nanos(self) -> u64 {
        self.0
    }

    /// The same reading as an [`Instant`] (for a clock that has not stepped
    /// backwards).
    pub const fn as_instant(self) -> Instant {
        Instant(self.0)
    }
}

impl fmt::Debug for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wall {}", Instant(self.0))
    }
}

/// Where a driver reads time from.
///
/// `now` never decreases; `wall` is the raw physical clock and may.
pub trait Clock: Send + Sync {
    /// The node's current [`Instant`]: never less than an earlier reading.
    fn now(&self) -> Instant;
    /// The raw physical clock, which may step backwards.
    fn wall(&self) -> WallTime;
}

/// The operating system's clocks: `wall` from [`SystemTime`], `now` from the
/// monotonic clock anchored at the wall time of construction.
///
/// Anchoring keeps `now` comparable across machines (it is close to wall
/// time) while guaranteeing it never runs backwards.
#[derive(Debug, Clone)]
pub struct SystemClock {
    anchor_wall: u64,
    anchor: std::time::Instant,
}

impl SystemClock {
    /// A clock anchored at the current wall time.
    pub fn new() -> Self {
        SystemClock {
            anchor_wall: read_system_wall(),
            anchor: std::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

fn read_system_wall() -> u64 {
    // A clock set before 1970 reads as the epoch rather than failing.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(duration_nanos)
        .unwrap_or(0)
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant(
            self.anchor_wall
                .saturating_add(duration_nanos(self.anchor.elapsed())),
        )
    }

    fn wall(&self) -> WallTime {
        WallTime(read_system_wall())
    }
}

/// A clock that moves only when told to, for tests. Clones share the same
/// time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::{Clock, ManualClock, WallTime};
///
/// let clock = ManualClock::new(WallTime::from_unix_nanos(1_000));
/// clock.advance(Duration::from_nanos(500));
/// assert_eq!(clock.now().as_nanos(), 1_500);
///
/// // The wall clock steps back; `now` holds still instead.
/// clock.set_wall(WallTime::from_unix_nanos(1_200));
/// assert_eq!(clock.wall().as_unix_nanos(), 1_200);
/// assert_eq!(clock.now().as_nanos(), 1_500);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<ManualClockInner>,
}

#[derive(Debug)]
struct ManualClockInner {
    wall: AtomicU64,
    now: AtomicU64,
}

impl ManualClock {
    /// A clock whose wall time and instant both start at `start`.
    pub fn new(start: WallTime) -> Self {
        ManualClock {
            inner: Arc::new(ManualClockInner {
                wall: AtomicU64::new(start.0),
                now: AtomicU64::new(start.0),
            }),
        }
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = duration_nanos(by);
        let wall = self
            .inner
            .wall
            .fetch_add(by, Ordering::SeqCst)
            .saturating_add(by);
        self.inner.now.fetch_max(wall, Ordering::SeqCst);
    }

    /// Sets the wall clock, forwards or backwards. The instant follows it
    /// forwards and holds still when it steps back.
    pub fn set_wall(&self, wall: WallTime) {
        self.inner.wall.store(wall.0, Ordering::SeqCst);
        self.inner.now.fetch_max(wall.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant(self.inner.now.load(Ordering::SeqCst))
    }

    fn wall(&self) -> WallTime {
        WallTime(self.inner.wall.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates_instead_of_panicking() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
        assert_eq!(Instant::ZERO.checked_duration_since(Instant::MAX), None);
        assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
    }

    #[test]
    fn system_clock_now_never_decreases() {
        let clock = SystemClock::new();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let next = clock.now();
            assert!(next >= last, "{next} < {last}");
            last = next;
        }
        let wall = clock.wall().as_unix_nanos();
        // Anchored at wall time: within a minute of it.
        assert!(last.as_nanos().abs_diff(wall) < 60_000_000_000);
    }

    #[test]
    fn manual_clock_holds_instant_when_wall_steps_back() {
        let clock = ManualClock::new(WallTime::from_unix_nanos(100));
        clock.set_wall(WallTime::from_unix_nanos(50));
        assert_eq!(clock.now(), Instant::from_nanos(100));
        clock.advance(Duration::from_nanos(30));
        assert_eq!(clock.wall(), WallTime::from_unix_nanos(80));
        assert_eq!(clock.now(), Instant::from_nanos(100));
        clock.advance(Duration::from_nanos(30));
        assert_eq!(clock.now(), Instant::from_nanos(110));
    }

    #[test]
    fn display_shows_seconds_and_nanoseconds() {
        assert_eq!(Instant::from_millis(1_500).to_string(), "1.500000000s");
    }
}

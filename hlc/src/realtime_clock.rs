//! The default physical clock: the operating system's real-time clock, read
//! through the fastest safe path available.

use tessera_core::{Clock, Instant, WallTime};

/// The operating system's clocks, read fast: [`wall`](Clock::wall) is
/// `CLOCK_REALTIME` (it follows NTP steps, forwards and back), and
/// [`now`](Clock::now) is `CLOCK_MONOTONIC` anchored at the wall time of
/// construction (it never steps back).
///
/// It reads the same clocks as [`tessera_core::SystemClock`] at nanosecond
/// resolution, but on Unix it calls the vDSO's `clock_gettime` through
/// `rustix` and converts the `timespec` with two integer operations. std's
/// `SystemTime::now().duration_since(UNIX_EPOCH)` costs about half as much
/// again as the clock read itself (its `Result<Duration>` plumbing), and the
/// hybrid clock's budget is 1.3× one bare `SystemTime::now()` for the read
/// *and* the compare-and-swap. Other platforms fall back to std.
///
/// # Examples
///
/// ```
/// use tessera_core::Clock;
/// use tessera_hlc::RealtimeClock;
///
/// let clock = RealtimeClock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// assert!(clock.wall().as_unix_nanos() > 1_600_000_000_000_000_000);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RealtimeClock {
    /// Wall time at construction, in nanoseconds since the Unix epoch.
    anchor_wall: u64,
    /// The monotonic clock at construction, in nanoseconds.
    anchor_monotonic: u64,
}

impl RealtimeClock {
    /// A clock whose monotonic instants start at the current wall time.
    pub fn new() -> Self {
        RealtimeClock {
            anchor_wall: read_realtime_nanos(),
            anchor_monotonic: read_monotonic_nanos(),
        }
    }
}

impl Default for RealtimeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealtimeClock {
    #[inline]
    fn now(&self) -> Instant {
        let elapsed = read_monotonic_nanos().saturating_sub(self.anchor_monotonic);
        Instant::from_nanos(self.anchor_wall.saturating_add(elapsed))
    }

    #[inline]
    fn wall(&self) -> WallTime {
        WallTime::from_unix_nanos(read_realtime_nanos())
    }
}

/// The last second whose nanoseconds fit in a `u64` (in the year 2554).
#[cfg(unix)]
const SECONDS_MAX: u64 = u64::MAX / 1_000_000_000 - 1;

#[cfg(unix)]
#[inline]
fn timespec_nanos(clock: rustix::time::ClockId) -> u64 {
    let ts = rustix::time::clock_gettime(clock);
    // One predictable comparison keeps the common case to a multiply and an
    // add on the clock read's critical path: a clock set before 1970
    // (negative seconds, huge once cast) reads as the epoch, like
    // `tessera_core::SystemClock`, and one past 2554 saturates. `tv_nsec`
    // is always in [0, 1e9).
    let secs = ts.tv_sec as u64;
    if secs <= SECONDS_MAX {
        secs * 1_000_000_000 + ts.tv_nsec as u64
    } else if ts.tv_sec < 0 {
        0
    } else {
        u64::MAX
    }
}

#[cfg(unix)]
#[inline]
fn read_realtime_nanos() -> u64 {
    timespec_nanos(rustix::time::ClockId::Realtime)
}

#[cfg(unix)]
#[inline]
fn read_monotonic_nanos() -> u64 {
    timespec_nanos(rustix::time::ClockId::Monotonic)
}

#[cfg(not(unix))]
fn read_realtime_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(tessera_core::duration_nanos)
        .unwrap_or(0)
}

#[cfg(not(unix))]
fn read_monotonic_nanos() -> u64 {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    tessera_core::duration_nanos(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn wall_agrees_with_std_system_time() {
        let clock = RealtimeClock::new();
        let std_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(tessera_core::duration_nanos)
            .unwrap_or(0);
        let ours = clock.wall().as_unix_nanos();
        // Two reads a few microseconds apart (a loaded machine may
        // deschedule the thread between them; a second is generous).
        assert!(
            ours.abs_diff(std_nanos) < 1_000_000_000,
            "{ours} vs {std_nanos}"
        );
    }

    #[test]
    fn now_is_monotone_and_anchored_at_wall_time() {
        let clock = RealtimeClock::new();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let next = clock.now();
            assert!(next >= last);
            last = next;
        }
        assert!(last.as_nanos().abs_diff(clock.wall().as_unix_nanos()) < 60_000_000_000);
    }
}

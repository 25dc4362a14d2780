//! Node clocks in simulation: an offset from true (virtual) time, a drift
//! rate, and steps forwards or backwards — all seen by the node through a
//! reading that never decreases, as a real driver would give it.

use std::time::Duration;

use tessera_core::{Instant, duration_nanos};

/// Where virtual time zero sits on node clocks: 2026-01-01T00:00:00Z, so
/// simulated nodes read plausible wall-clock instants and a negative clock
/// offset never underflows.
pub const VIRTUAL_EPOCH: Instant = Instant::from_secs(1_767_225_600);

/// The largest drift rate a simulated clock may have, in parts per million
/// (10%: far beyond real quartz, enough to break protocols that assume none).
pub const DRIFT_PPM_MAX: i64 = 100_000;

/// One node's clock.
///
/// Its raw reading at virtual time `v` is
/// `VIRTUAL_EPOCH + offset + v × (1 + drift)`; what the node sees is the
/// largest raw reading so far, so a backward step freezes the node's clock
/// until the raw reading catches up — exactly what a driver does with a
/// wall clock that steps back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeClock {
    offset_nanos: i64,
    drift_ppm: i64,
    last_read: u64,
}

impl NodeClock {
    /// A clock `offset_nanos` ahead of true time (behind if negative),
    /// running `drift_ppm` parts per million fast (slow if negative,
    /// clamped to ±[`DRIFT_PPM_MAX`]).
    pub fn new(offset_nanos: i64, drift_ppm: i64) -> Self {
        NodeClock {
            offset_nanos,
            drift_ppm: drift_ppm.clamp(-DRIFT_PPM_MAX, DRIFT_PPM_MAX),
            last_read: 0,
        }
    }

    /// A perfect clock.
    pub fn exact() -> Self {
        NodeClock::new(0, 0)
    }

    /// The offset from true time, in nanoseconds.
    pub fn offset_nanos(&self) -> i64 {
        self.offset_nanos
    }

    /// The drift rate, in parts per million.
    pub fn drift_ppm(&self) -> i64 {
        self.drift_ppm
    }

    fn raw(&self, virtual_nanos: u64) -> u64 {
        let v = i128::from(virtual_nanos);
        let drifted = v + (v * i128::from(self.drift_ppm)).div_euclid(1_000_000);
        let raw = i128::from(VIRTUAL_EPOCH.as_nanos()) + i128::from(self.offset_nanos) + drifted;
        raw.clamp(0, i128::from(u64::MAX)) as u64
    }

    /// What the node reads at `virtual_nanos`, without recording the read.
    pub fn peek(&self, virtual_nanos: u64) -> Instant {
        Instant::from_nanos(self.raw(virtual_nanos).max(self.last_read))
    }

    /// What the node reads at `virtual_nanos`. Never less than an earlier
    /// read.
    pub fn read(&mut self, virtual_nanos: u64) -> Instant {
        let now = self.peek(virtual_nanos);
        self.last_read = now.as_nanos();
        now
    }

    /// The earliest virtual time, no earlier than `virtual_now`, at which the
    /// node's clock reads at least `local`.
    pub fn virtual_time_of(&self, local: Instant, virtual_now: u64) -> u64 {
        if self.peek(virtual_now) >= local {
            return virtual_now;
        }
        let target = i128::from(local.as_nanos())
            - i128::from(VIRTUAL_EPOCH.as_nanos())
            - i128::from(self.offset_nanos);
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let estimate = (target * 1_000_000).div_euclid(rate).max(0);
        let mut v = (estimate.clamp(0, i128::from(u64::MAX)) as u64).max(virtual_now);
        // The estimate is within a nanosecond or two of the answer; rounding
        // in `raw` decides the rest.
        while self.raw(v) < local.as_nanos() && v < u64::MAX {
            v += 1;
        }
        v
    }

    /// Steps the clock forwards by `by`.
    pub fn step_forward(&mut self, by: Duration) {
        self.offset_nanos = self
            .offset_nanos
            .saturating_add(i64::try_from(duration_nanos(by)).unwrap_or(i64::MAX));
    }

    /// Steps the raw clock backwards by `by`; the node's reading holds still
    /// until the raw clock catches up.
    pub fn step_backward(&mut self, by: Duration) {
        self.offset_nanos = self
            .offset_nanos
            .saturating_sub(i64::try_from(duration_nanos(by)).unwrap_or(i64::MAX));
    }

    /// Changes the drift rate (clamped to ±[`DRIFT_PPM_MAX`]).
    pub fn set_drift_ppm(&mut self, drift_ppm: i64) {
        self.drift_ppm = drift_ppm.clamp(-DRIFT_PPM_MAX, DRIFT_PPM_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_drift_shape_the_reading() {
        let mut clock = NodeClock::new(1_000, 1_000); // 1 µs ahead, 0.1% fast
        let at = clock.read(1_000_000_000);
        assert_eq!(
            at.as_nanos() - VIRTUAL_EPOCH.as_nanos(),
            1_000 + 1_000_000_000 + 1_000_000
        );
    }

    #[test]
    fn backward_step_freezes_the_reading_until_it_catches_up() {
        let mut clock = NodeClock::exact();
        let before = clock.read(10_000);
        clock.step_backward(Duration::from_nanos(5_000));
        assert_eq!(clock.read(12_000), before);
        assert_eq!(clock.read(15_000), before);
        assert!(clock.read(15_001) > before);
    }

    #[test]
    fn virtual_time_of_finds_the_earliest_instant() {
        for drift in [-50_000, -7, 0, 3, 99_999] {
            for offset in [-1_000_000, 0, 123_456] {
                let clock = NodeClock::new(offset, drift);
                for target in [0u64, 1, 999, 1_000_000, 7_777_777_777] {
                    let local = Instant::from_nanos(VIRTUAL_EPOCH.as_nanos() + target);
                    let v = clock.virtual_time_of(local, 0);
                    assert!(clock.peek(v) >= local, "drift {drift} offset {offset}");
                    if v > 0 {
                        assert!(clock.peek(v - 1) < local, "drift {drift} offset {offset}");
                    }
                }
            }
        }
    }
}

//! The time a node sees when driven by tokio.

use std::time::Duration;

use tessera_core::{Clock, Instant, SystemClock};

/// A node's clock under tokio: tokio's monotonic clock, anchored at a
/// chosen [`Instant`] (by default the system's wall time at construction,
/// so readings of different machines are comparable up to their clocks'
/// offset, as leases need).
///
/// Reading tokio's clock rather than the system's means a runtime whose
/// time is simulated (turmoil, tokio's paused test clock) drives the node's
/// timers and its notion of `now` alike.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeClock {
    anchor: tokio::time::Instant,
    anchor_value: Instant,
}

impl RuntimeClock {
    /// A clock reading the system's wall time now, and monotonic from here.
    pub fn new() -> Self {
        Self::anchored_at(SystemClock::new().now())
    }

    /// A clock that reads `value` now.
    pub fn anchored_at(value: Instant) -> Self {
        RuntimeClock {
            anchor: tokio::time::Instant::now(),
            anchor_value: value,
        }
    }

    /// The current reading; never decreases.
    pub fn now(&self) -> Instant {
        self.anchor_value + tokio::time::Instant::now().saturating_duration_since(self.anchor)
    }

    /// The tokio instant at which this clock reads `at` (for timers).
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        let after = at.duration_since(self.anchor_value);
        // Far-future deadlines (a node that never needs a tick) are capped
        // at a year rather than overflowing tokio's clock.
        self.anchor + after.min(Duration::from_secs(365 * 24 * 3600))
    }
}

impl Default for RuntimeClock {
    fn default() -> Self {
        Self::new()
    }
}

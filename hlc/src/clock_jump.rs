//! A step of the physical clock, as detected by
//! [`Hlc::check_physical_clock`](crate::Hlc::check_physical_clock).

use std::fmt;
use std::time::Duration;

/// A step of the wall clock relative to the monotonic clock, larger than
/// the configured threshold.
///
/// The wall clock and the monotonic clock run at the same rate (NTP slews
/// both alike); only a step — an NTP correction, an operator's `date -s`, a
/// VM resumed from a snapshot — moves one against the other. So a change in
/// `wall − monotonic` between two checks is a jump, however long the clock
/// sat idle in between.
///
/// A **forward** jump is the dangerous one: timestamps issued after it run
/// ahead of the other nodes, possibly beyond the maximum offset, and the
/// hybrid clock can never take them back. It moves the clock's mode to
/// Recovery ([`ClockMonitor::record_jump`](crate::ClockMonitor::record_jump)).
/// A **backward** step is harmless to ORDER — the hybrid clock holds still
/// and counts logically until physical time catches up — but it means the
/// clock now runs ahead of its physical clock, so it is reported too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ClockJump {
    /// The wall clock moved ahead of the monotonic clock by this much.
    Forward(Duration),
    /// The wall clock fell behind the monotonic clock by this much.
    Backward(Duration),
}

impl ClockJump {
    /// How far the wall clock stepped.
    pub fn magnitude(&self) -> Duration {
        match self {
            ClockJump::Forward(by) | ClockJump::Backward(by) => *by,
        }
    }

    /// Whether the wall clock stepped forward.
    pub fn is_forward(&self) -> bool {
        matches!(self, ClockJump::Forward(_))
    }
}

impl fmt::Display for ClockJump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockJump::Forward(by) => write!(f, "wall clock jumped forward by {by:?}"),
            ClockJump::Backward(by) => write!(f, "wall clock stepped back by {by:?}"),
        }
    }
}

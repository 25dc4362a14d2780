//! Uncertainty: the interval that holds the true time, and the rule that
//! restarts a read when a value's timestamp falls inside its uncertainty.

use std::fmt;
use std::time::Duration;

use tessera_core::{
    Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant, NodeId, WallTime,
};

use crate::Timestamp;

/// An interval `[earliest, latest]` that contains the true time at the
/// moment the physical clock was read, in the style of Spanner's TrueTime
/// `TT.now()`: the reading minus and plus the clock's error bound ε.
///
/// It is [`Evidence`] of kind `UncertaintyInterval` for the reading node:
/// it proves a bound on how far the node's clock can be from true time.
/// The bounds are rounded outwards to whole ticks, so the interval is
/// never narrower than the error bound says (the timestamp resolution is a
/// tick of 1.024 µs).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::WallTime;
/// use tessera_hlc::{Timestamp, UncertaintyInterval};
///
/// let reading = WallTime::from_unix_nanos(10_000_000_000); // 10 s
/// let interval = UncertaintyInterval::new(1, reading, Duration::from_millis(2));
/// // [9.998 s, 10.002 s], rounded out to whole ticks.
/// assert_eq!(interval.earliest(), Timestamp::from_nanos(9_998_000_000));
/// assert!(interval.latest() >= Timestamp::from_nanos(10_002_000_000));
/// assert!(interval.width() < Duration::from_micros(4_003));
/// assert!(interval.is_definitely_past(Timestamp::from_nanos(9_997_990_000)));
/// assert!(!interval.is_definitely_past(Timestamp::from_nanos(9_998_000_000)));
/// assert!(interval.is_definitely_future(Timestamp::from_nanos(10_002_010_000)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UncertaintyInterval {
    node: NodeId,
    reading: Timestamp,
    earliest: Timestamp,
    latest: Timestamp,
}

impl UncertaintyInterval {
    /// The interval around `reading` for a clock with error bound
    /// `error_bound`, on `node`.
    pub fn new(node: NodeId, reading: WallTime, error_bound: Duration) -> Self {
        let nanos = reading.as_unix_nanos();
        let error = tessera_core::duration_nanos(error_bound);
        let tick = tessera_core::duration_nanos(Timestamp::TICK);
        let latest_nanos = nanos
            .saturating_add(error)
            .div_ceil(tick)
            .saturating_mul(tick);
        UncertaintyInterval {
            node,
            reading: Timestamp::from_wall(reading),
            earliest: Timestamp::from_nanos(nanos.saturating_sub(error)),
            latest: Timestamp::from_nanos(latest_nanos),
        }
    }

    /// The node whose clock was read.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The physical clock reading the interval is centred on.
    pub fn reading(&self) -> Timestamp {
        self.reading
    }

    /// The earliest the true time can be.
    pub fn earliest(&self) -> Timestamp {
        self.earliest
    }

    /// The latest the true time can be.
    pub fn latest(&self) -> Timestamp {
        self.latest
    }

    /// `latest - earliest`: twice the error bound, rounded out to ticks.
    pub fn width(&self) -> Duration {
        self.latest.duration_since(self.earliest)
    }

    /// Whether `timestamp` may be the true time of the reading.
    pub fn contains(&self, timestamp: Timestamp) -> bool {
        self.earliest <= timestamp && timestamp <= self.latest
    }

    /// Whether `timestamp` had certainly passed when the clock was read
    /// (TrueTime's `TT.after`): it lies before `earliest`. Commit wait waits
    /// for exactly this.
    pub fn is_definitely_past(&self, timestamp: Timestamp) -> bool {
        timestamp < self.earliest
    }

    /// Whether `timestamp` had certainly not arrived when the clock was read
    /// (TrueTime's `TT.before`): it lies after `latest`.
    pub fn is_definitely_future(&self, timestamp: Timestamp) -> bool {
        timestamp > self.latest
    }
}

impl fmt::Display for UncertaintyInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {}] on node {}",
            self.earliest, self.latest, self.node
        )
    }
}

impl Evidence for UncertaintyInterval {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::UncertaintyInterval
    }

    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Node(self.node)
    }

    fn issued_at(&self) -> Option<Instant> {
        Some(self.reading.to_instant())
    }

    /// What the interval says about the moment of the reading stays true.
    fn expires_at(&self) -> Option<Instant> {
        None
    }

    fn validate(&self) -> Result<(), EvidenceError> {
        if self.earliest <= self.reading && self.reading <= self.latest {
            Ok(())
        } else {
            Err(EvidenceError::Inconsistent(format!(
                "the reading {} lies outside [{}, {}]",
                self.reading, self.earliest, self.latest
            )))
        }
    }
}

/// What a read at some timestamp may do with a value it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueVisibility {
    /// The value's timestamp is at or below the read timestamp: the value
    /// was written before the read and is part of its snapshot.
    Visible,
    /// The value's timestamp is above the read timestamp but within the
    /// clock uncertainty: the write may have happened before the read began
    /// in real time, so ignoring it could break linearizability. Restart
    /// the read at `restart_at` (the value's timestamp), keeping the
    /// original uncertainty limit.
    Uncertain {
        /// The read timestamp to restart at.
        restart_at: Timestamp,
    },
    /// The value's timestamp is beyond the uncertainty limit: it was
    /// certainly written after the read began, and the read ignores it.
    Invisible,
}

/// The uncertainty-restart rule for reads (CockroachDB's
/// `ReadWithinUncertaintyIntervalError`, Spanner's reasoning without commit
/// wait): a read at `read` must treat a value with timestamp in
/// `(read, read + max_offset]` as uncertain — the writer's clock may have
/// been up to `max_offset` ahead of the reader's — and restart at a higher
/// timestamp rather than ignore it.
///
/// The limit `read + max_offset` is fixed when the read begins and kept
/// across restarts, so restarts converge: each one moves the read timestamp
/// up towards a limit that does not move.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_hlc::{ReadUncertainty, Timestamp, ValueVisibility};
///
/// let read = ReadUncertainty::new(Timestamp::from_micros(1_000), Duration::from_micros(500));
/// assert_eq!(read.classify(Timestamp::from_micros(900)), ValueVisibility::Visible);
/// let maybe_earlier = Timestamp::from_micros(1_200);
/// assert_eq!(
///     read.classify(maybe_earlier),
///     ValueVisibility::Uncertain { restart_at: maybe_earlier }
/// );
/// assert_eq!(read.classify(Timestamp::from_micros(1_501)), ValueVisibility::Invisible);
///
/// // Restart: the value becomes visible, the limit stays put.
/// let restarted = read.restart_at(maybe_earlier);
/// assert_eq!(restarted.classify(maybe_earlier), ValueVisibility::Visible);
/// assert_eq!(restarted.limit(), read.limit());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReadUncertainty {
    read: Timestamp,
    limit: Timestamp,
}

impl ReadUncertainty {
    /// A read at `read` on a cluster whose clocks are at most `max_offset`
    /// apart.
    pub fn new(read: Timestamp, max_offset: Duration) -> Self {
        ReadUncertainty {
            read,
            limit: read.saturating_add(max_offset),
        }
    }

    /// The read timestamp.
    pub fn read(&self) -> Timestamp {
        self.read
    }

    /// The uncertainty limit: values above it are certainly later.
    pub fn limit(&self) -> Timestamp {
        self.limit
    }

    /// What the read may do with a value written at `value`.
    pub fn classify(&self, value: Timestamp) -> ValueVisibility {
        if value <= self.read {
            ValueVisibility::Visible
        } else if value <= self.limit {
            ValueVisibility::Uncertain { restart_at: value }
        } else {
            ValueVisibility::Invisible
        }
    }

    /// The same read restarted at `at` (never lower than the current read
    /// timestamp, never above the limit), with the original limit.
    pub fn restart_at(&self, at: Timestamp) -> ReadUncertainty {
        ReadUncertainty {
            read: at.max(self.read).min(self.limit),
            limit: self.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::EvidenceState;

    #[test]
    fn the_interval_is_rounded_outwards_and_holds_the_reading() {
        // A reading in the middle of a tick, 1 ns of error: the interval
        // spans the whole tick.
        let interval =
            UncertaintyInterval::new(7, WallTime::from_unix_nanos(1_500), Duration::from_nanos(1));
        assert_eq!(interval.earliest(), Timestamp::from_nanos(1_024));
        assert_eq!(interval.latest(), Timestamp::from_nanos(2_048));
        assert!(interval.contains(interval.reading()));
        assert_eq!(interval.state_at(Instant::MAX), EvidenceState::Active);
        assert_eq!(interval.kind(), EvidenceKind::UncertaintyInterval);
        assert!(interval.proves(&EvidenceScope::Node(7), Instant::MAX));
        let top = UncertaintyInterval::new(
            7,
            WallTime::from_unix_nanos(u64::MAX),
            Duration::from_secs(1),
        );
        assert_eq!(top.latest(), Timestamp::from_nanos(u64::MAX));
    }

    #[test]
    fn an_interval_with_the_reading_outside_fails_validation() {
        let mut interval =
            UncertaintyInterval::new(1, WallTime::from_unix_nanos(5_000), Duration::ZERO);
        interval.latest = Timestamp::from_micros(4);
        assert!(interval.validate().is_err());
        assert_eq!(interval.state_at(Instant::MAX), EvidenceState::Generated);
    }

    #[test]
    fn values_inside_the_uncertainty_window_force_a_restart() {
        // Rule: a value whose timestamp falls in (read, read + max_offset]
        // is uncertain; the bounds are exact.
        let read = Timestamp::from_parts(1_024_000, 5).unwrap();
        let rule = ReadUncertainty::new(read, Duration::from_nanos(256_000));
        let limit = Timestamp::from_parts(1_280_000, 5).unwrap();
        assert_eq!(rule.limit(), limit);
        assert_eq!(rule.classify(read), ValueVisibility::Visible);
        let just_above = read.next().unwrap();
        assert_eq!(
            rule.classify(just_above),
            ValueVisibility::Uncertain {
                restart_at: just_above
            }
        );
        assert_eq!(
            rule.classify(limit),
            ValueVisibility::Uncertain { restart_at: limit }
        );
        assert_eq!(
            rule.classify(limit.next().unwrap()),
            ValueVisibility::Invisible
        );
    }

    #[test]
    fn restarts_keep_the_limit_and_never_move_the_read_down() {
        let rule = ReadUncertainty::new(Timestamp::from_micros(100), Duration::from_micros(50));
        let restarted = rule.restart_at(Timestamp::from_micros(120));
        assert_eq!(restarted.read(), Timestamp::from_micros(120));
        assert_eq!(restarted.limit(), rule.limit());
        assert_eq!(
            restarted.restart_at(Timestamp::from_micros(10)).read(),
            Timestamp::from_micros(120)
        );
        assert_eq!(restarted.restart_at(Timestamp::MAX).read(), rule.limit());
    }
}

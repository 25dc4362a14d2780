//! Hybrid timestamps: physical microseconds and a logical counter packed in
//! one `u64`, and the same with the issuing node for a cluster-wide order.

use std::fmt;
use std::time::Duration;

use tessera_core::{
    Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant, NodeId, WallTime, duration_nanos,
};

/// A hybrid logical clock timestamp: nanoseconds since the Unix epoch
/// whose lowest 10 bits are a logical counter, in one `u64`, so timestamps
/// compare, hash and store as plain integers.
///
/// # Encoding
///
/// ```text
///  63                                              10 9            0
/// ┌──────────────────────────────────────────────────┬──────────────┐
/// │ physical: nanoseconds since 1970-01-01, in ticks  │ logical      │
/// │ of 1024 ns (the low 10 bits of the count cleared) │ counter 0–1023│
/// └──────────────────────────────────────────────────┴──────────────┘
/// ```
///
/// - **Order**: the integer order is the timestamp order — physical first,
///   then logical — so comparing two timestamps is one integer comparison,
///   and [`to_be_bytes`](Self::to_be_bytes) sorts the same way byte by byte.
///   The packed value reads as a nanosecond count: a timestamp is never
///   more than 1.024 µs away from its physical time.
/// - **Resolution**: physical time in ticks of [`TICK`](Self::TICK) =
///   1.024 µs, each subdivided by a logical counter of
///   [`LOGICAL_MAX`](Self::LOGICAL_MAX)` + 1` = 1024 values: up to 1024
///   timestamps per tick before the counter carries (a clock issues one in
///   about 30 ns, some 34 per tick). Taking the physical part is a mask,
///   not a division, which keeps [`Hlc::now`](crate::Hlc::now) within 1.3×
///   a bare clock read.
/// - **Range**: 2^64 ns ≈ 584.5 years from 1970, to the year 2554. The
///   encoding has no era and never rolls over (unlike NTP's 32-bit seconds,
///   which wrap in 2036, or 32-bit Unix seconds in 2038): a clock stops
///   issuing 2^48 ns (3.3 days) before the end and reports
///   [`HlcError::Exhausted`](crate::HlcError::Exhausted) instead.
/// - **Carry**: incrementing the packed integer carries a full logical
///   counter into the physical part — `(p, 1023) + 1 = (p + 1 tick, 0)` —
///   so the logical counter never wraps silently; the clock just runs one
///   tick ahead of physical time.
///
/// # Examples
///
/// ```
/// use tessera_hlc::Timestamp;
///
/// let a = Timestamp::from_parts(1_700_000_000_000_000_000, 1023).unwrap();
/// let b = a.next().unwrap();
/// // The full logical counter carries into the physical part.
/// assert_eq!(b.physical_nanos(), a.physical_nanos() + 1024);
/// assert_eq!(b.logical(), 0);
/// assert!(a < b);
/// assert_eq!(Timestamp::from_be_bytes(b.to_be_bytes()), b);
/// assert_eq!(a.to_string(), "1700000000.000000000+1023");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Timestamp(u64);

impl Timestamp {
    /// Bits of the logical counter.
    pub const LOGICAL_BITS: u32 = 10;
    /// The largest logical counter value; one more carries into the
    /// physical part.
    pub const LOGICAL_MAX: u16 = (1 << Self::LOGICAL_BITS) - 1;
    /// The physical resolution: 1024 ns.
    pub const TICK: Duration = Duration::from_nanos(1 << Self::LOGICAL_BITS);
    const LOGICAL_MASK: u64 = Self::LOGICAL_MAX as u64;
    /// The epoch, logical counter zero.
    pub const ZERO: Timestamp = Timestamp(0);
    /// The last timestamp of the encoding (in the year 2554).
    pub const MAX: Timestamp = Timestamp(u64::MAX);
    /// The last timestamp an [`Hlc`](crate::Hlc) issues: 2^48 ns (about 3.3
    /// days) before [`MAX`](Self::MAX), headroom that lets the clock's
    /// lock-free increment run without an overflow check.
    pub const LAST_ISSUABLE: Timestamp = Timestamp(u64::MAX - (1 << 48) - 1);

    /// The timestamp with physical part `physical_nanos` (rounded down to a
    /// whole tick) and logical counter `logical`, or `None` if `logical`
    /// exceeds [`LOGICAL_MAX`](Self::LOGICAL_MAX).
    pub const fn from_parts(physical_nanos: u64, logical: u16) -> Option<Timestamp> {
        if logical > Self::LOGICAL_MAX {
            return None;
        }
        Some(Timestamp(
            (physical_nanos & !Self::LOGICAL_MASK) | logical as u64,
        ))
    }

    /// The timestamp at `nanos` nanoseconds since the epoch (rounded down to
    /// a whole tick), logical counter zero.
    #[inline]
    pub const fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos & !Self::LOGICAL_MASK)
    }

    /// The timestamp at `micros` microseconds since the epoch (rounded down
    /// to a whole tick, clamped to the range), logical counter zero.
    pub const fn from_micros(micros: u64) -> Timestamp {
        Self::from_nanos(micros.saturating_mul(1_000))
    }

    /// The timestamp of a wall-clock reading (rounded down to a whole
    /// tick), logical counter zero.
    #[inline]
    pub const fn from_wall(wall: WallTime) -> Timestamp {
        Self::from_nanos(wall.as_unix_nanos())
    }

    /// The timestamp of an instant (rounded down to a whole tick), logical
    /// counter zero.
    pub const fn from_instant(instant: Instant) -> Timestamp {
        Self::from_nanos(instant.as_nanos())
    }

    /// The packed representation.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// A timestamp from its packed representation (every `u64` is one).
    pub const fn from_u64(packed: u64) -> Timestamp {
        Timestamp(packed)
    }

    /// The physical part, in nanoseconds since the Unix epoch (a whole
    /// number of ticks).
    pub const fn physical_nanos(self) -> u64 {
        self.0 & !Self::LOGICAL_MASK
    }

    /// The physical part alone, logical counter zero.
    pub const fn physical(self) -> Timestamp {
        Timestamp(self.physical_nanos())
    }

    /// The logical counter.
    pub const fn logical(self) -> u16 {
        (self.0 & Self::LOGICAL_MASK) as u16
    }

    /// The physical part as an [`Instant`] (the logical counter dropped).
    pub const fn to_instant(self) -> Instant {
        Instant::from_nanos(self.physical_nanos())
    }

    /// The next timestamp: the logical counter plus one, carrying into the
    /// physical part when the counter is full. `None` after
    /// [`Timestamp::MAX`].
    pub const fn next(self) -> Option<Timestamp> {
        match self.0.checked_add(1) {
            Some(packed) => Some(Timestamp(packed)),
            None => None,
        }
    }

    /// The previous timestamp, or `None` before [`Timestamp::ZERO`].
    pub const fn prev(self) -> Option<Timestamp> {
        match self.0.checked_sub(1) {
            Some(packed) => Some(Timestamp(packed)),
            None => None,
        }
    }

    /// The physical part moved forward by `duration` (rounded down to a
    /// whole tick), the logical counter kept; clamped at the end of the
    /// range.
    pub const fn saturating_add(self, duration: Duration) -> Timestamp {
        let physical = self
            .physical_nanos()
            .saturating_add(duration_nanos(duration));
        Timestamp((physical & !Self::LOGICAL_MASK) | (self.0 & Self::LOGICAL_MASK))
    }

    /// The physical part moved back by `duration` (rounded down to a whole
    /// tick), the logical counter kept; clamped at [`Timestamp::ZERO`].
    pub const fn saturating_sub(self, duration: Duration) -> Timestamp {
        let nanos = duration_nanos(duration);
        if nanos > self.physical_nanos() {
            return Timestamp::ZERO;
        }
        Timestamp(
            ((self.physical_nanos() - nanos) & !Self::LOGICAL_MASK) | (self.0 & Self::LOGICAL_MASK),
        )
    }

    /// Physical time from `earlier` to `self`, or zero if `earlier` is
    /// later.
    pub const fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(
            self.physical_nanos()
                .saturating_sub(earlier.physical_nanos()),
        )
    }

    /// The 8-byte big-endian form, which sorts like the timestamp.
    pub const fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// A timestamp from its 8-byte big-endian form.
    pub const fn from_be_bytes(bytes: [u8; 8]) -> Timestamp {
        Timestamp(u64::from_be_bytes(bytes))
    }
}

impl fmt::Display for Timestamp {
    /// `seconds.nanoseconds+logical`, e.g. `1700000000.000041984+3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.physical_nanos();
        write!(
            f,
            "{}.{:09}+{}",
            nanos / 1_000_000_000,
            nanos % 1_000_000_000,
            self.logical()
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A timestamp and the node that issued it: unique across a cluster and
/// totally ordered — by timestamp, then by node id.
///
/// Each [`Hlc`](crate::Hlc) issues strictly increasing timestamps, and no
/// two nodes share an id, so no two `NodeTimestamp`s issued anywhere are
/// equal. As [`Evidence`] it proves ORDER for its node: it is the issuing
/// clock's word that the event happened after everything the clock had seen
/// before it.
///
/// # Examples
///
/// ```
/// use tessera_hlc::{NodeTimestamp, Timestamp};
///
/// let t = Timestamp::from_micros(5);
/// let from_one = NodeTimestamp::new(t, 1);
/// let from_two = NodeTimestamp::new(t, 2);
/// assert!(from_one < from_two);
/// assert_ne!(from_one, from_two);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeTimestamp {
    /// The hybrid timestamp; compared first.
    pub time: Timestamp,
    /// The node that issued it; breaks ties between nodes.
    pub node: NodeId,
}

impl NodeTimestamp {
    /// `time` as issued by `node`.
    pub const fn new(time: Timestamp, node: NodeId) -> Self {
        NodeTimestamp { time, node }
    }
}

impl fmt::Display for NodeTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.time, self.node)
    }
}

impl Evidence for NodeTimestamp {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Timestamp
    }

    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Node(self.node)
    }

    fn issued_at(&self) -> Option<Instant> {
        Some(self.time.to_instant())
    }

    /// A timestamp never expires: the order it proves is permanent.
    fn expires_at(&self) -> Option<Instant> {
        None
    }

    /// Every packed value is a well-formed timestamp. Whether a *remote*
    /// timestamp is plausible is decided against the local clock, by
    /// [`Hlc::update`](crate::Hlc::update).
    fn validate(&self) -> Result<(), EvidenceError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::EvidenceState;

    #[test]
    fn packing_orders_physical_before_logical() {
        let early_high_logical = Timestamp::from_parts(10 * 1024, Timestamp::LOGICAL_MAX).unwrap();
        let later_zero_logical = Timestamp::from_parts(11 * 1024, 0).unwrap();
        assert!(early_high_logical < later_zero_logical);
        assert!(early_high_logical.to_be_bytes() < later_zero_logical.to_be_bytes());
        assert_eq!(later_zero_logical.physical_nanos(), 11 * 1024);
        assert_eq!(early_high_logical.logical(), Timestamp::LOGICAL_MAX);
        assert_eq!(
            early_high_logical.physical(),
            Timestamp::from_nanos(10 * 1024)
        );
    }

    #[test]
    fn out_of_range_logical_counters_are_refused_not_truncated() {
        assert_eq!(Timestamp::from_parts(0, Timestamp::LOGICAL_MAX + 1), None);
        // The physical part is rounded down to its tick, never up.
        assert_eq!(
            Timestamp::from_parts(2_047, 5),
            Timestamp::from_parts(1_024, 5)
        );
        assert_eq!(
            Timestamp::from_micros(u64::MAX).physical_nanos(),
            u64::MAX - 1_023
        );
    }

    #[test]
    fn the_range_reaches_the_year_2554_without_rollover() {
        // Rule: "no 2036-style rollover". 2^64 ns is about 584.5 years.
        let seconds = Timestamp::MAX.physical_nanos() / 1_000_000_000;
        let years = seconds as f64 / 31_556_952.0;
        assert!(years > 584.0 && years < 585.0, "{years}");
        // The NTP and 32-bit Unix rollover dates are deep inside the range,
        // and timestamps keep increasing across them.
        let ntp_wrap = Timestamp::from_nanos(2_085_978_496 * 1_000_000_000);
        let unix32_wrap = Timestamp::from_nanos((1u64 << 31) * 1_000_000_000);
        assert!(ntp_wrap < ntp_wrap.next().unwrap());
        assert!(unix32_wrap > ntp_wrap);
        assert!(unix32_wrap < Timestamp::MAX);
    }

    #[test]
    fn next_carries_the_full_logical_counter_and_stops_at_the_end() {
        let full = Timestamp::from_parts(7 * 1024, Timestamp::LOGICAL_MAX).unwrap();
        assert_eq!(full.next(), Timestamp::from_parts(8 * 1024, 0));
        assert_eq!(Timestamp::MAX.next(), None);
        assert_eq!(Timestamp::ZERO.prev(), None);
        assert_eq!(
            Timestamp::from_parts(8 * 1024, 0).unwrap().prev(),
            Some(full)
        );
    }

    #[test]
    fn duration_arithmetic_keeps_the_logical_counter_and_saturates() {
        let t = Timestamp::from_parts(1_024_000, 3).unwrap();
        let later = t.saturating_add(Duration::from_nanos(2_048));
        assert_eq!((later.physical_nanos(), later.logical()), (1_026_048, 3));
        assert_eq!(later.duration_since(t), Duration::from_nanos(2_048));
        assert_eq!(t.duration_since(later), Duration::ZERO);
        // Sub-tick amounts round down.
        assert_eq!(t.saturating_add(Duration::from_nanos(1_000)), t);
        assert_eq!(t.saturating_sub(Duration::from_secs(1)), Timestamp::ZERO);
        assert_eq!(
            Timestamp::MAX.saturating_add(Duration::from_secs(1)),
            Timestamp::MAX
        );
    }

    #[test]
    fn conversions_round_down_to_whole_ticks() {
        let wall = WallTime::from_unix_nanos(1_234_567);
        assert_eq!(
            Timestamp::from_wall(wall).physical_nanos(),
            1_234_567 & !1_023
        );
        assert_eq!(
            Timestamp::from_instant(Instant::from_nanos(1_999)).physical_nanos(),
            1_024
        );
        assert_eq!(
            Timestamp::from_micros(42).to_instant(),
            Instant::from_nanos(41_984)
        );
        assert_eq!(Timestamp::TICK, Duration::from_nanos(1_024));
    }

    #[test]
    fn node_timestamps_break_ties_by_node_and_are_permanent_evidence() {
        let t = Timestamp::from_nanos(9 * 1024);
        let a = NodeTimestamp::new(t, 1);
        let b = NodeTimestamp::new(t, 2);
        assert!(a < b);
        assert!(NodeTimestamp::new(t.next().unwrap(), 0) > b);
        assert_eq!(a.to_string(), "0.000009216+0@1");
        assert_eq!(a.state_at(Instant::MAX), EvidenceState::Active);
        assert!(a.proves(&EvidenceScope::Node(1), Instant::MAX));
        assert!(!a.proves(&EvidenceScope::Node(2), Instant::MAX));
    }
}

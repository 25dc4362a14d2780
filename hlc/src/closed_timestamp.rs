//! Closed timestamps: a leaseholder's promise that no write at or below a
//! timestamp will appear in a range, so followers can serve reads there.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant};

use crate::{HlcError, Timestamp};

/// Evidence that no write at or below [`closed`](Self::closed) will ever
/// appear in a range: a follower that has applied the log through
/// [`log_index`](Self::log_index) holds every write at or below it, so it
/// may serve reads there without asking the leaseholder.
///
/// It never expires — once closed, a timestamp stays closed — and a newer
/// one supersedes it ([`supersedes`](Self::supersedes)). It covers every
/// key in its range, so it is transitive over sub-ranges and objects inside.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClosedTimestamp {
    range: EvidenceScope,
    closed: Timestamp,
    log_index: u64,
    lease_epoch: u64,
    issued: Timestamp,
}

impl ClosedTimestamp {
    /// Evidence for `range` closed at `closed`, published with the log at
    /// `log_index` by the leaseholder of `lease_epoch` at `issued` (its
    /// clock).
    pub fn new(
        range: EvidenceScope,
        closed: Timestamp,
        log_index: u64,
        lease_epoch: u64,
        issued: Timestamp,
    ) -> Self {
        ClosedTimestamp {
            range,
            closed,
            log_index,
            lease_epoch,
            issued,
        }
    }

    /// The range it covers.
    pub fn range(&self) -> &EvidenceScope {
        &self.range
    }

    /// No write at or below this timestamp will appear.
    pub fn closed(&self) -> Timestamp {
        self.closed
    }

    /// The log index through which a follower must have applied for the
    /// promise to hold locally.
    pub fn log_index(&self) -> u64 {
        self.log_index
    }

    /// The lease epoch of the leaseholder that closed it.
    pub fn lease_epoch(&self) -> u64 {
        self.lease_epoch
    }

    /// The leaseholder's clock when it closed the timestamp.
    pub fn issued(&self) -> Timestamp {
        self.issued
    }

    /// Whether `self` carries at least as much as `other` for the same
    /// range: a later or equal epoch, closed timestamp and log index.
    pub fn supersedes(&self, other: &ClosedTimestamp) -> bool {
        self.range == other.range
            && self.lease_epoch >= other.lease_epoch
            && self.closed >= other.closed
            && self.log_index >= other.log_index
    }

    /// Whether a follower that has applied the log through `applied_index`
    /// may serve a read at `read` from its own state.
    ///
    /// # Errors
    ///
    /// [`HlcError::FollowerReadNotClosed`] if `read` is above the closed
    /// timestamp (a write below `read` may still appear);
    /// [`HlcError::FollowerBehind`] if the follower has not applied the log
    /// through [`log_index`](Self::log_index).
    pub fn check_follower_read(&self, read: Timestamp, applied_index: u64) -> Result<(), HlcError> {
        if read > self.closed {
            return Err(HlcError::FollowerReadNotClosed {
                read,
                closed: self.closed,
            });
        }
        if applied_index < self.log_index {
            return Err(HlcError::FollowerBehind {
                applied: applied_index,
                needed: self.log_index,
            });
        }
        Ok(())
    }
}

impl fmt::Display for ClosedTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} closed at {} (log index {}, lease epoch {})",
            self.range, self.closed, self.log_index, self.lease_epoch
        )
    }
}

impl Evidence for ClosedTimestamp {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::ClosedTimestamp
    }

    fn scope(&self) -> EvidenceScope {
        self.range.clone()
    }

    fn issued_at(&self) -> Option<Instant> {
        Some(self.issued.to_instant())
    }

    /// Closed stays closed.
    fn expires_at(&self) -> Option<Instant> {
        None
    }

    /// A leaseholder can only close what its clock has passed.
    fn validate(&self) -> Result<(), EvidenceError> {
        if self.closed > self.issued {
            return Err(EvidenceError::Inconsistent(format!(
                "closed timestamp {} is above its issue time {}",
                self.closed, self.issued
            )));
        }
        Ok(())
    }

    /// The promise holds for every key of the range, so it proves as much
    /// for any object or sub-range inside it.
    fn is_transitive(&self) -> bool {
        true
    }
}

/// A write the tracker holds open; hand it back to
/// [`ClosedTimestampTracker::finish_write`] once the write is applied or
/// abandoned.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an in-flight write holds the closed timestamp back until it is finished"]
pub struct InflightWrite {
    timestamp: Timestamp,
    pushed: bool,
}

impl InflightWrite {
    /// The timestamp the write must be proposed at: the requested one, or
    /// just above the closed timestamp if the requested one was already
    /// closed.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// Whether the write was pushed above its requested timestamp.
    pub fn was_pushed(&self) -> bool {
        self.pushed
    }
}

/// The leaseholder's side of closed timestamps for one range: it tracks
/// the writes in flight and closes timestamps at a target lag behind its
/// clock, never past a write still in flight and never backwards.
///
/// The rules it keeps (CockroachDB's closed-timestamp tracker is the model):
///
/// - a closed timestamp never decreases;
/// - no write is ever admitted at or below the closed timestamp — a write
///   requesting one is pushed just above it;
/// - the closed timestamp stays below every write still in flight, so a
///   write proposed but not yet applied is never "closed over".
///
/// The tracker is plain data (`&mut self`), for a single-threaded protocol
/// core such as a Raft node.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::EvidenceScope;
/// use tessera_hlc::{ClosedTimestampTracker, Timestamp};
///
/// let range = EvidenceScope::Range { start: b"a".to_vec(), end: Some(b"m".to_vec()) };
/// let lag = Duration::from_secs(3);
/// let mut tracker = ClosedTimestampTracker::new(range, lag);
/// let at = |seconds: u64| Timestamp::from_micros(seconds * 1_000_000);
///
/// let write = tracker.begin_write(at(9))?;
/// // At 10 s the target is 7 s: nothing in flight below it.
/// let evidence = tracker.close(at(10), 1);
/// assert_eq!(evidence.closed(), at(10).saturating_sub(lag));
/// // At 13 s the target is 10 s, but the write at 9 s is still in flight.
/// let evidence = tracker.close(at(13), 2);
/// assert!(evidence.closed() < write.timestamp());
/// tracker.finish_write(write)?;
/// let evidence = tracker.close(at(13), 3);
/// assert_eq!(evidence.closed(), at(13).saturating_sub(lag));
///
/// // A follower that applied through index 3 may read at 8 s, not at 11 s.
/// assert!(evidence.check_follower_read(at(8), 3).is_ok());
/// assert!(evidence.check_follower_read(at(11), 3).is_err());
/// # Ok::<(), tessera_hlc::HlcError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClosedTimestampTracker {
    range: EvidenceScope,
    target_lag: Duration,
    closed: Timestamp,
    lease_epoch: u64,
    /// In-flight write timestamps with their multiplicity.
    inflight: BTreeMap<Timestamp, usize>,
    inflight_count: usize,
    inflight_max: usize,
}

impl ClosedTimestampTracker {
    /// CockroachDB's default target lag, 3 s.
    pub const TARGET_LAG_DEFAULT: Duration = Duration::from_secs(3);
    /// The default limit on writes in flight at once.
    pub const INFLIGHT_MAX_DEFAULT: usize = 100_000;

    /// A tracker for `range` closing timestamps `target_lag` behind the
    /// clock, with nothing closed yet and lease epoch zero.
    pub fn new(range: EvidenceScope, target_lag: Duration) -> Self {
        ClosedTimestampTracker {
            range,
            target_lag,
            closed: Timestamp::ZERO,
            lease_epoch: 0,
            inflight: BTreeMap::new(),
            inflight_count: 0,
            inflight_max: Self::INFLIGHT_MAX_DEFAULT,
        }
    }

    /// Limits the writes in flight at once to `inflight_max`.
    pub fn with_inflight_max(mut self, inflight_max: usize) -> Self {
        self.inflight_max = inflight_max;
        self
    }

    /// A tracker for a new leaseholder: closing continues from the closed
    /// timestamp the previous one published (a new lease must never close
    /// less than the old one did), under the new lease's epoch.
    pub fn for_new_lease(
        previous: &ClosedTimestamp,
        lease_epoch: u64,
        target_lag: Duration,
    ) -> Self {
        let mut tracker = Self::new(previous.range.clone(), target_lag);
        tracker.closed = previous.closed;
        tracker.lease_epoch = lease_epoch.max(previous.lease_epoch);
        tracker
    }

    /// The range tracked.
    pub fn range(&self) -> &EvidenceScope {
        &self.range
    }

    /// The current closed timestamp.
    pub fn closed(&self) -> Timestamp {
        self.closed
    }

    /// The lowest timestamp a new write may take.
    pub fn min_write_timestamp(&self) -> Timestamp {
        self.closed.next().unwrap_or(Timestamp::MAX)
    }

    /// How many writes are in flight.
    pub fn inflight_count(&self) -> usize {
        self.inflight_count
    }

    /// Registers a write about to be proposed at `requested`. If that is
    /// already closed the write is pushed to
    /// [`min_write_timestamp`](Self::min_write_timestamp); the returned
    /// handle says at which timestamp to propose it.
    ///
    /// # Errors
    ///
    /// [`HlcError::TooManyInflightWrites`] at the in-flight limit.
    pub fn begin_write(&mut self, requested: Timestamp) -> Result<InflightWrite, HlcError> {
        if self.inflight_count >= self.inflight_max {
            return Err(HlcError::TooManyInflightWrites {
                inflight_max: self.inflight_max,
            });
        }
        let minimum = self.min_write_timestamp();
        let timestamp = requested.max(minimum);
        *self.inflight.entry(timestamp).or_insert(0) += 1;
        self.inflight_count += 1;
        Ok(InflightWrite {
            timestamp,
            pushed: timestamp != requested,
        })
    }

    /// Releases a write once it is applied (or abandoned).
    ///
    /// # Errors
    ///
    /// [`HlcError::UnknownWrite`] if this tracker holds no write at that
    /// timestamp (the handle came from another tracker).
    pub fn finish_write(&mut self, write: InflightWrite) -> Result<(), HlcError> {
        let timestamp = write.timestamp;
        match self.inflight.get_mut(&timestamp) {
            Some(count) if *count > 1 => *count -= 1,
            Some(_) => {
                self.inflight.remove(&timestamp);
            }
            None => return Err(HlcError::UnknownWrite { timestamp }),
        }
        self.inflight_count -= 1;
        Ok(())
    }

    /// Closes what can be closed at `now` (the leaseholder's clock) and
    /// returns the evidence to publish with the log at `log_index`.
    ///
    /// The target is `now − target_lag`, held just below the oldest write
    /// in flight, and never below the previous closed timestamp.
    pub fn close(&mut self, now: Timestamp, log_index: u64) -> ClosedTimestamp {
        let mut target = now.physical().saturating_sub(self.target_lag);
        if let Some((&oldest, _)) = self.inflight.first_key_value() {
            target = target.min(oldest.prev().unwrap_or(Timestamp::ZERO));
        }
        self.closed = self.closed.max(target);
        ClosedTimestamp {
            range: self.range.clone(),
            closed: self.closed,
            log_index,
            lease_epoch: self.lease_epoch,
            issued: now.max(self.closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::EvidenceState;

    fn range() -> EvidenceScope {
        EvidenceScope::Range {
            start: b"a".to_vec(),
            end: Some(b"z".to_vec()),
        }
    }

    fn secs(s: u64) -> Timestamp {
        Timestamp::from_micros(s * 1_000_000)
    }

    #[test]
    fn closes_at_the_target_lag_and_never_backwards() {
        // Rule: a closed timestamp never decreases, even if the clock
        // passed to `close` does.
        let mut tracker = ClosedTimestampTracker::new(range(), Duration::from_secs(3));
        assert_eq!(tracker.close(secs(10), 1).closed(), secs(7));
        assert_eq!(tracker.close(secs(9), 2).closed(), secs(7));
        assert_eq!(tracker.close(secs(12), 3).closed(), secs(9));
    }

    #[test]
    fn never_closes_over_a_write_in_flight() {
        // Rule: the closed timestamp stays below every in-flight write.
        let mut tracker = ClosedTimestampTracker::new(range(), Duration::from_secs(1));
        let write = tracker.begin_write(secs(5)).unwrap();
        let second = tracker.begin_write(secs(5)).unwrap();
        let evidence = tracker.close(secs(100), 1);
        assert_eq!(evidence.closed(), secs(5).prev().unwrap());
        tracker.finish_write(write).unwrap();
        // One write at the same timestamp is still in flight.
        assert_eq!(
            tracker.close(secs(100), 2).closed(),
            secs(5).prev().unwrap()
        );
        tracker.finish_write(second).unwrap();
        assert_eq!(tracker.close(secs(100), 3).closed(), secs(99));
        assert_eq!(tracker.inflight_count(), 0);
    }

    #[test]
    fn writes_at_or_below_the_closed_timestamp_are_pushed_above_it() {
        // Rule: no write is admitted at or below the closed timestamp.
        let mut tracker = ClosedTimestampTracker::new(range(), Duration::from_secs(1));
        tracker.close(secs(10), 1);
        let late = tracker.begin_write(secs(9)).unwrap();
        assert!(late.was_pushed());
        assert!(late.timestamp() > tracker.closed());
        assert_eq!(late.timestamp(), secs(9).next().unwrap());
        let at_closed = tracker.begin_write(tracker.closed()).unwrap();
        assert!(at_closed.timestamp() > tracker.closed());
        let fresh = tracker.begin_write(secs(11)).unwrap();
        assert!(!fresh.was_pushed());
        for write in [late, at_closed, fresh] {
            tracker.finish_write(write).unwrap();
        }
    }

    #[test]
    fn in_flight_writes_are_bounded_and_foreign_handles_refused() {
        let mut tracker =
            ClosedTimestampTracker::new(range(), Duration::from_secs(1)).with_inflight_max(1);
        let held = tracker.begin_write(secs(1)).unwrap();
        assert_eq!(
            tracker.begin_write(secs(2)),
            Err(HlcError::TooManyInflightWrites { inflight_max: 1 })
        );
        let mut other = ClosedTimestampTracker::new(range(), Duration::from_secs(1));
        let foreign = other.begin_write(secs(7)).unwrap();
        assert_eq!(
            tracker.finish_write(foreign),
            Err(HlcError::UnknownWrite { timestamp: secs(7) })
        );
        tracker.finish_write(held).unwrap();
    }

    #[test]
    fn followers_read_only_at_or_below_the_closed_timestamp_once_caught_up() {
        // Rule: a follower may serve a read at ts only if ts ≤ its closed
        // timestamp (and it has applied the log the promise was sent with).
        let mut tracker = ClosedTimestampTracker::new(range(), Duration::from_secs(2));
        let evidence = tracker.close(secs(10), 42);
        assert_eq!(evidence.check_follower_read(secs(8), 42), Ok(()));
        assert_eq!(
            evidence.check_follower_read(secs(8).next().unwrap(), 42),
            Err(HlcError::FollowerReadNotClosed {
                read: secs(8).next().unwrap(),
                closed: secs(8)
            })
        );
        assert_eq!(
            evidence.check_follower_read(secs(1), 41),
            Err(HlcError::FollowerBehind {
                applied: 41,
                needed: 42
            })
        );
    }

    #[test]
    fn evidence_is_permanent_transitive_and_superseded_by_newer() {
        let mut tracker = ClosedTimestampTracker::new(range(), Duration::from_secs(1));
        let first = tracker.close(secs(5), 1);
        let second = tracker.close(secs(6), 2);
        assert!(second.supersedes(&first));
        assert!(!first.supersedes(&second));
        assert_eq!(first.state_at(Instant::MAX), EvidenceState::Active);
        assert!(second.proves(&EvidenceScope::Object(b"k".to_vec()), Instant::MAX));
        assert!(!second.proves(&EvidenceScope::Object(b"zz".to_vec()), Instant::MAX));
        let forged = ClosedTimestamp::new(range(), secs(9), 1, 0, secs(8));
        assert_eq!(forged.state_at(Instant::MAX), EvidenceState::Generated);
    }

    #[test]
    fn a_new_lease_continues_from_the_previous_closed_timestamp() {
        let mut old = ClosedTimestampTracker::new(range(), Duration::from_secs(1));
        let published = old.close(secs(20), 7);
        let mut new = ClosedTimestampTracker::for_new_lease(&published, 2, Duration::from_secs(1));
        // The new leaseholder's clock is behind: it still never closes less.
        let next = new.close(secs(15), 8);
        assert_eq!(next.closed(), published.closed());
        assert_eq!(next.lease_epoch(), 2);
        assert!(next.supersedes(&published));
        let write = new.begin_write(secs(3)).unwrap();
        assert!(write.timestamp() > published.closed());
        new.finish_write(write).unwrap();
    }
}

//! Leases: exclusivity until a time, robust to bounded clock offset.

use std::fmt;
use std::time::Duration;

use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant, NodeId};

use crate::HlcError;

/// A lease: `holder` alone may act for `scope` (serve reads locally, lead a
/// Raft group or a Paxos instance) from `start` until `expiry`, under lease
/// `epoch`.
///
/// Times are [`Instant`]s, the time a sans-IO protocol core is handed by its
/// driver, so Raft and Paxos nodes use `Lease` directly for leader leases.
/// Clocks disagree by up to the maximum offset, so the two sides read the
/// same lease differently, and both err on the safe side:
///
/// ```text
///        start          expiry − offset   expiry   expiry + offset
///   ───────┼────────────────────┼────────────┼───────────┼─────────▶
///          [ holder may act     )                        │
///          [ others treat it as held ────────────────────)
/// ```
///
/// - the **holder** acts only until `expiry − max_offset`
///   ([`is_valid_for_holder`](Self::is_valid_for_holder));
/// - **others** treat it as held until `expiry + max_offset`
///   ([`may_be_held`](Self::may_be_held)), and a successor for another node
///   may start only then ([`successor`](Self::successor)).
///
/// Even if the holder's clock runs `max_offset` behind and another node's
/// `max_offset` ahead, their windows never overlap.
///
/// The lifecycle: granted (validated) → active from `start` → renewed by the
/// holder while valid ([`renew`](Self::renew)), or expired, or revoked —
/// by the holder handing it over ([`transfer`](Self::transfer)) or by a
/// higher epoch ([`observe_epoch`](Self::observe_epoch)). As [`Evidence`] it
/// takes the holder's conservative view: active in `[start, expiry −
/// max_offset)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::{Evidence, EvidenceState, Instant};
/// use tessera_hlc::Lease;
///
/// let offset = Duration::from_millis(100);
/// let lease = Lease::new(1, 5, Instant::from_secs(10), Duration::from_secs(2), offset)?;
/// assert!(lease.is_valid_for_holder(Instant::from_millis(11_899)));
/// assert!(!lease.is_valid_for_holder(Instant::from_millis(11_900)));
/// assert!(lease.may_be_held(Instant::from_millis(12_099)));
/// assert!(!lease.may_be_held(Instant::from_millis(12_100)));
/// assert_eq!(lease.state_at(Instant::from_millis(11_950)), EvidenceState::Expired);
///
/// // Another node may take over only after expiry + max offset.
/// assert!(lease.successor(2, Instant::from_millis(12_000), Duration::from_secs(2)).is_err());
/// let next = lease.successor(2, Instant::from_millis(12_100), Duration::from_secs(2))?;
/// assert_eq!(next.epoch(), 6);
/// # Ok::<(), tessera_hlc::HlcError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Lease {
    scope: EvidenceScope,
    holder: NodeId,
    epoch: u64,
    start: Instant,
    expiry: Instant,
    max_offset: Duration,
    revoked: bool,
}

impl Lease {
    /// A lease for the whole system (a leader lease) held by `holder` under
    /// `epoch`, from `start` for `duration`, on a cluster whose clocks are at
    /// most `max_offset` apart.
    ///
    /// # Errors
    ///
    /// [`HlcError::LeaseTooShort`] if `duration` is not longer than
    /// `max_offset`: the holder could never use it.
    pub fn new(
        holder: NodeId,
        epoch: u64,
        start: Instant,
        duration: Duration,
        max_offset: Duration,
    ) -> Result<Self, HlcError> {
        let expiry = start.saturating_add(duration);
        if expiry.duration_since(start) <= max_offset {
            return Err(HlcError::LeaseTooShort {
                start,
                expiry,
                max_offset,
            });
        }
        Ok(Lease {
            scope: EvidenceScope::Global,
            holder,
            epoch,
            start,
            expiry,
            max_offset,
            revoked: false,
        })
    }

    /// The same lease over `scope` (a range lease) instead of the whole
    /// system.
    pub fn for_scope(mut self, scope: EvidenceScope) -> Self {
        self.scope = scope;
        self
    }

    /// Who holds it.
    pub fn holder(&self) -> NodeId {
        self.holder
    }

    /// Its epoch; a higher epoch revokes it.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// When it starts.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Its nominal expiry.
    pub fn expiry(&self) -> Instant {
        self.expiry
    }

    /// The maximum clock offset it allows for.
    pub fn max_offset(&self) -> Duration {
        self.max_offset
    }

    /// Whether it has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked
    }

    /// The last instant (exclusive) the holder may act on it:
    /// `expiry − max_offset`.
    pub fn holder_valid_until(&self) -> Instant {
        self.expiry.saturating_sub(self.max_offset)
    }

    /// Until when (exclusive) other nodes must assume it is held:
    /// `expiry + max_offset`.
    pub fn held_until(&self) -> Instant {
        self.expiry.saturating_add(self.max_offset)
    }

    /// Whether the holder, reading `now` on its own clock, may act on the
    /// lease: not revoked, and `start ≤ now < expiry − max_offset`.
    pub fn is_valid_for_holder(&self, now: Instant) -> bool {
        !self.revoked && self.start <= now && now < self.holder_valid_until()
    }

    /// Whether another node, reading `now` on its own clock, must assume the
    /// lease may still be held: `now < expiry + max_offset`, unless the
    /// holder has handed it over.
    pub fn may_be_held(&self, now: Instant) -> bool {
        !self.revoked && now < self.held_until()
    }

    /// The holder extends the lease to `now + duration`, same epoch. The
    /// expiry never moves back.
    ///
    /// # Errors
    ///
    /// [`HlcError::LeaseNotValid`] if the lease is not valid for the holder
    /// at `now` — an expired lease is not renewed but replaced under a new
    /// epoch ([`successor`](Self::successor)).
    pub fn renew(&self, now: Instant, duration: Duration) -> Result<Lease, HlcError> {
        if !self.is_valid_for_holder(now) {
            return Err(self.not_valid(now));
        }
        let mut renewed = self.clone();
        renewed.expiry = self.expiry.max(now.saturating_add(duration));
        Ok(renewed)
    }

    /// A lease under the next epoch for `holder`, from `start` for
    /// `duration`. Unless this lease was handed over, `start` must be at or
    /// after [`held_until`](Self::held_until): before that, the old holder
    /// may still be acting on it.
    ///
    /// # Errors
    ///
    /// [`HlcError::LeaseStillHeld`] if `start` is too early;
    /// [`HlcError::LeaseEpochExhausted`] at epoch `u64::MAX`;
    /// [`HlcError::LeaseTooShort`] as for [`new`](Self::new).
    pub fn successor(
        &self,
        holder: NodeId,
        start: Instant,
        duration: Duration,
    ) -> Result<Lease, HlcError> {
        if !self.revoked && start < self.held_until() {
            return Err(HlcError::LeaseStillHeld {
                holder: self.holder,
                until: self.held_until(),
                start,
            });
        }
        let epoch = self.next_epoch()?;
        Ok(Lease::new(holder, epoch, start, duration, self.max_offset)?
            .for_scope(self.scope.clone()))
    }

    /// The holder hands the lease to `to` at `now`: this lease is revoked
    /// (the holder stops acting on it first) and the successor, under the
    /// next epoch, starts at once.
    ///
    /// # Errors
    ///
    /// [`HlcError::LeaseNotValid`] unless the lease is valid for the holder
    /// at `now`; otherwise as [`successor`](Self::successor).
    pub fn transfer(
        &mut self,
        to: NodeId,
        now: Instant,
        duration: Duration,
    ) -> Result<Lease, HlcError> {
        if !self.is_valid_for_holder(now) {
            return Err(self.not_valid(now));
        }
        let epoch = self.next_epoch()?;
        let next =
            Lease::new(to, epoch, now, duration, self.max_offset)?.for_scope(self.scope.clone());
        self.revoked = true;
        Ok(next)
    }

    /// Learns the current epoch (from the lease record, a liveness record,
    /// a Raft term): a higher epoch than the lease's revokes it.
    pub fn observe_epoch(&mut self, current_epoch: u64) {
        if current_epoch > self.epoch {
            self.revoked = true;
        }
    }

    /// Revokes the lease by moving to the next epoch, and returns that
    /// epoch: the holder gives the lease up, or a lease record is bumped.
    ///
    /// # Errors
    ///
    /// [`HlcError::LeaseEpochExhausted`] at epoch `u64::MAX`.
    pub fn revoke(&mut self) -> Result<u64, HlcError> {
        let next = self.next_epoch()?;
        self.revoked = true;
        Ok(next)
    }

    fn next_epoch(&self) -> Result<u64, HlcError> {
        self.epoch
            .checked_add(1)
            .ok_or(HlcError::LeaseEpochExhausted { epoch: self.epoch })
    }

    fn not_valid(&self, now: Instant) -> HlcError {
        HlcError::LeaseNotValid {
            holder: self.holder,
            epoch: self.epoch,
            now,
        }
    }
}

impl fmt::Display for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lease of node {} over {:?}, epoch {}, [{}, {})",
            self.holder, self.scope, self.epoch, self.start, self.expiry
        )?;
        if self.revoked {
            write!(f, ", revoked")?;
        }
        Ok(())
    }
}

impl Evidence for Lease {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Lease
    }

    fn scope(&self) -> EvidenceScope {
        self.scope.clone()
    }

    fn issued_at(&self) -> Option<Instant> {
        Some(self.start)
    }

    /// The holder's conservative expiry, `expiry − max_offset`: the lease
    /// proves exclusivity only while even a lagging holder clock is safe.
    fn expires_at(&self) -> Option<Instant> {
        Some(self.holder_valid_until())
    }

    fn validate(&self) -> Result<(), EvidenceError> {
        if self.start >= self.holder_valid_until() {
            return Err(EvidenceError::EmptyPeriod {
                start: self.start,
                expiry: self.holder_valid_until(),
            });
        }
        Ok(())
    }

    fn is_revoked(&self) -> bool {
        self.revoked
    }

    /// A range lease covers every key of its range.
    fn is_transitive(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::EvidenceState;

    const OFFSET: Duration = Duration::from_millis(100);

    fn lease() -> Lease {
        Lease::new(1, 3, Instant::from_secs(10), Duration::from_secs(2), OFFSET).unwrap()
    }

    #[test]
    fn holder_and_others_see_windows_that_never_overlap() {
        // Rule: the holder treats it as valid only until expiry − max
        // offset; others treat it as held until expiry + max offset.
        let lease = lease();
        assert_eq!(lease.holder_valid_until(), Instant::from_millis(11_900));
        assert_eq!(lease.held_until(), Instant::from_millis(12_100));
        // The holder's clock runs `OFFSET` behind true time, another node's
        // `OFFSET` ahead: at every true instant, if the holder may act then
        // the other node still sees the lease as held.
        for true_ms in 9_000..13_000 {
            let holder_now = Instant::from_millis(true_ms) - OFFSET;
            let other_now = Instant::from_millis(true_ms) + OFFSET;
            if lease.is_valid_for_holder(holder_now) {
                assert!(lease.may_be_held(other_now), "overlap at {true_ms} ms");
            }
        }
        assert!(!lease.is_valid_for_holder(Instant::from_millis(9_999)));
    }

    #[test]
    fn leases_no_longer_than_the_offset_are_refused() {
        assert!(matches!(
            Lease::new(1, 0, Instant::ZERO, OFFSET, OFFSET),
            Err(HlcError::LeaseTooShort { .. })
        ));
        assert!(Lease::new(1, 0, Instant::ZERO, OFFSET * 2, OFFSET).is_ok());
    }

    #[test]
    fn renewal_extends_the_same_epoch_only_while_valid() {
        let lease = lease();
        let renewed = lease
            .renew(Instant::from_secs(11), Duration::from_secs(2))
            .unwrap();
        assert_eq!(
            (renewed.epoch(), renewed.expiry()),
            (3, Instant::from_secs(13))
        );
        // A renewal never shortens the lease.
        let short = lease
            .renew(Instant::from_secs(10), Duration::from_millis(500))
            .unwrap();
        assert_eq!(short.expiry(), lease.expiry());
        assert_eq!(
            lease.renew(Instant::from_millis(11_900), Duration::from_secs(2)),
            Err(HlcError::LeaseNotValid {
                holder: 1,
                epoch: 3,
                now: Instant::from_millis(11_900)
            })
        );
    }

    #[test]
    fn a_higher_epoch_revokes_and_a_revoked_lease_proves_nothing() {
        // Rule: revocation by epoch increment.
        let mut lease = lease();
        lease.observe_epoch(3);
        assert!(lease.is_valid_for_holder(Instant::from_secs(11)));
        lease.observe_epoch(4);
        assert!(!lease.is_valid_for_holder(Instant::from_secs(11)));
        assert_eq!(
            lease.state_at(Instant::from_secs(11)),
            EvidenceState::Revoked
        );
        assert!(!lease.proves(&EvidenceScope::Global, Instant::from_secs(11)));

        let mut given_up = self::lease();
        assert_eq!(given_up.revoke(), Ok(4));
        assert!(given_up.is_revoked());
        // Once the holder has given it up, a successor may start at once.
        let next = given_up
            .successor(2, Instant::from_secs(11), Duration::from_secs(2))
            .unwrap();
        assert_eq!((next.holder(), next.epoch()), (2, 4));
    }

    #[test]
    fn successors_wait_for_expiry_plus_offset_unless_transferred() {
        let mut lease = lease();
        assert_eq!(
            lease.successor(2, Instant::from_millis(12_099), Duration::from_secs(2)),
            Err(HlcError::LeaseStillHeld {
                holder: 1,
                until: Instant::from_millis(12_100),
                start: Instant::from_millis(12_099)
            })
        );
        // A transfer revokes the old lease and starts the new one now.
        let moved = lease
            .transfer(2, Instant::from_secs(11), Duration::from_secs(2))
            .unwrap();
        assert!(lease.is_revoked());
        assert!(!lease.may_be_held(Instant::from_secs(11)));
        assert!(moved.is_valid_for_holder(Instant::from_secs(11)));
        assert_eq!(moved.epoch(), 4);
        // Only a valid lease can be transferred.
        assert!(
            lease
                .transfer(3, Instant::from_secs(11), Duration::from_secs(2))
                .is_err()
        );
    }

    #[test]
    fn evidence_follows_the_holders_conservative_view() {
        let lease = lease().for_scope(EvidenceScope::Range {
            start: b"a".to_vec(),
            end: Some(b"c".to_vec()),
        });
        assert_eq!(
            lease.state_at(Instant::from_secs(9)),
            EvidenceState::Validated
        );
        assert_eq!(
            lease.state_at(Instant::from_secs(10)),
            EvidenceState::Active
        );
        assert_eq!(
            lease.state_at(Instant::from_millis(11_900)),
            EvidenceState::Expired
        );
        assert!(lease.proves(
            &EvidenceScope::Object(b"b".to_vec()),
            Instant::from_secs(11)
        ));
        assert!(!lease.proves(
            &EvidenceScope::Object(b"c".to_vec()),
            Instant::from_secs(11)
        ));
    }

    #[test]
    fn epochs_do_not_wrap() {
        let mut last =
            Lease::new(1, u64::MAX, Instant::ZERO, Duration::from_secs(1), OFFSET).unwrap();
        assert_eq!(
            last.revoke(),
            Err(HlcError::LeaseEpochExhausted { epoch: u64::MAX })
        );
        assert!(!last.is_revoked());
    }
}

//! The clock's modes as data, and the monitor that moves between them.

use std::time::Duration;

use tessera_core::{
    EvidenceKind, GuaranteeVector, Instant, InvalidParameter, Mode, ModeLevel, ModeSpec,
    ModeTracker, ModeTransition, Order, Recency, Scope,
};

use crate::{
    BOUNDED_DIVERGENCE, CAUSALITY, ClockJump, ClosedTimestampTracker, MONOTONICITY, ORDER,
};

/// The operating regime of a node's clocks, after the seed's mode matrix
/// for time. [`ClockMonitor`] decides the mode from what the node observes.
///
/// | mode | level | what holds |
/// |---|---|---|
/// | [`Synchronized`](Self::Synchronized) | Target | bounded skew, fresh sync: HLC + closed timestamps + leases |
/// | [`LooselySynchronized`](Self::LooselySynchronized) | Degraded | uncertainty past its target, stale sync or expired leases |
/// | [`Resynchronizing`](Self::Resynchronizing) | Recovery | after a clock jump: resync, then a new epoch |
/// | [`LogicalOnly`](Self::LogicalOnly) | Floor | causality only: logical clocks |
///
/// The full matrix — invariants, operations, guarantees, evidence,
/// triggers, contract, metrics — is [`ClockMode::spec`], printed in
/// docs/time.md by [`render_mode_matrix`](tessera_core::render_mode_matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ClockMode {
    /// Target: the clock is synchronized within its error target.
    Synchronized,
    /// Degraded: still within the maximum offset, but less certain.
    LooselySynchronized,
    /// Recovery: physical time is not trusted until it is resynchronized.
    Resynchronizing,
    /// Floor: physical time is not used at all.
    LogicalOnly,
}

/// Operation names used in the matrix.
pub mod operation {
    /// Issue a timestamp.
    pub const NOW: &str = "now";
    /// Observe a remote timestamp.
    pub const UPDATE: &str = "update";
    /// Read an uncertainty interval.
    pub const NOW_INTERVAL: &str = "now_interval";
    /// Wait out the uncertainty before acknowledging a commit.
    pub const COMMIT_WAIT: &str = "commit_wait";
    /// Serve a read locally under a lease.
    pub const LEASE_READ: &str = "lease_read";
    /// Acquire or renew a lease.
    pub const ACQUIRE_LEASE: &str = "acquire_lease";
    /// Close timestamps as a leaseholder.
    pub const CLOSE_TIMESTAMPS: &str = "close_timestamps";
    /// Serve a read at or below a closed timestamp on a follower.
    pub const FOLLOWER_READ: &str = "follower_read";
}

use operation::*;

const SPECS: [ModeSpec; 4] = [
    ModeSpec {
        name: "synchronized",
        level: ModeLevel::Target,
        preserved_invariants: &[ORDER, MONOTONICITY, CAUSALITY, BOUNDED_DIVERGENCE],
        allowed_operations: &[
            NOW,
            UPDATE,
            NOW_INTERVAL,
            COMMIT_WAIT,
            LEASE_READ,
            ACQUIRE_LEASE,
            CLOSE_TIMESTAMPS,
            FOLLOWER_READ,
        ],
        guarantees: GuaranteeVector {
            scope: Scope::Global,
            order: Order::Total,
            recency: Recency::Current,
            ..GuaranteeVector::TOP
        },
        accepted_evidence: &[
            EvidenceKind::Timestamp,
            EvidenceKind::UncertaintyInterval,
            EvidenceKind::ClosedTimestamp,
            EvidenceKind::Lease,
        ],
        entry_triggers: &["clock sync fresh and error bound within its target"],
        exit_triggers: &[
            "error bound above its target",
            "clock sync stale",
            "lease expired",
            "clock jump detected",
            "physical time disabled",
        ],
        contract: "timestamps follow real time within the error bound: commit wait gives external consistency, leases give local linearizable reads, followers serve reads at closed timestamps",
        metrics: &["error_bound", "sync_age", "hlc_lead", "commit_wait_time"],
    },
    ModeSpec {
        name: "loosely synchronized",
        level: ModeLevel::Degraded,
        preserved_invariants: &[ORDER, MONOTONICITY, CAUSALITY, BOUNDED_DIVERGENCE],
        allowed_operations: &[
            NOW,
            UPDATE,
            NOW_INTERVAL,
            COMMIT_WAIT,
            ACQUIRE_LEASE,
            CLOSE_TIMESTAMPS,
            FOLLOWER_READ,
        ],
        guarantees: GuaranteeVector {
            scope: Scope::Global,
            order: Order::Total,
            recency: Recency::BoundedStaleness(ClosedTimestampTracker::TARGET_LAG_DEFAULT),
            ..GuaranteeVector::TOP
        },
        accepted_evidence: &[
            EvidenceKind::Timestamp,
            EvidenceKind::UncertaintyInterval,
            EvidenceKind::ClosedTimestamp,
        ],
        entry_triggers: &[
            "error bound above its target",
            "clock sync stale",
            "lease expired",
        ],
        exit_triggers: &[
            "clock sync fresh and error bound within its target",
            "lease acquired",
            "error bound above half the maximum offset",
            "clock jump detected",
            "physical time disabled",
        ],
        contract: "no local lease reads; commit waits and uncertainty restarts grow with the error bound; local reads are follower reads, stale by the closed-timestamp lag (3 s by default)",
        metrics: &[
            "error_bound",
            "sync_age",
            "uncertainty_restarts",
            "commit_wait_time",
        ],
    },
    ModeSpec {
        name: "resynchronizing",
        level: ModeLevel::Recovery,
        preserved_invariants: &[ORDER, MONOTONICITY, CAUSALITY],
        allowed_operations: &[NOW, UPDATE, ACQUIRE_LEASE],
        guarantees: GuaranteeVector {
            scope: Scope::Global,
            order: Order::Total,
            recency: Recency::Eventual,
            ..GuaranteeVector::TOP
        },
        accepted_evidence: &[EvidenceKind::Timestamp],
        entry_triggers: &[
            "clock jump detected",
            "error bound above half the maximum offset",
            "no clock sync yet",
        ],
        exit_triggers: &[
            "clock sync after the jump, under a new clock epoch",
            "error bound back within half the maximum offset",
        ],
        contract: "timestamps stay ordered and causal but may run ahead of real time; no commit wait, lease reads, closing or follower reads until the clock is resynchronized and leases are reacquired under the new epoch",
        metrics: &["clock_epoch", "last_jump", "hlc_lead"],
    },
    ModeSpec {
        name: "logical only",
        level: ModeLevel::Floor,
        preserved_invariants: &[ORDER, MONOTONICITY, CAUSALITY],
        allowed_operations: &[NOW, UPDATE],
        guarantees: GuaranteeVector {
            scope: Scope::Global,
            order: Order::Causal,
            recency: Recency::Eventual,
            ..GuaranteeVector::TOP
        },
        accepted_evidence: &[EvidenceKind::Timestamp],
        entry_triggers: &["physical time disabled"],
        exit_triggers: &["physical time enabled"],
        contract: "timestamps order causally related events and nothing more: no real-time order, no intervals, leases or closed timestamps",
        metrics: &["mode"],
    },
];

impl Mode for ClockMode {
    fn all() -> &'static [Self] {
        &[
            ClockMode::Synchronized,
            ClockMode::LooselySynchronized,
            ClockMode::Resynchronizing,
            ClockMode::LogicalOnly,
        ]
    }

    fn spec(&self) -> &'static ModeSpec {
        match self {
            ClockMode::Synchronized => &SPECS[0],
            ClockMode::LooselySynchronized => &SPECS[1],
            ClockMode::Resynchronizing => &SPECS[2],
            ClockMode::LogicalOnly => &SPECS[3],
        }
    }
}

/// When a [`ClockMonitor`] considers the clock healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockPolicy {
    /// An error bound above this degrades the clock.
    pub error_bound_target: Duration,
    /// A clock sync older than this degrades the clock.
    pub sync_stale_after: Duration,
    /// The cluster's maximum offset: an error bound above half of it sends
    /// the clock to Recovery (two such clocks may be more than the maximum
    /// offset apart).
    pub max_offset: Duration,
}

impl ClockPolicy {
    /// A policy for `max_offset`: an error target of a tenth of it, and a
    /// sync that goes stale after 10 s.
    pub fn new(max_offset: Duration) -> Self {
        ClockPolicy {
            error_bound_target: max_offset / 10,
            sync_stale_after: Duration::from_secs(10),
            max_offset,
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    ///
    /// [`InvalidParameter`] if the error target is not below half the
    /// maximum offset, or the staleness limit is zero.
    pub fn validate(&self) -> Result<(), InvalidParameter> {
        if self.error_bound_target.is_zero() || self.error_bound_target > self.max_offset / 2 {
            return Err(InvalidParameter::new(
                "error_bound_target",
                format!(
                    "must be within (0, max_offset / 2 = {:?}], got {:?}",
                    self.max_offset / 2,
                    self.error_bound_target
                ),
            ));
        }
        if self.sync_stale_after.is_zero() {
            return Err(InvalidParameter::new(
                "sync_stale_after",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// The lease a node holds, as the clock monitor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// The node does not use leases: they do not affect the mode.
    NotUsed,
    /// A lease is held and valid for the holder.
    Valid,
    /// The node's lease expired or was revoked.
    Expired,
}

/// Decides a node's [`ClockMode`] from what it observes — clock syncs and
/// their error bounds, clock jumps, its lease — and records every
/// transition with its trigger.
///
/// It starts in Recovery (nothing synchronized yet). Every clock jump
/// starts a new **clock epoch**: evidence issued under an earlier epoch —
/// leases above all — must not be trusted, and the monitor leaves Recovery
/// only after a clock sync recorded after the jump.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::{Instant, Mode};
/// use tessera_hlc::{ClockJump, ClockMode, ClockMonitor, ClockPolicy};
///
/// let policy = ClockPolicy::new(Duration::from_millis(500));
/// let mut monitor = ClockMonitor::new(policy, Instant::ZERO)?;
/// assert_eq!(monitor.mode(), ClockMode::Resynchronizing);
///
/// monitor.record_sync(Instant::from_secs(1), Duration::from_millis(5));
/// assert_eq!(monitor.mode(), ClockMode::Synchronized);
///
/// let jump = ClockJump::Forward(Duration::from_secs(30));
/// monitor.record_jump(Instant::from_secs(2), jump);
/// assert_eq!(monitor.mode(), ClockMode::Resynchronizing);
/// assert!(!monitor.mode().allows("lease_read"));
/// assert_eq!(monitor.epoch(), 1);
/// # Ok::<(), tessera_core::InvalidParameter>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClockMonitor {
    policy: ClockPolicy,
    tracker: ModeTracker<ClockMode>,
    last_sync: Option<Instant>,
    error_bound: Option<Duration>,
    epoch: u64,
    last_jump: Option<(Instant, ClockJump)>,
    lease: LeaseStatus,
    logical_only: bool,
}

impl ClockMonitor {
    /// A monitor applying `policy`, in Recovery at `now`.
    ///
    /// # Errors
    ///
    /// [`InvalidParameter`] if the policy is invalid.
    pub fn new(policy: ClockPolicy, now: Instant) -> Result<Self, InvalidParameter> {
        policy.validate()?;
        Ok(ClockMonitor {
            policy,
            tracker: ModeTracker::new(ClockMode::Resynchronizing, now),
            last_sync: None,
            error_bound: None,
            epoch: 0,
            last_jump: None,
            lease: LeaseStatus::NotUsed,
            logical_only: false,
        })
    }

    /// The current mode.
    pub fn mode(&self) -> ClockMode {
        self.tracker.current()
    }

    /// The mode history, with triggers.
    pub fn tracker(&self) -> &ModeTracker<ClockMode> {
        &self.tracker
    }

    /// The clock epoch: incremented by every clock jump.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The last jump recorded, and when.
    pub fn last_jump(&self) -> Option<(Instant, ClockJump)> {
        self.last_jump
    }

    /// A clock sync completed at `now` with the measured `error_bound`.
    pub fn record_sync(
        &mut self,
        now: Instant,
        error_bound: Duration,
    ) -> Option<ModeTransition<ClockMode>> {
        self.last_sync = Some(now);
        self.error_bound = Some(error_bound);
        self.assess(now)
    }

    /// The physical clock jumped (see
    /// [`Hlc::check_physical_clock`](crate::Hlc::check_physical_clock)): a
    /// new clock epoch starts, and the clock needs a fresh sync.
    pub fn record_jump(
        &mut self,
        now: Instant,
        jump: ClockJump,
    ) -> Option<ModeTransition<ClockMode>> {
        self.epoch = self.epoch.saturating_add(1);
        self.last_jump = Some((now, jump));
        self.assess(now)
    }

    /// The node's lease changed.
    pub fn record_lease(
        &mut self,
        now: Instant,
        lease: LeaseStatus,
    ) -> Option<ModeTransition<ClockMode>> {
        self.lease = lease;
        self.assess(now)
    }

    /// Disables (or re-enables) physical time: the node runs on logical
    /// time alone, the Floor.
    pub fn set_logical_only(
        &mut self,
        now: Instant,
        logical_only: bool,
    ) -> Option<ModeTransition<ClockMode>> {
        self.logical_only = logical_only;
        self.assess(now)
    }

    /// Re-evaluates the mode at `now` (a sync goes stale with time alone);
    /// call it on the driver's tick.
    pub fn assess(&mut self, now: Instant) -> Option<ModeTransition<ClockMode>> {
        let (mode, trigger) = self.decide(now);
        self.tracker.enter(mode, trigger, now)
    }

    fn decide(&self, now: Instant) -> (ClockMode, String) {
        if self.logical_only {
            return (ClockMode::LogicalOnly, "physical time disabled".to_string());
        }
        let (Some(last_sync), Some(error_bound)) = (self.last_sync, self.error_bound) else {
            return (ClockMode::Resynchronizing, "no clock sync yet".to_string());
        };
        if let Some((jumped_at, jump)) = self.last_jump
            && last_sync <= jumped_at
        {
            return (
                ClockMode::Resynchronizing,
                format!("clock jump detected: {jump}; epoch {}", self.epoch),
            );
        }
        if error_bound > self.policy.max_offset / 2 {
            return (
                ClockMode::Resynchronizing,
                format!(
                    "error bound above half the maximum offset: {error_bound:?} > {:?}",
                    self.policy.max_offset / 2
                ),
            );
        }
        let sync_age = now.duration_since(last_sync);
        if sync_age > self.policy.sync_stale_after {
            return (
                ClockMode::LooselySynchronized,
                format!("clock sync stale: last one {sync_age:?} ago"),
            );
        }
        if error_bound > self.policy.error_bound_target {
            return (
                ClockMode::LooselySynchronized,
                format!(
                    "error bound above its target: {error_bound:?} > {:?}",
                    self.policy.error_bound_target
                ),
            );
        }
        if self.lease == LeaseStatus::Expired {
            return (ClockMode::LooselySynchronized, "lease expired".to_string());
        }
        (
            ClockMode::Synchronized,
            "clock sync fresh and error bound within its target".to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::{Auth, check_mode_matrix, render_mode_matrix};

    fn monitor() -> ClockMonitor {
        ClockMonitor::new(ClockPolicy::new(Duration::from_millis(500)), Instant::ZERO).unwrap()
    }

    #[test]
    fn the_matrix_obeys_the_mode_laws() {
        // Rule: check_mode_matrix — Target is strongest, no mode drops a
        // Floor invariant, every mode says how it is entered and left.
        check_mode_matrix::<ClockMode>().unwrap();
    }

    #[test]
    fn the_matrix_says_what_the_seed_says() {
        // The seed's matrix for time, row by row.
        use ClockMode::*;
        assert_eq!(Synchronized.level(), ModeLevel::Target);
        assert_eq!(LooselySynchronized.level(), ModeLevel::Degraded);
        assert_eq!(Resynchronizing.level(), ModeLevel::Recovery);
        assert_eq!(LogicalOnly.level(), ModeLevel::Floor);
        // Floor: causality only, logical clocks.
        for invariant in [ORDER, MONOTONICITY, CAUSALITY] {
            for mode in ClockMode::all() {
                assert!(mode.preserves(invariant), "{mode:?} drops {invariant}");
            }
        }
        assert_eq!(LogicalOnly.guarantees().order, Order::Causal);
        assert!(!LogicalOnly.allows(NOW_INTERVAL) && !LogicalOnly.allows(COMMIT_WAIT));
        // Bounded divergence holds only while the clock is synchronized.
        assert!(Synchronized.preserves(BOUNDED_DIVERGENCE));
        assert!(LooselySynchronized.preserves(BOUNDED_DIVERGENCE));
        assert!(!Resynchronizing.preserves(BOUNDED_DIVERGENCE));
        // Only Target serves local lease reads; Recovery serves no reads.
        for mode in ClockMode::all() {
            assert_eq!(mode.allows(LEASE_READ), *mode == Synchronized, "{mode:?}");
        }
        assert!(
            !Resynchronizing.allows(FOLLOWER_READ) && !Resynchronizing.allows(CLOSE_TIMESTAMPS)
        );
        assert!(
            Resynchronizing.allows(ACQUIRE_LEASE),
            "Recovery reacquires under a new epoch"
        );
        // Target promises linearizable recency, Degraded bounded staleness.
        assert_eq!(Synchronized.guarantees().recency, Recency::Current);
        assert_eq!(
            LooselySynchronized.guarantees().recency,
            Recency::BoundedStaleness(ClosedTimestampTracker::TARGET_LAG_DEFAULT)
        );
        assert!(LooselySynchronized.guarantees() < Synchronized.guarantees());
        assert!(Resynchronizing.guarantees() < LooselySynchronized.guarantees());
        assert!(LogicalOnly.guarantees() < Resynchronizing.guarantees());
        // Dimensions the clock does not touch are left at the top, so the
        // clock never limits them in a composition.
        assert_eq!(LogicalOnly.guarantees().auth, Auth::NonRepudiable);
        // Leases are accepted evidence only in Target.
        for mode in ClockMode::all() {
            assert_eq!(
                mode.spec().accepted_evidence.contains(&EvidenceKind::Lease),
                *mode == Synchronized
            );
        }
        let table = render_mode_matrix::<ClockMode>();
        assert_eq!(table.lines().count(), 2 + ClockMode::all().len());
    }

    #[test]
    fn the_guide_prints_the_matrix_from_this_data() {
        // docs/time.md shows the matrix; it must be what the code says.
        let chapter = include_str!("../../docs/time.md");
        let table = render_mode_matrix::<ClockMode>();
        assert!(
            chapter.contains(&table),
            "docs/time.md's mode matrix is stale; replace it with:\n{table}"
        );
    }

    #[test]
    fn starts_in_recovery_and_reaches_target_on_a_good_sync() {
        let mut monitor = monitor();
        assert_eq!(monitor.mode(), ClockMode::Resynchronizing);
        let change = monitor
            .record_sync(Instant::from_secs(1), Duration::from_millis(10))
            .unwrap();
        assert_eq!(change.to, ClockMode::Synchronized);
        assert_eq!(
            change.trigger,
            "clock sync fresh and error bound within its target"
        );
    }

    #[test]
    fn a_wide_error_bound_or_a_stale_sync_degrades() {
        let mut monitor = monitor();
        monitor.record_sync(Instant::from_secs(1), Duration::from_millis(60));
        assert_eq!(monitor.mode(), ClockMode::LooselySynchronized);
        monitor.record_sync(Instant::from_secs(2), Duration::from_millis(10));
        assert_eq!(monitor.mode(), ClockMode::Synchronized);
        // Ten seconds without a sync is fine; a moment more is stale.
        assert!(monitor.assess(Instant::from_secs(12)).is_none());
        let change = monitor.assess(Instant::from_millis(12_001)).unwrap();
        assert_eq!(change.to, ClockMode::LooselySynchronized);
        assert!(change.trigger.starts_with("clock sync stale"));
    }

    #[test]
    fn an_error_bound_past_half_the_offset_means_recovery() {
        // Two clocks each within ε of true time may be 2ε apart: past half
        // the maximum offset, BOUNDED DIVERGENCE is no longer assured.
        let mut monitor = monitor();
        monitor.record_sync(Instant::from_secs(1), Duration::from_millis(251));
        assert_eq!(monitor.mode(), ClockMode::Resynchronizing);
        monitor.record_sync(Instant::from_secs(1), Duration::from_millis(250));
        assert_eq!(monitor.mode(), ClockMode::LooselySynchronized);
    }

    #[test]
    fn an_expired_lease_degrades_and_a_new_one_restores_target() {
        let mut monitor = monitor();
        monitor.record_sync(Instant::from_secs(1), Duration::from_millis(1));
        monitor.record_lease(Instant::from_secs(2), LeaseStatus::Expired);
        assert_eq!(monitor.mode(), ClockMode::LooselySynchronized);
        monitor.record_lease(Instant::from_secs(3), LeaseStatus::Valid);
        assert_eq!(monitor.mode(), ClockMode::Synchronized);
    }

    #[test]
    fn a_jump_needs_a_later_sync_and_starts_a_new_epoch() {
        let mut monitor = monitor();
        monitor.record_sync(Instant::from_secs(1), Duration::from_millis(1));
        let change = monitor
            .record_jump(
                Instant::from_secs(5),
                ClockJump::Forward(Duration::from_secs(60)),
            )
            .unwrap();
        assert_eq!(change.to, ClockMode::Resynchronizing);
        assert!(change.trigger.contains("jumped forward"));
        assert_eq!(monitor.epoch(), 1);
        // Time passing alone does not leave Recovery.
        assert!(monitor.assess(Instant::from_secs(6)).is_none());
        monitor.record_sync(Instant::from_secs(7), Duration::from_millis(1));
        assert_eq!(monitor.mode(), ClockMode::Synchronized);
        assert_eq!(monitor.tracker().history().count(), 3);
    }

    #[test]
    fn logical_only_is_the_floor_and_overrides_everything() {
        let mut monitor = monitor();
        monitor.record_sync(Instant::from_secs(1), Duration::from_millis(1));
        monitor.set_logical_only(Instant::from_secs(2), true);
        assert_eq!(monitor.mode(), ClockMode::LogicalOnly);
        monitor.record_sync(Instant::from_secs(3), Duration::from_millis(1));
        assert_eq!(monitor.mode(), ClockMode::LogicalOnly);
        monitor.set_logical_only(Instant::from_secs(4), false);
        assert_eq!(monitor.mode(), ClockMode::Synchronized);
    }

    #[test]
    fn policies_are_validated() {
        let mut policy = ClockPolicy::new(Duration::from_millis(500));
        policy.error_bound_target = Duration::from_millis(300);
        assert!(ClockMonitor::new(policy, Instant::ZERO).is_err());
        policy.error_bound_target = Duration::from_millis(50);
        policy.sync_stale_after = Duration::ZERO;
        assert!(policy.validate().is_err());
    }
}

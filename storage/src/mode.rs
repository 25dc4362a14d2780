//! The storage mode matrix, as data.

use tessera_core::{
    EvidenceKind, GuaranteeVector, Idempotence, Mode, ModeLevel, ModeSpec, Order, Recency, Scope,
    Visibility,
};

/// The operating regime of a write-ahead log.
///
/// | mode | level | writes | reads |
/// |---|---|---|---|
/// | `Healthy` | Target | yes | yes |
/// | `Degraded` | Degraded | yes, slower or near the size limit | yes |
/// | `ReadOnly` | Floor | refused: a write or sync failed | durable records only |
/// | `Recovering` | Recovery | not yet: scanning and repairing at open | not yet |
///
/// The full matrix (invariants, triggers, contract, metrics) is
/// [`Mode::spec`]; `docs/durability.md` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum StorageMode {
    /// Every write is acknowledged after its sync.
    Healthy,
    /// Still safe, but slow syncs or a log close to its size limit.
    Degraded,
    /// Poisoned after a failed write or sync: nothing more is written until
    /// the log is reopened.
    ReadOnly,
    /// Opening: scanning segments, truncating a torn tail.
    Recovering,
}

/// The invariant every mode keeps: a write reported durable survives any
/// crash.
pub const ACKNOWLEDGED_WRITES_SURVIVE: &str = "ACKNOWLEDGED WRITES SURVIVE";
/// Damaged data is reported, never served or silently dropped.
pub const CORRUPTION_DETECTED: &str = "CORRUPTION DETECTED";
/// Records are kept in the order they were appended, without gaps.
pub const LOG_ORDER: &str = "LOG ORDER";

const INVARIANTS: &[&str] = &[ACKNOWLEDGED_WRITES_SURVIVE, CORRUPTION_DETECTED, LOG_ORDER];

/// What the log promises about the records it acknowledged: one node's
/// local, totally ordered, current view. Replication (visibility beyond
/// this node) is the consensus layer's business.
const LOCAL_LOG: GuaranteeVector = GuaranteeVector {
    scope: Scope::Global,
    order: Order::Total,
    visibility: Visibility::Local,
    recency: Recency::Current,
    idempotence: Idempotence::None,
    auth: tessera_core::Auth::None,
};

/// What a writable log allows.
const WRITES_AND_READS: &[&str] = &[
    "append",
    "truncate",
    "purge",
    "save hard state",
    "read",
    "snapshot",
];

/// What moves a writable log from Healthy to Degraded, and back.
const DEGRADED_ON: &[&str] = &[
    "a sync slower than the threshold",
    "the log above 90% of its limit",
];
const HEALTHY_AGAIN: &str = "syncs fast again and the log below 80% of its limit";
const WRITE_FAILED: &str = "a write or sync failed";

const METRICS: &[&str] = &[
    "mode",
    "syncs",
    "records_per_sync",
    "last_sync_nanos",
    "disk_bytes",
    "queued_bytes",
];

static SPECS: [ModeSpec; 4] = [
    ModeSpec {
        name: "healthy",
        level: ModeLevel::Target,
        preserved_invariants: INVARIANTS,
        allowed_operations: WRITES_AND_READS,
        guarantees: LOCAL_LOG,
        accepted_evidence: &[EvidenceKind::TermVote, EvidenceKind::SnapshotMeta],
        entry_triggers: &["recovery finished", HEALTHY_AGAIN],
        exit_triggers: &[DEGRADED_ON[0], DEGRADED_ON[1], WRITE_FAILED],
        contract: "every append is acknowledged once its fdatasync returned, in order",
        metrics: METRICS,
    },
    ModeSpec {
        name: "degraded",
        level: ModeLevel::Degraded,
        preserved_invariants: INVARIANTS,
        allowed_operations: WRITES_AND_READS,
        guarantees: LOCAL_LOG,
        accepted_evidence: &[EvidenceKind::TermVote, EvidenceKind::SnapshotMeta],
        entry_triggers: DEGRADED_ON,
        exit_triggers: &[HEALTHY_AGAIN, WRITE_FAILED],
        contract: "acknowledgements are as safe but slower; purge a prefix before the log fills",
        metrics: METRICS,
    },
    ModeSpec {
        name: "read-only",
        level: ModeLevel::Floor,
        preserved_invariants: INVARIANTS,
        allowed_operations: &["read"],
        guarantees: LOCAL_LOG,
        accepted_evidence: &[EvidenceKind::TermVote, EvidenceKind::SnapshotMeta],
        entry_triggers: &["a write or sync failed (EIO, ENOSPC)"],
        exit_triggers: &["reopened: recovery rebuilds from what is on disk"],
        contract: "writes are refused and nothing more is acknowledged; durable records stay readable",
        metrics: METRICS,
    },
    ModeSpec {
        name: "recovering",
        level: ModeLevel::Recovery,
        preserved_invariants: INVARIANTS,
        allowed_operations: &[],
        guarantees: LOCAL_LOG,
        accepted_evidence: &[EvidenceKind::TermVote, EvidenceKind::SnapshotMeta],
        entry_triggers: &["open"],
        exit_triggers: &["recovery finished", "corruption found: open fails"],
        contract: "nothing is served until every segment is verified and a torn tail cut",
        metrics: METRICS,
    },
];

impl Mode for StorageMode {
    fn all() -> &'static [Self] {
        &[
            StorageMode::Healthy,
            StorageMode::Degraded,
            StorageMode::ReadOnly,
            StorageMode::Recovering,
        ]
    }

    fn spec(&self) -> &'static ModeSpec {
        match self {
            StorageMode::Healthy => &SPECS[0],
            StorageMode::Degraded => &SPECS[1],
            StorageMode::ReadOnly => &SPECS[2],
            StorageMode::Recovering => &SPECS[3],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::{check_mode_matrix, render_mode_matrix};

    // Rule: the matrix obeys core's laws (Target strongest, no mode drops a
    // Floor invariant, triggers stated).
    #[test]
    fn matrix_obeys_the_laws() {
        check_mode_matrix::<StorageMode>().unwrap();
    }

    // Rule: the matrix says what the crate documents: one mode per level,
    // writes only in Target and Degraded, reads also in Floor, nothing while
    // recovering, and every mode keeps the durability invariant.
    #[test]
    fn matrix_is_as_documented() {
        let levels: Vec<ModeLevel> = StorageMode::all().iter().map(|m| m.level()).collect();
        assert_eq!(
            levels,
            vec![
                ModeLevel::Target,
                ModeLevel::Degraded,
                ModeLevel::Floor,
                ModeLevel::Recovery
            ]
        );
        for mode in StorageMode::all() {
            assert!(mode.preserves(ACKNOWLEDGED_WRITES_SURVIVE), "{mode:?}");
            assert!(mode.preserves(CORRUPTION_DETECTED), "{mode:?}");
            let writes = matches!(mode, StorageMode::Healthy | StorageMode::Degraded);
            assert_eq!(mode.allows("append"), writes, "{mode:?}");
            assert_eq!(mode.allows("save hard state"), writes, "{mode:?}");
        }
        assert!(StorageMode::ReadOnly.allows("read"));
        assert!(!StorageMode::Recovering.allows("read"));
        let table = render_mode_matrix::<StorageMode>();
        assert!(table.contains("| read-only | Floor |"));
    }
}

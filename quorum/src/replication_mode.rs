//! The modes of a leaderless replica, as data.

use tessera_core::{
    Auth, EvidenceKind, GuaranteeVector, Idempotence, Mode, ModeLevel, ModeSpec, Order, Recency,
    Scope, Visibility,
};

/// No read returns a value older than a write acknowledged before the read
/// began (holds with `r + w > n` and strict quorums).
pub const NO_STALE_READ: &str = "NO STALE READ";
/// A deleted version never comes back: tombstones are collected only after
/// a grace period and once every home replica holds them.
pub const NO_RESURRECTION: &str = "NO RESURRECTION";
/// Replicas that exchange their objects converge (merge is commutative,
/// associative and idempotent; anti-entropy and handoff deliver).
pub const CONVERGENCE: &str = "CONVERGENCE";
/// Read-your-writes and monotonic reads within a session.
pub const SESSION_GUARANTEES: &str = "SESSION GUARANTEES";
/// No two different versions share a dot.
pub const UNIQUE_DOTS: &str = "UNIQUE DOTS";

/// The operating regime of a leaderless replica.
///
/// | mode | level | when |
/// |---|---|---|
/// | [`Healthy`](Self::Healthy) | Target | strict quorums (`r + w > n`), every replica answering |
/// | [`Sloppy`](Self::Sloppy) | Degraded | a sloppy quorum stood in for a replica, hints are held for an unreachable one, or a caller chose `r + w ≤ n` |
/// | [`Repairing`](Self::Repairing) | Recovery | hints are being handed back, or anti-entropy is fixing differences |
///
/// The matrix is data ([`Mode::spec`]); `render_mode_matrix` prints it and
/// a test asserts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReplicationMode {
    /// Target: strict quorums over healthy replicas.
    Healthy,
    /// Degraded: sloppy quorums and hints, or weak quorums by request.
    Sloppy,
    /// Recovery: handoff or anti-entropy in progress.
    Repairing,
}

/// What strict quorums promise: per-key, acknowledged writes visible to
/// every later read, session order through tokens.
const STRICT: GuaranteeVector = GuaranteeVector {
    scope: Scope::Object,
    order: Order::Session,
    visibility: Visibility::Committed,
    recency: Recency::Current,
    idempotence: Idempotence::None,
    auth: Auth::None,
};

/// What sloppy or weak quorums promise: a write is on several replicas but
/// maybe not on one a read asks; reads converge eventually.
const EVENTUAL: GuaranteeVector = GuaranteeVector {
    visibility: Visibility::Replicated,
    recency: Recency::Eventual,
    ..STRICT
};

const ALWAYS: &[&str] = &[
    NO_RESURRECTION,
    CONVERGENCE,
    SESSION_GUARANTEES,
    UNIQUE_DOTS,
];

static MODES: [ModeSpec; 3] = [
    ModeSpec {
        name: "healthy",
        level: ModeLevel::Target,
        preserved_invariants: &[
            NO_STALE_READ,
            NO_RESURRECTION,
            CONVERGENCE,
            SESSION_GUARANTEES,
            UNIQUE_DOTS,
        ],
        allowed_operations: &["get", "put", "delete"],
        guarantees: STRICT,
        accepted_evidence: &[EvidenceKind::CausalContext],
        entry_triggers: &["replicas healthy and nothing to repair"],
        exit_triggers: &[
            "a request used fallback replicas (sloppy quorum)",
            "holding hints for an unreachable replica",
            "a request chose r + w <= n",
            "handing hints back to a returned replica",
            "anti-entropy is repairing differences",
        ],
        contract: "a read sees every write acknowledged before it began; concurrent writes surface as siblings",
        metrics: &["mode", "request latency", "siblings per read"],
    },
    ModeSpec {
        name: "sloppy",
        level: ModeLevel::Degraded,
        preserved_invariants: ALWAYS,
        allowed_operations: &["get", "put", "delete"],
        guarantees: EVENTUAL,
        accepted_evidence: &[EvidenceKind::CausalContext],
        entry_triggers: &[
            "a request used fallback replicas (sloppy quorum)",
            "holding hints for an unreachable replica",
            "a request chose r + w <= n",
        ],
        exit_triggers: &[
            "handing hints back to a returned replica",
            "replicas healthy and nothing to repair",
        ],
        contract: "still available, but a read may miss acknowledged writes until handoff and anti-entropy catch up; session tokens still hold",
        metrics: &["hints held", "sloppy writes", "suspected replicas"],
    },
    ModeSpec {
        name: "repairing",
        level: ModeLevel::Recovery,
        preserved_invariants: ALWAYS,
        allowed_operations: &["get", "put", "delete"],
        guarantees: EVENTUAL,
        accepted_evidence: &[EvidenceKind::CausalContext],
        entry_triggers: &[
            "handing hints back to a returned replica",
            "anti-entropy is repairing differences",
        ],
        exit_triggers: &["replicas healthy and nothing to repair"],
        contract: "replicas are converging: reads may still miss writes that are being handed back or repaired",
        metrics: &["hints held", "keys repaired", "anti-entropy sessions"],
    },
];

impl Mode for ReplicationMode {
    fn all() -> &'static [Self] {
        &[
            ReplicationMode::Healthy,
            ReplicationMode::Sloppy,
            ReplicationMode::Repairing,
        ]
    }

    fn spec(&self) -> &'static ModeSpec {
        &MODES[*self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::{check_mode_matrix, render_mode_matrix};

    #[test]
    fn mode_matrix_is_as_documented() {
        check_mode_matrix::<ReplicationMode>().unwrap();
        let levels: Vec<ModeLevel> = ReplicationMode::all().iter().map(|m| m.level()).collect();
        assert_eq!(
            levels,
            vec![ModeLevel::Target, ModeLevel::Degraded, ModeLevel::Recovery]
        );
        // Only Target promises reads that see acknowledged writes.
        assert!(ReplicationMode::Healthy.preserves(NO_STALE_READ));
        assert!(!ReplicationMode::Sloppy.preserves(NO_STALE_READ));
        assert!(!ReplicationMode::Repairing.preserves(NO_STALE_READ));
        assert_eq!(
            ReplicationMode::Healthy.guarantees().recency,
            Recency::Current
        );
        assert_eq!(
            ReplicationMode::Sloppy.guarantees().recency,
            Recency::Eventual
        );
        // Deleted data never resurrects, in any mode; every mode serves.
        for mode in ReplicationMode::all() {
            assert!(mode.preserves(NO_RESURRECTION), "{mode:?}");
            assert!(mode.preserves(SESSION_GUARANTEES), "{mode:?}");
            assert!(mode.allows("put") && mode.allows("get") && mode.allows("delete"));
        }
        let table = render_mode_matrix::<ReplicationMode>();
        assert!(table.contains("| sloppy | Degraded |"), "{table}");
    }

    #[test]
    fn the_guide_prints_the_matrix_from_this_data() {
        let chapter = include_str!("../../docs/quorum.md");
        let table = render_mode_matrix::<ReplicationMode>();
        assert!(
            chapter.contains(&table),
            "docs/quorum.md must contain the rendered matrix:\n{table}"
        );
    }
}

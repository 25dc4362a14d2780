//! The modes of a delta-sync replica, as data.

use tessera_core::{
    Auth, EvidenceKind, GuaranteeVector, Idempotence, Mode, ModeLevel, ModeSpec, Order, Recency,
    Scope, Visibility,
};

use crate::invariants::{ACKNOWLEDGED_DURABLE, CONVERGENCE, INFLATION};

/// The operating regime of a [`DeltaSyncNode`](crate::DeltaSyncNode).
///
/// | mode | level | what holds |
/// |---|---|---|
/// | [`Converging`](Self::Converging) | Target | every peer answers; deltas flow and are acknowledged, replicas converge within a few sync intervals |
/// | [`Partitioned`](Self::Partitioned) | Degraded | some peer has been silent past the timeout: updates are still accepted (available), replicas diverge until the partition heals |
/// | [`CatchingUp`](Self::CatchingUp) | Recovery | every peer answers again (or this replica restarted), and anti-entropy is shipping what was missed — deltas, or whole states to peers too far behind |
///
/// CONVERGENCE, INFLATION and ACKNOWLEDGED DURABLE hold in every mode:
/// they are safety properties, and modes only change how soon replicas
/// agree, never whether they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// Target: connected and converging.
    Converging,
    /// Degraded: partitioned, diverging but available.
    Partitioned,
    /// Recovery: anti-entropy catching up.
    CatchingUp,
}

const INVARIANTS: &[&str] = &[CONVERGENCE, INFLATION, ACKNOWLEDGED_DURABLE];
const OPERATIONS: &[&str] = &["read", "update"];
const EVIDENCE: &[EvidenceKind] = &[EvidenceKind::CausalContext];

/// Replicated on more than one node, in per-sender causal order, merged
/// idempotently; fresh eventually. Crash faults only.
const CONVERGING: GuaranteeVector = GuaranteeVector {
    scope: Scope::Object,
    order: Order::Session,
    visibility: Visibility::Replicated,
    recency: Recency::Eventual,
    idempotence: Idempotence::Idempotent,
    auth: Auth::None,
};

/// An update may live on this replica alone until the partition heals.
const LOCAL_ONLY: GuaranteeVector = GuaranteeVector {
    visibility: Visibility::Local,
    ..CONVERGING
};

const SPECS: [ModeSpec; 3] = [
    ModeSpec {
        name: "converging",
        level: ModeLevel::Target,
        preserved_invariants: INVARIANTS,
        allowed_operations: OPERATIONS,
        guarantees: CONVERGING,
        accepted_evidence: EVIDENCE,
        entry_triggers: &[
            "every peer acknowledged the updates missed while apart",
            "boot",
        ],
        exit_triggers: &["a peer silent past the peer timeout"],
        contract: "updates apply locally at once and reach every replica within a few sync intervals",
        metrics: &["mode", "unacknowledged deltas per peer", "delta bytes sent"],
    },
    ModeSpec {
        name: "partitioned",
        level: ModeLevel::Degraded,
        preserved_invariants: INVARIANTS,
        allowed_operations: OPERATIONS,
        guarantees: LOCAL_ONLY,
        accepted_evidence: EVIDENCE,
        entry_triggers: &["a peer silent past the peer timeout"],
        exit_triggers: &["every peer heard from again"],
        contract: "updates are accepted and applied locally; replicas on the other side see them after the partition heals",
        metrics: &["mode", "silent peers", "buffered deltas"],
    },
    ModeSpec {
        name: "catching up",
        level: ModeLevel::Recovery,
        preserved_invariants: INVARIANTS,
        allowed_operations: OPERATIONS,
        guarantees: LOCAL_ONLY,
        accepted_evidence: EVIDENCE,
        entry_triggers: &["every peer heard from again", "restart from durable state"],
        exit_triggers: &[
            "every peer acknowledged the updates missed while apart",
            "a peer silent past the peer timeout",
        ],
        contract: "updates are accepted; missed deltas, or whole states for peers too far behind, are being shipped",
        metrics: &["mode", "full states sent", "unacknowledged deltas per peer"],
    },
];

impl Mode for SyncMode {
    fn all() -> &'static [Self] {
        &[
            SyncMode::Converging,
            SyncMode::Partitioned,
            SyncMode::CatchingUp,
        ]
    }

    fn spec(&self) -> &'static ModeSpec {
        match self {
            SyncMode::Converging => &SPECS[0],
            SyncMode::Partitioned => &SPECS[1],
            SyncMode::CatchingUp => &SPECS[2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::check_mode_matrix;

    #[test]
    fn the_matrix_obeys_the_mode_laws() {
        check_mode_matrix::<SyncMode>().expect("a valid matrix");
        assert_eq!(SyncMode::Converging.level(), ModeLevel::Target);
        assert_eq!(SyncMode::Partitioned.level(), ModeLevel::Degraded);
        assert_eq!(SyncMode::CatchingUp.level(), ModeLevel::Recovery);
        // Available in every mode: that is the point of a CRDT.
        for mode in SyncMode::all() {
            assert!(mode.allows("update") && mode.allows("read"));
            assert!(mode.preserves(CONVERGENCE));
        }
        assert!(
            SyncMode::Partitioned
                .guarantees()
                .is_at_most(&SyncMode::Converging.guarantees())
        );
        assert_ne!(
            SyncMode::Partitioned.guarantees(),
            SyncMode::Converging.guarantees()
        );
    }
}

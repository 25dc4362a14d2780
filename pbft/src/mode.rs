//! PBFT's mode matrix as data: what a replica promises in each mode, and
//! what moves it between modes.

use tessera_core::{
    Auth, EvidenceKind, GuaranteeVector, Idempotence, Mode, ModeLevel, ModeSpec, Order, Recency,
    Scope, Visibility,
};

use crate::invariants::{
    CHECKPOINT_AGREEMENT, EXECUTION_AGREEMENT, PREPARED_UNIQUENESS, VIEW_MONOTONIC, WATERMARKS,
};

/// A replica's mode.
///
/// | mode | level | a replica is here when |
/// |---|---|---|
/// | `Stalled` | Floor | it has work but heard from fewer than `2f` peers recently: no quorum of correct replicas is reachable |
/// | `Normal` | Target | its view is active and no request waits longer than half the view-change timeout |
/// | `Suspecting` | Degraded | a request waits longer than that, or the primary sent something invalid: the view-change timer runs |
/// | `ChangingView` | Recovery | it asked to leave its view and waits for a new view |
/// | `Transferring` | Recovery | it fetches a stable checkpoint's state it fell behind |
///
/// Clients report `Normal` while answers arrive in time and `Suspecting`
/// while they retransmit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PbftMode {
    /// Floor: safety only; nothing commits.
    Stalled,
    /// Target: a stable view; three-phase commits.
    Normal,
    /// Degraded: the primary is suspected; timers running.
    Suspecting,
    /// Recovery: a view change is in progress.
    ChangingView,
    /// Recovery: a state transfer is in progress.
    Transferring,
}

/// Every safety invariant, kept in every mode.
const SAFETY: &[&str] = &[
    EXECUTION_AGREEMENT,
    PREPARED_UNIQUENESS,
    CHECKPOINT_AGREEMENT,
    VIEW_MONOTONIC,
    WATERMARKS,
];

/// Linearizable, de-duplicated, authenticated: what PBFT promises.
const BYZANTINE_LINEARIZABLE: GuaranteeVector = GuaranteeVector {
    scope: Scope::Global,
    order: Order::Total,
    visibility: Visibility::Committed,
    recency: Recency::Current,
    idempotence: Idempotence::Deduplicated,
    auth: Auth::Authenticated,
};

/// Whatever commits is still linearizable, but requests may wait.
const DELAYED: GuaranteeVector = GuaranteeVector {
    recency: Recency::Eventual,
    ..BYZANTINE_LINEARIZABLE
};

static MODES: [ModeSpec; 5] = [
    ModeSpec {
        name: "stalled",
        level: ModeLevel::Floor,
        preserved_invariants: SAFETY,
        allowed_operations: &[],
        guarantees: DELAYED,
        accepted_evidence: &[EvidenceKind::Checkpoint, EvidenceKind::ViewChangeProof],
        entry_triggers: &["fewer than 2f peers heard from while work waits"],
        exit_triggers: &["2f peers heard from again"],
        contract: "nothing commits; everything committed stays committed and in order",
        metrics: &["mode", "peers_heard", "requests_waiting"],
    },
    ModeSpec {
        name: "normal",
        level: ModeLevel::Target,
        preserved_invariants: SAFETY,
        allowed_operations: &["request"],
        guarantees: BYZANTINE_LINEARIZABLE,
        accepted_evidence: &[
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::CommitCertificate,
            EvidenceKind::Checkpoint,
        ],
        entry_triggers: &[
            "a new view accepted",
            "requests execute in time again",
            "2f peers heard from again",
        ],
        exit_triggers: &[
            "a request waits too long",
            "the primary sent an invalid message",
            "view-change timer expired",
            "f + 1 replicas asked for a later view",
        ],
        contract: "requests commit in three phases and are answered by f + 1 matching replies",
        metrics: &["mode", "view", "last_executed", "batch_size"],
    },
    ModeSpec {
        name: "suspecting",
        level: ModeLevel::Degraded,
        preserved_invariants: SAFETY,
        allowed_operations: &["request"],
        guarantees: DELAYED,
        accepted_evidence: &[
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::CommitCertificate,
            EvidenceKind::Checkpoint,
        ],
        entry_triggers: &[
            "a request waits too long",
            "the primary sent an invalid message",
        ],
        exit_triggers: &[
            "requests execute in time again",
            "view-change timer expired",
        ],
        contract: "requests still commit, but the primary is suspected: the view changes if they stall",
        metrics: &["mode", "oldest_request_wait", "drops_from_primary"],
    },
    ModeSpec {
        name: "changing view",
        level: ModeLevel::Recovery,
        preserved_invariants: SAFETY,
        allowed_operations: &["request"],
        guarantees: DELAYED,
        accepted_evidence: &[EvidenceKind::ViewChangeProof, EvidenceKind::Checkpoint],
        entry_triggers: &[
            "view-change timer expired",
            "f + 1 replicas asked for a later view",
        ],
        exit_triggers: &["a new view accepted", "view-change timer expired"],
        contract: "requests wait for the new view; those committed survive into it",
        metrics: &[
            "mode",
            "view",
            "view_changes_received",
            "view_change_timeout",
        ],
    },
    ModeSpec {
        name: "transferring",
        level: ModeLevel::Recovery,
        preserved_invariants: SAFETY,
        allowed_operations: &["request"],
        guarantees: DELAYED,
        accepted_evidence: &[EvidenceKind::Checkpoint],
        entry_triggers: &["a stable checkpoint above the last executed request"],
        exit_triggers: &["the checkpoint's state received and checked"],
        contract: "the replica catches up from a checkpoint 2f + 1 replicas signed",
        metrics: &["mode", "low_watermark", "last_executed"],
    },
];

impl Mode for PbftMode {
    fn all() -> &'static [Self] {
        &[
            PbftMode::Stalled,
            PbftMode::Normal,
            PbftMode::Suspecting,
            PbftMode::ChangingView,
            PbftMode::Transferring,
        ]
    }

    fn spec(&self) -> &'static ModeSpec {
        match self {
            PbftMode::Stalled => &MODES[0],
            PbftMode::Normal => &MODES[1],
            PbftMode::Suspecting => &MODES[2],
            PbftMode::ChangingView => &MODES[3],
            PbftMode::Transferring => &MODES[4],
        }
    }
}

#[cfg(test)]
mod tests {
    use tessera_core::{check_mode_matrix, render_mode_matrix};

    use super::*;

    #[test]
    fn the_matrix_obeys_the_laws_and_says_what_the_issue_asks() {
        check_mode_matrix::<PbftMode>().unwrap();
        assert_eq!(PbftMode::Stalled.level(), ModeLevel::Floor);
        assert_eq!(PbftMode::Normal.level(), ModeLevel::Target);
        assert_eq!(PbftMode::Suspecting.level(), ModeLevel::Degraded);
        assert_eq!(PbftMode::ChangingView.level(), ModeLevel::Recovery);
        assert!(!PbftMode::Stalled.allows("request"));
        assert!(PbftMode::Normal.allows("request"));
        for mode in PbftMode::all() {
            assert!(mode.preserves(EXECUTION_AGREEMENT), "{mode:?}");
        }
        assert_eq!(
            PbftMode::Normal.guarantees().idempotence,
            Idempotence::Deduplicated
        );
        assert!(render_mode_matrix::<PbftMode>().contains("| changing view | Recovery |"));
    }
}

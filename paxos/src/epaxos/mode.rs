//! The modes of an EPaxos replica, as data.

use std::fmt;

use tessera_core::{EvidenceKind, GuaranteeVector, Mode, ModeLevel, ModeSpec, Scope};

use crate::invariants::{AGREEMENT, CONSISTENT_EXECUTION, UNIQUENESS, VALIDITY};

/// The operating regime of an EPaxos replica.
///
/// | mode | level | what holds |
/// |---|---|---|
/// | [`Bootstrap`](Self::Bootstrap) | Floor | started; nothing committed through it yet |
/// | [`FastPath`](Self::FastPath) | Target | its last command committed on the fast path: one round trip to a fast quorum |
/// | [`SlowPath`](Self::SlowPath) | Degraded | its last command needed the accept round: interference, or the fast quorum did not answer |
/// | [`ExplicitPrepare`](Self::ExplicitPrepare) | Recovery | it is recovering an instance whose command leader seems to have failed |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EpaxosMode {
    /// Floor: started, no command committed through it yet.
    Bootstrap,
    /// Target: commands commit on the fast path.
    FastPath,
    /// Degraded: commands need the accept round.
    SlowPath,
    /// Recovery: explicit prepare of a failed leader's instance.
    ExplicitPrepare,
}

const SAFETY: &[&str] = &[UNIQUENESS, AGREEMENT, VALIDITY, CONSISTENT_EXECUTION];

/// Linearizable per object: EPaxos orders only interfering commands (those
/// with the same interference key), and every replica executes those in
/// one order. Commands on different keys commute and may execute in
/// different orders on different replicas, so the total order is promised
/// per object, not across the whole state. Messages are not authenticated
/// (crash faults only).
const LINEARIZABLE: GuaranteeVector = GuaranteeVector {
    scope: Scope::Object,
    ..GuaranteeVector::LINEARIZABLE
};

/// Before anything committed through this replica: commands already
/// committed elsewhere stay committed and ordered per object, nothing more.
const SAFE_ONLY: GuaranteeVector = GuaranteeVector {
    scope: Scope::Object,
    ..GuaranteeVector::COMMITTED_IN_ORDER
};

static SPECS: [ModeSpec; 4] = [
    ModeSpec {
        name: "bootstrap",
        level: ModeLevel::Floor,
        preserved_invariants: SAFETY,
        allowed_operations: &["propose"],
        guarantees: SAFE_ONLY,
        accepted_evidence: &[],
        entry_triggers: &["start", "restart from durable state"],
        exit_triggers: &["a command committed"],
        contract: "commands are accepted; none has committed through this replica yet",
        metrics: &["mode", "instances known"],
    },
    ModeSpec {
        name: "fast-path",
        level: ModeLevel::Target,
        preserved_invariants: SAFETY,
        allowed_operations: &["propose"],
        guarantees: LINEARIZABLE,
        accepted_evidence: &[
            EvidenceKind::QuorumCertificate,
            EvidenceKind::CommitCertificate,
        ],
        entry_triggers: &["a fast quorum pre-accepted unchanged attributes"],
        exit_triggers: &[
            "attributes changed by interference",
            "the fast quorum did not answer in time",
            "execution blocked on an uncommitted instance",
        ],
        contract: "a command commits in one round trip to N − 1 replicas and executes \
                   once its dependencies have",
        metrics: &["fast-path fraction", "commit latency"],
    },
    ModeSpec {
        name: "slow-path",
        level: ModeLevel::Degraded,
        preserved_invariants: SAFETY,
        allowed_operations: &["propose"],
        guarantees: LINEARIZABLE,
        accepted_evidence: &[
            EvidenceKind::QuorumCertificate,
            EvidenceKind::CommitCertificate,
        ],
        entry_triggers: &[
            "attributes changed by interference",
            "the fast quorum did not answer in time",
        ],
        exit_triggers: &["a fast quorum pre-accepted unchanged attributes"],
        contract: "still linearizable; commands take a second round trip to a majority",
        metrics: &["fast-path fraction", "accept rounds"],
    },
    ModeSpec {
        name: "explicit-prepare",
        level: ModeLevel::Recovery,
        preserved_invariants: SAFETY,
        allowed_operations: &["propose"],
        guarantees: LINEARIZABLE,
        accepted_evidence: &[EvidenceKind::TermVote, EvidenceKind::QuorumCertificate],
        entry_triggers: &["execution blocked on an uncommitted instance"],
        exit_triggers: &["the recovered instance committed"],
        contract: "commands that depend on the failed leader's instance wait until it is \
                   recovered (committed with its attributes, or as a no-op)",
        metrics: &["recoveries", "blocked instances"],
    },
];

impl Mode for EpaxosMode {
    fn all() -> &'static [Self] {
        &[
            EpaxosMode::Bootstrap,
            EpaxosMode::FastPath,
            EpaxosMode::SlowPath,
            EpaxosMode::ExplicitPrepare,
        ]
    }

    fn spec(&self) -> &'static ModeSpec {
        &SPECS[*self as usize]
    }
}

impl fmt::Display for EpaxosMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::check_mode_matrix;

    #[test]
    fn mode_matrix_obeys_the_laws() {
        check_mode_matrix::<EpaxosMode>().unwrap();
        assert_eq!(EpaxosMode::FastPath.level(), ModeLevel::Target);
        assert_eq!(EpaxosMode::ExplicitPrepare.level(), ModeLevel::Recovery);
        for mode in EpaxosMode::all() {
            assert!(mode.preserves(CONSISTENT_EXECUTION));
        }
    }
}

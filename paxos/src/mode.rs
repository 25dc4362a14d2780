//! The modes of a Synod or Multi-Paxos node, as data.

use std::fmt;

use tessera_core::{EvidenceKind, GuaranteeVector, Mode, ModeLevel, ModeSpec};

use crate::invariants::{AGREEMENT, TOTAL_ORDER, UNIQUENESS, VALIDITY};

/// The operating regime of a Synod or Multi-Paxos node (the seed's
/// consensus mode matrix).
///
/// | mode | level | what holds |
/// |---|---|---|
/// | [`Bootstrap`](Self::Bootstrap) | Floor | no leader yet: nothing is proposed, nothing unsafe happens |
/// | [`StableLeader`](Self::StableLeader) | Target | a leader holds a phase-one quorum (and, in Multi-Paxos, a valid lease): commits take two message delays, reads are served locally |
/// | [`LeaderSuspected`](Self::LeaderSuspected) | Degraded | the leader's lease lapsed or its heartbeats stopped: full two-phase Paxos, reads go through the log |
/// | [`LeaderChange`](Self::LeaderChange) | Recovery | phase one is running: a new ballot is collecting promises and re-proposing in-progress slots |
///
/// Every mode preserves UNIQUENESS, AGREEMENT, VALIDITY and TOTAL ORDER:
/// a mode change trades speed, never safety.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PaxosMode {
    /// Floor: started, no leader known, no ballot promised.
    Bootstrap,
    /// Target: a stable leader (this node or another) with a valid lease.
    StableLeader,
    /// Degraded: the leader is suspected (lease lapsed, heartbeats missed,
    /// or a proposer was preempted and backs off).
    LeaderSuspected,
    /// Recovery: a leader change — phase one, recovery of in-progress
    /// slots, or catching up.
    LeaderChange,
}

const SAFETY: &[&str] = &[UNIQUENESS, AGREEMENT, VALIDITY, TOTAL_ORDER];

const LINEARIZABLE: GuaranteeVector = GuaranteeVector::LINEARIZABLE;

/// What holds while no leader serves requests: everything already chosen
/// stays chosen, in one total order, but nothing is read or written here,
/// so nothing is promised about recency (the same vector as Raft's
/// follower and candidate modes). Messages are not authenticated: Paxos
/// tolerates crashes, not lies.
const SAFE_ONLY: GuaranteeVector = GuaranteeVector::COMMITTED_IN_ORDER;

static SPECS: [ModeSpec; 4] = [
    ModeSpec {
        name: "bootstrap",
        level: ModeLevel::Floor,
        preserved_invariants: SAFETY,
        allowed_operations: &[],
        guarantees: SAFE_ONLY,
        accepted_evidence: &[EvidenceKind::TermVote],
        entry_triggers: &["start", "restart from durable state"],
        exit_triggers: &["a ballot is promised", "a leader is heard"],
        contract: "requests are refused or redirected until a leader is known; nothing unsafe happens",
        metrics: &["mode", "promised ballot"],
    },
    ModeSpec {
        name: "stable-leader",
        level: ModeLevel::Target,
        preserved_invariants: SAFETY,
        allowed_operations: &["propose", "read", "lease read"],
        guarantees: LINEARIZABLE,
        accepted_evidence: &[
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::CommitCertificate,
            EvidenceKind::Lease,
        ],
        entry_triggers: &[
            "phase one won and in-progress slots recovered",
            "a leader's heartbeat with a lease was granted",
        ],
        exit_triggers: &[
            "lease lapsed",
            "heartbeats missed",
            "a higher ballot was seen",
        ],
        contract: "commands commit in two message delays (one round trip to a phase-two quorum); \
                   the leader answers reads from its state while its lease is valid",
        metrics: &[
            "commit index",
            "lease expiry",
            "batch size",
            "in-flight slots",
        ],
    },
    ModeSpec {
        name: "leader-suspected",
        level: ModeLevel::Degraded,
        preserved_invariants: SAFETY,
        allowed_operations: &["propose", "read"],
        guarantees: LINEARIZABLE,
        accepted_evidence: &[
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::CommitCertificate,
        ],
        entry_triggers: &[
            "lease lapsed",
            "heartbeats missed",
            "preempted by a higher ballot",
        ],
        exit_triggers: &["lease renewed", "phase one started"],
        contract: "still linearizable, but without a lease every read goes through the log, \
                   and a new proposal may need both phases",
        metrics: &["time since last heartbeat", "lease fallbacks"],
    },
    ModeSpec {
        name: "leader-change",
        level: ModeLevel::Recovery,
        preserved_invariants: SAFETY,
        allowed_operations: &[],
        guarantees: SAFE_ONLY,
        accepted_evidence: &[
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::SnapshotMeta,
        ],
        entry_triggers: &["election timeout", "a client proposal with no leader"],
        exit_triggers: &[
            "phase one won and in-progress slots recovered",
            "a higher ballot was seen",
        ],
        contract: "requests wait (or are redirected) while a new ballot collects promises \
                   and re-proposes the slots in progress, gaps filled with no-ops",
        metrics: &["ballot", "promises", "recovered slots"],
    },
];

impl Mode for PaxosMode {
    fn all() -> &'static [Self] {
        &[
            PaxosMode::Bootstrap,
            PaxosMode::StableLeader,
            PaxosMode::LeaderSuspected,
            PaxosMode::LeaderChange,
        ]
    }

    fn spec(&self) -> &'static ModeSpec {
        &SPECS[*self as usize]
    }
}

impl fmt::Display for PaxosMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::check_mode_matrix;

    #[test]
    fn mode_matrix_obeys_the_laws_and_says_what_each_mode_allows() {
        check_mode_matrix::<PaxosMode>().unwrap();
        assert_eq!(PaxosMode::StableLeader.level(), ModeLevel::Target);
        assert!(PaxosMode::StableLeader.allows("lease read"));
        assert!(!PaxosMode::LeaderSuspected.allows("lease read"));
        assert!(PaxosMode::LeaderSuspected.allows("read"));
        assert!(!PaxosMode::LeaderChange.allows("propose"));
        assert!(!PaxosMode::Bootstrap.allows("propose"));
        for mode in PaxosMode::all() {
            assert!(mode.preserves(UNIQUENESS) && mode.preserves(AGREEMENT));
        }
    }
}

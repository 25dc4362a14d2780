//! The consensus mode matrix as data: what a node promises in each mode,
//! what it allows, and what moves it between modes.

use tessera_core::{EvidenceKind, GuaranteeVector, Mode, ModeLevel, ModeSpec};

use crate::invariants::{
    DURABLE_MONOTONIC, ELECTION_SAFETY, LEADER_APPEND_ONLY, LEADER_COMPLETENESS, LOG_MATCHING,
    STATE_MACHINE_SAFETY,
};

/// A Raft node's mode (the seed's consensus mode matrix).
///
/// | mode | level | a node is here when |
/// |---|---|---|
/// | `Bootstrap` | Floor | it has not heard from any leader since it started (or has not joined) |
/// | `Leading` | Target | it leads, has committed an entry of its term, and holds a lease |
/// | `Following` | Target | it follows a leader it heard from within the election timeout |
/// | `Degraded` | Degraded | it leads but its lease expired or is about to (heartbeats missed) |
/// | `Recovery` | Recovery | an election is under way, its leader went silent, it installs a snapshot, or it was just elected |
///
/// Every transition is reported in
/// [`Action::ModeChanged`](tessera_core::Action::ModeChanged) with its
/// trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RaftMode {
    /// Floor: safety only; no writes, no reads.
    Bootstrap,
    /// Target: leader with a valid lease; 2-RTT commits; lease reads.
    Leading,
    /// Target: a follower of a live leader; proposals forwarded or
    /// redirected.
    Following,
    /// Degraded: leader without a (comfortable) lease; no lease reads,
    /// ReadIndex only.
    Degraded,
    /// Recovery: election or state transfer; requests are redirected or
    /// refused until a leader is known.
    Recovery,
}

/// Every safety invariant, kept in every mode.
const SAFETY: &[&str] = &[
    ELECTION_SAFETY,
    LEADER_APPEND_ONLY,
    LOG_MATCHING,
    LEADER_COMPLETENESS,
    STATE_MACHINE_SAFETY,
    DURABLE_MONOTONIC,
];

const LINEARIZABLE: GuaranteeVector = GuaranteeVector::LINEARIZABLE;

/// Nothing is served, but what was committed stays committed in order.
const SAFE_ONLY: GuaranteeVector = GuaranteeVector::COMMITTED_IN_ORDER;

static MODES: [ModeSpec; 5] = [
    ModeSpec {
        name: "bootstrap",
        level: ModeLevel::Floor,
        preserved_invariants: SAFETY,
        allowed_operations: &[],
        guarantees: SAFE_ONLY,
        accepted_evidence: &[EvidenceKind::TermVote, EvidenceKind::SnapshotMeta],
        entry_triggers: &["node started", "node waiting to join a cluster"],
        exit_triggers: &["heard from a leader", "election timeout: campaigning"],
        contract: "no writes and no reads; requests are answered \"not leader\"",
        metrics: &["term", "commit index", "last applied"],
    },
    ModeSpec {
        name: "leading",
        level: ModeLevel::Target,
        preserved_invariants: SAFETY,
        allowed_operations: &[
            "propose",
            "read-index",
            "lease-read",
            "change-membership",
            "transfer-leadership",
        ],
        guarantees: LINEARIZABLE,
        accepted_evidence: &[
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::CommitCertificate,
            EvidenceKind::Lease,
            EvidenceKind::SnapshotMeta,
        ],
        entry_triggers: &["committed an entry of its term with a quorum's lease"],
        exit_triggers: &[
            "lease expired or near expiry",
            "lost contact with a quorum",
            "saw a higher term",
            "removed from the configuration",
        ],
        contract: "writes commit in two round trips; reads are linearizable, served locally under the lease",
        metrics: &[
            "commit latency",
            "replication lag per follower",
            "lease remaining",
        ],
    },
    ModeSpec {
        name: "following",
        level: ModeLevel::Target,
        preserved_invariants: SAFETY,
        allowed_operations: &["forward-proposal"],
        guarantees: LINEARIZABLE,
        accepted_evidence: &[
            EvidenceKind::TermVote,
            EvidenceKind::CommitCertificate,
            EvidenceKind::SnapshotMeta,
        ],
        entry_triggers: &["heard from a leader"],
        exit_triggers: &[
            "leader silent for an election timeout",
            "installing a snapshot",
        ],
        contract: "proposals are forwarded to the leader or answered \"not leader, try N\"",
        metrics: &["apply lag", "time since the leader was heard"],
    },
    ModeSpec {
        name: "degraded",
        level: ModeLevel::Degraded,
        preserved_invariants: SAFETY,
        allowed_operations: &[
            "propose",
            "read-index",
            "change-membership",
            "transfer-leadership",
        ],
        guarantees: LINEARIZABLE,
        accepted_evidence: &[
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::CommitCertificate,
            EvidenceKind::SnapshotMeta,
        ],
        entry_triggers: &[
            "lease expired or near expiry",
            "heartbeats missed",
            "lease given up for a leadership transfer",
        ],
        exit_triggers: &[
            "a quorum acknowledged a new round",
            "lost contact with a quorum",
        ],
        contract: "still linearizable; reads pay a quorum round trip; commits may stall",
        metrics: &["acknowledged rounds", "followers heard from"],
    },
    ModeSpec {
        name: "recovery",
        level: ModeLevel::Recovery,
        preserved_invariants: SAFETY,
        allowed_operations: &[],
        guarantees: SAFE_ONLY,
        accepted_evidence: &[
            EvidenceKind::TermVote,
            EvidenceKind::QuorumCertificate,
            EvidenceKind::SnapshotMeta,
        ],
        entry_triggers: &[
            "election timeout: campaigning",
            "leader silent for an election timeout",
            "installing a snapshot",
            "elected: committing an entry of its term",
        ],
        exit_triggers: &["heard from a leader", "committed an entry of its term"],
        contract: "requests are answered \"not leader\" or refused until a leader is established",
        metrics: &["elections started", "snapshot bytes received"],
    },
];

impl Mode for RaftMode {
    fn all() -> &'static [Self] {
        &[
            RaftMode::Bootstrap,
            RaftMode::Leading,
            RaftMode::Following,
            RaftMode::Degraded,
            RaftMode::Recovery,
        ]
    }

    fn spec(&self) -> &'static ModeSpec {
        &MODES[*self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::check_mode_matrix;

    #[test]
    fn matrix_obeys_the_laws() {
        check_mode_matrix::<RaftMode>().unwrap();
        assert!(RaftMode::Leading.allows("lease-read"));
        assert!(!RaftMode::Degraded.allows("lease-read"));
        assert!(!RaftMode::Bootstrap.allows("propose"));
        for mode in RaftMode::all() {
            assert_eq!(mode.spec().name, MODES[*mode as usize].name);
        }
    }
}

/// Why a node is in the mode it is in, in an operator's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Started,
    Joining,
    HeardFromLeader(u64),
    LeaderSilent,
    Campaigning(u64),
    InstallingSnapshot,
    Elected(u64),
    LeaseHeld,
    LeaseNearExpiry,
    LeaseGivenUp,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Started => write!(f, "node started"),
            Trigger::Joining => write!(f, "node waiting to join a cluster"),
            Trigger::HeardFromLeader(leader) => write!(f, "heard from leader {leader}"),
            Trigger::LeaderSilent => write!(f, "leader silent for an election timeout"),
            Trigger::Campaigning(term) => {
                write!(f, "election timeout: campaigning for term {term}")
            }
            Trigger::InstallingSnapshot => write!(f, "installing a snapshot from the leader"),
            Trigger::Elected(term) => {
                write!(
                    f,
                    "elected for term {term}: committing an entry of its term"
                )
            }
            Trigger::LeaseHeld => {
                write!(f, "committed an entry of its term with a quorum's lease")
            }
            Trigger::LeaseNearExpiry => {
                write!(f, "lease expired or near expiry: heartbeats missed")
            }
            Trigger::LeaseGivenUp => write!(f, "lease given up for a leadership transfer"),
        }
    }
}

impl<S: crate::StateMachine> crate::RaftNode<S> {
    fn desired_mode(&self) -> (RaftMode, Trigger) {
        use crate::node::Role;
        if self.snapshot.is_receiving() {
            return (RaftMode::Recovery, Trigger::InstallingSnapshot);
        }
        match &self.role {
            Role::Leader(leadership) => {
                if !self.committed_in_term() {
                    (RaftMode::Recovery, Trigger::Elected(self.term))
                } else if leadership.lease_given_up {
                    (RaftMode::Degraded, Trigger::LeaseGivenUp)
                } else if self.lease_remaining(self.now) > self.config.heartbeat_interval {
                    (RaftMode::Leading, Trigger::LeaseHeld)
                } else {
                    (RaftMode::Degraded, Trigger::LeaseNearExpiry)
                }
            }
            Role::PreCandidate(_) => (RaftMode::Recovery, Trigger::Campaigning(self.term + 1)),
            Role::Candidate(_) => (RaftMode::Recovery, Trigger::Campaigning(self.term)),
            Role::Follower => match self.leader {
                Some(leader) => (RaftMode::Following, Trigger::HeardFromLeader(leader)),
                None if self.mode.current() == RaftMode::Bootstrap => {
                    if self.membership.current.is_empty() {
                        (RaftMode::Bootstrap, Trigger::Joining)
                    } else {
                        (RaftMode::Bootstrap, Trigger::Started)
                    }
                }
                None => (RaftMode::Recovery, Trigger::LeaderSilent),
            },
        }
    }

    /// Reports a mode change, if the node's state calls for one.
    pub(crate) fn update_mode(&mut self, out: &mut Vec<crate::RaftAction<S>>) {
        let (mode, trigger) = self.desired_mode();
        if mode == self.mode.current() {
            return;
        }
        if let Some(transition) = self.mode.enter(mode, trigger.to_string(), self.now) {
            out.push(tessera_core::Action::ModeChanged(transition));
        }
    }
}

//! Raft's safety properties as core [`Invariant`]s over a cluster's state,
//! one per file, each citing where it is stated. The simulator checks them
//! after every step; an application can check them too.
//!
//! | invariant | source | what it checks |
//! |---|---|---|
//! | [`ElectionSafety`] | Raft §5.2, Figure 3 | at most one leader per term, ever |
//! | [`LeaderAppendOnly`] | Raft §5.3, Figure 3 | a leader never overwrites or deletes entries of its log |
//! | [`LogMatching`] | Raft §5.3, Figure 3 | logs holding an entry of the same index and term agree on it and on everything before |
//! | [`LeaderCompleteness`] | Raft §5.4, Figure 3 | an entry committed in a term is in the log of every leader of a later term |
//! | [`StateMachineSafety`] | Raft §5.4.3, Figure 3 | no two nodes apply different entries at one index |
//! | [`DurableMonotonic`] | Raft §5.1, Figure 2 | a node's term, vote and commit index never go back, in memory or on disk, across crashes |
//!
//! They keep memory between checks (what was committed, who led which
//! term), and check incrementally: a node's log is re-read only where it
//! changed, which the log's [`rewrites`](crate::RaftLog::rewrites) counter
//! tells.

use tessera_core::{Instant, Invariant, NodeId, Violation};

use crate::{RaftDisk, RaftNode, StateMachine};

mod durable_monotonic;
mod election_safety;
mod leader_append_only;
mod leader_completeness;
mod log_matching;
mod state_machine_safety;

pub use durable_monotonic::DurableMonotonic;
pub use election_safety::ElectionSafety;
pub use leader_append_only::LeaderAppendOnly;
pub use leader_completeness::LeaderCompleteness;
pub use log_matching::LogMatching;
pub use state_machine_safety::StateMachineSafety;

/// The name of [`ElectionSafety`].
pub const ELECTION_SAFETY: &str = "ELECTION SAFETY";
/// The name of [`LeaderAppendOnly`].
pub const LEADER_APPEND_ONLY: &str = "LEADER APPEND-ONLY";
/// The name of [`LogMatching`].
pub const LOG_MATCHING: &str = "LOG MATCHING";
/// The name of [`LeaderCompleteness`].
pub const LEADER_COMPLETENESS: &str = "LEADER COMPLETENESS";
/// The name of [`StateMachineSafety`].
pub const STATE_MACHINE_SAFETY: &str = "STATE MACHINE SAFETY";
/// The name of [`DurableMonotonic`].
pub const DURABLE_MONOTONIC: &str = "DURABLE STATE MONOTONIC";

/// One node as the invariants see it.
#[derive(Debug)]
pub struct NodeState<'a, S: StateMachine> {
    /// The node's id.
    pub id: NodeId,
    /// Its live state, or `None` while it is down.
    pub node: Option<&'a RaftNode<S>>,
    /// Its stable storage.
    pub disk: &'a RaftDisk<S::Command>,
    /// How many times it restarted.
    pub incarnation: u64,
}

/// A cluster as the invariants see it, at one instant.
#[derive(Debug)]
pub struct ClusterState<'a, S: StateMachine> {
    /// When (true time), for the violations' reports.
    pub at: Instant,
    /// Every node.
    pub nodes: Vec<NodeState<'a, S>>,
}

impl<'a, S: StateMachine> ClusterState<'a, S> {
    /// The running nodes.
    pub fn running(&self) -> impl Iterator<Item = &'a RaftNode<S>> + '_ {
        self.nodes.iter().filter_map(|n| n.node)
    }
}

/// Every invariant of this module, checked together.
pub struct RaftInvariants<S: StateMachine> {
    election_safety: ElectionSafety,
    leader_append_only: LeaderAppendOnly,
    log_matching: LogMatching<S::Command>,
    leader_completeness: LeaderCompleteness,
    state_machine_safety: StateMachineSafety<S::Command>,
    durable_monotonic: DurableMonotonic,
}

impl<S: StateMachine> Default for RaftInvariants<S> {
    fn default() -> Self {
        RaftInvariants {
            election_safety: ElectionSafety::default(),
            leader_append_only: LeaderAppendOnly::default(),
            log_matching: LogMatching::default(),
            leader_completeness: LeaderCompleteness::default(),
            state_machine_safety: StateMachineSafety::default(),
            durable_monotonic: DurableMonotonic::default(),
        }
    }
}

impl<S: StateMachine> RaftInvariants<S> {
    /// Every invariant, with no memory yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks every invariant, even after one fails, and returns every
    /// violation (a failing invariant does not hide the others).
    pub fn check_all(&mut self, cluster: &ClusterState<'_, S>) -> Vec<Violation> {
        [
            self.election_safety.check(cluster),
            self.leader_append_only.check(cluster),
            self.log_matching.check(cluster),
            self.leader_completeness.check(cluster),
            self.state_machine_safety.check(cluster),
            self.durable_monotonic.check(cluster),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect()
    }
}

impl<'a, S: StateMachine> Invariant<ClusterState<'a, S>> for RaftInvariants<S> {
    fn name(&self) -> &'static str {
        "RAFT SAFETY"
    }

    fn source(&self) -> &'static str {
        "Raft, Figure 3"
    }

    fn check(&mut self, cluster: &ClusterState<'a, S>) -> Result<(), Violation> {
        self.election_safety.check(cluster)?;
        self.leader_append_only.check(cluster)?;
        self.log_matching.check(cluster)?;
        self.leader_completeness.check(cluster)?;
        self.state_machine_safety.check(cluster)?;
        self.durable_monotonic.check(cluster)
    }
}

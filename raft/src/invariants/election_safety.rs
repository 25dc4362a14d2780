//! ELECTION SAFETY — "at most one leader can be elected in a given term"
//! (Raft §5.2, Figure 3).

use std::collections::BTreeMap;

use tessera_core::{Invariant, NodeId, Violation};

use super::{ClusterState, ELECTION_SAFETY};
use crate::StateMachine;

/// Remembers the leader of every term it has seen and fails when a second
/// node leads a term — at the same time or not.
#[derive(Debug, Default)]
pub struct ElectionSafety {
    leaders: BTreeMap<u64, NodeId>,
}

impl<'a, S: StateMachine> Invariant<ClusterState<'a, S>> for ElectionSafety {
    fn name(&self) -> &'static str {
        ELECTION_SAFETY
    }

    fn source(&self) -> &'static str {
        "Raft, §5.2 and Figure 3"
    }

    fn check(&mut self, cluster: &ClusterState<'a, S>) -> Result<(), Violation> {
        for node in cluster.running().filter(|n| n.is_leader()) {
            let term = node.term();
            let leader = *self.leaders.entry(term).or_insert(node.id());
            if leader != node.id() {
                return Err(Violation::new(ELECTION_SAFETY, "two leaders in one term")
                    .on_node(node.id())
                    .at(cluster.at)
                    .with("term", term)
                    .with("first leader", leader)
                    .with("second leader", node.id()));
            }
        }
        Ok(())
    }
}

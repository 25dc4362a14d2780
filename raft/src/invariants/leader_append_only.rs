//! LEADER APPEND-ONLY — "a leader never overwrites or deletes entries in
//! its log; it only appends new entries" (Raft §5.3, Figure 3).

use std::collections::BTreeMap;

use tessera_core::{Invariant, NodeId, Violation};

use super::{ClusterState, LEADER_APPEND_ONLY};
use crate::StateMachine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    term: u64,
    incarnation: u64,
    rewrites: u64,
    last_index: u64,
    last_term: u64,
}

/// Follows every leader through its term: its log may only grow at the end
/// (compaction of a prefix aside).
#[derive(Debug, Default)]
pub struct LeaderAppendOnly {
    marks: BTreeMap<NodeId, Mark>,
}

impl<'a, S: StateMachine> Invariant<ClusterState<'a, S>> for LeaderAppendOnly {
    fn name(&self) -> &'static str {
        LEADER_APPEND_ONLY
    }

    fn source(&self) -> &'static str {
        "Raft, §5.3 and Figure 3"
    }

    fn check(&mut self, cluster: &ClusterState<'a, S>) -> Result<(), Violation> {
        for state in &cluster.nodes {
            let Some(node) = state.node.filter(|n| n.is_leader()) else {
                self.marks.remove(&state.id);
                continue;
            };
            let log = node.log();
            let mark = Mark {
                term: node.term(),
                incarnation: state.incarnation,
                rewrites: log.rewrites(),
                last_index: log.last_index(),
                last_term: log.last_term(),
            };
            if let Some(before) = self.marks.get(&state.id)
                && before.term == mark.term
                && before.incarnation == mark.incarnation
            {
                let kept_last = before.last_index <= log.base().index
                    || log.term_at(before.last_index) == Some(before.last_term);
                if mark.rewrites != before.rewrites
                    || mark.last_index < before.last_index
                    || !kept_last
                {
                    return Err(Violation::new(
                        LEADER_APPEND_ONLY,
                        "a leader removed or overwrote entries of its log",
                    )
                    .on_node(state.id)
                    .at(cluster.at)
                    .with("term", mark.term)
                    .with("last index before", before.last_index)
                    .with("last index after", mark.last_index)
                    .with("truncations before", before.rewrites)
                    .with("truncations after", mark.rewrites));
                }
            }
            self.marks.insert(state.id, mark);
        }
        Ok(())
    }
}

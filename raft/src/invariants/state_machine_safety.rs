//! STATE MACHINE SAFETY — "if a server has applied a log entry at a given
//! index to its state machine, no other server will ever apply a different
//! log entry for the same index" (Raft §5.4.3, Figure 3).

use std::collections::BTreeMap;

use tessera_core::{Invariant, NodeId, Violation};

use super::{ClusterState, STATE_MACHINE_SAFETY};
use crate::{Payload, StateMachine};

/// An index applied, its term, and its payload if the log still holds it.
type Observed<'a, C> = (u64, u64, Option<&'a Payload<C>>);

/// Every entry applied anywhere, by index: its term and payload (the
/// payload is unknown for indexes a node skipped by installing a snapshot).
#[derive(Debug)]
pub struct StateMachineSafety<C> {
    applied: BTreeMap<u64, (u64, Option<Payload<C>>)>,
    /// Per node: incarnation and the applied index already checked.
    marks: BTreeMap<NodeId, (u64, u64)>,
}

impl<C> Default for StateMachineSafety<C> {
    fn default() -> Self {
        StateMachineSafety {
            applied: BTreeMap::new(),
            marks: BTreeMap::new(),
        }
    }
}

impl<'a, S: StateMachine> Invariant<ClusterState<'a, S>> for StateMachineSafety<S::Command> {
    fn name(&self) -> &'static str {
        STATE_MACHINE_SAFETY
    }

    fn source(&self) -> &'static str {
        "Raft, §5.4.3 and Figure 3"
    }

    fn check(&mut self, cluster: &ClusterState<'a, S>) -> Result<(), Violation> {
        for state in &cluster.nodes {
            let Some(node) = state.node else {
                continue;
            };
            let applied = node.applied();
            let checked = match self.marks.get(&state.id) {
                Some((incarnation, checked)) if *incarnation == state.incarnation => *checked,
                _ => 0,
            };
            if applied.index <= checked && checked != 0 {
                if applied.index < checked {
                    return Err(Violation::new(
                        STATE_MACHINE_SAFETY,
                        "a node's applied index went backwards",
                    )
                    .on_node(state.id)
                    .at(cluster.at)
                    .with("before", checked)
                    .with("after", applied.index));
                }
                continue;
            }
            let log = node.log();
            let first = (checked + 1).max(log.base().index + 1);
            // Indexes below the log's base were applied through a snapshot:
            // only the snapshot's last position is known.
            let mut observed: Vec<Observed<'_, S::Command>> = Vec::new();
            if checked < log.base().index && log.base().index <= applied.index {
                observed.push((log.base().index, log.base().term, None));
            }
            for index in first..=applied.index {
                match log.get(index) {
                    Some(entry) => observed.push((index, entry.term, Some(&entry.payload))),
                    None if index == applied.index => observed.push((index, applied.term, None)),
                    None => {}
                }
            }
            for (index, term, payload) in observed {
                match self.applied.get(&index) {
                    None => {
                        self.applied.insert(index, (term, payload.cloned()));
                    }
                    Some((seen_term, seen_payload)) => {
                        let payload_differs = matches!(
                            (seen_payload, payload),
                            (Some(a), Some(b)) if a != b
                        );
                        if *seen_term != term || payload_differs {
                            return Err(Violation::new(
                                STATE_MACHINE_SAFETY,
                                "two nodes applied different entries at one index",
                            )
                            .on_node(state.id)
                            .at(cluster.at)
                            .with("index", index)
                            .with("term applied first", seen_term)
                            .with("term applied here", term));
                        }
                        if seen_payload.is_none()
                            && let Some(payload) = payload
                        {
                            self.applied.insert(index, (term, Some(payload.clone())));
                        }
                    }
                }
            }
            self.marks
                .insert(state.id, (state.incarnation, applied.index));
        }
        Ok(())
    }
}

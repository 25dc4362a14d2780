//! LOG MATCHING — "if two logs contain an entry with the same index and
//! term, then the logs are identical in all entries up through the given
//! index" (Raft §5.3, Figure 3).
//!
//! Checked inductively: every entry `(index, term)` ever seen anywhere must
//! carry the same payload and follow the same term at `index − 1`. Two logs
//! sharing `(i, t)` then share `(i − 1, t')`, and so on down: identical
//! prefixes.

use std::collections::BTreeMap;

use tessera_core::{Invariant, NodeId, Violation};

use super::{ClusterState, LOG_MATCHING};
use crate::{Payload, StateMachine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    incarnation: u64,
    rewrites: u64,
    checked_through: u64,
}

/// Every entry seen, by index and term: its predecessor's term and payload.
#[derive(Debug)]
pub struct LogMatching<C> {
    seen: BTreeMap<(u64, u64), (Option<u64>, Payload<C>)>,
    marks: BTreeMap<NodeId, Mark>,
}

impl<C> Default for LogMatching<C> {
    fn default() -> Self {
        LogMatching {
            seen: BTreeMap::new(),
            marks: BTreeMap::new(),
        }
    }
}

impl<'a, S: StateMachine> Invariant<ClusterState<'a, S>> for LogMatching<S::Command> {
    fn name(&self) -> &'static str {
        LOG_MATCHING
    }

    fn source(&self) -> &'static str {
        "Raft, §5.3 and Figure 3"
    }

    fn check(&mut self, cluster: &ClusterState<'a, S>) -> Result<(), Violation> {
        for state in &cluster.nodes {
            let Some(node) = state.node else {
                continue;
            };
            let log = node.log();
            let fresh = Mark {
                incarnation: state.incarnation,
                rewrites: log.rewrites(),
                checked_through: log.base().index,
            };
            let mark = match self.marks.get(&state.id) {
                Some(mark)
                    if mark.incarnation == fresh.incarnation && mark.rewrites == fresh.rewrites =>
                {
                    *mark
                }
                _ => fresh,
            };
            let from = mark.checked_through.max(log.base().index) + 1;
            for index in from..=log.last_index() {
                let Some(entry) = log.get(index) else {
                    break;
                };
                let previous = log.term_at(index - 1);
                match self.seen.get(&(index, entry.term)) {
                    None => {
                        self.seen
                            .insert((index, entry.term), (previous, entry.payload.clone()));
                    }
                    Some((seen_previous, payload)) => {
                        let previous_differs =
                            matches!((seen_previous, previous), (Some(a), Some(b)) if *a != b);
                        if previous_differs || *payload != entry.payload {
                            return Err(Violation::new(
                                LOG_MATCHING,
                                "two logs hold different entries under one index and term",
                            )
                            .on_node(state.id)
                            .at(cluster.at)
                            .with("index", index)
                            .with("term", entry.term)
                            .with("previous term seen", seen_previous)
                            .with("previous term here", previous)
                            .with("payload seen", payload)
                            .with("payload here", &entry.payload));
                        }
                        if seen_previous.is_none() && previous.is_some() {
                            self.seen
                                .insert((index, entry.term), (previous, entry.payload.clone()));
                        }
                    }
                }
            }
            self.marks.insert(
                state.id,
                Mark {
                    checked_through: log.last_index(),
                    ..fresh
                },
            );
        }
        Ok(())
    }
}

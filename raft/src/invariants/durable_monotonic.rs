//! DURABLE STATE MONOTONIC — a node's current term only grows, it votes at
//! most once per term, and its commit index never goes back (Raft §5.1 and
//! the persistent state of Figure 2). Checked on the live state within an
//! incarnation and on the durable hard state across crashes: a restart must
//! never bring back an older term, unsay a vote or forget a commit.

use std::collections::BTreeMap;

use tessera_core::{Invariant, NodeId, Violation};
use tessera_storage::LogStore;

use super::{ClusterState, DURABLE_MONOTONIC};
use crate::StateMachine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    term: u64,
    vote: Option<NodeId>,
    commit: u64,
}

/// The last term, vote and commit seen per node, live and durable.
#[derive(Debug, Default)]
pub struct DurableMonotonic {
    durable: BTreeMap<NodeId, Seen>,
    live: BTreeMap<NodeId, (u64, Seen)>,
}

fn compare(before: Seen, after: Seen, what: &'static str) -> Result<(), Violation> {
    let fail = |message: &str| {
        Err(
            Violation::new(DURABLE_MONOTONIC, format!("{what}: {message}"))
                .with("before", before)
                .with("after", after),
        )
    };
    if after.term < before.term {
        return fail("the term went backwards");
    }
    if after.term == before.term && before.vote.is_some() && after.vote != before.vote {
        return fail("the vote changed within a term");
    }
    if after.commit < before.commit {
        return fail("the commit index went backwards");
    }
    Ok(())
}

impl<'a, S: StateMachine> Invariant<ClusterState<'a, S>> for DurableMonotonic {
    fn name(&self) -> &'static str {
        DURABLE_MONOTONIC
    }

    fn source(&self) -> &'static str {
        "Raft, §5.1 and Figure 2"
    }

    fn check(&mut self, cluster: &ClusterState<'a, S>) -> Result<(), Violation> {
        for state in &cluster.nodes {
            if let Some(hard) = state.disk.log.hard_state() {
                let now = Seen {
                    term: hard.term,
                    vote: hard.vote,
                    commit: hard.commit,
                };
                if let Some(before) = self.durable.insert(state.id, now) {
                    compare(before, now, "on disk")
                        .map_err(|v| v.on_node(state.id).at(cluster.at))?;
                }
            }
            if let Some(node) = state.node {
                let now = Seen {
                    term: node.term(),
                    vote: node.vote(),
                    commit: node.commit_index(),
                };
                if let Some((incarnation, before)) =
                    self.live.insert(state.id, (state.incarnation, now))
                {
                    let before = if incarnation == state.incarnation {
                        before
                    } else {
                        // Across a crash only what was durable must survive.
                        Seen {
                            commit: 0,
                            ..self.durable.get(&state.id).copied().unwrap_or(Seen {
                                term: 0,
                                vote: None,
                                commit: 0,
                            })
                        }
                    };
                    compare(before, now, "in memory")
                        .map_err(|v| v.on_node(state.id).at(cluster.at))?;
                }
            }
        }
        Ok(())
    }
}

//! LEADER COMPLETENESS — "if a log entry is committed in a given term, then
//! that entry will be present in the logs of the leaders for all higher
//! -numbered terms" (Raft §5.4, Figure 3).
//!
//! An index is recorded committed, with its entry's term and the term in
//! which it was committed, the first time any node's commit index covers
//! it. Every leader of a later term must then hold that entry (by Log
//! Matching, holding the highest such entry is holding them all). Two
//! different entries committed at one index are reported too.

use std::collections::BTreeMap;

use tessera_core::{Invariant, Violation};

use super::{ClusterState, LEADER_COMPLETENESS};
use crate::StateMachine;

/// Committed entries as first observed.
#[derive(Debug, Default)]
pub struct LeaderCompleteness {
    /// index → (entry term, term in which the commit was observed).
    committed: BTreeMap<u64, (u64, u64)>,
    /// For each commit term, the highest index committed in it.
    highest_by_commit_term: BTreeMap<u64, u64>,
}

impl<'a, S: StateMachine> Invariant<ClusterState<'a, S>> for LeaderCompleteness {
    fn name(&self) -> &'static str {
        LEADER_COMPLETENESS
    }

    fn source(&self) -> &'static str {
        "Raft, §5.4 and Figure 3"
    }

    fn check(&mut self, cluster: &ClusterState<'a, S>) -> Result<(), Violation> {
        for node in cluster.running() {
            let log = node.log();
            let recorded = self.committed.keys().next_back().copied().unwrap_or(0);
            let from = recorded.max(log.base().index) + 1;
            for index in from..=node.commit_index() {
                let Some(term) = log.term_at(index) else {
                    break;
                };
                self.committed.insert(index, (term, node.term()));
                let highest = self.highest_by_commit_term.entry(node.term()).or_insert(0);
                *highest = (*highest).max(index);
            }
            // Entries this node committed that were recorded already must
            // be the same (checked where its log still holds them).
            let low = log.base().index.max(1);
            let high = node.commit_index().min(recorded);
            if low <= high {
                for (index, (term, _)) in self.committed.range(low..=high) {
                    if log.term_at(*index).is_some_and(|t| t != *term) {
                        return Err(Violation::new(
                            LEADER_COMPLETENESS,
                            "two different entries committed at one index",
                        )
                        .on_node(node.id())
                        .at(cluster.at)
                        .with("index", index)
                        .with("term committed first", term)
                        .with("term here", log.term_at(*index)));
                    }
                }
            }
        }
        for leader in cluster.running().filter(|n| n.is_leader()) {
            let term = leader.term();
            let Some(index) = self
                .highest_by_commit_term
                .range(..term)
                .map(|(_, index)| *index)
                .max()
            else {
                continue;
            };
            let Some((entry_term, commit_term)) = self.committed.get(&index).copied() else {
                continue;
            };
            let log = leader.log();
            let holds = index < log.base().index || log.term_at(index) == Some(entry_term);
            if !holds {
                return Err(Violation::new(
                    LEADER_COMPLETENESS,
                    "a leader lacks an entry committed in an earlier term",
                )
                .on_node(leader.id())
                .at(cluster.at)
                .with("leader term", term)
                .with("index", index)
                .with("entry term", entry_term)
                .with("committed in term", commit_term)
                .with("leader's term there", log.term_at(index))
                .with("leader's last index", log.last_index()));
            }
        }
        Ok(())
    }
}

//! AGREEMENT: no two learners learn different values for one instance.

use std::collections::BTreeMap;
use std::fmt::Debug;

use tessera_core::{Invariant, Violation};

use super::{AGREEMENT, ClusterView, Cursors, Decision, ObservedLearner};

/// AGREEMENT (Lamport, "Paxos Made Simple", §2.1: "a process never learns
/// that a value has been chosen unless it actually has been"; with
/// UNIQUENESS, no two learners learn different values): every decision any
/// learner applies for an instance equals the first one applied for it,
/// on any node, in any incarnation.
#[derive(Debug)]
pub struct Agreement<V> {
    cursors: Cursors,
    decided: BTreeMap<u64, V>,
}

impl<V> Default for Agreement<V> {
    fn default() -> Self {
        Agreement {
            cursors: Cursors::default(),
            decided: BTreeMap::new(),
        }
    }
}

impl<V> Agreement<V> {
    /// The invariant, with nothing learned yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value learned for `instance`, if any learner applied one.
    pub fn decided(&self, instance: u64) -> Option<&V> {
        self.decided.get(&instance)
    }

    /// How many instances some learner applied.
    pub fn decided_count(&self) -> usize {
        self.decided.len()
    }
}

impl<'a, P, D> Invariant<ClusterView<'a, P, D>> for Agreement<P::Value>
where
    P: ObservedLearner,
    P::Value: Clone + Eq + Debug,
{
    fn name(&self) -> &'static str {
        AGREEMENT
    }

    fn source(&self) -> &'static str {
        "Lamport, Paxos Made Simple (2001), §2.1"
    }

    fn check(&mut self, cluster: &ClusterView<'a, P, D>) -> Result<(), Violation> {
        for view in &cluster.replicas {
            let Some(node) = view.node else { continue };
            let events =
                self.cursors
                    .read(AGREEMENT, view.id, view.incarnation, node.decisions())?;
            for event in events {
                let Decision::Applied { instance, value } = event else {
                    continue;
                };
                match self.decided.get(instance) {
                    None => {
                        self.decided.insert(*instance, value.clone());
                    }
                    Some(first) if first == value => {}
                    Some(first) => {
                        return Err(Violation::new(
                            AGREEMENT,
                            "two learners applied different values for one instance",
                        )
                        .on_node(view.id)
                        .at(cluster.now)
                        .with("instance", instance)
                        .with("applied", value)
                        .with("applied elsewhere", first));
                    }
                }
            }
        }
        Ok(())
    }
}

//! TOTAL ORDER: every replica executes the same sequence of decisions.

use std::collections::BTreeMap;
use std::fmt::Debug;

use tessera_core::{Invariant, NodeId, Violation};

use super::{ClusterView, Cursors, Decision, ObservedLearner, TOTAL_ORDER};

/// TOTAL ORDER (Lamport, "Paxos Made Simple", §3: servers "execute
/// commands in sequence" of their instance numbers; Schneider's state
/// machine approach): each replica applies instance after instance with
/// no gap and no repetition — a snapshot may stand for a prefix — and the
/// value it applies at each instance is the one every other replica
/// applied there. So every replica's executed sequence is a prefix of one
/// common sequence.
#[derive(Debug)]
pub struct TotalOrder<V> {
    cursors: Cursors,
    sequence: BTreeMap<u64, V>,
    last_applied: BTreeMap<(NodeId, u64), u64>,
}

impl<V> Default for TotalOrder<V> {
    fn default() -> Self {
        TotalOrder {
            cursors: Cursors::default(),
            sequence: BTreeMap::new(),
            last_applied: BTreeMap::new(),
        }
    }
}

impl<V> TotalOrder<V> {
    /// The invariant, with nothing executed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The longest instance any replica executed.
    pub fn executed_max(&self) -> Option<u64> {
        self.sequence.keys().next_back().copied()
    }
}

impl<'a, P, D> Invariant<ClusterView<'a, P, D>> for TotalOrder<P::Value>
where
    P: ObservedLearner,
    P::Value: Clone + Eq + Debug,
{
    fn name(&self) -> &'static str {
        TOTAL_ORDER
    }

    fn source(&self) -> &'static str {
        "Lamport, Paxos Made Simple (2001), §3; Schneider, ACM Computing Surveys (1990)"
    }

    fn check(&mut self, cluster: &ClusterView<'a, P, D>) -> Result<(), Violation> {
        for view in &cluster.replicas {
            let Some(node) = view.node else { continue };
            let key = (view.id, view.incarnation);
            let events =
                self.cursors
                    .read(TOTAL_ORDER, view.id, view.incarnation, node.decisions())?;
            for event in events {
                let violation = |message: &str| {
                    Violation::new(TOTAL_ORDER, message.to_string())
                        .on_node(view.id)
                        .at(cluster.now)
                };
                let last = self.last_applied.get(&key).copied();
                match event {
                    Decision::Restored { through } => {
                        if last.is_some_and(|last| *through < last) {
                            return Err(violation("a snapshot took the state back")
                                .with("restored through", through)
                                .with("applied through", last));
                        }
                        self.last_applied.insert(key, *through);
                    }
                    Decision::Applied { instance, value } => {
                        if let Some(last) = last
                            && *instance != last + 1
                        {
                            return Err(violation("an instance was applied out of order")
                                .with("instance", instance)
                                .with("previous", last));
                        }
                        match self.sequence.get(instance) {
                            None => {
                                self.sequence.insert(*instance, value.clone());
                            }
                            Some(other) if other == value => {}
                            Some(other) => {
                                return Err(violation(
                                    "replicas executed different commands at one position",
                                )
                                .with("instance", instance)
                                .with("executed", value)
                                .with("executed elsewhere", other));
                            }
                        }
                        self.last_applied.insert(key, *instance);
                    }
                }
            }
        }
        Ok(())
    }
}

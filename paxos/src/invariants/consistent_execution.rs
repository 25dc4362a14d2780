//! CONSISTENT EXECUTION: interfering commands execute in the same order on
//! every replica (EPaxos).

use std::collections::BTreeMap;

use tessera_core::{Invariant, NodeId, Violation};

use super::{CONSISTENT_EXECUTION, ClusterView, Cursors};
use crate::epaxos::{Epaxos, EpaxosDecision, InstanceId, Interfering};
use crate::multi::StateMachine;

/// CONSISTENT EXECUTION (Moraru et al., "There Is More Consensus in
/// Egalitarian Parliaments", SOSP 2013, §4.4, Theorem "execution
/// consistency": if two interfering commands are successfully committed,
/// they are executed in the same order by every replica).
///
/// Commands interfere when they have the same key, so the property is
/// that every replica executes each key's commands in one common order.
/// The checker keeps that order per key — as the first replica to reach
/// each position executed it — and checks that every replica (in every
/// incarnation: a restarted replica executes from the start again)
/// follows it, without skipping or repeating a command.
#[derive(Debug)]
pub struct ConsistentExecution<K> {
    cursors: Cursors,
    order: BTreeMap<K, Vec<InstanceId>>,
    positions: BTreeMap<(NodeId, u64, K), usize>,
}

impl<K> Default for ConsistentExecution<K> {
    fn default() -> Self {
        ConsistentExecution {
            cursors: Cursors::default(),
            order: BTreeMap::new(),
            positions: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone + std::fmt::Debug> ConsistentExecution<K> {
    /// The invariant, with nothing executed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The common execution order of `key`'s commands so far.
    pub fn order(&self, key: &K) -> &[InstanceId] {
        self.order.get(key).map_or(&[], Vec::as_slice)
    }

    /// Takes one execution into account: `replica`, in `incarnation`,
    /// executed `instance`, a command on `key`.
    ///
    /// # Errors
    ///
    /// A [`Violation`] of [`CONSISTENT_EXECUTION`].
    pub fn observe(
        &mut self,
        replica: NodeId,
        incarnation: u64,
        key: K,
        instance: InstanceId,
    ) -> Result<(), Violation> {
        let order = self.order.entry(key.clone()).or_default();
        let position = self
            .positions
            .entry((replica, incarnation, key.clone()))
            .or_insert(0);
        match order.get(*position) {
            None => order.push(instance),
            Some(expected) if *expected == instance => {}
            Some(expected) => {
                return Err(Violation::new(
                    CONSISTENT_EXECUTION,
                    "interfering commands executed in different orders",
                )
                .on_node(replica)
                .with("key", key)
                .with("position", *position)
                .with("executed", instance)
                .with("executed elsewhere", expected));
            }
        }
        *position += 1;
        Ok(())
    }
}

impl<'a, S, D> Invariant<ClusterView<'a, Epaxos<S>, D>>
    for ConsistentExecution<<S::Command as Interfering>::Key>
where
    S: StateMachine,
    S::Command: Interfering,
{
    fn name(&self) -> &'static str {
        CONSISTENT_EXECUTION
    }

    fn source(&self) -> &'static str {
        "Moraru, Andersen, Kaminsky, SOSP 2013, §4.4 (execution consistency)"
    }

    fn check(&mut self, cluster: &ClusterView<'a, Epaxos<S>, D>) -> Result<(), Violation> {
        for view in &cluster.replicas {
            let Some(node) = view.node else { continue };
            let executed: Vec<(InstanceId, Option<S::Command>)> = self
                .cursors
                .read(
                    CONSISTENT_EXECUTION,
                    view.id,
                    view.incarnation,
                    node.decisions(),
                )?
                .filter_map(|decision| match decision {
                    EpaxosDecision::Executed { instance, command } => {
                        Some((*instance, command.clone()))
                    }
                    EpaxosDecision::Committed { .. } => None,
                })
                .collect();
            for (instance, command) in executed {
                // A no-op interferes with nothing.
                let Some(command) = command else { continue };
                self.observe(
                    view.id,
                    view.incarnation,
                    command.interference_key(),
                    instance,
                )
                .map_err(|v| v.at(cluster.now))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_replicas_executing_a_key_in_different_orders_are_caught() {
        let mut check = ConsistentExecution::new();
        let a = InstanceId::new(1, 1);
        let b = InstanceId::new(2, 1);
        check.observe(1, 0, "x", a).unwrap();
        check.observe(1, 0, "x", b).unwrap();
        check.observe(2, 0, "x", a).unwrap();
        // Another key's order is independent.
        check.observe(2, 0, "y", b).unwrap();
        let violation = check.observe(3, 0, "x", b).unwrap_err();
        assert_eq!(violation.invariant, CONSISTENT_EXECUTION);
        // A restarted replica starts over and must follow the same order.
        check.observe(1, 1, "x", a).unwrap();
        assert!(
            check.observe(1, 1, "x", a).is_err(),
            "executing twice is caught"
        );
    }
}

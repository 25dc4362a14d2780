//! AGREEMENT and VALIDITY for EPaxos instances.

use std::collections::{BTreeMap, BTreeSet};

use tessera_core::{Invariant, Violation};

use super::{AGREEMENT, ClusterView, Cursors, VALIDITY};
use crate::epaxos::{Attributes, Epaxos, EpaxosDecision, InstanceId, Interfering};
use crate::multi::StateMachine;

/// AGREEMENT and VALIDITY for EPaxos (Moraru et al., SOSP 2013, §4.4:
/// "Consistency: two replicas can never have different committed
/// attributes for the same instance"; "Nontriviality: any command
/// committed by any replica must have been proposed"): every replica that
/// commits an instance commits the same command with the same attributes,
/// and every committed command was received from a client by some
/// replica (a recovered no-op carries none).
#[derive(Debug)]
pub struct InstanceAgreement<C> {
    proposal_cursors: Cursors,
    decision_cursors: Cursors,
    proposed: BTreeSet<C>,
    committed: BTreeMap<InstanceId, (Option<C>, Attributes)>,
}

impl<C> Default for InstanceAgreement<C> {
    fn default() -> Self {
        InstanceAgreement {
            proposal_cursors: Cursors::default(),
            decision_cursors: Cursors::default(),
            proposed: BTreeSet::new(),
            committed: BTreeMap::new(),
        }
    }
}

impl<C> InstanceAgreement<C> {
    /// The invariant, with nothing committed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many instances some replica committed.
    pub fn committed_count(&self) -> usize {
        self.committed.len()
    }
}

impl<'a, S, D> Invariant<ClusterView<'a, Epaxos<S>, D>> for InstanceAgreement<S::Command>
where
    S: StateMachine,
    S::Command: Interfering + Ord,
{
    fn name(&self) -> &'static str {
        AGREEMENT
    }

    fn source(&self) -> &'static str {
        "Moraru, Andersen, Kaminsky, SOSP 2013, §4.4 (consistency, nontriviality)"
    }

    fn check(&mut self, cluster: &ClusterView<'a, Epaxos<S>, D>) -> Result<(), Violation> {
        for view in &cluster.replicas {
            let Some(node) = view.node else { continue };
            for command in
                self.proposal_cursors
                    .read(VALIDITY, view.id, view.incarnation, node.proposals())?
            {
                self.proposed.insert(command.clone());
            }
        }
        for view in &cluster.replicas {
            let Some(node) = view.node else { continue };
            let events = self.decision_cursors.read(
                AGREEMENT,
                view.id,
                view.incarnation,
                node.decisions(),
            )?;
            for event in events {
                let EpaxosDecision::Committed {
                    instance,
                    command,
                    attributes,
                } = event
                else {
                    continue;
                };
                if let Some(command) = command
                    && !self.proposed.contains(command)
                {
                    return Err(
                        Violation::new(VALIDITY, "a committed command was never proposed")
                            .on_node(view.id)
                            .at(cluster.now)
                            .with("instance", instance)
                            .with("command", command),
                    );
                }
                match self.committed.get(instance) {
                    None => {
                        self.committed
                            .insert(*instance, (command.clone(), attributes.clone()));
                    }
                    Some((c, a)) if c == command && a == attributes => {}
                    Some(first) => {
                        return Err(Violation::new(
                            AGREEMENT,
                            "an instance was committed with different commands or attributes",
                        )
                        .on_node(view.id)
                        .at(cluster.now)
                        .with("instance", instance)
                        .with("committed", (command, attributes))
                        .with("committed elsewhere", first));
                    }
                }
            }
        }
        Ok(())
    }
}

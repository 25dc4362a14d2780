//! VALIDITY: only a proposed value can be chosen.

use std::collections::BTreeSet;
use std::fmt::Debug;

use tessera_core::{Invariant, Violation};

use super::{ClusterView, Cursors, Decision, ObservedLearner, VALIDITY};

/// VALIDITY (Lamport, "Paxos Made Simple", §2.1: "only a value that has
/// been proposed may be chosen"): every client command inside an applied
/// value was received from a client by some node before. No-ops, which
/// fill the gaps a failed leader leaves, carry no command.
///
/// Proposals are read from every node after every step, before decisions,
/// so a command received and decided within one step still counts as
/// proposed first.
#[derive(Debug)]
pub struct Validity<C> {
    proposal_cursors: Cursors,
    decision_cursors: Cursors,
    proposed: BTreeSet<C>,
}

impl<C> Default for Validity<C> {
    fn default() -> Self {
        Validity {
            proposal_cursors: Cursors::default(),
            decision_cursors: Cursors::default(),
            proposed: BTreeSet::new(),
        }
    }
}

impl<C> Validity<C> {
    /// The invariant, with nothing proposed yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<'a, P, D> Invariant<ClusterView<'a, P, D>> for Validity<P::Command>
where
    P: ObservedLearner,
    P::Command: Clone + Ord + Debug,
{
    fn name(&self) -> &'static str {
        VALIDITY
    }

    fn source(&self) -> &'static str {
        "Lamport, Paxos Made Simple (2001), §2.1"
    }

    fn check(&mut self, cluster: &ClusterView<'a, P, D>) -> Result<(), Violation> {
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
                VALIDITY,
                view.id,
                view.incarnation,
                node.decisions(),
            )?;
            for event in events {
                let Decision::Applied { instance, value } = event else {
                    continue;
                };
                for command in P::commands_of(value) {
                    if !self.proposed.contains(&command) {
                        return Err(Violation::new(
                            VALIDITY,
                            "a decided command was never proposed by a client",
                        )
                        .on_node(view.id)
                        .at(cluster.now)
                        .with("instance", instance)
                        .with("command", command));
                    }
                }
            }
        }
        Ok(())
    }
}

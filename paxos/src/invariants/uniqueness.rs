//! UNIQUENESS: at most one value is chosen per instance.

use std::collections::BTreeMap;
use std::fmt::Debug;

use tessera_core::{Invariant, NodeId, Violation};
use tessera_quorum::{MemberSet, QuorumSystem};

use super::{Acceptance, ClusterView, Cursors, ObservedAcceptor, UNIQUENESS};
use crate::{Ballot, PaxosQuorums};

/// UNIQUENESS (Lamport, "Paxos Made Simple", §2.1 safety requirements:
/// "only a single value is chosen"), checked on the acceptors' durable
/// state: a value is *chosen* in an instance once a phase-two quorum of
/// acceptors has durably accepted it in the same ballot.
///
/// The checker also catches the two ways Paxos's proof can break before
/// two values are actually chosen:
///
/// - two different values accepted in one ballot (a ballot proposes one
///   value per instance, §2.2);
/// - once a value is chosen in ballot `b`, an acceptance in a ballot at or
///   above `b` of another value (P2b of §2.2, the property the proof
///   establishes by induction on ballots).
///
/// An acceptor's acceptance counts only once durable: what a crash can
/// take away was never part of a quorum.
#[derive(Debug)]
pub struct Uniqueness<V> {
    /// Each configuration and the first instance it governs, ascending.
    configurations: Vec<(u64, PaxosQuorums)>,
    cursors: Cursors,
    instances: BTreeMap<u64, InstanceRecord<V>>,
}

#[derive(Debug)]
struct InstanceRecord<V> {
    ballots: BTreeMap<Ballot, (V, MemberSet)>,
    chosen: Option<(Ballot, V)>,
}

impl<V> Uniqueness<V> {
    /// The invariant for one configuration, from instance 0 on.
    pub fn new(quorums: PaxosQuorums) -> Self {
        Uniqueness {
            configurations: vec![(0, quorums)],
            cursors: Cursors::default(),
            instances: BTreeMap::new(),
        }
    }

    /// Another configuration, governing the instances from `first_instance`
    /// on (after a reconfiguration).
    #[must_use]
    pub fn with_configuration(mut self, first_instance: u64, quorums: PaxosQuorums) -> Self {
        self.configurations.push((first_instance, quorums));
        self.configurations.sort_by_key(|(first, _)| *first);
        self
    }

    /// The value chosen in `instance`, and the ballot it was first chosen
    /// in, as far as the checker has seen.
    pub fn chosen(&self, instance: u64) -> Option<&(Ballot, V)> {
        self.instances.get(&instance)?.chosen.as_ref()
    }

    /// How many instances have a chosen value.
    pub fn chosen_count(&self) -> usize {
        self.instances
            .values()
            .filter(|r| r.chosen.is_some())
            .count()
    }

    fn quorums(&self, instance: u64) -> &PaxosQuorums {
        let position = self
            .configurations
            .partition_point(|(first, _)| *first <= instance);
        &self.configurations[position.saturating_sub(1)].1
    }
}

impl<V: Clone + Eq + Debug> Uniqueness<V> {
    /// Takes one durable acceptance into account.
    ///
    /// # Errors
    ///
    /// A [`Violation`] of [`UNIQUENESS`].
    pub fn observe(
        &mut self,
        acceptor: NodeId,
        acceptance: &Acceptance<V>,
    ) -> Result<(), Violation> {
        let quorums = self.quorums(acceptance.instance).clone();
        let Some(position) = quorums.position(acceptor) else {
            return Ok(());
        };
        let record = self
            .instances
            .entry(acceptance.instance)
            .or_insert_with(|| InstanceRecord {
                ballots: BTreeMap::new(),
                chosen: None,
            });
        let violation = |message: &str| {
            Violation::new(UNIQUENESS, message.to_string())
                .on_node(acceptor)
                .with("instance", acceptance.instance)
                .with("ballot", acceptance.ballot)
                .with("value", &acceptance.value)
        };
        if let Some((chosen_ballot, chosen)) = &record.chosen
            && acceptance.ballot >= *chosen_ballot
            && acceptance.value != *chosen
        {
            return Err(violation(
                "a different value was accepted at or above the ballot a value was chosen in (P2b)",
            )
            .with("chosen ballot", chosen_ballot)
            .with("chosen", chosen));
        }
        let (value, voters) = record
            .ballots
            .entry(acceptance.ballot)
            .or_insert_with(|| (acceptance.value.clone(), MemberSet::EMPTY));
        if *value != acceptance.value {
            return Err(violation("two values were accepted in one ballot").with("other", &*value));
        }
        voters.insert(position);
        if quorums.is_write_quorum(*voters) {
            match &record.chosen {
                Some((_, chosen)) if *chosen != acceptance.value => {
                    return Err(
                        violation("two different values were chosen").with("chosen before", chosen)
                    );
                }
                Some(_) => {}
                None => record.chosen = Some((acceptance.ballot, acceptance.value.clone())),
            }
        }
        Ok(())
    }
}

impl<'a, P, D> Invariant<ClusterView<'a, P, D>> for Uniqueness<D::Value>
where
    D: ObservedAcceptor,
    D::Value: Clone + Eq + Debug,
{
    fn name(&self) -> &'static str {
        UNIQUENESS
    }

    fn source(&self) -> &'static str {
        "Lamport, Paxos Made Simple (2001), §2.1–2.2"
    }

    fn check(&mut self, cluster: &ClusterView<'a, P, D>) -> Result<(), Violation> {
        for view in &cluster.replicas {
            // Durable state outlives incarnations: one cursor per node.
            let events: Vec<Acceptance<D::Value>> = self
                .cursors
                .read(UNIQUENESS, view.id, 0, view.durable.acceptances())?
                .cloned()
                .collect();
            for acceptance in &events {
                self.observe(view.id, acceptance)
                    .map_err(|v| v.at(cluster.now))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(instance: u64, round: u64, value: &'static str) -> Acceptance<&'static str> {
        Acceptance {
            instance,
            ballot: Ballot::new(round, 1),
            value,
        }
    }

    #[test]
    fn a_second_chosen_value_is_caught() {
        let mut uniqueness = Uniqueness::new(PaxosQuorums::majority([1, 2, 3]).unwrap());
        uniqueness.observe(1, &accept(7, 1, "a")).unwrap();
        uniqueness.observe(2, &accept(7, 1, "a")).unwrap();
        assert_eq!(uniqueness.chosen(7), Some(&(Ballot::new(1, 1), "a")));
        // A broken proposer re-proposes "b" in a higher ballot (it ignored
        // the promise that reported "a"): caught at the first acceptance.
        let violation = uniqueness.observe(3, &accept(7, 2, "b")).unwrap_err();
        assert_eq!(violation.invariant, UNIQUENESS);
        assert!(violation.message.contains("P2b"), "{violation}");
    }

    #[test]
    fn two_values_in_one_ballot_are_caught_and_instances_are_independent() {
        let mut uniqueness = Uniqueness::new(PaxosQuorums::majority([1, 2, 3]).unwrap());
        uniqueness.observe(1, &accept(1, 1, "a")).unwrap();
        uniqueness.observe(1, &accept(2, 1, "b")).unwrap();
        let violation = uniqueness.observe(2, &accept(1, 1, "c")).unwrap_err();
        assert!(violation.message.contains("one ballot"), "{violation}");
    }

    #[test]
    fn flexible_phase_two_quorums_decide_what_is_chosen() {
        let quorums = PaxosQuorums::flexible([1, 2, 3, 4, 5], 4, 2).unwrap();
        let mut uniqueness = Uniqueness::new(quorums);
        uniqueness.observe(4, &accept(0, 1, "x")).unwrap();
        assert!(uniqueness.chosen(0).is_none());
        uniqueness.observe(5, &accept(0, 1, "x")).unwrap();
        assert!(
            uniqueness.chosen(0).is_some(),
            "two of five is a phase-two quorum"
        );
    }
}

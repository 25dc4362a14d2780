//! UNIQUENESS for EPaxos instances, from the replicas' durable records.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use tessera_core::{Invariant, NodeId, Violation};

use super::{ClusterView, Cursors, UNIQUENESS};
use crate::Ballot;
use crate::epaxos::{Attributes, EpaxosDisk, InstanceId, Status};

type Value<C> = (Option<C>, Attributes);

/// UNIQUENESS for EPaxos (Moraru et al., SOSP 2013, §4.4, and the
/// technical report CMU-PDL-13-111, Theorem 1), read from the replicas'
/// durable records alone — so it checks the recovery rule independently of
/// what any replica believes it committed.
///
/// A value (a command with its attributes) is *chosen* for an instance
/// once a majority holds it durably as an acceptance in one ballot, or any
/// replica holds a durable commit record of it; at most one value may ever
/// be chosen per instance.
///
/// The fast path adds one more rule. Once `N − 1` replicas (the command
/// leader's own record included) durably pre-accepted the leader's
/// attributes unchanged in its ballot, the leader *may* have committed them
/// on the fast path — unless its own durable record shows it gave the fast
/// path up: an acceptance in its ballot (the slow path, written before any
/// `Accept` left it), or a promise of a recovery's higher ballot while not
/// committed (after which it never commits in its own ballot). As long as
/// neither shows, any chosen value must be the fast quorum's: a recovery
/// that picks other attributes is caught here, whether or not the leader
/// had time to commit.
#[derive(Debug)]
pub struct InstanceUniqueness<C> {
    members: usize,
    cursors: Cursors,
    fast: BTreeMap<InstanceId, BTreeMap<Value<C>, BTreeSet<NodeId>>>,
    fast_candidate: BTreeMap<InstanceId, Value<C>>,
    /// Instances whose command leader gave the fast path up.
    abandoned: BTreeSet<InstanceId>,
    accepted: BTreeMap<(InstanceId, Ballot), BTreeMap<Value<C>, BTreeSet<NodeId>>>,
    chosen: BTreeMap<InstanceId, Value<C>>,
}

impl<C> InstanceUniqueness<C> {
    /// The invariant for `members` replicas.
    pub fn new(members: usize) -> Self {
        InstanceUniqueness {
            members,
            cursors: Cursors::default(),
            fast: BTreeMap::new(),
            fast_candidate: BTreeMap::new(),
            abandoned: BTreeSet::new(),
            accepted: BTreeMap::new(),
            chosen: BTreeMap::new(),
        }
    }

    /// How many instances have a chosen value.
    pub fn chosen_count(&self) -> usize {
        self.chosen.len()
    }
}

impl<C: Clone + Ord + Debug> InstanceUniqueness<C> {
    fn check_against_fast(
        &self,
        replica: NodeId,
        instance: InstanceId,
        value: &Value<C>,
    ) -> Result<(), Violation> {
        match self.fast_candidate.get(&instance) {
            Some(fast) if fast != value && !self.abandoned.contains(&instance) => {
                Err(Violation::new(
                    UNIQUENESS,
                    "a value other than the one a fast quorum pre-accepted was chosen, \
                 though the command leader never gave the fast path up",
                )
                .on_node(replica)
                .with("instance", instance)
                .with("chosen", value)
                .with("fast-path value", fast))
            }
            _ => Ok(()),
        }
    }

    fn choose(
        &mut self,
        replica: NodeId,
        instance: InstanceId,
        value: &Value<C>,
    ) -> Result<(), Violation> {
        self.check_against_fast(replica, instance, value)?;
        match self.chosen.get(&instance) {
            None => {
                self.chosen.insert(instance, value.clone());
                Ok(())
            }
            Some(chosen) if chosen == value => Ok(()),
            Some(chosen) => Err(Violation::new(
                UNIQUENESS,
                "two different values were chosen for one instance",
            )
            .on_node(replica)
            .with("instance", instance)
            .with("chosen", value)
            .with("chosen before", chosen)),
        }
    }

    /// Takes one durable record into account.
    ///
    /// # Errors
    ///
    /// A [`Violation`] of [`UNIQUENESS`].
    pub fn observe(
        &mut self,
        replica: NodeId,
        instance: InstanceId,
        record: &crate::epaxos::InstanceRecord<C>,
    ) -> Result<(), Violation> {
        let value = (record.command.clone(), record.attributes.clone());
        let fast_quorum = self.members.saturating_sub(1).max(1);
        let majority = self.members / 2 + 1;
        if replica == instance.replica {
            let slow = record.status == Some(Status::Accepted) && record.accepted_ballot.is_zero();
            let superseded = !record.promised.is_zero() && !record.is_committed();
            if slow || superseded {
                self.abandoned.insert(instance);
            }
        }
        match record.status {
            Some(Status::PreAccepted) if record.accepted_ballot.is_zero() && record.unchanged => {
                let voters = self
                    .fast
                    .entry(instance)
                    .or_default()
                    .entry(value.clone())
                    .or_default();
                voters.insert(replica);
                if voters.len() >= fast_quorum && !self.fast_candidate.contains_key(&instance) {
                    self.fast_candidate.insert(instance, value.clone());
                    if let Some(chosen) = self.chosen.get(&instance).cloned() {
                        self.check_against_fast(replica, instance, &chosen)?;
                    }
                }
            }
            Some(Status::Accepted) => {
                let voters = self
                    .accepted
                    .entry((instance, record.accepted_ballot))
                    .or_default()
                    .entry(value.clone())
                    .or_default();
                voters.insert(replica);
                if voters.len() >= majority {
                    self.choose(replica, instance, &value)?;
                }
            }
            Some(Status::Committed) => self.choose(replica, instance, &value)?,
            _ => {}
        }
        Ok(())
    }
}

impl<'a, P, C> Invariant<ClusterView<'a, P, EpaxosDisk<C>>> for InstanceUniqueness<C>
where
    C: Clone + Ord + Debug,
{
    fn name(&self) -> &'static str {
        UNIQUENESS
    }

    fn source(&self) -> &'static str {
        "Moraru, Andersen, Kaminsky, SOSP 2013, §4.4; CMU-PDL-13-111, Theorem 1"
    }

    fn check(&mut self, cluster: &ClusterView<'a, P, EpaxosDisk<C>>) -> Result<(), Violation> {
        for view in &cluster.replicas {
            let writes: Vec<(InstanceId, crate::epaxos::InstanceRecord<C>)> = self
                .cursors
                .read(UNIQUENESS, view.id, 0, view.durable.writes())?
                .map(|w| (w.instance, w.record.clone()))
                .collect();
            for (instance, record) in writes {
                self.observe(view.id, instance, &record)
                    .map_err(|v| v.at(cluster.now))?;
            }
        }
        Ok(())
    }
}

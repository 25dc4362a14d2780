//! The safety properties of the Paxos family, as core
//! [`Invariant`](tessera_core::Invariant)s the simulator checks after every
//! step — one per file, each citing where it is stated.
//!
//! They read what nodes record in their [`Audit`]s: acceptors record every
//! acceptance once it is durable (in their durable state, which survives
//! crashes), learners every decision they apply and every proposal they
//! receive (in their live state). Each checker remembers how far it has
//! read, so a check costs only what happened since the last step.
//!
//! | invariant | checked on | what breaks it |
//! |---|---|---|
//! | [`Uniqueness`] | acceptors' durable acceptances | two values chosen for one instance; a value accepted above a chosen ballot that differs from the chosen one; two values in one ballot |
//! | [`Agreement`] | learners' decisions | two learners apply different values for one instance |
//! | [`Validity`] | decisions and proposals | a decided command no client proposed |
//! | [`TotalOrder`] | learners' decisions | a learner applies instances out of order, skips one, or applies a value other than the one decided |
//!
//! EPaxos has its own, over its instances:
//!
//! | invariant | checked on | what breaks it |
//! |---|---|---|
//! | [`InstanceUniqueness`] | replicas' durable records | two commands or attribute sets chosen for one instance (fast quorum of unchanged pre-accepts, or a majority of accepts); a commit record of something else |
//! | [`InstanceAgreement`] | replicas' commit decisions | two replicas commit different attributes for one instance; a committed command no client proposed |
//! | [`ConsistentExecution`] | replicas' executions | two interfering commands executed in different orders on two replicas |

use std::collections::BTreeMap;

use tessera_core::{Instant, NodeId, Violation};

use crate::{Audit, Ballot};

mod agreement;
mod consistent_execution;
mod instance_agreement;
mod instance_uniqueness;
mod total_order;
mod uniqueness;
mod validity;

pub use agreement::Agreement;
pub use consistent_execution::ConsistentExecution;
pub use instance_agreement::InstanceAgreement;
pub use instance_uniqueness::InstanceUniqueness;
pub use total_order::TotalOrder;
pub use uniqueness::Uniqueness;
pub use validity::Validity;

/// UNIQUENESS: at most one value is chosen per instance.
pub const UNIQUENESS: &str = "UNIQUENESS";
/// AGREEMENT: no two learners learn different values for one instance.
pub const AGREEMENT: &str = "AGREEMENT";
/// VALIDITY: a chosen value was proposed.
pub const VALIDITY: &str = "VALIDITY";
/// TOTAL ORDER: every replica executes the same sequence of commands.
pub const TOTAL_ORDER: &str = "TOTAL ORDER";
/// CONSISTENT EXECUTION: every two interfering commands are executed in the
/// same order on every replica (EPaxos's execution consistency).
pub const CONSISTENT_EXECUTION: &str = "CONSISTENT EXECUTION";

/// An acceptance made durable: an acceptor accepted `value` in `ballot`
/// for `instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance<V> {
    /// The instance (0 for single-decree Paxos, the slot in Multi-Paxos).
    pub instance: u64,
    /// The ballot it was accepted in.
    pub ballot: Ballot,
    /// The value.
    pub value: V,
}

/// Something a learner did to its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<V> {
    /// It applied the value decided for `instance`.
    Applied {
        /// The instance.
        instance: u64,
        /// The value.
        value: V,
    },
    /// It replaced its state with a snapshot covering every instance up to
    /// `through`.
    Restored {
        /// The last instance the snapshot covers.
        through: u64,
    },
}

/// A node's durable state, as the acceptor-side invariants read it.
pub trait ObservedAcceptor {
    /// The value of one instance.
    type Value;
    /// Every acceptance made durable, recent ones first kept.
    fn acceptances(&self) -> &Audit<Acceptance<Self::Value>>;
}

/// A node's live state, as the learner-side invariants read it.
pub trait ObservedLearner {
    /// The value of one instance.
    type Value;
    /// One client proposal.
    type Command;
    /// The decisions applied by this incarnation, in order.
    fn decisions(&self) -> &Audit<Decision<Self::Value>>;
    /// The proposals this incarnation received from clients.
    fn proposals(&self) -> &Audit<Self::Command>;
    /// The client commands inside a value (none for a no-op).
    fn commands_of(value: &Self::Value) -> Vec<Self::Command>;
}

/// One node of a cluster, as the invariants see it: what a driver (the
/// simulator, a test) hands them after every step.
#[derive(Debug)]
pub struct ReplicaView<'a, P, D> {
    /// The node's id.
    pub id: NodeId,
    /// Its live state, or `None` while it is down.
    pub node: Option<&'a P>,
    /// Its durable state.
    pub durable: &'a D,
    /// 0 until its first crash, then one more per restart.
    pub incarnation: u64,
}

/// Every node of a cluster at one instant: the subject of the invariants.
///
/// The simulator's `Cluster` maps onto it node by node (`tessera-sim`'s
/// `Cluster::nodes` gives exactly these fields).
#[derive(Debug)]
pub struct ClusterView<'a, P, D> {
    /// The time of the observation (true time in a simulation).
    pub now: Instant,
    /// The nodes.
    pub replicas: Vec<ReplicaView<'a, P, D>>,
}

/// How far a checker has read each node's audit, per incarnation.
#[derive(Debug, Default)]
pub(crate) struct Cursors {
    next: BTreeMap<(NodeId, u64), u64>,
}

impl Cursors {
    /// The events of `audit` not read yet, marking them read.
    pub(crate) fn read<'a, T>(
        &mut self,
        invariant: &'static str,
        node: NodeId,
        incarnation: u64,
        audit: &'a Audit<T>,
    ) -> Result<impl Iterator<Item = &'a T>, Violation> {
        let cursor = self.next.entry((node, incarnation)).or_insert(0);
        let events = audit.since(*cursor).map_err(|oldest| {
            Violation::new(
                invariant,
                "the audit dropped events before they were checked",
            )
            .on_node(node)
            .with("cursor", *cursor)
            .with("oldest kept", oldest)
        })?;
        *cursor = audit.next_seq();
        Ok(events.map(|(_, event)| event))
    }
}

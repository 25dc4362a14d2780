//! The simulated cluster as invariants see it: every node's live state (if
//! running) and durable state.

use std::collections::{BTreeMap, VecDeque};

use tessera_core::{Instant, NodeId, PersistId, Protocol};

use crate::clock::NodeClock;

/// What a node is started from: given to the simulation's boot function at
/// the start and after every restart.
#[derive(Debug)]
pub struct Boot<'a, D> {
    /// The node's id.
    pub id: NodeId,
    /// Its durable state: empty on first boot, what survived after a crash.
    pub durable: &'a D,
    /// Every node of the simulation.
    pub members: &'a [NodeId],
    /// A seed for the node's own random choices (election timeouts).
    pub seed: u64,
    /// 0 on first boot, then one more per crash.
    pub incarnation: u64,
    /// The node's clock at boot.
    pub now: Instant,
}

/// One node's place in the simulation.
pub(crate) struct NodeSlot<P: Protocol, D> {
    pub(crate) id: NodeId,
    pub(crate) node: Option<P>,
    pub(crate) durable: D,
    /// Writes requested but not yet durable, in order.
    pub(crate) pending_writes: VecDeque<(PersistId, P::Write)>,
    /// When the last requested write becomes durable (virtual nanoseconds).
    pub(crate) last_sync_due: u64,
    pub(crate) clock: NodeClock,
    pub(crate) incarnation: u64,
    /// Bumped whenever the armed timer changes; stale timer events carry an
    /// old generation and are ignored.
    pub(crate) timer_generation: u64,
    pub(crate) armed_deadline: Option<Instant>,
}

/// One node as an invariant sees it.
#[derive(Debug)]
pub struct NodeView<'a, P, D> {
    /// The node's id.
    pub id: NodeId,
    /// Its live state, or `None` while crashed.
    pub node: Option<&'a P>,
    /// What it has on stable storage.
    pub durable: &'a D,
    /// 0 until its first crash, then one more per crash.
    pub incarnation: u64,
}

/// Every node of a simulation, live and durable, at one instant of virtual
/// time. This is what invariants check.
pub struct Cluster<P: Protocol, D> {
    pub(crate) slots: Vec<NodeSlot<P, D>>,
    pub(crate) index: BTreeMap<NodeId, usize>,
    pub(crate) now: u64,
}

impl<P: Protocol, D> Cluster<P, D> {
    /// The virtual time (true time, not any node's clock).
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.now)
    }

    /// Every node id, in the order they were added.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.slots.iter().map(|s| s.id)
    }

    /// Every node.
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'_, P, D>> + '_ {
        self.slots.iter().map(|slot| NodeView {
            id: slot.id,
            node: slot.node.as_ref(),
            durable: &slot.durable,
            incarnation: slot.incarnation,
        })
    }

    /// The running nodes' live states.
    pub fn running(&self) -> impl Iterator<Item = &P> + '_ {
        self.slots.iter().filter_map(|s| s.node.as_ref())
    }

    /// Node `id`'s live state, if it exists and is running.
    pub fn node(&self, id: NodeId) -> Option<&P> {
        self.slot(id).and_then(|s| s.node.as_ref())
    }

    /// Node `id`'s durable state, if it exists.
    pub fn durable(&self, id: NodeId) -> Option<&D> {
        self.slot(id).map(|s| &s.durable)
    }

    /// Whether node `id` exists and is running.
    pub fn is_running(&self, id: NodeId) -> bool {
        self.node(id).is_some()
    }

    /// Node `id`'s clock reading now, as it would see it.
    pub fn clock(&self, id: NodeId) -> Option<Instant> {
        self.slot(id).map(|s| s.clock.peek(self.now))
    }

    pub(crate) fn slot(&self, id: NodeId) -> Option<&NodeSlot<P, D>> {
        self.index.get(&id).map(|i| &self.slots[*i])
    }
}

//! The properties replicated CRDTs promise, as checkable invariants.
//!
//! They are checked over a set of [`ReplicaView`]s — one per replica, its
//! live state (if running) and its durable state — so any driver can check
//! them: the simulator after every step, a test at the end, a monitoring
//! job in production.

use std::collections::BTreeMap;

use tessera_core::{Invariant, NodeId, Violation};

use crate::StateCrdt;

/// CONVERGENCE: replicas that have received the same updates are equal —
/// Shapiro et al. (2011), §2.2 (strong eventual consistency). Once updates
/// stop and anti-entropy has run, every replica has received every update,
/// so every live replica holds the same state.
pub const CONVERGENCE: &str = "CONVERGENCE";

/// INFLATION: a replica's state only grows in its lattice — every update
/// and every merge is an inflation (Almeida et al. 2018, §3). Causal
/// contexts never shrink, and what was seen stays seen.
pub const INFLATION: &str = "INFLATION";

/// ACKNOWLEDGED DURABLE: a replica acknowledges an update — to a client or
/// to a peer — only once it is durable, so a crash never loses an
/// acknowledged update: the live state always includes the durable one.
pub const ACKNOWLEDGED_DURABLE: &str = "ACKNOWLEDGED DURABLE";

/// One replica, as an invariant sees it.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaView<'a, C> {
    /// The replica.
    pub node: NodeId,
    /// Its restart count (a restart may legitimately lose state that was
    /// never acknowledged).
    pub incarnation: u64,
    /// Its live state, or `None` while it is down.
    pub live: Option<&'a C>,
    /// What it has on stable storage.
    pub durable: &'a C,
}

/// Whether `big` includes `small`: `big ⊔ small = big`.
fn includes<C: StateCrdt>(big: &C, small: &C) -> bool {
    big.includes(small)
}

/// Checks [`CONVERGENCE`]: every live replica holds the same state, and it
/// includes every replica's durable state (no acknowledged update is
/// missing). Meaningful once updates stop and anti-entropy has run.
///
/// # Examples
///
/// ```
/// use tessera_core::Invariant;
/// use tessera_crdt::{Convergence, GSet, ReplicaView};
///
/// let mut a = GSet::new();
/// a.insert(1);
/// let b = a.clone();
/// let views = [
///     ReplicaView { node: 1, incarnation: 0, live: Some(&a), durable: &a },
///     ReplicaView { node: 2, incarnation: 0, live: Some(&b), durable: &b },
/// ];
/// assert!(Convergence.check(&views[..]).is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Convergence;

impl<C: StateCrdt> Invariant<[ReplicaView<'_, C>]> for Convergence {
    fn name(&self) -> &'static str {
        CONVERGENCE
    }

    fn source(&self) -> &'static str {
        "Shapiro, Preguiça, Baquero, Zawirski, Conflict-free replicated data types (2011), §2.2"
    }

    fn check(&mut self, replicas: &[ReplicaView<'_, C>]) -> Result<(), Violation> {
        let mut live = replicas
            .iter()
            .filter_map(|view| view.live.map(|state| (view.node, state)));
        let Some((first_node, first)) = live.next() else {
            return Ok(());
        };
        for (node, state) in live {
            if state != first {
                return Err(
                    Violation::new(CONVERGENCE, "two replicas hold different states")
                        .on_node(node)
                        .with("other", first_node)
                        .with("state", state)
                        .with("other state", first),
                );
            }
        }
        for view in replicas {
            if !includes(first, view.durable) {
                return Err(Violation::new(
                    CONVERGENCE,
                    "the converged state misses a durable update",
                )
                .on_node(view.node)
                .with("durable", view.durable)
                .with("converged", first));
            }
        }
        Ok(())
    }
}

/// Checks [`INFLATION`] and [`ACKNOWLEDGED DURABLE`](ACKNOWLEDGED_DURABLE)
/// after every step: a replica's live state only grows while it runs, its
/// durable state only grows, and the live state includes the durable one.
///
/// It remembers each replica's last states, so check it on every step of a
/// run (and give it a fresh value per run).
#[derive(Debug, Clone)]
pub struct Inflation<C> {
    last: BTreeMap<NodeId, (u64, Option<C>, C)>,
}

impl<C> Default for Inflation<C> {
    fn default() -> Self {
        Inflation {
            last: BTreeMap::new(),
        }
    }
}

impl<C: StateCrdt> Inflation<C> {
    /// A checker that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<C: StateCrdt> Invariant<[ReplicaView<'_, C>]> for Inflation<C> {
    fn name(&self) -> &'static str {
        INFLATION
    }

    fn source(&self) -> &'static str {
        "Almeida, Shoker, Baquero, Delta state replicated data types (2018), §3"
    }

    fn check(&mut self, replicas: &[ReplicaView<'_, C>]) -> Result<(), Violation> {
        for view in replicas {
            if let Some(live) = view.live
                && !includes(live, view.durable)
            {
                return Err(Violation::new(
                    ACKNOWLEDGED_DURABLE,
                    "the live state misses part of the durable state",
                )
                .on_node(view.node)
                .with("live", live)
                .with("durable", view.durable));
            }
            let (mut live_grew, mut durable_grew) = (true, true);
            if let Some((incarnation, last_live, last_durable)) = self.last.get(&view.node) {
                if !includes(view.durable, last_durable) {
                    return Err(Violation::new(INFLATION, "the durable state shrank")
                        .on_node(view.node)
                        .with("before", last_durable)
                        .with("after", view.durable));
                }
                durable_grew = !includes(last_durable, view.durable);
                match (last_live, view.live) {
                    (Some(before), Some(after)) if *incarnation == view.incarnation => {
                        if !includes(after, before) {
                            return Err(Violation::new(INFLATION, "the live state shrank")
                                .on_node(view.node)
                                .with("before", before)
                                .with("after", after));
                        }
                        // It includes the last one: it grew unless the last
                        // one includes it too.
                        live_grew = !includes(before, after);
                    }
                    (None, None) if *incarnation == view.incarnation => live_grew = false,
                    _ => {}
                }
            }
            if live_grew || durable_grew {
                self.last.insert(
                    view.node,
                    (view.incarnation, view.live.cloned(), view.durable.clone()),
                );
            }
        }
        Ok(())
    }
}

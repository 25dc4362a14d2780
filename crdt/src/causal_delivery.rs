//! Causal, exactly-once delivery for op-based CRDTs.

use std::fmt;

use tessera_core::NodeId;
use tessera_vclock::{Decoder, Dot, VersionVector};

use crate::{CrdtEncoding, CrdtError, OpCrdt};

/// How many early operations a [`CausalDelivery`] holds by default.
pub const CAUSAL_BUFFER_MAX_DEFAULT: usize = 10_000;

/// An operation tagged for causal broadcast: its own dot (the `n`-th
/// operation of its source) and the operations its source had delivered
/// when it made it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CausalOp<O> {
    /// The operation's identity: source and sequence number.
    pub dot: Dot,
    /// Its causal past: every operation it depends on.
    pub deps: VersionVector,
    /// The CRDT operation.
    pub op: O,
}

/// Causal, exactly-once delivery of an op-based CRDT's operations: the
/// layer an [`OpCrdt`] needs under it (Birman, Schiper and Stephenson's
/// causal broadcast, as in Baquero, Almeida and Shoker, "Making
/// operation-based CRDTs operation-based", 2014).
///
/// Each operation made here is tagged with a dot and the version vector of
/// everything delivered before it ([`CausalOp`]). An operation is
/// delivered only when it is its source's next one and everything it
/// depends on has been delivered:
///
/// - [`apply`](Self::apply) refuses an early operation with
///   [`CrdtError::MissingDependencies`] (naming what is missing) and a
///   repeated one with [`CrdtError::AlreadyApplied`] — it never applies
///   either;
/// - [`receive`](Self::receive) buffers early operations (up to a bound)
///   and delivers them as soon as their dependencies arrive.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{CausalDelivery, CrdtError, OrSet};
///
/// let mut a = CausalDelivery::new(1, OrSet::new());
/// let mut b = CausalDelivery::new(2, OrSet::new());
/// let add = a.update(|set| set.add_op(7, 1))?;
/// let remove = a.update(|set| set.remove_op(&7).ok_or(CrdtError::NotPresent))?;
///
/// // The remove overtakes the add: refused by `apply`, buffered by
/// // `receive`, delivered once the add arrives.
/// assert!(matches!(b.apply(&remove), Err(CrdtError::MissingDependencies { .. })));
/// assert_eq!(b.receive(remove)?, 0);
/// assert_eq!(b.receive(add)?, 2);
/// assert!(!b.state().contains(&7));
/// # Ok::<(), CrdtError>(())
/// ```
#[derive(Clone)]
pub struct CausalDelivery<C: OpCrdt> {
    replica: NodeId,
    state: C,
    delivered: VersionVector,
    buffer: Vec<CausalOp<C::Op>>,
    buffer_max: usize,
}

impl<C: OpCrdt> CausalDelivery<C> {
    /// Replica `replica` of the CRDT `state`, nothing delivered yet.
    pub fn new(replica: NodeId, state: C) -> Self {
        CausalDelivery {
            replica,
            state,
            delivered: VersionVector::new(),
            buffer: Vec::new(),
            buffer_max: CAUSAL_BUFFER_MAX_DEFAULT,
        }
    }

    /// Holds at most `buffer_max` early operations (see
    /// [`receive`](Self::receive)).
    pub fn with_buffer_max(mut self, buffer_max: usize) -> Self {
        self.buffer_max = buffer_max;
        self
    }

    /// The replica's id.
    pub fn replica(&self) -> NodeId {
        self.replica
    }

    /// The CRDT.
    pub fn state(&self) -> &C {
        &self.state
    }

    /// Every operation delivered (evidence of kind `CausalContext`).
    pub fn delivered(&self) -> &VersionVector {
        &self.delivered
    }

    /// How many early operations wait for their dependencies.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Makes an operation from the current state with `make`, applies it
    /// here, and returns it tagged for broadcast.
    ///
    /// # Errors
    ///
    /// Whatever `make` or the CRDT returns, and
    /// [`CrdtError::CounterExhausted`]; nothing is applied.
    pub fn update(
        &mut self,
        make: impl FnOnce(&C) -> Result<C::Op, CrdtError>,
    ) -> Result<CausalOp<C::Op>, CrdtError> {
        let op = make(&self.state)?;
        let dot =
            self.delivered
                .next_dot(self.replica)
                .map_err(|_| CrdtError::CounterExhausted {
                    actor: self.replica,
                })?;
        let tagged = CausalOp {
            dot,
            deps: self.delivered.clone(),
            op,
        };
        self.state.apply_op(&tagged.op)?;
        self.delivered.witness(dot);
        Ok(tagged)
    }

    /// What `op` waits for: each actor's first missing operation. Empty
    /// when it can be delivered now (or was already).
    pub fn missing_dependencies(&self, op: &CausalOp<C::Op>) -> Vec<Dot> {
        let mut missing = Vec::new();
        let source = op.dot.actor;
        let next = self.delivered.get(source).saturating_add(1);
        if op.dot.counter > next {
            missing.push(Dot::new(source, next));
        }
        for dep in op.deps.iter() {
            if dep.actor != source && self.delivered.get(dep.actor) < dep.counter {
                missing.push(Dot::new(dep.actor, self.delivered.get(dep.actor) + 1));
            }
        }
        missing
    }

    /// Delivers `op` now.
    ///
    /// # Errors
    ///
    /// [`CrdtError::AlreadyApplied`] if it was delivered before;
    /// [`CrdtError::MissingDependencies`] if it is early. Either way it is
    /// not applied.
    pub fn apply(&mut self, op: &CausalOp<C::Op>) -> Result<(), CrdtError> {
        if self.delivered.contains(op.dot) {
            return Err(CrdtError::AlreadyApplied { op: op.dot });
        }
        let missing = self.missing_dependencies(op);
        if !missing.is_empty() {
            return Err(CrdtError::MissingDependencies {
                op: op.dot,
                missing,
            });
        }
        self.state.apply_op(&op.op)?;
        self.delivered.witness(op.dot);
        Ok(())
    }

    /// Delivers `op` if it can be, and then every buffered operation that
    /// became deliverable; buffers it otherwise. Returns how many
    /// operations were delivered.
    ///
    /// # Errors
    ///
    /// [`CrdtError::AlreadyApplied`] for an operation delivered before;
    /// [`CrdtError::BufferFull`] if it must wait and the buffer is full;
    /// an error from the CRDT.
    pub fn receive(&mut self, op: CausalOp<C::Op>) -> Result<usize, CrdtError> {
        if self.delivered.contains(op.dot) {
            return Err(CrdtError::AlreadyApplied { op: op.dot });
        }
        if !self.missing_dependencies(&op).is_empty() {
            if self.buffer.iter().any(|waiting| waiting.dot == op.dot) {
                return Ok(0);
            }
            if self.buffer.len() >= self.buffer_max {
                return Err(CrdtError::BufferFull {
                    buffer: "causal delivery buffer",
                    limit: self.buffer_max,
                });
            }
            self.buffer.push(op);
            return Ok(0);
        }
        self.apply(&op)?;
        let mut delivered = 1;
        loop {
            let ready = self
                .buffer
                .iter()
                .position(|waiting| self.missing_dependencies(waiting).is_empty());
            let Some(index) = ready else { break };
            let waiting = self.buffer.swap_remove(index);
            if !self.delivered.contains(waiting.dot) {
                self.apply(&waiting)?;
                delivered += 1;
            }
        }
        Ok(delivered)
    }
}

impl<C: OpCrdt + fmt::Debug> fmt::Debug for CausalDelivery<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CausalDelivery")
            .field("replica", &self.replica)
            .field("delivered", &self.delivered)
            .field("buffered", &self.buffer.len())
            .field("state", &self.state)
            .finish()
    }
}

/// The dot, the dependencies, then the operation.
impl<O: CrdtEncoding> CrdtEncoding for CausalOp<O> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.dot.encode(out);
        self.deps.encode(out);
        self.op.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(CausalOp {
            dot: Dot::decode(decoder)?,
            deps: VersionVector::decode(decoder)?,
            op: O::decode(decoder)?,
        })
    }
}

//! The increment-and-decrement counter.

use tessera_core::NodeId;
use tessera_vclock::Decoder;

use crate::{CrdtEncoding, CrdtError, DeltaCrdt, GCounter, OpCrdt, StateCrdt};

/// A counter that goes up and down: two [`GCounter`]s, one of increments
/// and one of decrements; the value is their difference — Shapiro et al.
/// (2011), §3.1.2.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{PnCounter, StateCrdt};
///
/// let mut a = PnCounter::new();
/// let mut b = PnCounter::new();
/// a.increment(1, 5)?;
/// b.decrement(2, 8)?;
/// a.merge(&b);
/// assert_eq!(a.value(), -3);
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PnCounter {
    increments: GCounter,
    decrements: GCounter,
}

/// An operation of the op-based [`PnCounter`]. Deliver exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PnCounterOp {
    /// Add `amount` to `actor`'s increments.
    Increment {
        /// The actor.
        actor: NodeId,
        /// The amount.
        amount: u64,
    },
    /// Add `amount` to `actor`'s decrements.
    Decrement {
        /// The actor.
        actor: NodeId,
        /// The amount.
        amount: u64,
    },
}

impl PnCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Increments minus decrements.
    pub fn value(&self) -> i128 {
        // Each sum is at most 2^64 times the number of actors, far inside
        // i128.
        self.increments.value() as i128 - self.decrements.value() as i128
    }

    /// The increments.
    pub fn increments(&self) -> &GCounter {
        &self.increments
    }

    /// The decrements.
    pub fn decrements(&self) -> &GCounter {
        &self.decrements
    }

    /// Adds `amount` as `actor`. Returns the delta to ship.
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`] if `actor`'s increments would pass
    /// `u64::MAX`; the counter is unchanged.
    pub fn increment(&mut self, actor: NodeId, amount: u64) -> Result<PnCounter, CrdtError> {
        Ok(PnCounter {
            increments: self.increments.increment(actor, amount)?,
            decrements: GCounter::new(),
        })
    }

    /// Subtracts `amount` as `actor`. Returns the delta to ship.
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`] if `actor`'s decrements would pass
    /// `u64::MAX`; the counter is unchanged.
    pub fn decrement(&mut self, actor: NodeId, amount: u64) -> Result<PnCounter, CrdtError> {
        Ok(PnCounter {
            increments: GCounter::new(),
            decrements: self.decrements.increment(actor, amount)?,
        })
    }

    /// Adds `delta` (of either sign) as `actor`. Returns the delta to ship.
    ///
    /// # Errors
    ///
    /// As [`increment`](Self::increment) and [`decrement`](Self::decrement).
    pub fn add(&mut self, actor: NodeId, delta: i64) -> Result<PnCounter, CrdtError> {
        if delta >= 0 {
            self.increment(actor, delta.unsigned_abs())
        } else {
            self.decrement(actor, delta.unsigned_abs())
        }
    }

    /// The operation that adds `delta` as `actor` (op-based use).
    pub fn add_op(&self, actor: NodeId, delta: i64) -> PnCounterOp {
        if delta >= 0 {
            PnCounterOp::Increment {
                actor,
                amount: delta.unsigned_abs(),
            }
        } else {
            PnCounterOp::Decrement {
                actor,
                amount: delta.unsigned_abs(),
            }
        }
    }
}

impl StateCrdt for PnCounter {
    fn includes(&self, other: &Self) -> bool {
        self.increments.includes(&other.increments) && self.decrements.includes(&other.decrements)
    }

    fn merge(&mut self, other: &Self) {
        self.increments.merge(&other.increments);
        self.decrements.merge(&other.decrements);
    }
}

impl DeltaCrdt for PnCounter {
    type Delta = PnCounter;

    fn join_delta(&mut self, delta: &PnCounter) -> bool {
        let up = self.increments.join_delta(&delta.increments);
        let down = self.decrements.join_delta(&delta.decrements);
        up || down
    }
}

impl OpCrdt for PnCounter {
    type Op = PnCounterOp;

    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`].
    fn apply_op(&mut self, op: &PnCounterOp) -> Result<(), CrdtError> {
        match *op {
            PnCounterOp::Increment { actor, amount } => self.increment(actor, amount).map(|_| ()),
            PnCounterOp::Decrement { actor, amount } => self.decrement(actor, amount).map(|_| ()),
        }
    }
}

impl CrdtEncoding for PnCounter {
    fn encode(&self, out: &mut Vec<u8>) {
        self.increments.encode(out);
        self.decrements.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(PnCounter {
            increments: GCounter::decode(decoder)?,
            decrements: GCounter::decode(decoder)?,
        })
    }
}

/// Tag 0 increment, 1 decrement; then the actor and the amount.
impl CrdtEncoding for PnCounterOp {
    fn encode(&self, out: &mut Vec<u8>) {
        let (tag, actor, amount) = match *self {
            PnCounterOp::Increment { actor, amount } => (0u8, actor, amount),
            PnCounterOp::Decrement { actor, amount } => (1u8, actor, amount),
        };
        out.push(tag);
        actor.encode(out);
        amount.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        let tag = decoder.read_u8()?;
        let actor = u64::decode(decoder)?;
        let amount = u64::decode(decoder)?;
        match tag {
            0 => Ok(PnCounterOp::Increment { actor, amount }),
            1 => Ok(PnCounterOp::Decrement { actor, amount }),
            tag => Err(tessera_vclock::VclockError::InvalidTag { offset, tag }.into()),
        }
    }
}

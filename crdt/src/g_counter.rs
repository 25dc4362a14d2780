//! The grow-only counter.

use tessera_core::NodeId;
use tessera_vclock::{Decoder, Dot, VersionVector};

use crate::{CrdtEncoding, CrdtError, DeltaCrdt, OpCrdt, StateCrdt};

/// A grow-only counter: each actor's own count, merged by maximum; the
/// value is their sum — after Shapiro, Preguiça, Baquero and Zawirski,
/// "A comprehensive study of convergent and commutative replicated data
/// types" (2011), §3.1.1.
///
/// The counts are a [`VersionVector`] (sorted, compact): merging two
/// counters over the same actors is one pass over two arrays. Its delta is
/// a counter holding just the incremented actor's new count.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{DeltaCrdt, GCounter};
///
/// let mut here = GCounter::new();
/// let mut there = GCounter::new();
/// let delta = here.increment(1, 3)?;
/// there.increment(2, 4)?;
/// there.join_delta(&delta);
/// assert_eq!(there.value(), 7);
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct GCounter {
    counts: VersionVector,
}

/// An operation of the op-based [`GCounter`]: add `amount` to `actor`'s
/// count. Applying it twice counts twice: deliver it exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GCounterOp {
    /// Whose count grows.
    pub actor: NodeId,
    /// By how much.
    pub amount: u64,
}

impl GCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The sum of every actor's count.
    pub fn value(&self) -> u128 {
        self.counts.iter().map(|dot| u128::from(dot.counter)).sum()
    }

    /// `actor`'s own count.
    pub fn count(&self, actor: NodeId) -> u64 {
        self.counts.get(actor)
    }

    /// Every actor's count, as a version vector.
    pub fn counts(&self) -> &VersionVector {
        &self.counts
    }

    /// Adds `amount` to `actor`'s count. Returns the delta to ship: a
    /// counter holding `actor`'s new count.
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`] if the count would pass `u64::MAX`;
    /// the counter is unchanged.
    pub fn increment(&mut self, actor: NodeId, amount: u64) -> Result<GCounter, CrdtError> {
        let count = self
            .counts
            .get(actor)
            .checked_add(amount)
            .ok_or(CrdtError::CounterExhausted { actor })?;
        self.counts.witness(Dot::new(actor, count));
        let mut delta = GCounter::new();
        delta.counts.witness(Dot::new(actor, count));
        Ok(delta)
    }

    /// The operation that adds `amount` to `actor`'s count (op-based use).
    pub fn increment_op(&self, actor: NodeId, amount: u64) -> GCounterOp {
        GCounterOp { actor, amount }
    }
}

impl StateCrdt for GCounter {
    fn includes(&self, other: &Self) -> bool {
        self.counts.descends(&other.counts)
    }

    fn merge(&mut self, other: &Self) {
        self.counts.merge(&other.counts);
    }
}

impl DeltaCrdt for GCounter {
    type Delta = GCounter;

    fn join_delta(&mut self, delta: &GCounter) -> bool {
        let grows = delta
            .counts
            .iter()
            .any(|dot| dot.counter > self.counts.get(dot.actor));
        if grows {
            self.counts.merge(&delta.counts);
        }
        grows
    }
}

impl OpCrdt for GCounter {
    type Op = GCounterOp;

    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`] if the count would pass `u64::MAX`.
    fn apply_op(&mut self, op: &GCounterOp) -> Result<(), CrdtError> {
        self.increment(op.actor, op.amount).map(|_| ())
    }
}

/// The counts as a version vector.
impl CrdtEncoding for GCounter {
    fn encode(&self, out: &mut Vec<u8>) {
        self.counts.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(GCounter {
            counts: VersionVector::decode(decoder)?,
        })
    }
}

impl CrdtEncoding for GCounterOp {
    fn encode(&self, out: &mut Vec<u8>) {
        self.actor.encode(out);
        self.amount.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(GCounterOp {
            actor: u64::decode(decoder)?,
            amount: u64::decode(decoder)?,
        })
    }
}

//! The multi-value register.

use std::fmt;

use tessera_core::NodeId;
use tessera_vclock::{Decoder, Dot};

use crate::lww_register::Value;
use crate::{
    CausalContext, CrdtEncoding, CrdtError, DeltaCrdt, DotFun, DotSet, DotStore, Embeddable,
    OpCrdt, StateCrdt,
};

/// A multi-value register: a write replaces the values it has seen, and
/// concurrent writes survive side by side until a later write sees them
/// all — Shapiro et al. (2011), §3.2.2; Almeida et al. (2018), `MVRegister`.
///
/// Each value carries the [`Dot`] of the write that made it, and the
/// register carries one [`CausalContext`] of every write it has seen:
/// together, a dotted version vector set (Preguiça et al., "Dotted version
/// vectors", 2010; tessera-vclock's [`DvvSet`](tessera_vclock::DvvSet) is
/// the client–server form of the same idea). A value's dot says exactly
/// which event wrote it, so a replica that has seen a write and its
/// replacement drops the old value, and one that has not keeps it — with
/// no vector per value.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{MvRegister, StateCrdt};
///
/// let mut a = MvRegister::new();
/// let mut b = MvRegister::new();
/// a.write("tea".to_string(), 1)?;
/// b.write("coffee".to_string(), 2)?;
/// a.merge(&b);
/// assert_eq!(a.values().collect::<Vec<_>>(), ["tea", "coffee"]);
///
/// // A write that has seen both replaces both.
/// let delta = a.write("water".to_string(), 1)?;
/// b.merge(&delta);
/// assert_eq!(b.values().collect::<Vec<_>>(), ["water"]);
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MvRegister<V> {
    values: DotFun<V>,
    context: CausalContext,
}

impl<V> Default for MvRegister<V> {
    fn default() -> Self {
        MvRegister {
            values: DotFun::new(),
            context: CausalContext::new(),
        }
    }
}

/// An operation of the op-based [`MvRegister`]: a write that replaces the
/// values its source observed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MvWrite<V> {
    /// The write's fresh dot.
    pub dot: Dot,
    /// The value.
    pub value: V,
    /// The dots of the values it replaces.
    pub observed: DotSet,
}

impl<V: Value> MvRegister<V> {
    /// An empty register.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current values, concurrent writes each, in dot order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> + '_ {
        self.values.iter().map(|(_, value)| value)
    }

    /// The current values with the dots of the writes that made them.
    pub fn dotted_values(&self) -> impl ExactSizeIterator<Item = (Dot, &V)> + '_ {
        self.values.iter()
    }

    /// Whether concurrent values are waiting for a write to reconcile them.
    pub fn is_conflicted(&self) -> bool {
        self.values.len() > 1
    }

    /// Every write this replica has seen: the context a reader passes to
    /// [`write_after`](Self::write_after).
    pub fn context(&self) -> &CausalContext {
        &self.context
    }

    /// Writes `value` as `actor`, replacing every value here. Returns the
    /// delta to ship.
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`] if `actor` has used every dot.
    pub fn write(&mut self, value: V, actor: NodeId) -> Result<MvRegister<V>, CrdtError> {
        let dot = self.context.next_dot(actor)?;
        self.context.insert(dot);
        let replaced = std::mem::replace(&mut self.values, DotFun::single(dot, value.clone()));
        let mut context = CausalContext::new();
        for (old, _) in replaced.iter() {
            context.insert(old);
        }
        context.insert(dot);
        Ok(MvRegister {
            values: DotFun::single(dot, value),
            context,
        })
    }

    /// Writes `value` as `actor` on behalf of a client that read the
    /// register at `seen`: only the values `seen` covers are replaced, the
    /// rest stay as siblings (the dotted-version-vector rule for writes
    /// through a server). Returns the delta to ship.
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`].
    pub fn write_after(
        &mut self,
        value: V,
        actor: NodeId,
        seen: &CausalContext,
    ) -> Result<MvRegister<V>, CrdtError> {
        let dot = self.context.next_dot(actor)?;
        self.context.insert(dot);
        let mut context = CausalContext::new();
        self.values.retain(|old, _| {
            let covered = seen.contains(old);
            if covered {
                context.insert(old);
            }
            !covered
        });
        self.values.insert(dot, value.clone());
        context.insert(dot);
        Ok(MvRegister {
            values: DotFun::single(dot, value),
            context,
        })
    }

    /// Removes every value here (concurrent writes survive). Returns the
    /// delta to ship.
    pub fn clear(&mut self) -> MvRegister<V> {
        let replaced = std::mem::take(&mut self.values);
        let mut context = CausalContext::new();
        for (old, _) in replaced.iter() {
            context.insert(old);
        }
        MvRegister {
            values: DotFun::new(),
            context,
        }
    }

    /// The operation that writes `value` as `actor` (op-based use).
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`].
    pub fn write_op(&self, value: V, actor: NodeId) -> Result<MvWrite<V>, CrdtError> {
        Ok(MvWrite {
            dot: self.context.next_dot(actor)?,
            value,
            observed: self.values.iter().map(|(dot, _)| dot).collect(),
        })
    }
}

impl<V: Value> fmt::Debug for MvRegister<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MvRegister")
            .field("values", &self.values)
            .field("context", &self.context)
            .finish()
    }
}

impl<V: Value> StateCrdt for MvRegister<V> {
    fn includes(&self, other: &Self) -> bool {
        other.context.is_subset_of(&self.context)
            && self.values.survives(&other.values, &other.context)
    }

    fn merge(&mut self, other: &Self) {
        self.values
            .join(&self.context, &other.values, &other.context);
        self.context.merge(&other.context);
    }

    fn validate(&self) -> Result<(), CrdtError> {
        self.values.validate_in(&self.context)
    }

    fn validate_merge(&self, other: &Self) -> Result<(), CrdtError> {
        other.validate()?;
        match self.values.conflicting_dot(&other.values) {
            Some(dot) => Err(CrdtError::ConflictingDot { dot }),
            None => Ok(()),
        }
    }
}

impl<V: Value> DeltaCrdt for MvRegister<V> {
    type Delta = MvRegister<V>;

    fn join_delta(&mut self, delta: &MvRegister<V>) -> bool {
        let grew = !delta.context.is_subset_of(&self.context);
        let before = self.values.len();
        self.merge(delta);
        // A delta whose events were all seen changes nothing.
        grew || before != self.values.len()
    }

    fn validate_delta(&self, delta: &MvRegister<V>) -> Result<(), CrdtError> {
        self.validate_merge(delta)
    }
}

impl<V: Value> OpCrdt for MvRegister<V> {
    type Op = MvWrite<V>;

    fn apply_op(&mut self, op: &MvWrite<V>) -> Result<(), CrdtError> {
        self.values.retain(|dot, _| !op.observed.contains(dot));
        self.values.insert(op.dot, op.value.clone());
        self.context.insert(op.dot);
        Ok(())
    }
}

impl<V: Value> Embeddable for MvRegister<V> {
    type Store = DotFun<V>;

    fn from_parts(store: DotFun<V>, context: CausalContext) -> Self {
        MvRegister {
            values: store,
            context,
        }
    }

    fn into_parts(self) -> (DotFun<V>, CausalContext) {
        (self.values, self.context)
    }

    fn delta_into_parts(delta: MvRegister<V>) -> (DotFun<V>, CausalContext) {
        delta.into_parts()
    }
}

/// The context, then the values with their dots.
impl<V: Value> CrdtEncoding for MvRegister<V> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.context.encode(out);
        self.values.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let context = CausalContext::decode(decoder)?;
        let values = DotFun::decode(decoder)?;
        let register = MvRegister { values, context };
        register.validate()?;
        Ok(register)
    }
}

impl<V: Value> CrdtEncoding for MvWrite<V> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.dot.encode(out);
        self.value.encode(out);
        self.observed.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(MvWrite {
            dot: Dot::decode(decoder)?,
            value: V::decode(decoder)?,
            observed: DotSet::decode(decoder)?,
        })
    }
}

#[cfg(feature = "serde")]
impl<V: serde::Serialize> serde::Serialize for MvRegister<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.values, &self.context).serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, V: Value + serde::Deserialize<'de>> serde::Deserialize<'de> for MvRegister<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (values, context) = <(DotFun<V>, CausalContext)>::deserialize(deserializer)?;
        let register = MvRegister { values, context };
        register.validate().map_err(serde::de::Error::custom)?;
        Ok(register)
    }
}

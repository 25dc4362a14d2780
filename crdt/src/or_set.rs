//! The add-wins observed-remove set, without tombstones.

use std::fmt;

use tessera_core::NodeId;
use tessera_vclock::{Decoder, Dot};

use crate::dot_map::Key;
use crate::{
    CausalContext, CrdtEncoding, CrdtError, DeltaCrdt, DotMap, DotMapDelta, DotSet, DotStore,
    Embeddable, OpCrdt, StateCrdt,
};

/// A delta of an [`OrSet`]: the elements it touches and the events it adds
/// or removes.
pub type OrSetDelta<E> = DotMapDelta<E, DotSet>;

/// An add-wins observed-remove set with no tombstones (an ORSWOT): each
/// element holds the dots of the adds that put it there, and the set keeps
/// one causal context of every add it has seen — after Bieniusa et al.,
/// "An optimized conflict-free replicated set" (2012), and Almeida et al.
/// (2018), `AWORSet`.
///
/// - **add** gives the element a fresh dot and replaces the dots it had
///   (the add has seen them);
/// - **remove** drops the element's dots; its context still remembers them,
///   so a stale copy of the element elsewhere is dropped on merge, while an
///   add concurrent with the remove — a dot the remover never saw —
///   survives: **add wins**.
///
/// Metadata is bounded: a removed element leaves nothing behind (no
/// per-element tombstone); the context is a version vector per actor, plus
/// a dot cloud only while deltas arrive out of order. Each element holds at
/// most one dot per actor.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{DeltaCrdt, OrSet, StateCrdt};
///
/// let eggs = "eggs".to_string();
/// let mut alice = OrSet::new();
/// alice.add(eggs.clone(), 1)?;
/// let mut bob = alice.clone();
///
/// // Concurrently: Alice removes eggs, Bob adds them again.
/// alice.remove(&eggs);
/// bob.add(eggs.clone(), 2)?;
/// alice.merge(&bob);
/// assert!(alice.contains(&eggs)); // add wins
///
/// // A remove that has seen every add wins.
/// let delta = alice.remove(&eggs);
/// bob.join_delta(&delta);
/// assert!(!bob.contains(&eggs));
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OrSet<E> {
    entries: DotMap<E, DotSet>,
    context: CausalContext,
}

impl<E> Default for OrSet<E> {
    fn default() -> Self {
        OrSet {
            entries: DotMap::default(),
            context: CausalContext::new(),
        }
    }
}

/// An operation of the op-based [`OrSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrSetOp<E> {
    /// Add `element` under `dot`, replacing the adds the source observed.
    Add {
        /// The element.
        element: E,
        /// The add's fresh dot.
        dot: Dot,
        /// The element's dots at the source.
        observed: DotSet,
    },
    /// Remove the adds of `element` the source observed.
    Remove {
        /// The element.
        element: E,
        /// The element's dots at the source.
        observed: DotSet,
    },
}

impl<E: Key> OrSet<E> {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `element` is in the set.
    pub fn contains(&self, element: &E) -> bool {
        self.entries.contains_key(element)
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The elements, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &E> + '_ {
        self.entries.keys()
    }

    /// The dots of the adds that keep `element` in the set.
    pub fn dots(&self, element: &E) -> Option<&DotSet> {
        self.entries.get(element)
    }

    /// Every add this replica has seen (evidence of kind
    /// `CausalContext`).
    pub fn context(&self) -> &CausalContext {
        &self.context
    }

    /// The dot store.
    pub fn store(&self) -> &DotMap<E, DotSet> {
        &self.entries
    }

    /// Adds `element` as `actor`. Returns the delta to ship.
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`] if `actor` has used every dot; the
    /// set is unchanged.
    pub fn add(&mut self, element: E, actor: NodeId) -> Result<OrSetDelta<E>, CrdtError> {
        let dot = self.context.next_dot(actor)?;
        self.context.insert(dot);
        let store = self.entries.entry_mut(element.clone());
        let replaced = std::mem::replace(store, DotSet::single(dot));
        let mut delta_context = CausalContext::from_dots(replaced.iter());
        delta_context.insert(dot);
        Ok(OrSetDelta::single(
            element,
            DotSet::single(dot),
            delta_context,
        ))
    }

    /// Removes `element` (the adds this replica has seen). Returns the delta
    /// to ship; it is empty if the element was not here.
    pub fn remove(&mut self, element: &E) -> OrSetDelta<E> {
        match self.entries.remove(element) {
            Some(dots) => OrSetDelta::single(
                element.clone(),
                DotSet::new(),
                CausalContext::from_dots(dots.iter()),
            ),
            None => OrSetDelta::default(),
        }
    }

    /// Removes every element. Returns the delta to ship.
    pub fn clear(&mut self) -> OrSetDelta<E> {
        let entries = std::mem::take(&mut self.entries);
        let mut dots = Vec::new();
        let mut touched = Vec::with_capacity(entries.len());
        for (element, store) in entries.iter() {
            dots.extend(store.iter());
            touched.push((element.clone(), DotSet::new()));
        }
        DotMapDelta::from_sorted_parts(touched, CausalContext::from_dots(dots))
    }

    /// The operation that adds `element` as `actor` (op-based use).
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`].
    pub fn add_op(&self, element: E, actor: NodeId) -> Result<OrSetOp<E>, CrdtError> {
        let dot = self.context.next_dot(actor)?;
        let observed = self.entries.get(&element).cloned().unwrap_or_default();
        Ok(OrSetOp::Add {
            element,
            dot,
            observed,
        })
    }

    /// The operation that removes `element` (op-based use), or `None` if it
    /// is not here.
    pub fn remove_op(&self, element: &E) -> Option<OrSetOp<E>> {
        self.entries.get(element).map(|observed| OrSetOp::Remove {
            element: element.clone(),
            observed: observed.clone(),
        })
    }
}

impl<E: Key> fmt::Debug for OrSet<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrSet")
            .field("entries", &self.entries)
            .field("context", &self.context)
            .finish()
    }
}

impl<E: Key> StateCrdt for OrSet<E> {
    fn includes(&self, other: &Self) -> bool {
        other.context.is_subset_of(&self.context)
            && self.entries.survives(&other.entries, &other.context)
    }

    fn merge(&mut self, other: &Self) {
        self.entries
            .join(&self.context, &other.entries, &other.context);
        self.context.merge(&other.context);
    }

    fn validate(&self) -> Result<(), CrdtError> {
        self.entries.validate_in(&self.context)
    }

    fn validate_merge(&self, other: &Self) -> Result<(), CrdtError> {
        other.validate()?;
        conflicting_dot(self.entries.iter(), other.entries.iter())
    }
}

/// Checks that no dot tags different keys on the two sides.
pub(crate) fn conflicting_dot<'a, K: Key + 'a, S: DotStore + 'a>(
    mine: impl Iterator<Item = (&'a K, &'a S)>,
    theirs: impl Iterator<Item = (&'a K, &'a S)>,
) -> Result<(), CrdtError> {
    let mut tagged: Vec<(Dot, &K, bool)> = Vec::new();
    let mut dots = Vec::new();
    for (side, entries) in [(false, mine.collect::<Vec<_>>()), (true, theirs.collect())] {
        for (key, store) in entries {
            dots.clear();
            store.collect_dots(&mut dots);
            tagged.extend(dots.iter().map(|dot| (*dot, key, side)));
        }
    }
    tagged.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    match tagged
        .windows(2)
        .find(|pair| pair[0].0 == pair[1].0 && pair[0].1 != pair[1].1)
    {
        Some(pair) => Err(CrdtError::ConflictingDot { dot: pair[0].0 }),
        None => Ok(()),
    }
}

impl<E: Key> DeltaCrdt for OrSet<E> {
    type Delta = OrSetDelta<E>;

    fn join_delta(&mut self, delta: &OrSetDelta<E>) -> bool {
        let grew = !delta.context().is_subset_of(&self.context);
        let changed = delta.join_into(&mut self.entries, &self.context);
        if grew {
            self.context.merge(delta.context());
        }
        grew || changed
    }

    fn validate_delta(&self, delta: &OrSetDelta<E>) -> Result<(), CrdtError> {
        delta.validate()?;
        conflicting_dot(self.entries.iter(), delta.entries())
    }
}

impl<E: Key> OpCrdt for OrSet<E> {
    type Op = OrSetOp<E>;

    fn apply_op(&mut self, op: &OrSetOp<E>) -> Result<(), CrdtError> {
        match op {
            OrSetOp::Add {
                element,
                dot,
                observed,
            } => {
                let store = self.entries.entry_mut(element.clone());
                store.retain(|d| !observed.contains(d));
                store.insert(*dot);
                self.context.insert(*dot);
            }
            OrSetOp::Remove { element, observed } => {
                if self.entries.contains_key(element) {
                    self.entries
                        .entry_mut(element.clone())
                        .retain(|d| !observed.contains(d));
                    self.entries.remove_if_bottom(element);
                }
            }
        }
        Ok(())
    }
}

impl<E: Key> Embeddable for OrSet<E> {
    type Store = DotMap<E, DotSet>;

    fn from_parts(store: Self::Store, context: CausalContext) -> Self {
        OrSet {
            entries: store,
            context,
        }
    }

    fn into_parts(self) -> (Self::Store, CausalContext) {
        (self.entries, self.context)
    }

    fn delta_into_parts(delta: OrSetDelta<E>) -> (Self::Store, CausalContext) {
        let mut store = DotMap::new();
        for (element, dots) in delta.entries() {
            store.insert(element.clone(), dots.clone());
        }
        (store, delta.context().clone())
    }
}

/// The context, then the elements with their dots.
impl<E: Key> CrdtEncoding for OrSet<E> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.context.encode(out);
        self.entries.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let context = CausalContext::decode(decoder)?;
        let entries = DotMap::decode(decoder)?;
        let set = OrSet { entries, context };
        set.validate()?;
        Ok(set)
    }
}

/// Tag 0 add (element, dot, observed), tag 1 remove (element, observed).
impl<E: Key> CrdtEncoding for OrSetOp<E> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            OrSetOp::Add {
                element,
                dot,
                observed,
            } => {
                out.push(0);
                element.encode(out);
                dot.encode(out);
                observed.encode(out);
            }
            OrSetOp::Remove { element, observed } => {
                out.push(1);
                element.encode(out);
                observed.encode(out);
            }
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        match decoder.read_u8()? {
            0 => Ok(OrSetOp::Add {
                element: E::decode(decoder)?,
                dot: Dot::decode(decoder)?,
                observed: DotSet::decode(decoder)?,
            }),
            1 => Ok(OrSetOp::Remove {
                element: E::decode(decoder)?,
                observed: DotSet::decode(decoder)?,
            }),
            tag => Err(tessera_vclock::VclockError::InvalidTag { offset, tag }.into()),
        }
    }
}

#[cfg(feature = "serde")]
impl<E: serde::Serialize> serde::Serialize for OrSet<E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.entries, &self.context).serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, E: Key + serde::Deserialize<'de>> serde::Deserialize<'de> for OrSet<E> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (entries, context) = <(DotMap<E, DotSet>, CausalContext)>::deserialize(deserializer)?;
        let set = OrSet { entries, context };
        set.validate().map_err(serde::de::Error::custom)?;
        Ok(set)
    }
}

#[cfg(feature = "serde")]
impl<E: serde::Serialize> serde::Serialize for OrSetOp<E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OrSetOp::Add {
                element,
                dot,
                observed,
            } => (0u8, element, Some(dot), observed).serialize(serializer),
            OrSetOp::Remove { element, observed } => {
                (1u8, element, None::<Dot>, observed).serialize(serializer)
            }
        }
    }
}

#[cfg(feature = "serde")]
impl<'de, E: serde::Deserialize<'de>> serde::Deserialize<'de> for OrSetOp<E> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (tag, element, dot, observed) =
            <(u8, E, Option<Dot>, DotSet)>::deserialize(deserializer)?;
        match (tag, dot) {
            (0, Some(dot)) if dot.counter > 0 => Ok(OrSetOp::Add {
                element,
                dot,
                observed,
            }),
            (1, None) => Ok(OrSetOp::Remove { element, observed }),
            _ => Err(serde::de::Error::custom("malformed set operation")),
        }
    }
}

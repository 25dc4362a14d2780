//! The two-phase set.

use std::collections::BTreeSet;

use tessera_vclock::Decoder;

use crate::dot_map::Key;
use crate::encoding::{read_sorted, write_seq};
use crate::{CrdtEncoding, CrdtError, DeltaCrdt, OpCrdt, StateCrdt};

/// A two-phase set: an element can be added, then removed, and never added
/// again — Shapiro et al. (2011), §3.3.2.
///
/// Remove-wins and final: the set of removed elements *is* the type's
/// meaning (a removed element stays removed forever), so it is kept, one
/// entry per removed element. That is the one set here whose metadata grows
/// with removes; use [`OrSet`](crate::OrSet) when elements come and go.
/// Elements are stored once: in the live set or in the removed set.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{StateCrdt, TwoPSet};
///
/// let mut a = TwoPSet::new();
/// a.insert(7);
/// let mut b = a.clone();
/// b.remove(&7)?;
/// a.insert(7); // again, concurrently: the remove still wins
/// a.merge(&b);
/// assert!(!a.contains(&7));
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TwoPSet<E: Ord> {
    live: BTreeSet<E>,
    removed: BTreeSet<E>,
}

impl<E: Ord> Default for TwoPSet<E> {
    fn default() -> Self {
        TwoPSet {
            live: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }
}

/// An operation of the op-based [`TwoPSet`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TwoPSetOp<E> {
    /// Add the element (no effect once it is removed).
    Insert(E),
    /// Remove the element for good.
    Remove(E),
}

impl<E: Key> TwoPSet<E> {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `element`; no effect if it was ever removed. Returns the delta to
    /// ship.
    pub fn insert(&mut self, element: E) -> TwoPSet<E> {
        let mut delta = TwoPSet::new();
        if !self.removed.contains(&element) {
            self.live.insert(element.clone());
            delta.live.insert(element);
        }
        delta
    }

    /// Removes `element` for good. Returns the delta to ship.
    ///
    /// # Errors
    ///
    /// [`CrdtError::NotPresent`] if the element is not in the set (a 2P-set
    /// removes only what it has observed).
    pub fn remove(&mut self, element: &E) -> Result<TwoPSet<E>, CrdtError> {
        if !self.live.remove(element) {
            return Err(CrdtError::NotPresent);
        }
        self.removed.insert(element.clone());
        let mut delta = TwoPSet::new();
        delta.removed.insert(element.clone());
        Ok(delta)
    }

    /// Whether `element` is in the set.
    pub fn contains(&self, element: &E) -> bool {
        self.live.contains(element)
    }

    /// Whether `element` was removed (and can never return).
    pub fn was_removed(&self, element: &E) -> bool {
        self.removed.contains(element)
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The elements, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &E> + '_ {
        self.live.iter()
    }

    /// The elements removed for good, in order.
    pub fn removed(&self) -> impl ExactSizeIterator<Item = &E> + '_ {
        self.removed.iter()
    }
}

impl<E: Key> StateCrdt for TwoPSet<E> {
    fn merge(&mut self, other: &Self) {
        self.join_delta(other);
    }

    fn validate(&self) -> Result<(), CrdtError> {
        if self
            .live
            .iter()
            .any(|element| self.removed.contains(element))
        {
            return Err(CrdtError::inconsistent(
                "an element is both live and removed",
            ));
        }
        Ok(())
    }
}

impl<E: Key> DeltaCrdt for TwoPSet<E> {
    type Delta = TwoPSet<E>;

    fn join_delta(&mut self, delta: &TwoPSet<E>) -> bool {
        let mut changed = false;
        for element in &delta.removed {
            if !self.removed.contains(element) {
                self.live.remove(element);
                self.removed.insert(element.clone());
                changed = true;
            }
        }
        for element in &delta.live {
            if !self.removed.contains(element) && !self.live.contains(element) {
                self.live.insert(element.clone());
                changed = true;
            }
        }
        changed
    }
}

impl<E: Key> OpCrdt for TwoPSet<E> {
    type Op = TwoPSetOp<E>;

    fn apply_op(&mut self, op: &TwoPSetOp<E>) -> Result<(), CrdtError> {
        match op {
            TwoPSetOp::Insert(element) => {
                self.insert(element.clone());
            }
            TwoPSetOp::Remove(element) => {
                self.live.remove(element);
                self.removed.insert(element.clone());
            }
        }
        Ok(())
    }
}

/// The live elements, then the removed ones, each in order.
impl<E: Key> CrdtEncoding for TwoPSet<E> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_seq(out, self.live.len(), &self.live);
        write_seq(out, self.removed.len(), &self.removed);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let live: Vec<E> = read_sorted(decoder, "live element")?;
        let removed: Vec<E> = read_sorted(decoder, "removed element")?;
        let set = TwoPSet {
            live: live.into_iter().collect(),
            removed: removed.into_iter().collect(),
        };
        set.validate()?;
        Ok(set)
    }
}

impl<E: Key> CrdtEncoding for TwoPSetOp<E> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TwoPSetOp::Insert(element) => {
                out.push(0);
                element.encode(out);
            }
            TwoPSetOp::Remove(element) => {
                out.push(1);
                element.encode(out);
            }
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        match decoder.read_u8()? {
            0 => Ok(TwoPSetOp::Insert(E::decode(decoder)?)),
            1 => Ok(TwoPSetOp::Remove(E::decode(decoder)?)),
            tag => Err(tessera_vclock::VclockError::InvalidTag { offset, tag }.into()),
        }
    }
}

#[cfg(feature = "serde")]
impl<'de, E: Key + serde::Deserialize<'de>> serde::Deserialize<'de> for TwoPSet<E> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Parts<E: Ord> {
            live: BTreeSet<E>,
            removed: BTreeSet<E>,
        }
        let parts = Parts::<E>::deserialize(deserializer)?;
        let set = TwoPSet {
            live: parts.live,
            removed: parts.removed,
        };
        set.validate().map_err(serde::de::Error::custom)?;
        Ok(set)
    }
}

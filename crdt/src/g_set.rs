//! The grow-only set.

use std::collections::BTreeSet;

use tessera_vclock::Decoder;

use crate::dot_map::Key;
use crate::encoding::{read_sorted, write_seq};
use crate::{CrdtEncoding, CrdtError, DeltaCrdt, OpCrdt, StateCrdt};

/// A grow-only set: elements are added, never removed; merge is union —
/// Shapiro et al. (2011), §3.3.1. Its delta is the set of elements added.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{GSet, StateCrdt};
///
/// let mut a = GSet::new();
/// let mut b = GSet::new();
/// a.insert(1);
/// b.insert(2);
/// a.merge(&b);
/// assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![1, 2]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct GSet<E: Ord> {
    elements: BTreeSet<E>,
}

impl<E: Ord> Default for GSet<E> {
    fn default() -> Self {
        GSet {
            elements: BTreeSet::new(),
        }
    }
}

impl<E: Key> GSet<E> {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `element`. Returns the delta to ship.
    pub fn insert(&mut self, element: E) -> GSet<E> {
        self.elements.insert(element.clone());
        GSet {
            elements: BTreeSet::from([element]),
        }
    }

    /// Whether `element` is in the set.
    pub fn contains(&self, element: &E) -> bool {
        self.elements.contains(element)
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The elements, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &E> + '_ {
        self.elements.iter()
    }
}

impl<E: Key> FromIterator<E> for GSet<E> {
    fn from_iter<I: IntoIterator<Item = E>>(elements: I) -> Self {
        GSet {
            elements: elements.into_iter().collect(),
        }
    }
}

impl<E: Key> StateCrdt for GSet<E> {
    fn merge(&mut self, other: &Self) {
        for element in &other.elements {
            if !self.elements.contains(element) {
                self.elements.insert(element.clone());
            }
        }
    }
}

impl<E: Key> DeltaCrdt for GSet<E> {
    type Delta = GSet<E>;

    fn join_delta(&mut self, delta: &GSet<E>) -> bool {
        let mut changed = false;
        for element in &delta.elements {
            if !self.elements.contains(element) {
                self.elements.insert(element.clone());
                changed = true;
            }
        }
        changed
    }
}

/// The op-based grow-only set: the operation is the element to add
/// (idempotent, so duplicates are harmless here).
impl<E: Key> OpCrdt for GSet<E> {
    type Op = E;

    fn apply_op(&mut self, op: &E) -> Result<(), CrdtError> {
        self.insert(op.clone());
        Ok(())
    }
}

/// The elements, in order.
impl<E: Key> CrdtEncoding for GSet<E> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_seq(out, self.elements.len(), &self.elements);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let elements: Vec<E> = read_sorted(decoder, "set element")?;
        Ok(GSet {
            elements: elements.into_iter().collect(),
        })
    }
}

//! A set of dots: the simplest dot store.

use std::fmt;

use tessera_vclock::{Decoder, Dot};

use crate::encoding::{decode_dots, encode_dots};
use crate::{CausalContext, CrdtEncoding, CrdtError, DotStore};

/// A set of dots, sorted, stored inline when it holds one (the usual case:
/// an element added once, a flag enabled once) so that sets of them
/// allocate nothing per entry.
///
/// As a [`DotStore`] it is the payload of an enable-wins flag and of each
/// element of an [`OrSet`](crate::OrSet): the element is present while its
/// dot set is not empty.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{CausalContext, DotSet, DotStore};
/// use tessera_vclock::Dot;
///
/// // Each side added once; each has seen the other's add and dropped it.
/// let mut mine = DotSet::from_dots([Dot::new(1, 1)]);
/// let mine_seen = CausalContext::from_dots([Dot::new(1, 1), Dot::new(2, 1)]);
/// let theirs = DotSet::from_dots([Dot::new(2, 1), Dot::new(2, 2)]);
/// let theirs_seen = CausalContext::from_dots([Dot::new(2, 1), Dot::new(2, 2)]);
/// mine.join(&mine_seen, &theirs, &theirs_seen);
/// // (1, 1): they have not seen it, it stays. (2, 1): seen here and
/// // dropped, it stays dropped. (2, 2): new here, it is added.
/// assert_eq!(mine.as_slice(), &[Dot::new(1, 1), Dot::new(2, 2)]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct DotSet {
    repr: Repr,
}

#[derive(Clone, Default, PartialEq, Eq, Hash)]
enum Repr {
    #[default]
    Empty,
    One(Dot),
    /// At least two, strictly sorted.
    Many(Vec<Dot>),
}

impl DotSet {
    /// The empty set.
    pub const fn new() -> Self {
        DotSet { repr: Repr::Empty }
    }

    /// The set of one dot.
    pub const fn single(dot: Dot) -> Self {
        DotSet {
            repr: Repr::One(dot),
        }
    }

    /// The set of `dots`, in any order, repeats ignored.
    pub fn from_dots(dots: impl IntoIterator<Item = Dot>) -> Self {
        let mut dots: Vec<Dot> = dots.into_iter().collect();
        dots.sort_unstable();
        dots.dedup();
        Self::from_sorted(dots)
    }

    fn from_sorted(mut dots: Vec<Dot>) -> Self {
        let repr = match dots.len() {
            0 => Repr::Empty,
            1 => Repr::One(dots.remove(0)),
            _ => Repr::Many(dots),
        };
        DotSet { repr }
    }

    /// The dots, sorted.
    pub fn as_slice(&self) -> &[Dot] {
        match &self.repr {
            Repr::Empty => &[],
            Repr::One(dot) => std::slice::from_ref(dot),
            Repr::Many(dots) => dots,
        }
    }

    /// How many dots.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        matches!(self.repr, Repr::Empty)
    }

    /// Whether `dot` is in the set.
    pub fn contains(&self, dot: Dot) -> bool {
        match &self.repr {
            Repr::Empty => false,
            Repr::One(one) => *one == dot,
            Repr::Many(dots) => dots.binary_search(&dot).is_ok(),
        }
    }

    /// Adds `dot`.
    pub fn insert(&mut self, dot: Dot) {
        match &mut self.repr {
            Repr::Empty => self.repr = Repr::One(dot),
            Repr::One(one) => {
                let one = *one;
                match one.cmp(&dot) {
                    std::cmp::Ordering::Equal => {}
                    std::cmp::Ordering::Less => self.repr = Repr::Many(vec![one, dot]),
                    std::cmp::Ordering::Greater => self.repr = Repr::Many(vec![dot, one]),
                }
            }
            Repr::Many(dots) => {
                if let Err(index) = dots.binary_search(&dot) {
                    dots.insert(index, dot);
                }
            }
        }
    }

    /// Appends a dot greater than every dot in the set.
    fn push_greatest(&mut self, dot: Dot) {
        match &mut self.repr {
            Repr::Empty => self.repr = Repr::One(dot),
            Repr::One(one) => self.repr = Repr::Many(vec![*one, dot]),
            Repr::Many(dots) => dots.push(dot),
        }
    }

    /// Removes every dot.
    pub fn clear(&mut self) {
        self.repr = Repr::Empty;
    }

    /// Keeps the dots for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(Dot) -> bool) {
        match &mut self.repr {
            Repr::Empty => {}
            Repr::One(dot) => {
                if !keep(*dot) {
                    self.repr = Repr::Empty;
                }
            }
            Repr::Many(dots) => {
                dots.retain(|dot| keep(*dot));
                let dots = std::mem::take(dots);
                *self = Self::from_sorted(dots);
            }
        }
    }

    /// The dots, sorted.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Dot> + '_ {
        self.as_slice().iter().copied()
    }
}

impl fmt::Debug for DotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.as_slice()).finish()
    }
}

impl FromIterator<Dot> for DotSet {
    fn from_iter<I: IntoIterator<Item = Dot>>(dots: I) -> Self {
        Self::from_dots(dots)
    }
}

impl DotStore for DotSet {
    fn is_bottom(&self) -> bool {
        self.is_empty()
    }

    fn collect_dots(&self, out: &mut Vec<Dot>) {
        out.extend_from_slice(self.as_slice());
    }

    fn survives(&self, other: &Self, other_context: &CausalContext) -> bool {
        self.iter()
            .all(|dot| !other_context.contains(dot) || other.contains(dot))
    }

    fn join(&mut self, context: &CausalContext, other: &Self, other_context: &CausalContext) {
        if self == other {
            return;
        }
        // Keep what both hold, and what one holds and the other has not
        // seen; merge the two sorted lists.
        let (mine, theirs) = (self.as_slice(), other.as_slice());
        let mut result = DotSet::new();
        let (mut i, mut j) = (0, 0);
        while i < mine.len() || j < theirs.len() {
            let take_mine = j == theirs.len() || (i < mine.len() && mine[i] <= theirs[j]);
            if take_mine {
                let dot = mine[i];
                let in_both = j < theirs.len() && theirs[j] == dot;
                if in_both {
                    j += 1;
                }
                if in_both || !other_context.contains(dot) {
                    result.push_greatest(dot);
                }
                i += 1;
            } else {
                let dot = theirs[j];
                if !context.contains(dot) {
                    result.push_greatest(dot);
                }
                j += 1;
            }
        }
        *self = result;
    }
}

impl CrdtEncoding for DotSet {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_dots(out, self.as_slice());
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(Self::from_sorted(decode_dots(decoder)?))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for DotSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for DotSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let dots = Vec::<Dot>::deserialize(deserializer)?;
        if dots.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(serde::de::Error::custom("dots must be strictly sorted"));
        }
        if dots.iter().any(|dot| dot.counter == 0) {
            return Err(serde::de::Error::custom("dot counters start at one"));
        }
        Ok(Self::from_sorted(dots))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_spilled_forms_behave_alike() {
        let mut set = DotSet::new();
        set.insert(Dot::new(2, 1));
        set.insert(Dot::new(1, 4));
        set.insert(Dot::new(1, 4));
        assert_eq!(set.as_slice(), &[Dot::new(1, 4), Dot::new(2, 1)]);
        set.retain(|dot| dot.actor == 2);
        assert_eq!(set, DotSet::single(Dot::new(2, 1)));
        set.retain(|_| false);
        assert!(set.is_empty());
        assert_eq!(DotSet::from_bytes(&set.to_bytes()), Ok(set));
    }
}

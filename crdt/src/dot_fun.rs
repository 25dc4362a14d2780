//! A map from dots to values: the dot store of a multi-value register.

use std::fmt;

use tessera_vclock::{Decoder, Dot};

use crate::encoding::{decode_dots, encode_dots};
use crate::{CausalContext, CrdtEncoding, CrdtError, DotStore};

/// A function from dots to values, sorted by dot: each value is tagged with
/// the event that wrote it.
///
/// It is the payload of an [`MvRegister`](crate::MvRegister): concurrent
/// writes survive side by side, each under its own dot, and a write that
/// has seen them (its context covers their dots) replaces them.
///
/// A dot names one event, so two stores that hold the same dot hold the
/// same value under it; [`DotFun::conflicting_dot`] finds a violation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DotFun<V> {
    entries: Vec<(Dot, V)>,
}

impl<V> Default for DotFun<V> {
    fn default() -> Self {
        DotFun {
            entries: Vec::new(),
        }
    }
}

impl<V> DotFun<V> {
    /// The empty store.
    pub const fn new() -> Self {
        DotFun {
            entries: Vec::new(),
        }
    }

    /// The store of one value written by `dot`.
    pub fn single(dot: Dot, value: V) -> Self {
        DotFun {
            entries: vec![(dot, value)],
        }
    }

    /// The entries, sorted by dot.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Dot, &V)> + '_ {
        self.entries.iter().map(|(dot, value)| (*dot, value))
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value under `dot`.
    pub fn get(&self, dot: Dot) -> Option<&V> {
        self.entries
            .binary_search_by(|(d, _)| d.cmp(&dot))
            .ok()
            .map(|index| &self.entries[index].1)
    }

    /// Sets the value under `dot`.
    pub fn insert(&mut self, dot: Dot, value: V) {
        match self.entries.binary_search_by(|(d, _)| d.cmp(&dot)) {
            Ok(index) => self.entries[index].1 = value,
            Err(index) => self.entries.insert(index, (dot, value)),
        }
    }

    /// Keeps the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(Dot, &V) -> bool) {
        self.entries.retain(|(dot, value)| keep(*dot, value));
    }

    /// The first dot that names different values here and in `other`.
    pub fn conflicting_dot(&self, other: &DotFun<V>) -> Option<Dot>
    where
        V: PartialEq,
    {
        self.entries
            .iter()
            .find(|(dot, value)| other.get(*dot).is_some_and(|theirs| theirs != value))
            .map(|(dot, _)| *dot)
    }
}

impl<V: fmt::Debug> fmt::Debug for DotFun<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(dot, value)| (dot, value)))
            .finish()
    }
}

impl<V> DotStore for DotFun<V>
where
    V: Clone + fmt::Debug + PartialEq + CrdtEncoding,
{
    fn is_bottom(&self) -> bool {
        self.entries.is_empty()
    }

    fn collect_dots(&self, out: &mut Vec<Dot>) {
        out.extend(self.entries.iter().map(|(dot, _)| *dot));
    }

    fn survives(&self, other: &Self, other_context: &CausalContext) -> bool {
        self.entries
            .iter()
            .all(|(dot, _)| !other_context.contains(*dot) || other.get(*dot).is_some())
    }

    fn join(&mut self, context: &CausalContext, other: &Self, other_context: &CausalContext) {
        let mine = std::mem::take(&mut self.entries);
        let mut result = Vec::with_capacity(mine.len().max(other.entries.len()));
        let mut theirs = other.entries.iter().peekable();
        for (dot, value) in mine {
            while let Some((their_dot, their_value)) = theirs.peek() {
                if *their_dot >= dot {
                    break;
                }
                if !context.contains(*their_dot) {
                    result.push((*their_dot, their_value.clone()));
                }
                theirs.next();
            }
            let in_both = theirs
                .peek()
                .is_some_and(|(their_dot, _)| *their_dot == dot);
            if in_both {
                theirs.next();
            }
            if in_both || !other_context.contains(dot) {
                result.push((dot, value));
            }
        }
        for (their_dot, their_value) in theirs {
            if !context.contains(*their_dot) {
                result.push((*their_dot, their_value.clone()));
            }
        }
        self.entries = result;
    }
}

/// The dots, then the values in dot order.
impl<V: CrdtEncoding> CrdtEncoding for DotFun<V> {
    fn encode(&self, out: &mut Vec<u8>) {
        let dots: Vec<Dot> = self.entries.iter().map(|(dot, _)| *dot).collect();
        encode_dots(out, &dots);
        for (_, value) in &self.entries {
            value.encode(out);
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let dots = decode_dots(decoder)?;
        let mut entries = Vec::with_capacity(dots.len());
        for dot in dots {
            entries.push((dot, V::decode(decoder)?));
        }
        Ok(DotFun { entries })
    }
}

#[cfg(feature = "serde")]
impl<V: serde::Serialize> serde::Serialize for DotFun<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for DotFun<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<(Dot, V)>::deserialize(deserializer)?;
        if entries.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err(serde::de::Error::custom("dots must be strictly sorted"));
        }
        if entries.iter().any(|(dot, _)| dot.counter == 0) {
            return Err(serde::de::Error::custom("dot counters start at one"));
        }
        Ok(DotFun { entries })
    }
}

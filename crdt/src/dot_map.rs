//! A map from keys to dot stores, and the deltas of the maps built on it.

use std::collections::BTreeMap;
use std::fmt;

use tessera_vclock::{Decoder, Dot};

use crate::encoding::{read_len, write_len};
use crate::traits::check_dots;
use crate::{CausalContext, CrdtEncoding, CrdtError, DotStore, StateCrdt};

/// The bounds a key of a [`DotMap`] (an element of an
/// [`OrSet`](crate::OrSet), a key of an [`OrMap`](crate::OrMap)) meets.
pub trait Key: Ord + Clone + fmt::Debug + CrdtEncoding {}

impl<T: Ord + Clone + fmt::Debug + CrdtEncoding> Key for T {}

/// A map from keys to dot stores, holding no bottom values: a key is
/// present while its store holds a dot.
///
/// It is the store of an [`OrSet`](crate::OrSet) (`DotMap<E, DotSet>`: an
/// element is present while some add of it survives) and of an
/// [`OrMap`](crate::OrMap) (`DotMap<K, V::Store>`). Its join joins the
/// stores key by key under the two contexts, so a key whose every event the
/// other side has seen and dropped disappears — a remove — with no
/// tombstone left behind.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DotMap<K, S> {
    entries: BTreeMap<K, S>,
}

impl<K, S> Default for DotMap<K, S> {
    fn default() -> Self {
        DotMap {
            entries: BTreeMap::new(),
        }
    }
}

impl<K: Key, S: DotStore> DotMap<K, S> {
    /// The empty map.
    pub const fn new() -> Self {
        DotMap {
            entries: BTreeMap::new(),
        }
    }

    /// The store under `key`.
    pub fn get(&self, key: &K) -> Option<&S> {
        self.entries.get(key)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &S)> + '_ {
        self.entries.iter()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &K> + '_ {
        self.entries.keys()
    }

    /// Sets `key`'s store (removing the key if the store is bottom).
    pub fn insert(&mut self, key: K, store: S) {
        if store.is_bottom() {
            self.entries.remove(&key);
        } else {
            self.entries.insert(key, store);
        }
    }

    /// Removes `key`, returning its store.
    pub fn remove(&mut self, key: &K) -> Option<S> {
        self.entries.remove(key)
    }

    /// Joins `(store, store_context)` into the store of `key` under
    /// `context`; a store that becomes bottom is removed. Returns whether
    /// the key's store changed.
    pub(crate) fn join_key(
        &mut self,
        context: &CausalContext,
        key: &K,
        store: &S,
        store_context: &CausalContext,
    ) -> bool {
        match self.entries.get_mut(key) {
            Some(mine) => {
                let before = mine.clone();
                mine.join(context, store, store_context);
                let changed = *mine != before;
                if mine.is_bottom() {
                    self.entries.remove(key);
                }
                changed
            }
            None => {
                let mut fresh = S::default();
                fresh.join(context, store, store_context);
                if fresh.is_bottom() {
                    false
                } else {
                    self.entries.insert(key.clone(), fresh);
                    true
                }
            }
        }
    }

    pub(crate) fn entry_mut(&mut self, key: K) -> &mut S {
        self.entries.entry(key).or_default()
    }

    pub(crate) fn remove_if_bottom(&mut self, key: &K) {
        if self.entries.get(key).is_some_and(DotStore::is_bottom) {
            self.entries.remove(key);
        }
    }
}

impl<K: fmt::Debug, S: fmt::Debug> fmt::Debug for DotMap<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter()).finish()
    }
}

impl<K: Key, S: DotStore> DotStore for DotMap<K, S> {
    fn is_bottom(&self) -> bool {
        self.entries.is_empty()
    }

    fn collect_dots(&self, out: &mut Vec<Dot>) {
        for store in self.entries.values() {
            store.collect_dots(out);
        }
    }

    fn survives(&self, other: &Self, other_context: &CausalContext) -> bool {
        // One ordered pass over both maps.
        let bottom = S::default();
        let mut theirs = other.entries.iter().peekable();
        self.entries.iter().all(|(key, store)| {
            while theirs.next_if(|(their_key, _)| *their_key < key).is_some() {}
            let their_store = match theirs.peek() {
                Some((their_key, their_store)) if *their_key == key => *their_store,
                _ => &bottom,
            };
            store.survives(their_store, other_context)
        })
    }

    fn join(&mut self, context: &CausalContext, other: &Self, other_context: &CausalContext) {
        // One ordered pass over both maps: keys only here lose what the
        // other side has seen, keys only there bring what this side has
        // not seen, keys in both join their stores.
        let bottom = S::default();
        let mut theirs = other.entries.iter().peekable();
        let mut arrivals: Vec<(K, S)> = Vec::new();
        self.entries.retain(|key, mine| {
            while let Some((their_key, their_store)) = theirs.peek() {
                if *their_key >= key {
                    break;
                }
                let mut fresh = S::default();
                fresh.join(context, their_store, other_context);
                if !fresh.is_bottom() {
                    arrivals.push(((*their_key).clone(), fresh));
                }
                theirs.next();
            }
            match theirs.peek() {
                Some((their_key, their_store)) if *their_key == key => {
                    mine.join(context, their_store, other_context);
                    theirs.next();
                }
                _ => mine.join(context, &bottom, other_context),
            }
            !mine.is_bottom()
        });
        for (their_key, their_store) in theirs {
            let mut fresh = S::default();
            fresh.join(context, their_store, other_context);
            if !fresh.is_bottom() {
                arrivals.push((their_key.clone(), fresh));
            }
        }
        for (key, store) in arrivals {
            self.entries.insert(key, store);
        }
    }

    fn validate_in(&self, context: &CausalContext) -> Result<(), CrdtError> {
        if self.entries.values().any(DotStore::is_bottom) {
            return Err(CrdtError::inconsistent("a key holds an empty store"));
        }
        let mut dots = Vec::new();
        self.collect_dots(&mut dots);
        check_dots(&mut dots, context)
    }
}

/// The count, then each key and its store, in key order.
impl<K: Key, S: DotStore> CrdtEncoding for DotMap<K, S> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.entries.len());
        for (key, store) in &self.entries {
            key.encode(out);
            store.encode(out);
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let entries = decode_sorted_entries::<K, S>(decoder)?;
        if entries.iter().any(|(_, store)| store.is_bottom()) {
            return Err(CrdtError::inconsistent("a key holds an empty store"));
        }
        Ok(DotMap {
            entries: entries.into_iter().collect(),
        })
    }
}

fn decode_sorted_entries<K: Key, S: CrdtEncoding>(
    decoder: &mut Decoder<'_>,
) -> Result<Vec<(K, S)>, CrdtError> {
    let count = read_len(decoder, 1)?;
    let mut entries: Vec<(K, S)> = Vec::with_capacity(count);
    for _ in 0..count {
        let offset = decoder.position();
        let key = K::decode(decoder)?;
        if entries.last().is_some_and(|(last, _)| *last >= key) {
            return Err(CrdtError::inconsistent(format!(
                "key at offset {offset} is out of order or repeated"
            )));
        }
        let store = S::decode(decoder)?;
        entries.push((key, store));
    }
    Ok(entries)
}

#[cfg(feature = "serde")]
impl<K: serde::Serialize, S: serde::Serialize> serde::Serialize for DotMap<K, S> {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        serializer.collect_seq(self.entries.iter())
    }
}

#[cfg(feature = "serde")]
impl<'de, K, S> serde::Deserialize<'de> for DotMap<K, S>
where
    K: Key + serde::Deserialize<'de>,
    S: DotStore + serde::Deserialize<'de>,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<(K, S)>::deserialize(deserializer)?;
        if entries.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err(serde::de::Error::custom("keys must be strictly sorted"));
        }
        if entries.iter().any(|(_, store)| store.is_bottom()) {
            return Err(serde::de::Error::custom("a key holds an empty store"));
        }
        Ok(DotMap {
            entries: entries.into_iter().collect(),
        })
    }
}

/// A delta of a map-shaped causal CRDT ([`OrSet`](crate::OrSet),
/// [`OrMap`](crate::OrMap)): the keys it touches, each with its store
/// (empty for a remove), and a causal context of exactly the events it
/// adds or removes.
///
/// Every dot of the context belongs to a touched key — the add's new dot
/// and the dots it replaces, the remove's observed dots — so joining a
/// delta into a replica visits only the touched keys: the cost grows with
/// the delta, not with the replica. Delta groups (deltas joined together)
/// keep that property.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DotMapDelta<K, S> {
    /// Touched keys, strictly sorted; stores may be bottom.
    entries: Vec<(K, S)>,
    context: CausalContext,
}

impl<K, S> Default for DotMapDelta<K, S> {
    fn default() -> Self {
        DotMapDelta {
            entries: Vec::new(),
            context: CausalContext::new(),
        }
    }
}

impl<K: Key, S: DotStore> DotMapDelta<K, S> {
    /// A delta touching one key.
    pub(crate) fn single(key: K, store: S, context: CausalContext) -> Self {
        DotMapDelta {
            entries: vec![(key, store)],
            context,
        }
    }

    /// A delta from touched keys in strictly increasing order.
    pub(crate) fn from_sorted_parts(entries: Vec<(K, S)>, context: CausalContext) -> Self {
        DotMapDelta { entries, context }
    }

    /// The touched keys and their stores, in key order (a bottom store
    /// marks a remove).
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&K, &S)> + '_ {
        self.entries.iter().map(|(key, store)| (key, store))
    }

    /// The events the delta adds or removes.
    pub fn context(&self) -> &CausalContext {
        &self.context
    }

    /// Whether the delta changes nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.context.is_empty()
    }

    /// Joins the delta into a map store with context `context` (which the
    /// caller then joins with the delta's). Returns whether the store
    /// changed.
    pub(crate) fn join_into(&self, map: &mut DotMap<K, S>, context: &CausalContext) -> bool {
        let mut changed = false;
        for (key, store) in &self.entries {
            changed |= map.join_key(context, key, store, &self.context);
        }
        changed
    }
}

impl<K: fmt::Debug, S: fmt::Debug> fmt::Debug for DotMapDelta<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DotMapDelta")
            .field("entries", &self.entries)
            .field("context", &self.context)
            .finish()
    }
}

impl<K: Key, S: DotStore> StateCrdt for DotMapDelta<K, S> {
    fn merge(&mut self, other: &Self) {
        let mine = std::mem::take(&mut self.entries);
        let mut result = Vec::with_capacity(mine.len() + other.entries.len());
        let bottom = S::default();
        let mut theirs = other.entries.iter().peekable();
        for (key, mut store) in mine {
            while let Some((their_key, their_store)) = theirs.peek() {
                if *their_key >= key {
                    break;
                }
                let mut fresh = S::default();
                fresh.join(&self.context, their_store, &other.context);
                result.push((their_key.clone(), fresh));
                theirs.next();
            }
            match theirs.peek() {
                Some((their_key, their_store)) if *their_key == key => {
                    store.join(&self.context, their_store, &other.context);
                    theirs.next();
                }
                _ => store.join(&self.context, &bottom, &other.context),
            }
            // Touched keys stay, even when their store becomes bottom: the
            // key tells a replica where the removed dots were.
            result.push((key, store));
        }
        for (their_key, their_store) in theirs {
            let mut fresh = S::default();
            fresh.join(&self.context, their_store, &other.context);
            result.push((their_key.clone(), fresh));
        }
        self.entries = result;
        self.context.merge(&other.context);
    }

    fn validate(&self) -> Result<(), CrdtError> {
        if self.entries.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err(CrdtError::inconsistent(
                "delta keys must be strictly sorted",
            ));
        }
        let mut dots = Vec::new();
        for (_, store) in &self.entries {
            store.validate_in(&self.context)?;
            store.collect_dots(&mut dots);
        }
        check_dots(&mut dots, &self.context)
    }
}

/// The context, the count, then each key and its store in key order.
impl<K: Key, S: DotStore> CrdtEncoding for DotMapDelta<K, S> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.context.encode(out);
        write_len(out, self.entries.len());
        for (key, store) in &self.entries {
            key.encode(out);
            store.encode(out);
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let context = CausalContext::decode(decoder)?;
        let entries = decode_sorted_entries::<K, S>(decoder)?;
        let delta = DotMapDelta { entries, context };
        delta.validate()?;
        Ok(delta)
    }
}

#[cfg(feature = "serde")]
impl<K: serde::Serialize, S: serde::Serialize> serde::Serialize for DotMapDelta<K, S> {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        (&self.entries, &self.context).serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, K, S> serde::Deserialize<'de> for DotMapDelta<K, S>
where
    K: Key + serde::Deserialize<'de>,
    S: DotStore + serde::Deserialize<'de>,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (entries, context) = <(Vec<(K, S)>, CausalContext)>::deserialize(deserializer)?;
        let delta = DotMapDelta { entries, context };
        delta.validate().map_err(serde::de::Error::custom)?;
        Ok(delta)
    }
}

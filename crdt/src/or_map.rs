//! The observed-remove map of nested CRDTs.

use std::fmt;

use tessera_vclock::Decoder;

use crate::dot_map::Key;
use crate::or_set::conflicting_dot;
use crate::{
    CausalContext, CrdtEncoding, CrdtError, DeltaCrdt, DotMap, DotMapDelta, DotSet, DotStore,
    Embeddable, OpCrdt, StateCrdt,
};

/// A delta of an [`OrMap`]: the keys it touches, each with the nested
/// value's delta store, and the events it adds or removes.
pub type OrMapDelta<K, V> = DotMapDelta<K, <V as Embeddable>::Store>;

/// An observed-remove map whose values are causal CRDTs — [`OrSet`],
/// [`MvRegister`], [`EwFlag`], [`DwFlag`], or another `OrMap` — that share
/// the map's causal context (Almeida et al. (2018), `ORMap`).
///
/// - **update** runs a mutation on the key's value, lending it the map's
///   context so every dot is unique map-wide; the key exists while its
///   value holds a dot;
/// - **remove** drops the key's dots the remover has seen. The value is
///   reset *causally*: an update concurrent with the remove — dots the
///   remover never saw — survives, on a value that has forgotten
///   everything the remover saw. No tombstone is kept for the key; the
///   map's context remembers the removed dots, as a version vector.
///
/// Counters are not embeddable: reset needs every contribution to carry a
/// dot, and [`GCounter`](crate::GCounter) keeps one number per actor.
///
/// [`OrSet`]: crate::OrSet
/// [`MvRegister`]: crate::MvRegister
/// [`EwFlag`]: crate::EwFlag
/// [`DwFlag`]: crate::DwFlag
///
/// # Examples
///
/// ```
/// use tessera_crdt::{OrMap, OrSet, StateCrdt};
///
/// let fruit = "fruit".to_string();
/// let mut alice: OrMap<String, OrSet<String>> = OrMap::new();
/// alice.update(fruit.clone(), |set| set.add("apple".into(), 1))?;
/// let mut bob = alice.clone();
///
/// // Concurrently: Alice removes the key, Bob adds to its set.
/// alice.remove(&fruit);
/// bob.update(fruit.clone(), |set| set.add("pear".into(), 2))?;
/// alice.merge(&bob);
///
/// // The key survives with Bob's concurrent add only: the apple Alice
/// // had seen is gone.
/// let set = alice.get(&fruit).expect("kept by the concurrent update");
/// assert_eq!(set.iter().collect::<Vec<_>>(), ["pear"]);
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OrMap<K, V: Embeddable> {
    entries: DotMap<K, V::Store>,
    context: CausalContext,
}

impl<K, V: Embeddable> Default for OrMap<K, V> {
    fn default() -> Self {
        OrMap {
            entries: DotMap::default(),
            context: CausalContext::new(),
        }
    }
}

/// An operation of the op-based [`OrMap`].
#[derive(Clone, PartialEq, Eq)]
pub enum OrMapOp<K, O> {
    /// Apply the nested operation to the key's value.
    Update {
        /// The key.
        key: K,
        /// The nested value's operation.
        op: O,
    },
    /// Reset the key's value: drop the dots the source observed.
    Remove {
        /// The key.
        key: K,
        /// The key's dots at the source.
        observed: DotSet,
    },
}

impl<K: fmt::Debug, O: fmt::Debug> fmt::Debug for OrMapOp<K, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrMapOp::Update { key, op } => f
                .debug_struct("Update")
                .field("key", key)
                .field("op", op)
                .finish(),
            OrMapOp::Remove { key, observed } => f
                .debug_struct("Remove")
                .field("key", key)
                .field("observed", observed)
                .finish(),
        }
    }
}

impl<K: Key, V: Embeddable> OrMap<K, V> {
    /// The empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value under `key`, as a CRDT of its own (a copy carrying the
    /// map's context).
    pub fn get(&self, key: &K) -> Option<V> {
        self.entries
            .get(key)
            .map(|store| V::from_parts(store.clone(), self.context.clone()))
    }

    /// The dot store under `key`, without copying the context.
    pub fn get_store(&self, key: &K) -> Option<&V::Store> {
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

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &K> + '_ {
        self.entries.keys()
    }

    /// Every event this replica has seen.
    pub fn context(&self) -> &CausalContext {
        &self.context
    }

    /// Runs `mutate` on `key`'s value (a default value if the key is
    /// absent). `mutate` returns the nested delta — what a mutator of `V`
    /// returns — and `update` returns the map's delta to ship.
    ///
    /// # Errors
    ///
    /// Whatever `mutate` returns; the map keeps whatever `mutate` did
    /// before failing (mutators here fail before changing anything).
    pub fn update(
        &mut self,
        key: K,
        mutate: impl FnOnce(&mut V) -> Result<V::Delta, CrdtError>,
    ) -> Result<OrMapDelta<K, V>, CrdtError> {
        let store = self.entries.remove(&key).unwrap_or_default();
        let mut value = V::from_parts(store, std::mem::take(&mut self.context));
        let result = mutate(&mut value);
        let (store, context) = value.into_parts();
        self.context = context;
        self.entries.insert(key.clone(), store);
        let (store, context) = V::delta_into_parts(result?);
        Ok(DotMapDelta::single(key, store, context))
    }

    /// Removes `key`: resets its value causally. Returns the delta to ship
    /// (empty if the key was not here).
    pub fn remove(&mut self, key: &K) -> OrMapDelta<K, V> {
        match self.entries.remove(key) {
            Some(store) => {
                let mut dots = Vec::new();
                store.collect_dots(&mut dots);
                DotMapDelta::single(
                    key.clone(),
                    V::Store::default(),
                    CausalContext::from_dots(dots),
                )
            }
            None => DotMapDelta::default(),
        }
    }

    /// The operation that runs `make_op` on `key`'s value (op-based use):
    /// `make_op` gets the value (with the map's context) and builds the
    /// nested operation.
    ///
    /// # Errors
    ///
    /// Whatever `make_op` returns.
    pub fn update_op<O>(
        &self,
        key: K,
        make_op: impl FnOnce(&V) -> Result<O, CrdtError>,
    ) -> Result<OrMapOp<K, O>, CrdtError> {
        let store = self.entries.get(&key).cloned().unwrap_or_default();
        let value = V::from_parts(store, self.context.clone());
        Ok(OrMapOp::Update {
            op: make_op(&value)?,
            key,
        })
    }

    /// The operation that removes `key` (op-based use), or `None` if it is
    /// not here.
    pub fn remove_op<O>(&self, key: &K) -> Option<OrMapOp<K, O>> {
        self.entries.get(key).map(|store| {
            let mut dots = Vec::new();
            store.collect_dots(&mut dots);
            OrMapOp::Remove {
                key: key.clone(),
                observed: DotSet::from_dots(dots),
            }
        })
    }
}

impl<K: Key, V: Embeddable> fmt::Debug for OrMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrMap")
            .field("entries", &self.entries)
            .field("context", &self.context)
            .finish()
    }
}

impl<K: Key, V: Embeddable> StateCrdt for OrMap<K, V> {
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

impl<K: Key, V: Embeddable> DeltaCrdt for OrMap<K, V> {
    type Delta = OrMapDelta<K, V>;

    fn join_delta(&mut self, delta: &Self::Delta) -> bool {
        let grew = !delta.context().is_subset_of(&self.context);
        let changed = delta.join_into(&mut self.entries, &self.context);
        if grew {
            self.context.merge(delta.context());
        }
        grew || changed
    }

    fn validate_delta(&self, delta: &Self::Delta) -> Result<(), CrdtError> {
        delta.validate()?;
        conflicting_dot(self.entries.iter(), delta.entries())
    }
}

impl<K: Key, V: Embeddable + OpCrdt> OpCrdt for OrMap<K, V> {
    type Op = OrMapOp<K, V::Op>;

    fn apply_op(&mut self, op: &Self::Op) -> Result<(), CrdtError> {
        match op {
            OrMapOp::Update { key, op } => {
                let store = self.entries.remove(key).unwrap_or_default();
                let mut value = V::from_parts(store, std::mem::take(&mut self.context));
                let result = value.apply_op(op);
                let (store, context) = value.into_parts();
                self.context = context;
                self.entries.insert(key.clone(), store);
                result
            }
            OrMapOp::Remove { key, observed } => {
                if let Some(store) = self.entries.remove(key) {
                    let mut reset = store;
                    let observed = CausalContext::from_dots(observed.iter());
                    reset.join(&self.context, &V::Store::default(), &observed);
                    self.entries.insert(key.clone(), reset);
                }
                Ok(())
            }
        }
    }
}

impl<K: Key, V: Embeddable> Embeddable for OrMap<K, V> {
    type Store = DotMap<K, V::Store>;

    fn from_parts(store: Self::Store, context: CausalContext) -> Self {
        OrMap {
            entries: store,
            context,
        }
    }

    fn into_parts(self) -> (Self::Store, CausalContext) {
        (self.entries, self.context)
    }

    fn delta_into_parts(delta: Self::Delta) -> (Self::Store, CausalContext) {
        let mut store = DotMap::new();
        for (key, value) in delta.entries() {
            store.insert(key.clone(), value.clone());
        }
        (store, delta.context().clone())
    }
}

/// The context, then the keys with their value stores.
impl<K: Key, V: Embeddable> CrdtEncoding for OrMap<K, V> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.context.encode(out);
        self.entries.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let context = CausalContext::decode(decoder)?;
        let entries = DotMap::decode(decoder)?;
        let map = OrMap { entries, context };
        map.validate()?;
        Ok(map)
    }
}

/// Tag 0 update (key, nested operation), 1 remove (key, observed dots).
impl<K: Key, O: CrdtEncoding> CrdtEncoding for OrMapOp<K, O> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            OrMapOp::Update { key, op } => {
                out.push(0);
                key.encode(out);
                op.encode(out);
            }
            OrMapOp::Remove { key, observed } => {
                out.push(1);
                key.encode(out);
                observed.encode(out);
            }
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        match decoder.read_u8()? {
            0 => Ok(OrMapOp::Update {
                key: K::decode(decoder)?,
                op: O::decode(decoder)?,
            }),
            1 => Ok(OrMapOp::Remove {
                key: K::decode(decoder)?,
                observed: DotSet::decode(decoder)?,
            }),
            tag => Err(tessera_vclock::VclockError::InvalidTag { offset, tag }.into()),
        }
    }
}

#[cfg(feature = "serde")]
impl<K, V> serde::Serialize for OrMap<K, V>
where
    K: serde::Serialize,
    V: Embeddable,
    V::Store: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.entries, &self.context).serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, K, V> serde::Deserialize<'de> for OrMap<K, V>
where
    K: Key + serde::Deserialize<'de>,
    V: Embeddable,
    V::Store: serde::Deserialize<'de>,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (entries, context) = <(DotMap<K, V::Store>, CausalContext)>::deserialize(deserializer)?;
        let map = OrMap { entries, context };
        map.validate().map_err(serde::de::Error::custom)?;
        Ok(map)
    }
}

#[cfg(feature = "serde")]
impl<K: serde::Serialize, O: serde::Serialize> serde::Serialize for OrMapOp<K, O> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OrMapOp::Update { key, op } => (key, Some(op), None::<&DotSet>).serialize(serializer),
            OrMapOp::Remove { key, observed } => {
                (key, None::<&O>, Some(observed)).serialize(serializer)
            }
        }
    }
}

#[cfg(feature = "serde")]
impl<'de, K: serde::Deserialize<'de>, O: serde::Deserialize<'de>> serde::Deserialize<'de>
    for OrMapOp<K, O>
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match <(K, Option<O>, Option<DotSet>)>::deserialize(deserializer)? {
            (key, Some(op), None) => Ok(OrMapOp::Update { key, op }),
            (key, None, Some(observed)) => Ok(OrMapOp::Remove { key, observed }),
            _ => Err(serde::de::Error::custom("malformed map operation")),
        }
    }
}

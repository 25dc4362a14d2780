//! DVVSet: all the concurrent versions of one value and their causal
//! history in one compact clock, with Riak's semantics.

use std::cmp::Ordering;

use tessera_core::NodeId;

use crate::causal_order::compare_sorted;
use crate::encoding::{read_actor, write_actor, write_varint};
use crate::{CausalOrder, CompactEncoding, Decoder, Dot, VclockError, VersionVector};

/// One actor's entry: its counter and the values still live among its
/// events, oldest first. The newest value's dot is `(actor, counter)`, the
/// one before it `(actor, counter − 1)`, and so on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct DvvEntry<V> {
    actor: NodeId,
    counter: u64,
    values: Vec<V>,
}

impl<V> DvvEntry<V> {
    /// The dot of `values[index]`.
    fn dot_of(&self, index: usize) -> Dot {
        let from_newest = (self.values.len() - 1 - index) as u64;
        Dot::new(self.actor, self.counter - from_newest)
    }

    /// Events at or below this counter have no value here any more.
    fn discarded_through(&self) -> u64 {
        self.counter - self.values.len() as u64
    }
}

/// A Dotted Version Vector Set (Gonçalves, Almeida, Baquero, Fonte,
/// "Dotted Version Vector Sets", DAIS 2015; Riak's `dvvset` module): the
/// sibling values of one key with exactly the causal information needed to
/// tell which a new write makes obsolete, in one clock the size of a
/// version vector over the *servers*.
///
/// It is a list of entries `(actor, counter, values)` sorted by actor —
/// each value is the event `(actor, counter − i)` for its position `i` from
/// the newest — plus an *anonymous* list of values that belong to no event
/// (the result of [`reconcile`](Self::reconcile)).
///
/// The operations are Riak's:
///
/// | Riak | here | what it does |
/// |---|---|---|
/// | `new(V)` | [`new`](Self::new) | a write with no context |
/// | `new(VV, V)` | [`with_context`](Self::with_context) | a write that read `VV` |
/// | `update(C, I)`, `update(C, Cr, I)` | [`update`](Self::update) | a server `I` applies a client write to its stored clock |
/// | `sync` | [`sync`](Self::sync) | merge two replicas' clocks, keeping only what is concurrent |
/// | `join` | [`join`](Self::join) | the version vector a reader gets as context |
/// | `values` | [`values`](Self::values) | the siblings |
/// | `reconcile` | [`reconcile`](Self::reconcile) | replace the siblings by one new value |
/// | `lww` | [`lww`](Self::lww) | keep only the greatest sibling, in its own event |
/// | `less`, `equal` | [`compare`](Self::compare) | the causal order of two clocks |
///
/// # Sibling explosion
///
/// Two clients write in turns through one server, each using the context
/// from its own previous write. With one version vector for all siblings
/// (Riak's vnode vector clocks) every write looks concurrent with all the
/// others and 101 writes leave 101 siblings. A DVVSet knows which event
/// wrote each value, so each write obsoletes everything its context saw and
/// only the two clients' latest writes remain — the example from Riak's
/// and the DVVSet authors' documentation, reproduced in this crate's tests.
///
/// # Examples
///
/// ```
/// use tessera_vclock::{DvvSet, VersionVector};
///
/// const SERVER: u64 = 1;
/// let mut stored = DvvSet::default();
/// // Two clients write with no context: two siblings.
/// stored.update(&VersionVector::new(), "v1", SERVER)?;
/// stored.update(&VersionVector::new(), "v2", SERVER)?;
/// assert_eq!(stored.size(), 2);
///
/// // A client reads both and writes back over that context: one value.
/// let context = stored.join();
/// stored.update(&context, "v3", SERVER)?;
/// assert_eq!(stored.values().collect::<Vec<_>>(), vec![&"v3"]);
/// # Ok::<(), tessera_vclock::VclockError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DvvSet<V> {
    /// Sorted strictly by actor; `values.len() ≤ counter`, `counter ≥ 1`.
    entries: Vec<DvvEntry<V>>,
    anonymous: Vec<V>,
}

impl<V> Default for DvvSet<V> {
    fn default() -> Self {
        DvvSet {
            entries: Vec::new(),
            anonymous: Vec::new(),
        }
    }
}

impl<V> DvvSet<V> {
    /// A client's write of `value` with no causal context (Riak's
    /// `new(V)`): the value is anonymous until a server
    /// [`update`](Self::update)s it into an event.
    pub fn new(value: V) -> Self {
        DvvSet {
            entries: Vec::new(),
            anonymous: vec![value],
        }
    }

    /// A client's write of `value` after reading `context` (Riak's
    /// `new(VV, V)`).
    pub fn with_context(context: &VersionVector, value: V) -> Self {
        let mut write = Self::history_of(context);
        write.anonymous.push(value);
        write
    }

    /// The causal history `context` with no values.
    fn history_of(context: &VersionVector) -> Self {
        DvvSet {
            entries: context
                .iter()
                .map(|dot| DvvEntry {
                    actor: dot.actor,
                    counter: dot.counter,
                    values: Vec::new(),
                })
                .collect(),
            anonymous: Vec::new(),
        }
    }

    /// A clock from its parts: `(actor, counter, values oldest first)`
    /// entries and anonymous values.
    ///
    /// # Errors
    ///
    /// [`VclockError::UnsortedActors`], [`VclockError::ZeroCounter`] or
    /// [`VclockError::TooManyValues`] if the entries are not canonical.
    pub fn from_parts(
        entries: impl IntoIterator<Item = (NodeId, u64, Vec<V>)>,
        anonymous: Vec<V>,
    ) -> Result<Self, VclockError> {
        let mut checked: Vec<DvvEntry<V>> = Vec::new();
        for (actor, counter, values) in entries {
            check_entry(
                checked.last().map(|entry| entry.actor),
                actor,
                counter,
                values.len(),
            )?;
            checked.push(DvvEntry {
                actor,
                counter,
                values,
            });
        }
        Ok(DvvSet {
            entries: checked,
            anonymous,
        })
    }

    /// The version vector of everything this clock has seen (Riak's
    /// `join`): what a reader gets as the context for its next write.
    pub fn join(&self) -> VersionVector {
        VersionVector::from_sorted_unchecked(
            self.entries
                .iter()
                .map(|entry| Dot::new(entry.actor, entry.counter))
                .collect(),
        )
    }

    /// The sibling values: the anonymous ones, then each actor's, newest
    /// first (Riak's `values`).
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.anonymous.iter().chain(
            self.entries
                .iter()
                .flat_map(|entry| entry.values.iter().rev()),
        )
    }

    /// The values that belong to an event, with their dots.
    pub fn dotted_values(&self) -> impl Iterator<Item = (Dot, &V)> {
        self.entries.iter().flat_map(|entry| {
            entry
                .values
                .iter()
                .enumerate()
                .map(move |(index, value)| (entry.dot_of(index), value))
        })
    }

    /// The values with no event (after a [`reconcile`](Self::reconcile)).
    pub fn anonymous_values(&self) -> &[V] {
        &self.anonymous
    }

    /// The number of sibling values (Riak's `size`).
    pub fn size(&self) -> usize {
        self.anonymous.len()
            + self
                .entries
                .iter()
                .map(|entry| entry.values.len())
                .sum::<usize>()
    }

    /// The actors with an entry (Riak's `ids`).
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.entries.iter().map(|entry| entry.actor)
    }

    /// How this clock's causal history relates to `other`'s, values
    /// ignored (Riak's `less` is `Before`, `equal` is `Equal`).
    pub fn compare(&self, other: &DvvSet<V>) -> CausalOrder {
        compare_sorted(
            self.entries
                .iter()
                .map(|entry| (entry.actor, entry.counter)),
            other
                .entries
                .iter()
                .map(|entry| (entry.actor, entry.counter)),
        )
    }

    /// The same clock with every value mapped by `f` (Riak's `map`).
    pub fn map<W>(self, mut f: impl FnMut(V) -> W) -> DvvSet<W> {
        DvvSet {
            entries: self
                .entries
                .into_iter()
                .map(|entry| DvvEntry {
                    actor: entry.actor,
                    counter: entry.counter,
                    values: entry.values.into_iter().map(&mut f).collect(),
                })
                .collect(),
            anonymous: self.anonymous.into_iter().map(f).collect(),
        }
    }

    /// Replaces all the siblings by `merge(values)`, keeping the causal
    /// history (Riak's `reconcile`). The result is a value no event wrote,
    /// so it goes to the anonymous list; `merge` must be deterministic, or
    /// two replicas reconciling the same clock would hold different values
    /// under the same history.
    pub fn reconcile(self, merge: impl FnOnce(Vec<V>) -> V) -> DvvSet<V> {
        let mut values = self.anonymous;
        let mut entries = self.entries;
        for entry in &mut entries {
            values.extend(entry.values.drain(..).rev());
        }
        DvvSet {
            entries,
            anonymous: vec![merge(values)],
        }
    }

    /// The greatest value by `order` among each actor's newest value and
    /// the anonymous values — an actor's older values are superseded by its
    /// newest (Riak's `last`). Ties go to the value found later, scanning
    /// the entries in actor order and then the anonymous values, as Riak
    /// does. `None` if the clock holds no value.
    pub fn last(&self, order: impl FnMut(&V, &V) -> Ordering) -> Option<&V> {
        self.find_last(order).map(|(_, value)| value)
    }

    /// Keeps only [`last`](Self::last), with the causal history unchanged
    /// (last writer wins, Riak's `lww`). A winner that belongs to an event
    /// stays in its actor's entry, so writes that read it still obsolete
    /// it; an anonymous winner stays anonymous.
    pub fn lww(self, order: impl FnMut(&V, &V) -> Ordering) -> DvvSet<V> {
        let Some((place, _)) = self.find_last(order) else {
            return self;
        };
        let mut entries = self.entries;
        let mut anonymous = self.anonymous;
        let winner = match place {
            ValuePlace::Entry(index) => entries[index].values.pop(),
            ValuePlace::Anonymous(index) => Some(anonymous.swap_remove(index)),
        };
        anonymous.clear();
        for entry in &mut entries {
            entry.values.clear();
        }
        match (place, winner) {
            (ValuePlace::Entry(index), Some(value)) => entries[index].values.push(value),
            (ValuePlace::Anonymous(_), Some(value)) => anonymous.push(value),
            (_, None) => {}
        }
        DvvSet { entries, anonymous }
    }

    fn find_last(&self, mut order: impl FnMut(&V, &V) -> Ordering) -> Option<(ValuePlace, &V)> {
        let newest = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                entry
                    .values
                    .last()
                    .map(|value| (ValuePlace::Entry(index), value))
            });
        let anonymous = self
            .anonymous
            .iter()
            .enumerate()
            .map(|(index, value)| (ValuePlace::Anonymous(index), value));
        newest
            .chain(anonymous)
            .reduce(|best, candidate| match order(best.1, candidate.1) {
                Ordering::Greater => best,
                _ => candidate,
            })
    }
}

/// Where a value lives in a [`DvvSet`].
#[derive(Debug, Clone, Copy)]
enum ValuePlace {
    /// The newest value of the entry at this index.
    Entry(usize),
    /// The anonymous value at this index.
    Anonymous(usize),
}

impl<V: PartialEq> DvvSet<V> {
    /// Merges another replica's clock into this one (Riak's `sync`): each
    /// actor keeps the longer history and only the values neither side has
    /// seen superseded; anonymous values survive unless the other clock
    /// strictly dominates, and duplicates are kept once.
    pub fn sync(&mut self, other: DvvSet<V>) {
        let order = self.compare(&other);
        let mine = std::mem::take(&mut self.entries);
        let mut merged = Vec::with_capacity(mine.len().max(other.entries.len()));
        let mut left = mine.into_iter().peekable();
        let mut right = other.entries.into_iter().peekable();
        loop {
            let next = match (left.peek(), right.peek()) {
                (None, None) => break,
                (Some(_), None) => left.next(),
                (None, Some(_)) => right.next(),
                (Some(l), Some(r)) => match l.actor.cmp(&r.actor) {
                    Ordering::Less => left.next(),
                    Ordering::Greater => right.next(),
                    Ordering::Equal => match (left.next(), right.next()) {
                        (Some(l), Some(r)) => Some(merge_entries(l, r)),
                        _ => None,
                    },
                },
            };
            if let Some(entry) = next {
                merged.push(entry);
            }
        }
        self.entries = merged;
        match order {
            CausalOrder::Before => self.anonymous = other.anonymous,
            CausalOrder::After => {}
            CausalOrder::Equal | CausalOrder::Concurrent => {
                for value in other.anonymous {
                    if !self.anonymous.contains(&value) {
                        self.anonymous.push(value);
                    }
                }
            }
        }
    }

    /// A server `actor` applies a client's write of `value` that read
    /// `context` to its stored clock (Riak's `update(new(VV, V), Stored,
    /// I)`; with an empty context, `update(new(V), I)`): every stored value
    /// the context saw is discarded, and `value` becomes the actor's next
    /// event. Returns the new value's dot.
    ///
    /// # Errors
    ///
    /// [`VclockError::CounterExhausted`] if the actor's counter is at
    /// `u64::MAX`; the clock is unchanged.
    pub fn update(
        &mut self,
        context: &VersionVector,
        value: V,
        actor: NodeId,
    ) -> Result<Dot, VclockError> {
        let current = self.counter(actor).max(context.get(actor));
        let dot = Dot::new(actor, current)
            .next()
            .ok_or(VclockError::CounterExhausted { actor })?;
        // Sync with the client's context first (Riak syncs `{Context, []}`,
        // the write without its value), discarding what the client saw.
        self.sync(Self::history_of(context));
        match self
            .entries
            .binary_search_by(|entry| entry.actor.cmp(&actor))
        {
            Ok(index) => {
                let entry = &mut self.entries[index];
                entry.counter = dot.counter;
                entry.values.push(value);
            }
            Err(index) => self.entries.insert(
                index,
                DvvEntry {
                    actor,
                    counter: dot.counter,
                    values: vec![value],
                },
            ),
        }
        Ok(dot)
    }

    fn counter(&self, actor: NodeId) -> u64 {
        match self
            .entries
            .binary_search_by(|entry| entry.actor.cmp(&actor))
        {
            Ok(index) => self.entries[index].counter,
            Err(_) => 0,
        }
    }
}

/// Riak's `merge/5`: the entry with the higher counter wins, minus the
/// values the other side has already seen discarded.
fn merge_entries<V>(left: DvvEntry<V>, right: DvvEntry<V>) -> DvvEntry<V> {
    let (mut winner, loser) = if left.counter >= right.counter {
        (left, right)
    } else {
        (right, left)
    };
    // Keep only the winner's values above the loser's discarded prefix.
    let seen_discarded = loser.discarded_through().max(winner.discarded_through());
    let keep = (winner.counter - seen_discarded) as usize;
    let drop = winner.values.len() - keep.min(winner.values.len());
    winner.values.drain(..drop);
    winner
}

fn check_entry(
    previous: Option<NodeId>,
    actor: NodeId,
    counter: u64,
    values: usize,
) -> Result<(), VclockError> {
    if let Some(previous) = previous
        && previous >= actor
    {
        return Err(VclockError::UnsortedActors { previous, actor });
    }
    if counter == 0 {
        return Err(VclockError::ZeroCounter { actor });
    }
    if values as u64 > counter {
        return Err(VclockError::TooManyValues {
            actor,
            values,
            counter,
        });
    }
    Ok(())
}

/// The entry count, each entry's actor (gap-encoded), counter and values
/// (count, then each value, oldest first), then the anonymous values.
impl<V: CompactEncoding> CompactEncoding for DvvSet<V> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.entries.len() as u64);
        let mut previous = None;
        for entry in &self.entries {
            write_actor(out, previous, entry.actor);
            write_varint(out, entry.counter);
            write_varint(out, entry.values.len() as u64);
            for value in &entry.values {
                value.encode(out);
            }
            previous = Some(entry.actor);
        }
        write_varint(out, self.anonymous.len() as u64);
        for value in &self.anonymous {
            value.encode(out);
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, VclockError> {
        // An entry takes at least three bytes; a value at least one.
        let count = decoder.read_length(3)?;
        let mut entries: Vec<DvvEntry<V>> = Vec::with_capacity(count);
        let mut previous = None;
        for _ in 0..count {
            let actor = read_actor(decoder, previous)?;
            let counter = decoder.read_varint()?;
            let length = decoder.read_length(1)?;
            check_entry(previous, actor, counter, length)?;
            let mut values = Vec::with_capacity(length);
            for _ in 0..length {
                values.push(V::decode(decoder)?);
            }
            entries.push(DvvEntry {
                actor,
                counter,
                values,
            });
            previous = Some(actor);
        }
        let length = decoder.read_length(1)?;
        let mut anonymous = Vec::with_capacity(length);
        for _ in 0..length {
            anonymous.push(V::decode(decoder)?);
        }
        Ok(DvvSet { entries, anonymous })
    }
}

#[cfg(feature = "serde")]
impl<V: serde::Serialize> serde::Serialize for DvvSet<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut state = serializer.serialize_struct("DvvSet", 2)?;
        state.serialize_field("entries", &self.entries)?;
        state.serialize_field("anonymous", &self.anonymous)?;
        state.end()
    }
}

#[cfg(feature = "serde")]
impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for DvvSet<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename = "DvvSet")]
        struct Parts<V> {
            entries: Vec<DvvEntry<V>>,
            anonymous: Vec<V>,
        }
        let parts = Parts::deserialize(deserializer)?;
        DvvSet::from_parts(
            parts
                .entries
                .into_iter()
                .map(|entry| (entry.actor, entry.counter, entry.values)),
            parts.anonymous,
        )
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = 1;
    const B: NodeId = 2;

    fn vv(entries: &[(u64, u64)]) -> VersionVector {
        entries
            .iter()
            .map(|&(actor, counter)| Dot::new(actor, counter))
            .collect()
    }

    fn clock(entries: &[(NodeId, u64, &[i32])], anonymous: &[i32]) -> DvvSet<i32> {
        DvvSet::from_parts(
            entries.iter().map(|&(actor, counter, values)| {
                // Written newest first, as in Riak's documentation.
                let mut values = values.to_vec();
                values.reverse();
                (actor, counter, values)
            }),
            anonymous.to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn riak_reconcile_example() {
        // dvvset README: reconcile(sum, {[{a,4,[5,2]},{b,1,[]}],[10,1]})
        //   = {[{a,4,[]},{b,1,[]}],[18]}.
        let before = clock(&[(A, 4, &[5, 2]), (B, 1, &[])], &[10, 1]);
        let after = before.reconcile(|values| values.into_iter().sum());
        assert_eq!(after, clock(&[(A, 4, &[]), (B, 1, &[])], &[18]));
    }

    #[test]
    fn riak_lww_example() {
        // dvvset README: lww by timestamp over
        // {[{a,4,[{5,1002345},{7,1002340}]},{b,1,[{4,1001340}]}],[{2,1001140}]}
        //   = {[{a,4,[{5,1002345}]},{b,1,[]}],[]}.
        let before = DvvSet::from_parts(
            [
                (A, 4, vec![(7, 1_002_340), (5, 1_002_345)]),
                (B, 1, vec![(4, 1_001_340)]),
            ],
            vec![(2, 1_001_140)],
        )
        .unwrap();
        assert_eq!(before.last(|x, y| x.1.cmp(&y.1)), Some(&(5, 1_002_345)));
        let after = before.lww(|x, y| x.1.cmp(&y.1));
        let expected =
            DvvSet::from_parts([(A, 4, vec![(5, 1_002_345)]), (B, 1, vec![])], vec![]).unwrap();
        assert_eq!(after, expected);
        // An anonymous winner stays anonymous, with the history kept.
        let anonymous_wins = clock(&[(A, 2, &[1])], &[9]).lww(|x, y| x.cmp(y));
        assert_eq!(anonymous_wins, clock(&[(A, 2, &[])], &[9]));
        assert_eq!(DvvSet::<i32>::default().last(|x, y| x.cmp(y)), None);
    }

    #[test]
    fn sync_keeps_the_longer_history_minus_what_the_other_side_discarded() {
        // dvvset tests: sync([{a,1,[]}], [{a,2,[v2]}]) keeps v2; two
        // entries with values on different actors keep both.
        let mut left = clock(&[(A, 1, &[])], &[]);
        left.sync(clock(&[(A, 2, &[2])], &[]));
        assert_eq!(left, clock(&[(A, 2, &[2])], &[]));

        // Riak merge/5: {a,3,[v3,v2]} with {a,2,[]}: v2's event is known
        // discarded on the right, so only v3 survives.
        let mut left = clock(&[(A, 3, &[3, 2])], &[]);
        left.sync(clock(&[(A, 2, &[])], &[]));
        assert_eq!(left, clock(&[(A, 3, &[3])], &[]));

        let mut left = clock(&[(A, 1, &[1])], &[]);
        left.sync(clock(&[(B, 1, &[2])], &[]));
        assert_eq!(left.size(), 2);
        assert_eq!(left.ids().collect::<Vec<_>>(), vec![A, B]);
    }

    #[test]
    fn sync_drops_anonymous_values_only_when_strictly_dominated() {
        let mut older = clock(&[(A, 1, &[])], &[7]);
        older.sync(clock(&[(A, 2, &[])], &[8]));
        assert_eq!(older.anonymous_values(), &[8]);
        let mut concurrent = clock(&[(A, 1, &[])], &[7]);
        concurrent.sync(clock(&[(B, 1, &[])], &[7, 8]));
        assert_eq!(concurrent.anonymous_values(), &[7, 8]);
    }

    #[test]
    fn concurrent_writes_through_one_server_stay_siblings_and_obsolete_what_they_read() {
        // The DVVSet README's PUT example: v1 and v2 are written with empty
        // contexts through server A; v3 read v1 only.
        let mut stored = DvvSet::default();
        assert_eq!(
            stored.update(&VersionVector::new(), "v1", A),
            Ok(Dot::new(A, 1))
        );
        let read_v1 = stored.join();
        assert_eq!(
            stored.update(&VersionVector::new(), "v2", A),
            Ok(Dot::new(A, 2))
        );
        assert_eq!(stored.size(), 2);
        assert_eq!(stored.update(&read_v1, "v3", A), Ok(Dot::new(A, 3)));
        let values: Vec<_> = stored.values().copied().collect();
        assert_eq!(values, vec!["v3", "v2"]);
        let dots: Vec<_> = stored
            .dotted_values()
            .map(|(dot, value)| (dot, *value))
            .collect();
        assert_eq!(dots, vec![(Dot::new(A, 2), "v2"), (Dot::new(A, 3), "v3")]);
        assert_eq!(stored.join(), vv(&[(A, 3)]));
    }

    #[test]
    fn compare_is_the_order_of_the_joined_histories() {
        let a = clock(&[(A, 2, &[1])], &[]);
        let b = clock(&[(A, 3, &[])], &[]);
        assert_eq!(a.compare(&b), CausalOrder::Before);
        assert_eq!(b.compare(&a), CausalOrder::After);
        assert_eq!(a.compare(&clock(&[(A, 2, &[])], &[5])), CausalOrder::Equal);
        assert_eq!(
            a.compare(&clock(&[(B, 1, &[])], &[])),
            CausalOrder::Concurrent
        );
    }

    #[test]
    fn update_refuses_an_exhausted_counter_and_leaves_the_clock_alone() {
        let mut full = clock(&[(A, u64::MAX, &[1])], &[]);
        let before = full.clone();
        assert_eq!(
            full.update(&VersionVector::new(), 2, A),
            Err(VclockError::CounterExhausted { actor: A })
        );
        assert_eq!(full, before);
    }

    #[test]
    fn non_canonical_parts_are_refused() {
        assert_eq!(
            DvvSet::from_parts([(B, 1, vec![1]), (A, 1, vec![])], vec![]),
            Err(VclockError::UnsortedActors {
                previous: B,
                actor: A
            })
        );
        assert_eq!(
            DvvSet::from_parts([(A, 1, vec![1, 2])], vec![]),
            Err(VclockError::TooManyValues {
                actor: A,
                values: 2,
                counter: 1
            })
        );
        assert_eq!(
            DvvSet::<i32>::from_parts([(A, 0, vec![])], vec![]),
            Err(VclockError::ZeroCounter { actor: A })
        );
    }

    #[test]
    fn map_keeps_the_history() {
        let mapped = clock(&[(A, 2, &[1, 2])], &[3]).map(|value| value * 10);
        assert_eq!(mapped, clock(&[(A, 2, &[10, 20])], &[30]));
    }
}

//! Version vectors (vector clocks) as a sorted compact vector.

use std::cmp::Ordering;
use std::fmt;

use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant, NodeId};

use crate::causal_order::compare_sorted;
use crate::encoding::{read_actor, write_actor, write_varint};
use crate::{CausalOrder, CompactEncoding, Decoder, Dot, VclockError};

/// A version vector: for each actor, how many of its events are known.
///
/// It is a vector of [`Dot`]s sorted by actor with no zero counters — not
/// a map — so it is compact (16 bytes an entry, no node overhead), cheap
/// to clone, and compared and merged by one linear walk over both vectors;
/// two vectors over the same actors (the common case: the replicas of one
/// object) are compared and merged entry by entry with no branching on the
/// actors. Absent actors count as zero, and because zeros are never stored
/// the representation is unique: equal histories are equal values.
///
/// The same structure serves as a vector clock (actors are processes,
/// every event ticks) and as a version vector (actors are replicas, only
/// updates tick); [`VectorClock`] is an alias.
///
/// The causal order is a partial order ([`compare`](Self::compare),
/// `PartialOrd`), and [`merge`](Self::merge) is its least upper bound:
/// commutative, associative and idempotent. These laws are property-tested.
///
/// As [`Evidence`] (kind `CausalContext`), a version vector proves what a
/// replica has seen.
///
/// # Examples
///
/// ```
/// use tessera_vclock::{CausalOrder, VersionVector};
///
/// let mut alice = VersionVector::new();
/// alice.increment(1)?;
/// let mut bob = alice.clone();
/// bob.increment(2)?;
/// alice.increment(1)?;
/// assert_eq!(alice.compare(&bob), CausalOrder::Concurrent);
///
/// let mut both = alice.clone();
/// both.merge(&bob);
/// assert!(both.dominates(&alice) && both.dominates(&bob));
/// assert_eq!(both.get(1), 2);
/// assert_eq!(both.get(2), 1);
/// assert_eq!(both.get(3), 0);
/// # Ok::<(), tessera_vclock::VclockError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "Vec<Dot>", into = "Vec<Dot>"))]
pub struct VersionVector {
    /// Sorted strictly by actor; every counter at least one.
    entries: Vec<Dot>,
}

/// A vector clock is a version vector whose actors tick on every event.
pub type VectorClock = VersionVector;

impl VersionVector {
    /// The empty vector: no events known.
    pub const fn new() -> Self {
        VersionVector {
            entries: Vec::new(),
        }
    }

    /// An empty vector with room for `actors` entries.
    pub fn with_capacity(actors: usize) -> Self {
        VersionVector {
            entries: Vec::with_capacity(actors),
        }
    }

    /// A vector from entries in any order; repeated actors keep the highest
    /// counter and zero counters are dropped.
    pub fn from_dots(dots: impl IntoIterator<Item = Dot>) -> Self {
        let mut entries: Vec<Dot> = dots.into_iter().filter(|dot| dot.counter > 0).collect();
        entries.sort_unstable();
        // Sorted by (actor, counter): keep the last of each actor's run.
        entries.reverse();
        entries.dedup_by_key(|dot| dot.actor);
        entries.reverse();
        VersionVector { entries }
    }

    /// How many actors have a non-zero counter.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no event is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, sorted by actor.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Dot> + '_ {
        self.entries.iter().copied()
    }

    /// The actors with a non-zero counter, in order.
    pub fn actors(&self) -> impl ExactSizeIterator<Item = NodeId> + '_ {
        self.entries.iter().map(|dot| dot.actor)
    }

    fn position(&self, actor: NodeId) -> Result<usize, usize> {
        self.entries.binary_search_by(|dot| dot.actor.cmp(&actor))
    }

    /// How many of `actor`'s events are known (zero if none).
    pub fn get(&self, actor: NodeId) -> u64 {
        match self.position(actor) {
            Ok(index) => self.entries[index].counter,
            Err(_) => 0,
        }
    }

    /// Whether the event `dot` is known.
    pub fn contains(&self, dot: Dot) -> bool {
        dot.counter <= self.get(dot.actor)
    }

    /// The dot `actor`'s next event would get, without recording it.
    ///
    /// # Errors
    ///
    /// [`VclockError::CounterExhausted`] if the counter is at `u64::MAX`.
    pub fn next_dot(&self, actor: NodeId) -> Result<Dot, VclockError> {
        Dot::new(actor, self.get(actor))
            .next()
            .ok_or(VclockError::CounterExhausted { actor })
    }

    /// Records a new event of `actor` and returns its dot.
    ///
    /// # Errors
    ///
    /// [`VclockError::CounterExhausted`] if the counter is at `u64::MAX`;
    /// the vector is unchanged.
    pub fn increment(&mut self, actor: NodeId) -> Result<Dot, VclockError> {
        let dot = self.next_dot(actor)?;
        self.witness(dot);
        Ok(dot)
    }

    /// Records that `dot` and every earlier event of its actor are known.
    pub fn witness(&mut self, dot: Dot) {
        if dot.counter == 0 {
            return;
        }
        match self.position(dot.actor) {
            Ok(index) => {
                let entry = &mut self.entries[index];
                entry.counter = entry.counter.max(dot.counter);
            }
            Err(index) => self.entries.insert(index, dot),
        }
    }

    /// Forgets `actor` entirely, returning its counter (zero if it had
    /// none). This loses causality information: see
    /// [`prune`](Self::prune).
    pub fn remove(&mut self, actor: NodeId) -> u64 {
        match self.position(actor) {
            Ok(index) => self.entries.remove(index).counter,
            Err(_) => 0,
        }
    }

    /// How `self` relates to `other` in the causal order.
    #[inline]
    pub fn compare(&self, other: &VersionVector) -> CausalOrder {
        let (left, right) = (&self.entries, &other.entries);
        if left.len() == right.len() {
            // The common case: the same actors. One pass over both checks
            // that and compares the counters, branch-free within a chunk;
            // between chunks it stops as soon as both sides are known to be
            // ahead somewhere. Chunks start short and double up to 16:
            // concurrent vectors usually show it within a few entries, and a
            // full scan (an ancestor and its descendant) pays few checks.
            let mut same_actors = true;
            let mut left_ahead = false;
            let mut right_ahead = false;
            let mut start = 0;
            let mut chunk = 2;
            while start < left.len() {
                let end = (start + chunk).min(left.len());
                for (l, r) in left[start..end].iter().zip(&right[start..end]) {
                    same_actors &= l.actor == r.actor;
                    left_ahead |= l.counter > r.counter;
                    right_ahead |= l.counter < r.counter;
                }
                if !same_actors {
                    break;
                }
                if left_ahead && right_ahead {
                    return CausalOrder::Concurrent;
                }
                start = end;
                chunk = (chunk * 2).min(16);
            }
            if same_actors {
                return CausalOrder::from_differences(left_ahead, right_ahead);
            }
        }
        compare_sorted(
            left.iter().map(|dot| (dot.actor, dot.counter)),
            right.iter().map(|dot| (dot.actor, dot.counter)),
        )
    }

    /// Whether `self` knows every event `other` knows (`self ≥ other`,
    /// equality included).
    pub fn descends(&self, other: &VersionVector) -> bool {
        matches!(self.compare(other), CausalOrder::After | CausalOrder::Equal)
    }

    /// Whether `self` knows strictly more than `other` (`self > other`).
    pub fn dominates(&self, other: &VersionVector) -> bool {
        self.compare(other) == CausalOrder::After
    }

    /// Whether each knows an event the other does not.
    pub fn is_concurrent(&self, other: &VersionVector) -> bool {
        self.compare(other) == CausalOrder::Concurrent
    }

    /// Makes `self` the least upper bound of `self` and `other`: every
    /// actor's counter becomes the larger of the two.
    pub fn merge(&mut self, other: &VersionVector) {
        if other.entries.is_empty() {
            return;
        }
        if self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(l, r)| l.actor == r.actor)
        {
            for (l, r) in self.entries.iter_mut().zip(&other.entries) {
                l.counter = l.counter.max(r.counter);
            }
            return;
        }
        let (left, right) = (&self.entries, &other.entries);
        let mut merged = Vec::with_capacity(left.len() + right.len());
        let (mut i, mut j) = (0, 0);
        while i < left.len() && j < right.len() {
            let (l, r) = (left[i], right[j]);
            match l.actor.cmp(&r.actor) {
                Ordering::Less => {
                    merged.push(l);
                    i += 1;
                }
                Ordering::Greater => {
                    merged.push(r);
                    j += 1;
                }
                Ordering::Equal => {
                    merged.push(Dot::new(l.actor, l.counter.max(r.counter)));
                    i += 1;
                    j += 1;
                }
            }
        }
        merged.extend_from_slice(&left[i..]);
        merged.extend_from_slice(&right[j..]);
        self.entries = merged;
    }

    /// The least upper bound of `self` and `other`, as a new vector.
    pub fn merged(&self, other: &VersionVector) -> VersionVector {
        let mut result = self.clone();
        result.merge(other);
        result
    }

    /// The greatest lower bound: the events both know (each actor's smaller
    /// counter). What every replica has seen is stable — the basis of
    /// causal stability in the CRDT crate.
    pub fn meet(&self, other: &VersionVector) -> VersionVector {
        let entries = self
            .entries
            .iter()
            .filter_map(|dot| {
                let counter = dot.counter.min(other.get(dot.actor));
                (counter > 0).then_some(Dot::new(dot.actor, counter))
            })
            .collect();
        VersionVector { entries }
    }

    pub(crate) fn from_sorted_unchecked(entries: Vec<Dot>) -> Self {
        VersionVector { entries }
    }
}

impl PartialOrd for VersionVector {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.compare(other).to_ordering()
    }
}

impl FromIterator<Dot> for VersionVector {
    fn from_iter<I: IntoIterator<Item = Dot>>(dots: I) -> Self {
        Self::from_dots(dots)
    }
}

impl TryFrom<Vec<Dot>> for VersionVector {
    type Error = VclockError;

    /// Entries that are already canonical: strictly sorted by actor, no zero
    /// counters.
    fn try_from(entries: Vec<Dot>) -> Result<Self, VclockError> {
        for pair in entries.windows(2) {
            if pair[0].actor >= pair[1].actor {
                return Err(VclockError::UnsortedActors {
                    previous: pair[0].actor,
                    actor: pair[1].actor,
                });
            }
        }
        if let Some(zero) = entries.iter().find(|dot| dot.counter == 0) {
            return Err(VclockError::ZeroCounter { actor: zero.actor });
        }
        Ok(VersionVector { entries })
    }
}

impl From<VersionVector> for Vec<Dot> {
    fn from(vector: VersionVector) -> Vec<Dot> {
        vector.entries
    }
}

impl fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|dot| (dot.actor, dot.counter)))
            .finish()
    }
}

impl fmt::Display for VersionVector {
    /// `{1: 3, 7: 1}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The count, then per entry the actor (as a gap from the previous one) and
/// the counter.
impl CompactEncoding for VersionVector {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.entries.len() as u64);
        let mut previous = None;
        for dot in &self.entries {
            write_actor(out, previous, dot.actor);
            write_varint(out, dot.counter);
            previous = Some(dot.actor);
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, VclockError> {
        // Each entry takes at least two bytes.
        let count = decoder.read_length(2)?;
        let mut entries = Vec::with_capacity(count);
        let mut previous = None;
        for _ in 0..count {
            let actor = read_actor(decoder, previous)?;
            let counter = decoder.read_varint()?;
            if counter == 0 {
                return Err(VclockError::ZeroCounter { actor });
            }
            entries.push(Dot::new(actor, counter));
            previous = Some(actor);
        }
        Ok(VersionVector { entries })
    }
}

impl Evidence for VersionVector {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::CausalContext
    }

    /// A replica's knowledge is global: it covers every object the actors
    /// updated.
    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Global
    }

    fn issued_at(&self) -> Option<Instant> {
        None
    }

    /// What a replica has seen stays seen.
    fn expires_at(&self) -> Option<Instant> {
        None
    }

    fn validate(&self) -> Result<(), EvidenceError> {
        VersionVector::try_from(self.entries.clone())
            .map(|_| ())
            .map_err(|error| EvidenceError::Inconsistent(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(entries: &[(u64, u64)]) -> VersionVector {
        entries
            .iter()
            .map(|&(actor, counter)| Dot::new(actor, counter))
            .collect()
    }

    #[test]
    fn missing_actors_and_zero_counters_are_the_same_thing() {
        assert_eq!(vv(&[(1, 0), (2, 3)]), vv(&[(2, 3)]));
        assert_eq!(vv(&[(2, 3), (2, 5), (1, 1)]), vv(&[(1, 1), (2, 5)]));
        assert_eq!(
            vv(&[(1, 2)]).compare(&vv(&[(1, 2), (5, 0)])),
            CausalOrder::Equal
        );
    }

    #[test]
    fn compare_covers_all_four_outcomes_with_equal_and_unequal_actor_sets() {
        let base = vv(&[(1, 2), (2, 2)]);
        assert_eq!(base.compare(&vv(&[(1, 2), (2, 3)])), CausalOrder::Before);
        assert_eq!(base.compare(&vv(&[(1, 1), (2, 2)])), CausalOrder::After);
        assert_eq!(
            base.compare(&vv(&[(1, 3), (2, 1)])),
            CausalOrder::Concurrent
        );
        assert_eq!(base.compare(&base.clone()), CausalOrder::Equal);
        // Different actors.
        assert_eq!(
            base.compare(&vv(&[(1, 2), (2, 2), (3, 1)])),
            CausalOrder::Before
        );
        assert_eq!(base.compare(&vv(&[(1, 2)])), CausalOrder::After);
        assert_eq!(
            base.compare(&vv(&[(1, 2), (3, 1)])),
            CausalOrder::Concurrent
        );
        assert_eq!(
            vv(&[(1, 1), (3, 1)]).compare(&vv(&[(2, 1), (4, 1)])),
            CausalOrder::Concurrent
        );
        assert_eq!(VersionVector::new().compare(&base), CausalOrder::Before);
        assert!(base.partial_cmp(&vv(&[(1, 3), (2, 1)])).is_none());
    }

    #[test]
    fn merge_takes_the_larger_counter_of_every_actor() {
        let mut a = vv(&[(1, 4), (3, 1)]);
        a.merge(&vv(&[(2, 2), (3, 5), (9, 1)]));
        assert_eq!(a, vv(&[(1, 4), (2, 2), (3, 5), (9, 1)]));
        let mut same = vv(&[(1, 1), (2, 9)]);
        same.merge(&vv(&[(1, 7), (2, 3)]));
        assert_eq!(same, vv(&[(1, 7), (2, 9)]));
        assert_eq!(a.meet(&same), vv(&[(1, 4), (2, 2)]));
    }

    #[test]
    fn increments_refuse_to_wrap() {
        let mut full = vv(&[(1, u64::MAX)]);
        assert_eq!(
            full.increment(1),
            Err(VclockError::CounterExhausted { actor: 1 })
        );
        assert_eq!(full.get(1), u64::MAX);
        assert_eq!(full.increment(2), Ok(Dot::new(2, 1)));
    }

    #[test]
    fn non_canonical_entries_are_refused() {
        assert_eq!(
            VersionVector::try_from(vec![Dot::new(2, 1), Dot::new(1, 1)]),
            Err(VclockError::UnsortedActors {
                previous: 2,
                actor: 1
            })
        );
        assert_eq!(
            VersionVector::try_from(vec![Dot::new(1, 1), Dot::new(1, 2)]),
            Err(VclockError::UnsortedActors {
                previous: 1,
                actor: 1
            })
        );
        assert_eq!(
            VersionVector::try_from(vec![Dot::new(1, 0)]),
            Err(VclockError::ZeroCounter { actor: 1 })
        );
    }

    #[test]
    fn decoding_refuses_zero_counters_and_overflowing_actor_gaps() {
        assert_eq!(
            VersionVector::from_bytes(&[1, 5, 0]),
            Err(VclockError::ZeroCounter { actor: 5 })
        );
        let mut bytes = vec![2];
        write_varint(&mut bytes, u64::MAX);
        bytes.push(1);
        bytes.push(0); // gap 0 after u64::MAX: actor u64::MAX + 1
        bytes.push(1);
        assert!(matches!(
            VersionVector::from_bytes(&bytes),
            Err(VclockError::ActorOverflow { .. })
        ));
        let sample = vv(&[(3, 1), (u64::MAX, u64::MAX)]);
        assert_eq!(VersionVector::from_bytes(&sample.to_bytes()), Ok(sample));
    }

    #[test]
    fn as_evidence_it_is_a_permanent_causal_context() {
        let sample = vv(&[(1, 1)]);
        assert_eq!(sample.kind(), EvidenceKind::CausalContext);
        assert!(sample.proves(&EvidenceScope::Global, Instant::MAX));
        assert_eq!(sample.to_string(), "{1: 1}");
    }
}

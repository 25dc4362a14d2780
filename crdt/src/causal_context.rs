//! The causal context: every event a replica (or a delta) has seen.

use std::cmp::Ordering;
use std::fmt;

use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant, NodeId};
use tessera_vclock::{Decoder, Dot, VersionVector, write_varint};

use crate::encoding::{read_len, write_len};
use crate::{CrdtEncoding, CrdtError};

/// A run of consecutive events of one actor, `first..=last`, outside the
/// compact part of a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct DotRange {
    actor: NodeId,
    first: u64,
    last: u64,
}

/// The set of events (dots) a replica or a delta has seen: a
/// [`VersionVector`] for each actor's contiguous prefix, plus a *dot cloud*
/// of the events seen out of order — after Almeida, Shoker and Baquero,
/// "Delta state replicated data types" (2018), §4 (`DotContext`).
///
/// A replica that applies every delta in order has an empty cloud: its
/// context is exactly a version vector. A delta carries a cloud of just the
/// dots it adds or removes, and a replica that joins deltas out of order
/// keeps the gaps honest: seeing `(a, 5)` before `(a, 4)` does **not**
/// claim `(a, 4)` was seen, so the add of `(a, 4)` still lands when it
/// arrives. (Compacting `(a, 5)` into `a: 5` would drop it — the bug class
/// this type exists to rule out.) Runs in the cloud are kept as ranges, so
/// a delta group of a thousand consecutive adds carries one range.
///
/// The representation is canonical — the compact part absorbs every run
/// that touches it, and runs never overlap or touch — so equal sets of
/// events are equal values.
///
/// As [`Evidence`] (kind `CausalContext`) it proves what its holder has
/// seen; it never expires.
///
/// # Examples
///
/// ```
/// use tessera_crdt::CausalContext;
/// use tessera_vclock::Dot;
///
/// let mut seen = CausalContext::new();
/// seen.insert(Dot::new(1, 1));
/// seen.insert(Dot::new(1, 3)); // out of order: kept in the cloud
/// assert!(seen.contains(Dot::new(1, 3)));
/// assert!(!seen.contains(Dot::new(1, 2)));
/// assert_eq!(seen.version_vector().get(1), 1);
///
/// seen.insert(Dot::new(1, 2)); // the gap closes: compact again
/// assert_eq!(seen.version_vector().get(1), 3);
/// assert!(!seen.has_gaps());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct CausalContext {
    compact: VersionVector,
    /// Sorted by (actor, first); ranges of one actor neither overlap nor
    /// touch, and start at least two above the compact counter.
    cloud: Vec<DotRange>,
}

impl CausalContext {
    /// The empty context: nothing seen.
    pub const fn new() -> Self {
        CausalContext {
            compact: VersionVector::new(),
            cloud: Vec::new(),
        }
    }

    /// The context of exactly the events in `vector`.
    pub fn from_version_vector(vector: VersionVector) -> Self {
        CausalContext {
            compact: vector,
            cloud: Vec::new(),
        }
    }

    /// The context of exactly `dots`, in any order.
    pub fn from_dots(dots: impl IntoIterator<Item = Dot>) -> Self {
        let mut context = CausalContext::new();
        for dot in dots {
            context.insert(dot);
        }
        context
    }

    /// The contiguous part: for each actor, how many of its first events
    /// are all known.
    pub fn version_vector(&self) -> &VersionVector {
        &self.compact
    }

    /// Whether some events are known without all their predecessors.
    pub fn has_gaps(&self) -> bool {
        !self.cloud.is_empty()
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.compact.is_empty() && self.cloud.is_empty()
    }

    /// How many events are known.
    pub fn event_count(&self) -> u128 {
        let compact: u128 = self.compact.iter().map(|dot| u128::from(dot.counter)).sum();
        let cloud: u128 = self
            .cloud
            .iter()
            .map(|range| u128::from(range.last - range.first) + 1)
            .sum();
        compact + cloud
    }

    /// The out-of-order events, as `(actor, first..=last)` runs in order.
    pub fn out_of_order_runs(
        &self,
    ) -> impl Iterator<Item = (NodeId, std::ops::RangeInclusive<u64>)> + '_ {
        self.cloud
            .iter()
            .map(|range| (range.actor, range.first..=range.last))
    }

    /// Whether event `dot` is known.
    #[inline]
    pub fn contains(&self, dot: Dot) -> bool {
        if self.compact.contains(dot) {
            return true;
        }
        if self.cloud.is_empty() {
            return false;
        }
        self.cloud_position(dot).is_ok()
    }

    /// The cloud range holding `dot` (`Ok`), or where a range starting at
    /// `dot` would go (`Err`).
    fn cloud_position(&self, dot: Dot) -> Result<usize, usize> {
        self.cloud.binary_search_by(|range| {
            if range.actor != dot.actor {
                range.actor.cmp(&dot.actor)
            } else if range.last < dot.counter {
                Ordering::Less
            } else if range.first > dot.counter {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
    }

    /// The dot `actor`'s next event gets: one past every event of `actor`
    /// known here.
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`] at `u64::MAX`.
    pub fn next_dot(&self, actor: NodeId) -> Result<Dot, CrdtError> {
        let mut highest = self.compact.get(actor);
        if let Some(range) = self.cloud.iter().rev().find(|range| range.actor == actor) {
            highest = highest.max(range.last);
        }
        Dot::new(actor, highest)
            .next()
            .ok_or(CrdtError::CounterExhausted { actor })
    }

    /// Records a new event of `actor` and returns its dot.
    ///
    /// # Errors
    ///
    /// [`CrdtError::CounterExhausted`] at `u64::MAX`; the context is
    /// unchanged.
    pub fn next_and_insert(&mut self, actor: NodeId) -> Result<Dot, CrdtError> {
        let dot = self.next_dot(actor)?;
        self.insert(dot);
        Ok(dot)
    }

    /// Records `dot`. Returns whether it was new.
    pub fn insert(&mut self, dot: Dot) -> bool {
        if dot.counter == 0 || self.contains(dot) {
            return false;
        }
        self.insert_range(dot.actor, dot.counter, dot.counter);
        true
    }

    /// Records the events `first..=last` of `actor` (some may be known).
    fn insert_range(&mut self, actor: NodeId, first: u64, last: u64) {
        let compact = self.compact.get(actor);
        if last <= compact {
            return;
        }
        let first = first.max(compact.saturating_add(1));
        if first == compact + 1 {
            // Extends the compact part; absorb the runs it now touches.
            let mut reach = last;
            let start = self.cloud.partition_point(|range| range.actor < actor);
            let mut end = start;
            while end < self.cloud.len()
                && self.cloud[end].actor == actor
                && self.cloud[end].first <= reach.saturating_add(1)
            {
                reach = reach.max(self.cloud[end].last);
                end += 1;
            }
            self.cloud.drain(start..end);
            self.compact.witness(Dot::new(actor, reach));
            return;
        }
        // A run in the cloud: merge with every run it overlaps or touches.
        let start = self.cloud.partition_point(|range| {
            range.actor < actor || (range.actor == actor && range.last.saturating_add(1) < first)
        });
        let mut end = start;
        let mut merged = DotRange { actor, first, last };
        while end < self.cloud.len()
            && self.cloud[end].actor == actor
            && self.cloud[end].first <= merged.last.saturating_add(1)
        {
            merged.first = merged.first.min(self.cloud[end].first);
            merged.last = merged.last.max(self.cloud[end].last);
            end += 1;
        }
        if end == start {
            self.cloud.insert(start, merged);
        } else {
            self.cloud[start] = merged;
            self.cloud.drain(start + 1..end);
        }
    }

    /// Makes `self` the union of both contexts.
    pub fn merge(&mut self, other: &CausalContext) {
        self.compact.merge(&other.compact);
        if self.cloud.is_empty() && other.cloud.is_empty() {
            return;
        }
        let previous = std::mem::take(&mut self.cloud);
        for range in previous.iter().chain(&other.cloud) {
            self.insert_range(range.actor, range.first, range.last);
        }
    }

    /// Whether every event of `self` is in `other`.
    pub fn is_subset_of(&self, other: &CausalContext) -> bool {
        let compact_ok = self
            .compact
            .iter()
            .all(|dot| other.compact.get(dot.actor) >= dot.counter);
        compact_ok
            && self.cloud.iter().all(|range| {
                other.compact.get(range.actor) >= range.last
                    || matches!(
                        other.cloud_position(Dot::new(range.actor, range.first)),
                        Ok(index) if other.cloud[index].last >= range.last
                    )
            })
    }

    /// Every known event, in order (compact prefixes, then runs).
    ///
    /// This enumerates events one by one; it is meant for small contexts
    /// (deltas, tests).
    pub fn dots(&self) -> impl Iterator<Item = Dot> + '_ {
        let compact = self
            .compact
            .iter()
            .flat_map(|dot| (1..=dot.counter).map(move |counter| Dot::new(dot.actor, counter)));
        let cloud = self
            .cloud
            .iter()
            .flat_map(|range| (range.first..=range.last).map(move |c| Dot::new(range.actor, c)));
        compact.chain(cloud)
    }
}

impl fmt::Debug for CausalContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.compact)?;
        if !self.cloud.is_empty() {
            write!(f, " + [")?;
            for (index, range) in self.cloud.iter().enumerate() {
                if index > 0 {
                    write!(f, ", ")?;
                }
                if range.first == range.last {
                    write!(f, "({}, {})", range.actor, range.first)?;
                } else {
                    write!(f, "({}, {}..={})", range.actor, range.first, range.last)?;
                }
            }
            write!(f, "]")?;
        }
        Ok(())
    }
}

impl fmt::Display for CausalContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<VersionVector> for CausalContext {
    fn from(vector: VersionVector) -> Self {
        CausalContext::from_version_vector(vector)
    }
}

/// The compact part, then the runs: actor gap, start above the compact
/// counter (minus two), length minus one.
impl CrdtEncoding for CausalContext {
    fn encode(&self, out: &mut Vec<u8>) {
        self.compact.encode(out);
        write_len(out, self.cloud.len());
        let mut previous_actor = 0;
        for range in &self.cloud {
            write_varint(out, range.actor - previous_actor);
            write_varint(out, range.first - self.compact.get(range.actor) - 2);
            write_varint(out, range.last - range.first);
            previous_actor = range.actor;
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let compact = VersionVector::decode(decoder)?;
        let count = read_len(decoder, 3)?;
        let mut context = CausalContext::from_version_vector(compact);
        let mut previous: Option<DotRange> = None;
        for _ in 0..count {
            let offset = decoder.position();
            let actor_gap = decoder.read_varint()?;
            let start = decoder.read_varint()?;
            let extra = decoder.read_varint()?;
            let overflow = || {
                CrdtError::inconsistent(format!("causal context run at offset {offset} overflows"))
            };
            let actor = previous
                .map_or(0, |range| range.actor)
                .checked_add(actor_gap)
                .ok_or_else(overflow)?;
            let first = context
                .compact
                .get(actor)
                .checked_add(2)
                .and_then(|base| base.checked_add(start))
                .ok_or_else(overflow)?;
            let last = first.checked_add(extra).ok_or_else(overflow)?;
            let range = DotRange { actor, first, last };
            if let Some(previous) = previous {
                let canonical = previous.actor < actor
                    || (previous.actor == actor && previous.last.saturating_add(1) < first);
                if !canonical {
                    return Err(CrdtError::inconsistent(format!(
                        "causal context run at offset {offset} overlaps or touches the previous one"
                    )));
                }
            }
            context.cloud.push(range);
            previous = Some(range);
        }
        Ok(context)
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::*;

    /// The serialized form: the compact version vector and the runs.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct ContextParts {
        compact: VersionVector,
        cloud: Vec<(NodeId, u64, u64)>,
    }

    impl serde::Serialize for CausalContext {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            ContextParts {
                compact: self.compact.clone(),
                cloud: self
                    .cloud
                    .iter()
                    .map(|range| (range.actor, range.first, range.last))
                    .collect(),
            }
            .serialize(serializer)
        }
    }

    impl<'de> serde::Deserialize<'de> for CausalContext {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let parts = ContextParts::deserialize(deserializer)?;
            let mut context = CausalContext::from_version_vector(parts.compact);
            for (actor, first, last) in parts.cloud {
                if first == 0 || first > last {
                    return Err(serde::de::Error::custom(format!(
                        "causal context run {first}..={last} of actor {actor} is empty or starts at zero"
                    )));
                }
                context.insert_range(actor, first, last);
            }
            Ok(context)
        }
    }
}

impl Evidence for CausalContext {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::CausalContext
    }

    /// What a replica has seen covers the whole object it replicates.
    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Global
    }

    fn issued_at(&self) -> Option<Instant> {
        None
    }

    /// Seen stays seen.
    fn expires_at(&self) -> Option<Instant> {
        None
    }

    /// Canonical by construction.
    fn validate(&self) -> Result<(), EvidenceError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_events_stay_in_the_cloud_until_the_gap_closes() {
        let mut context = CausalContext::new();
        assert!(context.insert(Dot::new(7, 3)));
        assert!(context.insert(Dot::new(7, 5)));
        assert!(!context.insert(Dot::new(7, 5)));
        assert_eq!(context.version_vector().get(7), 0);
        assert!(context.contains(Dot::new(7, 3)) && !context.contains(Dot::new(7, 4)));
        context.insert(Dot::new(7, 4));
        assert_eq!(context.out_of_order_runs().count(), 1);
        context.insert(Dot::new(7, 1));
        context.insert(Dot::new(7, 2));
        assert!(!context.has_gaps());
        assert_eq!(context.version_vector().get(7), 5);
        assert_eq!(context.next_dot(7), Ok(Dot::new(7, 6)));
    }

    #[test]
    fn next_dot_counts_past_the_cloud() {
        let context = CausalContext::from_dots([Dot::new(2, 9)]);
        assert_eq!(context.next_dot(2), Ok(Dot::new(2, 10)));
        assert_eq!(context.next_dot(3), Ok(Dot::new(3, 1)));
    }

    #[test]
    fn merge_is_set_union_in_canonical_form() {
        let a = CausalContext::from_dots([Dot::new(1, 1), Dot::new(1, 3), Dot::new(2, 4)]);
        let b = CausalContext::from_dots([Dot::new(1, 2), Dot::new(2, 5), Dot::new(3, 1)]);
        let mut ab = a.clone();
        ab.merge(&b);
        let expected = CausalContext::from_dots(a.dots().chain(b.dots()));
        assert_eq!(ab, expected);
        assert_eq!(ab.version_vector().get(1), 3);
        assert!(a.is_subset_of(&ab) && b.is_subset_of(&ab) && !ab.is_subset_of(&a));
        assert_eq!(CausalContext::from_bytes(&ab.to_bytes()), Ok(ab));
    }

    #[test]
    fn decoding_rejects_overlapping_runs() {
        let mut bytes = Vec::new();
        VersionVector::new().encode(&mut bytes);
        write_len(&mut bytes, 2);
        for _ in 0..2 {
            write_varint(&mut bytes, 0); // actor 1 (gap from 0), then again
            write_varint(&mut bytes, 0);
            write_varint(&mut bytes, 3);
        }
        assert!(matches!(
            CausalContext::from_bytes(&bytes),
            Err(CrdtError::Inconsistent { .. })
        ));
    }
}

//! Dotted version vectors: the clock of one version of a value.

use std::fmt;

use tessera_core::NodeId;

use crate::encoding::write_varint;
use crate::{CausalOrder, CompactEncoding, Decoder, Dot, VclockError, VersionVector};

/// The clock of one version: the event that wrote it (its [`Dot`]) and the
/// causal past the writer had seen (its context), after Preguiça, Baquero,
/// Almeida, Fonte and Gonçalves, "Dotted Version Vectors: Logical Clocks
/// for Optimistic Replication" (2010).
///
/// Its events are the context's plus the dot, which need not be contiguous
/// with them: two clients writing through one server with the same context
/// get dots `(s, 2)` and `(s, 3)` over context `{s: 1}`, and the versions
/// compare as concurrent — a plain version vector would have to call the
/// later one a descendant, or merge them and lie about both.
///
/// # Examples
///
/// ```
/// use tessera_vclock::{CausalOrder, Dot, DottedVersionVector, VersionVector};
///
/// let seen: VersionVector = [Dot::new(9, 1)].into_iter().collect();
/// let first = DottedVersionVector::new(Dot::new(9, 2), seen.clone())?;
/// let second = DottedVersionVector::new(Dot::new(9, 3), seen)?;
/// assert_eq!(first.compare(&second), CausalOrder::Concurrent);
///
/// // A client that read both writes over its context.
/// let mut read = first.to_version_vector();
/// read.merge(&second.to_version_vector());
/// assert!(first.is_covered_by(&read) && second.is_covered_by(&read));
/// # Ok::<(), tessera_vclock::VclockError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "DottedParts", into = "DottedParts")
)]
pub struct DottedVersionVector {
    dot: Dot,
    context: VersionVector,
}

impl DottedVersionVector {
    /// The version written by event `dot` over the causal past `context`.
    ///
    /// # Errors
    ///
    /// [`VclockError::ZeroCounter`] for a dot with counter zero;
    /// [`VclockError::DotInContext`] if the context already contains the
    /// dot (the write would be its own ancestor).
    pub fn new(dot: Dot, context: VersionVector) -> Result<Self, VclockError> {
        if dot.counter == 0 {
            return Err(VclockError::ZeroCounter { actor: dot.actor });
        }
        if context.contains(dot) {
            return Err(VclockError::DotInContext {
                dot,
                context_counter: context.get(dot.actor),
            });
        }
        Ok(DottedVersionVector { dot, context })
    }

    /// The version a server `actor` writes for a client that sent
    /// `context`, when the server has already issued `server` (its own
    /// version vector): the dot is the server's next event.
    ///
    /// # Errors
    ///
    /// [`VclockError::CounterExhausted`] at the end of the server's
    /// counter.
    pub fn for_write(
        actor: NodeId,
        context: VersionVector,
        server: &VersionVector,
    ) -> Result<Self, VclockError> {
        let next = server.get(actor).max(context.get(actor));
        let dot = Dot::new(actor, next)
            .next()
            .ok_or(VclockError::CounterExhausted { actor })?;
        Ok(DottedVersionVector { dot, context })
    }

    /// The event that wrote this version.
    pub fn dot(&self) -> Dot {
        self.dot
    }

    /// The causal past the writer had seen.
    pub fn context(&self) -> &VersionVector {
        &self.context
    }

    /// Whether `event` is among this version's events.
    pub fn contains(&self, event: Dot) -> bool {
        event == self.dot || self.context.contains(event)
    }

    /// Whether this version's events include the first `counter` events of
    /// `actor`.
    fn contains_prefix(&self, actor: NodeId, counter: u64) -> bool {
        let known = self.context.get(actor);
        counter <= known
            || (actor == self.dot.actor
                && counter == self.dot.counter
                && self.dot.counter == known + 1)
    }

    /// Whether this version's events include all of `other`'s.
    pub fn descends(&self, other: &DottedVersionVector) -> bool {
        self.contains(other.dot)
            && other
                .context
                .iter()
                .all(|dot| self.contains_prefix(dot.actor, dot.counter))
    }

    /// How this version relates to `other`.
    pub fn compare(&self, other: &DottedVersionVector) -> CausalOrder {
        CausalOrder::from_differences(!other.descends(self), !self.descends(other))
    }

    /// Whether a reader whose knowledge is `seen` (the version vector a
    /// client got from a read) has seen this version: a write with that
    /// context makes this version obsolete.
    pub fn is_covered_by(&self, seen: &VersionVector) -> bool {
        seen.contains(self.dot) && seen.descends(&self.context)
    }

    /// The smallest version vector containing this version's events (the
    /// context with the dot, and any gap before it, filled in).
    pub fn to_version_vector(&self) -> VersionVector {
        let mut vector = self.context.clone();
        vector.witness(self.dot);
        vector
    }

    /// The dot and the context.
    pub fn into_parts(self) -> (Dot, VersionVector) {
        (self.dot, self.context)
    }
}

impl fmt::Debug for DottedVersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} over {:?}", self.dot, self.context)
    }
}

impl fmt::Display for DottedVersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The dot's actor and counter, then the context.
impl CompactEncoding for DottedVersionVector {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.dot.actor);
        write_varint(out, self.dot.counter);
        self.context.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, VclockError> {
        let actor = decoder.read_varint()?;
        let counter = decoder.read_varint()?;
        let context = VersionVector::decode(decoder)?;
        DottedVersionVector::new(Dot::new(actor, counter), context)
    }
}

/// The serialized form, validated on the way in.
#[cfg(feature = "serde")]
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct DottedParts {
    dot: Dot,
    context: VersionVector,
}

#[cfg(feature = "serde")]
impl TryFrom<DottedParts> for DottedVersionVector {
    type Error = VclockError;
    fn try_from(parts: DottedParts) -> Result<Self, VclockError> {
        DottedVersionVector::new(parts.dot, parts.context)
    }
}

#[cfg(feature = "serde")]
impl From<DottedVersionVector> for DottedParts {
    fn from(version: DottedVersionVector) -> Self {
        DottedParts {
            dot: version.dot,
            context: version.context,
        }
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

    fn dvv(dot: (u64, u64), context: &[(u64, u64)]) -> DottedVersionVector {
        DottedVersionVector::new(Dot::new(dot.0, dot.1), vv(context)).unwrap()
    }

    #[test]
    fn the_papers_example_keeps_concurrent_writes_apart() {
        // Preguiça et al. 2010, §4: two clients write with empty contexts
        // through server A; a third write read the first.
        let v1 = dvv((1, 1), &[]);
        let v2 = dvv((1, 2), &[]);
        let v3 = dvv((1, 3), &[(1, 1)]);
        assert_eq!(v1.compare(&v2), CausalOrder::Concurrent);
        assert_eq!(v3.compare(&v1), CausalOrder::After);
        assert_eq!(v3.compare(&v2), CausalOrder::Concurrent);
        assert_eq!(v1.compare(&v1.clone()), CausalOrder::Equal);
    }

    #[test]
    fn a_contiguous_dot_extends_the_context() {
        let later = dvv((1, 2), &[(1, 1)]);
        let earlier = dvv((1, 1), &[]);
        assert!(later.descends(&earlier));
        // `(1, 2)` over `{1: 1}` includes the prefix of two events.
        let reads_both = dvv((2, 1), &[(1, 2)]);
        assert!(reads_both.descends(&later));
        assert!(!later.descends(&reads_both));
        // A dot after a gap does not fill the gap.
        let gapped = dvv((1, 3), &[(1, 1)]);
        assert!(!gapped.descends(&later));
        assert_eq!(gapped.to_version_vector(), vv(&[(1, 3)]));
    }

    #[test]
    fn invalid_versions_are_refused() {
        assert!(matches!(
            DottedVersionVector::new(Dot::new(1, 2), vv(&[(1, 2)])),
            Err(VclockError::DotInContext { .. })
        ));
        assert!(matches!(
            DottedVersionVector::new(Dot::new(1, 0), VersionVector::new()),
            Err(VclockError::ZeroCounter { actor: 1 })
        ));
        // Malformed bytes too.
        let bytes = dvv((1, 2), &[(1, 1)]).to_bytes();
        assert!(DottedVersionVector::from_bytes(&bytes).is_ok());
        let mut inside = Vec::new();
        write_varint(&mut inside, 1);
        write_varint(&mut inside, 1);
        vv(&[(1, 1)]).encode(&mut inside);
        assert!(matches!(
            DottedVersionVector::from_bytes(&inside),
            Err(VclockError::DotInContext { .. })
        ));
    }

    #[test]
    fn a_server_write_takes_its_next_event() {
        let server = vv(&[(7, 4)]);
        let version = DottedVersionVector::for_write(7, vv(&[(7, 2)]), &server).unwrap();
        assert_eq!(version.dot(), Dot::new(7, 5));
        assert!(version.is_covered_by(&vv(&[(7, 5)])));
        assert!(!version.is_covered_by(&vv(&[(7, 4)])));
        let exhausted = vv(&[(7, u64::MAX)]);
        assert!(DottedVersionVector::for_write(7, VersionVector::new(), &exhausted).is_err());
    }
}

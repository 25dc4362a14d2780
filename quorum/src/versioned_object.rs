//! The versions of one key: concurrent writes kept side by side as
//! siblings, each with the dotted version vector of the write that made
//! it.

use std::fmt;

use tessera_core::InvalidParameter;

use tessera_vclock::{
    CompactEncoding, Decoder, Dot, DottedVersionVector, VclockError, VersionVector, write_varint,
};

use crate::key_hash::{DIGEST_SEED, stable_hash};

/// What a value type needs to be replicated: a canonical binary encoding
/// (for anti-entropy digests and messages), equality and cloning.
///
/// Implemented for every type with those traits (`Vec<u8>`, `String`,
/// `u64`, and your own through [`CompactEncoding`]).
pub trait ReplicatedValue: CompactEncoding + Clone + Eq + fmt::Debug {}

impl<T: CompactEncoding + Clone + Eq + fmt::Debug> ReplicatedValue for T {}

/// One version of a key: the value a write stored (or `None` for a
/// delete, a *tombstone*) and the write's dotted version vector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Version<V> {
    /// The write's event and the causal past it overwrote.
    pub clock: DottedVersionVector,
    /// The value written, or `None` for a delete.
    pub value: Option<V>,
}

impl<V> Version<V> {
    /// The write's event.
    pub fn dot(&self) -> Dot {
        self.clock.dot()
    }

    /// Whether this version is a delete.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    /// Whether this version's writer had seen `other` — so `other` is
    /// obsolete wherever this version is known.
    pub fn supersedes(&self, other: &Version<V>) -> bool {
        self.clock.context().contains(other.dot())
    }
}

/// The live versions of one key: every version no other version
/// supersedes, sorted by dot.
///
/// Concurrent writes — neither saw the other — are both kept: these are
/// the *siblings* a read returns. A write whose context covers a version
/// makes it obsolete. Merging two replicas' objects keeps what neither
/// side has superseded, so merge is commutative, associative and
/// idempotent (property-tested): replicas that exchange their objects
/// converge, whatever the order.
///
/// # Examples
///
/// ```
/// use tessera_quorum::{Version, VersionedObject};
/// use tessera_vclock::{Dot, DottedVersionVector, VersionVector};
///
/// let write = |actor, counter, context: &VersionVector, value| Version {
///     clock: DottedVersionVector::new(Dot::new(actor, counter), context.clone()).unwrap(),
///     value,
/// };
/// let mut object = VersionedObject::new();
/// // Two coordinators accept writes with no context: siblings.
/// object.add(write(1, 1, &VersionVector::new(), Some("a".to_string())));
/// object.add(write(2, 1, &VersionVector::new(), Some("b".to_string())));
/// assert_eq!(object.len(), 2);
///
/// // A client read both and deletes over that context: one tombstone.
/// let seen = object.context();
/// object.add(write(1, 2, &seen, None));
/// assert!(object.is_tombstone());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "VersionsRepr<V>")
)]
pub struct VersionedObject<V> {
    /// Sorted by dot; no two share a dot; none supersedes another.
    versions: Vec<Version<V>>,
}

impl<V> Default for VersionedObject<V> {
    fn default() -> Self {
        VersionedObject {
            versions: Vec::new(),
        }
    }
}

impl<V> VersionedObject<V> {
    /// An object from versions received from elsewhere, checked: sorted by
    /// dot, no dot twice, none superseding another.
    ///
    /// # Errors
    ///
    /// A sentence saying which rule the versions break.
    pub fn from_versions(versions: Vec<Version<V>>) -> Result<Self, &'static str> {
        if versions
            .windows(2)
            .any(|pair| pair[0].dot() >= pair[1].dot())
        {
            return Err("versions are not sorted by dot, or a dot appears twice");
        }
        for version in &versions {
            if versions.iter().any(|other| other.supersedes(version)) {
                return Err("a version supersedes another in the same object");
            }
        }
        Ok(VersionedObject { versions })
    }
}

impl<V: Clone> VersionedObject<V> {
    /// An object with no versions (a key never written, or purged).
    pub fn new() -> Self {
        Self::default()
    }

    /// The live versions, sorted by dot.
    pub fn versions(&self) -> &[Version<V>] {
        &self.versions
    }

    /// The number of live versions.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether there is no version at all.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// Whether every live version is a delete (and there is at least one):
    /// the key is deleted, and this object is its tombstone.
    pub fn is_tombstone(&self) -> bool {
        !self.versions.is_empty() && self.versions.iter().all(Version::is_tombstone)
    }

    /// The values of the live versions that are not deletes, in dot order:
    /// the siblings a read returns.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.versions.iter().filter_map(|v| v.value.as_ref())
    }

    /// Every event this object's versions have seen: the context a reader
    /// gets, whose next write then supersedes all of them.
    pub fn context(&self) -> VersionVector {
        let mut context = VersionVector::new();
        for version in &self.versions {
            context.merge(&version.clock.to_version_vector());
        }
        context
    }

    /// Whether `dot` is one of this object's events, live or superseded:
    /// a live version has it, or a live version's writer had seen it.
    pub fn has_seen(&self, dot: Dot) -> bool {
        self.versions.iter().any(|v| v.clock.contains(dot))
    }

    /// Adds one version; returns whether the object changed. A version
    /// already present, or superseded by a live one, changes nothing; the
    /// live versions it supersedes are dropped.
    pub fn add(&mut self, version: Version<V>) -> bool {
        let dot = version.dot();
        if self
            .versions
            .iter()
            .any(|v| v.dot() == dot || v.supersedes(&version))
        {
            return false;
        }
        self.versions.retain(|v| !version.supersedes(v));
        let at = self.versions.partition_point(|v| v.dot() < dot);
        self.versions.insert(at, version);
        true
    }

    /// Merges another replica's object into this one; returns whether this
    /// one changed.
    pub fn merge(&mut self, other: &VersionedObject<V>) -> bool {
        let mut changed = false;
        for version in &other.versions {
            changed |= self.add(version.clone());
        }
        changed
    }

    /// Drops the versions whose event `seen` contains (what a purged
    /// tombstone had covered); returns whether anything was dropped.
    pub fn forget_covered_by(&mut self, seen: &VersionVector) -> bool {
        let before = self.versions.len();
        self.versions.retain(|v| !seen.contains(v.dot()));
        self.versions.len() != before
    }
}

/// How a [`VersionedObject`] is read with serde: its versions, checked
/// on the way in ([`VersionedObject::from_versions`]).
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct VersionsRepr<V> {
    versions: Vec<Version<V>>,
}

#[cfg(feature = "serde")]
impl<V> TryFrom<VersionsRepr<V>> for VersionedObject<V> {
    type Error = &'static str;

    fn try_from(repr: VersionsRepr<V>) -> Result<Self, &'static str> {
        VersionedObject::from_versions(repr.versions)
    }
}

impl<V: CompactEncoding + Clone> VersionedObject<V> {
    /// A stable 64-bit digest of the object (of its canonical encoding):
    /// equal objects have equal digests on every node.
    pub fn digest(&self) -> u64 {
        stable_hash(DIGEST_SEED, &self.to_bytes())
    }
}

/// The version count, then each version: its clock, a tag (`0` delete,
/// `1` value) and the value.
impl<V: CompactEncoding + Clone> CompactEncoding for VersionedObject<V> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.versions.len() as u64);
        for version in &self.versions {
            version.clock.encode(out);
            match &version.value {
                None => out.push(0),
                Some(value) => {
                    out.push(1);
                    value.encode(out);
                }
            }
        }
    }

    /// # Errors
    ///
    /// As every decoder; [`VclockError::InvalidTag`] for a tag other than
    /// 0 or 1; [`VclockError::InvalidParameter`] for versions out of dot
    /// order, repeated, or superseding each other.
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, VclockError> {
        // A version is at least a dot (2 bytes), an empty context (1) and
        // a tag (1).
        let count = decoder.read_length(4)?;
        let mut versions = Vec::with_capacity(count);
        for _ in 0..count {
            let clock = DottedVersionVector::decode(decoder)?;
            let value = match decoder.read_u8()? {
                0 => None,
                1 => Some(V::decode(decoder)?),
                tag => {
                    return Err(VclockError::InvalidTag {
                        tag,
                        offset: decoder.position() - 1,
                    });
                }
            };
            versions.push(Version { clock, value });
        }
        VersionedObject::from_versions(versions)
            .map_err(|reason| InvalidParameter::new("versions", reason).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(
        actor: u64,
        counter: u64,
        context: &[(u64, u64)],
        value: Option<u64>,
    ) -> Version<u64> {
        let context = context.iter().map(|(a, c)| Dot::new(*a, *c)).collect();
        Version {
            clock: DottedVersionVector::new(Dot::new(actor, counter), context).unwrap(),
            value,
        }
    }

    #[test]
    fn rule_concurrent_writes_surface_as_siblings() {
        let mut object = VersionedObject::new();
        assert!(object.add(version(1, 1, &[], Some(10))));
        assert!(object.add(version(2, 1, &[], Some(20))));
        assert_eq!(object.values().copied().collect::<Vec<_>>(), vec![10, 20]);
        // A write that saw both replaces both.
        assert!(object.add(version(1, 2, &[(1, 1), (2, 1)], Some(30))));
        assert_eq!(object.values().copied().collect::<Vec<_>>(), vec![30]);
        // A late copy of a superseded write changes nothing.
        assert!(!object.add(version(2, 1, &[], Some(20))));
        assert!(object.has_seen(Dot::new(2, 1)));
    }

    #[test]
    fn rule_duplicates_are_idempotent() {
        let mut object = VersionedObject::new();
        assert!(object.add(version(1, 1, &[], Some(1))));
        assert!(!object.add(version(1, 1, &[], Some(1))));
        assert_eq!(object.len(), 1);
    }

    #[test]
    fn tombstones_and_forgetting() {
        let mut object = VersionedObject::new();
        object.add(version(1, 1, &[], Some(1)));
        object.add(version(2, 5, &[(1, 1)], None));
        assert!(object.is_tombstone());
        assert_eq!(object.values().count(), 0);
        let mut stale = VersionedObject::new();
        stale.add(version(1, 1, &[], Some(1)));
        assert!(stale.forget_covered_by(&object.context()));
        assert!(stale.is_empty());
    }

    #[test]
    fn encoding_round_trips_and_refuses_garbage() {
        let mut object = VersionedObject::new();
        object.add(version(1, 1, &[], Some(7)));
        object.add(version(3, 2, &[(3, 1)], None));
        let bytes = object.to_bytes();
        assert_eq!(VersionedObject::<u64>::from_bytes(&bytes).unwrap(), object);
        assert_eq!(
            object.digest(),
            VersionedObject::<u64>::from_bytes(&bytes).unwrap().digest()
        );
        // A bad tag, truncation, and versions out of order are refused.
        let mut bad_tag = bytes.clone();
        let tag_at = bytes.len() - 1;
        bad_tag[tag_at] = 9;
        assert!(VersionedObject::<u64>::from_bytes(&bad_tag).is_err());
        assert!(VersionedObject::<u64>::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let swapped = vec![version(3, 2, &[(3, 1)], None), version(1, 1, &[], Some(7))];
        assert!(VersionedObject::from_versions(swapped).is_err());
        let superseding = vec![
            version(1, 1, &[], Some(7)),
            version(1, 2, &[(1, 1)], Some(8)),
        ];
        assert!(VersionedObject::from_versions(superseding).is_err());
    }
}

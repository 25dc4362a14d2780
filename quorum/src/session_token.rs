//! Session guarantees: what a client has seen, carried from coordinator to
//! coordinator.

use std::collections::BTreeMap;

use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant};
use tessera_vclock::VersionVector;

use crate::Key;

/// The most keys a [`SessionToken`] remembers; past that it forgets the
/// key it least recently touched, and says so.
pub const SESSION_KEYS_MAX: usize = 1_024;

/// What a client session has seen: for each key, the version vector of
/// every version it wrote or read.
///
/// A client sends the key's vector with each request; a coordinator
/// answers a read only with an object that has seen at least that much —
/// waiting for more replicas if needed, and failing rather than answering
/// with less. So a client sees its own writes (**read-your-writes**) and
/// never an older state than it saw before (**monotonic reads**), whichever
/// coordinator it asks, even with sloppy quorums or `r + w ≤ n`.
///
/// The token is [`Evidence`] of kind `CausalContext` over the keys it
/// names; it never expires.
///
/// # Examples
///
/// ```
/// use tessera_quorum::SessionToken;
/// use tessera_vclock::{Dot, VersionVector};
///
/// let mut token = SessionToken::new();
/// let written: VersionVector = [Dot::new(7, 3)].into_iter().collect();
/// token.observe(b"cart", &written);
/// // The next read of "cart" must have seen (7, 3).
/// assert_eq!(token.for_key(b"cart"), Some(&written));
/// assert_eq!(token.for_key(b"other"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SessionToken {
    seen: BTreeMap<Key, (u64, VersionVector)>,
    clock: u64,
    forgotten: u64,
}

impl SessionToken {
    /// A session that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the session saw `context` for `key` (a write's version
    /// or a read's context).
    pub fn observe(&mut self, key: &[u8], context: &VersionVector) {
        self.clock += 1;
        let clock = self.clock;
        match self.seen.get_mut(key) {
            Some((touched, seen)) => {
                *touched = clock;
                seen.merge(context);
            }
            None => {
                if self.seen.len() == SESSION_KEYS_MAX
                    && let Some(oldest) = self
                        .seen
                        .iter()
                        .min_by_key(|(_, (touched, _))| *touched)
                        .map(|(key, _)| key.clone())
                {
                    self.seen.remove(&oldest);
                    self.forgotten += 1;
                }
                self.seen.insert(key.to_vec(), (clock, context.clone()));
            }
        }
    }

    /// What the session has seen of `key`: send it with the next request.
    pub fn for_key(&self, key: &[u8]) -> Option<&VersionVector> {
        self.seen.get(key).map(|(_, seen)| seen)
    }

    /// How many keys were forgotten to stay within [`SESSION_KEYS_MAX`]:
    /// the guarantees no longer cover them.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }
}

impl Evidence for SessionToken {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::CausalContext
    }

    /// The whole key space the token speaks for; it proves a key's
    /// context only for the keys it names.
    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Global
    }

    fn issued_at(&self) -> Option<Instant> {
        None
    }

    fn expires_at(&self) -> Option<Instant> {
        None
    }

    fn validate(&self) -> Result<(), EvidenceError> {
        if self.seen.len() > SESSION_KEYS_MAX {
            return Err(EvidenceError::Inconsistent(format!(
                "{} keys, at most {SESSION_KEYS_MAX}",
                self.seen.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_vclock::Dot;

    #[test]
    fn observations_merge_and_the_oldest_key_is_forgotten() {
        let mut token = SessionToken::new();
        let a: VersionVector = [Dot::new(1, 2)].into_iter().collect();
        let b: VersionVector = [Dot::new(2, 1)].into_iter().collect();
        token.observe(b"k", &a);
        token.observe(b"k", &b);
        assert_eq!(token.for_key(b"k"), Some(&a.merged(&b)));
        for i in 0..SESSION_KEYS_MAX as u32 {
            token.observe(&i.to_le_bytes(), &a);
        }
        assert_eq!(token.forgotten(), 1);
        assert_eq!(
            token.for_key(b"k"),
            None,
            "the least recently used key goes"
        );
        assert!(token.validate().is_ok());
    }
}

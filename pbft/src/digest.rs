//! Digests: what PBFT agrees on. A request, a batch, a checkpoint's state
//! and every authenticated message body are identified by their BLAKE3
//! digest.

use std::fmt;

/// A 32-byte BLAKE3 digest.
///
/// # Examples
///
/// ```
/// use tessera_pbft::Digest;
///
/// let a = Digest::of(b"put x 1");
/// assert_eq!(a, Digest::of(b"put x 1"));
/// assert_ne!(a, Digest::of(b"put x 2"));
/// assert_eq!(format!("{a:?}").len(), "Digest(0123456789ab)".len());
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn from_hash(hash: blake3::Hash) -> Digest {
        Digest(*hash.as_bytes())
    }
}

impl fmt::Debug for Digest {
    /// The first six bytes in hex: enough to tell digests apart in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest(")?;
        for byte in &self.0[..6] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

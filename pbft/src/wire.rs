//! The wire encoding's building blocks: little-endian integers, `u32`
//! length prefixes, and a reader that checks every length and count
//! against the bytes that remain, so no input can make it panic or
//! allocate more than the input's own size.
//!
//! Encoders write into a [`Sink`]: a `Vec<u8>` to send, or a BLAKE3 hasher
//! to compute the digest an authenticator covers without building the
//! bytes at all.

use crate::{Digest, PbftError};

/// Where encoded bytes go.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn put_u8(&mut self, value: u8) {
        self.put(&[value]);
    }

    fn put_u32(&mut self, value: u32) {
        self.put(&value.to_le_bytes());
    }

    fn put_u64(&mut self, value: u64) {
        self.put(&value.to_le_bytes());
    }

    fn put_digest(&mut self, digest: &Digest) {
        self.put(&digest.0);
    }

    /// A count or length, as a `u32`. Every caller's value is bounded far
    /// below `u32::MAX` by the configuration's limits; saturating keeps an
    /// impossible value from wrapping.
    fn put_len(&mut self, len: usize) {
        self.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    }

    fn put_prefixed(&mut self, bytes: &[u8]) {
        self.put_len(bytes.len());
        self.put(bytes);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Bytes the hashing sink gathers before it hands them to BLAKE3. Most
/// authenticated messages fit: they are hashed in one call of BLAKE3's
/// all-at-once path, much cheaper for small inputs than its incremental
/// hasher fed a field at a time.
const HASH_BUFFER_BYTES: usize = 256;

/// A BLAKE3 hash (plain or keyed) of bytes written field by field.
pub(crate) struct HashSink {
    key: Option<[u8; 32]>,
    /// The incremental hasher, for inputs beyond the buffer: boxed, as it
    /// is large and rarely needed.
    hasher: Option<Box<blake3::Hasher>>,
    buffer: [u8; HASH_BUFFER_BYTES],
    filled: usize,
}

impl HashSink {
    pub(crate) fn new() -> Self {
        HashSink {
            key: None,
            hasher: None,
            buffer: [0; HASH_BUFFER_BYTES],
            filled: 0,
        }
    }

    pub(crate) fn keyed(key: &[u8; 32]) -> Self {
        HashSink {
            key: Some(*key),
            ..HashSink::new()
        }
    }

    fn hasher(&mut self) -> &mut blake3::Hasher {
        let key = self.key;
        self.hasher.get_or_insert_with(|| {
            Box::new(match key {
                Some(key) => blake3::Hasher::new_keyed(&key),
                None => blake3::Hasher::new(),
            })
        })
    }

    pub(crate) fn finalize(mut self) -> blake3::Hash {
        let filled = self.filled;
        match (&mut self.hasher, self.key) {
            (None, None) => blake3::hash(&self.buffer[..filled]),
            (None, Some(key)) => blake3::keyed_hash(&key, &self.buffer[..filled]),
            (Some(hasher), _) => {
                hasher.update(&self.buffer[..filled]);
                hasher.finalize()
            }
        }
    }
}

impl Sink for HashSink {
    fn put(&mut self, bytes: &[u8]) {
        if self.filled + bytes.len() > HASH_BUFFER_BYTES {
            let filled = self.filled;
            let buffer = self.buffer;
            self.hasher().update(&buffer[..filled]);
            self.filled = 0;
            if bytes.len() > HASH_BUFFER_BYTES / 2 {
                self.hasher().update(bytes);
                return;
            }
        }
        self.buffer[self.filled..self.filled + bytes.len()].copy_from_slice(bytes);
        self.filled += bytes.len();
    }
}

/// Reads what a [`Sink`] wrote. Every read checks the length first.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

pub(crate) fn malformed(what: impl Into<String>) -> PbftError {
    PbftError::Malformed(what.into())
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, position: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], PbftError> {
        if len > self.remaining() {
            return Err(malformed(format!(
                "{len} bytes wanted at offset {}, {} remain",
                self.position,
                self.remaining()
            )));
        }
        let slice = &self.bytes[self.position..self.position + len];
        self.position += len;
        Ok(slice)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, PbftError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, PbftError> {
        let mut word = [0; 4];
        word.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(word))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, PbftError> {
        let mut word = [0; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], PbftError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn digest(&mut self) -> Result<Digest, PbftError> {
        Ok(Digest(self.array()?))
    }

    /// A `u32` length and that many bytes, at most `limit` of them.
    pub(crate) fn prefixed(
        &mut self,
        what: &'static str,
        limit: usize,
    ) -> Result<&'a [u8], PbftError> {
        let len = self.u32()? as usize;
        if len > limit {
            return Err(PbftError::Oversized {
                what,
                size: len,
                limit,
            });
        }
        self.take(len)
    }

    /// A `u32` count of items each at least `item_bytes_min` long, at most
    /// `limit` of them: a count the remaining bytes cannot hold is
    /// malformed, so a decoder never reserves memory for items that are not
    /// there.
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        item_bytes_min: usize,
        limit: usize,
    ) -> Result<usize, PbftError> {
        let count = self.u32()? as usize;
        if count > limit {
            return Err(PbftError::Oversized {
                what,
                size: count,
                limit,
            });
        }
        if count.saturating_mul(item_bytes_min.max(1)) > self.remaining() {
            return Err(malformed(format!(
                "{count} {what} cannot fit in the {} bytes that remain",
                self.remaining()
            )));
        }
        Ok(count)
    }

    pub(crate) fn finish(&self) -> Result<(), PbftError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(malformed(format!(
                "{} unexpected trailing bytes",
                self.remaining()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_input_cannot_hold_are_refused_before_allocating() {
        let mut bytes = Vec::new();
        bytes.put_u32(1_000_000);
        let mut reader = Reader::new(&bytes);
        assert!(matches!(
            reader.count("entries", 8, usize::MAX),
            Err(PbftError::Malformed(_))
        ));
        let mut reader = Reader::new(&bytes);
        assert!(matches!(
            reader.count("entries", 0, 10),
            Err(PbftError::Oversized {
                size: 1_000_000,
                limit: 10,
                ..
            })
        ));
    }

    #[test]
    fn hashing_and_writing_see_the_same_bytes() {
        let mut bytes = Vec::new();
        let mut hasher = HashSink::new();
        for sink in [&mut bytes as &mut dyn Sink, &mut hasher as &mut dyn Sink] {
            sink.put_u64(7);
            sink.put_prefixed(b"abc");
            sink.put(&[9; 3000]);
            sink.put(&[1; 700]);
        }
        assert_eq!(Digest::of(&bytes), Digest::from_hash(hasher.finalize()));
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u64().unwrap(), 7);
        assert_eq!(reader.prefixed("value", 3).unwrap(), b"abc");
        assert_eq!(reader.take(3700).unwrap().len(), 3700);
        reader.finish().unwrap();
        // Small inputs take the all-at-once path, keyed or not.
        let mut small = HashSink::keyed(&[3; 32]);
        small.put(b"short");
        assert_eq!(small.finalize(), blake3::keyed_hash(&[3; 32], b"short"));
    }
}

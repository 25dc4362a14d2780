//! The compact binary encoding: LEB128 varints, delta-encoded actor ids,
//! and a decoder that reports malformed input as errors, never panics.
//!
//! Every value has exactly one encoding (varints in their shortest form,
//! entries in actor order), so equal values encode to equal bytes and
//! encodings can be hashed and compared.

use crate::VclockError;

/// A type with a compact binary form.
///
/// Decoding reads bytes that may come from the network or the disk: it
/// checks everything and returns a [`VclockError`] for malformed input —
/// truncation, overflow, lengths beyond the input, out-of-order or zero
/// entries, trailing bytes — and never panics or allocates more than the
/// input can justify.
///
/// # Examples
///
/// ```
/// use tessera_vclock::{CompactEncoding, VersionVector, VclockError};
///
/// let mut vv = VersionVector::new();
/// vv.increment(1_000)?;
/// vv.increment(1_001)?;
/// let bytes = vv.to_bytes();
/// assert_eq!(bytes, [2, 0xe8, 0x07, 1, 0, 1]); // count, actor, counter, gap, counter
/// assert_eq!(VersionVector::from_bytes(&bytes)?, vv);
/// assert!(matches!(VersionVector::from_bytes(&bytes[..5]), Err(VclockError::Truncated { .. })));
/// # Ok::<(), VclockError>(())
/// ```
pub trait CompactEncoding: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value from `decoder`.
    ///
    /// # Errors
    ///
    /// A [`VclockError`] saying what is malformed and where.
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, VclockError>;

    /// The encoding of `self`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes a value that must use all of `bytes`.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode), and [`VclockError::TrailingBytes`] if
    /// bytes remain after the value.
    fn from_bytes(bytes: &[u8]) -> Result<Self, VclockError> {
        let mut decoder = Decoder::new(bytes);
        let value = Self::decode(&mut decoder)?;
        decoder.finish()?;
        Ok(value)
    }
}

/// Appends `value` as an unsigned LEB128 varint (one to ten bytes).
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A cursor over bytes being decoded.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes, position: 0 }
    }

    /// The offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.position
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// Reads one byte.
    ///
    /// # Errors
    ///
    /// [`VclockError::Truncated`] at the end of the input.
    pub fn read_u8(&mut self) -> Result<u8, VclockError> {
        let byte = *self
            .bytes
            .get(self.position)
            .ok_or(VclockError::Truncated {
                offset: self.position,
            })?;
        self.position += 1;
        Ok(byte)
    }

    /// Reads an unsigned LEB128 varint in its shortest form.
    ///
    /// # Errors
    ///
    /// [`VclockError::Truncated`], [`VclockError::VarintOverflow`] or
    /// [`VclockError::NonCanonicalVarint`].
    pub fn read_varint(&mut self) -> Result<u64, VclockError> {
        let start = self.position;
        let mut value: u64 = 0;
        for index in 0..10 {
            let byte = self.read_u8()?;
            let payload = u64::from(byte & 0x7f);
            if index == 9 && byte > 1 {
                // The tenth byte holds the 64th bit alone.
                return Err(VclockError::VarintOverflow { offset: start });
            }
            value |= payload << (7 * index);
            if byte & 0x80 == 0 {
                if byte == 0 && index > 0 {
                    return Err(VclockError::NonCanonicalVarint { offset: start });
                }
                return Ok(value);
            }
        }
        Err(VclockError::VarintOverflow { offset: start })
    }

    /// Reads a count of items each at least `item_bytes_min` bytes long,
    /// refusing counts the remaining input cannot hold (so a hostile count
    /// never triggers a large allocation).
    ///
    /// # Errors
    ///
    /// As [`read_varint`](Self::read_varint), and
    /// [`VclockError::LengthTooLarge`].
    pub fn read_length(&mut self, item_bytes_min: usize) -> Result<usize, VclockError> {
        let offset = self.position;
        let length = self.read_varint()?;
        let remaining = self.remaining();
        let fits = usize::try_from(length)
            .ok()
            .and_then(|count| count.checked_mul(item_bytes_min.max(1)))
            .is_some_and(|bytes| bytes <= remaining);
        if !fits {
            return Err(VclockError::LengthTooLarge {
                offset,
                length,
                remaining,
            });
        }
        // `fits` implies the conversion succeeds.
        Ok(usize::try_from(length).unwrap_or(usize::MAX))
    }

    /// Reads `length` raw bytes.
    ///
    /// # Errors
    ///
    /// [`VclockError::Truncated`] if fewer remain.
    pub fn read_bytes(&mut self, length: usize) -> Result<&'a [u8], VclockError> {
        let end = self
            .position
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(VclockError::Truncated {
                offset: self.bytes.len(),
            })?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    /// Checks that the whole input was used.
    ///
    /// # Errors
    ///
    /// [`VclockError::TrailingBytes`] if bytes remain.
    pub fn finish(self) -> Result<(), VclockError> {
        if self.remaining() > 0 {
            return Err(VclockError::TrailingBytes {
                offset: self.position,
                count: self.remaining(),
            });
        }
        Ok(())
    }
}

impl CompactEncoding for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, *self);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, VclockError> {
        decoder.read_varint()
    }
}

/// Length-prefixed bytes.
impl CompactEncoding for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.len() as u64);
        out.extend_from_slice(self);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, VclockError> {
        let length = decoder.read_length(1)?;
        Ok(decoder.read_bytes(length)?.to_vec())
    }
}

/// Length-prefixed UTF-8.
impl CompactEncoding for String {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.len() as u64);
        out.extend_from_slice(self.as_bytes());
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, VclockError> {
        let length = decoder.read_length(1)?;
        let offset = decoder.position();
        let bytes = decoder.read_bytes(length)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| VclockError::InvalidUtf8 { offset })
    }
}

/// Appends `actor`, the next of a sequence sorted strictly by actor, as
/// its gap from `previous` minus one (the first actor as itself): sorted
/// ids of one cluster are close, so gaps are small, and a gap can never
/// encode a duplicate or an out-of-order actor.
pub(crate) fn write_actor(out: &mut Vec<u8>, previous: Option<u64>, actor: u64) {
    let gap = match previous {
        None => actor,
        Some(previous) => actor - previous - 1,
    };
    write_varint(out, gap);
}

/// Reads the next actor of a gap-encoded sequence after `previous`.
pub(crate) fn read_actor(
    decoder: &mut Decoder<'_>,
    previous: Option<u64>,
) -> Result<u64, VclockError> {
    let offset = decoder.position();
    let gap = decoder.read_varint()?;
    match previous {
        None => Ok(gap),
        Some(previous) => previous
            .checked_add(gap)
            .and_then(|actor| actor.checked_add(1))
            .ok_or(VclockError::ActorOverflow { offset }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let bytes = value.to_bytes();
            assert!(bytes.len() <= 10);
            assert_eq!(u64::from_bytes(&bytes), Ok(value));
        }
        assert_eq!(u64::MAX.to_bytes().len(), 10);
    }

    #[test]
    fn malformed_varints_are_errors() {
        assert_eq!(
            u64::from_bytes(&[]),
            Err(VclockError::Truncated { offset: 0 })
        );
        assert_eq!(
            u64::from_bytes(&[0x80]),
            Err(VclockError::Truncated { offset: 1 })
        );
        assert_eq!(
            u64::from_bytes(&[0x80, 0x00]),
            Err(VclockError::NonCanonicalVarint { offset: 0 })
        );
        let mut too_wide = vec![0xff; 9];
        too_wide.push(0x02);
        assert_eq!(
            u64::from_bytes(&too_wide),
            Err(VclockError::VarintOverflow { offset: 0 })
        );
        assert_eq!(
            u64::from_bytes(&[0xff; 11]),
            Err(VclockError::VarintOverflow { offset: 0 })
        );
        assert_eq!(
            u64::from_bytes(&[1, 2]),
            Err(VclockError::TrailingBytes {
                offset: 1,
                count: 1
            })
        );
    }

    #[test]
    fn lengths_beyond_the_input_are_refused_before_allocating() {
        // A count of 2^63 items in a 10-byte input.
        let mut bytes = Vec::new();
        write_varint(&mut bytes, 1 << 63);
        assert!(matches!(
            Vec::<u8>::from_bytes(&bytes),
            Err(VclockError::LengthTooLarge { offset: 0, .. })
        ));
        assert_eq!(Vec::<u8>::from_bytes(&[3, 1, 2, 3]), Ok(vec![1, 2, 3]));
        assert_eq!(
            String::from_bytes(&[2, 0xc3, 0x28]),
            Err(VclockError::InvalidUtf8 { offset: 1 })
        );
        assert_eq!(
            String::from_bytes(&"é".to_string().to_bytes()),
            Ok("é".to_string())
        );
    }
}

//! The compact binary encoding of every CRDT, delta, operation and
//! protocol message in this crate, and of the element types they hold.
//!
//! It is the canonical varint encoding of tessera-vclock (LEB128 varints in
//! their shortest form, length prefixes checked against the input before
//! anything is allocated), extended with this crate's types. Encodings are
//! deterministic: maps and sets are written in key order, so equal values
//! have equal bytes. Decoding checks every structural rule the type keeps
//! (sorted keys, dots inside their causal context, no dot used twice) and
//! returns a [`CrdtError`] — never a panic — on malformed or inconsistent
//! input.

use tessera_hlc::{NodeTimestamp, Timestamp};
use tessera_vclock::{CompactEncoding, Decoder, Dot, VersionVector, write_varint};

use crate::CrdtError;

/// A value with a compact, canonical binary form.
///
/// Implemented by every CRDT, delta and operation here, and by the element
/// and value types they commonly hold (integers, `bool`, `char`, `String`,
/// `Vec<u8>`, `()`, pairs). Implement it for your own element types to
/// encode sets and maps of them.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{CrdtEncoding, GSet};
///
/// let mut set = GSet::new();
/// set.insert("x".to_string());
/// let bytes = set.to_bytes();
/// assert_eq!(GSet::<String>::from_bytes(&bytes)?, set);
/// assert!(GSet::<String>::from_bytes(&[0xff, 0xff]).is_err());
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
pub trait CrdtEncoding: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value from `decoder`, checking its structural rules.
    ///
    /// # Errors
    ///
    /// [`CrdtError::Decode`] for malformed bytes,
    /// [`CrdtError::Inconsistent`] for a well-formed value that breaks the
    /// type's rules.
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError>;

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
    /// As [`decode`](Self::decode), and [`CrdtError::Decode`] if bytes
    /// remain after the value.
    fn from_bytes(bytes: &[u8]) -> Result<Self, CrdtError> {
        let mut decoder = Decoder::new(bytes);
        let value = Self::decode(&mut decoder)?;
        decoder.finish()?;
        Ok(value)
    }
}

macro_rules! unsigned_encoding {
    ($($ty:ty),*) => {$(
        impl CrdtEncoding for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                write_varint(out, u64::from(*self));
            }
            fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
                let offset = decoder.position();
                let value = decoder.read_varint()?;
                <$ty>::try_from(value).map_err(|_| {
                    CrdtError::inconsistent(format!(
                        "value {value} at offset {offset} does not fit in {}",
                        stringify!($ty)
                    ))
                })
            }
        }
    )*};
}

unsigned_encoding!(u8, u16, u32, u64);

/// Zigzag: small magnitudes of either sign take few bytes.
impl CrdtEncoding for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, ((*self << 1) ^ (*self >> 63)) as u64);
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let raw = decoder.read_varint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
}

macro_rules! signed_encoding {
    ($($ty:ty),*) => {$(
        /// Zigzag, as `i64`.
        impl CrdtEncoding for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                i64::from(*self).encode(out);
            }
            fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
                let offset = decoder.position();
                let value = i64::decode(decoder)?;
                <$ty>::try_from(value).map_err(|_| {
                    CrdtError::inconsistent(format!(
                        "value {value} at offset {offset} does not fit in {}",
                        stringify!($ty)
                    ))
                })
            }
        }
    )*};
}

signed_encoding!(i8, i16, i32);

/// As `u64`.
impl CrdtEncoding for usize {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, *self as u64);
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        let value = decoder.read_varint()?;
        usize::try_from(value).map_err(|_| {
            CrdtError::inconsistent(format!(
                "value {value} at offset {offset} does not fit in usize"
            ))
        })
    }
}

impl CrdtEncoding for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        match decoder.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(tessera_vclock::VclockError::InvalidTag { offset, tag }.into()),
        }
    }
}

impl CrdtEncoding for char {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, u64::from(u32::from(*self)));
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        let raw = decoder.read_varint()?;
        u32::try_from(raw)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| {
                CrdtError::inconsistent(format!(
                    "{raw} at offset {offset} is not a Unicode scalar value"
                ))
            })
    }
}

impl CrdtEncoding for () {
    fn encode(&self, _out: &mut Vec<u8>) {}
    fn decode(_decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(())
    }
}

/// Length-prefixed UTF-8.
impl CrdtEncoding for String {
    fn encode(&self, out: &mut Vec<u8>) {
        CompactEncoding::encode(self, out);
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(<String as CompactEncoding>::decode(decoder)?)
    }
}

/// Length-prefixed bytes.
impl CrdtEncoding for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        CompactEncoding::encode(self, out);
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(<Vec<u8> as CompactEncoding>::decode(decoder)?)
    }
}

impl<A: CrdtEncoding, B: CrdtEncoding> CrdtEncoding for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok((A::decode(decoder)?, B::decode(decoder)?))
    }
}

impl<T: CrdtEncoding> CrdtEncoding for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode(out);
            }
        }
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        if bool::decode(decoder)? {
            Ok(Some(T::decode(decoder)?))
        } else {
            Ok(None)
        }
    }
}

impl CrdtEncoding for Dot {
    fn encode(&self, out: &mut Vec<u8>) {
        CompactEncoding::encode(self, out);
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(<Dot as CompactEncoding>::decode(decoder)?)
    }
}

impl CrdtEncoding for VersionVector {
    fn encode(&self, out: &mut Vec<u8>) {
        CompactEncoding::encode(self, out);
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(<VersionVector as CompactEncoding>::decode(decoder)?)
    }
}

impl CrdtEncoding for Timestamp {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.as_u64());
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(Timestamp::from_u64(decoder.read_varint()?))
    }
}

impl CrdtEncoding for NodeTimestamp {
    fn encode(&self, out: &mut Vec<u8>) {
        self.time.encode(out);
        write_varint(out, self.node);
    }
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let time = Timestamp::decode(decoder)?;
        let node = decoder.read_varint()?;
        Ok(NodeTimestamp::new(time, node))
    }
}

/// Writes a length prefix.
pub(crate) fn write_len(out: &mut Vec<u8>, len: usize) {
    write_varint(out, len as u64);
}

/// Reads a count of items at least `item_bytes_min` bytes each.
pub(crate) fn read_len(
    decoder: &mut Decoder<'_>,
    item_bytes_min: usize,
) -> Result<usize, CrdtError> {
    Ok(decoder.read_length(item_bytes_min)?)
}

/// Writes `items` (already in canonical order) with a count prefix.
pub(crate) fn write_seq<'a, T: CrdtEncoding + 'a>(
    out: &mut Vec<u8>,
    len: usize,
    items: impl IntoIterator<Item = &'a T>,
) {
    write_len(out, len);
    for item in items {
        item.encode(out);
    }
}

/// Reads a count-prefixed sequence of items that must be strictly
/// increasing (the canonical order of a set or map's keys).
pub(crate) fn read_sorted<T: CrdtEncoding + Ord>(
    decoder: &mut Decoder<'_>,
    what: &str,
) -> Result<Vec<T>, CrdtError> {
    let count = read_len(decoder, 0)?;
    let mut items: Vec<T> = Vec::with_capacity(count.min(decoder.remaining()));
    for _ in 0..count {
        let offset = decoder.position();
        let item = T::decode(decoder)?;
        if items.last().is_some_and(|last| *last >= item) {
            return Err(CrdtError::inconsistent(format!(
                "{what} at offset {offset} is out of order or repeated"
            )));
        }
        items.push(item);
    }
    Ok(items)
}

/// Writes strictly sorted dots (counters from one) compactly.
pub(crate) fn encode_dots(out: &mut Vec<u8>, dots: &[Dot]) {
    write_len(out, dots.len());
    let mut previous: Option<Dot> = None;
    for dot in dots {
        // Dots are sorted: actors as gaps from the previous actor, counters
        // as gaps within one actor.
        match previous {
            Some(prev) if prev.actor == dot.actor => {
                write_varint(out, 0);
                write_varint(out, dot.counter - prev.counter - 1);
            }
            Some(prev) => {
                write_varint(out, dot.actor - prev.actor);
                write_varint(out, dot.counter - 1);
            }
            None => {
                write_varint(out, dot.actor);
                write_varint(out, dot.counter - 1);
            }
        }
        previous = Some(*dot);
    }
}

/// Decodes what [`encode_dots`] wrote: strictly sorted dots with counters
/// from one.
pub(crate) fn decode_dots(decoder: &mut Decoder<'_>) -> Result<Vec<Dot>, CrdtError> {
    let count = read_len(decoder, 2)?;
    let mut dots = Vec::with_capacity(count);
    let mut previous: Option<Dot> = None;
    for _ in 0..count {
        let offset = decoder.position();
        let actor_gap = decoder.read_varint()?;
        let counter_raw = decoder.read_varint()?;
        let overflow = || CrdtError::inconsistent(format!("dot at offset {offset} overflows"));
        let dot = match previous {
            Some(prev) if actor_gap == 0 => Dot::new(
                prev.actor,
                prev.counter
                    .checked_add(counter_raw)
                    .and_then(|c| c.checked_add(1))
                    .ok_or_else(overflow)?,
            ),
            Some(prev) => Dot::new(
                prev.actor.checked_add(actor_gap).ok_or_else(overflow)?,
                counter_raw.checked_add(1).ok_or_else(overflow)?,
            ),
            None => Dot::new(actor_gap, counter_raw.checked_add(1).ok_or_else(overflow)?),
        };
        dots.push(dot);
        previous = Some(dot);
    }
    Ok(dots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        for value in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(i64::from_bytes(&value.to_bytes()), Ok(value));
        }
        assert!(u8::from_bytes(&CrdtEncoding::to_bytes(&300u64)).is_err());
        assert_eq!(char::from_bytes(&'é'.to_bytes()), Ok('é'));
        assert!(char::from_bytes(&CrdtEncoding::to_bytes(&0xD800u64)).is_err());
        assert!(bool::from_bytes(&[2]).is_err());
        let pair = (7u64, "x".to_string());
        assert_eq!(<(u64, String)>::from_bytes(&pair.to_bytes()), Ok(pair));
        assert_eq!(Option::<u8>::from_bytes(&Some(3u8).to_bytes()), Ok(Some(3)));
    }

    #[test]
    fn dot_lists_round_trip_and_reject_overflow() {
        let dots = vec![
            Dot::new(1, 1),
            Dot::new(1, 5),
            Dot::new(4, 2),
            Dot::new(u64::MAX, u64::MAX),
        ];
        let mut out = Vec::new();
        encode_dots(&mut out, &dots);
        let mut decoder = Decoder::new(&out);
        assert_eq!(decode_dots(&mut decoder), Ok(dots));
        let mut bad = Vec::new();
        write_varint(&mut bad, 2);
        write_varint(&mut bad, u64::MAX);
        write_varint(&mut bad, 0);
        write_varint(&mut bad, 1);
        write_varint(&mut bad, 0);
        assert!(decode_dots(&mut Decoder::new(&bad)).is_err());
    }
}

//! Records: how one entry is framed on disk, and the decoder that checks it.
//!
//! ```text
//!  offset  size  field
//!   0       4    crc32c (Castagnoli) of the payload followed by bytes 4..36
//!   4       4    payload length in bytes
//!   8       1    kind (1 = log entry)
//!   9       3    reserved, zero
//!  12       8    lsn: the record's position in the log (the entry's index)
//!  20       8    term: the entry's term, view or ballot
//!  28       8    durable_through: every record of the log at or below this
//!                lsn was durable when this one was written (0: none)
//!  36       len  payload
//! ```
//!
//! Integers are little-endian. The checksum covers every other byte of the
//! frame, so a frame is either exactly what was written or rejected.
//! `durable_through` lets recovery tell a torn tail (damage to records that
//! were never synced, which a crash may legitimately leave) from corruption
//! of synced data (which it must report): see `docs/durability.md`.

use std::fmt;

/// Bytes in a record's header.
pub const RECORD_HEADER_BYTES: usize = 36;

/// The largest payload the format can describe: 1 GiB. Logs are configured
/// with a (usually much) smaller maximum.
pub const RECORD_PAYLOAD_MAX: u32 = 1 << 30;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum RecordKind {
    /// A log entry.
    Entry = 1,
}

impl RecordKind {
    fn from_byte(byte: u8) -> Option<RecordKind> {
        match byte {
            1 => Some(RecordKind::Entry),
            _ => None,
        }
    }
}

/// A decoded record, borrowing its payload from the buffer it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What it holds.
    pub kind: RecordKind,
    /// Its position in the log.
    pub lsn: u64,
    /// The entry's term, view or ballot.
    pub term: u64,
    /// Every record at or below this lsn was durable when this one was
    /// written.
    pub durable_through: u64,
    /// The payload.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// The frame's length on disk: header plus payload.
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_BYTES + self.payload.len()
    }
}

/// Why bytes do not decode as a record.
///
/// Not an error by itself: at the tail of a log after a crash it marks
/// where the valid records end; anywhere else recovery turns it into
/// [`StorageError::Corruption`](crate::StorageError::Corruption) with the
/// file and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameDefect {
    /// The bytes end inside the frame.
    Truncated {
        /// Bytes available.
        available: usize,
        /// Bytes the frame needs (at least).
        needed: usize,
    },
    /// The kind byte names no record kind (0 in a zero-filled tail).
    UnknownKind(u8),
    /// The reserved bytes are not zero.
    ReservedNotZero,
    /// The length exceeds the maximum.
    TooLarge {
        /// The length read.
        len: u64,
        /// The maximum accepted.
        max: u64,
    },
    /// The checksum does not match the bytes.
    Checksum {
        /// The checksum stored in the frame.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// The frame's fields contradict each other (a record claiming itself
    /// durable before it was written).
    Inconsistent,
}

impl fmt::Display for FrameDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameDefect::Truncated { available, needed } => write!(
                f,
                "record truncated: {available} bytes left, the record needs {needed}"
            ),
            FrameDefect::UnknownKind(kind) => write!(f, "unknown record kind {kind}"),
            FrameDefect::ReservedNotZero => write!(f, "reserved header bytes are not zero"),
            FrameDefect::TooLarge { len, max } => {
                write!(f, "record length {len} exceeds the maximum {max}")
            }
            FrameDefect::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            FrameDefect::Inconsistent => {
                write!(f, "record claims itself durable before it was written")
            }
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Appends the frame of a record to `out`.
///
/// The caller keeps `payload.len()` within [`RECORD_PAYLOAD_MAX`] and
/// `durable_through < lsn`; the log checks both before calling.
///
/// # Examples
///
/// ```
/// use tessera_storage::{decode_frame, encode_frame, RecordKind};
///
/// let mut bytes = Vec::new();
/// encode_frame(&mut bytes, RecordKind::Entry, 7, 2, 6, b"payload");
/// let frame = decode_frame(&bytes, 1024).unwrap();
/// assert_eq!((frame.lsn, frame.term, frame.payload), (7, 2, &b"payload"[..]));
/// bytes[40] ^= 1;
/// assert!(decode_frame(&bytes, 1024).is_err());
/// ```
pub fn encode_frame(
    out: &mut Vec<u8>,
    kind: RecordKind,
    lsn: u64,
    term: u64,
    durable_through: u64,
    payload: &[u8],
) {
    let start = out.len();
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.resize(start + RECORD_HEADER_BYTES, 0);
    write_header(&mut out[start..], kind, lsn, term, durable_through, len);
    out.extend_from_slice(payload);
    seal_frame(&mut out[start..], crc32c::crc32c(payload));
}

/// Fills in the checksum of a frame whose header and payload are in place,
/// given the payload's own checksum. The log computes `payload_crc` before
/// taking its lock and seals the frame under it, after assigning the lsn:
/// the work under the lock does not grow with the payload.
pub(crate) fn seal_frame(frame: &mut [u8], payload_crc: u32) {
    let crc = crc32c::crc32c_append(payload_crc, &frame[4..RECORD_HEADER_BYTES]);
    frame[0..4].copy_from_slice(&crc.to_le_bytes());
}

/// Writes the header fields of a frame (all but the checksum) into
/// `frame[..RECORD_HEADER_BYTES]`.
pub(crate) fn write_header(
    frame: &mut [u8],
    kind: RecordKind,
    lsn: u64,
    term: u64,
    durable_through: u64,
    payload_len: u32,
) {
    frame[4..8].copy_from_slice(&payload_len.to_le_bytes());
    frame[8] = kind as u8;
    frame[9..12].copy_from_slice(&[0; 3]);
    frame[12..20].copy_from_slice(&lsn.to_le_bytes());
    frame[20..28].copy_from_slice(&term.to_le_bytes());
    frame[28..36].copy_from_slice(&durable_through.to_le_bytes());
}

/// Decodes the record at the start of `bytes`, checking every byte of it.
/// Trailing bytes after the frame are ignored.
///
/// Never panics, whatever the bytes: it is fuzzed (`storage/fuzz`).
///
/// # Errors
///
/// The [`FrameDefect`] that makes the bytes not a record.
pub fn decode_frame(bytes: &[u8], payload_max: u32) -> Result<Frame<'_>, FrameDefect> {
    if bytes.len() < RECORD_HEADER_BYTES {
        return Err(FrameDefect::Truncated {
            available: bytes.len(),
            needed: RECORD_HEADER_BYTES,
        });
    }
    let len = u32_at(bytes, 4);
    let kind = RecordKind::from_byte(bytes[8]).ok_or(FrameDefect::UnknownKind(bytes[8]))?;
    if bytes[9..12] != [0; 3] {
        return Err(FrameDefect::ReservedNotZero);
    }
    let max = payload_max.min(RECORD_PAYLOAD_MAX);
    if len > max {
        return Err(FrameDefect::TooLarge {
            len: u64::from(len),
            max: u64::from(max),
        });
    }
    let end = RECORD_HEADER_BYTES + len as usize;
    if bytes.len() < end {
        return Err(FrameDefect::Truncated {
            available: bytes.len(),
            needed: end,
        });
    }
    let payload = &bytes[RECORD_HEADER_BYTES..end];
    let stored = u32_at(bytes, 0);
    let computed = crc32c::crc32c_append(crc32c::crc32c(payload), &bytes[4..RECORD_HEADER_BYTES]);
    if stored != computed {
        return Err(FrameDefect::Checksum { stored, computed });
    }
    let lsn = u64_at(bytes, 12);
    let durable_through = u64_at(bytes, 28);
    if durable_through >= lsn {
        return Err(FrameDefect::Inconsistent);
    }
    Ok(Frame {
        kind,
        lsn,
        term: u64_at(bytes, 20),
        durable_through,
        payload,
    })
}

/// Whether `bytes` could start a frame of the log at an lsn in
/// `lsn_range`, judged from the header alone: the cheap filter recovery
/// applies before checksumming a candidate when it looks past a damaged
/// record.
pub(crate) fn plausible_header(
    bytes: &[u8],
    lsn_low: u64,
    lsn_high: u64,
    payload_max: u32,
) -> bool {
    if bytes.len() < RECORD_HEADER_BYTES {
        return false;
    }
    let lsn = u64_at(bytes, 12);
    RecordKind::from_byte(bytes[8]).is_some()
        && bytes[9..12] == [0; 3]
        && u32_at(bytes, 4) <= payload_max.min(RECORD_PAYLOAD_MAX)
        && lsn >= lsn_low
        && lsn <= lsn_high
}

/// The property the fuzzer checks on arbitrary bytes, kept here so the
/// regression corpus is replayed by an ordinary test: decoding never panics,
/// and whatever decodes re-encodes to exactly the bytes it came from.
#[doc(hidden)]
pub fn fuzz_record_decoder(data: &[u8]) {
    // Vary the maximum with the input so the length check is exercised too.
    let payload_max = match data.first() {
        Some(byte) if byte % 2 == 0 => u32::from(*byte) * 4,
        _ => RECORD_PAYLOAD_MAX,
    };
    let mut rest = data;
    while let Ok(frame) = decode_frame(rest, payload_max) {
        let mut again = Vec::with_capacity(frame.encoded_len());
        encode_frame(
            &mut again,
            frame.kind,
            frame.lsn,
            frame.term,
            frame.durable_through,
            frame.payload,
        );
        assert_eq!(again, &rest[..frame.encoded_len()], "re-encoding differs");
        rest = &rest[frame.encoded_len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(lsn: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, RecordKind::Entry, lsn, 3, lsn - 1, payload);
        out
    }

    #[test]
    fn header_layout_is_stable() {
        // The on-disk format is versioned: this test pins version 1.
        let bytes = frame(0x0102, b"xy");
        assert_eq!(bytes.len(), RECORD_HEADER_BYTES + 2);
        assert_eq!(&bytes[4..8], &2u32.to_le_bytes());
        assert_eq!(bytes[8], 1);
        assert_eq!(&bytes[12..20], &0x0102u64.to_le_bytes());
        assert_eq!(&bytes[20..28], &3u64.to_le_bytes());
        assert_eq!(&bytes[28..36], &0x0101u64.to_le_bytes());
        assert_eq!(&bytes[36..], b"xy");
        let crc = crc32c::crc32c_append(crc32c::crc32c(b"xy"), &bytes[4..36]);
        assert_eq!(&bytes[0..4], &crc.to_le_bytes());
    }

    // Rule: a zero-filled tail never decodes as a record.
    #[test]
    fn zeros_are_not_a_record() {
        assert_eq!(
            decode_frame(&[0; 100], 1024),
            Err(FrameDefect::UnknownKind(0))
        );
    }

    #[test]
    fn truncation_is_reported_as_such() {
        let bytes = frame(5, &[7; 50]);
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    decode_frame(&bytes[..cut], 1024),
                    Err(FrameDefect::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn oversized_length_is_rejected_before_reading() {
        let bytes = frame(5, &[7; 50]);
        assert_eq!(
            decode_frame(&bytes, 10),
            Err(FrameDefect::TooLarge { len: 50, max: 10 })
        );
    }

    #[test]
    fn a_record_cannot_claim_itself_durable() {
        let mut bytes = Vec::new();
        encode_frame(&mut bytes, RecordKind::Entry, 5, 1, 5, b"");
        assert_eq!(decode_frame(&bytes, 10), Err(FrameDefect::Inconsistent));
    }

    proptest! {
        #[test]
        fn round_trip(lsn in 1u64.., term: u64, payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = Vec::new();
            encode_frame(&mut bytes, RecordKind::Entry, lsn, term, lsn - 1, &payload);
            bytes.extend_from_slice(b"trailing");
            let frame = decode_frame(&bytes, 1 << 20).unwrap();
            prop_assert_eq!(frame.lsn, lsn);
            prop_assert_eq!(frame.term, term);
            prop_assert_eq!(frame.payload, &payload[..]);
        }

        // Rule: every single-bit flip of a record is detected.
        #[test]
        fn every_bit_flip_is_detected(payload in proptest::collection::vec(any::<u8>(), 0..100), bit in 0usize..1088) {
            let mut bytes = frame(9, &payload);
            let bit = bit % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode_frame(&bytes, 1 << 20).is_err());
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            fuzz_record_decoder(&bytes);
        }
    }
}

//! The messages of Merkle-tree anti-entropy, and their compact binary
//! form (what the benchmark counts, and what a decoder must refuse when it
//! is malformed).

use tessera_core::InvalidParameter;
use tessera_vclock::{CompactEncoding, Decoder, VclockError, VersionVector, write_varint};

use crate::{Key, KeyRange, QuorumError, ReplicatedValue, VersionedObject};

/// The most keys one anti-entropy message may carry (entries, objects or
/// wanted keys); a larger difference is repaired over several sessions.
pub const ANTI_ENTROPY_KEYS_MAX: usize = 4_096;

/// The longest key anti-entropy accepts, in bytes.
pub const KEY_BYTES_MAX: usize = 4_096;

/// One key of a differing leaf, as a replica describes it: enough for the
/// other side to tell which of the two objects is newer without seeing
/// either.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LeafEntry {
    /// The key.
    pub key: Key,
    /// The digest of the sender's object.
    pub digest: u64,
    /// Everything the sender's object has seen.
    pub context: VersionVector,
}

/// Why a session was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AbortReason {
    /// The two sides' trees have different depths.
    DepthMismatch,
    /// The receiver does not replicate that range.
    NotAReplica,
    /// The receiver has no such session (it ended, timed out or never
    /// began).
    UnknownSession,
    /// The receiver runs as many sessions as it allows.
    Busy,
    /// The message broke the protocol and was not applied.
    Malformed,
}

/// One step of anti-entropy between two replicas of a range.
///
/// The two sides descend their Merkle trees together, one level per
/// message, each message flagging which of the other side's hashes differ
/// and carrying the sender's hashes for the children of those nodes only.
/// Equal subtrees are never expanded, so the hashes sent grow with the
/// number of differing keys times the depth, not with the number of keys.
/// At the leaves, the sides swap short [`LeafEntry`] descriptions and then
/// only the objects that are newer on one side.
///
/// ```text
/// A: Begin(root)                       B: root differs → Hashes(level 1, children of root)
/// A: Hashes(level 2, flags, children)  B: Hashes(level 3, flags, children) …
/// X: Entries(flags, leaf entries)      Y: Objects(newer here, wanted)
/// X: Objects(wanted)                   — both have merged; a later session finds the roots equal
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AntiEntropyMessage<V> {
    /// Opens a session over `range` with the initiator's root hash.
    Begin {
        /// The session, chosen by the initiator.
        session: u64,
        /// The range compared.
        range: KeyRange,
        /// The initiator's tree depth (both must match).
        depth: u8,
        /// The initiator's root hash.
        root: u64,
    },
    /// Descends one level.
    Hashes {
        /// The session.
        session: u64,
        /// The level of `hashes`.
        level: u8,
        /// For each hash the receiver sent last, whether it differs here.
        differs: Vec<bool>,
        /// The sender's hashes at `level` for the two children of every
        /// differing node, in order.
        hashes: Vec<u64>,
    },
    /// At the leaves: which leaves differ, and the sender's keys in them.
    Entries {
        /// The session.
        session: u64,
        /// For each leaf hash the receiver sent, whether it differs here.
        differs: Vec<bool>,
        /// The sender's keys in the differing leaves, by leaf then key.
        entries: Vec<LeafEntry>,
    },
    /// Objects the receiver lacks or has older, and keys the sender wants.
    Objects {
        /// The session.
        session: u64,
        /// Keys and their objects, by leaf then key.
        objects: Vec<(Key, VersionedObject<V>)>,
        /// Keys whose objects the sender wants back, by leaf then key.
        wanted: Vec<Key>,
    },
    /// Nothing differs: the session is over.
    InSync {
        /// The session.
        session: u64,
    },
    /// The session is abandoned.
    Abort {
        /// The session.
        session: u64,
        /// Why.
        reason: AbortReason,
    },
}

impl<V> AntiEntropyMessage<V> {
    /// The session the message belongs to.
    pub fn session(&self) -> u64 {
        match self {
            AntiEntropyMessage::Begin { session, .. }
            | AntiEntropyMessage::Hashes { session, .. }
            | AntiEntropyMessage::Entries { session, .. }
            | AntiEntropyMessage::Objects { session, .. }
            | AntiEntropyMessage::InSync { session }
            | AntiEntropyMessage::Abort { session, .. } => *session,
        }
    }
}

const TAG_BEGIN: u8 = 0;
const TAG_HASHES: u8 = 1;
const TAG_ENTRIES: u8 = 2;
const TAG_OBJECTS: u8 = 3;
const TAG_IN_SYNC: u8 = 4;
const TAG_ABORT: u8 = 5;

fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn read_u64(decoder: &mut Decoder<'_>) -> Result<u64, VclockError> {
    let bytes = decoder.read_bytes(8)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    Ok(u64::from_le_bytes(word))
}

fn write_key(out: &mut Vec<u8>, key: &[u8]) {
    write_varint(out, key.len() as u64);
    out.extend_from_slice(key);
}

fn read_key(decoder: &mut Decoder<'_>) -> Result<Key, VclockError> {
    let length = decoder.read_length(1)?;
    if length > KEY_BYTES_MAX {
        return Err(InvalidParameter::new(
            "key",
            format!("keys are at most {KEY_BYTES_MAX} bytes, got {length}"),
        )
        .into());
    }
    Ok(decoder.read_bytes(length)?.to_vec())
}

fn write_bits(out: &mut Vec<u8>, bits: &[bool]) {
    write_varint(out, bits.len() as u64);
    for chunk in bits.chunks(8) {
        let byte = chunk
            .iter()
            .enumerate()
            .fold(0u8, |byte, (i, bit)| byte | (u8::from(*bit) << i));
        out.push(byte);
    }
}

fn read_bits(decoder: &mut Decoder<'_>) -> Result<Vec<bool>, VclockError> {
    let offset = decoder.position();
    let length = decoder.read_varint()?;
    let bytes = length.div_ceil(8);
    if bytes > decoder.remaining() as u64 {
        return Err(VclockError::LengthTooLarge {
            offset,
            length,
            remaining: decoder.remaining(),
        });
    }
    let packed = decoder.read_bytes(bytes as usize)?;
    let bits: Vec<bool> = (0..length as usize)
        .map(|i| packed[i / 8] & (1 << (i % 8)) != 0)
        .collect();
    // Padding bits must be zero: one encoding per bitmap.
    let used = length as usize;
    if !used.is_multiple_of(8) && packed.last().is_some_and(|last| last >> (used % 8) != 0) {
        return Err(VclockError::InvalidTag {
            offset: decoder.position() - 1,
            tag: packed[packed.len() - 1],
        });
    }
    Ok(bits)
}

fn read_count(decoder: &mut Decoder<'_>, item_bytes_min: usize) -> Result<usize, VclockError> {
    let count = decoder.read_length(item_bytes_min)?;
    if count > ANTI_ENTROPY_KEYS_MAX * 2 {
        return Err(InvalidParameter::new(
            "count",
            format!(
                "at most {} items per message, got {count}",
                ANTI_ENTROPY_KEYS_MAX * 2
            ),
        )
        .into());
    }
    Ok(count)
}

impl<V: ReplicatedValue> AntiEntropyMessage<V> {
    /// The message's compact binary form: a tag byte, varints, hashes as
    /// eight little-endian bytes, bitmaps packed eight flags to a byte.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            AntiEntropyMessage::Begin {
                session,
                range,
                depth,
                root,
            } => {
                out.push(TAG_BEGIN);
                write_varint(&mut out, *session);
                write_u64(&mut out, range.start);
                write_u64(&mut out, range.end);
                out.push(*depth);
                write_u64(&mut out, *root);
            }
            AntiEntropyMessage::Hashes {
                session,
                level,
                differs,
                hashes,
            } => {
                out.push(TAG_HASHES);
                write_varint(&mut out, *session);
                out.push(*level);
                write_bits(&mut out, differs);
                write_varint(&mut out, hashes.len() as u64);
                for hash in hashes {
                    write_u64(&mut out, *hash);
                }
            }
            AntiEntropyMessage::Entries {
                session,
                differs,
                entries,
            } => {
                out.push(TAG_ENTRIES);
                write_varint(&mut out, *session);
                write_bits(&mut out, differs);
                write_varint(&mut out, entries.len() as u64);
                for entry in entries {
                    write_key(&mut out, &entry.key);
                    write_u64(&mut out, entry.digest);
                    entry.context.encode(&mut out);
                }
            }
            AntiEntropyMessage::Objects {
                session,
                objects,
                wanted,
            } => {
                out.push(TAG_OBJECTS);
                write_varint(&mut out, *session);
                write_varint(&mut out, objects.len() as u64);
                for (key, object) in objects {
                    write_key(&mut out, key);
                    object.encode(&mut out);
                }
                write_varint(&mut out, wanted.len() as u64);
                for key in wanted {
                    write_key(&mut out, key);
                }
            }
            AntiEntropyMessage::InSync { session } => {
                out.push(TAG_IN_SYNC);
                write_varint(&mut out, *session);
            }
            AntiEntropyMessage::Abort { session, reason } => {
                out.push(TAG_ABORT);
                write_varint(&mut out, *session);
                out.push(*reason as u8);
            }
        }
        out
    }

    /// Reads a message from `bytes`, which must hold exactly one.
    ///
    /// Only the encoding is checked here; whether the message fits the
    /// session it claims is checked when it is handled.
    ///
    /// # Errors
    ///
    /// [`QuorumError::MalformedMessage`] saying what is wrong and where.
    pub fn decode(bytes: &[u8]) -> Result<Self, QuorumError> {
        let mut decoder = Decoder::new(bytes);
        let message = Self::decode_from(&mut decoder)
            .and_then(|message| decoder.finish().map(|()| message))
            .map_err(|error| QuorumError::MalformedMessage {
                reason: format!("undecodable anti-entropy message: {error}"),
            })?;
        Ok(message)
    }

    fn decode_from(decoder: &mut Decoder<'_>) -> Result<Self, VclockError> {
        let tag_offset = decoder.position();
        let tag = decoder.read_u8()?;
        let session = decoder.read_varint()?;
        Ok(match tag {
            TAG_BEGIN => AntiEntropyMessage::Begin {
                session,
                range: KeyRange {
                    start: read_u64(decoder)?,
                    end: read_u64(decoder)?,
                },
                depth: decoder.read_u8()?,
                root: read_u64(decoder)?,
            },
            TAG_HASHES => {
                let level = decoder.read_u8()?;
                let differs = read_bits(decoder)?;
                let count = read_count(decoder, 8)?;
                let hashes = (0..count)
                    .map(|_| read_u64(decoder))
                    .collect::<Result<_, _>>()?;
                AntiEntropyMessage::Hashes {
                    session,
                    level,
                    differs,
                    hashes,
                }
            }
            TAG_ENTRIES => {
                let differs = read_bits(decoder)?;
                // A key length, a digest and an empty context at least.
                let count = read_count(decoder, 10)?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    entries.push(LeafEntry {
                        key: read_key(decoder)?,
                        digest: read_u64(decoder)?,
                        context: VersionVector::decode(decoder)?,
                    });
                }
                AntiEntropyMessage::Entries {
                    session,
                    differs,
                    entries,
                }
            }
            TAG_OBJECTS => {
                let count = read_count(decoder, 2)?;
                let mut objects = Vec::with_capacity(count);
                for _ in 0..count {
                    objects.push((read_key(decoder)?, VersionedObject::decode(decoder)?));
                }
                let count = read_count(decoder, 1)?;
                let wanted = (0..count)
                    .map(|_| read_key(decoder))
                    .collect::<Result<_, _>>()?;
                AntiEntropyMessage::Objects {
                    session,
                    objects,
                    wanted,
                }
            }
            TAG_IN_SYNC => AntiEntropyMessage::InSync { session },
            TAG_ABORT => {
                let offset = decoder.position();
                let reason = match decoder.read_u8()? {
                    0 => AbortReason::DepthMismatch,
                    1 => AbortReason::NotAReplica,
                    2 => AbortReason::UnknownSession,
                    3 => AbortReason::Busy,
                    4 => AbortReason::Malformed,
                    tag => return Err(VclockError::InvalidTag { offset, tag }),
                };
                AntiEntropyMessage::Abort { session, reason }
            }
            tag => {
                return Err(VclockError::InvalidTag {
                    offset: tag_offset,
                    tag,
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_vclock::{Dot, DottedVersionVector};

    use crate::Version;

    fn samples() -> Vec<AntiEntropyMessage<u64>> {
        let mut object = VersionedObject::new();
        object.add(Version {
            clock: DottedVersionVector::new(Dot::new(3, 4), VersionVector::new()).unwrap(),
            value: Some(11),
        });
        vec![
            AntiEntropyMessage::Begin {
                session: 7,
                range: KeyRange { start: 1, end: 2 },
                depth: 9,
                root: u64::MAX,
            },
            AntiEntropyMessage::Hashes {
                session: 7,
                level: 3,
                differs: vec![true, false, true, true, false, false, false, false, true],
                hashes: vec![1, 2, 3, 4, 5, 6, 7, 8],
            },
            AntiEntropyMessage::Entries {
                session: 7,
                differs: vec![false, true],
                entries: vec![LeafEntry {
                    key: b"k".to_vec(),
                    digest: 5,
                    context: object.context(),
                }],
            },
            AntiEntropyMessage::Objects {
                session: 7,
                objects: vec![(b"k".to_vec(), object)],
                wanted: vec![b"j".to_vec()],
            },
            AntiEntropyMessage::InSync { session: 7 },
            AntiEntropyMessage::Abort {
                session: 7,
                reason: AbortReason::Busy,
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for message in samples() {
            let bytes = message.encode();
            assert_eq!(AntiEntropyMessage::decode(&bytes).unwrap(), message);
        }
    }

    #[test]
    fn rule_malformed_bytes_are_rejected_never_a_panic() {
        for message in samples() {
            let bytes = message.encode();
            // Every truncation fails; trailing bytes fail.
            for cut in 0..bytes.len() {
                assert!(AntiEntropyMessage::<u64>::decode(&bytes[..cut]).is_err());
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(AntiEntropyMessage::<u64>::decode(&longer).is_err());
        }
        assert!(AntiEntropyMessage::<u64>::decode(&[9, 0]).is_err());
        // A bitmap with non-zero padding has two encodings: refused.
        let error = AntiEntropyMessage::<u64>::decode(&[TAG_HASHES, 0, 1, 1, 0b10, 0]).unwrap_err();
        assert!(
            matches!(error, QuorumError::MalformedMessage { .. }),
            "{error}"
        );
        // A count the input cannot hold is refused before allocating.
        let error = AntiEntropyMessage::<u64>::decode(&[TAG_HASHES, 0, 1, 0, 0xff, 0xff, 0x03])
            .unwrap_err();
        assert!(error.to_string().contains("undecodable"), "{error}");
    }
}

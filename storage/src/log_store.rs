//! The log interface the consensus crates use, and the types around it.

use std::ops::Range;

use tessera_core::NodeId;

use crate::StorageError;

/// A position in a log: an index and the term (view, ballot) of the entry
/// there. `LogPosition::ZERO` is the position before the first entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LogPosition {
    /// The index (slot, sequence number).
    pub index: u64,
    /// The term (view, ballot) of the entry at `index`.
    pub term: u64,
}

impl LogPosition {
    /// The position before the first entry.
    pub const ZERO: LogPosition = LogPosition { index: 0, term: 0 };

    /// A position.
    pub const fn new(index: u64, term: u64) -> Self {
        LogPosition { index, term }
    }
}

/// What a log entry must tell the log: where it goes and in which term.
///
/// Raft entries have an index and a term; Multi-Paxos slots have a slot
/// number and a ballot; PBFT requests have a sequence number and a view.
pub trait LogEntry: Clone {
    /// The entry's index (slot, sequence number), from 1.
    fn index(&self) -> u64;
    /// The entry's term (ballot, view).
    fn term(&self) -> u64;
}

/// How a value is stored in the durable log: encode to bytes, decode back.
///
/// The durable log checksums the bytes, so `decode` only sees bytes that
/// `encode` produced — unless the code changed between writing and reading;
/// it must still never panic.
///
/// # Examples
///
/// ```
/// use tessera_storage::{Codec, CodecReader};
///
/// #[derive(Debug, PartialEq)]
/// struct Ballot { round: u64, node: u64 }
///
/// impl Codec for Ballot {
///     fn encode(&self, out: &mut Vec<u8>) {
///         out.extend_from_slice(&self.round.to_le_bytes());
///         out.extend_from_slice(&self.node.to_le_bytes());
///     }
///     fn decode(bytes: &[u8]) -> Result<Self, String> {
///         let mut reader = CodecReader::new(bytes);
///         let ballot = Ballot { round: reader.u64()?, node: reader.u64()? };
///         reader.finish()?;
///         Ok(ballot)
///     }
/// }
///
/// let mut bytes = Vec::new();
/// Ballot { round: 3, node: 1 }.encode(&mut bytes);
/// assert_eq!(Ballot::decode(&bytes), Ok(Ballot { round: 3, node: 1 }));
/// assert!(Ballot::decode(&bytes[..5]).is_err());
/// ```
pub trait Codec: Sized {
    /// Appends the value's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Rebuilds a value from the bytes `encode` produced.
    ///
    /// # Errors
    ///
    /// Why the bytes are not a value; the log reports it as corruption with
    /// the file and offset.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

/// Reads little-endian fields from a byte slice, for [`Codec::decode`]
/// implementations: every read checks the length, nothing panics.
#[derive(Debug, Clone)]
pub struct CodecReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> CodecReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        CodecReader { bytes, position: 0 }
    }

    /// The next `len` bytes.
    ///
    /// # Errors
    ///
    /// If fewer remain.
    pub fn bytes(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self
            .position
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "{len} bytes wanted at offset {}, {} remain",
                    self.position,
                    self.bytes.len() - self.position
                )
            })?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    /// The next byte.
    ///
    /// # Errors
    ///
    /// If none remains.
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    /// The next little-endian `u32`.
    ///
    /// # Errors
    ///
    /// If fewer than 4 bytes remain.
    pub fn u32(&mut self) -> Result<u32, String> {
        let mut word = [0; 4];
        word.copy_from_slice(self.bytes(4)?);
        Ok(u32::from_le_bytes(word))
    }

    /// The next little-endian `u64`.
    ///
    /// # Errors
    ///
    /// If fewer than 8 bytes remain.
    pub fn u64(&mut self) -> Result<u64, String> {
        let mut word = [0; 8];
        word.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_le_bytes(word))
    }

    /// A `u32` length followed by that many bytes.
    ///
    /// # Errors
    ///
    /// If the bytes end first.
    pub fn prefixed_bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.u32()? as usize;
        self.bytes(len)
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.position..];
        self.position = self.bytes.len();
        rest
    }

    /// Checks every byte was read.
    ///
    /// # Errors
    ///
    /// If bytes remain.
    pub fn finish(&self) -> Result<(), String> {
        if self.position == self.bytes.len() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected trailing bytes",
                self.bytes.len() - self.position
            ))
        }
    }
}

/// Appends `bytes` with a `u32` length prefix: the inverse of
/// [`CodecReader::prefixed_bytes`].
pub fn encode_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..len as usize]);
}

/// A log entry whose payload is opaque bytes: for applications that encode
/// their own commands, for tests and for benchmarks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RawEntry {
    /// The entry's index.
    pub index: u64,
    /// The entry's term.
    pub term: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

impl RawEntry {
    /// An entry.
    pub fn new(index: u64, term: u64, payload: impl Into<Vec<u8>>) -> Self {
        RawEntry {
            index,
            term,
            payload: payload.into(),
        }
    }
}

impl LogEntry for RawEntry {
    fn index(&self) -> u64 {
        self.index
    }
    fn term(&self) -> u64 {
        self.term
    }
}

impl Codec for RawEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.term.to_le_bytes());
        out.extend_from_slice(&self.payload);
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        Ok(RawEntry {
            index: reader.u64()?,
            term: reader.u64()?,
            payload: reader.rest().to_vec(),
        })
    }
}

/// The state a consensus node must find again after a restart, besides its
/// log: its term, its vote in that term, how far it knows the log is
/// committed, and its membership configuration.
///
/// Raft uses it as is. Protocols with other needs (a Paxos acceptor's
/// promised ballot, a PBFT replica's view) use their own type: the log
/// stores are generic over it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HardState {
    /// The latest term the node has seen.
    pub term: u64,
    /// The node it voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// The highest index known committed.
    pub commit: u64,
    /// The membership configuration, encoded by the consensus crate (empty
    /// if it keeps membership in the log only).
    pub configuration: Vec<u8>,
}

impl Codec for HardState {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.term.to_le_bytes());
        match self.vote {
            Some(vote) => {
                out.push(1);
                out.extend_from_slice(&vote.to_le_bytes());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.commit.to_le_bytes());
        encode_prefixed(out, &self.configuration);
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let term = reader.u64()?;
        let vote = match reader.u8()? {
            0 => None,
            1 => Some(reader.u64()?),
            other => return Err(format!("bad vote tag {other}")),
        };
        let commit = reader.u64()?;
        let configuration = reader.prefixed_bytes()?.to_vec();
        reader.finish()?;
        Ok(HardState {
            term,
            vote,
            commit,
            configuration,
        })
    }
}

/// One write a consensus node asks to persist: what it puts in
/// [`Action::Persist`](tessera_core::Action::Persist) when it keeps its log
/// in a [`LogStore`].
///
/// [`LogStore::apply`] performs it on any store; [`MemLog`](crate::MemLog)
/// is also a [`DurableState`](tessera_core::DurableState) of these writes,
/// so the simulator keeps one per node as its disk image.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LogWrite<E, H = HardState> {
    /// Append entries after the last one ([`LogStore::append`]).
    Append(Vec<E>),
    /// Remove the entries from this index on ([`LogStore::truncate_from`]).
    TruncateFrom(u64),
    /// Drop the prefix covered by a snapshot ([`LogStore::purge_to`]).
    PurgeTo(LogPosition),
    /// Replace the hard state ([`LogStore::save_hard_state`]).
    HardState(H),
}

/// The log a consensus node keeps: entries by index with their terms, a
/// purged prefix, and the hard state.
///
/// The interface is synchronous and small. Mutations take effect for reads
/// at once; they are durable after [`sync`](Self::sync) (or, for the
/// durable log, when a [`DurableTicket`](crate::DurableTicket) says so), and
/// a crash keeps a prefix of them in order.
///
/// Indexes start at 1. The log holds `first_index()..=last_index()`; the
/// prefix up to [`base`](Self::base) was purged (its last position is
/// remembered, so the term at the base is still known). An empty log has
/// `last_index() == base().index`.
///
/// Both implementations, [`MemLog`](crate::MemLog) and
/// [`DurableLog`](crate::DurableLog), pass the same conformance suite
/// ([`conformance`](crate::conformance)).
pub trait LogStore {
    /// The entry type.
    type Entry: LogEntry;
    /// The hard-state type.
    type HardState: Clone;

    /// The last purged position: [`LogPosition::ZERO`] until a purge.
    fn base(&self) -> LogPosition;

    /// The index of the last entry, or `base().index` if the log is empty.
    fn last_index(&self) -> u64;

    /// The term of the entry at `index`; at `base().index`, the base's term.
    ///
    /// # Errors
    ///
    /// [`StorageError::Compacted`] below the base,
    /// [`StorageError::BeyondEnd`] past the last entry, or a read error.
    fn term_at(&self, index: u64) -> Result<u64, StorageError>;

    /// The entries with indexes in `range`, which must lie within
    /// `first_index()..=last_index() + 1` (an empty range is fine).
    ///
    /// # Errors
    ///
    /// [`StorageError::Compacted`] or [`StorageError::BeyondEnd`] for a
    /// range outside the log, or a read error.
    fn entries(&self, range: Range<u64>) -> Result<Vec<Self::Entry>, StorageError>;

    /// Appends entries; the first must have index `last_index() + 1` and
    /// the rest follow without gaps.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotContiguous`] (nothing is appended), or a write
    /// error.
    fn append(&mut self, entries: Vec<Self::Entry>) -> Result<(), StorageError>;

    /// Removes every entry from `index` on (Raft's conflict resolution).
    /// `index == last_index() + 1` removes nothing.
    ///
    /// # Errors
    ///
    /// [`StorageError::Compacted`] if `index <= base().index` (purged
    /// entries are committed and never truncated),
    /// [`StorageError::BeyondEnd`] past `last_index() + 1`, or a write
    /// error.
    fn truncate_from(&mut self, index: u64) -> Result<(), StorageError>;

    /// Drops the prefix up to `upto`, which a snapshot now covers.
    ///
    /// If the log holds an entry at `upto.index` with term `upto.term`, the
    /// entries after it are kept; otherwise — the snapshot is past the end
    /// of the log or conflicts with it — the whole log is discarded (Raft,
    /// Figure 13, step 6). Afterwards `base() == upto`. A position at or
    /// below the current base changes nothing.
    ///
    /// # Errors
    ///
    /// A write error.
    fn purge_to(&mut self, upto: LogPosition) -> Result<(), StorageError>;

    /// The last saved hard state, if any was ever saved.
    fn hard_state(&self) -> Option<&Self::HardState>;

    /// Replaces the hard state.
    ///
    /// # Errors
    ///
    /// A write error.
    fn save_hard_state(&mut self, state: Self::HardState) -> Result<(), StorageError>;

    /// Blocks until every mutation so far is durable.
    ///
    /// # Errors
    ///
    /// A write or sync error: then some mutations may not be durable, and
    /// the store refuses further writes.
    fn sync(&mut self) -> Result<(), StorageError>;

    /// The first index the log holds (`base().index + 1`).
    fn first_index(&self) -> u64 {
        self.base().index + 1
    }

    /// The position of the last entry (the base if the log is empty).
    ///
    /// # Errors
    ///
    /// A read error.
    fn last_position(&self) -> Result<LogPosition, StorageError> {
        let index = self.last_index();
        Ok(LogPosition::new(index, self.term_at(index)?))
    }

    /// The entry at `index`.
    ///
    /// # Errors
    ///
    /// As [`entries`](Self::entries).
    fn entry(&self, index: u64) -> Result<Self::Entry, StorageError> {
        let last_index = self.last_index();
        self.entries(index..index.saturating_add(1))?
            .pop()
            .ok_or(StorageError::BeyondEnd { index, last_index })
    }

    /// Performs one [`LogWrite`].
    ///
    /// # Errors
    ///
    /// As the method the write maps to.
    fn apply(&mut self, write: LogWrite<Self::Entry, Self::HardState>) -> Result<(), StorageError> {
        match write {
            LogWrite::Append(entries) => self.append(entries),
            LogWrite::TruncateFrom(index) => self.truncate_from(index),
            LogWrite::PurgeTo(upto) => self.purge_to(upto),
            LogWrite::HardState(state) => self.save_hard_state(state),
        }
    }
}

/// Checks a range of indexes against a log holding `base + 1 ..= last`.
pub(crate) fn check_range(range: &Range<u64>, base: u64, last: u64) -> Result<(), StorageError> {
    if range.start <= base {
        return Err(StorageError::Compacted {
            index: range.start,
            first_index: base + 1,
        });
    }
    if range.end > last + 1 || range.start > range.end {
        return Err(StorageError::BeyondEnd {
            index: range
                .end
                .max(range.start)
                .saturating_sub(1)
                .max(range.start),
            last_index: last,
        });
    }
    Ok(())
}

/// Checks that `entries` continue a log whose last index is `last`.
pub(crate) fn check_contiguous<E: LogEntry>(entries: &[E], last: u64) -> Result<(), StorageError> {
    for (expected, entry) in (last + 1..).zip(entries) {
        if entry.index() != expected {
            return Err(StorageError::NotContiguous {
                expected,
                got: entry.index(),
            });
        }
    }
    Ok(())
}

/// Checks `index` is a valid start of a truncation of `base + 1 ..= last`.
pub(crate) fn check_truncation(index: u64, base: u64, last: u64) -> Result<(), StorageError> {
    if index <= base {
        return Err(StorageError::Compacted {
            index,
            first_index: base + 1,
        });
    }
    if index > last + 1 {
        return Err(StorageError::BeyondEnd {
            index,
            last_index: last,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hard_state_round_trips(term: u64, vote: Option<u64>, commit: u64, configuration in proptest::collection::vec(any::<u8>(), 0..40)) {
            let state = HardState { term, vote, commit, configuration };
            let mut bytes = Vec::new();
            state.encode(&mut bytes);
            prop_assert_eq!(HardState::decode(&bytes), Ok(state));
        }

        #[test]
        fn raw_entry_round_trips(index: u64, term: u64, payload in proptest::collection::vec(any::<u8>(), 0..40)) {
            let entry = RawEntry::new(index, term, payload);
            let mut bytes = Vec::new();
            entry.encode(&mut bytes);
            prop_assert_eq!(RawEntry::decode(&bytes), Ok(entry));
        }

        // Rule: decoders never panic on bad bytes.
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..60)) {
            let _ = HardState::decode(&bytes);
            let _ = RawEntry::decode(&bytes);
        }
    }

    #[test]
    fn range_checks() {
        assert!(check_range(&(3..5), 2, 4).is_ok());
        assert!(check_range(&(5..5), 2, 4).is_ok());
        assert!(check_range(&(6..6), 2, 4).is_err());
        assert!(matches!(
            check_range(&(2..4), 2, 4),
            Err(StorageError::Compacted {
                index: 2,
                first_index: 3
            })
        ));
        assert!(matches!(
            check_range(&(3..7), 2, 4),
            Err(StorageError::BeyondEnd {
                index: 6,
                last_index: 4
            })
        ));
        assert!(check_truncation(5, 2, 4).is_ok());
        assert!(check_truncation(6, 2, 4).is_err());
        assert!(check_truncation(2, 2, 4).is_err());
    }
}

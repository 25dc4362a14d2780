//! The replicated key-value state machine: versioned values, the commands
//! that change them and the queries that read them, each with a byte
//! encoding (tessera-storage's [`Codec`]) so they travel through the
//! tessera-net client API and sit in the durable log.

use std::collections::BTreeMap;

use tessera_hlc::Timestamp;
use tessera_raft::{SnapshotBuffer, StateMachine};
use tessera_storage::{Codec, CodecReader, encode_prefixed};

/// A value with the HLC timestamp of the write that set it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Versioned {
    /// The value.
    pub value: Vec<u8>,
    /// The write's version: strictly increasing in log order.
    pub version: Timestamp,
}

/// A command that changes the store. Each carries the HLC timestamp its
/// client stamped it with; the store turns it into the write's version
/// (see [`KvStore`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvCommand {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The client's HLC timestamp.
        stamp: Timestamp,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
        /// The client's HLC timestamp.
        stamp: Timestamp,
    },
    /// Set `key` to `new` if it holds `expected` (`None`: if it is absent).
    CompareAndSet {
        /// The key.
        key: Vec<u8>,
        /// The value it must hold.
        expected: Option<Vec<u8>>,
        /// The value to set.
        new: Vec<u8>,
        /// The client's HLC timestamp.
        stamp: Timestamp,
    },
}

impl KvCommand {
    /// The key the command changes.
    pub fn key(&self) -> &[u8] {
        match self {
            KvCommand::Put { key, .. }
            | KvCommand::Delete { key, .. }
            | KvCommand::CompareAndSet { key, .. } => key,
        }
    }

    fn stamp(&self) -> Timestamp {
        match self {
            KvCommand::Put { stamp, .. }
            | KvCommand::Delete { stamp, .. }
            | KvCommand::CompareAndSet { stamp, .. } => *stamp,
        }
    }
}

/// What a [`KvCommand`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// A put or delete took effect at this version.
    Done {
        /// The write's version.
        version: Timestamp,
    },
    /// A compare-and-set: whether it swapped, and the version it was
    /// decided at.
    Swapped {
        /// Whether the value was set.
        swapped: bool,
        /// The version of the decision (of the write, if it swapped).
        version: Timestamp,
    },
}

/// A read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvQuery {
    /// One key's value.
    Get {
        /// The key.
        key: Vec<u8>,
    },
    /// The keys in `[start, end)` (`end` `None`: to the last key), at most
    /// `limit` of them, in key order.
    Scan {
        /// The first key.
        start: Vec<u8>,
        /// The key after the last, if bounded.
        end: Option<Vec<u8>>,
        /// The most entries returned.
        limit: u32,
    },
}

/// The answer to a [`KvQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvAnswer {
    /// A key's value, if it has one.
    Value(Option<Versioned>),
    /// The entries of a scan, and whether more follow beyond the limit.
    Range {
        /// The entries in key order.
        entries: Vec<(Vec<u8>, Versioned)>,
        /// Whether the range holds more than `limit` entries.
        truncated: bool,
    },
}

/// The most entries one scan returns, whatever its limit says: an answer
/// must fit in one message.
pub const SCAN_LIMIT_MAX: u32 = 10_000;

const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_CAS: u8 = 3;
const TAG_GET: u8 = 1;
const TAG_SCAN: u8 = 2;

fn encode_option(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            encode_prefixed(out, bytes);
        }
    }
}

fn decode_option(reader: &mut CodecReader<'_>) -> Result<Option<Vec<u8>>, String> {
    match reader.u8()? {
        0 => Ok(None),
        1 => Ok(Some(reader.prefixed_bytes()?.to_vec())),
        tag => Err(format!("bad option tag {tag}")),
    }
}

fn encode_stamp(out: &mut Vec<u8>, stamp: Timestamp) {
    out.extend_from_slice(&stamp.as_u64().to_le_bytes());
}

fn decode_stamp(reader: &mut CodecReader<'_>) -> Result<Timestamp, String> {
    Ok(Timestamp::from_u64(reader.u64()?))
}

fn encode_versioned(out: &mut Vec<u8>, versioned: &Versioned) {
    encode_prefixed(out, &versioned.value);
    encode_stamp(out, versioned.version);
}

fn decode_versioned(reader: &mut CodecReader<'_>) -> Result<Versioned, String> {
    Ok(Versioned {
        value: reader.prefixed_bytes()?.to_vec(),
        version: decode_stamp(reader)?,
    })
}

impl Codec for KvCommand {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            KvCommand::Put { key, value, stamp } => {
                out.push(TAG_PUT);
                encode_prefixed(out, key);
                encode_prefixed(out, value);
                encode_stamp(out, *stamp);
            }
            KvCommand::Delete { key, stamp } => {
                out.push(TAG_DELETE);
                encode_prefixed(out, key);
                encode_stamp(out, *stamp);
            }
            KvCommand::CompareAndSet {
                key,
                expected,
                new,
                stamp,
            } => {
                out.push(TAG_CAS);
                encode_prefixed(out, key);
                encode_option(out, expected.as_deref());
                encode_prefixed(out, new);
                encode_stamp(out, *stamp);
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let command = match reader.u8()? {
            TAG_PUT => KvCommand::Put {
                key: reader.prefixed_bytes()?.to_vec(),
                value: reader.prefixed_bytes()?.to_vec(),
                stamp: decode_stamp(&mut reader)?,
            },
            TAG_DELETE => KvCommand::Delete {
                key: reader.prefixed_bytes()?.to_vec(),
                stamp: decode_stamp(&mut reader)?,
            },
            TAG_CAS => KvCommand::CompareAndSet {
                key: reader.prefixed_bytes()?.to_vec(),
                expected: decode_option(&mut reader)?,
                new: reader.prefixed_bytes()?.to_vec(),
                stamp: decode_stamp(&mut reader)?,
            },
            tag => return Err(format!("unknown command tag {tag}")),
        };
        reader.finish()?;
        Ok(command)
    }
}

impl Codec for KvOutput {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            KvOutput::Done { version } => {
                out.push(0);
                encode_stamp(out, *version);
            }
            KvOutput::Swapped { swapped, version } => {
                out.push(if *swapped { 2 } else { 1 });
                encode_stamp(out, *version);
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let tag = reader.u8()?;
        let version = decode_stamp(&mut reader)?;
        reader.finish()?;
        match tag {
            0 => Ok(KvOutput::Done { version }),
            1 | 2 => Ok(KvOutput::Swapped {
                swapped: tag == 2,
                version,
            }),
            tag => Err(format!("unknown output tag {tag}")),
        }
    }
}

impl Codec for KvQuery {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            KvQuery::Get { key } => {
                out.push(TAG_GET);
                encode_prefixed(out, key);
            }
            KvQuery::Scan { start, end, limit } => {
                out.push(TAG_SCAN);
                encode_prefixed(out, start);
                encode_option(out, end.as_deref());
                out.extend_from_slice(&limit.to_le_bytes());
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let query = match reader.u8()? {
            TAG_GET => KvQuery::Get {
                key: reader.prefixed_bytes()?.to_vec(),
            },
            TAG_SCAN => KvQuery::Scan {
                start: reader.prefixed_bytes()?.to_vec(),
                end: decode_option(&mut reader)?,
                limit: reader.u32()?,
            },
            tag => return Err(format!("unknown query tag {tag}")),
        };
        reader.finish()?;
        Ok(query)
    }
}

impl Codec for KvAnswer {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            KvAnswer::Value(None) => out.push(0),
            KvAnswer::Value(Some(versioned)) => {
                out.push(1);
                encode_versioned(out, versioned);
            }
            KvAnswer::Range { entries, truncated } => {
                out.push(if *truncated { 3 } else { 2 });
                out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
                for (key, versioned) in entries {
                    encode_prefixed(out, key);
                    encode_versioned(out, versioned);
                }
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let answer = match reader.u8()? {
            0 => KvAnswer::Value(None),
            1 => KvAnswer::Value(Some(decode_versioned(&mut reader)?)),
            tag @ (2 | 3) => {
                let count = reader.u64()?;
                // Every entry takes at least 16 bytes: no allocation beyond
                // what the bytes can hold.
                let bound = bytes.len() / 16;
                let mut entries =
                    Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(bound));
                for _ in 0..count {
                    let key = reader.prefixed_bytes()?.to_vec();
                    entries.push((key, decode_versioned(&mut reader)?));
                }
                KvAnswer::Range {
                    entries,
                    truncated: tag == 3,
                }
            }
            tag => return Err(format!("unknown answer tag {tag}")),
        };
        reader.finish()?;
        Ok(answer)
    }
}

/// The replicated store: a sorted map of versioned values.
///
/// Versions are HLC timestamps. A command carries its client's HLC
/// timestamp; the store gives the write the version
/// `max(stamp, the last version's successor)`, so versions are unique, strictly
/// increasing in log order (and therefore in linearization order), and
/// never behind the writer's clock. Every replica computes the same,
/// since it depends only on the log.
///
/// # Examples
///
/// ```
/// use tessera_hlc::Timestamp;
/// use tessera_kv::{KvAnswer, KvCommand, KvQuery, KvStore};
/// use tessera_raft::StateMachine;
///
/// let mut store = KvStore::default();
/// let stamp = Timestamp::from_micros(5);
/// store.apply(1, &KvCommand::Put { key: b"a".to_vec(), value: b"1".to_vec(), stamp });
/// // A stamp from a slower clock still gets a later version.
/// store.apply(2, &KvCommand::Put { key: b"b".to_vec(), value: b"2".to_vec(), stamp: Timestamp::ZERO });
/// let KvAnswer::Value(Some(a)) = store.query(&KvQuery::Get { key: b"a".to_vec() }) else { panic!() };
/// let KvAnswer::Value(Some(b)) = store.query(&KvQuery::Get { key: b"b".to_vec() }) else { panic!() };
/// assert!(b.version > a.version);
/// let scan = store.query(&KvQuery::Scan { start: Vec::new(), end: None, limit: 10 });
/// assert!(matches!(scan, KvAnswer::Range { entries, truncated: false } if entries.len() == 2));
/// ```
#[derive(Debug, Default)]
pub struct KvStore {
    entries: BTreeMap<Vec<u8>, Versioned>,
    /// The version of the last write (or decision) applied.
    last_version: Timestamp,
    snapshots: SnapshotBuffer,
}

impl KvStore {
    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The version of the last command applied.
    pub fn last_version(&self) -> Timestamp {
        self.last_version
    }

    fn encode_state(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode_stamp(&mut bytes, self.last_version);
        bytes.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (key, versioned) in &self.entries {
            encode_prefixed(&mut bytes, key);
            encode_versioned(&mut bytes, versioned);
        }
        bytes
    }

    /// Replaces the state with the snapshot `bytes` (unchanged if they do
    /// not decode).
    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut reader = CodecReader::new(bytes);
        let last_version = decode_stamp(&mut reader)?;
        let count = reader.u64()?;
        let mut entries = BTreeMap::new();
        for _ in 0..count {
            let key = reader.prefixed_bytes()?.to_vec();
            entries.insert(key, decode_versioned(&mut reader)?);
        }
        reader.finish()?;
        self.entries = entries;
        self.last_version = last_version;
        Ok(())
    }

    fn next_version(&mut self, stamp: Timestamp) -> Timestamp {
        let after_last = self.last_version.next().unwrap_or(Timestamp::MAX);
        self.last_version = stamp.max(after_last);
        self.last_version
    }
}

impl StateMachine for KvStore {
    type Command = KvCommand;
    type Output = KvOutput;
    type Query = KvQuery;
    type QueryOutput = KvAnswer;

    fn apply(&mut self, _index: u64, command: &KvCommand) -> KvOutput {
        let version = self.next_version(command.stamp());
        match command {
            KvCommand::Put { key, value, .. } => {
                self.entries.insert(
                    key.clone(),
                    Versioned {
                        value: value.clone(),
                        version,
                    },
                );
                KvOutput::Done { version }
            }
            KvCommand::Delete { key, .. } => {
                self.entries.remove(key);
                KvOutput::Done { version }
            }
            KvCommand::CompareAndSet {
                key, expected, new, ..
            } => {
                let current = self.entries.get(key).map(|v| v.value.as_slice());
                let swapped = current == expected.as_deref();
                if swapped {
                    self.entries.insert(
                        key.clone(),
                        Versioned {
                            value: new.clone(),
                            version,
                        },
                    );
                }
                KvOutput::Swapped { swapped, version }
            }
        }
    }

    fn query(&self, query: &KvQuery) -> KvAnswer {
        match query {
            KvQuery::Get { key } => KvAnswer::Value(self.entries.get(key).cloned()),
            KvQuery::Scan { start, end, limit } => {
                use std::ops::Bound;
                let upper = match end {
                    Some(end) if end <= start => {
                        return KvAnswer::Range {
                            entries: Vec::new(),
                            truncated: false,
                        };
                    }
                    Some(end) => Bound::Excluded(end.clone()),
                    None => Bound::Unbounded,
                };
                let limit = (*limit).min(SCAN_LIMIT_MAX) as usize;
                let mut range = self
                    .entries
                    .range((Bound::Included(start.clone()), upper))
                    .map(|(key, versioned)| (key.clone(), versioned.clone()));
                let entries: Vec<_> = range.by_ref().take(limit).collect();
                let truncated = range.next().is_some();
                KvAnswer::Range { entries, truncated }
            }
        }
    }

    fn command_bytes(command: &KvCommand) -> usize {
        8 + match command {
            KvCommand::Put { key, value, .. } => key.len() + value.len(),
            KvCommand::Delete { key, .. } => key.len(),
            KvCommand::CompareAndSet {
                key, expected, new, ..
            } => key.len() + expected.as_ref().map_or(0, Vec::len) + new.len(),
        }
    }

    fn snapshot_capture(&mut self) -> u64 {
        let bytes = self.encode_state();
        self.snapshots.capture(bytes)
    }

    fn snapshot_read(&self, offset: u64, len: usize) -> Vec<u8> {
        self.snapshots.read(offset, len)
    }

    fn restore_begin(&mut self) {
        self.snapshots.begin_restore();
    }

    fn restore_chunk(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.snapshots.push_chunk(chunk)
    }

    fn restore_finish(&mut self) -> Result<(), String> {
        let bytes = self.snapshots.finish_restore();
        self.restore_state(&bytes)
    }
}

/// The same store replicated by Multi-Paxos (`--protocol paxos`): the same
/// commands, answers and versions; the snapshot in one piece, in the same
/// encoding.
impl tessera_paxos::multi::StateMachine for KvStore {
    type Command = KvCommand;
    type Output = KvOutput;
    type Query = KvQuery;
    type QueryOutput = KvAnswer;

    fn apply(&mut self, slot: u64, command: &KvCommand) -> KvOutput {
        StateMachine::apply(self, slot, command)
    }

    fn query(&self, query: &KvQuery) -> KvAnswer {
        StateMachine::query(self, query)
    }

    fn command_bytes(command: &KvCommand) -> usize {
        <Self as StateMachine>::command_bytes(command)
    }

    fn snapshot(&self) -> Vec<u8> {
        self.encode_state()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        self.restore_state(snapshot)
    }
}

/// The same store replicated by PBFT (`--protocol pbft`): the same
/// commands, answers and versions. `apply` is deterministic (a version is
/// computed from the client's stamp and the previous version, never from a
/// local clock) and the snapshot is canonical (keys in order), as PBFT's
/// checkpoints, which compare the replicas' state digests, require.
impl tessera_net::PbftApplication for KvStore {
    type Command = KvCommand;
    type Output = KvOutput;
    type Query = KvQuery;
    type QueryOutput = KvAnswer;

    fn apply(&mut self, seq: u64, command: &KvCommand) -> KvOutput {
        StateMachine::apply(self, seq, command)
    }

    fn query(&self, query: &KvQuery) -> KvAnswer {
        StateMachine::query(self, query)
    }

    fn snapshot(&self) -> Vec<u8> {
        self.encode_state()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        self.restore_state(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(value: T) {
        let mut bytes = Vec::new();
        value.encode(&mut bytes);
        assert_eq!(T::decode(&bytes).as_ref(), Ok(&value));
        assert!(T::decode(&bytes[..bytes.len() - 1]).is_err());
        bytes.push(0);
        assert!(T::decode(&bytes).is_err());
    }

    #[test]
    fn every_message_round_trips_and_garbage_is_an_error() {
        let stamp = Timestamp::from_micros(42);
        round_trip(KvCommand::Put {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            stamp,
        });
        round_trip(KvCommand::Delete {
            key: b"k".to_vec(),
            stamp,
        });
        round_trip(KvCommand::CompareAndSet {
            key: b"k".to_vec(),
            expected: None,
            new: b"n".to_vec(),
            stamp,
        });
        round_trip(KvOutput::Swapped {
            swapped: true,
            version: stamp,
        });
        round_trip(KvQuery::Scan {
            start: b"a".to_vec(),
            end: Some(b"z".to_vec()),
            limit: 7,
        });
        round_trip(KvAnswer::Range {
            entries: vec![(
                b"a".to_vec(),
                Versioned {
                    value: b"1".to_vec(),
                    version: stamp,
                },
            )],
            truncated: true,
        });
        assert!(KvCommand::decode(&[9]).is_err());
        assert!(KvAnswer::decode(&[2, 255, 255, 255, 255, 255, 255, 255, 255]).is_err());
    }

    #[test]
    fn two_pbft_replicas_applying_the_same_commands_have_equal_snapshots() {
        use tessera_net::PbftApplication as Pbft;
        let mut a = KvStore::default();
        let mut b = KvStore::default();
        for (seq, key) in [(1, "b"), (1, "a"), (2, "c")] {
            let command = KvCommand::Put {
                key: key.as_bytes().to_vec(),
                value: b"v".to_vec(),
                stamp: Timestamp::from_micros(seq * 10),
            };
            assert_eq!(
                Pbft::apply(&mut a, seq, &command),
                Pbft::apply(&mut b, seq, &command)
            );
        }
        assert_eq!(Pbft::snapshot(&a), Pbft::snapshot(&b));
        let mut c = KvStore::default();
        Pbft::restore(&mut c, &Pbft::snapshot(&a)).expect("restore");
        assert_eq!(Pbft::snapshot(&c), Pbft::snapshot(&a));
        assert!(Pbft::restore(&mut c, b"garbage").is_err());
    }

    #[test]
    fn the_multi_paxos_snapshot_is_the_raft_one_in_one_piece() {
        use tessera_paxos::multi::StateMachine as PaxosMachine;
        let mut store = KvStore::default();
        let stamp = Timestamp::from_micros(9);
        for (n, key) in [b"a", b"b", b"c"].into_iter().enumerate() {
            PaxosMachine::apply(
                &mut store,
                n as u64 + 1,
                &KvCommand::Put {
                    key: key.to_vec(),
                    value: vec![n as u8],
                    stamp,
                },
            );
        }
        let bytes = PaxosMachine::snapshot(&store);
        let size = StateMachine::snapshot_capture(&mut store);
        assert_eq!(StateMachine::snapshot_read(&store, 0, size as usize), bytes);
        let mut copy = KvStore::default();
        PaxosMachine::restore(&mut copy, &bytes).expect("restore");
        assert_eq!(copy.len(), 3);
        assert_eq!(copy.last_version(), store.last_version());
        assert_eq!(
            PaxosMachine::query(&copy, &KvQuery::Get { key: b"b".to_vec() }),
            PaxosMachine::query(&store, &KvQuery::Get { key: b"b".to_vec() })
        );
        assert!(PaxosMachine::restore(&mut copy, &bytes[..bytes.len() - 1]).is_err());
        assert_eq!(
            copy.len(),
            3,
            "a refused snapshot leaves the state as it was"
        );
    }

    #[test]
    fn cas_scan_and_snapshot_behave() {
        let mut store = KvStore::default();
        for n in 0..20u8 {
            store.apply(
                u64::from(n),
                &KvCommand::Put {
                    key: vec![b'k', n],
                    value: vec![n],
                    stamp: Timestamp::ZERO,
                },
            );
        }
        let cas = |expected: Option<Vec<u8>>| KvCommand::CompareAndSet {
            key: vec![b'k', 3],
            expected,
            new: b"x".to_vec(),
            stamp: Timestamp::ZERO,
        };
        assert!(matches!(
            store.apply(21, &cas(Some(vec![9]))),
            KvOutput::Swapped { swapped: false, .. }
        ));
        assert!(matches!(
            store.apply(22, &cas(Some(vec![3]))),
            KvOutput::Swapped { swapped: true, .. }
        ));
        let KvAnswer::Range { entries, truncated } = store.query(&KvQuery::Scan {
            start: vec![b'k', 2],
            end: Some(vec![b'k', 10]),
            limit: 5,
        }) else {
            panic!("not a range");
        };
        assert!(truncated);
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[1].1.value, b"x".to_vec());

        let size = store.snapshot_capture();
        let mut copy = KvStore::default();
        copy.restore_begin();
        copy.restore_chunk(&store.snapshot_read(0, size as usize))
            .expect("chunk");
        copy.restore_finish().expect("restore");
        assert_eq!(copy.entries, store.entries);
        assert_eq!(copy.last_version(), store.last_version());
    }
}

//! A small replicated key-value map: the state machine the node binary
//! runs, and what the tests and benchmarks replicate — by Raft or by
//! Multi-Paxos (it implements both crates' `StateMachine`).
//!
//! It is deliberately simple (a `BTreeMap` of byte strings); the full
//! key-value service with its own CLI is `tessera-kv`. Every type has a
//! [`Codec`] encoding, which is how commands sit in the durable log and
//! how clients send them.

use std::collections::BTreeMap;

use tessera_raft::{SnapshotBuffer, StateMachine};
use tessera_storage::{Codec, CodecReader, encode_prefixed};

/// A command that changes the map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MapCommand {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Set `key` to `new` if it holds `expected` (`None`: if it is absent).
    CompareAndSet {
        /// The key.
        key: Vec<u8>,
        /// The value it must hold.
        expected: Option<Vec<u8>>,
        /// The value to set.
        new: Vec<u8>,
    },
}

/// What a [`MapCommand`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MapOutput {
    /// A put or delete took effect.
    Done,
    /// Whether a compare-and-set took effect.
    Swapped(bool),
}

/// A read of one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapQuery {
    /// The key.
    pub key: Vec<u8>,
}

/// A key's value, if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapValue(pub Option<Vec<u8>>);

const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_CAS: u8 = 3;

fn encode_option(out: &mut Vec<u8>, value: &Option<Vec<u8>>) {
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

impl Codec for MapCommand {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MapCommand::Put { key, value } => {
                out.push(TAG_PUT);
                encode_prefixed(out, key);
                encode_prefixed(out, value);
            }
            MapCommand::Delete { key } => {
                out.push(TAG_DELETE);
                encode_prefixed(out, key);
            }
            MapCommand::CompareAndSet { key, expected, new } => {
                out.push(TAG_CAS);
                encode_prefixed(out, key);
                encode_option(out, expected);
                encode_prefixed(out, new);
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let command = match reader.u8()? {
            TAG_PUT => MapCommand::Put {
                key: reader.prefixed_bytes()?.to_vec(),
                value: reader.prefixed_bytes()?.to_vec(),
            },
            TAG_DELETE => MapCommand::Delete {
                key: reader.prefixed_bytes()?.to_vec(),
            },
            TAG_CAS => MapCommand::CompareAndSet {
                key: reader.prefixed_bytes()?.to_vec(),
                expected: decode_option(&mut reader)?,
                new: reader.prefixed_bytes()?.to_vec(),
            },
            tag => return Err(format!("unknown command tag {tag}")),
        };
        reader.finish()?;
        Ok(command)
    }
}

impl Codec for MapOutput {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MapOutput::Done => out.push(0),
            MapOutput::Swapped(false) => out.push(1),
            MapOutput::Swapped(true) => out.push(2),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        match bytes {
            [0] => Ok(MapOutput::Done),
            [1] => Ok(MapOutput::Swapped(false)),
            [2] => Ok(MapOutput::Swapped(true)),
            _ => Err(format!("not a map output: {bytes:?}")),
        }
    }
}

impl Codec for MapQuery {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key);
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        Ok(MapQuery {
            key: bytes.to_vec(),
        })
    }
}

impl Codec for MapValue {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_option(out, &self.0);
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let value = decode_option(&mut reader)?;
        reader.finish()?;
        Ok(MapValue(value))
    }
}

/// The replicated map.
///
/// # Examples
///
/// ```
/// use tessera_net::{MapCommand, MapQuery, MapValue, ReplicatedMap};
/// use tessera_raft::StateMachine;
///
/// let mut map = ReplicatedMap::default();
/// map.apply(1, &MapCommand::Put { key: b"k".to_vec(), value: b"v".to_vec() });
/// assert_eq!(map.query(&MapQuery { key: b"k".to_vec() }), MapValue(Some(b"v".to_vec())));
/// ```
#[derive(Debug, Default)]
pub struct ReplicatedMap {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    snapshots: SnapshotBuffer,
}

impl ReplicatedMap {
    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A key's value.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries.get(key).map(Vec::as_slice)
    }

    fn encode_entries(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (key, value) in &self.entries {
            encode_prefixed(&mut bytes, key);
            encode_prefixed(&mut bytes, value);
        }
        bytes
    }
}

impl StateMachine for ReplicatedMap {
    type Command = MapCommand;
    type Output = MapOutput;
    type Query = MapQuery;
    type QueryOutput = MapValue;

    fn apply(&mut self, _index: u64, command: &MapCommand) -> MapOutput {
        match command {
            MapCommand::Put { key, value } => {
                self.entries.insert(key.clone(), value.clone());
                MapOutput::Done
            }
            MapCommand::Delete { key } => {
                self.entries.remove(key);
                MapOutput::Done
            }
            MapCommand::CompareAndSet { key, expected, new } => {
                let swapped = self.entries.get(key) == expected.as_ref();
                if swapped {
                    self.entries.insert(key.clone(), new.clone());
                }
                MapOutput::Swapped(swapped)
            }
        }
    }

    fn query(&self, query: &MapQuery) -> MapValue {
        MapValue(self.entries.get(&query.key).cloned())
    }

    fn command_bytes(command: &MapCommand) -> usize {
        match command {
            MapCommand::Put { key, value } => key.len() + value.len(),
            MapCommand::Delete { key } => key.len(),
            MapCommand::CompareAndSet { key, expected, new } => {
                key.len() + expected.as_ref().map_or(0, Vec::len) + new.len()
            }
        }
    }

    fn snapshot_capture(&mut self) -> u64 {
        let bytes = self.encode_entries();
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
        self.entries = decode_entries(&bytes)?;
        Ok(())
    }
}

/// The same map replicated by Multi-Paxos: the same commands and answers,
/// the snapshot in one piece.
impl tessera_paxos::multi::StateMachine for ReplicatedMap {
    type Command = MapCommand;
    type Output = MapOutput;
    type Query = MapQuery;
    type QueryOutput = MapValue;

    fn apply(&mut self, slot: u64, command: &MapCommand) -> MapOutput {
        StateMachine::apply(self, slot, command)
    }

    fn query(&self, query: &MapQuery) -> MapValue {
        StateMachine::query(self, query)
    }

    fn command_bytes(command: &MapCommand) -> usize {
        <Self as StateMachine>::command_bytes(command)
    }

    fn snapshot(&self) -> Vec<u8> {
        self.encode_entries()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        self.entries = decode_entries(snapshot)?;
        Ok(())
    }
}

/// The same map replicated by PBFT: the same commands and answers, the
/// snapshot in one canonical piece (keys in order).
impl crate::PbftApplication for ReplicatedMap {
    type Command = MapCommand;
    type Output = MapOutput;
    type Query = MapQuery;
    type QueryOutput = MapValue;

    fn apply(&mut self, seq: u64, command: &MapCommand) -> MapOutput {
        StateMachine::apply(self, seq, command)
    }

    fn query(&self, query: &MapQuery) -> MapValue {
        StateMachine::query(self, query)
    }

    fn snapshot(&self) -> Vec<u8> {
        self.encode_entries()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        self.entries = decode_entries(snapshot)?;
        Ok(())
    }
}

fn decode_entries(bytes: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
    let mut reader = CodecReader::new(bytes);
    let count = reader.u64()?;
    let mut entries = BTreeMap::new();
    for _ in 0..count {
        let key = reader.prefixed_bytes()?.to_vec();
        let value = reader.prefixed_bytes()?.to_vec();
        entries.insert(key, value);
    }
    reader.finish()?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_answers_round_trip_and_garbage_is_an_error() {
        let commands = [
            MapCommand::Put {
                key: b"a".to_vec(),
                value: b"1".to_vec(),
            },
            MapCommand::Delete { key: b"a".to_vec() },
            MapCommand::CompareAndSet {
                key: b"a".to_vec(),
                expected: None,
                new: b"2".to_vec(),
            },
            MapCommand::CompareAndSet {
                key: b"a".to_vec(),
                expected: Some(b"2".to_vec()),
                new: b"3".to_vec(),
            },
        ];
        for command in commands {
            let mut bytes = Vec::new();
            command.encode(&mut bytes);
            assert_eq!(MapCommand::decode(&bytes), Ok(command));
            assert!(MapCommand::decode(&bytes[..bytes.len() - 1]).is_err());
        }
        assert!(MapCommand::decode(&[9]).is_err());
        assert!(MapCommand::decode(&[]).is_err());
        for value in [MapValue(None), MapValue(Some(b"x".to_vec()))] {
            let mut bytes = Vec::new();
            value.encode(&mut bytes);
            assert_eq!(MapValue::decode(&bytes), Ok(value));
        }
        assert!(MapOutput::decode(&[7]).is_err());
    }

    #[test]
    fn a_snapshot_restores_the_same_map_and_a_truncated_one_is_refused() {
        let mut map = ReplicatedMap::default();
        for n in 0..50u8 {
            map.apply(
                u64::from(n),
                &MapCommand::Put {
                    key: vec![n],
                    value: vec![n; 3],
                },
            );
        }
        let size = map.snapshot_capture();
        let mut copy = ReplicatedMap::default();
        copy.restore_begin();
        for offset in (0..size).step_by(7) {
            copy.restore_chunk(&map.snapshot_read(offset, 7)).unwrap();
        }
        copy.restore_finish().unwrap();
        assert_eq!(copy.entries, map.entries);

        let mut broken = ReplicatedMap::default();
        broken.restore_begin();
        broken
            .restore_chunk(&map.snapshot_read(0, size as usize - 1))
            .unwrap();
        assert!(broken.restore_finish().is_err());
        assert!(broken.is_empty());
    }
}

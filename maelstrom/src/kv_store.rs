//! The lin-kv state machine that tessera-raft replicates: a map from
//! (canonical JSON) keys to JSON values.

use std::collections::BTreeMap;

use serde_json::Value;
use tessera_raft::{SnapshotBuffer, StateMachine};
use tessera_storage::{Codec, CodecReader, encode_prefixed};

use crate::json_text::{canonical_json, parse_canonical};

/// A command in the Raft log.
///
/// Reads are commands too: a follower cannot answer a linearizable read
/// from its own state, so it forwards the read through the log (the leader
/// serves its own reads with ReadIndex instead).
#[derive(Debug, Clone, PartialEq)]
pub enum KvCommand {
    /// Read a key.
    Read {
        /// The key, as canonical JSON text.
        key: String,
    },
    /// Set a key.
    Write {
        /// The key, as canonical JSON text.
        key: String,
        /// The value.
        value: Value,
    },
    /// Set a key to `to` if it holds `from`.
    Cas {
        /// The key, as canonical JSON text.
        key: String,
        /// The value it must hold.
        from: Value,
        /// The value to set.
        to: Value,
    },
}

/// What applying a [`KvCommand`] returned.
#[derive(Debug, Clone, PartialEq)]
pub enum KvOutput {
    /// A read's value (`None`: no such key).
    Value(Option<Value>),
    /// A write took effect.
    Written,
    /// A compare-and-set took effect.
    Swapped,
    /// A compare-and-set found no such key.
    CasMissing,
    /// A compare-and-set found another value.
    CasMismatch {
        /// The value found.
        current: Value,
    },
}

/// The replicated map.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use tessera_maelstrom::{KvCommand, KvOutput, KvStore};
/// use tessera_raft::StateMachine;
///
/// let mut store = KvStore::default();
/// let write = KvCommand::Write { key: "1".into(), value: json!(5) };
/// assert_eq!(store.apply(1, &write), KvOutput::Written);
/// let cas = KvCommand::Cas { key: "1".into(), from: json!(4), to: json!(6) };
/// assert_eq!(store.apply(2, &cas), KvOutput::CasMismatch { current: json!(5) });
/// assert_eq!(store.query(&"1".to_string()), Some(json!(5)));
/// ```
#[derive(Debug, Default)]
pub struct KvStore {
    entries: BTreeMap<String, Value>,
    snapshots: SnapshotBuffer,
}

impl KvStore {
    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl StateMachine for KvStore {
    type Command = KvCommand;
    type Output = KvOutput;
    type Query = String;
    type QueryOutput = Option<Value>;

    fn apply(&mut self, _index: u64, command: &KvCommand) -> KvOutput {
        match command {
            KvCommand::Read { key } => KvOutput::Value(self.entries.get(key).cloned()),
            KvCommand::Write { key, value } => {
                self.entries.insert(key.clone(), value.clone());
                KvOutput::Written
            }
            KvCommand::Cas { key, from, to } => match self.entries.get_mut(key) {
                None => KvOutput::CasMissing,
                Some(current) if current == from => {
                    *current = to.clone();
                    KvOutput::Swapped
                }
                Some(current) => KvOutput::CasMismatch {
                    current: current.clone(),
                },
            },
        }
    }

    fn query(&self, key: &String) -> Option<Value> {
        self.entries.get(key).cloned()
    }

    fn command_bytes(command: &KvCommand) -> usize {
        // The text sizes are what the append and in-flight byte limits are
        // about; the enum itself is a few words.
        let text = |value: &Value| canonical_json(value).len();
        match command {
            KvCommand::Read { key } => key.len(),
            KvCommand::Write { key, value } => key.len() + text(value),
            KvCommand::Cas { key, from, to } => key.len() + text(from) + text(to),
        }
    }

    fn snapshot_capture(&mut self) -> u64 {
        let mut bytes = Vec::new();
        for (key, value) in &self.entries {
            encode_prefixed(&mut bytes, key.as_bytes());
            encode_prefixed(&mut bytes, canonical_json(value).as_bytes());
        }
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
        let mut reader = CodecReader::new(&bytes);
        let mut entries = BTreeMap::new();
        let mut previous: Option<String> = None;
        // `finish` succeeds once every byte is read.
        while reader.finish().is_err() {
            let key = read_text(&mut reader)?;
            parse_canonical(&key)?;
            if previous.as_ref().is_some_and(|p| *p >= key) {
                return Err(format!("snapshot keys out of order at `{key}`"));
            }
            let value = parse_canonical(&read_text(&mut reader)?)?;
            previous = Some(key.clone());
            entries.insert(key, value);
        }
        // Only a wholly valid snapshot replaces the state.
        self.entries = entries;
        Ok(())
    }
}

fn read_text(reader: &mut CodecReader<'_>) -> Result<String, String> {
    let bytes = reader.prefixed_bytes()?;
    String::from_utf8(bytes.to_vec()).map_err(|_| "text is not UTF-8".to_string())
}

const TAG_READ: u8 = 0;
const TAG_WRITE: u8 = 1;
const TAG_CAS: u8 = 2;

/// The log and wire encoding: a tag, then the key and values as
/// length-prefixed canonical JSON text. Decoding checks every text is
/// canonical JSON, so nothing a peer sends can put an unreadable value in
/// the log.
impl Codec for KvCommand {
    fn encode(&self, out: &mut Vec<u8>) {
        let json = |out: &mut Vec<u8>, value: &Value| {
            encode_prefixed(out, canonical_json(value).as_bytes());
        };
        match self {
            KvCommand::Read { key } => {
                out.push(TAG_READ);
                encode_prefixed(out, key.as_bytes());
            }
            KvCommand::Write { key, value } => {
                out.push(TAG_WRITE);
                encode_prefixed(out, key.as_bytes());
                json(out, value);
            }
            KvCommand::Cas { key, from, to } => {
                out.push(TAG_CAS);
                encode_prefixed(out, key.as_bytes());
                json(out, from);
                json(out, to);
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let tag = reader.u8()?;
        let key = read_text(&mut reader)?;
        parse_canonical(&key)?;
        let mut value = || parse_canonical(&read_text(&mut reader)?);
        let command = match tag {
            TAG_READ => KvCommand::Read { key },
            TAG_WRITE => KvCommand::Write {
                key,
                value: value()?,
            },
            TAG_CAS => {
                let from = value()?;
                let to = value()?;
                KvCommand::Cas { key, from, to }
            }
            tag => return Err(format!("unknown command tag {tag}")),
        };
        reader.finish()?;
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn commands() -> Vec<KvCommand> {
        vec![
            KvCommand::Read { key: "1".into() },
            KvCommand::Write {
                key: r#"{"a":[1,2]}"#.into(),
                value: json!({"z": null, "y": "é"}),
            },
            KvCommand::Cas {
                key: "\"k\"".into(),
                from: json!(1.5),
                to: json!(-2),
            },
        ]
    }

    #[test]
    fn commands_round_trip_and_bad_bytes_are_errors() {
        for command in commands() {
            let mut bytes = Vec::new();
            command.encode(&mut bytes);
            assert_eq!(KvCommand::decode(&bytes), Ok(command.clone()));
            for cut in 0..bytes.len() {
                assert!(
                    KvCommand::decode(&bytes[..cut]).is_err(),
                    "{command:?} cut at {cut}"
                );
            }
            let mut trailing = bytes.clone();
            trailing.push(0);
            assert!(KvCommand::decode(&trailing).is_err());
        }
        // A key that is not canonical JSON.
        let mut bytes = vec![TAG_READ];
        encode_prefixed(&mut bytes, b"{\"b\":1, \"a\":2}");
        assert!(KvCommand::decode(&bytes).is_err());
        let mut bytes = vec![9];
        encode_prefixed(&mut bytes, b"1");
        assert!(KvCommand::decode(&bytes).is_err());
    }

    #[test]
    fn snapshots_restore_the_map_and_refuse_garbage() {
        let mut store = KvStore::default();
        for (index, command) in commands().iter().enumerate() {
            store.apply(index as u64 + 1, command);
        }
        let size = store.snapshot_capture();
        let bytes = store.snapshot_read(0, size as usize);
        let mut copy = KvStore::default();
        copy.restore_begin();
        for chunk in bytes.chunks(3) {
            copy.restore_chunk(chunk).unwrap();
        }
        copy.restore_finish().unwrap();
        assert_eq!(copy.entries, store.entries);

        for cut in 1..bytes.len() {
            let mut broken = KvStore::default();
            broken.apply(
                1,
                &KvCommand::Write {
                    key: "0".into(),
                    value: json!(0),
                },
            );
            broken.restore_begin();
            broken.restore_chunk(&bytes[..cut]).unwrap();
            assert!(broken.restore_finish().is_err(), "cut at {cut}");
            assert_eq!(broken.query(&"0".to_string()), Some(json!(0)), "state kept");
        }
    }
}

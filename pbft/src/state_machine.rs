//! The replicated application: a deterministic state machine the replicas
//! execute committed requests on, and a small key-value store to use it
//! with.

use std::collections::BTreeMap;

use crate::wire::{Reader, Sink};

/// The application PBFT replicates.
///
/// Every correct replica applies the same operations in the same order, so
/// `apply` must be deterministic — no clock, no randomness, no iteration
/// over a `HashMap` — and `snapshot` must encode equal states as equal
/// bytes: checkpoints compare their digests across replicas.
pub trait StateMachine {
    /// Applies one operation and returns its result. An operation the
    /// application cannot decode must still give a (deterministic) result,
    /// such as an error code: a faulty client may send anything.
    fn apply(&mut self, operation: &[u8]) -> Vec<u8>;

    /// Called before the requests of the batch ordered at sequence number
    /// `seq` are applied, for an application that records where its
    /// operations executed. By default, nothing.
    fn begin_batch(&mut self, seq: u64) {
        let _ = seq;
    }

    /// The whole state, encoded canonically.
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the state with the one `snapshot` encodes.
    ///
    /// # Errors
    ///
    /// A description of what does not decode; the state is then unchanged.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String>;
}

/// An operation on a [`MemKv`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvCommand {
    /// Read a key.
    Get(Vec<u8>),
    /// Set a key.
    Put(Vec<u8>, Vec<u8>),
    /// Set a key to `new` if it holds `expected` (`None`: is absent).
    Cas {
        /// The key.
        key: Vec<u8>,
        /// The value it must hold.
        expected: Option<Vec<u8>>,
        /// The value to set.
        new: Vec<u8>,
    },
    /// Remove a key.
    Delete(Vec<u8>),
}

/// What a [`KvCommand`] returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOutcome {
    /// A read's value.
    Value(Option<Vec<u8>>),
    /// A put or delete took effect.
    Done,
    /// Whether a compare-and-set took effect.
    Swapped(bool),
    /// The operation did not decode.
    Invalid,
}

fn put_option(sink: &mut Vec<u8>, value: &Option<Vec<u8>>) {
    match value {
        None => sink.put_u8(0),
        Some(value) => {
            sink.put_u8(1);
            sink.put_prefixed(value);
        }
    }
}

fn read_option(reader: &mut Reader<'_>) -> Option<Option<Vec<u8>>> {
    match reader.u8().ok()? {
        0 => Some(None),
        1 => Some(Some(reader.prefixed("value", usize::MAX).ok()?.to_vec())),
        _ => None,
    }
}

impl KvCommand {
    /// The command's encoding, to send as a request's operation.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            KvCommand::Get(key) => {
                out.put_u8(1);
                out.put_prefixed(key);
            }
            KvCommand::Put(key, value) => {
                out.put_u8(2);
                out.put_prefixed(key);
                out.put_prefixed(value);
            }
            KvCommand::Cas { key, expected, new } => {
                out.put_u8(3);
                out.put_prefixed(key);
                put_option(&mut out, expected);
                out.put_prefixed(new);
            }
            KvCommand::Delete(key) => {
                out.put_u8(4);
                out.put_prefixed(key);
            }
        }
        out
    }

    /// Decodes a command, or `None` if the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Option<KvCommand> {
        let mut reader = Reader::new(bytes);
        let field = |reader: &mut Reader<'_>| {
            reader
                .prefixed("field", usize::MAX)
                .ok()
                .map(<[u8]>::to_vec)
        };
        let command = match reader.u8().ok()? {
            1 => KvCommand::Get(field(&mut reader)?),
            2 => KvCommand::Put(field(&mut reader)?, field(&mut reader)?),
            3 => KvCommand::Cas {
                key: field(&mut reader)?,
                expected: read_option(&mut reader)?,
                new: field(&mut reader)?,
            },
            4 => KvCommand::Delete(field(&mut reader)?),
            _ => return None,
        };
        reader.finish().ok()?;
        Some(command)
    }
}

impl KvOutcome {
    /// The outcome's encoding, as a reply's result.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            KvOutcome::Value(value) => {
                out.put_u8(1);
                put_option(&mut out, value);
            }
            KvOutcome::Done => out.put_u8(2),
            KvOutcome::Swapped(swapped) => {
                out.put_u8(3);
                out.put_u8(u8::from(*swapped));
            }
            KvOutcome::Invalid => out.put_u8(4),
        }
        out
    }

    /// Decodes an outcome, or `None` if the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Option<KvOutcome> {
        let mut reader = Reader::new(bytes);
        let outcome = match reader.u8().ok()? {
            1 => KvOutcome::Value(read_option(&mut reader)?),
            2 => KvOutcome::Done,
            3 => KvOutcome::Swapped(reader.u8().ok()? == 1),
            4 => KvOutcome::Invalid,
            _ => return None,
        };
        reader.finish().ok()?;
        Some(outcome)
    }
}

/// An in-memory key-value store: the state machine of the examples, tests
/// and benchmarks.
///
/// # Examples
///
/// ```
/// use tessera_pbft::{KvCommand, KvOutcome, MemKv, StateMachine};
///
/// let mut kv = MemKv::default();
/// kv.apply(&KvCommand::Put(b"x".to_vec(), b"1".to_vec()).encode());
/// let read = kv.apply(&KvCommand::Get(b"x".to_vec()).encode());
/// assert_eq!(KvOutcome::decode(&read), Some(KvOutcome::Value(Some(b"1".to_vec()))));
///
/// let mut copy = MemKv::default();
/// copy.restore(&kv.snapshot()).unwrap();
/// assert_eq!(copy, kv);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemKv {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemKv {
    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries.get(key).map(Vec::as_slice)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A command decoded without copying: its fields borrow the operation's
/// bytes, so applying it allocates only what the map keeps.
enum KvCommandRef<'a> {
    Get(&'a [u8]),
    Put(&'a [u8], &'a [u8]),
    Cas {
        key: &'a [u8],
        expected: Option<&'a [u8]>,
        new: &'a [u8],
    },
    Delete(&'a [u8]),
}

impl<'a> KvCommandRef<'a> {
    /// Decodes exactly what [`KvCommand::decode`] accepts.
    fn decode(bytes: &'a [u8]) -> Option<KvCommandRef<'a>> {
        let mut reader = Reader::new(bytes);
        let field = |reader: &mut Reader<'a>| reader.prefixed("field", usize::MAX).ok();
        let command = match reader.u8().ok()? {
            1 => KvCommandRef::Get(field(&mut reader)?),
            2 => KvCommandRef::Put(field(&mut reader)?, field(&mut reader)?),
            3 => KvCommandRef::Cas {
                key: field(&mut reader)?,
                expected: match reader.u8().ok()? {
                    0 => None,
                    1 => Some(field(&mut reader)?),
                    _ => return None,
                },
                new: field(&mut reader)?,
            },
            4 => KvCommandRef::Delete(field(&mut reader)?),
            _ => return None,
        };
        reader.finish().ok()?;
        Some(command)
    }
}

impl MemKv {
    /// Sets `key` to `value`, reusing the key's and the old value's
    /// allocations when the key exists.
    fn set(&mut self, key: &[u8], value: &[u8]) {
        match self.entries.get_mut(key) {
            Some(old) => {
                old.clear();
                old.extend_from_slice(value);
            }
            None => {
                self.entries.insert(key.to_vec(), value.to_vec());
            }
        }
    }
}

impl StateMachine for MemKv {
    fn apply(&mut self, operation: &[u8]) -> Vec<u8> {
        let outcome = match KvCommandRef::decode(operation) {
            None => KvOutcome::Invalid,
            Some(KvCommandRef::Get(key)) => KvOutcome::Value(self.entries.get(key).cloned()),
            Some(KvCommandRef::Put(key, value)) => {
                self.set(key, value);
                KvOutcome::Done
            }
            Some(KvCommandRef::Cas { key, expected, new }) => {
                let matches = self.entries.get(key).map(Vec::as_slice) == expected;
                if matches {
                    self.set(key, new);
                }
                KvOutcome::Swapped(matches)
            }
            Some(KvCommandRef::Delete(key)) => {
                self.entries.remove(key);
                KvOutcome::Done
            }
        };
        outcome.encode()
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_len(self.entries.len());
        for (key, value) in &self.entries {
            out.put_prefixed(key);
            out.put_prefixed(value);
        }
        out
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        let mut reader = Reader::new(snapshot);
        let count = reader
            .count("entries", 8, usize::MAX)
            .map_err(|e| e.to_string())?;
        let mut entries = BTreeMap::new();
        for _ in 0..count {
            let key = reader
                .prefixed("key", usize::MAX)
                .map_err(|e| e.to_string())?;
            let value = reader
                .prefixed("value", usize::MAX)
                .map_err(|e| e.to_string())?;
            entries.insert(key.to_vec(), value.to_vec());
        }
        reader.finish().map_err(|e| e.to_string())?;
        self.entries = entries;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_outcomes_round_trip_and_garbage_is_invalid() {
        let commands = [
            KvCommand::Get(b"k".to_vec()),
            KvCommand::Put(b"k".to_vec(), b"v".to_vec()),
            KvCommand::Cas {
                key: b"k".to_vec(),
                expected: None,
                new: b"w".to_vec(),
            },
            KvCommand::Cas {
                key: b"k".to_vec(),
                expected: Some(b"v".to_vec()),
                new: b"w".to_vec(),
            },
            KvCommand::Delete(b"k".to_vec()),
        ];
        for command in &commands {
            assert_eq!(KvCommand::decode(&command.encode()).as_ref(), Some(command));
        }
        // What apply accepts is exactly what decodes: every truncation and
        // extension of a valid command is refused alike.
        for command in &commands {
            let bytes = command.encode();
            for cut in 0..=bytes.len() + 1 {
                let mut candidate = bytes[..cut.min(bytes.len())].to_vec();
                if cut > bytes.len() {
                    candidate.push(0);
                }
                let invalid = KvOutcome::decode(&MemKv::default().apply(&candidate))
                    == Some(KvOutcome::Invalid);
                assert_eq!(
                    invalid,
                    KvCommand::decode(&candidate).is_none(),
                    "{candidate:?}"
                );
            }
        }
        let mut kv = MemKv::default();
        // A put over an existing key replaces its value, longer or shorter.
        kv.apply(&KvCommand::Put(b"k".to_vec(), b"long value".to_vec()).encode());
        kv.apply(&KvCommand::Put(b"k".to_vec(), b"v".to_vec()).encode());
        assert_eq!(kv.get(b"k"), Some(&b"v"[..]));
        assert_eq!(kv.len(), 1);
        kv = MemKv::default();
        assert_eq!(
            KvOutcome::decode(&kv.apply(&[9, 9])),
            Some(KvOutcome::Invalid)
        );
        assert!(kv.restore(&[1, 0, 0, 0]).is_err());
    }

    #[test]
    fn compare_and_set_applies_only_on_a_match() {
        let mut kv = MemKv::default();
        let cas = |expected: Option<&[u8]>, new: &[u8]| {
            KvCommand::Cas {
                key: b"k".to_vec(),
                expected: expected.map(<[u8]>::to_vec),
                new: new.to_vec(),
            }
            .encode()
        };
        assert_eq!(
            KvOutcome::decode(&kv.apply(&cas(None, b"1"))),
            Some(KvOutcome::Swapped(true))
        );
        assert_eq!(
            KvOutcome::decode(&kv.apply(&cas(None, b"2"))),
            Some(KvOutcome::Swapped(false))
        );
        assert_eq!(
            KvOutcome::decode(&kv.apply(&cas(Some(b"1"), b"2"))),
            Some(KvOutcome::Swapped(true))
        );
        assert_eq!(kv.get(b"k"), Some(&b"2"[..]));
    }
}

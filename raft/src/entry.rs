//! Log entries: an index, a term, and what the entry carries.

use tessera_storage::{Codec, CodecReader, LogEntry};

use crate::Membership;

/// What a log entry carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Payload<C> {
    /// Nothing: the entry a new leader appends in its term, so that it can
    /// commit (and learn the commit index of) the entries of earlier terms
    /// (Raft §5.4.2, §8).
    Blank,
    /// An application command, applied to the state machine once committed.
    Command(C),
    /// A membership configuration, in effect from the moment it is in a
    /// node's log (Raft §6). Boxed: configurations are rare and large, and
    /// every entry is as large as its largest payload.
    Membership(Box<Membership>),
}

/// One entry of the replicated log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Entry<C> {
    /// Its position in the log, from 1.
    pub index: u64,
    /// The term of the leader that created it.
    pub term: u64,
    /// What it carries.
    pub payload: Payload<C>,
}

impl<C> Entry<C> {
    /// An entry carrying an application command.
    pub fn command(index: u64, term: u64, command: C) -> Self {
        Entry {
            index,
            term,
            payload: Payload::Command(command),
        }
    }

    /// A blank entry.
    pub fn blank(index: u64, term: u64) -> Self {
        Entry {
            index,
            term,
            payload: Payload::Blank,
        }
    }
}

impl<C: Clone> LogEntry for Entry<C> {
    fn index(&self) -> u64 {
        self.index
    }

    fn term(&self) -> u64 {
        self.term
    }
}

const TAG_BLANK: u8 = 0;
const TAG_COMMAND: u8 = 1;
const TAG_MEMBERSHIP: u8 = 2;

/// The durable log's encoding: index, term, a tag, then the command's or
/// configuration's own encoding.
impl<C: Codec> Codec for Entry<C> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.term.to_le_bytes());
        match &self.payload {
            Payload::Blank => out.push(TAG_BLANK),
            Payload::Command(command) => {
                out.push(TAG_COMMAND);
                command.encode(out);
            }
            Payload::Membership(membership) => {
                out.push(TAG_MEMBERSHIP);
                membership.encode(out);
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let index = reader.u64()?;
        let term = reader.u64()?;
        let payload = match reader.u8()? {
            TAG_BLANK => {
                reader.finish()?;
                Payload::Blank
            }
            TAG_COMMAND => Payload::Command(C::decode(reader.rest())?),
            TAG_MEMBERSHIP => Payload::Membership(Box::new(Membership::decode(reader.rest())?)),
            tag => return Err(format!("unknown entry tag {tag}")),
        };
        Ok(Entry {
            index,
            term,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_storage::RawEntry;

    #[derive(Debug, Clone, PartialEq)]
    struct Bytes(Vec<u8>);

    impl Codec for Bytes {
        fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0);
        }
        fn decode(bytes: &[u8]) -> Result<Self, String> {
            Ok(Bytes(bytes.to_vec()))
        }
    }

    #[test]
    fn entries_round_trip_and_garbage_is_an_error() {
        let entries = [
            Entry::blank(1, 1),
            Entry::command(2, 1, Bytes(b"put x".to_vec())),
            Entry {
                index: 3,
                term: 2,
                payload: Payload::Membership(Box::new(Membership::new([1, 2]).unwrap())),
            },
        ];
        for entry in entries {
            let mut bytes = Vec::new();
            entry.encode(&mut bytes);
            assert_eq!(Entry::<Bytes>::decode(&bytes), Ok(entry));
        }
        assert!(Entry::<Bytes>::decode(&[0; 17][..16]).is_err());
        let mut bad_tag = Vec::new();
        RawEntry::new(1, 1, [9u8]).encode(&mut bad_tag);
        assert!(Entry::<Bytes>::decode(&bad_tag).is_err());
    }
}

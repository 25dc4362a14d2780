//! A compact binary encoding of tessera-raft's messages, for carrying them
//! between nodes inside Maelstrom's JSON bodies (as base64).
//!
//! tessera-raft defines its messages as plain types (with optional serde
//! derives). Its serde form would let a peer's message build a
//! `Membership` without the checks its constructors make, so this codec
//! encodes every field itself and decodes log entries and configurations
//! through their own validating [`Codec`]s. Decoding never panics: every
//! read checks the length, tags and booleans are checked, trailing bytes
//! are refused, and nothing is allocated from a length before the bytes
//! behind it are seen.

use tessera_raft::{
    AppendOutcome, AppendRequest, AppendResponse, Entry, ForwardOutcome, Heartbeat,
    HeartbeatResponse, LogPosition, Membership, Message, SnapshotChunk, SnapshotHeader,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use tessera_storage::{Codec, CodecReader, encode_prefixed};

const VOTE_REQUEST: u8 = 0;
const VOTE_RESPONSE: u8 = 1;
const APPEND: u8 = 2;
const APPEND_RESPONSE: u8 = 3;
const HEARTBEAT: u8 = 4;
const HEARTBEAT_RESPONSE: u8 = 5;
const SNAPSHOT: u8 = 6;
const SNAPSHOT_RESPONSE: u8 = 7;
const TIMEOUT_NOW: u8 = 8;
const FORWARD: u8 = 9;
const FORWARD_RESPONSE: u8 = 10;

/// Encodes a Raft message whose commands have a [`Codec`].
///
/// # Examples
///
/// ```
/// use tessera_maelstrom::{decode_raft_message, encode_raft_message, KvCommand};
/// use tessera_raft::{Heartbeat, Message};
///
/// let message: Message<KvCommand> = Message::Heartbeat(Heartbeat { term: 3, commit: 7, round: 9 });
/// let bytes = encode_raft_message(&message);
/// assert_eq!(decode_raft_message::<KvCommand>(&bytes), Ok(message));
/// assert!(decode_raft_message::<KvCommand>(&bytes[..bytes.len() - 1]).is_err());
/// ```
pub fn encode_raft_message<C: Codec>(message: &Message<C>) -> Vec<u8> {
    let mut out = Vec::new();
    let out = &mut out;
    match message {
        Message::VoteRequest(m) => {
            out.push(VOTE_REQUEST);
            put_u64(out, m.term);
            put_position(out, m.last_log);
            put_bool(out, m.pre_vote);
            put_bool(out, m.transfer);
        }
        Message::VoteResponse(m) => {
            out.push(VOTE_RESPONSE);
            put_u64(out, m.term);
            put_bool(out, m.granted);
            put_bool(out, m.pre_vote);
        }
        Message::Append(m) => {
            out.push(APPEND);
            put_u64(out, m.term);
            put_position(out, m.prev);
            put_u64(out, m.commit);
            put_u64(out, m.round);
            put_u32(out, len_u32(m.entries.len()));
            for entry in &m.entries {
                put_encoded(out, entry);
            }
        }
        Message::AppendResponse(m) => {
            out.push(APPEND_RESPONSE);
            put_u64(out, m.term);
            put_u64(out, m.round);
            match m.outcome {
                AppendOutcome::Accepted { match_index } => {
                    out.push(0);
                    put_u64(out, match_index);
                }
                AppendOutcome::Rejected {
                    rejected_prev,
                    hint,
                } => {
                    out.push(1);
                    put_u64(out, rejected_prev);
                    put_position(out, hint);
                }
            }
        }
        Message::Heartbeat(m) => {
            out.push(HEARTBEAT);
            put_u64(out, m.term);
            put_u64(out, m.commit);
            put_u64(out, m.round);
        }
        Message::HeartbeatResponse(m) => {
            out.push(HEARTBEAT_RESPONSE);
            put_u64(out, m.term);
            put_u64(out, m.round);
        }
        Message::Snapshot(m) => {
            out.push(SNAPSHOT);
            put_u64(out, m.term);
            put_u64(out, m.round);
            put_position(out, m.header.last);
            put_encoded(out, &m.header.membership);
            put_u64(out, m.header.size_bytes);
            put_u32(out, m.header.checksum);
            put_u64(out, m.offset);
            encode_prefixed(out, &m.data);
        }
        Message::SnapshotResponse(m) => {
            out.push(SNAPSHOT_RESPONSE);
            put_u64(out, m.term);
            put_u64(out, m.round);
            put_position(out, m.last);
            put_u64(out, m.next_offset);
            put_bool(out, m.installed);
        }
        Message::TimeoutNow { term } => {
            out.push(TIMEOUT_NOW);
            put_u64(out, *term);
        }
        Message::Forward { id, command } => {
            out.push(FORWARD);
            put_u64(out, *id);
            put_encoded(out, command);
        }
        Message::ForwardResponse { id, outcome } => {
            out.push(FORWARD_RESPONSE);
            put_u64(out, *id);
            match outcome {
                ForwardOutcome::Appended { at } => {
                    out.push(0);
                    put_position(out, *at);
                }
                ForwardOutcome::Refused { leader: None } => out.push(1),
                ForwardOutcome::Refused {
                    leader: Some(leader),
                } => {
                    out.push(2);
                    put_u64(out, *leader);
                }
            }
        }
    }
    std::mem::take(out)
}

/// Decodes what [`encode_raft_message`] wrote.
///
/// # Errors
///
/// Why the bytes are not a message: too short, an unknown tag, a boolean
/// that is neither 0 nor 1, an entry or configuration its own codec
/// refuses, or bytes left over.
pub fn decode_raft_message<C: Codec>(bytes: &[u8]) -> Result<Message<C>, String> {
    let mut reader = CodecReader::new(bytes);
    let r = &mut reader;
    let message = match r.u8()? {
        VOTE_REQUEST => Message::VoteRequest(VoteRequest {
            term: r.u64()?,
            last_log: position(r)?,
            pre_vote: boolean(r)?,
            transfer: boolean(r)?,
        }),
        VOTE_RESPONSE => Message::VoteResponse(VoteResponse {
            term: r.u64()?,
            granted: boolean(r)?,
            pre_vote: boolean(r)?,
        }),
        APPEND => {
            let term = r.u64()?;
            let prev = position(r)?;
            let commit = r.u64()?;
            let round = r.u64()?;
            let count = r.u32()?;
            // No capacity from `count`: each entry's bytes must be there
            // before it is decoded, so a lying count fails fast.
            let mut entries = Vec::new();
            for _ in 0..count {
                entries.push(Entry::<C>::decode(r.prefixed_bytes()?)?);
            }
            Message::Append(AppendRequest {
                term,
                prev,
                entries,
                commit,
                round,
            })
        }
        APPEND_RESPONSE => {
            let term = r.u64()?;
            let round = r.u64()?;
            let outcome = match r.u8()? {
                0 => AppendOutcome::Accepted {
                    match_index: r.u64()?,
                },
                1 => AppendOutcome::Rejected {
                    rejected_prev: r.u64()?,
                    hint: position(r)?,
                },
                tag => return Err(format!("unknown append outcome tag {tag}")),
            };
            Message::AppendResponse(AppendResponse {
                term,
                round,
                outcome,
            })
        }
        HEARTBEAT => Message::Heartbeat(Heartbeat {
            term: r.u64()?,
            commit: r.u64()?,
            round: r.u64()?,
        }),
        HEARTBEAT_RESPONSE => Message::HeartbeatResponse(HeartbeatResponse {
            term: r.u64()?,
            round: r.u64()?,
        }),
        SNAPSHOT => {
            let term = r.u64()?;
            let round = r.u64()?;
            let last = position(r)?;
            let membership = Membership::decode(r.prefixed_bytes()?)?;
            let header = SnapshotHeader {
                last,
                membership,
                size_bytes: r.u64()?,
                checksum: r.u32()?,
            };
            Message::Snapshot(Box::new(SnapshotChunk {
                term,
                round,
                header,
                offset: r.u64()?,
                data: r.prefixed_bytes()?.to_vec(),
            }))
        }
        SNAPSHOT_RESPONSE => Message::SnapshotResponse(SnapshotResponse {
            term: r.u64()?,
            round: r.u64()?,
            last: position(r)?,
            next_offset: r.u64()?,
            installed: boolean(r)?,
        }),
        TIMEOUT_NOW => Message::TimeoutNow { term: r.u64()? },
        FORWARD => Message::Forward {
            id: r.u64()?,
            command: C::decode(r.prefixed_bytes()?)?,
        },
        FORWARD_RESPONSE => {
            let id = r.u64()?;
            let outcome = match r.u8()? {
                0 => ForwardOutcome::Appended { at: position(r)? },
                1 => ForwardOutcome::Refused { leader: None },
                2 => ForwardOutcome::Refused {
                    leader: Some(r.u64()?),
                },
                tag => return Err(format!("unknown forward outcome tag {tag}")),
            };
            Message::ForwardResponse { id, outcome }
        }
        tag => return Err(format!("unknown raft message tag {tag}")),
    };
    reader.finish()?;
    Ok(message)
}

fn len_u32(len: usize) -> u32 {
    // Raft bounds a message's entries far below this (append_entries_max);
    // a larger count would be a node bug.
    u32::try_from(len).expect("fewer than 2^32 entries in one message")
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bool(out: &mut Vec<u8>, value: bool) {
    out.push(u8::from(value));
}

fn put_position(out: &mut Vec<u8>, position: LogPosition) {
    put_u64(out, position.index);
    put_u64(out, position.term);
}

fn put_encoded(out: &mut Vec<u8>, value: &impl Codec) {
    let mut bytes = Vec::new();
    value.encode(&mut bytes);
    encode_prefixed(out, &bytes);
}

fn position(reader: &mut CodecReader<'_>) -> Result<LogPosition, String> {
    Ok(LogPosition::new(reader.u64()?, reader.u64()?))
}

fn boolean(reader: &mut CodecReader<'_>) -> Result<bool, String> {
    match reader.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(format!("boolean byte {other} is neither 0 nor 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KvCommand;
    use serde_json::json;
    use tessera_raft::Payload;

    /// One message of every kind, with every variant of the nested enums.
    fn every_message() -> Vec<Message<KvCommand>> {
        let at = |index, term| LogPosition::new(index, term);
        vec![
            Message::VoteRequest(VoteRequest {
                term: 4,
                last_log: at(10, 3),
                pre_vote: true,
                transfer: false,
            }),
            Message::VoteResponse(VoteResponse {
                term: 4,
                granted: false,
                pre_vote: true,
            }),
            Message::Append(AppendRequest {
                term: 5,
                prev: at(2, 1),
                entries: vec![
                    Entry::blank(3, 5),
                    Entry::command(
                        4,
                        5,
                        KvCommand::Write {
                            key: "7".into(),
                            value: json!([1, {"a": 2}]),
                        },
                    ),
                    Entry {
                        index: 5,
                        term: 5,
                        payload: Payload::Membership(Box::new(
                            Membership::from_parts([1, 2, 3], [1, 2], [9]).expect("valid"),
                        )),
                    },
                ],
                commit: 2,
                round: 77,
            }),
            Message::Append(AppendRequest {
                term: 1,
                prev: LogPosition::ZERO,
                entries: Vec::new(),
                commit: 0,
                round: 0,
            }),
            Message::AppendResponse(AppendResponse {
                term: 5,
                round: 77,
                outcome: AppendOutcome::Accepted { match_index: 5 },
            }),
            Message::AppendResponse(AppendResponse {
                term: 5,
                round: 78,
                outcome: AppendOutcome::Rejected {
                    rejected_prev: 9,
                    hint: at(6, 2),
                },
            }),
            Message::Heartbeat(Heartbeat {
                term: 6,
                commit: 11,
                round: 3,
            }),
            Message::HeartbeatResponse(HeartbeatResponse { term: 6, round: 3 }),
            Message::Snapshot(Box::new(SnapshotChunk {
                term: 7,
                round: 8,
                header: SnapshotHeader {
                    last: at(100, 6),
                    membership: Membership::new([1, 2, 3]).expect("valid"),
                    size_bytes: 9,
                    checksum: 0xdead_beef,
                },
                offset: 4,
                data: vec![1, 2, 3, 4, 5],
            })),
            Message::SnapshotResponse(SnapshotResponse {
                term: 7,
                round: 8,
                last: at(100, 6),
                next_offset: 9,
                installed: true,
            }),
            Message::TimeoutNow { term: 9 },
            Message::Forward {
                id: u64::MAX,
                command: KvCommand::Cas {
                    key: "\"x\"".into(),
                    from: json!(null),
                    to: json!("y"),
                },
            },
            Message::ForwardResponse {
                id: 1,
                outcome: ForwardOutcome::Appended { at: at(12, 7) },
            },
            Message::ForwardResponse {
                id: 2,
                outcome: ForwardOutcome::Refused { leader: None },
            },
            Message::ForwardResponse {
                id: 3,
                outcome: ForwardOutcome::Refused { leader: Some(2) },
            },
        ]
    }

    #[test]
    fn every_message_round_trips_and_every_truncation_is_an_error() {
        for message in every_message() {
            let bytes = encode_raft_message(&message);
            assert_eq!(decode_raft_message(&bytes), Ok(message.clone()));
            for cut in 0..bytes.len() {
                assert!(
                    decode_raft_message::<KvCommand>(&bytes[..cut]).is_err(),
                    "{message:?} cut at {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode_raft_message::<KvCommand>(&longer).is_err());
        }
    }

    #[test]
    fn invalid_fields_are_refused() {
        // A boolean that is 2.
        let mut bytes = encode_raft_message::<KvCommand>(&Message::VoteResponse(VoteResponse {
            term: 1,
            granted: true,
            pre_vote: false,
        }));
        bytes[9] = 2;
        assert!(decode_raft_message::<KvCommand>(&bytes).is_err());
        // An unknown tag.
        assert!(decode_raft_message::<KvCommand>(&[200]).is_err());
        // A configuration with a node both voter and learner, which
        // Membership's own decoder refuses.
        let mut config = Vec::new();
        for list in [&[1u64, 2][..], &[][..], &[2][..]] {
            put_u32(&mut config, list.len() as u32);
            for node in list {
                put_u64(&mut config, *node);
            }
        }
        let mut bytes = vec![SNAPSHOT];
        put_u64(&mut bytes, 1);
        put_u64(&mut bytes, 1);
        put_position(&mut bytes, LogPosition::new(5, 1));
        encode_prefixed(&mut bytes, &config);
        put_u64(&mut bytes, 0);
        put_u32(&mut bytes, 0);
        put_u64(&mut bytes, 0);
        encode_prefixed(&mut bytes, &[]);
        let error = decode_raft_message::<KvCommand>(&bytes).unwrap_err();
        assert!(error.contains("both a voter and a learner"), "{error}");
        // An append claiming four billion entries with none behind it.
        let mut bytes = vec![APPEND];
        for _ in 0..5 {
            put_u64(&mut bytes, 1);
        }
        put_u32(&mut bytes, u32::MAX);
        assert!(decode_raft_message::<KvCommand>(&bytes).is_err());
    }
}

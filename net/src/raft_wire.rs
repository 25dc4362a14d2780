//! Raft's messages to and from their protobuf form (`proto/raft.proto`).
//!
//! Encoding is total. Decoding checks what the protobuf cannot: required
//! sub-messages are present, memberships are well formed, commands decode
//! in the application's encoding. Everything else — terms, indexes, sizes —
//! is the node's to judge: it drops (and counts) messages that make no
//! sense, as it would from any peer.

use prost::Message as _;
use tessera_raft::{
    AppendOutcome, AppendRequest, AppendResponse, Entry, ForwardOutcome, Heartbeat,
    HeartbeatResponse, Membership, Message, Payload, SnapshotChunk, SnapshotHeader,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use tessera_storage::{Codec, LogPosition};

use crate::WireError;
use crate::proto::raft as pb;

fn position(p: LogPosition) -> pb::LogPosition {
    pb::LogPosition {
        index: p.index,
        term: p.term,
    }
}

fn membership(m: &Membership) -> pb::Membership {
    pb::Membership {
        voters: m.voters().to_vec(),
        outgoing: m.outgoing().to_vec(),
        learners: m.learners().to_vec(),
    }
}

fn command_bytes<C: Codec>(command: &C) -> Vec<u8> {
    let mut out = Vec::new();
    command.encode(&mut out);
    out
}

fn entry<C: Codec>(e: &Entry<C>) -> pb::Entry {
    let payload = match &e.payload {
        Payload::Blank => pb::entry::Payload::Blank(pb::Blank {}),
        Payload::Command(command) => pb::entry::Payload::Command(command_bytes(command)),
        Payload::Membership(m) => pb::entry::Payload::Membership(membership(m)),
    };
    pb::Entry {
        index: e.index,
        term: e.term,
        payload: Some(payload),
    }
}

/// The protobuf form of `message`.
pub(crate) fn to_proto<C: Codec>(message: &Message<C>) -> pb::RaftMessage {
    use pb::raft_message::Kind;
    let kind = match message {
        Message::VoteRequest(m) => Kind::VoteRequest(pb::VoteRequest {
            term: m.term,
            last_log: Some(position(m.last_log)),
            pre_vote: m.pre_vote,
            transfer: m.transfer,
        }),
        Message::VoteResponse(m) => Kind::VoteResponse(pb::VoteResponse {
            term: m.term,
            granted: m.granted,
            pre_vote: m.pre_vote,
        }),
        Message::Append(m) => Kind::Append(pb::AppendRequest {
            term: m.term,
            prev: Some(position(m.prev)),
            entries: m.entries.iter().map(entry).collect(),
            commit: m.commit,
            round: m.round,
        }),
        Message::AppendResponse(m) => Kind::AppendResponse(pb::AppendResponse {
            term: m.term,
            round: m.round,
            outcome: Some(match m.outcome {
                AppendOutcome::Accepted { match_index } => {
                    pb::append_response::Outcome::Accepted(pb::Accepted { match_index })
                }
                AppendOutcome::Rejected {
                    rejected_prev,
                    hint,
                } => pb::append_response::Outcome::Rejected(pb::Rejected {
                    rejected_prev,
                    hint: Some(position(hint)),
                }),
            }),
        }),
        Message::Heartbeat(m) => Kind::Heartbeat(pb::Heartbeat {
            term: m.term,
            commit: m.commit,
            round: m.round,
        }),
        Message::HeartbeatResponse(m) => Kind::HeartbeatResponse(pb::HeartbeatResponse {
            term: m.term,
            round: m.round,
        }),
        Message::Snapshot(m) => Kind::Snapshot(pb::SnapshotChunk {
            term: m.term,
            round: m.round,
            header: Some(pb::SnapshotHeader {
                last: Some(position(m.header.last)),
                membership: Some(membership(&m.header.membership)),
                size_bytes: m.header.size_bytes,
                checksum: m.header.checksum,
            }),
            offset: m.offset,
            data: m.data.clone(),
        }),
        Message::SnapshotResponse(m) => Kind::SnapshotResponse(pb::SnapshotResponse {
            term: m.term,
            round: m.round,
            last: Some(position(m.last)),
            next_offset: m.next_offset,
            installed: m.installed,
        }),
        Message::TimeoutNow { term } => Kind::TimeoutNow(pb::TimeoutNow { term: *term }),
        Message::Forward { id, command } => Kind::Forward(pb::Forward {
            id: *id,
            command: command_bytes(command),
        }),
        Message::ForwardResponse { id, outcome } => Kind::ForwardResponse(pb::ForwardResponse {
            id: *id,
            outcome: Some(match outcome {
                ForwardOutcome::Appended { at } => {
                    pb::forward_response::Outcome::Appended(position(*at))
                }
                ForwardOutcome::Refused { leader } => {
                    pb::forward_response::Outcome::Refused(pb::Refusal { leader: *leader })
                }
            }),
        }),
    };
    pb::RaftMessage { kind: Some(kind) }
}

/// Appends the encoding of `message` to `out`.
pub(crate) fn encode<C: Codec>(message: &Message<C>, out: &mut Vec<u8>) {
    let proto = to_proto(message);
    out.reserve(proto.encoded_len());
    // Encoding into a Vec cannot run out of room.
    let _ = proto.encode(out);
}

fn from_position(
    p: Option<pb::LogPosition>,
    field: &'static str,
) -> Result<LogPosition, WireError> {
    let p = p.ok_or(WireError::Missing(field))?;
    Ok(LogPosition::new(p.index, p.term))
}

fn from_membership(
    m: Option<pb::Membership>,
    field: &'static str,
) -> Result<Membership, WireError> {
    let m = m.ok_or(WireError::Missing(field))?;
    Membership::from_parts(m.voters, m.outgoing, m.learners)
        .map_err(|error| WireError::invalid(field, error))
}

fn from_command<C: Codec>(bytes: &[u8], field: &'static str) -> Result<C, WireError> {
    C::decode(bytes).map_err(|reason| WireError::invalid(field, reason))
}

fn from_entry<C: Codec>(e: pb::Entry) -> Result<Entry<C>, WireError> {
    let payload = match e.payload.ok_or(WireError::Missing("entry.payload"))? {
        pb::entry::Payload::Blank(_) => Payload::Blank,
        pb::entry::Payload::Command(bytes) => {
            Payload::Command(from_command(&bytes, "entry.command")?)
        }
        pb::entry::Payload::Membership(m) => {
            // `into`: tessera-raft boxes configurations in entries.
            Payload::Membership(from_membership(Some(m), "entry.membership")?.into())
        }
    };
    Ok(Entry {
        index: e.index,
        term: e.term,
        payload,
    })
}

/// The message `proto` describes.
///
/// # Errors
///
/// A [`WireError`] naming the missing or invalid field.
pub(crate) fn from_proto<C: Codec>(proto: pb::RaftMessage) -> Result<Message<C>, WireError> {
    use pb::raft_message::Kind;
    let message = match proto.kind.ok_or(WireError::Missing("kind"))? {
        Kind::VoteRequest(m) => Message::VoteRequest(VoteRequest {
            term: m.term,
            last_log: from_position(m.last_log, "vote_request.last_log")?,
            pre_vote: m.pre_vote,
            transfer: m.transfer,
        }),
        Kind::VoteResponse(m) => Message::VoteResponse(VoteResponse {
            term: m.term,
            granted: m.granted,
            pre_vote: m.pre_vote,
        }),
        Kind::Append(m) => Message::Append(AppendRequest {
            term: m.term,
            prev: from_position(m.prev, "append.prev")?,
            entries: m
                .entries
                .into_iter()
                .map(from_entry)
                .collect::<Result<_, _>>()?,
            commit: m.commit,
            round: m.round,
        }),
        Kind::AppendResponse(m) => Message::AppendResponse(AppendResponse {
            term: m.term,
            round: m.round,
            outcome: match m
                .outcome
                .ok_or(WireError::Missing("append_response.outcome"))?
            {
                pb::append_response::Outcome::Accepted(a) => AppendOutcome::Accepted {
                    match_index: a.match_index,
                },
                pb::append_response::Outcome::Rejected(r) => AppendOutcome::Rejected {
                    rejected_prev: r.rejected_prev,
                    hint: from_position(r.hint, "append_response.rejected.hint")?,
                },
            },
        }),
        Kind::Heartbeat(m) => Message::Heartbeat(Heartbeat {
            term: m.term,
            commit: m.commit,
            round: m.round,
        }),
        Kind::HeartbeatResponse(m) => Message::HeartbeatResponse(HeartbeatResponse {
            term: m.term,
            round: m.round,
        }),
        Kind::Snapshot(m) => {
            let header = m.header.ok_or(WireError::Missing("snapshot.header"))?;
            // `into`: tessera-raft boxes snapshot chunks in messages.
            Message::Snapshot(
                SnapshotChunk {
                    term: m.term,
                    round: m.round,
                    header: SnapshotHeader {
                        last: from_position(header.last, "snapshot.header.last")?,
                        membership: from_membership(
                            header.membership,
                            "snapshot.header.membership",
                        )?,
                        size_bytes: header.size_bytes,
                        checksum: header.checksum,
                    },
                    offset: m.offset,
                    data: m.data,
                }
                .into(),
            )
        }
        Kind::SnapshotResponse(m) => Message::SnapshotResponse(SnapshotResponse {
            term: m.term,
            round: m.round,
            last: from_position(m.last, "snapshot_response.last")?,
            next_offset: m.next_offset,
            installed: m.installed,
        }),
        Kind::TimeoutNow(m) => Message::TimeoutNow { term: m.term },
        Kind::Forward(m) => Message::Forward {
            id: m.id,
            command: from_command(&m.command, "forward.command")?,
        },
        Kind::ForwardResponse(m) => Message::ForwardResponse {
            id: m.id,
            outcome: match m
                .outcome
                .ok_or(WireError::Missing("forward_response.outcome"))?
            {
                pb::forward_response::Outcome::Appended(at) => ForwardOutcome::Appended {
                    at: from_position(Some(at), "forward_response.appended")?,
                },
                pb::forward_response::Outcome::Refused(r) => {
                    ForwardOutcome::Refused { leader: r.leader }
                }
            },
        },
    };
    Ok(message)
}

/// Decodes one message.
///
/// # Errors
///
/// A [`WireError`] if the bytes are not protobuf or describe an invalid
/// message.
pub(crate) fn decode<C: Codec>(bytes: &[u8]) -> Result<Message<C>, WireError> {
    from_proto(pb::RaftMessage::decode(bytes)?)
}

/// The short name of a message's kind.
pub(crate) fn kind<C>(message: &Message<C>) -> &'static str {
    match message {
        Message::VoteRequest(m) if m.pre_vote => "pre_vote_request",
        Message::VoteRequest(_) => "vote_request",
        Message::VoteResponse(_) => "vote_response",
        Message::Append(_) => "append",
        Message::AppendResponse(_) => "append_response",
        Message::Heartbeat(_) => "heartbeat",
        Message::HeartbeatResponse(_) => "heartbeat_response",
        Message::Snapshot(_) => "snapshot_chunk",
        Message::SnapshotResponse(_) => "snapshot_response",
        Message::TimeoutNow { .. } => "timeout_now",
        Message::Forward { .. } => "forward",
        Message::ForwardResponse { .. } => "forward_response",
    }
}

//! Multi-Paxos's messages to and from their protobuf form
//! (`proto/paxos.proto`).
//!
//! Encoding is total. Decoding checks what the protobuf cannot: required
//! sub-messages are present, commands decode in the application's
//! encoding, quorum sizes fit the platform, and no slot value is the
//! acceptor's `Vacant` placeholder (which no valid message carries).
//! Everything else — ballots, slots, counts, whether a configuration's
//! quorums intersect — is the node's to judge: it drops (and counts)
//! messages that make no sense, as it would from any peer.

use prost::Message as _;
use tessera_core::Instant;
use tessera_paxos::Ballot;
use tessera_paxos::multi::{Configuration, LeaseOffer, Message, QuorumSpec, SlotEntry, SlotValue};
use tessera_storage::{Codec, LogPosition};

use crate::WireError;
use crate::proto::paxos as pb;

fn ballot(b: Ballot) -> pb::Ballot {
    pb::Ballot {
        round: b.round,
        node: b.node,
    }
}

fn position(p: LogPosition) -> pb::LogPosition {
    pb::LogPosition {
        index: p.index,
        term: p.term,
    }
}

fn members(ids: &[u64]) -> pb::Members {
    pb::Members { ids: ids.to_vec() }
}

fn configuration(c: &Configuration) -> pb::Configuration {
    use pb::configuration::Quorums;
    let quorums = match &c.quorums {
        QuorumSpec::Majority(ids) => Quorums::Majority(members(ids)),
        QuorumSpec::Flexible {
            members,
            phase1,
            phase2,
        } => Quorums::Flexible(pb::FlexibleQuorums {
            members: members.clone(),
            phase1: *phase1 as u64,
            phase2: *phase2 as u64,
        }),
        QuorumSpec::Grid(rows) => Quorums::Grid(pb::GridQuorums {
            rows: rows.iter().map(|row| members(row)).collect(),
        }),
    };
    pb::Configuration {
        epoch: c.epoch,
        start_slot: c.start_slot,
        quorums: Some(quorums),
    }
}

fn command_bytes<C: Codec>(command: &C) -> Vec<u8> {
    let mut out = Vec::new();
    command.encode(&mut out);
    out
}

fn value<C: Codec>(v: &SlotValue<C>) -> pb::SlotValue {
    use pb::slot_value::Value;
    let value = match v {
        SlotValue::Vacant => Value::Vacant(pb::Empty {}),
        SlotValue::NoOp => Value::NoOp(pb::Empty {}),
        SlotValue::Batch(commands) => Value::Batch(pb::Batch {
            commands: commands.iter().map(command_bytes).collect(),
        }),
        SlotValue::StopSign(c) => Value::StopSign(configuration(c)),
    };
    pb::SlotValue { value: Some(value) }
}

fn entry<C: Codec>(e: &SlotEntry<C>) -> pb::SlotEntry {
    pb::SlotEntry {
        slot: e.slot,
        ballot: Some(ballot(e.ballot)),
        value: Some(value(&e.value)),
    }
}

/// The protobuf form of `message`.
pub(crate) fn to_proto<C: Codec>(message: &Message<C>) -> pb::PaxosMessage {
    use pb::paxos_message::Kind;
    let kind = match message {
        Message::Prepare {
            ballot: b,
            from_slot,
        } => Kind::Prepare(pb::Prepare {
            ballot: Some(ballot(*b)),
            from_slot: *from_slot,
        }),
        Message::Promise {
            ballot: b,
            from_slot,
            entries,
            next,
            base,
        } => Kind::Promise(pb::Promise {
            ballot: Some(ballot(*b)),
            from_slot: *from_slot,
            entries: entries.iter().map(entry).collect(),
            next: *next,
            base: *base,
        }),
        Message::Accept {
            ballot: b,
            first_slot,
            values,
            commit,
        } => Kind::Accept(pb::Accept {
            ballot: Some(ballot(*b)),
            first_slot: *first_slot,
            values: values.iter().map(value).collect(),
            commit: *commit,
        }),
        Message::Accepted {
            ballot: b,
            first_slot,
            count,
        } => Kind::Accepted(pb::Accepted {
            ballot: Some(ballot(*b)),
            first_slot: *first_slot,
            count: *count,
        }),
        Message::Nack {
            ballot: b,
            promised,
        } => Kind::Nack(pb::Nack {
            ballot: Some(ballot(*b)),
            promised: Some(ballot(*promised)),
        }),
        Message::Heartbeat {
            ballot: b,
            round,
            commit,
            lease,
        } => Kind::Heartbeat(pb::Heartbeat {
            ballot: Some(ballot(*b)),
            round: *round,
            commit: *commit,
            lease: lease.map(|offer| pb::LeaseOffer {
                start_nanos: offer.start.as_nanos(),
                duration_nanos: offer.duration_nanos,
            }),
        }),
        Message::HeartbeatAck {
            ballot: b,
            round,
            lease_granted,
        } => Kind::HeartbeatAck(pb::HeartbeatAck {
            ballot: Some(ballot(*b)),
            round: *round,
            lease_granted: *lease_granted,
        }),
        Message::CatchUpRequest { from_slot } => Kind::CatchUpRequest(pb::CatchUpRequest {
            from_slot: *from_slot,
        }),
        Message::CatchUp { entries, commit } => Kind::CatchUp(pb::CatchUp {
            entries: entries.iter().map(entry).collect(),
            commit: *commit,
        }),
        Message::SnapshotChunk {
            last,
            configuration,
            total_bytes,
            offset,
            data,
        } => Kind::SnapshotChunk(pb::SnapshotChunk {
            last: Some(position(*last)),
            configuration: configuration.clone(),
            total_bytes: *total_bytes,
            offset: *offset,
            data: data.clone(),
        }),
        Message::SnapshotAck { last, offset } => Kind::SnapshotAck(pb::SnapshotAck {
            last: Some(position(*last)),
            offset: *offset,
        }),
    };
    pb::PaxosMessage { kind: Some(kind) }
}

/// Appends the encoding of `message` to `out`.
pub(crate) fn encode<C: Codec>(message: &Message<C>, out: &mut Vec<u8>) {
    let proto = to_proto(message);
    out.reserve(proto.encoded_len());
    // Encoding into a Vec cannot run out of room.
    let _ = proto.encode(out);
}

fn from_ballot(b: Option<pb::Ballot>, field: &'static str) -> Result<Ballot, WireError> {
    let b = b.ok_or(WireError::Missing(field))?;
    Ok(Ballot::new(b.round, b.node))
}

fn from_position(
    p: Option<pb::LogPosition>,
    field: &'static str,
) -> Result<LogPosition, WireError> {
    let p = p.ok_or(WireError::Missing(field))?;
    Ok(LogPosition::new(p.index, p.term))
}

fn quorum_size(size: u64, field: &'static str) -> Result<usize, WireError> {
    usize::try_from(size).map_err(|error| WireError::invalid(field, error))
}

fn from_configuration(c: pb::Configuration) -> Result<Configuration, WireError> {
    use pb::configuration::Quorums;
    let quorums = match c.quorums.ok_or(WireError::Missing("stop_sign.quorums"))? {
        Quorums::Majority(m) => QuorumSpec::Majority(m.ids),
        Quorums::Flexible(f) => QuorumSpec::Flexible {
            members: f.members,
            phase1: quorum_size(f.phase1, "stop_sign.flexible.phase1")?,
            phase2: quorum_size(f.phase2, "stop_sign.flexible.phase2")?,
        },
        Quorums::Grid(g) => QuorumSpec::Grid(g.rows.into_iter().map(|row| row.ids).collect()),
    };
    Ok(Configuration {
        epoch: c.epoch,
        start_slot: c.start_slot,
        quorums,
    })
}

fn from_value<C: Codec>(v: Option<pb::SlotValue>) -> Result<SlotValue<C>, WireError> {
    use pb::slot_value::Value;
    let v = v.ok_or(WireError::Missing("slot_value"))?;
    Ok(
        match v.value.ok_or(WireError::Missing("slot_value.value"))? {
            Value::Vacant(_) => {
                return Err(WireError::invalid(
                    "slot_value",
                    "a vacant placeholder is never sent as a value",
                ));
            }
            Value::NoOp(_) => SlotValue::NoOp,
            Value::Batch(batch) => SlotValue::Batch(
                batch
                    .commands
                    .iter()
                    .map(|bytes| {
                        C::decode(bytes)
                            .map_err(|reason| WireError::invalid("batch.command", reason))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::StopSign(c) => SlotValue::StopSign(from_configuration(c)?),
        },
    )
}

fn from_entry<C: Codec>(e: pb::SlotEntry) -> Result<SlotEntry<C>, WireError> {
    Ok(SlotEntry {
        slot: e.slot,
        ballot: from_ballot(e.ballot, "entry.ballot")?,
        value: from_value(e.value)?,
    })
}

fn from_entries<C: Codec>(entries: Vec<pb::SlotEntry>) -> Result<Vec<SlotEntry<C>>, WireError> {
    entries.into_iter().map(from_entry).collect()
}

/// The message `proto` describes.
///
/// # Errors
///
/// A [`WireError`] naming the missing or invalid field.
pub(crate) fn from_proto<C: Codec>(proto: pb::PaxosMessage) -> Result<Message<C>, WireError> {
    use pb::paxos_message::Kind;
    let message = match proto.kind.ok_or(WireError::Missing("kind"))? {
        Kind::Prepare(m) => Message::Prepare {
            ballot: from_ballot(m.ballot, "prepare.ballot")?,
            from_slot: m.from_slot,
        },
        Kind::Promise(m) => Message::Promise {
            ballot: from_ballot(m.ballot, "promise.ballot")?,
            from_slot: m.from_slot,
            entries: from_entries(m.entries)?,
            next: m.next,
            base: m.base,
        },
        Kind::Accept(m) => Message::Accept {
            ballot: from_ballot(m.ballot, "accept.ballot")?,
            first_slot: m.first_slot,
            values: m
                .values
                .into_iter()
                .map(|v| from_value(Some(v)))
                .collect::<Result<_, _>>()?,
            commit: m.commit,
        },
        Kind::Accepted(m) => Message::Accepted {
            ballot: from_ballot(m.ballot, "accepted.ballot")?,
            first_slot: m.first_slot,
            count: m.count,
        },
        Kind::Nack(m) => Message::Nack {
            ballot: from_ballot(m.ballot, "nack.ballot")?,
            promised: from_ballot(m.promised, "nack.promised")?,
        },
        Kind::Heartbeat(m) => Message::Heartbeat {
            ballot: from_ballot(m.ballot, "heartbeat.ballot")?,
            round: m.round,
            commit: m.commit,
            lease: m.lease.map(|offer| LeaseOffer {
                start: Instant::from_nanos(offer.start_nanos),
                duration_nanos: offer.duration_nanos,
            }),
        },
        Kind::HeartbeatAck(m) => Message::HeartbeatAck {
            ballot: from_ballot(m.ballot, "heartbeat_ack.ballot")?,
            round: m.round,
            lease_granted: m.lease_granted,
        },
        Kind::CatchUpRequest(m) => Message::CatchUpRequest {
            from_slot: m.from_slot,
        },
        Kind::CatchUp(m) => Message::CatchUp {
            entries: from_entries(m.entries)?,
            commit: m.commit,
        },
        Kind::SnapshotChunk(m) => Message::SnapshotChunk {
            last: from_position(m.last, "snapshot_chunk.last")?,
            configuration: m.configuration,
            total_bytes: m.total_bytes,
            offset: m.offset,
            data: m.data,
        },
        Kind::SnapshotAck(m) => Message::SnapshotAck {
            last: from_position(m.last, "snapshot_ack.last")?,
            offset: m.offset,
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
    from_proto(pb::PaxosMessage::decode(bytes)?)
}

/// The short name of a message's kind.
pub(crate) fn kind<C>(message: &Message<C>) -> &'static str {
    match message {
        Message::Prepare { .. } => "prepare",
        Message::Promise { .. } => "promise",
        Message::Accept { .. } => "accept",
        Message::Accepted { .. } => "accepted",
        Message::Nack { .. } => "nack",
        Message::Heartbeat { .. } => "heartbeat",
        Message::HeartbeatAck { .. } => "heartbeat_ack",
        Message::CatchUpRequest { .. } => "catch_up_request",
        Message::CatchUp { .. } => "catch_up",
        Message::SnapshotChunk { .. } => "snapshot_chunk",
        Message::SnapshotAck { .. } => "snapshot_ack",
    }
}

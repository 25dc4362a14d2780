//! What a Raft message's MAC covers, for the PBFT benchmark's baseline of
//! Raft with MACs: every field of the message, with its sender and
//! recipient, written into a byte buffer in a fixed order (little-endian
//! integers, `u32` length prefixes, a tag per variant). The sender MACs
//! these bytes for the recipient; the recipient writes them again from the
//! message it received and checks the MAC — as a networked Raft would hash
//! the bytes it sent and received.
//!
//! Every struct is destructured whole, so a field added to a message fails
//! to compile here rather than going unauthenticated.

use tessera_core::NodeId;
use tessera_raft::{
    AppendOutcome, AppendRequest, AppendResponse, Entry, ForwardOutcome, Heartbeat,
    HeartbeatResponse, LogPosition, Message, Payload as EntryPayload, SnapshotChunk,
    SnapshotHeader, SnapshotResponse, VoteRequest, VoteResponse,
};

fn u64_le(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(value);
}

fn position(out: &mut Vec<u8>, at: &LogPosition) {
    u64_le(out, at.index);
    u64_le(out, at.term);
}

fn flag(out: &mut Vec<u8>, value: bool) {
    out.push(u8::from(value));
}

fn entry(out: &mut Vec<u8>, entry: &Entry<Vec<u8>>) {
    let Entry {
        index,
        term,
        payload,
    } = entry;
    u64_le(out, *index);
    u64_le(out, *term);
    match payload {
        EntryPayload::Blank => out.push(0),
        EntryPayload::Command(command) => {
            out.push(1);
            bytes(out, command);
        }
        EntryPayload::Membership(membership) => {
            out.push(2);
            bytes(out, &membership.to_bytes());
        }
    }
}

/// Writes what the MAC of `message` from `from` to `to` covers into `out`
/// (cleared first).
pub(crate) fn authenticated_bytes(
    out: &mut Vec<u8>,
    from: NodeId,
    to: NodeId,
    message: &Message<Vec<u8>>,
) {
    out.clear();
    out.extend_from_slice(b"tessera-bench/raft-mac/1");
    u64_le(out, from);
    u64_le(out, to);
    match message {
        Message::VoteRequest(VoteRequest {
            term,
            last_log,
            pre_vote,
            transfer,
        }) => {
            out.push(1);
            u64_le(out, *term);
            position(out, last_log);
            flag(out, *pre_vote);
            flag(out, *transfer);
        }
        Message::VoteResponse(VoteResponse {
            term,
            granted,
            pre_vote,
        }) => {
            out.push(2);
            u64_le(out, *term);
            flag(out, *granted);
            flag(out, *pre_vote);
        }
        Message::Append(AppendRequest {
            term,
            prev,
            entries,
            commit,
            round,
        }) => {
            out.push(3);
            u64_le(out, *term);
            position(out, prev);
            u64_le(out, *commit);
            u64_le(out, *round);
            u64_le(out, entries.len() as u64);
            for each in entries {
                entry(out, each);
            }
        }
        Message::AppendResponse(AppendResponse {
            term,
            round,
            outcome,
        }) => {
            out.push(4);
            u64_le(out, *term);
            u64_le(out, *round);
            match outcome {
                AppendOutcome::Accepted { match_index } => {
                    out.push(0);
                    u64_le(out, *match_index);
                }
                AppendOutcome::Rejected {
                    rejected_prev,
                    hint,
                } => {
                    out.push(1);
                    u64_le(out, *rejected_prev);
                    position(out, hint);
                }
            }
        }
        Message::Heartbeat(Heartbeat {
            term,
            commit,
            round,
        }) => {
            out.push(5);
            u64_le(out, *term);
            u64_le(out, *commit);
            u64_le(out, *round);
        }
        Message::HeartbeatResponse(HeartbeatResponse { term, round }) => {
            out.push(6);
            u64_le(out, *term);
            u64_le(out, *round);
        }
        Message::Snapshot(chunk) => {
            let SnapshotChunk {
                term,
                round,
                header,
                offset,
                data,
            } = &**chunk;
            let SnapshotHeader {
                last,
                membership,
                size_bytes,
                checksum,
            } = header;
            out.push(7);
            u64_le(out, *term);
            u64_le(out, *round);
            position(out, last);
            bytes(out, &membership.to_bytes());
            u64_le(out, *size_bytes);
            out.extend_from_slice(&checksum.to_le_bytes());
            u64_le(out, *offset);
            bytes(out, data);
        }
        Message::SnapshotResponse(SnapshotResponse {
            term,
            round,
            last,
            next_offset,
            installed,
        }) => {
            out.push(8);
            u64_le(out, *term);
            u64_le(out, *round);
            position(out, last);
            u64_le(out, *next_offset);
            flag(out, *installed);
        }
        Message::TimeoutNow { term } => {
            out.push(9);
            u64_le(out, *term);
        }
        Message::Forward { id, command } => {
            out.push(10);
            u64_le(out, *id);
            bytes(out, command);
        }
        Message::ForwardResponse { id, outcome } => {
            out.push(11);
            u64_le(out, *id);
            match outcome {
                ForwardOutcome::Appended { at } => {
                    out.push(0);
                    position(out, at);
                }
                ForwardOutcome::Refused { leader } => {
                    out.push(1);
                    u64_le(out, leader.map_or(0, |leader| leader + 1));
                }
            }
        }
    }
}

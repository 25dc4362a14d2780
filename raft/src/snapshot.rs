//! Log compaction and state transfer (Raft §7): taking a snapshot and
//! writing it to the node's own disk chunk by chunk before purging the log
//! it covers; streaming a snapshot to a follower behind the compacted log,
//! a bounded number of chunks in flight; receiving one.
//!
//! No snapshot ever sits in one message or in the node's memory at once:
//! the state machine serves byte ranges of its frozen snapshot
//! ([`StateMachine::snapshot_read`]) and restores from chunks in order
//! ([`StateMachine::restore_chunk`]); the node holds at most
//! [`RaftConfig::snapshot_chunks_inflight_max`](crate::RaftConfig::snapshot_chunks_inflight_max)
//! chunks in its outputs at a time.

use std::collections::VecDeque;

use tessera_core::{Instant, NodeId, PersistId};
use tessera_storage::{LogPosition, LogWrite, SnapshotMeta};

use crate::node::{RaftAction, Role};
use crate::replication::ReplicaState;
use crate::{
    Membership, Message, MessageRejection, RaftNode, RaftWrite, SnapshotChunk, SnapshotHeader,
    SnapshotResponse, StateMachine,
};

/// A snapshot on its way to one follower.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotSend {
    pub(crate) header: SnapshotHeader,
    /// Bytes sent so far.
    pub(crate) sent_offset: u64,
    /// Bytes the follower confirmed.
    pub(crate) acked_offset: u64,
    /// Whether the (possibly empty) last chunk was sent.
    pub(crate) finished: bool,
    /// When the follower last confirmed progress.
    pub(crate) progress_at: Instant,
}

impl SnapshotSend {
    /// After a heartbeat interval without progress, resend from what the
    /// follower confirmed (chunks may have been lost).
    pub(crate) fn rewind_if_stalled(&mut self, now: Instant) {
        if now > self.progress_at {
            self.sent_offset = self.acked_offset;
            self.finished = false;
        }
    }
}

/// A snapshot being written to this node's own disk.
#[derive(Debug, Clone)]
struct LocalWrite {
    header: SnapshotHeader,
    next_offset: u64,
    /// Chunk writes not yet durable.
    in_flight: VecDeque<PersistId>,
}

/// A snapshot being received from the leader.
#[derive(Debug, Clone)]
struct Receive {
    header: SnapshotHeader,
    next_offset: u64,
    crc: u32,
}

/// Everything snapshot-related a node keeps.
#[derive(Debug, Clone, Default)]
pub(crate) struct SnapshotState {
    /// The snapshot the state machine holds frozen.
    captured: Option<SnapshotHeader>,
    /// The latest snapshot durable on disk.
    pub(crate) durable: Option<SnapshotMeta>,
    /// A snapshot commit written but not yet durable.
    committing: Option<(PersistId, SnapshotMeta)>,
    /// The last index a snapshot covers (durable or being written): the
    /// compaction threshold counts from here.
    pub(crate) covered_index: u64,
    writing: Option<LocalWrite>,
    receiving: Option<Receive>,
}

impl SnapshotState {
    pub(crate) fn recovered(durable: Option<SnapshotMeta>, last: LogPosition) -> Self {
        SnapshotState {
            durable,
            covered_index: last.index,
            ..SnapshotState::default()
        }
    }

    /// Whether a snapshot from the leader is being received.
    pub(crate) fn is_receiving(&self) -> bool {
        self.receiving.is_some()
    }
}

fn meta_of(header: &SnapshotHeader) -> SnapshotMeta {
    SnapshotMeta {
        last: header.last,
        configuration: header.membership.to_bytes(),
        size_bytes: header.size_bytes,
        checksum: header.checksum,
    }
}

impl<S: StateMachine> RaftNode<S> {
    /// The configuration in force at `index` (at or after the log's base).
    pub(crate) fn membership_at(&self, index: u64) -> Membership {
        let mut membership = &self.membership.base.1;
        for (at, m) in self.log.memberships() {
            if at > index {
                break;
            }
            if at > self.membership.base.0 {
                membership = m;
            }
        }
        membership.clone()
    }

    /// Freezes the state machine at the applied index.
    fn capture(&mut self) -> SnapshotHeader {
        let size_bytes = self.sm.snapshot_capture();
        let chunk = self.config.snapshot_chunk_bytes;
        let mut checksum = 0;
        let mut offset = 0;
        while offset < size_bytes {
            let bytes = self.sm.snapshot_read(offset, chunk);
            if bytes.is_empty() {
                break;
            }
            checksum = crc32c::crc32c_append(checksum, &bytes);
            offset += bytes.len() as u64;
        }
        let header = SnapshotHeader {
            last: self.applied,
            membership: self.membership_at(self.applied.index),
            size_bytes,
            checksum,
        };
        self.counters.snapshots_taken += 1;
        self.snapshot.captured = Some(header.clone());
        header
    }

    /// Takes a snapshot and starts writing it if enough was applied since
    /// the last one.
    pub(crate) fn maybe_compact(&mut self, out: &mut Vec<RaftAction<S>>) {
        let threshold = self.config.snapshot_threshold_entries;
        if threshold == 0
            || self.applied.index < self.snapshot.covered_index.saturating_add(threshold)
            || self.snapshot.writing.is_some()
            || self.snapshot.receiving.is_some()
        {
            return;
        }
        let header = self.capture();
        self.snapshot.covered_index = header.last.index;
        self.persist(
            RaftWrite::SnapshotBegin {
                last: header.last,
                membership: Box::new(header.membership.clone()),
            },
            out,
        );
        self.snapshot.writing = Some(LocalWrite {
            header,
            next_offset: 0,
            in_flight: VecDeque::new(),
        });
        self.pump_local_write(out);
    }

    /// Writes the next chunks of the local snapshot, a bounded number in
    /// flight; after the last, commits it and purges the log it covers.
    fn pump_local_write(&mut self, out: &mut Vec<RaftAction<S>>) {
        let chunk = self.config.snapshot_chunk_bytes;
        let in_flight_max = self.config.snapshot_chunks_inflight_max;
        loop {
            let Some(writing) = &mut self.snapshot.writing else {
                return;
            };
            if writing.next_offset >= writing.header.size_bytes {
                break;
            }
            if writing.in_flight.len() >= in_flight_max {
                return;
            }
            let offset = writing.next_offset;
            let last = writing.header.last;
            let data = self.sm.snapshot_read(offset, chunk);
            if data.is_empty() {
                // The state machine served less than it announced: give up
                // on this snapshot rather than commit a short one.
                self.snapshot.writing = None;
                self.snapshot.captured = None;
                return;
            }
            let Some(writing) = &mut self.snapshot.writing else {
                return;
            };
            writing.next_offset += data.len() as u64;
            let id = self.persist(RaftWrite::SnapshotChunk { last, offset, data }, out);
            if let Some(writing) = &mut self.snapshot.writing {
                writing.in_flight.push_back(id);
            }
        }
        let Some(writing) = self.snapshot.writing.take() else {
            return;
        };
        let last = writing.header.last;
        let id = self.persist(RaftWrite::SnapshotCommit { last }, out);
        self.snapshot.committing = Some((id, meta_of(&writing.header)));
        // Purge what the snapshot covers, keeping a tail for followers a
        // little behind. The commit is written first, so a crash never
        // leaves a purged log without its snapshot.
        let purge_index = last.index.saturating_sub(self.config.snapshot_keep_entries);
        if purge_index > self.log.base().index
            && let Some(term) = self.log.term_at(purge_index)
        {
            let upto = LogPosition::new(purge_index, term);
            let base_membership = self.membership_at(purge_index);
            self.membership.base = (purge_index, base_membership);
            self.log.purge_to(upto);
            self.persist_log(LogWrite::PurgeTo(upto), out);
        }
    }

    /// Writes became durable: more local chunks may go, and a committed
    /// snapshot becomes the durable one.
    pub(crate) fn on_snapshot_writes_durable(
        &mut self,
        up_to: PersistId,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if let Some((id, _)) = &self.snapshot.committing
            && *id <= up_to
            && let Some((_, meta)) = self.snapshot.committing.take()
        {
            self.snapshot.durable = Some(meta);
        }
        let Some(writing) = &mut self.snapshot.writing else {
            return;
        };
        while writing.in_flight.front().is_some_and(|id| *id <= up_to) {
            writing.in_flight.pop_front();
        }
        self.pump_local_write(out);
    }

    /// Gives up a snapshot being received (the node campaigns: whoever
    /// leads next sends its own).
    pub(crate) fn abandon_snapshot_receive(&mut self) {
        self.snapshot.receiving = None;
    }

    /// Starts streaming a snapshot to a follower behind the compacted log.
    pub(crate) fn start_snapshot_send(&mut self, to: NodeId, out: &mut Vec<RaftAction<S>>) {
        let covers = self
            .snapshot
            .captured
            .as_ref()
            .is_some_and(|h| h.last.index >= self.log.base().index);
        let header = match (&self.snapshot.captured, covers) {
            (Some(header), true) => header.clone(),
            _ if self.snapshot.writing.is_none() => self.capture(),
            // A local snapshot is being written from the frozen state;
            // capturing again would change it under the writer. Wait.
            _ => return,
        };
        let now = self.now;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        let Some(progress) = leadership.progress.get_mut(&to) else {
            return;
        };
        progress.state = ReplicaState::Snapshot(SnapshotSend {
            header,
            sent_offset: 0,
            acked_offset: 0,
            finished: false,
            progress_at: now,
        });
        progress.inflight.clear();
        progress.inflight_bytes = 0;
        self.counters.snapshots_sent += 1;
        self.send_snapshot_chunks(to, out);
    }

    /// Sends the next chunks to a follower receiving a snapshot, up to the
    /// in-flight bound. Restarts the transfer if the state machine froze a
    /// newer snapshot meanwhile.
    pub(crate) fn send_snapshot_chunks(&mut self, to: NodeId, out: &mut Vec<RaftAction<S>>) {
        let chunk = self.config.snapshot_chunk_bytes;
        let window = chunk as u64 * self.config.snapshot_chunks_inflight_max as u64;
        let (term, now) = (self.term, self.now);
        loop {
            let Role::Leader(leadership) = &mut self.role else {
                return;
            };
            let round = leadership.round;
            let Some(progress) = leadership.progress.get_mut(&to) else {
                return;
            };
            let ReplicaState::Snapshot(send) = &mut progress.state else {
                return;
            };
            if self
                .snapshot
                .captured
                .as_ref()
                .is_none_or(|captured| captured.last != send.header.last)
            {
                // The frozen snapshot changed: start over with the new one.
                match &self.snapshot.captured {
                    Some(captured) => {
                        *send = SnapshotSend {
                            header: captured.clone(),
                            sent_offset: 0,
                            acked_offset: 0,
                            finished: false,
                            progress_at: now,
                        };
                    }
                    None => {
                        let next = progress.match_index + 1;
                        progress.probe_from(next);
                        return;
                    }
                }
            }
            if send.finished || send.sent_offset - send.acked_offset >= window {
                return;
            }
            let offset = send.sent_offset;
            let data = self.sm.snapshot_read(offset, chunk);
            let Role::Leader(leadership) = &mut self.role else {
                return;
            };
            let Some(progress) = leadership.progress.get_mut(&to) else {
                return;
            };
            let ReplicaState::Snapshot(send) = &mut progress.state else {
                return;
            };
            send.sent_offset += data.len() as u64;
            send.finished = send.sent_offset >= send.header.size_bytes;
            if data.is_empty() && !send.finished {
                // The state machine served less than it announced.
                let next = progress.match_index + 1;
                progress.probe_from(next);
                return;
            }
            let message = Message::Snapshot(Box::new(SnapshotChunk {
                term,
                round,
                header: send.header.clone(),
                offset,
                data,
            }));
            out.push(tessera_core::Action::Send { to, message });
        }
    }

    /// A follower's answer to a snapshot chunk.
    pub(crate) fn on_snapshot_response(
        &mut self,
        from: NodeId,
        response: SnapshotResponse,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if !self.note_follower_answer(from, response.term, response.round, out) {
            return;
        }
        let now = self.now;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        let Some(progress) = leadership.progress.get_mut(&from) else {
            return;
        };
        let ReplicaState::Snapshot(send) = &mut progress.state else {
            return;
        };
        if send.header.last != response.last {
            return; // about an abandoned transfer
        }
        if response.installed {
            let next = response.last.index.max(progress.match_index) + 1;
            progress.match_index = progress.match_index.max(response.last.index);
            progress.probe_from(next);
            self.send_append(from, out);
            return;
        }
        if response.next_offset > send.header.size_bytes {
            self.counters.reject(MessageRejection::ImpossibleIndex);
            return;
        }
        if response.next_offset > send.acked_offset {
            send.acked_offset = response.next_offset;
            send.progress_at = now;
        } else if response.next_offset < send.acked_offset {
            // The follower started over (it restarted, or lost chunks).
            send.acked_offset = response.next_offset;
            send.sent_offset = response.next_offset;
            send.finished = false;
            send.progress_at = now;
        }
        if send.sent_offset < send.acked_offset {
            send.sent_offset = send.acked_offset;
        }
        self.send_snapshot_chunks(from, out);
    }

    /// A chunk of a snapshot from the leader.
    pub(crate) fn on_snapshot_chunk(
        &mut self,
        from: NodeId,
        chunk: SnapshotChunk,
        out: &mut Vec<RaftAction<S>>,
    ) {
        let (round, last) = (chunk.round, chunk.header.last);
        let answer = move |term: u64, next_offset: u64, installed: bool| {
            Message::SnapshotResponse(SnapshotResponse {
                term,
                round,
                last,
                next_offset,
                installed,
            })
        };
        if chunk.data.len() > self.config.snapshot_chunk_bytes.saturating_mul(4) {
            self.reject(MessageRejection::Oversized);
            return;
        }
        let header = &chunk.header;
        if header.last.term > chunk.term
            || chunk.offset.saturating_add(chunk.data.len() as u64) > header.size_bytes
            || (header.last.index == 0) != (header.last.term == 0)
        {
            self.reject(MessageRejection::ImpossibleIndex);
            return;
        }
        if !self.accept_leader(from, chunk.term, out) {
            if chunk.term < self.term {
                let message = answer(self.term, 0, false);
                self.send(from, message, out);
            }
            return;
        }
        if last.index <= self.commit || self.log.term_at(last.index) == Some(last.term) {
            // This node already holds everything the snapshot covers.
            if last.index > self.commit {
                self.commit = last.index;
            }
            if self
                .snapshot
                .receiving
                .as_ref()
                .is_some_and(|r| r.header.last == last)
            {
                self.snapshot.receiving = None;
            }
            let message = answer(self.term, header.size_bytes, true);
            self.send_when_durable(from, message, out);
            return;
        }
        let continues = self
            .snapshot
            .receiving
            .as_ref()
            .is_some_and(|r| r.header == chunk.header && r.next_offset == chunk.offset);
        if !continues {
            if chunk.offset != 0 {
                let expected = self
                    .snapshot
                    .receiving
                    .as_ref()
                    .filter(|r| r.header == chunk.header)
                    .map_or(0, |r| r.next_offset);
                let message = answer(self.term, expected, false);
                self.send(from, message, out);
                return;
            }
            // A new snapshot: abandon any other being received or written.
            self.snapshot.writing = None;
            self.sm.restore_begin();
            self.persist(
                RaftWrite::SnapshotBegin {
                    last,
                    membership: Box::new(header.membership.clone()),
                },
                out,
            );
            self.snapshot.receiving = Some(Receive {
                header: chunk.header.clone(),
                next_offset: 0,
                crc: 0,
            });
        }
        if self.sm.restore_chunk(&chunk.data).is_err() {
            self.reject(MessageRejection::BadSnapshot);
            self.snapshot.receiving = None;
            let message = answer(self.term, 0, false);
            self.send(from, message, out);
            return;
        }
        let size = chunk.data.len() as u64;
        let Some(receive) = &mut self.snapshot.receiving else {
            return;
        };
        receive.crc = crc32c::crc32c_append(receive.crc, &chunk.data);
        receive.next_offset += size;
        let next_offset = receive.next_offset;
        let crc = receive.crc;
        let SnapshotChunk {
            header,
            offset,
            data,
            ..
        } = chunk;
        self.persist(RaftWrite::SnapshotChunk { last, offset, data }, out);
        if next_offset < header.size_bytes {
            let message = answer(self.term, next_offset, false);
            self.send_when_durable(from, message, out);
            return;
        }
        self.snapshot.receiving = None;
        let restored = if crc != header.checksum {
            Err(format!(
                "checksum {crc:#010x}, the leader announced {:#010x}",
                header.checksum
            ))
        } else {
            self.sm.restore_finish()
        };
        if restored.is_err() {
            self.reject(MessageRejection::BadSnapshot);
            let message = answer(self.term, 0, false);
            self.send(from, message, out);
            return;
        }
        self.install_snapshot(header, out);
        let message = answer(self.term, next_offset, true);
        self.send_when_durable(from, message, out);
    }

    /// The state machine holds the snapshot: make the log and the node's
    /// state agree with it, durably (Raft Figure 13, steps 6–8).
    fn install_snapshot(&mut self, header: SnapshotHeader, out: &mut Vec<RaftAction<S>>) {
        let last = header.last;
        let id = self.persist(RaftWrite::SnapshotCommit { last }, out);
        self.snapshot.committing = Some((id, meta_of(&header)));
        self.snapshot.captured = None;
        self.snapshot.covered_index = last.index;
        self.counters.snapshots_installed += 1;
        self.membership.base = (last.index, header.membership);
        self.log.purge_to(last);
        self.persist_log(LogWrite::PurgeTo(last), out);
        self.recompute_membership();
        if last.index > self.commit {
            self.commit = last.index;
        }
        self.applied = last;
        self.forget_proposals_through(last.index, out);
        self.save_hard_state(out);
    }
}

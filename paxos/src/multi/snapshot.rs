//! Log compaction, and snapshots streamed in chunks to replicas behind the
//! compacted log (or joining a new configuration).

use std::sync::Arc;

use tessera_core::{ActionOf, Instant, NodeId};
use tessera_storage::{Codec, LogPosition, LogWrite};

use super::node::{HeldSnapshot, IncomingSnapshot, OutgoingSnapshot, Role};
use crate::PaxosError;
use crate::error::check_size;
use crate::invariants::Decision;
use crate::multi::{
    Configuration, Message, MultiPaxos, PaxosWrite, SNAPSHOT_CHUNK_BYTES_MAX, StateMachine,
};

impl<S: StateMachine> MultiPaxos<S> {
    /// Snapshots the state machine at the applied slot, stores it, then
    /// purges the log up to it (in that order: a crash in between keeps
    /// the log).
    pub(crate) fn take_snapshot(&mut self, out: &mut Vec<ActionOf<Self>>) {
        let index = self.applied;
        if index <= self.log.base().index {
            return;
        }
        let Some(term) = self.log.term_at(index) else {
            debug_assert!(false, "applied slot {index} is not in the log");
            return;
        };
        let last = LogPosition::new(index, term);
        let data = Arc::new(self.machine.snapshot());
        let configuration = self
            .configuration
            .as_ref()
            .map(Configuration::to_bytes)
            .unwrap_or_default();
        self.persist(
            PaxosWrite::Snapshot {
                last,
                configuration: configuration.clone(),
                data: Arc::clone(&data),
            },
            out,
        );
        self.persist(PaxosWrite::Log(LogWrite::PurgeTo(last)), out);
        self.log.purge_to(last);
        self.snapshot = Some(HeldSnapshot {
            last,
            configuration,
            data,
        });
        self.counters.snapshots_taken += 1;
    }

    /// Starts streaming this node's snapshot to `to`.
    pub(crate) fn start_snapshot_transfer(
        &mut self,
        to: NodeId,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let Some(snapshot) = &self.snapshot else {
            return;
        };
        if self
            .outgoing
            .get(&to)
            .is_some_and(|transfer| transfer.last == snapshot.last)
        {
            // Already under way; the receiver's acknowledgements drive it.
            return;
        }
        self.outgoing.insert(
            to,
            OutgoingSnapshot {
                last: snapshot.last,
                offset: 0,
                sent_at: now,
            },
        );
        self.send_chunk(to, 0, out);
    }

    fn send_chunk(&self, to: NodeId, offset: u64, out: &mut Vec<ActionOf<Self>>) {
        let Some(snapshot) = &self.snapshot else {
            return;
        };
        let total = snapshot.data.len();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
        let end = start.saturating_add(SNAPSHOT_CHUNK_BYTES_MAX).min(total);
        self.send(
            to,
            Message::SnapshotChunk {
                last: snapshot.last,
                configuration: snapshot.configuration.clone(),
                total_bytes: total as u64,
                offset: start as u64,
                data: snapshot.data[start..end].to_vec(),
            },
            out,
        );
    }

    pub(crate) fn on_snapshot_ack(
        &mut self,
        from: NodeId,
        last: tessera_storage::LogPosition,
        offset: u64,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let Some(snapshot) = &self.snapshot else {
            return;
        };
        let total = snapshot.data.len() as u64;
        let Some(transfer) = self.outgoing.get_mut(&from) else {
            return;
        };
        if transfer.last != last || snapshot.last != last {
            return;
        }
        if offset >= total {
            self.outgoing.remove(&from);
            return;
        }
        transfer.offset = offset;
        transfer.sent_at = now;
        self.send_chunk(from, offset, out);
    }

    /// Re-sends stalled snapshot chunks.
    pub(crate) fn snapshot_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let timeout = self.config.retransmit_timeout;
        let current = self.snapshot.as_ref().map(|s| s.last);
        self.outgoing
            .retain(|_, transfer| Some(transfer.last) == current);
        let stalled: Vec<(NodeId, u64)> = self
            .outgoing
            .iter_mut()
            .filter(|(_, t)| t.sent_at + timeout <= now)
            .map(|(node, t)| {
                t.sent_at = now;
                (*node, t.offset)
            })
            .collect();
        for (node, offset) in stalled {
            self.send_chunk(node, offset, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_snapshot_chunk(
        &mut self,
        from: NodeId,
        last: LogPosition,
        configuration: Vec<u8>,
        total_bytes: u64,
        offset: u64,
        data: Vec<u8>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Err(error) = check_size(from, "snapshot chunk", data.len(), SNAPSHOT_CHUNK_BYTES_MAX)
        {
            self.reject(error);
            return;
        }
        if total_bytes > self.config.snapshot_bytes_max
            || offset.saturating_add(data.len() as u64) > total_bytes
        {
            self.reject(PaxosError::Oversized {
                from,
                what: "snapshot",
                len: usize::try_from(total_bytes).unwrap_or(usize::MAX),
                max: usize::try_from(self.config.snapshot_bytes_max).unwrap_or(usize::MAX),
            });
            return;
        }
        let ack = |offset| Message::SnapshotAck { last, offset };
        if last.index <= self.committed {
            // Already there: tell the sender to stop.
            self.send(from, ack(total_bytes), out);
            return;
        }
        let fresh = self
            .incoming
            .as_ref()
            .is_none_or(|incoming| incoming.last != last || incoming.from != from);
        if fresh {
            if offset != 0 {
                self.send(from, ack(0), out);
                return;
            }
            self.incoming = Some(IncomingSnapshot {
                from,
                last,
                configuration,
                total_bytes,
                data: Vec::new(),
            });
        }
        let Some(incoming) = &mut self.incoming else {
            return;
        };
        if offset == incoming.data.len() as u64 {
            incoming.data.extend_from_slice(&data);
        }
        let received = incoming.data.len() as u64;
        if received < incoming.total_bytes {
            self.send(from, ack(received), out);
            return;
        }
        self.send(from, ack(received), out);
        if let Some(incoming) = self.incoming.take() {
            self.install_snapshot(incoming, now, out);
        }
    }

    fn install_snapshot(
        &mut self,
        incoming: IncomingSnapshot,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let from = incoming.from;
        let configuration = match Configuration::decode(&incoming.configuration) {
            Ok(configuration) => configuration,
            Err(_) => {
                self.reject(PaxosError::Malformed {
                    from,
                    reason: "snapshot configuration does not decode",
                });
                return;
            }
        };
        let Ok(quorums) = configuration.quorums.build() else {
            self.reject(PaxosError::Malformed {
                from,
                reason: "snapshot names an invalid configuration",
            });
            return;
        };
        if let Err(_reason) = self.machine.restore(&incoming.data) {
            self.reject(PaxosError::Malformed {
                from,
                reason: "the state machine refused the snapshot",
            });
            return;
        }
        let last = incoming.last;
        let data = Arc::new(incoming.data);
        self.persist(
            PaxosWrite::Snapshot {
                last,
                configuration: incoming.configuration.clone(),
                data: Arc::clone(&data),
            },
            out,
        );
        // Purge at this node's own position for that slot: the acceptances
        // after it are kept even if this node accepted the slot in another
        // ballot than the snapshot's source (they may count in a quorum).
        let own = LogPosition::new(
            last.index,
            self.log.term_at(last.index).unwrap_or(last.term),
        );
        self.persist(PaxosWrite::Log(LogWrite::PurgeTo(own)), out);
        self.log.purge_to(own);
        self.snapshot = Some(HeldSnapshot {
            last,
            configuration: incoming.configuration,
            data,
        });
        self.committed = self.committed.max(last.index);
        self.applied = last.index;
        self.decisions.record_with(|| Decision::Restored {
            through: last.index,
        });
        self.counters.snapshots_installed += 1;
        let newer = self
            .configuration
            .as_ref()
            .is_none_or(|current| current.epoch < configuration.epoch);
        if newer {
            self.removed = !quorums.members().contains(&self.id());
            self.quorums = Arc::new(quorums);
            self.configuration = Some(configuration);
            self.reset_election_deadline(now);
        }
        self.persist_hard_state(out);
        self.catch_up_at = None;
        if let Role::Leader(leadership) = &mut self.role {
            // The leader was re-proposing slots the snapshot shows chosen
            // (an acceptor had compacted them): they are done.
            while leadership
                .in_flight
                .front()
                .is_some_and(|flight| flight.slot <= last.index)
            {
                if let Some(flight) = leadership.in_flight.pop_front() {
                    for id in flight.requests {
                        out.push(tessera_core::Action::Reply {
                            id,
                            response: crate::multi::Response::Unknown,
                        });
                    }
                }
            }
            self.advance_leader_commit(now, out);
            return;
        }
        if let Role::Candidate(campaign) = &self.role
            && campaign.won
            && self.committed >= campaign.max_base.0
        {
            self.finish_campaign(now, out);
            return;
        }
        self.advance_follower_commit(now, out);
    }
}

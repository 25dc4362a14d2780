//! Retransmission: a replica that waits for something tells its peers
//! where it stands, and they send it what it lacks — their own messages
//! (MACs cannot be relayed), the signed proofs it needs (stable
//! checkpoints, the new view), and batches it can check against their
//! digests. Every answer is rate-limited per peer.

use std::sync::Arc;

use tessera_core::{Action, NodeId};

use crate::replica::Out;
use crate::{
    BatchData, DropReason, Fetch, JournalRecord, Payload, PrePrepare, Replica, StateMachine,
    Status, Vote,
};

/// Batches a replica asks for per retransmission round, at most.
pub const FETCHES_PER_ROUND_MAX: usize = 16;

impl<S: StateMachine> Replica<S> {
    /// Whether the replica waits for something its peers can help with.
    pub(crate) fn has_work(&self) -> bool {
        !self.pending.is_empty()
            || !self.view_active
            || self.transfer.is_some()
            || self.peer_progress > self.last_executed
            || self.slots.range(self.last_executed + 1..).next().is_some()
    }

    fn status(&self, answer: bool) -> Status {
        Status {
            view: self.view,
            view_active: self.view_active,
            low: self.low,
            last_executed: self.last_executed,
            answer,
        }
    }

    /// Every status interval while there is work: say where this replica
    /// stands, repeat its view change, ask for missing batches.
    pub(crate) fn retransmit(&mut self, out: &mut Out) {
        self.ask_for_state(out);
        let Some(due) = self.status_due else {
            return;
        };
        if self.now < due {
            return;
        }
        if !self.has_work() {
            self.status_due = None;
            return;
        }
        self.status_due = Some(self.now + self.config.status_interval);
        self.status_rounds += 1;
        self.multicast(Payload::Status(self.status(false)), out);
        if !self.view_active
            && let Some(envelope) = &self.own_view_change
        {
            self.multicast_envelope(envelope, out);
        }
        let mut wanted = Vec::new();
        for (seq, slot) in self.slots.range(self.last_executed + 1..) {
            let needed = slot
                .committed
                .as_ref()
                .map(|(certificate, _)| certificate.digest())
                .or(slot.pre_prepare.filter(|_| slot.view == self.view));
            if let Some(digest) = needed
                && !slot.batches.contains_key(&digest)
            {
                wanted.push(Fetch { seq: *seq, digest });
                if wanted.len() == FETCHES_PER_ROUND_MAX {
                    break;
                }
            }
        }
        for fetch in wanted {
            self.multicast(Payload::FetchBatch(fetch), out);
        }
    }

    /// A peer's status: send it what it lacks, at most twice per interval.
    pub(crate) fn on_status(&mut self, sender: NodeId, status: Status, out: &mut Out) {
        self.progress_heard(sender, status.last_executed);
        let since = self.now.saturating_sub(self.config.status_interval / 2);
        if self.answered.get(&sender).is_some_and(|at| *at > since) {
            return;
        }
        self.answered.insert(sender, self.now);
        if status.low < self.low
            && let Some(stable) = &self.stable
        {
            self.send(
                sender,
                Payload::StableCheckpoint(Box::new(stable.proof().clone())),
                out,
            );
        }
        let behind_in_view = status.view < self.view
            || (status.view == self.view && !status.view_active && self.view_active);
        if behind_in_view {
            let relay = if self.view_active {
                self.new_view.clone()
            } else {
                self.own_view_change.clone()
            };
            if let Some(message) = relay {
                out.push(Action::Send {
                    to: sender,
                    message,
                });
            }
        }
        if status.view == self.view && status.view_active && self.view_active {
            self.resend_own_messages(sender, status, out);
        }
        if !status.answer {
            self.send(sender, Payload::Status(self.status(true)), out);
        }
    }

    /// The `f + 1`-th highest progress reported by peers: at least one
    /// correct replica executed that far, whatever `f` liars claim.
    fn progress_heard(&mut self, sender: NodeId, last_executed: u64) {
        self.progress.insert(sender, last_executed);
        let mut reported: Vec<u64> = self.progress.values().copied().collect();
        reported.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(progress) = reported.get(self.config.weak_quorum_size() - 1) {
            self.peer_progress = self.peer_progress.max(*progress);
        }
    }

    /// This replica's own messages of the current view for the sequence
    /// numbers `sender` has not executed, and its checkpoints above
    /// `sender`'s low watermark.
    fn resend_own_messages(&mut self, sender: NodeId, status: Status, out: &mut Out) {
        // The peer's numbers are untrusted: saturate, and check the range.
        let from = status.last_executed.max(status.low).saturating_add(1);
        let high = self.high_watermark();
        if from > high {
            return;
        }
        let is_primary = self.is_primary();
        let mut payloads = Vec::new();
        for (seq, slot) in self.slots.range(from..=high) {
            if slot.view != self.view {
                continue;
            }
            if is_primary
                && let Some(digest) = slot.pre_prepare
                && let Some(batch) = slot.batches.get(&digest)
            {
                payloads.push(Payload::PrePrepare(PrePrepare {
                    view: self.view,
                    seq: *seq,
                    digest,
                    batch: batch.clone(),
                }));
            }
            if slot.prepare_sent
                && let Some(digest) = slot.pre_prepare
            {
                payloads.push(Payload::Prepare(Vote {
                    view: self.view,
                    seq: *seq,
                    digest,
                }));
            }
            if slot.commit_sent
                && let Some(p) = slot.p
            {
                payloads.push(Payload::Commit(Vote {
                    view: self.view,
                    seq: *seq,
                    digest: p.digest,
                }));
            }
        }
        for payload in payloads {
            self.send(sender, payload, out);
        }
        for votes in self
            .checkpoint_votes
            .range(status.low.saturating_add(1)..)
            .map(|(_, votes)| votes)
        {
            if let Some(own) = votes.get(&self.id) {
                out.push(Action::Send {
                    to: sender,
                    message: own.clone(),
                });
            }
        }
    }

    pub(crate) fn on_fetch_batch(&mut self, sender: NodeId, fetch: Fetch, out: &mut Out) {
        if let Some(batch) = self
            .slots
            .get(&fetch.seq)
            .and_then(|slot| slot.batches.get(&fetch.digest))
        {
            let data = BatchData {
                seq: fetch.seq,
                batch: batch.clone(),
            };
            self.send(sender, Payload::Batch(data), out);
        }
    }

    /// A fetched batch: kept if this replica needs exactly that digest at
    /// that sequence number (committed, or assigned by a new view).
    pub(crate) fn on_batch(&mut self, data: BatchData, out: &mut Out) {
        if data.batch.requests.len() > self.config.batch_size_max {
            return self.drop_message(DropReason::Oversized);
        }
        let digest = data.batch.digest();
        let view = self.view;
        let Some(slot) = self.slots.get_mut(&data.seq) else {
            return self.drop_message(DropReason::Unexpected);
        };
        let needed = slot
            .committed
            .as_ref()
            .is_some_and(|(c, _)| c.digest() == digest)
            || (slot.view == view && slot.pre_prepare == Some(digest));
        if !needed {
            return self.drop_message(DropReason::WrongDigest);
        }
        if slot.batches.contains_key(&digest) {
            return;
        }
        slot.remember_batch(digest, Arc::clone(&data.batch));
        self.journal(
            vec![JournalRecord::BatchKnown {
                seq: data.seq,
                batch: data.batch,
            }],
            out,
        );
        self.try_execute(out);
    }
}

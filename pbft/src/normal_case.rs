//! The normal case (Castro and Liskov, OSDI 1999, §4.2–4.3): requests,
//! batching at the primary, the three phases, execution in sequence order
//! and replies.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_core::{NodeId, PersistId, RequestId};
use tessera_quorum::{Byzantine, MemberSet, Phase, VoteTally};

use crate::replica::{
    ClientRecord, Deferred, EXECUTIONS_KEPT, GATEWAY_REQUESTS_MAX, Out, Slot, Tally,
};
use crate::{
    Batch, ClientRequest, CommittedCertificate, Digest, DropReason, JournalRecord, Payload,
    PbftConfig, PrePrepare, PreparedCertificate, Replica, Reply, StateMachine, Vote,
};

/// Counts `voter`'s vote for `digest` in a slot's prepares or commits. A
/// replica's first vote at a sequence number in a view is the only one
/// counted: a second, for another digest, conflicts and is ignored.
pub(crate) fn record_vote(
    tallies: &mut BTreeMap<Digest, Tally>,
    voters: &mut MemberSet,
    quorum: &Arc<Byzantine>,
    config: &PbftConfig,
    voter: NodeId,
    vote: Vote,
) -> bool {
    let Some(position) = config.position(voter) else {
        return false;
    };
    if voters.contains(position) {
        return false;
    }
    voters.insert(position);
    tallies
        .entry(vote.digest)
        .or_insert_with(|| {
            VoteTally::new(
                quorum.clone(),
                Phase::Write,
                vote.view,
                vote.seq,
                vote.digest,
            )
        })
        .record(voter, vote.view, vote.seq, &vote.digest)
        .is_ok()
}

impl<S: StateMachine> Replica<S> {
    /// A request, authenticated by the caller.
    pub(crate) fn on_request(
        &mut self,
        request: Arc<ClientRequest>,
        gateway: Option<RequestId>,
        out: &mut Out,
    ) {
        if request.operation.len() > self.config.operation_bytes_max {
            return self.drop_message(DropReason::Oversized);
        }
        let client = request.client;
        if let Some(record) = self.clients.get(&client) {
            if request.timestamp < record.timestamp {
                return self.drop_message(DropReason::StaleRequest);
            }
            if request.timestamp == record.timestamp {
                // A retransmission of the last executed request: answer it
                // from the reply cache, execute nothing.
                let (timestamp, result) = (record.timestamp, record.result.clone());
                let after = self.gate.last_assigned();
                return self.reply(client, timestamp, result, gateway, after, out);
            }
        }
        if let Some(id) = gateway {
            if self.gateway.len() >= GATEWAY_REQUESTS_MAX {
                self.gateway.pop_first();
            }
            self.gateway.insert((client, request.timestamp), id);
        }
        let timestamp = request.timestamp;
        if let Some(waiting) = self.pending.get(client) {
            if waiting.request.timestamp >= timestamp {
                return;
            }
            if self.timer_for == Some((client, waiting.request.timestamp)) {
                self.timer_for = Some((client, timestamp));
            }
        }
        self.pending.insert(request);
        if self.timer.is_none() && self.view_active {
            self.timer = Some(self.now + self.timeout);
            self.timer_for = Some((client, timestamp));
        }
        self.try_issue_batches(out);
    }

    /// The primary orders waiting requests in batches while the in-flight
    /// bound and the high watermark allow.
    pub(crate) fn try_issue_batches(&mut self, out: &mut Out) {
        if !self.view_active || !self.is_primary() || self.transfer.is_some() {
            return;
        }
        let view = self.view;
        loop {
            let in_flight = (self.seq_next - 1).saturating_sub(self.last_executed);
            if in_flight >= self.config.batches_in_flight_max as u64
                || self.seq_next > self.high_watermark()
            {
                return;
            }
            // While batches are in flight, only full ones go out: requests
            // arriving meanwhile wait to fill the next, which is how batches
            // grow under load without a timer.
            let unbatched = self.pending.unbatched_len();
            if unbatched == 0 || (in_flight > 0 && unbatched < self.config.batch_size_max) {
                return;
            }
            let batch = Arc::new(Batch::new(
                self.pending.take_batch(self.config.batch_size_max),
            ));
            let digest = batch.digest();
            let seq = self.seq_next;
            self.seq_next += 1;
            self.batches_ordered += 1;
            self.requests_ordered += batch.requests.len() as u64;
            let slot = self.slots.entry(seq).or_insert_with(|| Slot::new(view));
            slot.enter_view(view);
            slot.pre_prepare = Some(digest);
            slot.remember_batch(digest, batch.clone());
            slot.claim_pre_prepared(seq, digest, view);
            let id = self.journal(
                vec![JournalRecord::Accepted {
                    view,
                    seq,
                    digest,
                    batch: Some(batch),
                }],
                out,
            );
            self.defer(id, Deferred::PrePrepare { view, seq, digest }, out);
        }
    }

    /// Whether `view` is still the active view: work deferred until a
    /// write was durable is dropped once the view moved on.
    pub(crate) fn is_active_view(&self, view: u64) -> bool {
        view == self.view && self.view_active
    }

    /// Primary, once its batch is durable: count its pre-prepare, send it.
    pub(crate) fn send_pre_prepare(&mut self, view: u64, seq: u64, digest: Digest, out: &mut Out) {
        if !self.is_active_view(view) {
            return;
        }
        let Some(slot) = self.slots.get_mut(&seq).filter(|slot| slot.view == view) else {
            return;
        };
        let Some(batch) = slot.batches.get(&digest).cloned() else {
            return;
        };
        let vote = Vote { view, seq, digest };
        record_vote(
            &mut slot.prepares,
            &mut slot.prepare_voters,
            &self.quorum,
            &self.config,
            self.id,
            vote,
        );
        self.multicast(
            Payload::PrePrepare(PrePrepare {
                view,
                seq,
                digest,
                batch,
            }),
            out,
        );
        self.check_prepared(seq, out);
    }

    pub(crate) fn in_window(&self, seq: u64) -> bool {
        seq > self.low && seq <= self.high_watermark()
    }

    /// A pre-prepare for the current view.
    pub(crate) fn on_pre_prepare(
        &mut self,
        sender: NodeId,
        pre_prepare: PrePrepare,
        out: &mut Out,
    ) {
        let PrePrepare {
            view,
            seq,
            digest,
            batch,
        } = pre_prepare;
        if view < self.view {
            return self.drop_message(DropReason::StaleView);
        }
        if sender != self.config.primary(view) {
            return self.drop_message(DropReason::WrongRole);
        }
        if !self.in_window(seq) {
            return self.drop_message(DropReason::OutsideWatermarks);
        }
        if batch.requests.len() > self.config.batch_size_max {
            return self.drop_message(DropReason::Oversized);
        }
        if batch.digest() != digest {
            self.primary_misbehaved = Some(view);
            return self.drop_message(DropReason::WrongDigest);
        }
        let slot = self.slots.entry(seq).or_insert_with(|| Slot::new(view));
        slot.enter_view(view);
        if let Some(accepted) = slot.pre_prepare {
            if accepted != digest {
                self.primary_misbehaved = Some(view);
                self.drop_message(DropReason::ConflictingPrePrepare);
            }
            return;
        }
        if slot
            .committed
            .as_ref()
            .is_some_and(|(c, _)| c.digest() != digest)
        {
            self.primary_misbehaved = Some(view);
            return self.drop_message(DropReason::ConflictingPrePrepare);
        }
        for request in &batch.requests {
            let known = self.pending.get(request.client).is_some_and(|waiting| {
                Arc::ptr_eq(&waiting.request, request) || waiting.request == *request
            });
            let authentic = known
                || (request.operation.len() <= self.config.operation_bytes_max
                    && self.keys.knows(request.client)
                    && request.verify(&self.keys, &self.config));
            if !authentic {
                self.primary_misbehaved = Some(view);
                return self.drop_message(DropReason::UnauthenticatedRequest);
            }
        }
        let Some(slot) = self.slots.get_mut(&seq) else {
            return;
        };
        slot.pre_prepare = Some(digest);
        slot.remember_batch(digest, batch.clone());
        slot.claim_pre_prepared(seq, digest, view);
        let vote = Vote { view, seq, digest };
        record_vote(
            &mut slot.prepares,
            &mut slot.prepare_voters,
            &self.quorum,
            &self.config,
            sender,
            vote,
        );
        let id = self.journal(
            vec![JournalRecord::Accepted {
                view,
                seq,
                digest,
                batch: Some(batch),
            }],
            out,
        );
        self.defer(id, Deferred::Prepare { view, seq, digest }, out);
        self.check_prepared(seq, out);
    }

    /// Backup, once the pre-prepare is durable: count its prepare, send it.
    pub(crate) fn send_prepare(&mut self, view: u64, seq: u64, digest: Digest, out: &mut Out) {
        if self.is_primary() {
            return;
        }
        if !self.is_active_view(view) {
            return;
        }
        let Some(slot) = self.slots.get_mut(&seq).filter(|slot| slot.view == view) else {
            return;
        };
        if slot.pre_prepare != Some(digest) || slot.prepare_sent {
            return;
        }
        slot.prepare_sent = true;
        let vote = Vote { view, seq, digest };
        record_vote(
            &mut slot.prepares,
            &mut slot.prepare_voters,
            &self.quorum,
            &self.config,
            self.id,
            vote,
        );
        self.multicast(Payload::Prepare(vote), out);
        self.check_prepared(seq, out);
    }

    /// A prepare (`commit: false`) or commit for the current view.
    pub(crate) fn on_vote(&mut self, sender: NodeId, vote: Vote, commit: bool, out: &mut Out) {
        if vote.view < self.view {
            return self.drop_message(DropReason::StaleView);
        }
        if !commit && sender == self.config.primary(vote.view) {
            return self.drop_message(DropReason::WrongRole);
        }
        if vote.seq <= self.low {
            // Late: below the stable checkpoint, nothing more to do.
            return;
        }
        if vote.seq > self.high_watermark() {
            return self.drop_message(DropReason::OutsideWatermarks);
        }
        let slot = self
            .slots
            .entry(vote.seq)
            .or_insert_with(|| Slot::new(vote.view));
        slot.enter_view(vote.view);
        if commit {
            record_vote(
                &mut slot.commits,
                &mut slot.commit_voters,
                &self.quorum,
                &self.config,
                sender,
                vote,
            );
            self.check_committed(vote.seq, out);
        } else {
            record_vote(
                &mut slot.prepares,
                &mut slot.prepare_voters,
                &self.quorum,
                &self.config,
                sender,
                vote,
            );
            self.check_prepared(vote.seq, out);
        }
    }

    /// Prepared: the pre-prepare and `2f` matching prepares — `2f + 1`
    /// votes for its digest. Then persist that, and commit.
    pub(crate) fn check_prepared(&mut self, seq: u64, out: &mut Out) {
        let view = self.view;
        let Some(slot) = self.slots.get_mut(&seq) else {
            return;
        };
        if slot.view != view || slot.prepared.is_some() {
            return;
        }
        let Some(digest) = slot.pre_prepare else {
            return;
        };
        // The primary's pre-prepare is one of the votes: counted at once at
        // a backup, once durable at the primary itself.
        let primary = self.config.position(self.config.primary(view));
        if !primary.is_some_and(|position| slot.prepare_voters.contains(position)) {
            return;
        }
        let Some(votes) = slot.prepares.get(&digest).and_then(VoteTally::certificate) else {
            return;
        };
        slot.prepared = Some(PreparedCertificate::new(votes.with_issued_at(self.now)));
        slot.p = Some(crate::Claim { seq, digest, view });
        slot.prune_q();
        let id = self.journal(vec![JournalRecord::Prepared { view, seq, digest }], out);
        self.defer(id, Deferred::Commit { view, seq, digest }, out);
    }

    /// Once prepared is durable: count its commit, send it.
    pub(crate) fn send_commit(&mut self, view: u64, seq: u64, digest: Digest, out: &mut Out) {
        if !self.is_active_view(view) {
            return;
        }
        let Some(slot) = self.slots.get_mut(&seq).filter(|slot| slot.view == view) else {
            return;
        };
        if slot.commit_sent {
            return;
        }
        slot.commit_sent = true;
        let vote = Vote { view, seq, digest };
        record_vote(
            &mut slot.commits,
            &mut slot.commit_voters,
            &self.quorum,
            &self.config,
            self.id,
            vote,
        );
        self.multicast(Payload::Commit(vote), out);
        self.check_committed(seq, out);
    }

    /// Committed: `2f + 1` matching commits, so at least `f + 1` correct
    /// replicas prepared the digest and it survives every view change.
    pub(crate) fn check_committed(&mut self, seq: u64, out: &mut Out) {
        let Some(slot) = self.slots.get_mut(&seq) else {
            return;
        };
        if slot.committed.is_some() {
            return;
        }
        let Some(votes) = slot.commits.values().find_map(VoteTally::certificate) else {
            return;
        };
        let certificate = CommittedCertificate::new(votes.with_issued_at(self.now));
        let record = JournalRecord::Committed {
            view: certificate.view(),
            seq,
            digest: certificate.digest(),
            voters: certificate.voters().collect(),
        };
        let id = self.journal(vec![record], out);
        if let Some(slot) = self.slots.get_mut(&seq) {
            slot.committed = Some((certificate, id));
        }
        self.try_execute(out);
    }

    /// Executes committed batches in sequence order, as far as they go.
    pub(crate) fn try_execute(&mut self, out: &mut Out) {
        loop {
            if self.transfer.is_some() {
                return;
            }
            let seq = self.last_executed + 1;
            let Some(slot) = self.slots.get(&seq) else {
                break;
            };
            let Some((certificate, write)) = &slot.committed else {
                break;
            };
            let digest = certificate.digest();
            let write = *write;
            let Some(batch) = slot.batches.get(&digest).cloned() else {
                // Fetched by the next retransmission round.
                break;
            };
            self.execute(seq, digest, &batch, write, out);
            self.last_executed = seq;
            if seq.is_multiple_of(self.config.checkpoint_interval) {
                self.take_checkpoint(seq, out);
            }
        }
        self.try_issue_batches(out);
    }

    fn execute(
        &mut self,
        seq: u64,
        digest: Digest,
        batch: &Batch,
        write: PersistId,
        out: &mut Out,
    ) {
        let mut progress = false;
        if !batch.is_null() {
            self.app.begin_batch(seq);
        }
        for request in &batch.requests {
            let client = request.client;
            let timestamp = request.timestamp;
            // One search of the client table: the record is updated in
            // place, and the reply gets the result the table keeps a copy of.
            let executed = match self.clients.get_mut(&client) {
                Some(record) if timestamp <= record.timestamp => None,
                Some(record) => {
                    let result = self.app.apply(&request.operation);
                    record.timestamp = timestamp;
                    record.seq = seq;
                    record.result.clone_from(&result);
                    Some(result)
                }
                None => {
                    let result = self.app.apply(&request.operation);
                    let record = ClientRecord {
                        timestamp,
                        result: result.clone(),
                        seq,
                    };
                    self.clients.insert(client, record);
                    Some(result)
                }
            };
            if let Some(result) = executed
                && !self.replaying
            {
                let gateway = self.gateway.remove(&(client, timestamp));
                self.reply(client, timestamp, result, gateway, write, out);
            }
            if self.pending.remove_executed(client, timestamp) {
                progress = true;
                if self
                    .timer_for
                    .is_some_and(|(c, t)| c == client && t <= timestamp)
                {
                    self.restart_request_timer();
                }
            }
        }
        if progress && self.view_active {
            // Progress in a working view: the next suspicion starts from the
            // base timeout again.
            self.timeout = self.config.view_change_timeout;
        }
        if self.executions.len() == EXECUTIONS_KEPT {
            self.executions.pop_front();
        }
        self.executions.push_back((seq, digest));
        self.executions_total += 1;
    }

    /// The request the timer waited for executed: wait for the oldest
    /// other one, from now.
    pub(crate) fn restart_request_timer(&mut self) {
        match self.pending.oldest() {
            Some(waiting) if self.view_active => {
                self.timer = Some(self.now + self.timeout);
                self.timer_for = Some(waiting);
            }
            _ => {
                self.timer = None;
                self.timer_for = None;
            }
        }
    }

    /// Answers `client`'s request at `timestamp` with `result` (the reply
    /// cache's copy), once write `after` (the commit it depends on) is
    /// durable.
    fn reply(
        &mut self,
        client: NodeId,
        timestamp: u64,
        result: Vec<u8>,
        gateway: Option<RequestId>,
        after: PersistId,
        out: &mut Out,
    ) {
        let reply = Reply {
            view: self.view,
            timestamp,
            client,
            replica: self.id,
            result,
        };
        let envelope =
            crate::Envelope::seal_for(&self.keys, &self.config, Payload::Reply(reply), client);
        self.defer(
            after,
            Deferred::Reply {
                client,
                envelope,
                gateway,
            },
            out,
        );
    }
}

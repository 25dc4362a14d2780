//! View changes (Castro and Liskov, OSDI 1999, §4.4, with the MAC-based
//! decision of TOCS 2002, §4.5): leaving a view whose primary is suspected,
//! joining when `f + 1` others have, and the new primary's new view that
//! carries every request committed before into the next view.

use std::collections::BTreeSet;

use crate::decision::{check_view_change, decide_new_view};
use crate::normal_case::record_vote;
use crate::replica::{Deferred, Out, Slot, StoredViewChange};
use crate::{
    Batch, CheckpointCertificate, Claim, DropReason, Envelope, JournalRecord, NewView,
    NewViewDecision, Payload, Replica, StateMachine, ViewChange, ViewChangeCertificate, Vote,
};

impl<S: StateMachine> Replica<S> {
    /// This replica's view change for its current view: its stable
    /// checkpoint's proof, P and Q.
    pub(crate) fn build_view_change(&self) -> Envelope {
        let mut prepared: Vec<Claim> = Vec::new();
        let mut pre_prepared: Vec<Claim> = Vec::new();
        for (seq, slot) in self.slots.range(self.low + 1..=self.high_watermark()) {
            if let Some(p) = slot.p.filter(|p| p.view < self.view) {
                prepared.push(Claim { seq: *seq, ..p });
            }
            pre_prepared.extend(slot.q.iter().filter(|claim| claim.view < self.view).map(
                |claim| Claim {
                    seq: *seq,
                    ..*claim
                },
            ));
        }
        pre_prepared.sort_by_key(|claim| (claim.seq, claim.digest));
        let view_change = ViewChange {
            view: self.view,
            checkpoint: self.stable.as_ref().map(|stable| stable.proof().clone()),
            prepared,
            pre_prepared,
        };
        Envelope::seal_for_replicas(
            &self.keys,
            &self.config,
            Payload::ViewChange(Box::new(view_change)),
        )
    }

    /// Leaves the current view for `target`: persist that, then send the
    /// view change.
    pub(crate) fn start_view_change(&mut self, target: u64, out: &mut Out) {
        if target <= self.view {
            return;
        }
        self.view = target;
        self.view_active = false;
        self.timer = None;
        self.timer_for = None;
        self.new_view = None;
        self.view_change_proof = None;
        self.own_view_change = None;
        self.primary_misbehaved = None;
        self.pending.unbatch_all();
        let id = self.persist_view(out);
        self.defer(id, Deferred::ViewChange { view: target }, out);
    }

    pub(crate) fn send_view_change(&mut self, view: u64, out: &mut Out) {
        if view != self.view || self.view_active {
            return;
        }
        let envelope = self.build_view_change();
        self.own_view_change = Some(envelope.clone());
        self.record_view_change(envelope.clone(), self.stable.clone());
        self.multicast_envelope(&envelope, out);
        self.after_view_change_recorded(out);
    }

    pub(crate) fn record_view_change(
        &mut self,
        envelope: Envelope,
        checkpoint: Option<CheckpointCertificate>,
    ) {
        self.view_changes.insert(
            envelope.sender,
            StoredViewChange {
                envelope,
                checkpoint,
            },
        );
    }

    /// A signed view change, its signature already checked.
    pub(crate) fn on_view_change(&mut self, envelope: Envelope, out: &mut Out) {
        let Payload::ViewChange(view_change) = &envelope.payload else {
            return;
        };
        let sender = envelope.sender;
        if view_change.view < self.view || (view_change.view == self.view && self.view_active) {
            // A replica still asking for a view already entered: it missed
            // the new view, so pass it on.
            if view_change.view == self.view
                && let Some(new_view) = &self.new_view
            {
                out.push(tessera_core::Action::Send {
                    to: sender,
                    message: new_view.clone(),
                });
            }
            return self.drop_message(DropReason::StaleView);
        }
        if let Some(stored) = self.view_changes.get(&sender) {
            if stored.envelope == envelope {
                return;
            }
            if stored.view() > view_change.view {
                return self.drop_message(DropReason::StaleView);
            }
        }
        let checkpoint = match check_view_change(&self.config, &self.keys, sender, view_change) {
            Ok(checkpoint) => checkpoint,
            Err(_) => return self.drop_message(DropReason::InvalidViewChange),
        };
        if let Some(certificate) = &checkpoint
            && certificate.seq() > self.low
        {
            self.adopt_stable(certificate.clone(), out);
        }
        self.record_view_change(envelope, checkpoint);
        // f + 1 replicas want a later view: at least one correct replica
        // does, so join the smallest such view rather than wait for a timer.
        let later: Vec<u64> = self
            .view_changes
            .values()
            .filter(|stored| stored.envelope.sender != self.id)
            .map(StoredViewChange::view)
            .filter(|view| *view > self.view)
            .collect();
        if later.len() >= self.config.weak_quorum_size()
            && let Some(target) = later.iter().min().copied()
        {
            self.trigger = "f + 1 replicas asked for a later view";
            self.start_view_change(target, out);
            return;
        }
        self.after_view_change_recorded(out);
    }

    /// Arms the new-view timer once `2f + 1` replicas asked for this view,
    /// and lets its primary decide.
    fn after_view_change_recorded(&mut self, out: &mut Out) {
        if self.view_active || self.own_view_change.is_none() {
            return;
        }
        let count = self
            .view_changes
            .values()
            .filter(|stored| stored.view() == self.view)
            .count();
        if count >= self.config.quorum_size() && self.timer.is_none() {
            self.timer = Some(self.now + self.timeout);
        }
        if self.is_primary() {
            self.try_new_view(out);
        }
    }

    /// The new primary decides from the view changes it holds, if it can.
    fn try_new_view(&mut self, out: &mut Out) {
        let stored: Vec<&StoredViewChange> = self
            .view_changes
            .values()
            .filter(|stored| stored.view() == self.view)
            .collect();
        let view_changes: Vec<&ViewChange> = stored
            .iter()
            .filter_map(|stored| match &stored.envelope.payload {
                Payload::ViewChange(view_change) => Some(&**view_change),
                _ => None,
            })
            .collect();
        let Ok(decision) = decide_new_view(&self.config, &view_changes) else {
            return;
        };
        let checkpoint = stored
            .iter()
            .filter_map(|stored| stored.checkpoint.clone())
            .find(|certificate| certificate.seq() == decision.checkpoint_seq);
        let new_view = NewView {
            view: self.view,
            view_changes: stored
                .iter()
                .map(|stored| stored.envelope.clone())
                .collect(),
            pre_prepares: decision.pre_prepares.clone(),
        };
        let envelope =
            Envelope::seal_for_replicas(&self.keys, &self.config, Payload::NewView(new_view));
        self.install_new_view(envelope, decision, checkpoint, out);
    }

    /// A signed new view, its signature already checked: accepted if it
    /// follows from the view changes it carries.
    pub(crate) fn on_new_view(&mut self, envelope: Envelope, out: &mut Out) {
        let Payload::NewView(new_view) = &envelope.payload else {
            return;
        };
        if envelope.sender != self.config.primary(new_view.view) {
            return self.drop_message(DropReason::WrongRole);
        }
        if new_view.view < self.view || (new_view.view == self.view && self.view_active) {
            return self.drop_message(DropReason::StaleView);
        }
        let mut senders = BTreeSet::new();
        let mut view_changes = Vec::with_capacity(new_view.view_changes.len());
        let mut certificates = Vec::new();
        for inner in &new_view.view_changes {
            let Payload::ViewChange(view_change) = &inner.payload else {
                return self.drop_message(DropReason::InvalidNewView);
            };
            if view_change.view != new_view.view
                || !self.config.is_replica(inner.sender)
                || !senders.insert(inner.sender)
            {
                return self.drop_message(DropReason::InvalidNewView);
            }
            let known = self
                .view_changes
                .get(&inner.sender)
                .filter(|stored| stored.envelope == *inner);
            let checkpoint = match known {
                Some(stored) => stored.checkpoint.clone(),
                None => {
                    if inner.verify_signature(&self.keys).is_err() {
                        return self.drop_message(DropReason::InvalidNewView);
                    }
                    match check_view_change(&self.config, &self.keys, inner.sender, view_change) {
                        Ok(checkpoint) => checkpoint,
                        Err(_) => return self.drop_message(DropReason::InvalidNewView),
                    }
                }
            };
            certificates.extend(checkpoint);
            view_changes.push(&**view_change);
        }
        let decision = match decide_new_view(&self.config, &view_changes) {
            Ok(decision) if decision.pre_prepares == new_view.pre_prepares => decision,
            _ => return self.drop_message(DropReason::InvalidNewView),
        };
        let checkpoint = certificates
            .into_iter()
            .find(|certificate| certificate.seq() == decision.checkpoint_seq);
        self.install_new_view(envelope.clone(), decision, checkpoint, out);
    }

    /// Enters the new view: adopt its checkpoint, accept its pre-prepares,
    /// persist both, then prepare them (or, at the primary, send the new
    /// view).
    fn install_new_view(
        &mut self,
        envelope: Envelope,
        decision: NewViewDecision,
        checkpoint: Option<CheckpointCertificate>,
        out: &mut Out,
    ) {
        let Payload::NewView(new_view) = &envelope.payload else {
            return;
        };
        let view = new_view.view;
        let primary = self.config.primary(view);
        let is_primary = primary == self.id;
        self.view = view;
        self.view_active = true;
        self.view_change_proof = ViewChangeCertificate::new(
            &self.config,
            view,
            &new_view.view_changes,
            decision.checkpoint_seq,
            decision.pre_prepares.len(),
        )
        .ok();
        self.new_view = Some(envelope.clone());
        self.timer = None;
        self.timer_for = None;
        self.primary_misbehaved = None;
        self.view_changes.retain(|_, stored| stored.view() > view);
        self.own_view_change = None;
        if let Some(certificate) = checkpoint
            && certificate.seq() > self.low
        {
            self.adopt_stable(certificate, out);
        }
        let null = Batch::null_digest();
        let mut records = vec![JournalRecord::NewView(envelope.clone())];
        let mut max_seq = self.low;
        for &(seq, digest) in &decision.pre_prepares {
            if seq <= self.low {
                continue;
            }
            max_seq = max_seq.max(seq);
            let slot = self.slots.entry(seq).or_insert_with(|| Slot::new(view));
            slot.enter_view(view);
            if digest == null {
                slot.remember_batch(digest, Batch::null());
            }
            slot.pre_prepare = Some(digest);
            slot.claim_pre_prepared(seq, digest, view);
            if !is_primary {
                let vote = Vote { view, seq, digest };
                record_vote(
                    &mut slot.prepares,
                    &mut slot.prepare_voters,
                    &self.quorum,
                    &self.config,
                    primary,
                    vote,
                );
            }
            let batch = slot.batches.get(&digest).cloned();
            if is_primary && let Some(batch) = &batch {
                for request in &batch.requests {
                    self.pending.mark_batched(request.client, request.timestamp);
                }
            }
            records.push(JournalRecord::Accepted {
                view,
                seq,
                digest,
                batch,
            });
        }
        self.seq_next = max_seq + 1;
        self.persist_view(out);
        let id = self.journal(records, out);
        if is_primary {
            self.defer(id, Deferred::NewView { view }, out);
        } else {
            self.defer(id, Deferred::NewViewPrepares { view }, out);
        }
        self.restart_request_timer();
        self.trigger = "a new view accepted";
        self.replay_future(out);
        self.try_execute(out);
    }

    /// The new view that started `view`, if `view` is still the active
    /// view.
    fn new_view_of(&self, view: u64) -> Option<(Envelope, Vec<(u64, crate::Digest)>)> {
        if !self.is_active_view(view) {
            return None;
        }
        let envelope = self.new_view.clone()?;
        let Payload::NewView(new_view) = &envelope.payload else {
            return None;
        };
        let pre_prepares = new_view.pre_prepares.clone();
        Some((envelope, pre_prepares))
    }

    /// The new primary, once its new view is durable: count its
    /// pre-prepares and send the new view.
    pub(crate) fn send_new_view(&mut self, view: u64, out: &mut Out) {
        let Some((envelope, pre_prepares)) = self.new_view_of(view) else {
            return;
        };
        for &(seq, digest) in &pre_prepares {
            if let Some(slot) = self.slots.get_mut(&seq)
                && slot.view == view
                && slot.pre_prepare == Some(digest)
            {
                let vote = Vote { view, seq, digest };
                record_vote(
                    &mut slot.prepares,
                    &mut slot.prepare_voters,
                    &self.quorum,
                    &self.config,
                    self.id,
                    vote,
                );
            }
        }
        self.multicast_envelope(&envelope, out);
        for &(seq, _) in &pre_prepares {
            self.check_prepared(seq, out);
        }
    }

    /// A backup, once the new view is durable: prepare its pre-prepares.
    pub(crate) fn send_new_view_prepares(&mut self, view: u64, out: &mut Out) {
        let Some((_, pre_prepares)) = self.new_view_of(view) else {
            return;
        };
        for &(seq, digest) in &pre_prepares {
            self.send_prepare(view, seq, digest, out);
        }
    }
}

//! Checkpoints, watermarks, garbage collection and state transfer
//! (Castro and Liskov, OSDI 1999, §4.3).
//!
//! Every `K` sequence numbers a replica encodes its state (the
//! application's snapshot and each client's last reply), persists it, and
//! multicasts a signed checkpoint message with its digest. `2f + 1`
//! matching messages make the checkpoint stable: the proof is kept, the low
//! watermark moves up to it, and everything below is discarded. A replica
//! that learns of a stable checkpoint above what it executed fetches the
//! state from one of the signers and checks it against the digest.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_core::NodeId;

use crate::replica::{ClientRecord, Deferred, Out, Transfer};
use crate::wire::{Reader, Sink};
use crate::{
    Checkpoint, CheckpointCertificate, CheckpointProof, Digest, DropReason, Envelope, Fetch,
    Payload, PbftError, PbftWrite, Replica, StateData, StateMachine,
};

impl<S: StateMachine> Replica<S> {
    /// The state a checkpoint certifies: the application's snapshot, then
    /// each client's last timestamp and result.
    fn encode_state(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_prefixed(&self.app.snapshot());
        out.put_len(self.clients.len());
        for (client, record) in &self.clients {
            out.put_u64(*client);
            out.put_u64(record.timestamp);
            out.put_prefixed(&record.result);
        }
        out
    }

    /// Replaces the state with a checkpoint's, executed through `seq`.
    pub(crate) fn install_state(&mut self, seq: u64, state: Arc<Vec<u8>>) -> Result<(), PbftError> {
        let mut reader = Reader::new(&state);
        let app = reader.prefixed("application state", usize::MAX)?;
        let count = reader.count("clients", 8 + 8 + 4, usize::MAX)?;
        let mut clients = BTreeMap::new();
        for _ in 0..count {
            let client = reader.u64()?;
            let timestamp = reader.u64()?;
            let result = reader.prefixed("result", usize::MAX)?.to_vec();
            clients.insert(
                client,
                ClientRecord {
                    timestamp,
                    result,
                    seq,
                },
            );
        }
        reader.finish()?;
        self.app.restore(app).map_err(PbftError::Malformed)?;
        self.clients = clients;
        self.last_executed = seq;
        self.own_checkpoints
            .insert(seq, (Digest::of(&state), state));
        let clients = &self.clients;
        self.pending.retain(|waiting| {
            clients
                .get(&waiting.request.client)
                .is_none_or(|r| r.timestamp < waiting.request.timestamp)
        });
        Ok(())
    }

    /// Executed through a checkpoint sequence number: persist the state,
    /// then sign and send the checkpoint.
    pub(crate) fn take_checkpoint(&mut self, seq: u64, out: &mut Out) {
        let state = Arc::new(self.encode_state());
        let digest = Digest::of(&state);
        self.own_checkpoints.insert(seq, (digest, state.clone()));
        let id = self.persist(PbftWrite::Checkpoint { seq, state }, out);
        self.defer(id, Deferred::Checkpoint { seq, digest }, out);
    }

    pub(crate) fn send_checkpoint(&mut self, seq: u64, digest: Digest, out: &mut Out) {
        if seq <= self.low {
            return;
        }
        let envelope = Envelope::seal_for_replicas(
            &self.keys,
            &self.config,
            Payload::Checkpoint(Checkpoint { seq, digest }),
        );
        self.multicast_envelope(&envelope, out);
        self.checkpoint_votes
            .entry(seq)
            .or_default()
            .insert(self.id, envelope);
        self.check_stable(seq, out);
    }

    /// A signed checkpoint message, its signature already checked.
    pub(crate) fn on_checkpoint(&mut self, envelope: Envelope, out: &mut Out) {
        let Payload::Checkpoint(checkpoint) = envelope.payload else {
            return;
        };
        let k = self.config.checkpoint_interval;
        if checkpoint.seq == 0 || checkpoint.seq % k != 0 {
            return self.drop_message(DropReason::InvalidCheckpoint);
        }
        if checkpoint.seq <= self.low {
            // Late: the checkpoint is stable already.
            return;
        }
        self.peer_progress = self.peer_progress.max(checkpoint.seq);
        if checkpoint.seq > self.high_watermark() {
            // Far ahead: this replica is behind, and will learn the stable
            // checkpoint's proof through retransmission.
            return self.drop_message(DropReason::OutsideWatermarks);
        }
        let votes = self.checkpoint_votes.entry(checkpoint.seq).or_default();
        votes.entry(envelope.sender).or_insert(envelope);
        self.check_stable(checkpoint.seq, out);
    }

    /// `2f + 1` matching checkpoint messages: the checkpoint is stable.
    fn check_stable(&mut self, seq: u64, out: &mut Out) {
        let Some(votes) = self.checkpoint_votes.get(&seq) else {
            return;
        };
        let mut by_digest: BTreeMap<Digest, Vec<&Envelope>> = BTreeMap::new();
        for envelope in votes.values() {
            if let Payload::Checkpoint(checkpoint) = &envelope.payload {
                by_digest
                    .entry(checkpoint.digest)
                    .or_default()
                    .push(envelope);
            }
        }
        let Some((digest, messages)) = by_digest
            .into_iter()
            .find(|(_, messages)| messages.len() >= self.config.quorum_size())
        else {
            return;
        };
        let proof = CheckpointProof {
            seq,
            digest,
            messages: messages.into_iter().cloned().collect(),
        };
        match CheckpointCertificate::from_checked(proof, &self.config) {
            Ok(certificate) => self.adopt_stable(certificate, out),
            Err(_) => self.drop_message(DropReason::InvalidCheckpoint),
        }
    }

    /// A stable checkpoint above the low watermark: move the window,
    /// discard what lies below, and catch up if this replica is behind.
    pub(crate) fn adopt_stable(&mut self, certificate: CheckpointCertificate, out: &mut Out) {
        if certificate.seq() <= self.low {
            return;
        }
        let low = certificate.seq();
        let diverged = self
            .own_checkpoints
            .get(&low)
            .is_some_and(|(digest, _)| *digest != certificate.digest());
        self.low = low;
        self.stable = Some(certificate);
        self.slots.retain(|seq, _| *seq > low);
        self.checkpoint_votes.retain(|seq, _| *seq > low);
        self.own_checkpoints.retain(|seq, _| *seq >= low);
        self.seq_next = self.seq_next.max(low + 1);
        if self.last_executed < low || diverged {
            self.begin_transfer_to_stable();
        }
        self.compact_journal(out);
        self.try_execute(out);
    }

    pub(crate) fn begin_transfer_to_stable(&mut self) {
        let Some(stable) = &self.stable else {
            return;
        };
        let sources: Vec<NodeId> = stable.voters().filter(|voter| *voter != self.id).collect();
        self.transfer = Some(Transfer {
            seq: stable.seq(),
            digest: stable.digest(),
            sources,
            attempts: 0,
            next_ask: self.now,
        });
    }

    /// Asks the next signer of the stable checkpoint for its state.
    pub(crate) fn ask_for_state(&mut self, out: &mut Out) {
        let Some(transfer) = &mut self.transfer else {
            return;
        };
        if self.now < transfer.next_ask || transfer.sources.is_empty() {
            return;
        }
        let source = transfer.sources[transfer.attempts % transfer.sources.len()];
        transfer.attempts += 1;
        transfer.next_ask = self.now + self.config.status_interval;
        let fetch = Fetch {
            seq: transfer.seq,
            digest: transfer.digest,
        };
        self.send(source, Payload::FetchState(fetch), out);
    }

    pub(crate) fn on_fetch_state(&mut self, sender: NodeId, fetch: Fetch, out: &mut Out) {
        if let Some((digest, state)) = self.own_checkpoints.get(&fetch.seq)
            && *digest == fetch.digest
        {
            let data = StateData {
                seq: fetch.seq,
                state: state.clone(),
            };
            self.send(sender, Payload::State(data), out);
        }
    }

    /// A checkpoint's state: installed if it is the one the transfer waits
    /// for and its digest matches the stable checkpoint's.
    pub(crate) fn on_state(&mut self, data: StateData, out: &mut Out) {
        let Some(transfer) = &self.transfer else {
            return self.drop_message(DropReason::Unexpected);
        };
        if transfer.seq != data.seq {
            return self.drop_message(DropReason::Unexpected);
        }
        if Digest::of(&data.state) != transfer.digest {
            return self.drop_message(DropReason::WrongDigest);
        }
        let seq = data.seq;
        if self.install_state(seq, data.state.clone()).is_err() {
            // 2f + 1 replicas signed this digest, so a correct one produced
            // these bytes: they decode unless the application changed.
            return self.drop_message(DropReason::Malformed);
        }
        self.transfer = None;
        self.persist(
            PbftWrite::Checkpoint {
                seq,
                state: data.state,
            },
            out,
        );
        self.restart_request_timer();
        self.try_execute(out);
    }

    /// A stable checkpoint's proof from a peer.
    pub(crate) fn on_stable_proof(&mut self, proof: CheckpointProof, out: &mut Out) {
        if proof.seq <= self.low {
            return self.drop_message(DropReason::StaleView);
        }
        if !proof.seq.is_multiple_of(self.config.checkpoint_interval) {
            return self.drop_message(DropReason::InvalidCheckpoint);
        }
        match CheckpointCertificate::verify(proof, &self.config, &self.keys) {
            Ok(certificate) => self.adopt_stable(certificate, out),
            Err(_) => self.drop_message(DropReason::InvalidCheckpoint),
        }
    }
}

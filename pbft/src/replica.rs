//! The PBFT replica: state, inputs, outputs and timers. The protocol's
//! concerns live in their own files — `normal_case.rs`, `checkpointing.rs`,
//! `view_changing.rs`, `retransmission.rs` — as further `impl` blocks of
//! [`Replica`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurabilityGate, Evidence, EvidenceSummary, Input, InputOf, Instant,
    ModeTracker, NodeId, PersistId, Protocol, RequestId,
};
use tessera_quorum::{Byzantine, MemberSet, Phase, VoteTally};
use tessera_storage::{LogPosition, LogWrite};

use crate::message::PRE_PREPARED_PER_SEQ_MAX;
use crate::waiting_requests::WaitingRequests;
use crate::{
    Batch, CheckpointCertificate, Claim, ClientRequest, CommittedCertificate, Digest, DropCounters,
    DropReason, Envelope, JournalEntry, JournalRecord, Keyring, Payload, PbftConfig, PbftError,
    PbftHardState, PbftMode, PbftWrite, PrePrepareCertificate, PreparedCertificate, Recovered,
    Reply, StateMachine, ViewChangeCertificate,
};

/// Executions a replica remembers, newest last, for invariants.
pub const EXECUTIONS_KEPT: usize = 4096;

/// Requests handed in by a driver ([`Input::Request`]) whose replies are
/// still owed, at most; the oldest are forgotten first.
pub const GATEWAY_REQUESTS_MAX: usize = 4096;

/// Batches a slot remembers by digest (what it pre-prepared in any view,
/// plus fetched ones), at most.
pub(crate) const BATCHES_PER_SLOT_MAX: usize = PRE_PREPARED_PER_SEQ_MAX + 2;

pub(crate) type Tally = VoteTally<Digest, Arc<Byzantine>>;
pub(crate) type Out = Vec<Action<Envelope, PbftWrite, Reply, PbftMode>>;

/// A client's last executed request and its reply: part of the
/// checkpointed state, so every correct replica de-duplicates alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientRecord {
    pub(crate) timestamp: u64,
    pub(crate) result: Vec<u8>,
    /// The sequence number the request executed at — or, for a record
    /// installed by a state transfer, the checkpoint's (it executed at or
    /// before it). Not part of the checkpointed state.
    pub(crate) seq: u64,
}

/// What one sequence number holds at this replica.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// The view the fields down to `commit_sent` belong to; older ones are
    /// reset when a later view touches the slot.
    pub(crate) view: u64,
    pub(crate) pre_prepare: Option<Digest>,
    pub(crate) prepares: BTreeMap<Digest, Tally>,
    pub(crate) prepare_voters: MemberSet,
    pub(crate) commits: BTreeMap<Digest, Tally>,
    pub(crate) commit_voters: MemberSet,
    pub(crate) prepared: Option<PreparedCertificate>,
    pub(crate) prepare_sent: bool,
    pub(crate) commit_sent: bool,
    // Across views:
    pub(crate) committed: Option<(CommittedCertificate, PersistId)>,
    /// P: the latest view this replica prepared a batch in, durably.
    pub(crate) p: Option<Claim>,
    /// Q: for each digest, the latest view it pre-prepared it in.
    pub(crate) q: Vec<Claim>,
    pub(crate) batches: BTreeMap<Digest, Arc<Batch>>,
}

impl Slot {
    pub(crate) fn new(view: u64) -> Self {
        Slot {
            view,
            pre_prepare: None,
            prepares: BTreeMap::new(),
            prepare_voters: MemberSet::EMPTY,
            commits: BTreeMap::new(),
            commit_voters: MemberSet::EMPTY,
            prepared: None,
            prepare_sent: false,
            commit_sent: false,
            committed: None,
            p: None,
            q: Vec::new(),
            batches: BTreeMap::new(),
        }
    }

    /// Moves the slot's per-view state to `view`.
    pub(crate) fn enter_view(&mut self, view: u64) {
        if self.view != view {
            let kept = Slot {
                committed: self.committed.take(),
                p: self.p.take(),
                q: std::mem::take(&mut self.q),
                batches: std::mem::take(&mut self.batches),
                ..Slot::new(view)
            };
            *self = kept;
        }
    }

    /// Records in Q that `digest` was pre-prepared at `seq` in `view`.
    pub(crate) fn claim_pre_prepared(&mut self, seq: u64, digest: Digest, view: u64) {
        match self.q.iter_mut().find(|claim| claim.digest == digest) {
            Some(claim) => claim.view = claim.view.max(view),
            None => self.q.push(Claim { seq, digest, view }),
        }
        self.prune_q();
    }

    /// Q entries below the view of P are never needed (a decision only
    /// asks Q about views at least P's); beyond the bound, the oldest go.
    pub(crate) fn prune_q(&mut self) {
        if let Some(p) = self.p {
            self.q
                .retain(|claim| claim.view >= p.view || claim.digest == p.digest);
        }
        while self.q.len() > PRE_PREPARED_PER_SEQ_MAX {
            if let Some(oldest) = self
                .q
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.view)
                .map(|(i, _)| i)
            {
                self.q.remove(oldest);
            }
        }
        self.q.sort_by_key(|claim| claim.digest);
    }

    pub(crate) fn remember_batch(&mut self, digest: Digest, batch: Arc<Batch>) {
        if self.batches.len() >= BATCHES_PER_SLOT_MAX && !self.batches.contains_key(&digest) {
            // Keep the batches Q and P name; forget another.
            let named: Vec<Digest> = self
                .q
                .iter()
                .map(|c| c.digest)
                .chain(self.p.map(|p| p.digest))
                .collect();
            if let Some(victim) = self.batches.keys().find(|d| !named.contains(d)).copied() {
                self.batches.remove(&victim);
            } else {
                return;
            }
        }
        self.batches.insert(digest, batch);
    }
}

/// A state transfer under way.
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    pub(crate) seq: u64,
    pub(crate) digest: Digest,
    pub(crate) sources: Vec<NodeId>,
    pub(crate) attempts: usize,
    pub(crate) next_ask: Instant,
}

/// A view change received and checked.
#[derive(Debug, Clone)]
pub(crate) struct StoredViewChange {
    pub(crate) envelope: Envelope,
    pub(crate) checkpoint: Option<CheckpointCertificate>,
}

impl StoredViewChange {
    pub(crate) fn view(&self) -> u64 {
        match &self.envelope.payload {
            Payload::ViewChange(view_change) => view_change.view,
            _ => 0,
        }
    }
}

/// Work a replica does once the writes it depends on are durable.
#[derive(Debug, Clone)]
pub(crate) enum Deferred {
    /// Primary: count its pre-prepare and multicast it.
    PrePrepare { view: u64, seq: u64, digest: Digest },
    /// Backup: count its prepare and multicast it.
    Prepare { view: u64, seq: u64, digest: Digest },
    /// Count its commit and multicast it.
    Commit { view: u64, seq: u64, digest: Digest },
    /// Sign, count and multicast a checkpoint.
    Checkpoint { seq: u64, digest: Digest },
    /// Sign and multicast a view change.
    ViewChange { view: u64 },
    /// Primary: multicast the new view and count its pre-prepares.
    NewView { view: u64 },
    /// Backup: prepare every pre-prepare of the new view.
    NewViewPrepares { view: u64 },
    /// A view reached the disk.
    ViewDurable { view: u64 },
    /// Answer a client.
    Reply {
        client: NodeId,
        envelope: Envelope,
        gateway: Option<RequestId>,
    },
}

/// A PBFT replica of state machine `S`: a sans-IO
/// [`Protocol`](tessera_core::Protocol) node.
///
/// See the crate documentation for the protocol and an example.
pub struct Replica<S> {
    pub(crate) config: Arc<PbftConfig>,
    pub(crate) quorum: Arc<Byzantine>,
    pub(crate) keys: Keyring,
    pub(crate) id: NodeId,
    pub(crate) app: S,
    pub(crate) now: Instant,

    // The view.
    pub(crate) view: u64,
    pub(crate) view_active: bool,
    pub(crate) durable_view: u64,
    pub(crate) new_view: Option<Envelope>,
    pub(crate) view_change_proof: Option<ViewChangeCertificate>,
    pub(crate) view_changes: BTreeMap<NodeId, StoredViewChange>,
    pub(crate) own_view_change: Option<Envelope>,
    /// The view-change timer: a request waits (view active), or a new view
    /// is awaited (view changing).
    pub(crate) timer: Option<Instant>,
    /// The request the timer waits for.
    pub(crate) timer_for: Option<(NodeId, u64)>,
    pub(crate) timeout: Duration,
    pub(crate) primary_misbehaved: Option<u64>,
    pub(crate) trigger: &'static str,

    // Sequence numbers.
    pub(crate) low: u64,
    pub(crate) stable: Option<CheckpointCertificate>,
    pub(crate) last_executed: u64,
    pub(crate) seq_next: u64,
    pub(crate) slots: BTreeMap<u64, Slot>,

    // Requests.
    pub(crate) clients: BTreeMap<NodeId, ClientRecord>,
    pub(crate) pending: WaitingRequests,
    pub(crate) gateway: BTreeMap<(NodeId, u64), RequestId>,
    pub(crate) replaying: bool,

    // Checkpoints.
    pub(crate) own_checkpoints: BTreeMap<u64, (Digest, Arc<Vec<u8>>)>,
    pub(crate) checkpoint_votes: BTreeMap<u64, BTreeMap<NodeId, Envelope>>,
    pub(crate) transfer: Option<Transfer>,

    // Retransmission and liveness.
    pub(crate) status_due: Option<Instant>,
    pub(crate) status_rounds: u64,
    pub(crate) answered: BTreeMap<NodeId, Instant>,
    pub(crate) last_heard: BTreeMap<NodeId, Instant>,
    pub(crate) peer_progress: u64,
    pub(crate) progress: BTreeMap<NodeId, u64>,
    pub(crate) future: VecDeque<(NodeId, Envelope)>,
    pub(crate) announce: bool,
    /// Writes restoring emitted (checkpoints re-taken while re-executing),
    /// performed with the first input.
    pub(crate) boot_actions: Out,

    // Durability and reporting.
    pub(crate) gate: DurabilityGate<Deferred>,
    pub(crate) journal_last: u64,
    pub(crate) mode: ModeTracker<PbftMode>,
    pub(crate) drops: DropCounters,
    pub(crate) executions: VecDeque<(u64, Digest)>,
    pub(crate) executions_total: u64,
    pub(crate) batches_ordered: u64,
    pub(crate) requests_ordered: u64,
}

impl<S: StateMachine> Replica<S> {
    /// A replica starting from nothing: view 0, the application's initial
    /// state `app`, nothing on disk.
    ///
    /// # Errors
    ///
    /// [`PbftError::InvalidParameter`] for an invalid configuration or a
    /// keyring of a node that is not a replica; [`PbftError::UnknownNode`]
    /// if the keyring lacks a replica's keys.
    pub fn new(config: PbftConfig, keys: Keyring, app: S, now: Instant) -> Result<Self, PbftError> {
        Self::recover(config, keys, app, Recovered::default(), now)
    }

    /// A replica restarting from its durable state: `app` is the initial
    /// state, replaced by the newest checkpoint's, and the committed
    /// batches after it are executed again.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`PbftError::Storage`] if the durable
    /// state does not decode.
    pub fn recover(
        config: PbftConfig,
        keys: Keyring,
        app: S,
        recovered: Recovered,
        now: Instant,
    ) -> Result<Self, PbftError> {
        config.validate()?;
        let id = keys.id();
        if !config.is_replica(id) {
            return Err(tessera_core::InvalidParameter::new(
                "keys",
                format!(
                    "node {id} is not one of the replicas {:?}",
                    config.replicas()
                ),
            )
            .into());
        }
        if let Some(missing) = config.replicas().iter().find(|r| !keys.knows(**r)) {
            return Err(PbftError::UnknownNode(*missing));
        }
        let quorum = Arc::new(config.quorum().clone());
        let timeout = config.view_change_timeout;
        let hard_state = recovered.hard_state;
        let mut replica = Replica {
            config: Arc::new(config),
            quorum,
            keys,
            id,
            app,
            now,
            view: hard_state.view,
            view_active: hard_state.view_active,
            durable_view: hard_state.view,
            new_view: None,
            view_change_proof: None,
            view_changes: BTreeMap::new(),
            own_view_change: None,
            timer: None,
            timer_for: None,
            timeout,
            primary_misbehaved: None,
            trigger: "started",
            low: 0,
            stable: None,
            last_executed: 0,
            seq_next: 1,
            slots: BTreeMap::new(),
            clients: BTreeMap::new(),
            pending: WaitingRequests::default(),
            gateway: BTreeMap::new(),
            replaying: false,
            own_checkpoints: BTreeMap::new(),
            checkpoint_votes: BTreeMap::new(),
            transfer: None,
            status_due: None,
            status_rounds: 0,
            answered: BTreeMap::new(),
            last_heard: BTreeMap::new(),
            peer_progress: 0,
            progress: BTreeMap::new(),
            future: VecDeque::new(),
            announce: false,
            boot_actions: Vec::new(),
            gate: DurabilityGate::new(),
            journal_last: recovered.journal_last,
            mode: ModeTracker::new(PbftMode::Normal, now),
            drops: DropCounters::default(),
            executions: VecDeque::new(),
            executions_total: 0,
            batches_ordered: 0,
            requests_ordered: 0,
        };
        replica.restore(recovered)?;
        Ok(replica)
    }

    /// Rebuilds the in-memory state from the durable records.
    fn restore(&mut self, recovered: Recovered) -> Result<(), PbftError> {
        // The stable checkpoint first: it decides which records still matter.
        for record in &recovered.records {
            if let JournalRecord::Stable(proof) = record
                && proof.seq > self.low
            {
                let certificate =
                    CheckpointCertificate::verify(proof.clone(), &self.config, &self.keys)
                        .map_err(|error| {
                            PbftError::Storage(format!("a stable checkpoint on disk: {error}"))
                        })?;
                self.low = proof.seq;
                self.stable = Some(certificate);
            }
        }
        let view = self.view;
        let primary = self.config.primary(view);
        for record in recovered.records {
            match record {
                JournalRecord::Accepted {
                    view: accepted_in,
                    seq,
                    digest,
                    batch,
                } if seq > self.low => {
                    let slot = self.slots.entry(seq).or_insert_with(|| Slot::new(view));
                    slot.claim_pre_prepared(seq, digest, accepted_in);
                    if let Some(batch) = batch {
                        slot.remember_batch(digest, batch);
                    }
                    if accepted_in == view && self.view_active {
                        slot.pre_prepare = Some(digest);
                        slot.prepare_sent = self.id != primary;
                        self.seq_next = self.seq_next.max(seq + 1);
                    }
                }
                JournalRecord::BatchKnown { seq, batch } if seq > self.low => {
                    let slot = self.slots.entry(seq).or_insert_with(|| Slot::new(view));
                    slot.remember_batch(batch.digest(), batch);
                }
                JournalRecord::Prepared {
                    view: prepared_in,
                    seq,
                    digest,
                } if seq > self.low => {
                    let slot = self.slots.entry(seq).or_insert_with(|| Slot::new(view));
                    if slot.p.is_none_or(|p| p.view <= prepared_in) {
                        slot.p = Some(Claim {
                            seq,
                            digest,
                            view: prepared_in,
                        });
                    }
                    if prepared_in == view && self.view_active {
                        slot.commit_sent = true;
                    }
                    slot.prune_q();
                }
                JournalRecord::Committed {
                    view: committed_in,
                    seq,
                    digest,
                    voters,
                } if seq > self.low => {
                    let slot = self.slots.entry(seq).or_insert_with(|| Slot::new(view));
                    if slot.committed.is_none() {
                        let votes = tessera_quorum::QuorumCertificate::from_votes(
                            self.quorum.clone(),
                            Phase::Write,
                            committed_in,
                            seq,
                            digest,
                            &voters,
                        )
                        .map_err(|error| PbftError::Storage(error.to_string()))?;
                        slot.committed = Some((CommittedCertificate::new(votes), PersistId(0)));
                    }
                }
                JournalRecord::NewView(envelope) => {
                    if let Payload::NewView(new_view) = &envelope.payload
                        && new_view.view == view
                        && self.view_active
                    {
                        self.new_view = Some(envelope);
                    }
                }
                _ => {}
            }
        }
        // The own votes recorded above were durable before the crash.
        let primary_position = self.config.position(primary);
        let own_position = self.config.position(self.id);
        for (seq, slot) in &mut self.slots {
            if let Some(digest) = slot.pre_prepare {
                let tally = slot.prepares.entry(digest).or_insert_with(|| {
                    VoteTally::new(self.quorum.clone(), Phase::Write, view, *seq, digest)
                });
                let _ = tally.record(primary, view, *seq, &digest);
                if let Some(position) = primary_position {
                    slot.prepare_voters.insert(position);
                }
                if slot.prepare_sent {
                    let _ = tally.record(self.id, view, *seq, &digest);
                    if let Some(position) = own_position {
                        slot.prepare_voters.insert(position);
                    }
                }
            }
            if slot.commit_sent
                && let Some(p) = slot.p
            {
                let tally = slot.commits.entry(p.digest).or_insert_with(|| {
                    VoteTally::new(self.quorum.clone(), Phase::Write, view, *seq, p.digest)
                });
                let _ = tally.record(self.id, view, *seq, &p.digest);
                if let Some(position) = own_position {
                    slot.commit_voters.insert(position);
                }
            }
        }
        self.seq_next = self.seq_next.max(self.low + 1);
        // The newest checkpoint's state, then the committed batches after it.
        if let Some((seq, state)) = recovered.snapshot {
            self.install_state(seq, state).map_err(|error| {
                PbftError::Storage(format!("checkpoint {seq} on disk: {error}"))
            })?;
        }
        if self.last_executed < self.low {
            self.begin_transfer_to_stable();
        }
        self.replaying = true;
        let mut actions = Vec::new();
        self.try_execute(&mut actions);
        self.replaying = false;
        self.boot_actions = actions;
        if !self.view_active {
            self.own_view_change = Some(self.build_view_change());
            self.announce = true;
        }
        Ok(())
    }

    // ---- Accessors ----------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &PbftConfig {
        &self.config
    }

    /// The view-change timeout now: the configured one, doubled at each
    /// view change that did not complete in time, back to the configured
    /// one once requests execute again.
    pub fn view_change_timeout(&self) -> Duration {
        self.timeout
    }

    /// The replica's view.
    pub fn view(&self) -> u64 {
        self.view
    }

    /// Whether the view is active (`false` during a view change).
    pub fn is_view_active(&self) -> bool {
        self.view_active
    }

    /// The highest view known durable.
    pub fn durable_view(&self) -> u64 {
        self.durable_view
    }

    /// Whether this replica is the primary of its view.
    pub fn is_primary(&self) -> bool {
        self.config.primary(self.view) == self.id
    }

    /// The low watermark: the stable checkpoint's sequence number.
    pub fn low_watermark(&self) -> u64 {
        self.low
    }

    /// The high watermark: the highest sequence number accepted.
    pub fn high_watermark(&self) -> u64 {
        self.low + self.config.watermark_window
    }

    /// The last sequence number executed.
    pub fn last_executed(&self) -> u64 {
        self.last_executed
    }

    /// The last request of `client` this replica executed, from its reply
    /// cache: `(timestamp, sequence number, result)`. The sequence number is
    /// the one the request executed at, or — when the record came with a
    /// state transfer — the checkpoint's, at or after it.
    pub fn last_reply(&self, client: NodeId) -> Option<(u64, u64, &[u8])> {
        self.clients
            .get(&client)
            .map(|record| (record.timestamp, record.seq, record.result.as_slice()))
    }

    /// Whether every write this replica asked for is durable.
    pub fn writes_durable(&self) -> bool {
        self.gate.all_durable()
    }

    /// The application.
    pub fn app(&self) -> &S {
        &self.app
    }

    /// Messages dropped, by reason.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// The stable checkpoint certificate (`None` at the initial state).
    pub fn stable_checkpoint(&self) -> Option<&CheckpointCertificate> {
        self.stable.as_ref()
    }

    /// The proof of the current view (`None` in view 0).
    pub fn view_change_proof(&self) -> Option<&ViewChangeCertificate> {
        self.view_change_proof.as_ref()
    }

    /// The pre-prepare this replica accepted at `seq` in its view.
    pub fn pre_prepare_certificate(&self, seq: u64) -> Option<PrePrepareCertificate> {
        let slot = self.slots.get(&seq)?;
        let digest = slot.pre_prepare.filter(|_| slot.view == self.view)?;
        Some(PrePrepareCertificate::new(
            self.quorum.clone(),
            self.view,
            seq,
            digest,
            self.config.primary(self.view),
        ))
    }

    /// The prepared certificate this replica holds at `seq` in its view.
    pub fn prepared_certificate(&self, seq: u64) -> Option<&PreparedCertificate> {
        self.slots.get(&seq)?.prepared.as_ref()
    }

    /// The committed certificate this replica holds at `seq`.
    pub fn committed_certificate(&self, seq: u64) -> Option<&CommittedCertificate> {
        self.slots
            .get(&seq)?
            .committed
            .as_ref()
            .map(|(certificate, _)| certificate)
    }

    /// Every piece of evidence the replica holds, summarized at `now`.
    pub fn evidence(&self, now: Instant) -> Vec<EvidenceSummary> {
        let mut out = Vec::new();
        if let Some(stable) = &self.stable {
            out.push(stable.summary(now));
        }
        if let Some(proof) = &self.view_change_proof {
            out.push(proof.summary(now));
        }
        for seq in self.slots.keys() {
            if let Some(certificate) = self.pre_prepare_certificate(*seq) {
                out.push(certificate.summary(now));
            }
            if let Some(certificate) = self.prepared_certificate(*seq) {
                out.push(certificate.summary(now));
            }
            if let Some(certificate) = self.committed_certificate(*seq) {
                out.push(certificate.summary(now));
            }
        }
        out
    }

    /// The P claims (prepared batches) of a view change sent now.
    pub fn prepared_claims(&self) -> impl Iterator<Item = Claim> + '_ {
        self.slots.values().filter_map(|slot| slot.p)
    }

    /// The executions remembered, `(sequence number, batch digest)`, oldest
    /// first (the last [`EXECUTIONS_KEPT`]).
    pub fn executions(&self) -> impl DoubleEndedIterator<Item = (u64, Digest)> + '_ {
        self.executions.iter().copied()
    }

    /// Executions since this incarnation started.
    pub fn executions_total(&self) -> u64 {
        self.executions_total
    }

    /// This replica's checkpoints it still holds, `(sequence number,
    /// state digest)`.
    pub fn checkpoints(&self) -> impl Iterator<Item = (u64, Digest)> + '_ {
        self.own_checkpoints
            .iter()
            .map(|(seq, (digest, _))| (*seq, *digest))
    }

    /// Batches ordered (pre-prepared) by this replica as primary, and the
    /// requests in them.
    pub fn ordered(&self) -> (u64, u64) {
        (self.batches_ordered, self.requests_ordered)
    }

    /// Requests received and not yet executed.
    pub fn requests_waiting(&self) -> usize {
        self.pending.len()
    }

    /// The mode transitions recorded, oldest first.
    pub fn mode_history(&self) -> impl Iterator<Item = &tessera_core::ModeTransition<PbftMode>> {
        self.mode.history()
    }

    /// Decodes a message received as bytes, counting it if it does not
    /// decode: what a network driver calls before handing the envelope in.
    pub fn decode_message(&mut self, bytes: &[u8]) -> Option<Envelope> {
        self.drops.decode(bytes, &self.config)
    }

    /// Checks the replica's own bookkeeping: the watermarks and what lies
    /// between them.
    ///
    /// # Errors
    ///
    /// A description of the first inconsistency.
    pub fn validate(&self) -> Result<(), String> {
        let high = self.high_watermark();
        if let Some((seq, _)) = self
            .slots
            .iter()
            .find(|(seq, _)| **seq <= self.low || **seq > high)
        {
            return Err(format!("a slot at {seq} outside ({}, {high}]", self.low));
        }
        if self.stable.as_ref().map_or(0, CheckpointCertificate::seq) != self.low {
            return Err("the low watermark is not the stable checkpoint".to_string());
        }
        if self.transfer.is_none() && self.last_executed < self.low {
            return Err(format!(
                "executed through {} below the stable checkpoint {} without a transfer",
                self.last_executed, self.low
            ));
        }
        if self.seq_next > high + 1 {
            return Err(format!(
                "the next sequence number {} is above {high}",
                self.seq_next
            ));
        }
        Ok(())
    }

    // ---- Output helpers ------------------------------------------------

    pub(crate) fn multicast(&self, payload: Payload, out: &mut Out) {
        let envelope = Envelope::seal_for_replicas(&self.keys, &self.config, payload);
        self.multicast_envelope(&envelope, out);
    }

    pub(crate) fn multicast_envelope(&self, envelope: &Envelope, out: &mut Out) {
        for replica in self.config.replicas() {
            if *replica != self.id {
                out.push(Action::Send {
                    to: *replica,
                    message: envelope.clone(),
                });
            }
        }
    }

    pub(crate) fn send(&self, to: NodeId, payload: Payload, out: &mut Out) {
        let message = Envelope::seal_for(&self.keys, &self.config, payload, to);
        out.push(Action::Send { to, message });
    }

    /// Appends journal records; returns the write's id.
    pub(crate) fn journal(&mut self, records: Vec<JournalRecord>, out: &mut Out) -> PersistId {
        let entries = records
            .into_iter()
            .map(|record| {
                self.journal_last += 1;
                JournalEntry {
                    index: self.journal_last,
                    record,
                }
            })
            .collect();
        self.persist(PbftWrite::Journal(LogWrite::Append(entries)), out)
    }

    pub(crate) fn persist(&mut self, write: PbftWrite, out: &mut Out) -> PersistId {
        let id = self.gate.next_persist_id();
        out.push(Action::Persist { id, write });
        id
    }

    /// Persists the view; returns the write's id.
    pub(crate) fn persist_view(&mut self, out: &mut Out) -> PersistId {
        let state = PbftHardState {
            view: self.view,
            view_active: self.view_active,
        };
        let id = self.persist(PbftWrite::Journal(LogWrite::HardState(state)), out);
        let mut released = Vec::new();
        self.gate
            .after(id, Deferred::ViewDurable { view: self.view }, &mut released);
        self.run_deferred(released, out);
        id
    }

    /// Compacts the journal to what the stable checkpoint leaves needed:
    /// the records still needed are appended again, then everything before
    /// them is purged. In that order, a crash between the two writes leaves
    /// duplicates (which recovery tolerates), never a gap.
    pub(crate) fn compact_journal(&mut self, out: &mut Out) {
        let before = self.journal_last;
        let mut records = Vec::new();
        if let Some(stable) = &self.stable {
            records.push(JournalRecord::Stable(stable.proof().clone()));
        }
        if let Some(new_view) = &self.new_view {
            records.push(JournalRecord::NewView(new_view.clone()));
        }
        for (seq, slot) in &self.slots {
            for claim in &slot.q {
                records.push(JournalRecord::Accepted {
                    view: claim.view,
                    seq: *seq,
                    digest: claim.digest,
                    batch: slot.batches.get(&claim.digest).cloned(),
                });
            }
            for (digest, batch) in &slot.batches {
                if !slot.q.iter().any(|claim| claim.digest == *digest) {
                    records.push(JournalRecord::BatchKnown {
                        seq: *seq,
                        batch: batch.clone(),
                    });
                }
            }
            if let Some(p) = slot.p {
                records.push(JournalRecord::Prepared {
                    view: p.view,
                    seq: *seq,
                    digest: p.digest,
                });
            }
            if let Some((certificate, _)) = &slot.committed {
                records.push(JournalRecord::Committed {
                    view: certificate.view(),
                    seq: *seq,
                    digest: certificate.digest(),
                    voters: certificate.voters().collect(),
                });
            }
        }
        if records.is_empty() || before == 0 {
            return;
        }
        self.journal(records, out);
        self.persist(
            PbftWrite::Journal(LogWrite::PurgeTo(LogPosition::new(before, 0))),
            out,
        );
    }

    /// Counts `reason` and drops the message.
    pub(crate) fn drop_message(&mut self, reason: DropReason) {
        self.drops.count(reason);
    }

    // ---- Durability ------------------------------------------------------

    pub(crate) fn defer(&mut self, after: PersistId, work: Deferred, out: &mut Out) {
        let mut released = Vec::new();
        self.gate.after(after, work, &mut released);
        self.run_deferred(released, out);
    }

    fn on_persisted(&mut self, up_to: PersistId, out: &mut Out) {
        let mut released = Vec::new();
        self.gate.persisted(up_to, &mut released);
        self.run_deferred(released, out);
    }

    fn run_deferred(&mut self, released: Vec<Deferred>, out: &mut Out) {
        for work in released {
            match work {
                Deferred::PrePrepare { view, seq, digest } => {
                    self.send_pre_prepare(view, seq, digest, out)
                }
                Deferred::Prepare { view, seq, digest } => {
                    self.send_prepare(view, seq, digest, out)
                }
                Deferred::Commit { view, seq, digest } => self.send_commit(view, seq, digest, out),
                Deferred::Checkpoint { seq, digest } => self.send_checkpoint(seq, digest, out),
                Deferred::ViewChange { view } => self.send_view_change(view, out),
                Deferred::NewView { view } => self.send_new_view(view, out),
                Deferred::NewViewPrepares { view } => self.send_new_view_prepares(view, out),
                Deferred::ViewDurable { view } => self.durable_view = self.durable_view.max(view),
                Deferred::Reply {
                    client,
                    envelope,
                    gateway,
                } => {
                    if let (Some(id), Payload::Reply(reply)) = (gateway, &envelope.payload) {
                        out.push(Action::Reply {
                            id,
                            response: reply.clone(),
                        });
                    }
                    out.push(Action::Send {
                        to: client,
                        message: envelope,
                    });
                }
            }
        }
    }

    // ---- Inputs ------------------------------------------------------------

    fn on_message(&mut self, from: NodeId, envelope: Envelope, out: &mut Out) {
        // Signed view changes and new views travel relayed; so do client
        // requests a replica relays for the clients of its gateway (they
        // carry the client's own authenticator, checked below).
        let relayable = matches!(
            envelope.payload,
            Payload::NewView(_) | Payload::ViewChange(_)
        ) || (matches!(envelope.payload, Payload::Request(_))
            && self.config.is_replica(from));
        if envelope.sender != from && !relayable {
            return self.drop_message(DropReason::SenderMismatch);
        }
        if !self.keys.knows(envelope.sender) || envelope.sender == self.id {
            return self.drop_message(DropReason::UnknownSender);
        }
        if self.already_handled(&envelope) {
            // A retransmitted view change or new view this replica holds
            // already: no need to check its signatures again.
            return;
        }
        if let Err(PbftError::BadAuthenticator { .. }) = envelope.verify(&self.keys, &self.config) {
            return self.drop_message(DropReason::BadAuthenticator);
        }
        let from_replica = self.config.is_replica(envelope.sender);
        if from_replica && from == envelope.sender {
            self.last_heard.insert(from, self.now);
        }
        if !from_replica && !matches!(envelope.payload, Payload::Request(_)) {
            return self.drop_message(DropReason::UnknownSender);
        }
        self.dispatch(from, envelope, out);
    }

    /// Handles a message already authenticated.
    pub(crate) fn dispatch(&mut self, from: NodeId, envelope: Envelope, out: &mut Out) {
        let sender = envelope.sender;
        match envelope.payload {
            Payload::Request(request) => self.on_request(request, None, out),
            Payload::PrePrepare(pre_prepare) => {
                if self.is_future(pre_prepare.view) {
                    let envelope = Envelope {
                        sender,
                        payload: Payload::PrePrepare(pre_prepare),
                        authenticator: crate::Authenticator::None,
                    };
                    return self.keep_for_later(from, envelope);
                }
                self.on_pre_prepare(sender, pre_prepare, out);
            }
            Payload::Prepare(vote) => {
                if self.is_future(vote.view) {
                    return self.keep_for_later(
                        from,
                        Envelope {
                            sender,
                            payload: Payload::Prepare(vote),
                            authenticator: crate::Authenticator::None,
                        },
                    );
                }
                self.on_vote(sender, vote, false, out);
            }
            Payload::Commit(vote) => {
                if self.is_future(vote.view) {
                    return self.keep_for_later(
                        from,
                        Envelope {
                            sender,
                            payload: Payload::Commit(vote),
                            authenticator: crate::Authenticator::None,
                        },
                    );
                }
                self.on_vote(sender, vote, true, out);
            }
            Payload::Checkpoint(checkpoint) => {
                let envelope = Envelope {
                    sender,
                    payload: Payload::Checkpoint(checkpoint),
                    ..envelope
                };
                self.on_checkpoint(envelope, out);
            }
            Payload::ViewChange(_) => self.on_view_change(envelope, out),
            Payload::NewView(_) => self.on_new_view(envelope, out),
            Payload::Status(status) => self.on_status(sender, status, out),
            Payload::FetchBatch(fetch) => self.on_fetch_batch(sender, fetch, out),
            Payload::Batch(data) => self.on_batch(data, out),
            Payload::FetchState(fetch) => self.on_fetch_state(sender, fetch, out),
            Payload::State(data) => self.on_state(data, out),
            Payload::StableCheckpoint(proof) => self.on_stable_proof(*proof, out),
            Payload::Reply(_) => self.drop_message(DropReason::Unexpected),
        }
    }

    fn already_handled(&self, envelope: &Envelope) -> bool {
        match &envelope.payload {
            Payload::ViewChange(_) => self
                .view_changes
                .get(&envelope.sender)
                .is_some_and(|stored| stored.envelope == *envelope),
            Payload::NewView(_) => self.new_view.as_ref() == Some(envelope),
            _ => false,
        }
    }

    /// Whether a normal-case message for `view` must wait for a view this
    /// replica has not entered.
    fn is_future(&self, view: u64) -> bool {
        view > self.view || (view == self.view && !self.view_active)
    }

    fn keep_for_later(&mut self, from: NodeId, envelope: Envelope) {
        if self.future.len() >= self.config.future_messages_max {
            self.future.pop_front();
            self.drop_message(DropReason::FutureView);
        }
        self.future.push_back((from, envelope));
    }

    /// Handles the kept messages of the view just entered.
    pub(crate) fn replay_future(&mut self, out: &mut Out) {
        let kept = std::mem::take(&mut self.future);
        for (from, envelope) in kept {
            let view = match &envelope.payload {
                Payload::PrePrepare(pre_prepare) => pre_prepare.view,
                Payload::Prepare(vote) | Payload::Commit(vote) => vote.view,
                _ => continue,
            };
            if view == self.view && self.view_active {
                self.dispatch(from, envelope, out);
            } else if view > self.view {
                self.future.push_back((from, envelope));
            }
        }
    }

    fn on_tick(&mut self, out: &mut Out) {
        if self.announce {
            self.announce = false;
            if let Some(envelope) = self.own_view_change.clone() {
                self.record_view_change(envelope.clone(), None);
                self.multicast_envelope(&envelope, out);
            }
        }
        if let Some(deadline) = self.timer
            && self.now >= deadline
            && self.peers_heard() < self.config.quorum_size() - 1
        {
            // Cut off from the others (fewer than 2f heard from lately): a
            // view change started now could not complete, and once sent it
            // could never be taken back — the replica would sit out the
            // current view until the next view change, even after the
            // network heals. Wait (Stalled), and decide again when the
            // timer next expires.
            self.timer = Some(self.now + self.timeout);
        }
        if let Some(deadline) = self.timer
            && self.now >= deadline
        {
            self.timer = None;
            self.timer_for = None;
            if self.view_active {
                self.trigger = "view-change timer expired";
                self.start_view_change(self.view + 1, out);
            } else {
                // The new view did not come in time: try the next primary,
                // waiting twice as long.
                self.timeout = (self.timeout * 2).min(self.config.view_change_timeout_max);
                self.trigger = "view-change timer expired";
                self.start_view_change(self.view + 1, out);
            }
        }
        self.retransmit(out);
    }

    /// Reports a mode change, if the replica's situation calls for one.
    fn update_mode(&mut self, out: &mut Out) {
        let quorum_peers = self.config.quorum_size() - 1;
        let (mode, trigger) = if self.has_work() && self.peers_heard() < quorum_peers {
            (
                PbftMode::Stalled,
                "fewer than 2f peers heard from while work waits",
            )
        } else if !self.view_active {
            (PbftMode::ChangingView, self.trigger)
        } else if self.transfer.is_some() {
            (
                PbftMode::Transferring,
                "a stable checkpoint above the last executed request",
            )
        } else if self.primary_misbehaved == Some(self.view) {
            (PbftMode::Suspecting, "the primary sent an invalid message")
        } else if self
            .timer
            .is_some_and(|deadline| self.now >= deadline.saturating_sub(self.timeout / 2))
        {
            (PbftMode::Suspecting, "a request waits too long")
        } else {
            let trigger = match self.mode.current() {
                PbftMode::Stalled => "2f peers heard from again",
                PbftMode::ChangingView => "a new view accepted",
                PbftMode::Transferring => "the checkpoint's state received and checked",
                _ => "requests execute in time again",
            };
            (PbftMode::Normal, trigger)
        };
        if let Some(transition) = self.mode.enter(mode, trigger, self.now) {
            out.push(Action::ModeChanged(transition));
        }
    }

    /// Peers (other replicas) heard from within the silence timeout.
    pub(crate) fn peers_heard(&self) -> usize {
        let since = self.now.saturating_sub(self.config.peer_silence_timeout);
        self.last_heard.values().filter(|at| **at >= since).count()
    }
}

impl<S: StateMachine> Protocol for Replica<S> {
    type Message = Envelope;
    type Request = ClientRequest;
    type Response = Reply;
    type Write = PbftWrite;
    type Mode = PbftMode;

    fn id(&self) -> NodeId {
        self.id
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        self.now = self.now.max(now);
        if !self.boot_actions.is_empty() {
            out.append(&mut self.boot_actions);
        }
        match input {
            Input::Message { from, message } => self.on_message(from, message, out),
            Input::Request { id, request } => {
                if !self.keys.knows(request.client) || !request.verify(&self.keys, &self.config) {
                    self.drop_message(DropReason::UnauthenticatedRequest);
                } else {
                    self.on_request(Arc::new(request), Some(id), out);
                }
            }
            Input::Tick => self.on_tick(out),
            Input::Persisted { up_to } => self.on_persisted(up_to, out),
        }
        self.update_mode(out);
        if self.status_due.is_none() && self.has_work() {
            self.status_due = Some(self.now + self.config.status_interval);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut deadline = self.status_due;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                deadline = Some(deadline.map_or(at, |d| d.min(at)));
            }
        };
        consider(self.timer);
        if self.view_active && self.mode.current() == PbftMode::Normal {
            consider(
                self.timer
                    .map(|deadline| deadline.saturating_sub(self.timeout / 2)),
            );
        }
        if self.announce {
            consider(Some(self.now));
        }
        if let Some(transfer) = &self.transfer {
            consider(Some(transfer.next_ask));
        }
        deadline
    }

    fn mode(&self) -> PbftMode {
        self.mode.current()
    }
}

impl<S> std::fmt::Debug for Replica<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .field("view", &self.view)
            .field("view_active", &self.view_active)
            .field("low", &self.low)
            .field("last_executed", &self.last_executed)
            .field("mode", &self.mode.current())
            .finish_non_exhaustive()
    }
}

//! The Multi-Paxos node: its state, how it boots, and how inputs reach the
//! role that handles them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurabilityGate, Input, InputOf, Instant, ModeTracker, NodeId, PersistId,
    Protocol, RequestId, SeededRng,
};
use tessera_hlc::Lease;
use tessera_quorum::{QuorumCertificate, QuorumSystem, VoteTally};
use tessera_storage::{Codec, LogPosition, LogStore, LogWrite};

use super::acceptor_log::{AcceptorLog, LogChange};
use crate::invariants::{Decision, ObservedLearner};
use crate::multi::{
    Configuration, Message, MultiPaxosConfig, Overwrite, PaxosDisk, PaxosHardState, PaxosWrite,
    Request, Response, SlotEntry, SlotValue, StateMachine,
};
use crate::{Audit, Ballot, PaxosError, PaxosMode, PaxosQuorums};

/// The certificate that a slot is chosen: a phase-two quorum accepted it in
/// the leader's ballot (core evidence scoped to that ballot and slot, and
/// non-transitive: it says nothing of any other slot).
pub type CommitCertificate = QuorumCertificate<(), Arc<PaxosQuorums>>;

/// What a Multi-Paxos node counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MultiPaxosCounters {
    /// Campaigns (phase one) started.
    pub campaigns: u64,
    /// Times this node became leader.
    pub leaderships: u64,
    /// Slots this node chose as leader.
    pub slots_chosen: u64,
    /// Commands this node proposed as leader.
    pub commands_proposed: u64,
    /// Slots a new leader filled with no-ops.
    pub gaps_filled: u64,
    /// Slots a new leader re-proposed from its phase-one quorum's reports.
    pub slots_recovered: u64,
    /// Reads answered under the lease.
    pub lease_reads: u64,
    /// Reads answered after a barrier slot.
    pub barrier_reads: u64,
    /// Log rewrites (an acceptance changed in the middle of the log).
    pub overwrites: u64,
    /// Snapshots taken locally.
    pub snapshots_taken: u64,
    /// Snapshots installed from a peer.
    pub snapshots_installed: u64,
    /// Prepares ignored because a granted lease may still be held.
    pub prepares_deferred: u64,
    /// Messages dropped as a peer's misbehaviour.
    pub rejected: u64,
}

/// A read waiting for its barrier.
pub(crate) struct PendingRead<Q> {
    pub(crate) id: RequestId,
    pub(crate) query: Q,
    pub(crate) barrier: u64,
}

/// A slot the leader proposed and has not seen chosen (or not applied).
pub(crate) struct InFlight {
    pub(crate) slot: u64,
    /// The phase-two votes; taken once the slot is chosen, when it
    /// becomes the leader's last commit certificate.
    pub(crate) accepts: Option<VoteTally<(), Arc<PaxosQuorums>>>,
    pub(crate) chosen: bool,
    pub(crate) requests: Vec<RequestId>,
    pub(crate) sent_at: Instant,
}

/// Phase one in progress.
pub(crate) struct Campaign<C> {
    pub(crate) ballot: Ballot,
    pub(crate) promises: VoteTally<(), Arc<PaxosQuorums>>,
    /// Nodes whose report was cut short: where to ask again.
    pub(crate) continuing: BTreeMap<NodeId, u64>,
    /// The highest-ballot acceptance reported for each slot.
    pub(crate) recovered: BTreeMap<u64, SlotEntry<C>>,
    /// The highest compacted prefix reported, and who has it.
    pub(crate) max_base: (u64, NodeId),
    pub(crate) retry_at: Instant,
    /// Phase one is won, but the leader must first fetch the snapshot of a
    /// prefix some acceptor compacted past its commit index.
    pub(crate) won: bool,
}

/// This node leads.
pub(crate) struct Leadership<S: StateMachine> {
    pub(crate) ballot: Ballot,
    pub(crate) next_slot: u64,
    /// Slots up to here were recovered from phase one: reads under the
    /// lease wait until they are applied.
    pub(crate) recovery_end: u64,
    pub(crate) in_flight: VecDeque<InFlight>,
    pub(crate) queue: VecDeque<(RequestId, S::Command)>,
    pub(crate) reads: VecDeque<PendingRead<S::Query>>,
    pub(crate) barrier_wanted: bool,
    /// A stop-sign was proposed: no slot after it in this configuration.
    pub(crate) stop_slot: Option<u64>,
    pub(crate) reconfigure_request: Option<RequestId>,
    pub(crate) heartbeat_at: Instant,
    pub(crate) round: u64,
    pub(crate) round_started: Instant,
    pub(crate) grants: VoteTally<(), Arc<PaxosQuorums>>,
    pub(crate) lease: Option<Lease>,
    /// When each member last answered this leader.
    pub(crate) contact: BTreeMap<NodeId, Instant>,
    /// The highest slot each member acknowledged accepting in this
    /// leader's ballot.
    pub(crate) acknowledged: BTreeMap<NodeId, u64>,
    pub(crate) retransmit_at: Instant,
    /// When this node became leader.
    pub(crate) since: Instant,
    /// When the lease stops being usable: the mode changes then.
    pub(crate) lease_check_at: Option<Instant>,
}

/// The node's role as a proposer.
pub(crate) enum Role<S: StateMachine> {
    Follower,
    Candidate(Campaign<S::Command>),
    Leader(Box<Leadership<S>>),
}

/// A snapshot this node holds.
#[derive(Debug, Clone)]
pub(crate) struct HeldSnapshot {
    pub(crate) last: LogPosition,
    pub(crate) configuration: Vec<u8>,
    pub(crate) data: Arc<Vec<u8>>,
}

/// A snapshot being received.
pub(crate) struct IncomingSnapshot {
    pub(crate) from: NodeId,
    pub(crate) last: LogPosition,
    pub(crate) configuration: Vec<u8>,
    pub(crate) total_bytes: u64,
    pub(crate) data: Vec<u8>,
}

/// A snapshot being sent.
pub(crate) struct OutgoingSnapshot {
    pub(crate) last: LogPosition,
    pub(crate) offset: u64,
    pub(crate) sent_at: Instant,
}

/// One node of Multi-Paxos: acceptor, learner and — when it wins phase one
/// — the leader of a replicated log, driving a [`StateMachine`].
///
/// See the [module documentation](crate::multi) for how it works and a
/// runnable example.
pub struct MultiPaxos<S: StateMachine> {
    pub(crate) config: MultiPaxosConfig,
    pub(crate) rng: SeededRng,
    pub(crate) configuration: Option<Configuration>,
    pub(crate) quorums: Arc<PaxosQuorums>,
    // Acceptor.
    pub(crate) promised: Ballot,
    pub(crate) log: AcceptorLog<S::Command>,
    pub(crate) granted: Option<Lease>,
    pub(crate) quarantine_until: Instant,
    // Learner.
    pub(crate) committed: u64,
    pub(crate) applied: u64,
    pub(crate) machine: S,
    pub(crate) snapshot: Option<HeldSnapshot>,
    pub(crate) leader: Option<NodeId>,
    pub(crate) leader_ballot: Ballot,
    pub(crate) leader_commit: u64,
    pub(crate) last_heard: Option<Instant>,
    /// When the leader will count as suspected if not heard again.
    pub(crate) suspect_at: Option<Instant>,
    pub(crate) election_deadline: Instant,
    pub(crate) catch_up_at: Option<Instant>,
    pub(crate) incoming: Option<IncomingSnapshot>,
    pub(crate) outgoing: BTreeMap<NodeId, OutgoingSnapshot>,
    pub(crate) removed: bool,
    // Proposer.
    pub(crate) role: Role<S>,
    pub(crate) highest_round_seen: u64,
    pub(crate) self_votes: VecDeque<(PersistId, Ballot, u64, u64)>,
    pub(crate) last_certificate: Option<CommitCertificate>,
    pub(crate) promise_certificate: Option<CommitCertificate>,
    pub(crate) gate: DurabilityGate<ActionOf<MultiPaxos<S>>>,
    pub(crate) mode: ModeTracker<PaxosMode>,
    pub(crate) counters: MultiPaxosCounters,
    pub(crate) last_rejection: Option<PaxosError>,
    pub(crate) decisions: Audit<Decision<SlotValue<S::Command>>>,
    pub(crate) proposals: Audit<S::Command>,
    /// Writes a restart must finish (an interrupted log rewrite).
    pub(crate) boot_writes: Vec<PaxosWrite<S::Command>>,
    /// Replaying the log at boot: no writes may be emitted.
    pub(crate) booting: bool,
    /// Requests are being handed over together
    /// ([`handle_requests`](MultiPaxos::handle_requests)): the leader
    /// queues their commands and proposes them once all are in.
    pub(crate) holding_proposals: bool,
    /// The leader's per-slot request lists, kept between flushes (empty).
    pub(crate) scratch_requests: Vec<Vec<RequestId>>,
    /// An applied slot's request list, emptied, for the next slot.
    pub(crate) spare_ids: Vec<RequestId>,
}

impl<S: StateMachine> MultiPaxos<S> {
    /// A node booting from `disk` (the default disk for a first start),
    /// with `machine` in its initial state, at `now`, drawing its random
    /// timeouts from `seed`.
    ///
    /// It restores the latest snapshot into the machine, replays the log up
    /// to the commit index it recorded, finishes a log rewrite a crash
    /// interrupted, and — if leases are on — refuses every ballot for a
    /// lease plus twice the clock offset, since it forgot the leases it
    /// granted.
    ///
    /// # Errors
    ///
    /// [`PaxosError::CorruptState`] if the snapshot does not restore, the
    /// log contradicts the hard state, or the stored configuration does not
    /// decode or build.
    pub fn boot(
        config: MultiPaxosConfig,
        disk: &PaxosDisk<S::Command>,
        mut machine: S,
        seed: u64,
        now: Instant,
    ) -> Result<Self, PaxosError> {
        config.validate()?;
        let hard = disk.log.hard_state().cloned();
        let mut configuration = config.initial.clone();
        if let Some(stored) = hard.as_ref().and_then(|h| h.configuration.clone()) {
            configuration = Some(stored);
        }
        let mut snapshot = None;
        let mut applied = 0;
        if let Some((meta, data)) = disk.latest_snapshot() {
            machine
                .restore(&data)
                .map_err(|e| PaxosError::CorruptState(format!("snapshot does not restore: {e}")))?;
            let in_snapshot = Configuration::decode(&meta.configuration)
                .map_err(|e| PaxosError::CorruptState(format!("snapshot configuration: {e}")))?;
            if configuration
                .as_ref()
                .is_none_or(|c| c.epoch < in_snapshot.epoch)
            {
                configuration = Some(in_snapshot);
            }
            applied = meta.last.index;
            snapshot = Some(HeldSnapshot {
                last: meta.last,
                configuration: meta.configuration.clone(),
                data,
            });
        }
        let base = disk.log.base();
        let entries = if disk.log.is_empty() {
            Vec::new()
        } else {
            disk.log
                .entries(disk.log.first_index()..disk.log.last_index() + 1)?
        };
        let mut log = AcceptorLog::new(base, entries);
        let mut boot_writes = Vec::new();
        let mut hard_state = hard.unwrap_or(PaxosHardState {
            promised: Ballot::ZERO,
            committed: 0,
            configuration: None,
            overwrite: None,
        });
        if let Some(overwrite) = hard_state.overwrite.take() {
            // A rewrite was recorded but maybe not performed: finish it.
            if overwrite.from <= log.base().index {
                return Err(PaxosError::CorruptState(
                    "a recorded rewrite starts inside the compacted prefix".into(),
                ));
            }
            log.truncate_from(overwrite.from);
            let change = log.change_for(overwrite.entries.clone());
            debug_assert!(matches!(change, LogChange::Append(_) | LogChange::None));
            boot_writes.push(PaxosWrite::Log(LogWrite::TruncateFrom(overwrite.from)));
            boot_writes.push(PaxosWrite::Log(LogWrite::Append(overwrite.entries)));
            boot_writes.push(PaxosWrite::Log(LogWrite::HardState(hard_state.clone())));
        }
        let quorums = match &configuration {
            Some(c) => c.quorums.build().map_err(|e| {
                PaxosError::CorruptState(format!("stored configuration does not build: {e}"))
            })?,
            None => PaxosQuorums::majority([config.id])?,
        };
        let audit = config.audit_capacity;
        let mut rng = SeededRng::new(seed);
        let election_deadline = now + random_timeout(&mut rng, config.election_timeout);
        let mut node = MultiPaxos {
            rng,
            quorums: Arc::new(quorums),
            removed: configuration
                .as_ref()
                .is_some_and(|c| !c.members().contains(&config.id)),
            configuration,
            promised: hard_state.promised,
            log,
            granted: None,
            // A node that never promised a ballot never granted a lease
            // (a grant follows a durable promise): no quarantine then.
            quarantine_until: if hard_state.promised.is_zero() {
                now
            } else {
                now + config.lease_hold_after_restart()
            },
            committed: applied,
            applied,
            machine,
            snapshot,
            leader: None,
            leader_ballot: Ballot::ZERO,
            leader_commit: 0,
            last_heard: None,
            suspect_at: None,
            election_deadline,
            catch_up_at: None,
            incoming: None,
            outgoing: BTreeMap::new(),
            role: Role::Follower,
            highest_round_seen: hard_state.promised.round,
            self_votes: VecDeque::new(),
            last_certificate: None,
            promise_certificate: None,
            gate: DurabilityGate::new(),
            mode: ModeTracker::new(PaxosMode::Bootstrap, now),
            counters: MultiPaxosCounters::default(),
            last_rejection: None,
            decisions: Audit::new(audit),
            proposals: Audit::new(audit),
            boot_writes,
            booting: true,
            holding_proposals: false,
            scratch_requests: Vec::new(),
            spare_ids: Vec::new(),
            config,
        };
        if let Some(snapshot) = &node.snapshot {
            node.decisions.record_with(|| Decision::Restored {
                through: snapshot.last.index,
            });
        }
        // Replay what the hard state says is chosen.
        node.committed = hard_state.committed.max(node.applied).min(node.log.last());
        let mut replay = Vec::new();
        node.apply_committed(now, &mut replay);
        debug_assert!(replay.is_empty(), "boot replay emitted actions: {replay:?}");
        node.booting = false;
        Ok(node)
    }

    // ----- accessors -------------------------------------------------

    /// The state machine, as of the last applied slot.
    pub fn state_machine(&self) -> &S {
        &self.machine
    }

    /// Every slot up to here is known chosen.
    pub fn commit_index(&self) -> u64 {
        self.committed
    }

    /// Every slot up to here is applied to the state machine.
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    /// The last slot in this node's log.
    pub fn last_slot(&self) -> u64 {
        self.log.last()
    }

    /// The compacted prefix: every slot up to here is in the snapshot.
    pub fn snapshot_index(&self) -> u64 {
        self.log.base().index
    }

    /// The highest ballot this node promised.
    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The leader's ballot, if this node leads.
    pub fn leader_ballot(&self) -> Option<Ballot> {
        match &self.role {
            Role::Leader(leadership) => Some(leadership.ballot),
            _ => None,
        }
    }

    /// At the leader, each other member with the highest slot it
    /// acknowledged accepting in the leader's ballot (0 before its first
    /// acknowledgement): how far behind the leader's proposals each
    /// acceptor is. Empty at a node that does not lead.
    pub fn acceptor_progress(&self) -> Vec<(NodeId, u64)> {
        let Role::Leader(leadership) = &self.role else {
            return Vec::new();
        };
        self.members()
            .iter()
            .filter(|member| **member != self.id())
            .map(|member| {
                let slot = leadership.acknowledged.get(member).copied().unwrap_or(0);
                (*member, slot)
            })
            .collect()
    }

    /// The leader as this node knows it.
    pub fn leader(&self) -> Option<NodeId> {
        if self.is_leader() {
            Some(self.config.id)
        } else {
            self.leader
        }
    }

    /// The configuration in force (`None` for a joiner still waiting).
    pub fn configuration(&self) -> Option<&Configuration> {
        self.configuration.as_ref()
    }

    /// The leader's lease, if this node leads and holds one.
    pub fn lease(&self) -> Option<&Lease> {
        match &self.role {
            Role::Leader(leadership) => leadership.lease.as_ref(),
            _ => None,
        }
    }

    /// The lease this node granted, if any.
    pub fn granted_lease(&self) -> Option<&Lease> {
        self.granted.as_ref()
    }

    /// The certificate of the last slot this node chose as leader.
    pub fn last_commit_certificate(&self) -> Option<&CommitCertificate> {
        self.last_certificate.as_ref()
    }

    /// The promise certificate of this node's last won phase one.
    pub fn promise_certificate(&self) -> Option<&CommitCertificate> {
        self.promise_certificate.as_ref()
    }

    /// The value this node holds for `slot` (accepted, maybe chosen).
    pub fn slot_value(&self, slot: u64) -> Option<&SlotValue<S::Command>> {
        self.log.value_at(slot)
    }

    /// The ballot this node accepted `slot` in.
    pub fn slot_ballot(&self, slot: u64) -> Option<Ballot> {
        self.log.ballot_at(slot)
    }

    #[doc(hidden)]
    pub fn debug_leader_state(&self) -> String {
        match &self.role {
            Role::Leader(l) => format!(
                "ballot {} next {} recovery_end {} in_flight {:?} self_votes {:?} durable {:?} assigned {:?} held {}",
                l.ballot,
                l.next_slot,
                l.recovery_end,
                l.in_flight
                    .iter()
                    .take(3)
                    .map(|f| (
                        f.slot,
                        f.chosen,
                        f.accepts
                            .iter()
                            .flat_map(|t| t.granted_nodes())
                            .collect::<Vec<_>>()
                    ))
                    .collect::<Vec<_>>(),
                self.self_votes.iter().take(3).collect::<Vec<_>>(),
                self.gate.durable(),
                self.gate.last_assigned(),
                self.gate.held()
            ),
            _ => "not leader".into(),
        }
    }

    /// Handles several client requests that arrived together, in order:
    /// the same as handing each over as an [`Input::Request`], except that
    /// the leader queues every command first and then proposes them
    /// together (in as few slots as its window and
    /// [`batch_max`](MultiPaxosConfig::batch_max) allow) instead of
    /// proposing the first one alone when its window has room (so all of
    /// them count against [`queue_max`](MultiPaxosConfig::queue_max)
    /// until then: those beyond it are answered `Overloaded`). A driver
    /// that reads many requests at once (from a socket, from a channel)
    /// hands them over this way.
    pub fn handle_requests(
        &mut self,
        now: Instant,
        requests: impl IntoIterator<Item = (RequestId, Request<S::Command, S::Query>)>,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        self.finish_boot_writes(out);
        self.holding_proposals = true;
        let queue_max = self.config.queue_max;
        for (id, request) in requests {
            // A proposal at a leader with room goes straight to its queue.
            let Request::Propose(command) = request else {
                self.on_request(id, request, now, out);
                continue;
            };
            self.proposals.record_with(|| command.clone());
            match &mut self.role {
                Role::Leader(leadership)
                    if leadership.stop_slot.is_none() && leadership.queue.len() < queue_max =>
                {
                    leadership.queue.push_back((id, command));
                }
                Role::Leader(_) => self.propose(id, command, now, out),
                _ => self.refuse_not_leader(id, out),
            }
        }
        self.holding_proposals = false;
        if let Role::Leader(leadership) = &self.role
            && !leadership.queue.is_empty()
            && leadership.in_flight.len() < self.config.window
        {
            self.flush(now, out);
        }
        self.update_mode(now, out);
    }

    /// What this node counted.
    pub fn counters(&self) -> MultiPaxosCounters {
        self.counters
    }

    /// Why the last dropped message was dropped.
    pub fn last_rejection(&self) -> Option<&PaxosError> {
        self.last_rejection.as_ref()
    }

    /// The mode transitions this node recorded, oldest first.
    pub fn mode_history(&self) -> impl Iterator<Item = &tessera_core::ModeTransition<PaxosMode>> {
        self.mode.history()
    }

    // ----- shared helpers --------------------------------------------

    pub(crate) fn id(&self) -> NodeId {
        self.config.id
    }

    pub(crate) fn members(&self) -> &[NodeId] {
        self.quorums.members()
    }

    pub(crate) fn reject(&mut self, error: PaxosError) {
        self.counters.rejected += 1;
        self.last_rejection = Some(error);
    }

    pub(crate) fn observe_round(&mut self, ballot: Ballot) {
        self.highest_round_seen = self.highest_round_seen.max(ballot.round);
    }

    pub(crate) fn hard_state(&self) -> PaxosHardState<S::Command> {
        PaxosHardState {
            promised: self.promised,
            committed: self.committed,
            configuration: self.configuration.clone(),
            overwrite: None,
        }
    }

    /// Emits one write and returns its id.
    #[inline(always)]
    pub(crate) fn persist(
        &mut self,
        write: PaxosWrite<S::Command>,
        out: &mut Vec<ActionOf<Self>>,
    ) -> PersistId {
        let id = self.gate.next_persist_id();
        emit(out, || Action::Persist { id, write });
        id
    }

    /// Persists the hard state (promise, commit index, configuration).
    pub(crate) fn persist_hard_state(&mut self, out: &mut Vec<ActionOf<Self>>) -> PersistId {
        let state = self.hard_state();
        self.persist(PaxosWrite::Log(LogWrite::HardState(state)), out)
    }

    /// Brings the log to hold `entries` (in memory at once, durably by the
    /// writes emitted), and returns the id of the last write, or `None` if
    /// nothing changed.
    pub(crate) fn store_entries(
        &mut self,
        entries: Vec<SlotEntry<S::Command>>,
        out: &mut Vec<ActionOf<Self>>,
    ) -> Option<PersistId> {
        match self.log.change_for(entries) {
            LogChange::None => None,
            LogChange::Append(entries) => {
                Some(self.persist(PaxosWrite::Log(LogWrite::Append(entries)), out))
            }
            LogChange::Overwrite { from, suffix } => {
                // Intent first: a crash between the truncation and the
                // append must not lose the acceptances after `from`.
                self.counters.overwrites += 1;
                let mut intent = self.hard_state();
                intent.overwrite = Some(Overwrite {
                    from,
                    entries: suffix.clone(),
                });
                self.persist(PaxosWrite::Log(LogWrite::HardState(intent)), out);
                self.persist(PaxosWrite::Log(LogWrite::TruncateFrom(from)), out);
                self.persist(PaxosWrite::Log(LogWrite::Append(suffix)), out);
                Some(self.persist_hard_state(out))
            }
        }
    }

    /// Emits the writes a restart must finish, on the first input.
    #[inline(always)]
    fn finish_boot_writes(&mut self, out: &mut Vec<ActionOf<Self>>) {
        if !self.boot_writes.is_empty() {
            self.emit_boot_writes(out);
        }
    }

    #[cold]
    fn emit_boot_writes(&mut self, out: &mut Vec<ActionOf<Self>>) {
        for write in std::mem::take(&mut self.boot_writes) {
            self.persist(write, out);
        }
    }

    pub(crate) fn send(
        &self,
        to: NodeId,
        message: Message<S::Command>,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        emit(out, || Action::Send { to, message });
    }

    /// A slot value's size against [`MultiPaxosConfig::message_bytes_max`].
    pub(crate) fn value_bytes(value: &SlotValue<S::Command>) -> usize {
        value.bytes(S::command_bytes)
    }

    /// Sends to every other member: clones for all but the last, which
    /// gets `message` itself.
    pub(crate) fn send_to_peers(
        &self,
        message: Message<S::Command>,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let me = self.id();
        let mut peers = self.members().iter().copied().filter(|m| *m != me);
        let Some(mut to) = peers.next() else {
            return;
        };
        for next in peers {
            emit(out, || Action::Send {
                to,
                message: message.clone(),
            });
            to = next;
        }
        emit(out, || Action::Send { to, message });
    }

    pub(crate) fn reset_election_deadline(&mut self, now: Instant) {
        self.election_deadline = now + random_timeout(&mut self.rng, self.config.election_timeout);
    }

    /// Answers every request a lost leadership leaves behind.
    pub(crate) fn abandon_leadership(&mut self, out: &mut Vec<ActionOf<Self>>) {
        let role = std::mem::replace(&mut self.role, Role::Follower);
        let Role::Leader(leadership) = role else {
            self.role = role;
            return;
        };
        let leader = self.leader;
        for flight in leadership.in_flight {
            for id in flight.requests {
                out.push(Action::Reply {
                    id,
                    response: Response::Unknown,
                });
            }
        }
        for (id, _) in leadership.queue {
            out.push(Action::Reply {
                id,
                response: Response::NotLeader { leader },
            });
        }
        for read in leadership.reads {
            out.push(Action::Reply {
                id: read.id,
                response: Response::NotLeader { leader },
            });
        }
        if let Some(id) = leadership.reconfigure_request {
            out.push(Action::Reply {
                id,
                response: Response::Unknown,
            });
        }
    }

    /// Adopts `ballot`'s owner as the leader, stepping down if this node
    /// led or campaigned with a lower ballot.
    pub(crate) fn follow(&mut self, ballot: Ballot, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        self.observe_round(ballot);
        let mine = match &self.role {
            Role::Leader(leadership) => Some(leadership.ballot),
            Role::Candidate(campaign) => Some(campaign.ballot),
            Role::Follower => None,
        };
        if mine.is_some_and(|mine| ballot > mine) {
            self.abandon_leadership(out);
            self.role = Role::Follower;
        }
        if ballot.node != self.id() && ballot >= self.leader_ballot {
            if ballot > self.leader_ballot {
                self.leader_commit = 0;
            }
            self.leader = Some(ballot.node);
            self.leader_ballot = ballot;
            self.last_heard = Some(now);
            self.suspect_at = Some(now + self.config.election_timeout);
            // The deadline moves at most once per heartbeat interval: the
            // leader is heard far more often than that under load.
            if self.election_deadline < now + self.config.election_timeout {
                self.reset_election_deadline(now);
            }
        }
    }

    fn on_request(
        &mut self,
        id: RequestId,
        request: Request<S::Command, S::Query>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Request::Propose(command) = &request {
            self.proposals.record_with(|| command.clone());
        }
        if !self.is_leader() {
            self.refuse_not_leader(id, out);
            return;
        }
        match request {
            Request::Propose(command) => self.propose(id, command, now, out),
            Request::Read(query) => self.read(id, query, true, now, out),
            Request::BarrierRead(query) => self.read(id, query, false, now, out),
            Request::Reconfigure(spec) => self.reconfigure(id, spec, now, out),
        }
    }

    /// Answers a request this node cannot serve since it does not lead.
    fn refuse_not_leader(&self, id: RequestId, out: &mut Vec<ActionOf<Self>>) {
        let leader = self.leader.filter(|l| *l != self.id());
        out.push(Action::Reply {
            id,
            response: Response::NotLeader { leader },
        });
    }

    fn on_persisted(&mut self, up_to: PersistId, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        self.gate.persisted(up_to, out);
        // The leader's own acceptances count once durable.
        while let Some((id, ballot, first, count)) = self.self_votes.front().copied() {
            if !self.gate.is_durable(id) {
                break;
            }
            self.self_votes.pop_front();
            let me = self.id();
            self.on_accepted(me, ballot, first, count, now, out);
        }
    }

    fn on_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        if self.suspect_at.is_some_and(|at| now >= at) {
            self.suspect_at = None;
        }
        self.leader_tick(now, out);
        self.candidate_tick(now, out);
        self.follower_tick(now, out);
        self.catch_up_tick(now, out);
        self.snapshot_tick(now, out);
    }

    fn follower_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        if !matches!(self.role, Role::Follower) || self.removed || self.configuration.is_none() {
            return;
        }
        if now < self.election_deadline {
            return;
        }
        // Wait out any lease this node granted, and its quarantine.
        let held_until = self
            .granted
            .as_ref()
            .filter(|lease| lease.may_be_held(now))
            .map(Lease::held_until);
        let wait_until = held_until.into_iter().chain([self.quarantine_until]).max();
        if let Some(until) = wait_until
            && now < until
        {
            // Every node that granted the lease waits for the same instant:
            // spread their campaigns apart, or they would duel.
            let spread = random_timeout(&mut self.rng, self.config.election_timeout / 4);
            self.election_deadline = until + spread;
            return;
        }
        self.start_campaign(now, out);
    }

    /// Picks the mode from the node's state and reports a change.
    fn update_mode(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let (mode, trigger) = match &self.role {
            Role::Candidate(_) => (PaxosMode::LeaderChange, "phase one started"),
            Role::Leader(leadership) => {
                if self.committed < leadership.recovery_end {
                    (PaxosMode::LeaderChange, "recovering in-progress slots")
                } else if self.config.lease.is_none() {
                    (
                        PaxosMode::StableLeader,
                        "phase one won and in-progress slots recovered",
                    )
                } else if leadership
                    .lease
                    .as_ref()
                    .is_some_and(|l| l.is_valid_for_holder(now))
                {
                    (
                        PaxosMode::StableLeader,
                        "a phase-two quorum granted the lease",
                    )
                } else {
                    (PaxosMode::LeaderSuspected, "lease lapsed")
                }
            }
            Role::Follower => match self.last_heard {
                _ if self.configuration.is_none() => (PaxosMode::Bootstrap, "waiting to join"),
                None => (PaxosMode::Bootstrap, "start"),
                Some(heard)
                    if now < heard + self.config.election_timeout && self.leader.is_some() =>
                {
                    (PaxosMode::StableLeader, "a leader's heartbeat was heard")
                }
                Some(_) => (PaxosMode::LeaderSuspected, "heartbeats missed"),
            },
        };
        if let Some(transition) = self.mode.enter(mode, trigger, now) {
            out.push(Action::ModeChanged(transition));
        }
    }

    fn check_sender(&mut self, from: NodeId, message: &Message<S::Command>) -> bool {
        // Snapshots may come from a member of a configuration this node has
        // not learned yet (a joiner); everything else from a member.
        let snapshot = matches!(message, Message::SnapshotChunk { .. });
        if !snapshot && !self.members().contains(&from) {
            self.reject(PaxosError::UnknownSender { from });
            return false;
        }
        if let Some(ballot) = message.ballot()
            && let Err(error) = ballot.check(from, self.members())
        {
            self.reject(error);
            return false;
        }
        true
    }

    fn on_message(
        &mut self,
        from: NodeId,
        message: Message<S::Command>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if self.configuration.is_none() {
            // A joiner knows no members yet: it answers anyone who speaks
            // to it as a member with a request for the log (a snapshot).
            if let Message::SnapshotChunk { .. } = &message {
            } else {
                if self.catch_up_at.is_none_or(|at| now >= at) {
                    self.send(
                        from,
                        Message::CatchUpRequest {
                            from_slot: self.committed + 1,
                        },
                        out,
                    );
                    self.catch_up_at = Some(now + self.config.retransmit_timeout);
                }
                return;
            }
        } else if !self.check_sender(from, &message) {
            return;
        }
        match message {
            Message::Prepare { ballot, from_slot } => {
                self.on_prepare(from, ballot, from_slot, now, out)
            }
            Message::Promise {
                ballot,
                from_slot,
                entries,
                next,
                base,
            } => self.on_promise(from, ballot, from_slot, entries, next, base, now, out),
            Message::Accept {
                ballot,
                first_slot,
                values,
                commit,
            } => self.on_accept(from, ballot, first_slot, values, commit, now, out),
            Message::Accepted {
                ballot,
                first_slot,
                count,
            } => self.on_accepted(from, ballot, first_slot, count, now, out),
            Message::Nack { ballot, promised } => self.on_nack(from, ballot, promised, now, out),
            Message::Heartbeat {
                ballot,
                round,
                commit,
                lease,
            } => self.on_heartbeat(from, ballot, round, commit, lease, now, out),
            Message::HeartbeatAck {
                ballot,
                round,
                lease_granted,
            } => self.on_heartbeat_ack(from, ballot, round, lease_granted, now, out),
            Message::CatchUpRequest { from_slot } => {
                self.on_catch_up_request(from, from_slot, now, out)
            }
            Message::CatchUp { entries, commit } => {
                self.on_catch_up(from, entries, commit, now, out)
            }
            Message::SnapshotChunk {
                last,
                configuration,
                total_bytes,
                offset,
                data,
            } => self.on_snapshot_chunk(
                from,
                last,
                configuration,
                total_bytes,
                offset,
                data,
                now,
                out,
            ),
            Message::SnapshotAck { last, offset } => {
                self.on_snapshot_ack(from, last, offset, now, out)
            }
        }
    }
}

/// Pushes the action `make` builds onto `out`, building it in place: a
/// `push` builds it first and copies it in, and copying an action just
/// built stalls the processor far longer than building it.
#[inline(always)]
pub(crate) fn emit<A>(out: &mut Vec<A>, make: impl FnOnce() -> A) {
    out.extend(std::iter::once_with(make));
}

/// A random duration in `[base, 2 · base)`.
pub(crate) fn random_timeout(rng: &mut SeededRng, base: Duration) -> Duration {
    let nanos = tessera_core::duration_nanos(base).max(1);
    Duration::from_nanos(nanos + rng.below(nanos))
}

impl<S: StateMachine> Protocol for MultiPaxos<S> {
    type Message = Message<S::Command>;
    type Request = Request<S::Command, S::Query>;
    type Response = Response<S::Output, S::QueryOutput>;
    type Write = PaxosWrite<S::Command>;
    type Mode = PaxosMode;

    fn id(&self) -> NodeId {
        self.config.id
    }

    fn mode(&self) -> PaxosMode {
        self.mode.current()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        match &self.role {
            Role::Leader(leadership) => {
                consider(Some(leadership.heartbeat_at));
                consider(Some(leadership.retransmit_at));
                consider(leadership.lease_check_at);
            }
            Role::Candidate(campaign) => consider(Some(campaign.retry_at)),
            Role::Follower => {
                if !self.removed && self.configuration.is_some() {
                    consider(Some(self.election_deadline));
                }
            }
        }
        consider(self.suspect_at);
        consider(self.catch_up_at);
        for transfer in self.outgoing.values() {
            consider(Some(transfer.sent_at + self.config.retransmit_timeout));
        }
        next
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        self.finish_boot_writes(out);
        match input {
            Input::Request { id, request } => self.on_request(id, request, now, out),
            Input::Message { from, message } => self.on_message(from, message, now, out),
            Input::Persisted { up_to } => self.on_persisted(up_to, now, out),
            Input::Tick => self.on_tick(now, out),
        }
        self.update_mode(now, out);
    }
}

impl<S: StateMachine> ObservedLearner for MultiPaxos<S> {
    type Value = SlotValue<S::Command>;
    type Command = S::Command;

    fn decisions(&self) -> &Audit<Decision<SlotValue<S::Command>>> {
        &self.decisions
    }

    fn proposals(&self) -> &Audit<S::Command> {
        &self.proposals
    }

    fn commands_of(value: &SlotValue<S::Command>) -> Vec<S::Command> {
        value.commands().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multi::QuorumSpec;
    use tessera_core::DurableState;

    /// A counter: each command adds to it.
    #[derive(Default)]
    struct Counter(u64);

    impl StateMachine for Counter {
        type Command = u64;
        type Output = u64;
        type Query = ();
        type QueryOutput = u64;
        fn apply(&mut self, _slot: u64, add: &u64) -> u64 {
            self.0 += add;
            self.0
        }
        fn query(&self, _: &()) -> u64 {
            self.0
        }
        fn snapshot(&self) -> Vec<u8> {
            self.0.to_le_bytes().to_vec()
        }
        fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
            self.0 = u64::from_le_bytes(bytes.try_into().map_err(|_| "not a counter")?);
            Ok(())
        }
    }

    type Node = MultiPaxos<Counter>;

    /// Three nodes, their disks, and what is still to be delivered.
    struct Cluster {
        nodes: Vec<Node>,
        disks: Vec<PaxosDisk<u64>>,
        inbox: VecDeque<(NodeId, InputOf<Node>)>,
        replies: Vec<(RequestId, Response<u64, u64>)>,
        /// Every `Accept` sent: (first slot, slots, commands per slot).
        accepts: Vec<(u64, Vec<usize>)>,
    }

    impl Cluster {
        fn new(window: usize) -> Self {
            let ids = [1, 2, 3];
            let initial = Configuration::initial(QuorumSpec::Majority(ids.to_vec()));
            let disks: Vec<PaxosDisk<u64>> =
                ids.iter().map(|_| PaxosDisk::without_audit()).collect();
            let nodes = ids
                .iter()
                .zip(&disks)
                .map(|(&id, disk)| {
                    let mut config = MultiPaxosConfig::new(id, initial.clone()).expect("valid");
                    config.window = window;
                    MultiPaxos::boot(config, disk, Counter::default(), id, Instant::ZERO)
                        .expect("boots")
                })
                .collect();
            Cluster {
                nodes,
                disks,
                inbox: VecDeque::new(),
                replies: Vec::new(),
                accepts: Vec::new(),
            }
        }

        fn perform(&mut self, at: NodeId, actions: Vec<ActionOf<Node>>) {
            for action in actions {
                match action {
                    Action::Persist { id, write } => {
                        self.disks[(at - 1) as usize].apply(write);
                        self.inbox.push_back((at, Input::Persisted { up_to: id }));
                    }
                    Action::Send { to, message } => {
                        if let Message::Accept {
                            first_slot, values, ..
                        } = &message
                        {
                            let sizes = values.iter().map(|v| v.commands().len()).collect();
                            self.accepts.push((*first_slot, sizes));
                        }
                        self.inbox
                            .push_back((to, Input::Message { from: at, message }));
                    }
                    Action::Reply { id, response } => self.replies.push((id, response)),
                    Action::ModeChanged(_) => {}
                }
            }
        }

        fn run(&mut self, now: Instant) {
            while let Some((at, input)) = self.inbox.pop_front() {
                let mut actions = Vec::new();
                self.nodes[(at - 1) as usize].handle(now, input, &mut actions);
                self.perform(at, actions);
            }
        }

        /// Runs until a leader is elected; returns it and the time.
        fn elect(&mut self) -> (NodeId, Instant) {
            let mut now = Instant::ZERO;
            while !self.nodes.iter().any(|n| n.is_leader()) {
                now = now + Duration::from_millis(10);
                for id in 1..=3u64 {
                    if self.nodes[(id - 1) as usize]
                        .next_deadline()
                        .is_some_and(|d| d <= now)
                    {
                        self.inbox.push_back((id, Input::Tick));
                    }
                }
                self.run(now);
            }
            let leader = self.nodes.iter().find(|n| n.is_leader()).expect("elected");
            (leader.id(), now)
        }
    }

    #[test]
    fn requests_handed_over_together_go_out_in_one_slot() {
        let mut cluster = Cluster::new(1);
        let (leader, now) = cluster.elect();
        cluster.accepts.clear();
        let requests = (1..=5).map(|i| (RequestId(i), Request::Propose(i)));
        let mut actions = Vec::new();
        cluster.nodes[(leader - 1) as usize].handle_requests(now, requests, &mut actions);
        cluster.perform(leader, actions);
        cluster.run(now);
        // One slot of five commands, sent once to each follower.
        let first = cluster.accepts[0].0;
        assert_eq!(cluster.accepts, vec![(first, vec![5]), (first, vec![5])]);
        // Each request gets its own answer, in order, from that slot.
        let answers: Vec<(RequestId, Response<u64, u64>)> = (1..=5u64)
            .map(|i| {
                let output = (1..=i).sum();
                (
                    RequestId(i),
                    Response::Applied {
                        slot: first,
                        output,
                    },
                )
            })
            .collect();
        assert_eq!(cluster.replies, answers);
        // The followers hold the same slot.
        for node in &cluster.nodes {
            assert_eq!(
                node.slot_value(first).map(|v| v.commands().to_vec()),
                Some(vec![1, 2, 3, 4, 5])
            );
        }
    }

    #[test]
    fn requests_handed_over_together_respect_the_window_and_a_follower_refuses() {
        let mut cluster = Cluster::new(1);
        let (leader, now) = cluster.elect();
        // One request in flight fills the window: the next five wait and
        // then go out together in the next slot.
        let mut actions = Vec::new();
        cluster.nodes[(leader - 1) as usize].handle(
            now,
            Input::Request {
                id: RequestId(100),
                request: Request::Propose(100),
            },
            &mut actions,
        );
        let requests = (1..=5).map(|i| (RequestId(i), Request::Propose(i)));
        cluster.nodes[(leader - 1) as usize].handle_requests(now, requests, &mut actions);
        cluster.accepts.clear();
        cluster.perform(leader, actions);
        assert_eq!(cluster.accepts.len(), 2, "only the first slot went out");
        cluster.run(now);
        let sizes: Vec<Vec<usize>> = cluster.accepts.iter().map(|(_, s)| s.clone()).collect();
        assert_eq!(sizes, vec![vec![1], vec![1], vec![5], vec![5]]);
        assert_eq!(cluster.replies.len(), 6);
        // A follower answers every request it is handed: not the leader.
        let follower = if leader == 1 { 2 } else { 1 };
        let mut actions = Vec::new();
        let requests = (7..=8).map(|i| (RequestId(i), Request::Propose(i)));
        cluster.nodes[(follower - 1) as usize].handle_requests(now, requests, &mut actions);
        let refused = actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Reply {
                        response: Response::NotLeader { leader: Some(_) },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(refused, 2);
    }

    #[test]
    fn requests_handed_over_together_beyond_the_queue_are_overloaded() {
        let mut cluster = Cluster::new(1);
        let (leader, now) = cluster.elect();
        let node = &mut cluster.nodes[(leader - 1) as usize];
        node.config.queue_max = 2;
        let mut actions = Vec::new();
        // All wait in the queue until the end of the call: two fit.
        let requests = (1..=4).map(|i| (RequestId(i), Request::Propose(i)));
        node.handle_requests(now, requests, &mut actions);
        let overloaded: Vec<RequestId> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Reply {
                    id,
                    response: Response::Overloaded,
                } => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(overloaded, vec![RequestId(3), RequestId(4)]);
        cluster.perform(leader, actions);
        cluster.run(now);
        let applied = cluster
            .replies
            .iter()
            .filter(|(_, r)| matches!(r, Response::Applied { .. }))
            .count();
        assert_eq!(applied, 2);
    }
}

//! The EPaxos replica: its state, how it boots, and how inputs reach the
//! part that handles them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurabilityGate, Input, InputOf, Instant, ModeTracker, NodeId, PersistId,
    Protocol, RequestId, SeededRng,
};
use tessera_quorum::{MemberSet, VoteTally};

use crate::epaxos::{
    Attributes, EpaxosConfig, EpaxosDisk, EpaxosMessage, EpaxosMode, EpaxosWrite, InstanceId,
    InstanceRecord, Interfering, Status,
};
use crate::multi::StateMachine;
use crate::{Audit, Ballot, PaxosError, PaxosQuorums};

/// What a replica answers a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EpaxosResponse<O> {
    /// The command was committed in `instance` and executed, with this
    /// output.
    Executed {
        /// The instance.
        instance: InstanceId,
        /// What the state machine returned.
        output: O,
    },
    /// The instance was recovered as a no-op: the command was not and will
    /// never be executed.
    NotExecuted,
    /// Too many requests in flight: refused.
    Overloaded,
}

/// A decision an EPaxos replica records for the invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpaxosDecision<C> {
    /// The instance committed with these attributes here.
    Committed {
        /// The instance.
        instance: InstanceId,
        /// Its command (`None`: a no-op).
        command: Option<C>,
        /// Its final attributes.
        attributes: Attributes,
    },
    /// The instance executed here.
    Executed {
        /// The instance.
        instance: InstanceId,
        /// Its command (`None`: a no-op).
        command: Option<C>,
    },
}

/// What an EPaxos replica counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EpaxosCounters {
    /// Commands this replica led to commit on the fast path.
    pub fast_commits: u64,
    /// Commands this replica led to commit on the slow path.
    pub slow_commits: u64,
    /// Explicit prepares this replica started.
    pub recoveries: u64,
    /// Recoveries that committed a no-op.
    pub no_ops: u64,
    /// Instances executed here.
    pub executed: u64,
    /// Messages dropped as a peer's misbehaviour.
    pub rejected: u64,
}

impl EpaxosCounters {
    /// The fraction of commands this replica led that took the fast path.
    pub fn fast_path_fraction(&self) -> f64 {
        let total = self.fast_commits + self.slow_commits;
        if total == 0 {
            0.0
        } else {
            self.fast_commits as f64 / total as f64
        }
    }
}

/// What a command leader (or a recovering replica acting as one) is doing
/// for an instance.
pub(crate) enum LeadPhase {
    PreAccepting {
        /// The attributes proposed.
        proposed: Attributes,
        /// Their union with every reply so far.
        union: Attributes,
        replied: MemberSet,
        unchanged: usize,
        fast_allowed: bool,
    },
    Accepting {
        accepts: VoteTally<(), Arc<PaxosQuorums>>,
    },
}

pub(crate) struct Leading {
    pub(crate) ballot: Ballot,
    pub(crate) phase: LeadPhase,
    /// This replica's own pre-accept or accept is durable.
    pub(crate) self_ready: bool,
    pub(crate) started: Instant,
    pub(crate) retry_at: Instant,
    /// Started by a recovery, not by a client.
    pub(crate) recovery: bool,
}

pub(crate) struct Recovery<C> {
    pub(crate) ballot: Ballot,
    pub(crate) replies: BTreeMap<NodeId, Option<InstanceRecord<C>>>,
    pub(crate) retry_at: Instant,
}

/// One instance as this replica holds it.
pub(crate) struct Slot<C> {
    pub(crate) record: InstanceRecord<C>,
    pub(crate) executed: bool,
}

/// One replica of EPaxos — leaderless: every replica leads the commands
/// its clients send it — driving a [`StateMachine`] whose commands say
/// which others they interfere with.
///
/// See the [module documentation](crate::epaxos) for the protocol, the
/// recovery rule it implements and why that rule is safe.
pub struct Epaxos<S: StateMachine>
where
    S::Command: Interfering,
{
    pub(crate) config: EpaxosConfig,
    pub(crate) quorums: Arc<PaxosQuorums>,
    pub(crate) rng: SeededRng,
    pub(crate) instances: BTreeMap<InstanceId, Slot<S::Command>>,
    pub(crate) next_number: u64,
    /// Per key: the latest interfering instance of each replica.
    pub(crate) conflicts: BTreeMap<<S::Command as Interfering>::Key, Vec<InstanceId>>,
    /// Per key: the largest sequence number seen.
    pub(crate) key_seq: BTreeMap<<S::Command as Interfering>::Key, u64>,
    pub(crate) leading: BTreeMap<InstanceId, Leading>,
    pub(crate) recovering: BTreeMap<InstanceId, Recovery<S::Command>>,
    /// Committed, not executed yet.
    pub(crate) pending: BTreeSet<InstanceId>,
    /// Uncommitted instances execution waits for, and since when.
    pub(crate) blocked: BTreeMap<InstanceId, Instant>,
    pub(crate) waiting: BTreeMap<InstanceId, RequestId>,
    pub(crate) highest_round_seen: u64,
    pub(crate) machine: S,
    pub(crate) executed_count: u64,
    pub(crate) gate: DurabilityGate<ActionOf<Epaxos<S>>>,
    /// The replica's own writes a lead waits on: once durable, it counts
    /// itself.
    pub(crate) self_votes: VecDeque<(PersistId, InstanceId, Ballot)>,
    /// Commits this replica decided, waiting for their records to be
    /// durable before anything acts on them.
    pub(crate) commits_pending: VecDeque<(PersistId, InstanceId)>,
    pub(crate) mode: ModeTracker<EpaxosMode>,
    pub(crate) counters: EpaxosCounters,
    pub(crate) last_rejection: Option<PaxosError>,
    pub(crate) decisions: Audit<EpaxosDecision<S::Command>>,
    pub(crate) proposals: Audit<S::Command>,
    pub(crate) tick_at: Option<Instant>,
    /// Per replica: every instance up to this number is committed here.
    pub(crate) frontier: BTreeMap<NodeId, u64>,
    pub(crate) sync_at: Instant,
}

impl<S: StateMachine> Epaxos<S>
where
    S::Command: Interfering,
{
    /// A replica booting from `disk` (the default disk for a first start),
    /// with `machine` in its initial state, at `now`, drawing its random
    /// timeouts from `seed`. It re-executes every committed instance, in
    /// dependency order, from the initial state.
    ///
    /// # Errors
    ///
    /// [`PaxosError::InvalidParameter`] for a bad configuration.
    pub fn boot(
        config: EpaxosConfig,
        disk: &EpaxosDisk<S::Command>,
        machine: S,
        seed: u64,
        now: Instant,
    ) -> Result<Self, PaxosError> {
        config.validate()?;
        let quorums = PaxosQuorums::majority(config.members.iter().copied())?;
        let audit = config.audit_capacity;
        let id = config.id;
        let mut node = Epaxos {
            quorums: Arc::new(quorums),
            rng: SeededRng::new(seed),
            instances: BTreeMap::new(),
            next_number: 1,
            conflicts: BTreeMap::new(),
            key_seq: BTreeMap::new(),
            leading: BTreeMap::new(),
            recovering: BTreeMap::new(),
            pending: BTreeSet::new(),
            blocked: BTreeMap::new(),
            waiting: BTreeMap::new(),
            highest_round_seen: 0,
            machine,
            executed_count: 0,
            gate: DurabilityGate::new(),
            self_votes: VecDeque::new(),
            commits_pending: VecDeque::new(),
            mode: ModeTracker::new(EpaxosMode::Bootstrap, now),
            counters: EpaxosCounters::default(),
            last_rejection: None,
            decisions: Audit::new(audit),
            proposals: Audit::new(audit),
            tick_at: None,
            frontier: BTreeMap::new(),
            sync_at: now,
            config,
        };
        for (instance, record) in &disk.instances {
            if instance.replica == id {
                node.next_number = node.next_number.max(instance.number + 1);
            }
            node.highest_round_seen = node.highest_round_seen.max(record.promised.round);
            if let Some(command) = &record.command {
                node.register(command.interference_key(), *instance, record.attributes.seq);
            }
            if record.is_committed() {
                node.pending.insert(*instance);
                let (command, attributes) = (record.command.clone(), record.attributes.clone());
                node.decisions.record_with(|| EpaxosDecision::Committed {
                    instance: *instance,
                    command,
                    attributes,
                });
            }
            node.instances.insert(
                *instance,
                Slot {
                    record: record.clone(),
                    executed: false,
                },
            );
        }
        let committed: Vec<InstanceId> = node.pending.iter().copied().collect();
        for instance in committed {
            node.advance_frontier(instance);
        }
        let mut out = Vec::new();
        node.execute_ready(now, &mut out);
        debug_assert!(out.is_empty(), "boot replay answered clients: {out:?}");
        Ok(node)
    }

    // ----- accessors -------------------------------------------------

    /// The state machine, as of the last executed instance.
    pub fn state_machine(&self) -> &S {
        &self.machine
    }

    /// What this replica counted.
    pub fn counters(&self) -> EpaxosCounters {
        self.counters
    }

    /// Why the last dropped message was dropped.
    pub fn last_rejection(&self) -> Option<&PaxosError> {
        self.last_rejection.as_ref()
    }

    /// What this replica holds for `instance`.
    pub fn instance(&self, instance: InstanceId) -> Option<&InstanceRecord<S::Command>> {
        self.instances.get(&instance).map(|slot| &slot.record)
    }

    /// Whether `instance` executed here.
    pub fn is_executed(&self, instance: InstanceId) -> bool {
        self.instances
            .get(&instance)
            .is_some_and(|slot| slot.executed)
    }

    /// How many instances executed here.
    pub fn executed_count(&self) -> u64 {
        self.executed_count
    }

    /// How many instances this replica holds.
    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// The decisions this incarnation recorded (an [`Audit`]).
    pub fn decisions(&self) -> &Audit<EpaxosDecision<S::Command>> {
        &self.decisions
    }

    /// The proposals this incarnation received.
    pub fn proposals(&self) -> &Audit<S::Command> {
        &self.proposals
    }

    // ----- shared helpers --------------------------------------------

    pub(crate) fn id(&self) -> NodeId {
        self.config.id
    }

    pub(crate) fn reject(&mut self, error: PaxosError) {
        self.counters.rejected += 1;
        self.last_rejection = Some(error);
    }

    pub(crate) fn enter(
        &mut self,
        mode: EpaxosMode,
        trigger: &str,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Some(transition) = self.mode.enter(mode, trigger, now) {
            out.push(Action::ModeChanged(transition));
        }
    }

    pub(crate) fn send(
        &self,
        to: NodeId,
        message: EpaxosMessage<S::Command>,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        out.push(Action::Send { to, message });
    }

    /// Registers `instance` as the latest of its replica on `key`.
    pub(crate) fn register(
        &mut self,
        key: <S::Command as Interfering>::Key,
        instance: InstanceId,
        seq: u64,
    ) {
        let deps = self.conflicts.entry(key.clone()).or_default();
        super::instance::merge_dep(deps, instance);
        let max = self.key_seq.entry(key).or_insert(0);
        *max = (*max).max(seq);
    }

    /// The attributes a new or pre-accepted instance on `key` gets here:
    /// the latest interfering instance of every replica (but itself), and
    /// one more than the largest sequence number seen on the key.
    pub(crate) fn local_attributes(
        &self,
        key: &<S::Command as Interfering>::Key,
        instance: InstanceId,
    ) -> Attributes {
        let deps = self
            .conflicts
            .get(key)
            .map(|deps| deps.iter().copied().filter(|d| *d != instance).collect())
            .unwrap_or_default();
        let seq = self.key_seq.get(key).copied().unwrap_or(0) + 1;
        Attributes { seq, deps }
    }

    /// Stores `record` for `instance` (in memory at once, durably by the
    /// write emitted) and returns the write's id.
    pub(crate) fn store(
        &mut self,
        instance: InstanceId,
        record: InstanceRecord<S::Command>,
        out: &mut Vec<ActionOf<Self>>,
    ) -> PersistId {
        if let Some(command) = &record.command {
            self.register(command.interference_key(), instance, record.attributes.seq);
        }
        let id = self.gate.next_persist_id();
        out.push(Action::Persist {
            id,
            write: EpaxosWrite {
                instance,
                record: record.clone(),
            },
        });
        match self.instances.get_mut(&instance) {
            Some(slot) => slot.record = record,
            None => {
                self.instances.insert(
                    instance,
                    Slot {
                        record,
                        executed: false,
                    },
                );
            }
        }
        id
    }

    /// The ballot `instance` is promised at here.
    pub(crate) fn promised(&self, instance: InstanceId) -> Ballot {
        self.instances
            .get(&instance)
            .map_or(Ballot::ZERO, |slot| slot.record.promised)
    }

    /// Checks a message's instance, ballot and attributes.
    fn check_message(
        &self,
        from: NodeId,
        message: &EpaxosMessage<S::Command>,
    ) -> Result<(), PaxosError> {
        let members = &self.config.members;
        if !members.contains(&from) {
            return Err(PaxosError::UnknownSender { from });
        }
        if let EpaxosMessage::Frontier { committed } = message {
            crate::error::check_size(from, "frontier", committed.len(), members.len())?;
            if committed.iter().any(|i| !members.contains(&i.replica)) {
                return Err(PaxosError::Malformed {
                    from,
                    reason: "a frontier names a replica outside the configuration",
                });
            }
            return Ok(());
        }
        let Some(instance) = message.instance() else {
            return Ok(());
        };
        if !members.contains(&instance.replica) || instance.number == 0 {
            return Err(PaxosError::Malformed {
                from,
                reason: "an instance of a replica outside the configuration",
            });
        }
        message.ballot().check(from, members)?;
        let attributes = match message {
            EpaxosMessage::PreAccept { attributes, .. }
            | EpaxosMessage::Accept { attributes, .. }
            | EpaxosMessage::Commit { attributes, .. }
            | EpaxosMessage::PreAcceptReply { attributes, .. } => Some(attributes),
            EpaxosMessage::PrepareReply {
                report: Some(report),
                ..
            } => Some(&report.attributes),
            _ => None,
        };
        if let Some(attributes) = attributes {
            crate::error::check_size(from, "dependencies", attributes.deps.len(), members.len())?;
            let sorted = attributes
                .deps
                .windows(2)
                .all(|w| w[0].replica < w[1].replica);
            let known = attributes
                .deps
                .iter()
                .all(|d| members.contains(&d.replica) && d.number > 0 && *d != instance);
            if !sorted || !known {
                return Err(PaxosError::Malformed {
                    from,
                    reason: "dependencies not one per member replica, sorted, excluding the instance",
                });
            }
        }
        if let EpaxosMessage::PreAccept { ballot, .. } = message
            && ballot.is_zero()
            && from != instance.replica
        {
            return Err(PaxosError::Malformed {
                from,
                reason: "only the command leader pre-accepts in the initial ballot",
            });
        }
        Ok(())
    }

    fn on_message(
        &mut self,
        from: NodeId,
        message: EpaxosMessage<S::Command>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Err(error) = self.check_message(from, &message) {
            self.reject(error);
            return;
        }
        self.highest_round_seen = self.highest_round_seen.max(message.ballot().round);
        match message {
            EpaxosMessage::PreAccept {
                instance,
                ballot,
                command,
                attributes,
            } => self.on_pre_accept(from, instance, ballot, command, attributes, out),
            EpaxosMessage::PreAcceptReply {
                instance,
                ballot,
                attributes,
                unchanged,
            } => self.on_pre_accept_reply(from, instance, ballot, attributes, unchanged, now, out),
            EpaxosMessage::Accept {
                instance,
                ballot,
                command,
                attributes,
            } => self.on_accept(from, instance, ballot, command, attributes, out),
            EpaxosMessage::AcceptReply { instance, ballot } => {
                self.on_accept_reply(from, instance, ballot, now, out);
            }
            EpaxosMessage::Nack {
                instance,
                ballot,
                promised,
            } => self.on_nack(instance, ballot, promised),
            EpaxosMessage::Commit {
                instance,
                command,
                attributes,
            } => self.on_commit(instance, command, attributes, now, out),
            EpaxosMessage::Prepare { instance, ballot } => {
                self.on_prepare(from, instance, ballot, out)
            }
            EpaxosMessage::PrepareReply {
                instance,
                ballot,
                report,
            } => self.on_prepare_reply(from, instance, ballot, report, now, out),
            EpaxosMessage::Frontier { committed } => self.on_frontier(from, committed, out),
        }
    }

    /// A peer's frontier: send it the commits it lacks, a batch per
    /// replica.
    fn on_frontier(
        &mut self,
        from: NodeId,
        committed: Vec<InstanceId>,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let theirs: BTreeMap<NodeId, u64> =
            committed.iter().map(|i| (i.replica, i.number)).collect();
        for (replica, ours) in self.frontier.clone() {
            let known = theirs.get(&replica).copied().unwrap_or(0);
            let last = ours.min(known.saturating_add(self.config.sync_batch_max as u64));
            for number in known + 1..=last {
                let instance = InstanceId::new(replica, number);
                if let Some(record) = self.committed(instance) {
                    let message = EpaxosMessage::Commit {
                        instance,
                        command: record.command.clone(),
                        attributes: record.attributes.clone(),
                    };
                    self.send(from, message, out);
                }
            }
        }
    }

    /// Moves `instance`'s replica's frontier over every committed instance.
    pub(crate) fn advance_frontier(&mut self, instance: InstanceId) {
        let mut at = self.frontier.get(&instance.replica).copied().unwrap_or(0);
        while self
            .committed(InstanceId::new(instance.replica, at + 1))
            .is_some()
        {
            at += 1;
        }
        if at > 0 {
            self.frontier.insert(instance.replica, at);
        }
    }

    fn on_persisted(&mut self, up_to: PersistId, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        self.gate.persisted(up_to, out);
        while let Some((id, instance, ballot)) = self.self_votes.front().copied() {
            if !self.gate.is_durable(id) {
                break;
            }
            self.self_votes.pop_front();
            self.self_vote_durable(instance, ballot, now, out);
        }
        self.release_commits(now, out);
    }

    fn on_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        self.leading_tick(now, out);
        self.recovery_tick(now, out);
        if now >= self.sync_at {
            self.sync_at = now + self.config.sync_interval;
            let committed: Vec<InstanceId> = self
                .frontier
                .iter()
                .map(|(replica, number)| InstanceId::new(*replica, *number))
                .collect();
            for member in self.config.members.clone() {
                if member != self.id() {
                    self.send(
                        member,
                        EpaxosMessage::Frontier {
                            committed: committed.clone(),
                        },
                        out,
                    );
                }
            }
        }
    }

    /// The next instant something is due: a retry, a recovery.
    fn compute_deadline(&self) -> Option<Instant> {
        let leading = self.leading.values().map(|l| l.retry_at).min();
        let recovering = self.recovering.values().map(|r| r.retry_at).min();
        let blocked = self
            .blocked
            .iter()
            .filter(|(instance, _)| {
                !self.recovering.contains_key(instance) && !self.leading.contains_key(instance)
            })
            .map(|(_, since)| *since + self.config.recovery_timeout)
            .min();
        [leading, recovering, blocked, Some(self.sync_at)]
            .into_iter()
            .flatten()
            .min()
    }
}

/// A random duration in `[base, 2 · base)`.
pub(crate) fn jitter(rng: &mut SeededRng, base: Duration) -> Duration {
    let nanos = tessera_core::duration_nanos(base).max(1);
    Duration::from_nanos(nanos + rng.below(nanos))
}

impl<S: StateMachine> Protocol for Epaxos<S>
where
    S::Command: Interfering,
{
    type Message = EpaxosMessage<S::Command>;
    type Request = S::Command;
    type Response = EpaxosResponse<S::Output>;
    type Write = EpaxosWrite<S::Command>;
    type Mode = EpaxosMode;

    fn id(&self) -> NodeId {
        self.config.id
    }

    fn mode(&self) -> EpaxosMode {
        self.mode.current()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.tick_at
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        match input {
            Input::Request { id, request } => self.propose(id, request, now, out),
            Input::Message { from, message } => self.on_message(from, message, now, out),
            Input::Persisted { up_to } => self.on_persisted(up_to, now, out),
            Input::Tick => self.on_tick(now, out),
        }
        self.tick_at = self.compute_deadline();
    }
}

impl<S: StateMachine> Epaxos<S>
where
    S::Command: Interfering,
{
    /// The record for `instance` if it is committed here.
    pub(crate) fn committed(&self, instance: InstanceId) -> Option<&InstanceRecord<S::Command>> {
        self.instances
            .get(&instance)
            .map(|slot| &slot.record)
            .filter(|record| record.status == Some(Status::Committed))
    }

    /// Records the decision and queues the instance for execution.
    pub(crate) fn note_committed(&mut self, instance: InstanceId) {
        if let Some(slot) = self.instances.get(&instance)
            && !slot.executed
        {
            if self.decisions.is_enabled() {
                let record = &slot.record;
                self.decisions.record(EpaxosDecision::Committed {
                    instance,
                    command: record.command.clone(),
                    attributes: record.attributes.clone(),
                });
            }
            self.pending.insert(instance);
            self.blocked.remove(&instance);
            self.advance_frontier(instance);
        }
    }
}

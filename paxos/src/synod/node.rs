//! The Synod node: proposer, acceptor and learner of one decision.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurabilityGate, Input, InputOf, Instant, ModeTracker, NodeId, Protocol,
    RequestId, SeededRng,
};
use tessera_quorum::{Phase, QuorumCertificate, QuorumSystem, VoteOutcome, VoteTally};

use super::config::SYNOD_LEARNING_BALLOTS_MAX;
use super::{SynodConfig, SynodDisk, SynodMessage, SynodWrite};
use crate::invariants::{Decision, ObservedLearner};
use crate::{Audit, Ballot, PaxosError, PaxosMode, PaxosQuorums};

/// The actions a synod node emits.
type SynodAction<V> = Action<SynodMessage<V>, SynodWrite<V>, SynodResponse<V>, PaxosMode>;
/// The answer to a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SynodResponse<V> {
    /// This value was chosen — the one proposed, or another proposer's.
    Chosen(V),
    /// Too many requests are waiting; this one was dropped.
    Overloaded,
}

/// The certificate that a value was chosen: a phase-two quorum accepted it
/// in one ballot (core evidence, scoped to instance 0 of that ballot).
pub type ChosenCertificate<V> = QuorumCertificate<V, Arc<PaxosQuorums>>;

enum ProposerPhase<V> {
    /// Not proposing.
    Idle,
    /// Phase 1: collecting promises for the current ballot.
    Preparing {
        promises: VoteTally<(), Arc<PaxosQuorums>>,
        highest: Option<(Ballot, V)>,
    },
    /// Phase 2: the value is out for acceptance.
    Accepting,
    /// Preempted: waiting for the retry deadline.
    BackingOff,
}

/// What a Synod node counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynodCounters {
    /// Ballots this node started (phase 1 attempts).
    pub ballots_started: u64,
    /// Times this node was preempted by a higher ballot.
    pub preemptions: u64,
    /// Messages dropped as a peer's misbehaviour (see
    /// [`Synod::last_rejection`]).
    pub rejected: u64,
}

/// One node of single-decree Paxos — proposer, acceptor and learner at
/// once (Lamport, "Paxos Made Simple", §2).
///
/// - As a **proposer**, it takes the first value a client gives it, picks a
///   ballot above every ballot it has seen, collects promises from a
///   phase-one quorum (a promise certificate), proposes the value of the
///   highest-ballot acceptance reported — or its own if none — and retries
///   with a higher ballot, after a random backoff, when preempted or when
///   the retry timeout passes.
/// - As an **acceptor**, it promises and accepts by the rules of §2.2, and
///   answers only once the promise or acceptance is durable.
/// - As a **learner**, it counts the acceptors' `Accepted` messages per
///   ballot and learns a value once a phase-two quorum accepted it in one
///   ballot (the chosen certificate). Every waiting client is then answered
///   with the chosen value.
///
/// See the [module documentation](crate::synod) for an example.
pub struct Synod<V> {
    config: SynodConfig,
    quorums: Arc<PaxosQuorums>,
    rng: SeededRng,
    // Acceptor.
    promised: Ballot,
    accepted: Option<(Ballot, V)>,
    // Proposer.
    proposal: Option<V>,
    ballot: Ballot,
    phase: ProposerPhase<V>,
    retry_at: Option<Instant>,
    highest_round_seen: u64,
    promise_certificate: Option<QuorumCertificate<(), Arc<PaxosQuorums>>>,
    waiting: Vec<RequestId>,
    // Learner.
    learning: BTreeMap<Ballot, VoteTally<V, Arc<PaxosQuorums>>>,
    chosen: Option<ChosenCertificate<V>>,
    gate: DurabilityGate<SynodAction<V>>,
    mode: ModeTracker<PaxosMode>,
    counters: SynodCounters,
    last_rejection: Option<PaxosError>,
    decisions: Audit<Decision<V>>,
    proposals: Audit<V>,
}

impl<V: Clone + Eq + Debug> Synod<V> {
    /// A node starting from its durable state `disk` (the default disk for
    /// a first start) at `now`, drawing its random backoffs from `seed`.
    pub fn new(config: SynodConfig, disk: &SynodDisk<V>, seed: u64, now: Instant) -> Self {
        let quorums = Arc::new(config.quorums.clone());
        let audit = config.audit_capacity;
        Synod {
            quorums,
            rng: SeededRng::new(seed),
            promised: disk.promised,
            accepted: disk.accepted.clone(),
            proposal: None,
            ballot: Ballot::ZERO,
            phase: ProposerPhase::Idle,
            retry_at: None,
            highest_round_seen: disk.promised.round,
            promise_certificate: None,
            waiting: Vec::new(),
            learning: BTreeMap::new(),
            chosen: None,
            gate: DurabilityGate::new(),
            mode: ModeTracker::new(PaxosMode::Bootstrap, now),
            counters: SynodCounters::default(),
            last_rejection: None,
            decisions: Audit::new(audit),
            proposals: Audit::new(audit),
            config,
        }
    }

    /// The chosen value, once learned.
    pub fn chosen(&self) -> Option<&V> {
        self.chosen.as_ref().map(QuorumCertificate::value)
    }

    /// The certificate of the chosen value, once learned.
    pub fn chosen_certificate(&self) -> Option<&ChosenCertificate<V>> {
        self.chosen.as_ref()
    }

    /// The promise certificate of this node's current ballot, once a
    /// phase-one quorum promised it.
    pub fn promise_certificate(&self) -> Option<&QuorumCertificate<(), Arc<PaxosQuorums>>> {
        self.promise_certificate.as_ref()
    }

    /// The highest ballot this node (as acceptor) promised.
    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// This node's last acceptance (as acceptor).
    pub fn accepted(&self) -> Option<&(Ballot, V)> {
        self.accepted.as_ref()
    }

    /// The ballot this node last proposed with ([`Ballot::ZERO`] if none).
    pub fn ballot(&self) -> Ballot {
        self.ballot
    }

    /// What this node counted.
    pub fn counters(&self) -> SynodCounters {
        self.counters
    }

    /// Why the last dropped message was dropped.
    pub fn last_rejection(&self) -> Option<&PaxosError> {
        self.last_rejection.as_ref()
    }

    fn members(&self) -> &[NodeId] {
        self.quorums.members()
    }

    fn broadcast(&self, message: SynodMessage<V>, out: &mut Vec<ActionOf<Self>>) {
        for member in self.members() {
            out.push(Action::Send {
                to: *member,
                message: message.clone(),
            });
        }
    }

    fn enter(
        &mut self,
        mode: PaxosMode,
        trigger: &str,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Some(transition) = self.mode.enter(mode, trigger, now) {
            out.push(Action::ModeChanged(transition));
        }
    }

    fn reject(&mut self, error: PaxosError) {
        self.counters.rejected += 1;
        self.last_rejection = Some(error);
    }

    fn persist(&mut self, out: &mut Vec<ActionOf<Self>>) -> tessera_core::PersistId {
        let id = self.gate.next_persist_id();
        out.push(Action::Persist {
            id,
            write: SynodWrite {
                promised: self.promised,
                accepted: self.accepted.clone(),
            },
        });
        id
    }

    /// Phase 1a with a ballot above every ballot seen.
    fn start_ballot(&mut self, now: Instant, trigger: &str, out: &mut Vec<ActionOf<Self>>) {
        let round = self
            .highest_round_seen
            .max(self.ballot.round)
            .max(self.promised.round);
        self.ballot = Ballot::new(round, self.config.id).successor(self.config.id);
        self.highest_round_seen = self.ballot.round;
        self.counters.ballots_started += 1;
        self.promise_certificate = None;
        self.phase = ProposerPhase::Preparing {
            promises: VoteTally::new(
                Arc::clone(&self.quorums),
                Phase::Read,
                self.ballot.epoch(),
                0,
                (),
            ),
            highest: None,
        };
        self.retry_at = Some(now + self.config.retry_timeout);
        self.enter(PaxosMode::LeaderChange, trigger, now, out);
        self.broadcast(
            SynodMessage::Prepare {
                ballot: self.ballot,
            },
            out,
        );
    }

    fn on_request(&mut self, id: RequestId, value: V, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        self.proposals.record_with(|| value.clone());
        if let Some(chosen) = self.chosen() {
            let response = SynodResponse::Chosen(chosen.clone());
            out.push(Action::Reply { id, response });
            return;
        }
        if self.waiting.len() >= self.config.waiting_max {
            out.push(Action::Reply {
                id,
                response: SynodResponse::Overloaded,
            });
            return;
        }
        self.waiting.push(id);
        if self.proposal.is_none() {
            self.proposal = Some(value);
        }
        if matches!(self.phase, ProposerPhase::Idle) {
            self.start_ballot(now, "a client proposal with no leader", out);
        }
    }

    /// Tells `to` the decision, with its certificate.
    fn send_decided(&self, to: NodeId, out: &mut Vec<ActionOf<Self>>) {
        if let Some(chosen) = &self.chosen {
            out.push(Action::Send {
                to,
                message: SynodMessage::Decided {
                    ballot: ballot_of_epoch(chosen.round()),
                    value: chosen.value().clone(),
                    voters: chosen.voters().collect(),
                },
            });
        }
    }

    fn on_prepare(&mut self, from: NodeId, ballot: Ballot, out: &mut Vec<ActionOf<Self>>) {
        if self.chosen.is_some() {
            self.send_decided(from, out);
            return;
        }
        self.highest_round_seen = self.highest_round_seen.max(ballot.round);
        if ballot < self.promised {
            out.push(Action::Send {
                to: from,
                message: SynodMessage::Nack {
                    ballot,
                    promised: self.promised,
                },
            });
            return;
        }
        let promise = Action::Send {
            to: from,
            message: SynodMessage::Promise {
                ballot,
                accepted: self.accepted.clone(),
            },
        };
        if ballot > self.promised {
            self.promised = ballot;
            let id = self.persist(out);
            self.gate.after(id, promise, out);
        } else {
            // A repeated prepare: promise again once everything so far is
            // durable.
            self.gate.after_pending(promise, out);
        }
    }

    fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        accepted: Option<(Ballot, V)>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if ballot != self.ballot {
            return;
        }
        let ProposerPhase::Preparing { promises, highest } = &mut self.phase else {
            return;
        };
        if let Some((accepted_ballot, value)) = accepted {
            if accepted_ballot >= ballot {
                self.reject(PaxosError::Malformed {
                    from,
                    reason: "a promise reports an acceptance at or above the promised ballot",
                });
                return;
            }
            if highest.as_ref().is_none_or(|(b, _)| accepted_ballot > *b) {
                *highest = Some((accepted_ballot, value));
            }
        }
        // A duplicate promise is refused by the tally and changes nothing.
        if promises.record(from, ballot.epoch(), 0, &()) != Ok(VoteOutcome::Won) {
            return;
        }
        self.promise_certificate = promises.certificate();
        // P2c: the value of the highest-ballot acceptance reported, or our
        // own if none was reported.
        let value = match highest.take() {
            Some((_, value)) => value,
            None => match &self.proposal {
                Some(value) => value.clone(),
                None => return,
            },
        };
        self.phase = ProposerPhase::Accepting;
        self.enter(PaxosMode::StableLeader, "phase one won", now, out);
        self.broadcast(SynodMessage::Accept { ballot, value }, out);
    }

    fn on_accept(&mut self, from: NodeId, ballot: Ballot, value: V, out: &mut Vec<ActionOf<Self>>) {
        if self.chosen.is_some() {
            self.send_decided(from, out);
            return;
        }
        self.highest_round_seen = self.highest_round_seen.max(ballot.round);
        if ballot < self.promised {
            out.push(Action::Send {
                to: from,
                message: SynodMessage::Nack {
                    ballot,
                    promised: self.promised,
                },
            });
            return;
        }
        if let Some((accepted_ballot, accepted_value)) = &self.accepted
            && *accepted_ballot == ballot
            && *accepted_value != value
        {
            self.reject(PaxosError::Malformed {
                from,
                reason: "a second value proposed in one ballot",
            });
            return;
        }
        let accepted = SynodMessage::Accepted {
            ballot,
            value: value.clone(),
        };
        if self.accepted.as_ref() == Some(&(ballot, value.clone())) {
            // Already accepted: tell the learners again once durable.
            for member in self.quorums.members().to_vec() {
                let send = Action::Send {
                    to: member,
                    message: accepted.clone(),
                };
                self.gate.after_pending(send, out);
            }
            return;
        }
        self.promised = ballot;
        self.accepted = Some((ballot, value));
        let id = self.persist(out);
        for member in self.quorums.members().to_vec() {
            let send = Action::Send {
                to: member,
                message: accepted.clone(),
            };
            self.gate.after(id, send, out);
        }
    }

    fn on_accepted(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        value: V,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if self.chosen.is_some() {
            return;
        }
        self.highest_round_seen = self.highest_round_seen.max(ballot.round);
        let quorums = Arc::clone(&self.quorums);
        let tally = self.learning.entry(ballot).or_insert_with(|| {
            VoteTally::new(quorums, Phase::Write, ballot.epoch(), 0, value.clone())
        });
        match tally.record(from, ballot.epoch(), 0, &value) {
            Ok(VoteOutcome::Won) => {
                if let Some(certificate) = tally.certificate() {
                    self.learn(certificate.with_issued_at(now), now, out);
                }
            }
            Ok(_) => {}
            Err(tessera_quorum::QuorumError::VoteRejected {
                reason: tessera_quorum::VoteRejection::WrongValue,
                ..
            }) => self.reject(PaxosError::Malformed {
                from,
                reason: "two values accepted in one ballot",
            }),
            // A duplicate (the network repeats messages): nothing to do.
            Err(_) => {}
        }
        while self.learning.len() > SYNOD_LEARNING_BALLOTS_MAX {
            self.learning.pop_first();
        }
    }

    fn on_decided(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        value: V,
        voters: Vec<NodeId>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if self.chosen.is_some() {
            return;
        }
        if voters.len() > self.members().len() {
            self.reject(PaxosError::Oversized {
                from,
                what: "certificate voters",
                len: voters.len(),
                max: self.members().len(),
            });
            return;
        }
        match QuorumCertificate::from_votes(
            Arc::clone(&self.quorums),
            Phase::Write,
            ballot.epoch(),
            0,
            value,
            &voters,
        ) {
            Ok(certificate) => self.learn(certificate.with_issued_at(now), now, out),
            Err(_) => self.reject(PaxosError::Malformed {
                from,
                reason: "the certificate's voters are not a phase-two quorum of members",
            }),
        }
    }

    fn on_nack(
        &mut self,
        ballot: Ballot,
        promised: Ballot,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        self.highest_round_seen = self.highest_round_seen.max(promised.round);
        if ballot != self.ballot
            || !matches!(
                self.phase,
                ProposerPhase::Preparing { .. } | ProposerPhase::Accepting
            )
        {
            return;
        }
        self.counters.preemptions += 1;
        self.phase = ProposerPhase::BackingOff;
        let backoff_nanos = tessera_core::duration_nanos(self.config.backoff_max);
        let backoff = Duration::from_nanos(self.rng.below(backoff_nanos.max(1)));
        self.retry_at = Some(now + backoff);
        self.enter(
            PaxosMode::LeaderSuspected,
            "preempted by a higher ballot",
            now,
            out,
        );
    }

    fn learn(
        &mut self,
        certificate: ChosenCertificate<V>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let value = certificate.value().clone();
        self.decisions.record_with(|| Decision::Applied {
            instance: 0,
            value: value.clone(),
        });
        self.chosen = Some(certificate);
        self.learning.clear();
        self.phase = ProposerPhase::Idle;
        self.retry_at = None;
        for id in std::mem::take(&mut self.waiting) {
            out.push(Action::Reply {
                id,
                response: SynodResponse::Chosen(value.clone()),
            });
        }
        self.enter(PaxosMode::StableLeader, "a value was chosen", now, out);
    }

    fn on_message(
        &mut self,
        from: NodeId,
        message: SynodMessage<V>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if !self.members().contains(&from) {
            self.reject(PaxosError::UnknownSender { from });
            return;
        }
        if let Err(error) = message.ballot().check(from, self.members()) {
            self.reject(error);
            return;
        }
        match message {
            SynodMessage::Prepare { ballot } => self.on_prepare(from, ballot, out),
            SynodMessage::Promise { ballot, accepted } => {
                if let Some((accepted_ballot, _)) = &accepted
                    && let Err(error) = accepted_ballot.check(from, self.members())
                {
                    self.reject(error);
                    return;
                }
                self.on_promise(from, ballot, accepted, now, out);
            }
            SynodMessage::Accept { ballot, value } => self.on_accept(from, ballot, value, out),
            SynodMessage::Accepted { ballot, value } => {
                self.on_accepted(from, ballot, value, now, out)
            }
            SynodMessage::Nack { ballot, promised } => {
                if let Err(error) = promised.check(from, self.members()) {
                    self.reject(error);
                    return;
                }
                self.on_nack(ballot, promised, now, out);
            }
            SynodMessage::Decided {
                ballot,
                value,
                voters,
            } => self.on_decided(from, ballot, value, voters, now, out),
        }
    }
}

/// The ballot a packed epoch stands for.
pub(crate) fn ballot_of_epoch(epoch: u64) -> Ballot {
    Ballot::new(epoch >> 32, epoch & crate::NODE_ID_MAX)
}

impl<V: Clone + Eq + Debug> Protocol for Synod<V> {
    type Message = SynodMessage<V>;
    type Request = V;
    type Response = SynodResponse<V>;
    type Write = SynodWrite<V>;
    type Mode = PaxosMode;

    fn id(&self) -> NodeId {
        self.config.id
    }

    fn mode(&self) -> PaxosMode {
        self.mode.current()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.retry_at
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        match input {
            Input::Request { id, request } => self.on_request(id, request, now, out),
            Input::Message { from, message } => self.on_message(from, message, now, out),
            Input::Persisted { up_to } => self.gate.persisted(up_to, out),
            Input::Tick => {
                if self.retry_at.is_some_and(|at| now >= at) {
                    self.retry_at = None;
                    if self.chosen.is_none() && self.proposal.is_some() {
                        self.start_ballot(now, "the proposal was not chosen in time", out);
                    }
                }
            }
        }
    }
}

impl<V> ObservedLearner for Synod<V>
where
    V: Clone,
{
    type Value = V;
    type Command = V;

    fn decisions(&self) -> &Audit<Decision<V>> {
        &self.decisions
    }

    fn proposals(&self) -> &Audit<V> {
        &self.proposals
    }

    fn commands_of(value: &V) -> Vec<V> {
        vec![value.clone()]
    }
}

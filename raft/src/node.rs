//! The node: its state, how it starts, and how one input becomes actions.
//!
//! The concerns live in their own files — [`election`](crate::election),
//! [`replication`](crate::replication), [`read`](crate::read),
//! [`snapshot`](crate::snapshot), [`transfer`](crate::transfer),
//! [`reconfiguration`](crate::reconfiguration),
//! [`forward`](crate::forward) — as further `impl RaftNode` blocks; this
//! file holds the state they share and the steps every input goes through.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tessera_core::{
    Action, DurabilityGate, Input, InputOf, Instant, ModeTracker, NodeId, PersistId, Protocol,
    RequestId, SeededRng, duration_nanos,
};
use tessera_storage::{Codec, HardState, LogPosition, LogWrite};

use crate::election::Election;
use crate::forward::PendingForward;
use crate::replication::Leadership;
use crate::snapshot::SnapshotState;
use crate::{
    Entry, Membership, Message, MessageRejection, Payload, RaftConfig, RaftCounters, RaftError,
    RaftLog, RaftMode, RaftWrite, Recovered, Request, Response, StateMachine, VoterQuorum,
};

/// The actions a [`RaftNode<S>`] emits.
pub type RaftAction<S> = Action<
    Message<<S as StateMachine>::Command>,
    RaftWrite<<S as StateMachine>::Command>,
    Response<<S as StateMachine>::Output, <S as StateMachine>::QueryOutput>,
    RaftMode,
>;

/// The inputs a [`RaftNode<S>`] takes.
pub type RaftInput<S> = Input<
    Message<<S as StateMachine>::Command>,
    Request<<S as StateMachine>::Command, <S as StateMachine>::Query>,
>;

/// How a node starts: its identity, its seed, the time, and what it
/// recovered from stable storage.
#[derive(Debug, Clone)]
pub struct Startup<C> {
    /// The node's id.
    pub id: NodeId,
    /// Seeds the node's random choices (election timeouts). The driver picks
    /// it, so a run can be replayed.
    pub seed: u64,
    /// The node's clock at start.
    pub now: Instant,
    /// The voters of a brand-new cluster, the same on every initial node;
    /// empty for a node that will be added to an existing cluster (it waits,
    /// as a non-member, to be contacted). Ignored when stable storage
    /// already holds a configuration.
    pub initial_voters: Vec<NodeId>,
    /// What stable storage holds. The state machine handed to the node
    /// must already be restored from `recovered.snapshot`.
    pub recovered: Recovered<C>,
}

impl<C> Startup<C> {
    /// A node of a new cluster of `voters`, starting with empty storage.
    pub fn bootstrap(id: NodeId, seed: u64, now: Instant, voters: Vec<NodeId>) -> Self {
        Startup {
            id,
            seed,
            now,
            initial_voters: voters,
            recovered: Recovered::empty(),
        }
    }

    /// A node that will be added to an existing cluster, starting with
    /// empty storage.
    pub fn join(id: NodeId, seed: u64, now: Instant) -> Self {
        Self::bootstrap(id, seed, now, Vec::new())
    }

    /// A node restarting from what it recovered.
    pub fn recover(id: NodeId, seed: u64, now: Instant, recovered: Recovered<C>) -> Self {
        Startup {
            id,
            seed,
            now,
            initial_voters: Vec::new(),
            recovered,
        }
    }
}

/// What a node is doing in its current term.
pub(crate) enum Role<S: StateMachine> {
    Follower,
    PreCandidate(Election),
    Candidate(Election),
    Leader(Box<Leadership<S>>),
}

/// The role, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RoleKind {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asks for pre-votes.
    PreCandidate,
    /// Asks for votes in a new term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// A proposal appended to the log, waiting to be applied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingProposal {
    pub(crate) at: LogPosition,
    pub(crate) id: RequestId,
}

/// The membership configuration in force and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct MembershipState {
    /// The configuration in force: the latest in the log.
    pub(crate) current: Membership,
    /// The log index of the entry it came from (0: bootstrap or snapshot
    /// base).
    pub(crate) index: u64,
    /// Its quorum system (`None` for the empty configuration).
    pub(crate) quorum: Option<VoterQuorum>,
    /// The configuration at the log's base (from the snapshot, or the
    /// bootstrap configuration), and the base index.
    pub(crate) base: (u64, Membership),
}

/// The hard state last handed to the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SavedHardState {
    pub(crate) term: u64,
    pub(crate) vote: Option<NodeId>,
    pub(crate) commit: u64,
}

/// A Raft node, generic over the application's [`StateMachine`].
///
/// It implements tessera-core's [`Protocol`]: a driver hands it inputs
/// (messages, client requests, ticks, storage completions) and performs the
/// actions it returns (send, persist, reply, report a mode change). See the
/// [crate documentation](crate) for the whole lifecycle.
pub struct RaftNode<S: StateMachine> {
    pub(crate) id: NodeId,
    pub(crate) config: RaftConfig,
    pub(crate) rng: SeededRng,
    pub(crate) sm: S,
    pub(crate) log: RaftLog<S::Command>,
    pub(crate) term: u64,
    pub(crate) vote: Option<NodeId>,
    pub(crate) commit: u64,
    pub(crate) saved: SavedHardState,
    /// The bootstrap configuration, encoded, carried in every hard state.
    pub(crate) bootstrap_configuration: Vec<u8>,
    pub(crate) applied: LogPosition,
    pub(crate) role: Role<S>,
    pub(crate) leader: Option<NodeId>,
    /// When this node last heard from its leader — or started, which
    /// counts the same: it may have acknowledged a leader just before a
    /// crash, so it keeps that leader's lease safe for an election timeout.
    pub(crate) leader_contact: Instant,
    pub(crate) election_deadline: Instant,
    pub(crate) now: Instant,
    pub(crate) membership: MembershipState,
    pub(crate) gate: DurabilityGate<RaftAction<S>>,
    /// Log writes not yet durable, with the last index the log has after
    /// each.
    pub(crate) log_writes: VecDeque<(PersistId, u64)>,
    /// The last log index durable on this node's disk (and matching the
    /// in-memory log).
    pub(crate) durable_last: u64,
    pub(crate) snapshot: SnapshotState,
    pub(crate) proposals: VecDeque<PendingProposal>,
    pub(crate) forwards: BTreeMap<u64, PendingForward>,
    pub(crate) transfer_waiters: Option<crate::transfer::TransferWaiters>,
    pub(crate) next_forward_id: u64,
    pub(crate) mode: ModeTracker<RaftMode>,
    pub(crate) counters: RaftCounters,
}

impl<S: StateMachine> std::fmt::Debug for RaftNode<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.id)
            .field("role", &self.role_kind())
            .field("term", &self.term)
            .field("vote", &self.vote)
            .field("leader", &self.leader)
            .field("commit", &self.commit)
            .field("applied", &self.applied)
            .field("last_log", &self.log.last_position())
            .field("membership", &self.membership.current)
            .field("mode", &self.mode.current())
            .finish()
    }
}

fn recovery(reason: impl Into<String>) -> RaftError {
    RaftError::Recovery {
        reason: reason.into(),
    }
}

impl<S: StateMachine> RaftNode<S> {
    /// Starts a node.
    ///
    /// # Errors
    ///
    /// [`RaftError::InvalidConfig`] for a bad configuration,
    /// [`RaftError::InvalidMembership`] for bad initial voters, and
    /// [`RaftError::Recovery`] if the recovered state is inconsistent (a
    /// log purged past its snapshot, a commit index beyond the log, an
    /// undecodable configuration).
    pub fn start(
        startup: Startup<S::Command>,
        config: RaftConfig,
        state_machine: S,
    ) -> Result<Self, RaftError> {
        config.validate()?;
        let Startup {
            id,
            seed,
            now,
            initial_voters,
            recovered,
        } = startup;
        let fresh = recovered.is_empty();
        let Recovered {
            hard_state,
            snapshot,
            log_base,
            entries,
        } = recovered;
        let log = RaftLog::new(log_base, entries).map_err(recovery)?;

        let bootstrap = match &hard_state {
            Some(state) if !state.configuration.is_empty() => {
                Membership::decode(&state.configuration).map_err(recovery)?
            }
            Some(_) if !fresh => Membership::empty(),
            _ if initial_voters.is_empty() => Membership::empty(),
            _ => Membership::new(initial_voters)?,
        };
        let (snapshot_last, snapshot_membership) = match &snapshot {
            Some(meta) => (
                meta.last,
                Some(Membership::decode(&meta.configuration).map_err(recovery)?),
            ),
            None => (LogPosition::ZERO, None),
        };
        if log.base().index > snapshot_last.index {
            return Err(recovery(format!(
                "the log is purged to index {} but the latest snapshot ends at {}",
                log.base().index,
                snapshot_last.index
            )));
        }
        if snapshot_last.index > log.last_index() {
            // The snapshot is newer than the whole log; the purge that
            // followed it was lost in a crash. The snapshot wins.
        } else if snapshot_last.index > log.base().index
            && log.term_at(snapshot_last.index) != Some(snapshot_last.term)
        {
            return Err(recovery(format!(
                "the log's entry at {} does not match the snapshot's term {}",
                snapshot_last.index, snapshot_last.term
            )));
        }
        let mut log = log;
        if snapshot_last.index > log.last_index() {
            log.purge_to(snapshot_last);
        }
        let (term, vote, saved_commit) = hard_state
            .as_ref()
            .map_or((0, None, 0), |h| (h.term, h.vote, h.commit));
        let commit = saved_commit.max(snapshot_last.index);
        if commit > log.last_index() {
            return Err(recovery(format!(
                "the commit index {commit} is beyond the log's last index {}",
                log.last_index()
            )));
        }
        let base_membership = snapshot_membership.unwrap_or_else(|| bootstrap.clone());
        let mut node = RaftNode {
            id,
            rng: SeededRng::new(seed),
            sm: state_machine,
            term,
            vote,
            commit,
            saved: SavedHardState {
                term,
                vote,
                commit: saved_commit,
            },
            bootstrap_configuration: if bootstrap.is_empty() {
                Vec::new()
            } else {
                bootstrap.to_bytes()
            },
            applied: snapshot_last,
            role: Role::Follower,
            leader: None,
            leader_contact: now,
            election_deadline: now,
            now,
            membership: MembershipState {
                quorum: base_membership.quorum(),
                current: base_membership.clone(),
                index: snapshot_last.index,
                base: (snapshot_last.index, base_membership),
            },
            gate: DurabilityGate::new(),
            log_writes: VecDeque::new(),
            durable_last: log.last_index(),
            snapshot: SnapshotState::recovered(snapshot, snapshot_last),
            log,
            proposals: VecDeque::new(),
            forwards: BTreeMap::new(),
            transfer_waiters: None,
            // Forward ids start at random, so that a restarted follower's
            // ids do not collide with those of its previous life.
            next_forward_id: 0,
            mode: ModeTracker::new(RaftMode::Bootstrap, now),
            counters: RaftCounters::default(),
            config,
        };
        node.next_forward_id = node.rng.next_u64() >> 1;
        node.recompute_membership();
        node.reset_election_deadline();
        // Replay what is known committed; nobody waits for these outputs.
        let mut discarded = Vec::new();
        node.apply_committed(&mut discarded);
        Ok(node)
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The configuration.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// The vote cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }

    /// The leader of the current term, as far as this node knows.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Whether this node leads its term.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The role.
    pub fn role_kind(&self) -> RoleKind {
        match self.role {
            Role::Follower => RoleKind::Follower,
            Role::PreCandidate(_) => RoleKind::PreCandidate,
            Role::Candidate(_) => RoleKind::Candidate,
            Role::Leader(_) => RoleKind::Leader,
        }
    }

    /// The highest index known committed.
    pub fn commit_index(&self) -> u64 {
        self.commit
    }

    /// The position of the last entry applied to the state machine.
    pub fn applied(&self) -> LogPosition {
        self.applied
    }

    /// The log, as the node holds it in memory.
    pub fn log(&self) -> &RaftLog<S::Command> {
        &self.log
    }

    /// The membership configuration in force (the latest in the log).
    pub fn membership(&self) -> &Membership {
        &self.membership.current
    }

    /// The application's state machine.
    pub fn state_machine(&self) -> &S {
        &self.sm
    }

    /// The last log index durable on this node's disk.
    pub fn durable_index(&self) -> u64 {
        self.durable_last
    }

    /// Counters of what the node did and refused.
    pub fn counters(&self) -> &RaftCounters {
        &self.counters
    }

    // ---- shared helpers ---------------------------------------------------

    pub(crate) fn send(
        &self,
        to: NodeId,
        message: Message<S::Command>,
        out: &mut Vec<RaftAction<S>>,
    ) {
        out.push(Action::Send { to, message });
    }

    /// Sends `message` once everything written so far is durable: how
    /// every vote and acknowledgement leaves a node.
    pub(crate) fn send_when_durable(
        &mut self,
        to: NodeId,
        message: Message<S::Command>,
        out: &mut Vec<RaftAction<S>>,
    ) {
        self.gate.after_pending(Action::Send { to, message }, out);
    }

    pub(crate) fn reply(
        &self,
        id: RequestId,
        response: Response<S::Output, S::QueryOutput>,
        out: &mut Vec<RaftAction<S>>,
    ) {
        out.push(Action::Reply { id, response });
    }

    pub(crate) fn reject(&mut self, reason: MessageRejection) {
        self.counters.reject(reason);
    }

    /// Emits a write and returns its id.
    pub(crate) fn persist(
        &mut self,
        write: RaftWrite<S::Command>,
        out: &mut Vec<RaftAction<S>>,
    ) -> PersistId {
        let id = self.gate.next_persist_id();
        out.push(Action::Persist { id, write });
        id
    }

    /// Emits a log write made to the in-memory log already, recording the
    /// log's last index after it so that durability can be tracked.
    pub(crate) fn persist_log(
        &mut self,
        write: LogWrite<Entry<S::Command>, HardState>,
        out: &mut Vec<RaftAction<S>>,
    ) -> PersistId {
        let id = self.persist(RaftWrite::Log(write), out);
        self.log_writes.push_back((id, self.log.last_index()));
        if self.log.last_index() < self.durable_last {
            // A truncation: what is durable beyond it no longer counts.
            self.durable_last = self.log.last_index();
        }
        id
    }

    /// Emits the hard state if it changed since last emitted.
    pub(crate) fn save_hard_state(&mut self, out: &mut Vec<RaftAction<S>>) {
        let now = SavedHardState {
            term: self.term,
            vote: self.vote,
            commit: self.commit,
        };
        if now == self.saved {
            return;
        }
        self.saved = now;
        let state = HardState {
            term: self.term,
            vote: self.vote,
            commit: self.commit,
            configuration: self.bootstrap_configuration.clone(),
        };
        self.persist(RaftWrite::Log(LogWrite::HardState(state)), out);
    }

    pub(crate) fn random_election_timeout(&mut self) -> Duration {
        let min = duration_nanos(self.config.election_timeout_min);
        let max = duration_nanos(self.config.election_timeout_max);
        Duration::from_nanos(self.rng.range(min, max))
    }

    pub(crate) fn reset_election_deadline(&mut self) {
        let timeout = self.random_election_timeout();
        self.election_deadline = self.now + timeout;
    }

    pub(crate) fn command_bytes(command: &S::Command) -> usize {
        S::command_bytes(command)
    }

    /// Appends an entry of the current term at the leader and persists it.
    pub(crate) fn append_as_leader(
        &mut self,
        payload: Payload<S::Command>,
        out: &mut Vec<RaftAction<S>>,
    ) -> LogPosition {
        let at = LogPosition::new(self.log.last_index() + 1, self.term);
        let entry = Entry {
            index: at.index,
            term: at.term,
            payload,
        };
        let membership = match &entry.payload {
            Payload::Membership(m) => Some((**m).clone()),
            _ => None,
        };
        self.log.push(entry.clone());
        self.persist_log(LogWrite::Append(vec![entry]), out);
        if let Some(membership) = membership {
            self.enter_membership(at.index, membership);
        }
        at
    }

    // ---- the steps of one input -------------------------------------------

    fn on_persisted(&mut self, up_to: PersistId, out: &mut Vec<RaftAction<S>>) {
        while let Some((id, last)) = self.log_writes.front().copied() {
            if id > up_to {
                break;
            }
            self.log_writes.pop_front();
            self.durable_last = last;
        }
        self.gate.persisted(up_to, out);
        self.on_self_vote_durable(up_to, out);
        self.on_snapshot_writes_durable(up_to, out);
    }

    fn on_message(
        &mut self,
        from: NodeId,
        message: Message<S::Command>,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if from == self.id {
            // A node never messages itself; a transport that says so is
            // confused.
            self.reject(MessageRejection::NotAMember);
            return;
        }
        match message {
            Message::VoteRequest(request) => self.on_vote_request(from, request, out),
            Message::VoteResponse(response) => self.on_vote_response(from, response, out),
            Message::Append(request) => self.on_append(from, request, out),
            Message::AppendResponse(response) => self.on_append_response(from, response, out),
            Message::Heartbeat(heartbeat) => self.on_heartbeat(from, heartbeat, out),
            Message::HeartbeatResponse(response) => self.on_heartbeat_response(from, response, out),
            Message::Snapshot(chunk) => self.on_snapshot_chunk(from, *chunk, out),
            Message::SnapshotResponse(response) => self.on_snapshot_response(from, response, out),
            Message::TimeoutNow { term } => self.on_timeout_now(from, term, out),
            Message::Forward { id, command } => self.on_forward(from, id, command, out),
            Message::ForwardResponse { id, outcome } => {
                self.on_forward_response(from, id, outcome, out)
            }
        }
    }

    fn on_request(
        &mut self,
        id: RequestId,
        request: Request<S::Command, S::Query>,
        out: &mut Vec<RaftAction<S>>,
    ) {
        match request {
            Request::Propose(command) => self.propose(id, command, out),
            Request::Read { query, policy } => self.read(id, query, policy, out),
            Request::ChangeMembership(change) => self.change_membership(id, change, out),
            Request::TransferLeadership { to } => self.transfer_leadership(id, to, out),
        }
    }

    fn on_tick(&mut self, out: &mut Vec<RaftAction<S>>) {
        if self.is_leader() {
            self.leader_tick(out);
        } else if self.now >= self.election_deadline {
            self.on_election_timeout(out);
        }
        self.expire_forwards(out);
    }

    /// What every input ends with: commit, apply, answer reads, compact,
    /// and report the mode.
    fn settle(&mut self, out: &mut Vec<RaftAction<S>>) {
        if self.is_leader() {
            self.advance_commit();
        }
        self.apply_committed(out);
        if self.is_leader() {
            self.refresh_lease();
            self.serve_reads(out);
            self.check_transfer(out);
        }
        self.maybe_compact(out);
        self.resolve_transfer_waiters(out);
        self.update_mode(out);
    }

    /// A proposal from a client.
    fn propose(&mut self, id: RequestId, command: S::Command, out: &mut Vec<RaftAction<S>>) {
        if !self.is_leader() {
            if self.config.forward_proposals
                && let Some(leader) = self.leader
            {
                self.forward(id, leader, command, out);
            } else {
                let leader = self.leader;
                self.reply(id, Response::NotLeader { leader }, out);
            }
            return;
        }
        if let Some(error) = self.proposal_refusal() {
            self.reply(id, Response::Rejected(error), out);
            return;
        }
        let at = self.append_as_leader(Payload::Command(command), out);
        self.proposals.push_back(PendingProposal { at, id });
        self.broadcast_append(out);
    }

    /// Why the leader refuses new proposals now, if it does.
    pub(crate) fn proposal_refusal(&self) -> Option<RaftError> {
        if let Some(to) = self.transfer_target() {
            return Some(RaftError::TransferInProgress { to });
        }
        if self.proposals.len() >= self.config.proposals_pending_max {
            return Some(RaftError::Overloaded {
                queue: "proposals_pending",
                limit: self.config.proposals_pending_max,
            });
        }
        None
    }

    /// Records a proposal this node will answer when it applies `at`.
    pub(crate) fn track_proposal(
        &mut self,
        at: LogPosition,
        id: RequestId,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if at.index <= self.applied.index {
            // Applied before the answer arrived: the output is gone.
            self.reply(id, Response::Unknown, out);
            return;
        }
        if self.proposals.len() >= self.config.proposals_pending_max {
            self.reply(id, Response::Unknown, out);
            return;
        }
        let position = self.proposals.partition_point(|p| p.at.index <= at.index);
        self.proposals.insert(position, PendingProposal { at, id });
    }

    /// Applies committed entries to the state machine, answering the
    /// proposals waiting for them.
    pub(crate) fn apply_committed(&mut self, out: &mut Vec<RaftAction<S>>) {
        while self.applied.index < self.commit {
            let index = self.applied.index + 1;
            let Some(entry) = self.log.get(index) else {
                panic!(
                    "node {}: committed entry {index} is missing (log {:?}..{})",
                    self.id,
                    self.log.base(),
                    self.log.last_index()
                );
            };
            let term = entry.term;
            let (output, membership) = match &entry.payload {
                Payload::Command(command) => (Some(self.sm.apply(index, command)), None),
                Payload::Blank => (None, None),
                Payload::Membership(m) => (None, Some((**m).clone())),
            };
            self.applied = LogPosition::new(index, term);
            self.resolve_proposals(index, term, output, out);
            if let Some(membership) = membership {
                self.on_membership_committed(index, membership, out);
            }
        }
    }

    /// Answers the proposals waiting for `index`, applied with `term`.
    fn resolve_proposals(
        &mut self,
        index: u64,
        term: u64,
        mut output: Option<S::Output>,
        out: &mut Vec<RaftAction<S>>,
    ) {
        while let Some(front) = self.proposals.front().copied() {
            if front.at.index > index {
                break;
            }
            self.proposals.pop_front();
            let response = if front.at.index < index {
                Response::Unknown
            } else if front.at.term != term {
                Response::Dropped
            } else {
                match output.take() {
                    Some(output) => Response::Applied { index, output },
                    None => Response::Unknown,
                }
            };
            self.reply(front.id, response, out);
        }
    }

    /// Answers `Unknown` to every proposal at or below `index` (their
    /// entries were replaced by a snapshot before this node applied them).
    pub(crate) fn forget_proposals_through(&mut self, index: u64, out: &mut Vec<RaftAction<S>>) {
        while let Some(front) = self.proposals.front().copied() {
            if front.at.index > index {
                break;
            }
            self.proposals.pop_front();
            self.reply(front.id, Response::Unknown, out);
        }
    }
}

impl<S: StateMachine> Protocol for RaftNode<S> {
    type Message = Message<S::Command>;
    type Request = Request<S::Command, S::Query>;
    type Response = Response<S::Output, S::QueryOutput>;
    type Write = RaftWrite<S::Command>;
    type Mode = RaftMode;

    fn id(&self) -> NodeId {
        self.id
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<RaftAction<S>>) {
        self.now = self.now.max(now);
        match input {
            Input::Message { from, message } => self.on_message(from, message, out),
            Input::Request { id, request } => self.on_request(id, request, out),
            Input::Tick => self.on_tick(out),
            Input::Persisted { up_to } => self.on_persisted(up_to, out),
        }
        self.settle(out);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let own = match &self.role {
            Role::Leader(leadership) => leadership.next_deadline(),
            _ => self.election_deadline,
        };
        let forward = self.forwards.values().map(|f| f.deadline).min();
        let waiters = self.transfer_waiters.as_ref().map(|w| w.deadline);
        let own = forward.map_or(own, |f| f.min(own));
        Some(waiters.map_or(own, |w| w.min(own)))
    }

    fn mode(&self) -> RaftMode {
        self.mode.current()
    }
}

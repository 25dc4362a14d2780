//! How the log spreads: the leader's per-follower progress with batching,
//! pipelining and flow control, the follower's consistency check with fast
//! back-off, heartbeats, check-quorum, and the commit rule (Raft §5.3,
//! §5.4.2 and Figure 8; dissertation §6.2 and §10.2).

use std::collections::{BTreeMap, VecDeque};

use tessera_core::{Instant, NodeId};
use tessera_hlc::Lease;
use tessera_quorum::{QuorumCertificate, QuorumSystem};
use tessera_storage::{LogPosition, LogWrite};

use crate::node::{RaftAction, Role};
use crate::read::PendingRead;
use crate::reconfiguration::PendingChange;
use crate::snapshot::SnapshotSend;
use crate::transfer::Transfer;
use crate::{
    AppendOutcome, AppendRequest, AppendResponse, Flaw, Heartbeat, HeartbeatResponse, Message,
    MessageRejection, Payload, RaftConfig, RaftNode, StateMachine, VoterQuorum,
};

/// A follower saves its commit index with its entries once it has moved
/// this far since it was last saved; the leader saves it at every
/// heartbeat. (A restarted node re-applies only what its saved commit index
/// covers and learns the rest from the leader.)
pub const COMMIT_SAVE_STRIDE: u64 = 1_024;

/// How many of its rounds a leader remembers the start time of. A round
/// acknowledged after it was forgotten extends no lease (it is older than
/// every remembered round, so it would not extend it anyway).
pub const ROUNDS_TRACKED_MAX: usize = 64;

/// How a leader replicates to one follower.
#[derive(Debug, Clone)]
pub(crate) enum ReplicaState {
    /// Finding where the logs match: one append at a time, resent at the
    /// next heartbeat if unanswered.
    Probe {
        /// An append is in flight.
        paused: bool,
    },
    /// Streaming: appends pipelined up to the flow-control window.
    Replicate,
    /// Sending a snapshot in chunks.
    Snapshot(SnapshotSend),
}

/// What the leader knows of one follower.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// The last index known to match the leader's log, durably.
    pub(crate) match_index: u64,
    /// The next index to send.
    pub(crate) next_index: u64,
    pub(crate) state: ReplicaState,
    /// Appends in flight: the last index each carries, and its bytes.
    pub(crate) inflight: VecDeque<(u64, usize)>,
    pub(crate) inflight_bytes: usize,
    /// When the leader last heard from it (leader's clock).
    pub(crate) last_ack: Option<Instant>,
    /// When its match index last advanced, or an append went out to an
    /// empty window: appends in flight longer than a heartbeat interval
    /// without progress are presumed lost and resent.
    pub(crate) window_progress_at: Instant,
    /// The highest round it acknowledged.
    pub(crate) acked_round: u64,
}

impl Progress {
    pub(crate) fn new(next_index: u64) -> Self {
        Progress {
            match_index: 0,
            next_index,
            state: ReplicaState::Probe { paused: false },
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            last_ack: None,
            window_progress_at: Instant::ZERO,
            acked_round: 0,
        }
    }

    fn window_full(&self, config: &RaftConfig) -> bool {
        self.inflight.len() >= config.inflight_messages_max
            || self.inflight_bytes >= config.inflight_bytes_max
    }

    fn free_through(&mut self, index: u64) {
        while let Some((last, bytes)) = self.inflight.front().copied() {
            if last > index {
                break;
            }
            self.inflight.pop_front();
            self.inflight_bytes -= bytes;
        }
    }

    pub(crate) fn probe_from(&mut self, next_index: u64) {
        self.next_index = next_index;
        self.state = ReplicaState::Probe { paused: false };
        self.inflight.clear();
        self.inflight_bytes = 0;
    }

    /// The state's name, for status reports.
    pub(crate) fn state_name(&self) -> &'static str {
        match self.state {
            ReplicaState::Probe { .. } => "probe",
            ReplicaState::Replicate => "replicate",
            ReplicaState::Snapshot(_) => "snapshot",
        }
    }
}

/// What a leader keeps for its term.
pub(crate) struct Leadership<S: crate::StateMachine> {
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    /// The current round, and when recent rounds started.
    pub(crate) round: u64,
    pub(crate) round_starts: VecDeque<(u64, Instant)>,
    pub(crate) heartbeat_due: Instant,
    pub(crate) elected_at: Instant,
    pub(crate) reads: VecDeque<PendingRead<S>>,
    /// A round started for reads and not yet acknowledged by a quorum.
    pub(crate) read_round: Option<u64>,
    pub(crate) lease: Option<Lease>,
    pub(crate) lease_round: u64,
    /// Set once the leader sent TimeoutNow: voters may then ignore its
    /// lease, so it never uses one again in this term.
    pub(crate) lease_given_up: bool,
    pub(crate) transfer: Option<Transfer>,
    pub(crate) membership_request: Option<PendingChange>,
    pub(crate) election_certificate: Option<QuorumCertificate<(), VoterQuorum>>,
    /// Forwarded proposals appended in this term, per follower.
    pub(crate) forwards_seen: BTreeMap<NodeId, crate::forward::ForwardsSeen>,
}

impl<S: crate::StateMachine> Leadership<S> {
    pub(crate) fn new(
        now: Instant,
        config: &RaftConfig,
        members: Vec<NodeId>,
        next_index: u64,
        election_certificate: Option<QuorumCertificate<(), VoterQuorum>>,
    ) -> Self {
        let progress = members
            .into_iter()
            .map(|m| (m, Progress::new(next_index)))
            .collect();
        let mut round_starts = VecDeque::new();
        round_starts.push_back((1, now));
        Leadership {
            progress,
            round: 1,
            round_starts,
            heartbeat_due: now + config.heartbeat_interval,
            elected_at: now,
            reads: VecDeque::new(),
            read_round: None,
            lease: None,
            lease_round: 0,
            lease_given_up: false,
            transfer: None,
            membership_request: None,
            election_certificate,
            forwards_seen: BTreeMap::new(),
        }
    }

    pub(crate) fn next_deadline(&self) -> Instant {
        let mut deadline = self.heartbeat_due;
        if let Some(transfer) = &self.transfer {
            deadline = deadline.min(transfer.deadline);
        }
        deadline
    }

    /// Starts a new round at `now`.
    pub(crate) fn start_round(&mut self, now: Instant) -> u64 {
        self.round += 1;
        self.round_starts.push_back((self.round, now));
        if self.round_starts.len() > ROUNDS_TRACKED_MAX {
            self.round_starts.pop_front();
        }
        self.round
    }

    /// When round `round` started, if remembered.
    pub(crate) fn round_start(&self, round: u64) -> Option<Instant> {
        let position = self
            .round_starts
            .binary_search_by_key(&round, |(r, _)| *r)
            .ok()?;
        self.round_starts.get(position).map(|(_, at)| *at)
    }
}

/// Builds the next append for a follower, updating its progress, or `None`
/// if nothing may be sent now.
fn next_append<C: Clone>(
    log: &crate::RaftLog<C>,
    progress: &mut Progress,
    config: &RaftConfig,
    header: (u64, u64, u64, Instant),
    command_bytes: impl Fn(&C) -> usize,
) -> Option<AppendRequest<C>> {
    let (term, commit, round, now) = header;
    match progress.state {
        ReplicaState::Snapshot(_) | ReplicaState::Probe { paused: true } => return None,
        ReplicaState::Replicate if progress.window_full(config) => return None,
        _ => {}
    }
    let next = progress.next_index;
    let prev_term = log.term_at(next - 1)?;
    let last = log.last_index();
    let replicating = matches!(progress.state, ReplicaState::Replicate);
    if replicating && next > last {
        return None;
    }
    let (entries, bytes) = log.slice(
        next..last + 1,
        config.append_entries_max,
        config.append_bytes_max,
        command_bytes,
    );
    if replicating {
        let sent_last = next - 1 + entries.len() as u64;
        if progress.inflight.is_empty() {
            progress.window_progress_at = now;
        }
        progress.next_index = sent_last + 1;
        progress.inflight.push_back((sent_last, bytes));
        progress.inflight_bytes += bytes;
    } else {
        progress.state = ReplicaState::Probe { paused: true };
    }
    Some(AppendRequest {
        term,
        prev: LogPosition::new(next - 1, prev_term),
        entries,
        commit,
        round,
    })
}

impl<S: StateMachine> RaftNode<S> {
    /// Sends `to` what it may be sent now: appends up to the flow-control
    /// window, or snapshot chunks if it is behind the compacted log.
    pub(crate) fn send_append(&mut self, to: NodeId, out: &mut Vec<RaftAction<S>>) {
        let header = (self.term, self.commit, 0);
        loop {
            let Role::Leader(leadership) = &mut self.role else {
                return;
            };
            let round = leadership.round;
            let Some(progress) = leadership.progress.get_mut(&to) else {
                return;
            };
            if matches!(progress.state, ReplicaState::Snapshot(_)) {
                self.send_snapshot_chunks(to, out);
                return;
            }
            if progress.next_index <= self.log.base().index {
                self.start_snapshot_send(to, out);
                return;
            }
            let replicating = matches!(progress.state, ReplicaState::Replicate);
            let Some(request) = next_append(
                &self.log,
                progress,
                &self.config,
                (header.0, header.1, round, self.now),
                Self::command_bytes,
            ) else {
                return;
            };
            self.counters.appends_sent += 1;
            out.push(tessera_core::Action::Send {
                to,
                message: Message::Append(request),
            });
            if !replicating {
                return;
            }
        }
    }

    /// Sends every follower what it may be sent now.
    pub(crate) fn broadcast_append(&mut self, out: &mut Vec<RaftAction<S>>) {
        // One follower at a time, in id order, without collecting the ids
        // (this runs for every proposal).
        let mut next = 0;
        loop {
            let Role::Leader(leadership) = &self.role else {
                return;
            };
            let Some(follower) = leadership.progress.range(next..).next().map(|(id, _)| *id) else {
                return;
            };
            self.send_append(follower, out);
            next = follower + 1;
        }
    }

    /// A message from someone claiming to lead `term`: accept it as leader
    /// (stepping down or adopting the term as needed), or return `false`
    /// if the claim is stale or impossible.
    pub(crate) fn accept_leader(
        &mut self,
        from: NodeId,
        term: u64,
        out: &mut Vec<RaftAction<S>>,
    ) -> bool {
        if term < self.term {
            return false;
        }
        if term == self.term && self.leader.is_some_and(|l| l != from) {
            self.reject(MessageRejection::ConflictingLeader);
            return false;
        }
        if term > self.term || !matches!(self.role, Role::Follower) || self.leader != Some(from) {
            self.become_follower(term, Some(from), out);
        }
        self.leader_contact = self.now;
        self.reset_election_deadline();
        true
    }

    /// An append from a leader.
    pub(crate) fn on_append(
        &mut self,
        from: NodeId,
        request: AppendRequest<S::Command>,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if request.entries.len() > self.config.append_entries_max {
            self.reject(MessageRejection::Oversized);
            return;
        }
        if !well_formed(&request) {
            self.reject(MessageRejection::ImpossibleIndex);
            return;
        }
        if !self.accept_leader(from, request.term, out) {
            if request.term < self.term {
                // Tell the stale leader about the newer term.
                let response = Message::AppendResponse(AppendResponse {
                    term: self.term,
                    round: request.round,
                    outcome: AppendOutcome::Rejected {
                        rejected_prev: request.prev.index,
                        hint: LogPosition::ZERO,
                    },
                });
                self.send(from, response, out);
            }
            return;
        }
        let round = request.round;
        let leader_commit = request.commit;
        let mut prev = request.prev;
        let mut entries = request.entries;
        // Our committed prefix matches every leader's log (Leader
        // Completeness): skip what it covers.
        if prev.index < self.commit {
            let skip = usize::try_from(self.commit - prev.index)
                .unwrap_or(usize::MAX)
                .min(entries.len());
            for entry in &entries[..skip] {
                if self
                    .log
                    .term_at(entry.index)
                    .is_some_and(|t| t != entry.term)
                {
                    self.reject(MessageRejection::CommittedConflict);
                    return;
                }
            }
            entries.drain(..skip);
            let commit_term = self.log.term_at(self.commit).unwrap_or(0);
            prev = LogPosition::new(self.commit, commit_term);
        }
        let matches_prev = self.log.term_at(prev.index) == Some(prev.term);
        if !matches_prev {
            let hint = self
                .log
                .last_at_or_below(prev.index.min(self.log.last_index()), prev.term);
            let response = Message::AppendResponse(AppendResponse {
                term: self.term,
                round,
                outcome: AppendOutcome::Rejected {
                    rejected_prev: request.prev.index,
                    hint,
                },
            });
            self.counters.appends_rejected += 1;
            self.send_when_durable(from, response, out);
            return;
        }
        let last_new = prev.index + entries.len() as u64;
        // Find the first entry this log does not already hold.
        let mut first_new = entries.len();
        for (position, entry) in entries.iter().enumerate() {
            match self.log.term_at(entry.index) {
                Some(term) if term == entry.term => continue,
                Some(_) => {
                    if entry.index <= self.commit {
                        self.reject(MessageRejection::CommittedConflict);
                        return;
                    }
                    self.log.truncate_from(entry.index);
                    self.persist_log(LogWrite::TruncateFrom(entry.index), out);
                    self.recompute_membership();
                    first_new = position;
                    break;
                }
                None => {
                    first_new = position;
                    break;
                }
            }
        }
        let mut wrote = false;
        if first_new < entries.len() {
            let new: Vec<_> = if first_new == 0 {
                std::mem::take(&mut entries)
            } else {
                entries.split_off(first_new)
            };
            let mut membership_changed = false;
            for entry in &new {
                membership_changed |= matches!(entry.payload, Payload::Membership(_));
                self.log.push(entry.clone());
            }
            self.persist_log(LogWrite::Append(new), out);
            if membership_changed {
                self.recompute_membership();
            }
            wrote = true;
        }
        let commit = leader_commit.min(last_new);
        if commit > self.commit {
            self.commit = commit;
            // The commit index is saved lazily (it only spares re-learning
            // it after a restart): along with entries, every
            // COMMIT_SAVE_STRIDE entries.
            if wrote && self.commit >= self.saved.commit + COMMIT_SAVE_STRIDE {
                self.save_hard_state(out);
            }
        }
        let response = Message::AppendResponse(AppendResponse {
            term: self.term,
            round,
            outcome: AppendOutcome::Accepted {
                match_index: last_new,
            },
        });
        if self.config.flaw == Flaw::AckBeforePersist {
            self.send(from, response, out);
        } else {
            self.send_when_durable(from, response, out);
        }
    }

    /// Common handling of a follower's answer at the leader: the term, and
    /// the follower's liveness and acknowledged round. Returns whether the
    /// answer concerns this leadership.
    pub(crate) fn note_follower_answer(
        &mut self,
        from: NodeId,
        term: u64,
        round: u64,
        out: &mut Vec<RaftAction<S>>,
    ) -> bool {
        if term > self.term {
            self.become_follower(term, None, out);
            return false;
        }
        let now = self.now;
        let Role::Leader(leadership) = &mut self.role else {
            return false;
        };
        if term < self.term {
            return false;
        }
        let current_round = leadership.round;
        let Some(progress) = leadership.progress.get_mut(&from) else {
            self.counters.reject(MessageRejection::NotAMember);
            return false;
        };
        progress.last_ack = Some(now);
        // An echoed round beyond the current one is impossible; clamp it.
        progress.acked_round = progress.acked_round.max(round.min(current_round));
        true
    }

    /// A follower's answer to an append.
    pub(crate) fn on_append_response(
        &mut self,
        from: NodeId,
        response: AppendResponse,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if !self.note_follower_answer(from, response.term, response.round, out) {
            return;
        }
        let last_index = self.log.last_index();
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        let Some(progress) = leadership.progress.get_mut(&from) else {
            return;
        };
        match response.outcome {
            AppendOutcome::Accepted { match_index } => {
                if match_index > last_index {
                    self.counters.reject(MessageRejection::ImpossibleIndex);
                    return;
                }
                if match_index > progress.match_index {
                    progress.match_index = match_index;
                    progress.window_progress_at = self.now;
                }
                progress.free_through(match_index);
                match progress.state {
                    ReplicaState::Probe { .. } => {
                        progress.state = ReplicaState::Replicate;
                        progress.next_index = progress.match_index + 1;
                        progress.inflight.clear();
                        progress.inflight_bytes = 0;
                    }
                    ReplicaState::Replicate => {
                        progress.next_index = progress.next_index.max(progress.match_index + 1);
                    }
                    ReplicaState::Snapshot(_) => {}
                }
            }
            AppendOutcome::Rejected {
                rejected_prev,
                hint,
            } => {
                if rejected_prev <= progress.match_index {
                    return; // stale
                }
                let expected = match progress.state {
                    ReplicaState::Replicate => true,
                    ReplicaState::Probe { .. } => rejected_prev + 1 == progress.next_index,
                    ReplicaState::Snapshot(_) => false,
                };
                if !expected {
                    return; // stale
                }
                // Fast back-off: skip every index whose term cannot match.
                let probe = if hint.term > 0 {
                    self.log.last_at_or_below(hint.index, hint.term).index
                } else {
                    hint.index
                };
                let next = rejected_prev.min(probe + 1).max(progress.match_index + 1);
                progress.probe_from(next);
            }
        }
        self.send_append(from, out);
        self.maybe_send_timeout_now(from, out);
    }

    /// A heartbeat from a leader.
    pub(crate) fn on_heartbeat(
        &mut self,
        from: NodeId,
        heartbeat: Heartbeat,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if !self.accept_leader(from, heartbeat.term, out) {
            if heartbeat.term < self.term {
                let response = Message::HeartbeatResponse(HeartbeatResponse {
                    term: self.term,
                    round: heartbeat.round,
                });
                self.send(from, response, out);
            }
            return;
        }
        // The leader caps the commit index at what this node matches.
        let commit = heartbeat.commit.min(self.log.last_index());
        if commit > self.commit {
            self.commit = commit;
        }
        let response = Message::HeartbeatResponse(HeartbeatResponse {
            term: self.term,
            round: heartbeat.round,
        });
        self.send_when_durable(from, response, out);
    }

    /// A follower's answer to a heartbeat.
    pub(crate) fn on_heartbeat_response(
        &mut self,
        from: NodeId,
        response: HeartbeatResponse,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if !self.note_follower_answer(from, response.term, response.round, out) {
            return;
        }
        let last_index = self.log.last_index();
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if let Some(progress) = leadership.progress.get_mut(&from)
            && progress.match_index < last_index
        {
            if let ReplicaState::Probe { paused } = &mut progress.state {
                *paused = false;
            }
            self.send_append(from, out);
        }
    }

    /// The leader's timer: check-quorum, heartbeats, retries, the transfer
    /// deadline.
    pub(crate) fn leader_tick(&mut self, out: &mut Vec<RaftAction<S>>) {
        if self.config.check_quorum && !self.quorum_active() {
            self.counters.check_quorum_step_downs += 1;
            self.become_follower(self.term, None, out);
            return;
        }
        let now = self.now;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if now >= leadership.heartbeat_due {
            leadership.heartbeat_due = now + self.config.heartbeat_interval;
            if self.config.flaw == Flaw::LeaderTruncates && self.log.last_index() > self.commit {
                let last = self.log.last_index();
                self.log.truncate_from(last);
                self.persist_log(LogWrite::TruncateFrom(last), out);
            }
            self.broadcast_heartbeat(out);
            // A quiet cluster still persists its commit index now and then.
            self.save_hard_state(out);
        }
        self.check_transfer(out);
    }

    /// Starts a round and sends every follower a heartbeat; followers in
    /// probe or snapshot state get their retry.
    pub(crate) fn broadcast_heartbeat(&mut self, out: &mut Vec<RaftAction<S>>) {
        let now = self.now;
        let commit = self.commit;
        let term = self.term;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        let round = leadership.start_round(now);
        let mut retry = Vec::new();
        for (follower, progress) in &mut leadership.progress {
            out.push(tessera_core::Action::Send {
                to: *follower,
                message: Message::Heartbeat(Heartbeat {
                    term,
                    commit: commit.min(progress.match_index),
                    round,
                }),
            });
            match &mut progress.state {
                ReplicaState::Probe { paused } => {
                    *paused = false;
                    retry.push(*follower);
                }
                ReplicaState::Snapshot(send) => {
                    send.rewind_if_stalled(now);
                    retry.push(*follower);
                }
                ReplicaState::Replicate => {
                    // Appends lost on the way never come back: after a
                    // heartbeat interval without progress, resend.
                    if !progress.inflight.is_empty()
                        && progress.window_progress_at + self.config.heartbeat_interval <= now
                    {
                        let next = progress.match_index + 1;
                        progress.probe_from(next);
                        retry.push(*follower);
                    }
                }
            }
        }
        self.counters.heartbeats_sent += 1;
        for follower in retry {
            self.send_append(follower, out);
        }
    }

    /// Whether the leader heard from a quorum within the shortest election
    /// timeout (itself included).
    fn quorum_active(&self) -> bool {
        let Role::Leader(leadership) = &self.role else {
            return false;
        };
        let Some(quorum) = &self.membership.quorum else {
            return false;
        };
        let horizon = self.config.election_timeout_min;
        let active = quorum.members_where(|node| {
            node == self.id
                || leadership.progress.get(&node).is_some_and(|p| {
                    p.last_ack.unwrap_or(leadership.elected_at) + horizon > self.now
                })
        });
        quorum.is_write_quorum(active)
    }

    /// The commit rule: the largest index a quorum holds durably, if it is
    /// of the current term (Raft §5.4.2: entries of earlier terms are
    /// committed only indirectly, Figure 8).
    pub(crate) fn advance_commit(&mut self) {
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        let Some(quorum) = &self.membership.quorum else {
            return;
        };
        let id = self.id;
        let durable = self.durable_last;
        let candidate = quorum.committed_index(|node| {
            if node == id {
                durable
            } else {
                leadership.progress.get(&node).map_or(0, |p| p.match_index)
            }
        });
        if candidate <= self.commit {
            return;
        }
        let of_this_term = self.log.term_at(candidate) == Some(self.term);
        if of_this_term || self.config.flaw == Flaw::CommitByCountingOldTerms {
            self.commit = candidate;
        }
    }

    /// The match index a voter is known to have, for quorum counting and
    /// certificates (the leader's own: its durable index).
    pub(crate) fn match_index_of(&self, node: NodeId) -> u64 {
        if node == self.id {
            return self.durable_last;
        }
        match &self.role {
            Role::Leader(leadership) => leadership.progress.get(&node).map_or(0, |p| p.match_index),
            _ => 0,
        }
    }

    /// The voters that hold `index`, for a commit certificate.
    pub(crate) fn voters_holding(&self, index: u64) -> Vec<NodeId> {
        self.membership
            .quorum
            .as_ref()
            .map(|q| {
                q.members()
                    .iter()
                    .copied()
                    .filter(|n| self.match_index_of(*n) >= index)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Whether an append's entries are internally consistent: contiguous from
/// `prev`, terms never decreasing, none beyond the message's term.
fn well_formed<C>(request: &AppendRequest<C>) -> bool {
    if request.prev.term > request.term {
        return false;
    }
    let mut previous_term = request.prev.term;
    for (offset, entry) in request.entries.iter().enumerate() {
        let expected = request.prev.index + 1 + offset as u64;
        if entry.index != expected || entry.term < previous_term || entry.term > request.term {
            return false;
        }
        previous_term = entry.term;
    }
    true
}

//! The proposer's side: phase one once for all slots, then phase two per
//! slot with batching and pipelining, heartbeats and the lease.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use tessera_core::{Action, ActionOf, Instant, NodeId, RequestId};
use tessera_hlc::Lease;
use tessera_quorum::{Phase, QuorumSystem, VoteOutcome, VoteTally};

use super::acceptor::check_entries;
use super::node::{Campaign, InFlight, Leadership, PendingRead, Role, random_timeout};
use super::slot::split_within;
use crate::error::check_size;
use crate::multi::{
    ACCEPT_SLOTS_MAX, Configuration, LeaseOffer, Message, MultiPaxos, PROMISE_ENTRIES_MAX,
    QuorumSpec, ReadPath, Response, SlotEntry, SlotValue, StateMachine,
};
use crate::{Ballot, PaxosError};

impl<S: StateMachine> MultiPaxos<S> {
    /// Phase 1a with a ballot above every ballot seen, for every slot this
    /// node does not know chosen.
    pub(crate) fn start_campaign(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        if self.configuration.is_none() || self.removed {
            return;
        }
        let round = self.highest_round_seen.max(self.promised.round) + 1;
        if round > crate::ROUND_MAX {
            return;
        }
        let ballot = Ballot::new(round, self.id());
        self.highest_round_seen = round;
        let from_slot = self.committed + 1;
        let retry = random_timeout(&mut self.rng, self.config.election_timeout);
        self.role = Role::Candidate(Campaign {
            ballot,
            promises: VoteTally::new(
                Arc::clone(&self.quorums),
                Phase::Read,
                ballot.epoch(),
                0,
                (),
            ),
            continuing: BTreeMap::new(),
            recovered: BTreeMap::new(),
            max_base: (0, self.id()),
            retry_at: now + retry,
            won: false,
        });
        self.leader = None;
        self.counters.campaigns += 1;
        let prepare = Message::Prepare { ballot, from_slot };
        for member in self.members().to_vec() {
            self.send(member, prepare.clone(), out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        from_slot: u64,
        entries: Vec<SlotEntry<S::Command>>,
        next: Option<u64>,
        base: u64,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let members = self.members().to_vec();
        if let Err(error) = check_entries(
            from,
            &entries,
            from_slot,
            Some(ballot),
            &[],
            PROMISE_ENTRIES_MAX,
        ) {
            self.reject(error);
            return;
        }
        if next.is_some_and(|n| entries.last().is_some_and(|e| n <= e.slot) || n < from_slot) {
            self.reject(PaxosError::Malformed {
                from,
                reason: "a promise continues before its own entries",
            });
            return;
        }
        let Role::Candidate(campaign) = &mut self.role else {
            return;
        };
        if campaign.ballot != ballot || campaign.won {
            return;
        }
        for entry in entries {
            let keep = campaign
                .recovered
                .get(&entry.slot)
                .is_some_and(|old| old.ballot >= entry.ballot);
            if !keep {
                campaign.recovered.insert(entry.slot, entry);
            }
        }
        if base > campaign.max_base.0 {
            campaign.max_base = (base, from);
        }
        if let Some(next) = next {
            campaign.continuing.insert(from, next);
            let prepare = Message::Prepare {
                ballot,
                from_slot: next,
            };
            out.push(Action::Send {
                to: from,
                message: prepare,
            });
            return;
        }
        campaign.continuing.remove(&from);
        // Duplicates are refused by the tally and change nothing.
        if campaign.promises.record(from, ballot.epoch(), 0, &()) != Ok(VoteOutcome::Won) {
            return;
        }
        debug_assert!(members.contains(&from));
        campaign.won = true;
        self.promise_certificate = campaign
            .promises
            .certificate()
            .map(|c| c.with_issued_at(now));
        let (base, holder) = campaign.max_base;
        if base > self.committed {
            // Some acceptor compacted past what this node knows chosen:
            // fetch its snapshot before leading.
            self.send(
                holder,
                Message::CatchUpRequest {
                    from_slot: self.committed + 1,
                },
                out,
            );
            self.catch_up_at = Some(now + self.config.retransmit_timeout);
            return;
        }
        self.finish_campaign(now, out);
    }

    /// Phase one is won and this node knows every slot up to the highest
    /// compacted prefix: recover the slots in progress and lead.
    pub(crate) fn finish_campaign(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let role = std::mem::replace(&mut self.role, Role::Follower);
        let Role::Candidate(campaign) = role else {
            self.role = role;
            return;
        };
        let ballot = campaign.ballot;
        if self.promised > ballot {
            // A higher ballot was promised meanwhile: it wins.
            return;
        }
        let recovery_start = self.committed + 1;
        let mut recovered = campaign.recovered;
        // This node's own acceptances count as one more report: taking the
        // highest ballot over a superset of a quorum is still safe.
        let (own, _) = self
            .log
            .report(recovery_start, usize::MAX, usize::MAX, |_| 0);
        for entry in own {
            let keep = recovered
                .get(&entry.slot)
                .is_some_and(|old| old.ballot >= entry.ballot);
            if !keep {
                recovered.insert(entry.slot, entry);
            }
        }
        let mut recovery_end = recovered
            .range(recovery_start..)
            .next_back()
            .map_or(recovery_start - 1, |(slot, _)| *slot);
        // Nothing after a stop-sign belongs to this configuration.
        let mut stop_slot = None;
        if let Some((slot, _)) = recovered
            .range(recovery_start..)
            .find(|(_, e)| matches!(e.value, SlotValue::StopSign(_)))
        {
            recovery_end = *slot;
            stop_slot = Some(*slot);
        }
        let mut values = Vec::new();
        for slot in recovery_start..=recovery_end {
            match recovered.remove(&slot) {
                Some(entry) => {
                    self.counters.slots_recovered += 1;
                    values.push(entry.value);
                }
                None => {
                    // A gap: nothing reported, so nothing can have been
                    // chosen here; a no-op keeps the log contiguous.
                    self.counters.gaps_filled += 1;
                    values.push(SlotValue::NoOp);
                }
            }
        }
        if ballot > self.promised {
            self.promised = ballot;
            self.persist_hard_state(out);
        }
        self.counters.leaderships += 1;
        self.leader = Some(self.id());
        self.leader_ballot = ballot;
        self.role = Role::Leader(Box::new(Leadership {
            ballot,
            next_slot: recovery_end + 1,
            recovery_end,
            in_flight: VecDeque::new(),
            queue: VecDeque::new(),
            reads: VecDeque::new(),
            barrier_wanted: false,
            stop_slot,
            reconfigure_request: None,
            heartbeat_at: now,
            round: 0,
            round_started: now,
            grants: VoteTally::new(Arc::clone(&self.quorums), Phase::Write, 0, 0, ()),
            lease: None,
            contact: BTreeMap::new(),
            acknowledged: BTreeMap::new(),
            retransmit_at: now + self.config.retransmit_timeout,
            since: now,
            lease_check_at: None,
        }));
        if !values.is_empty() {
            let requests = vec![Vec::new(); values.len()];
            self.propose_slots(recovery_start, values, requests, now, out);
        }
        self.leader_tick(now, out);
    }

    /// Proposes `values` for consecutive slots from `first` in this
    /// leader's ballot: own acceptance (counted once durable), tallies, and
    /// `Accept`s to the other members.
    pub(crate) fn propose_slots(
        &mut self,
        first: u64,
        values: Vec<SlotValue<S::Command>>,
        requests: impl IntoIterator<Item = Vec<RequestId>>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        let ballot = leadership.ballot;
        let count = values.len() as u64;
        let entries: Vec<SlotEntry<S::Command>> = values
            .iter()
            .enumerate()
            .map(|(i, value)| SlotEntry {
                slot: first + i as u64,
                ballot,
                value: value.clone(),
            })
            .collect();
        let write = self
            .store_entries(entries, out)
            .unwrap_or_else(|| self.gate.last_assigned());
        self.self_votes.push_back((write, ballot, first, count));
        let commit = self.committed;
        if let Role::Leader(leadership) = &mut self.role {
            for (i, requests) in requests.into_iter().enumerate() {
                let slot = first + i as u64;
                leadership.in_flight.push_back(InFlight {
                    slot,
                    accepts: Some(VoteTally::new(
                        Arc::clone(&self.quorums),
                        Phase::Write,
                        ballot.epoch(),
                        slot,
                        (),
                    )),
                    chosen: false,
                    requests,
                    sent_at: now,
                });
            }
        }
        let bytes_max = self.config.message_bytes_max;
        // The usual case: every slot fits in one message.
        let fits = values.len() <= ACCEPT_SLOTS_MAX && {
            let mut bytes = 0usize;
            values.iter().all(|value| {
                bytes = bytes.saturating_add(Self::value_bytes(value));
                bytes <= bytes_max
            })
        };
        if fits {
            let accept = Message::Accept {
                ballot,
                first_slot: first,
                values,
                commit,
            };
            self.send_to_peers(accept, out);
            self.count_durable_self_votes(now, out);
            return;
        }
        let mut slot = first;
        for chunk in split_within(values, ACCEPT_SLOTS_MAX, bytes_max, Self::value_bytes) {
            let len = chunk.len() as u64;
            let accept = Message::Accept {
                ballot,
                first_slot: slot,
                values: chunk,
                commit,
            };
            self.send_to_peers(accept, out);
            slot += len;
        }
        // A self-vote that is already durable counts at once.
        self.count_durable_self_votes(now, out);
    }

    pub(crate) fn count_durable_self_votes(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        while let Some((id, ballot, first, count)) = self.self_votes.front().copied() {
            if !self.gate.is_durable(id) {
                break;
            }
            self.self_votes.pop_front();
            let me = self.id();
            self.on_accepted(me, ballot, first, count, now, out);
        }
    }

    pub(crate) fn propose(
        &mut self,
        id: RequestId,
        command: S::Command,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let queue_max = self.config.queue_max;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.stop_slot.is_some() {
            out.push(Action::Reply {
                id,
                response: Response::NotLeader { leader: None },
            });
            return;
        }
        if leadership.queue.len() >= queue_max {
            out.push(Action::Reply {
                id,
                response: Response::Overloaded,
            });
            return;
        }
        leadership.queue.push_back((id, command));
        // With the window full the command just waits for the next slot;
        // requests handed over together are proposed once all are in.
        if !self.holding_proposals && leadership.in_flight.len() < self.config.window {
            self.flush(now, out);
        }
    }

    /// Proposes waiting commands (and a barrier for waiting reads) while
    /// the pipeline has room: commands that arrive while it is full wait
    /// here and go out together in the next slot.
    pub(crate) fn flush(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let window = self.config.window;
        let batch_max = self.config.batch_max;
        // Room for one slot's commands in a message of its own.
        let batch_bytes_max = self
            .config
            .message_bytes_max
            .saturating_sub(crate::multi::SLOT_OVERHEAD_BYTES);
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.stop_slot.is_some() {
            return;
        }
        let mut values = Vec::new();
        let mut requests = std::mem::take(&mut self.scratch_requests);
        while leadership.in_flight.len() + values.len() < window
            && (!leadership.queue.is_empty() || leadership.barrier_wanted)
        {
            leadership.barrier_wanted = false;
            if leadership.queue.is_empty() {
                values.push(SlotValue::NoOp);
                requests.push(Vec::new());
                continue;
            }
            let take = leadership.queue.len().min(batch_max);
            let mut commands = Vec::with_capacity(take);
            // A slot's request ids come back here once it is applied.
            let mut ids = std::mem::take(&mut self.spare_ids);
            ids.reserve(take);
            let mut bytes = 0usize;
            for _ in 0..take {
                let Some((_, next)) = leadership.queue.front() else {
                    break;
                };
                bytes = bytes.saturating_add(S::command_bytes(next));
                if !commands.is_empty() && bytes > batch_bytes_max {
                    break;
                }
                let Some((id, command)) = leadership.queue.pop_front() else {
                    break;
                };
                ids.push(id);
                commands.push(command);
            }
            self.counters.commands_proposed += commands.len() as u64;
            super::node::emit(&mut values, || SlotValue::Batch(commands));
            requests.push(ids);
        }
        if values.is_empty() {
            self.scratch_requests = requests;
            return;
        }
        let first = leadership.next_slot;
        leadership.next_slot += values.len() as u64;
        self.propose_slots(first, values, requests.drain(..), now, out);
        self.scratch_requests = requests;
    }

    /// Answers `query` under the lease if `lease_allowed` and the lease is
    /// valid, otherwise after a read barrier.
    pub(crate) fn read(
        &mut self,
        id: RequestId,
        query: S::Query,
        lease_allowed: bool,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let queue_max = self.config.queue_max;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        let lease_valid = lease_allowed
            && leadership
                .lease
                .as_ref()
                .is_some_and(|lease| lease.is_valid_for_holder(now));
        if lease_valid
            && self.committed >= leadership.recovery_end
            && self.applied == self.committed
            && leadership.stop_slot.is_none()
        {
            self.counters.lease_reads += 1;
            let output = self.machine.query(&query);
            out.push(Action::Reply {
                id,
                response: Response::Read {
                    slot: self.applied,
                    output,
                    path: ReadPath::Lease,
                },
            });
            return;
        }
        if leadership.reads.len() >= queue_max || leadership.stop_slot.is_some() {
            let response = if leadership.stop_slot.is_some() {
                Response::NotLeader { leader: None }
            } else {
                Response::Overloaded
            };
            out.push(Action::Reply { id, response });
            return;
        }
        // The next slot proposed — after this read arrived, in this ballot
        // — is the read's barrier.
        let barrier = leadership.next_slot;
        leadership
            .reads
            .push_back(PendingRead { id, query, barrier });
        leadership.barrier_wanted = true;
        self.flush(now, out);
    }

    pub(crate) fn reconfigure(
        &mut self,
        id: RequestId,
        spec: QuorumSpec,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Err(error) = spec.build() {
            out.push(Action::Reply {
                id,
                response: Response::Refused(error.to_string()),
            });
            return;
        }
        let epoch = self.configuration.as_ref().map_or(0, |c| c.epoch) + 1;
        // Waiting commands go first, as far as the window allows.
        self.flush(now, out);
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.stop_slot.is_some() {
            out.push(Action::Reply {
                id,
                response: Response::Refused("a reconfiguration is already in progress".into()),
            });
            return;
        }
        let slot = leadership.next_slot;
        leadership.next_slot += 1;
        leadership.stop_slot = Some(slot);
        leadership.reconfigure_request = Some(id);
        let configuration = Configuration {
            epoch,
            start_slot: slot + 1,
            quorums: spec,
        };
        self.propose_slots(
            slot,
            vec![SlotValue::StopSign(configuration)],
            vec![Vec::new()],
            now,
            out,
        );
    }

    pub(crate) fn on_accepted(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first_slot: u64,
        count: u64,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Err(error) = check_size(from, "accepted slots", count as usize, ACCEPT_SLOTS_MAX) {
            self.reject(error);
            return;
        }
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.ballot != ballot {
            return;
        }
        leadership.contact.insert(from, now);
        if count > 0 {
            // Never beyond what this leader proposed.
            let last = first_slot
                .saturating_add(count - 1)
                .min(leadership.next_slot.saturating_sub(1));
            let acknowledged = leadership.acknowledged.entry(from).or_insert(0);
            *acknowledged = (*acknowledged).max(last);
        }
        let Some(front) = leadership.in_flight.front().map(|f| f.slot) else {
            return;
        };
        // The last slot this message chose: its certificate is kept.
        let mut newly_chosen = None;
        for slot in first_slot..first_slot.saturating_add(count) {
            let Some(offset) = slot.checked_sub(front) else {
                continue;
            };
            let Some(flight) = leadership.in_flight.get_mut(offset as usize) else {
                break;
            };
            if flight.chosen {
                continue;
            }
            if let Some(tally) = &mut flight.accepts
                && tally.record(from, ballot.epoch(), slot, &()) == Ok(VoteOutcome::Won)
            {
                flight.chosen = true;
                newly_chosen = Some(offset as usize);
                self.counters.slots_chosen += 1;
            }
        }
        if let Some(offset) = newly_chosen {
            // The tally is done with: it becomes the certificate (no copy).
            self.last_certificate = leadership
                .in_flight
                .get_mut(offset)
                .and_then(|flight| flight.accepts.take())
                .and_then(|tally| tally.into_certificate().ok())
                .map(|c| c.with_issued_at(now));
            self.advance_leader_commit(now, out);
        }
    }

    /// Moves the leader's commit index over the chosen prefix of its
    /// pipeline, applies, and refills the pipeline.
    pub(crate) fn advance_leader_commit(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        let mut committed = self.committed;
        for flight in leadership.in_flight.iter() {
            if flight.slot <= committed {
                continue;
            }
            if flight.slot != committed + 1 || !flight.chosen {
                break;
            }
            committed = flight.slot;
        }
        if committed > self.committed {
            self.committed = committed;
            self.apply_committed(now, out);
            self.flush(now, out);
        }
    }

    pub(crate) fn on_nack(
        &mut self,
        _from: NodeId,
        ballot: Ballot,
        promised: Ballot,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        self.observe_round(promised);
        let mine = match &self.role {
            Role::Leader(leadership) => leadership.ballot,
            Role::Candidate(campaign) => campaign.ballot,
            Role::Follower => return,
        };
        if ballot != mine || promised <= mine {
            return;
        }
        // Preempted: step down, and let the higher ballot's owner lead.
        self.abandon_leadership(out);
        self.role = Role::Follower;
        self.leader = None;
        self.reset_election_deadline(now);
    }

    pub(crate) fn on_heartbeat_ack(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        round: u64,
        lease_granted: bool,
        now: Instant,
        _out: &mut Vec<ActionOf<Self>>,
    ) {
        let lease_config = self.config.lease;
        let me = self.id();
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.ballot != ballot {
            return;
        }
        leadership.contact.insert(from, now);
        if !lease_granted || round != leadership.round {
            return;
        }
        let Some(lease_config) = lease_config else {
            return;
        };
        if leadership.grants.record(from, round, 0, &()) == Ok(VoteOutcome::Won)
            && let Ok(lease) = Lease::new(
                me,
                ballot.epoch(),
                leadership.round_started,
                lease_config.duration,
                lease_config.max_clock_offset,
            )
        {
            let extends = leadership
                .lease
                .as_ref()
                .is_none_or(|old| old.expiry() < lease.expiry());
            if extends {
                leadership.lease_check_at = Some(lease.holder_valid_until());
                leadership.lease = Some(lease);
            }
        }
    }

    /// Heartbeats (with lease offers), retransmission of unanswered
    /// accepts, and stepping down without a phase-two quorum in contact.
    pub(crate) fn leader_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let me = self.id();
        let commit = self.committed;
        let lease_config = self.config.lease;
        let heartbeat_interval = self.config.heartbeat_interval;
        let retransmit_timeout = self.config.retransmit_timeout;
        let election_timeout = self.config.election_timeout;
        let quorums = Arc::clone(&self.quorums);
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.lease_check_at.is_some_and(|at| now >= at) {
            leadership.lease_check_at = None;
        }
        let ballot = leadership.ballot;
        // A leader that has heard from no phase-two quorum for an election
        // timeout cannot choose anything: it steps down.
        let since = now.saturating_sub(election_timeout);
        let mut alive: Vec<NodeId> = leadership
            .contact
            .iter()
            .filter(|(_, at)| **at >= since)
            .map(|(node, _)| *node)
            .collect();
        alive.push(me);
        let led_long_enough = leadership.since.saturating_add(election_timeout) <= now;
        if led_long_enough && !quorums.is_write_quorum_of(&alive) {
            self.abandon_leadership(out);
            self.role = Role::Follower;
            self.leader = None;
            self.reset_election_deadline(now);
            return;
        }
        if now >= leadership.heartbeat_at {
            leadership.round += 1;
            leadership.round_started = now;
            leadership.heartbeat_at = now + heartbeat_interval;
            leadership.grants =
                VoteTally::new(Arc::clone(&quorums), Phase::Write, leadership.round, 0, ());
            let round = leadership.round;
            let offer = lease_config.map(|l| LeaseOffer {
                start: now,
                duration_nanos: tessera_core::duration_nanos(l.duration),
            });
            let heartbeat = Message::Heartbeat {
                ballot,
                round,
                commit,
                lease: offer,
            };
            self.send_to_peers(heartbeat, out);
            // The leader grants its own offer: it promised its own ballot.
            if let (Some(offer), Some(lease_config)) = (offer, lease_config)
                && self.promised == ballot
                && self.grant(me, ballot, offer, lease_config.max_clock_offset)
            {
                self.on_heartbeat_ack(me, ballot, round, true, now, out);
            }
        }
        self.retransmit(now, retransmit_timeout, out);
    }

    /// Re-sends accepts that a phase-two quorum has not answered in time,
    /// to the members that have not answered them.
    fn retransmit(
        &mut self,
        now: Instant,
        timeout: std::time::Duration,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if now < leadership.retransmit_at {
            return;
        }
        leadership.retransmit_at = now + timeout;
        let ballot = leadership.ballot;
        let members = self.quorums.members().to_vec();
        let me = self.config.id;
        let mut stale: Vec<(u64, tessera_quorum::MemberSet)> = Vec::new();
        for flight in leadership.in_flight.iter_mut() {
            if !flight.chosen && flight.sent_at + timeout <= now {
                flight.sent_at = now;
                let granted = flight
                    .accepts
                    .as_ref()
                    .map_or(tessera_quorum::MemberSet::EMPTY, VoteTally::granted);
                stale.push((flight.slot, granted));
            }
        }
        let commit = self.committed;
        let bytes_max = self.config.message_bytes_max;
        for (position, member) in members.iter().enumerate() {
            if *member == me {
                continue;
            }
            // Consecutive unanswered slots go out in one message.
            let mut run: Vec<SlotValue<S::Command>> = Vec::new();
            let mut run_bytes = 0usize;
            let mut run_first = 0;
            let mut flush_run = |run: &mut Vec<SlotValue<S::Command>>, first: u64| {
                if !run.is_empty() {
                    out.push(Action::Send {
                        to: *member,
                        message: Message::Accept {
                            ballot,
                            first_slot: first,
                            values: std::mem::take(run),
                            commit,
                        },
                    });
                }
            };
            for (slot, granted) in &stale {
                if granted.contains(position) {
                    flush_run(&mut run, run_first);
                    continue;
                }
                let Some(value) = self.log.value_at(*slot) else {
                    continue;
                };
                let value_bytes = Self::value_bytes(value);
                if run.is_empty()
                    || run_first + run.len() as u64 != *slot
                    || run.len() == ACCEPT_SLOTS_MAX
                    || run_bytes.saturating_add(value_bytes) > bytes_max
                {
                    flush_run(&mut run, run_first);
                    run_first = *slot;
                    run_bytes = 0;
                }
                run_bytes = run_bytes.saturating_add(value_bytes);
                run.push(value.clone());
            }
            flush_run(&mut run, run_first);
        }
    }

    pub(crate) fn candidate_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let Role::Candidate(campaign) = &mut self.role else {
            return;
        };
        if now < campaign.retry_at {
            return;
        }
        if campaign.won {
            // Still waiting for the snapshot: ask again.
            campaign.retry_at = now + self.config.election_timeout;
            let holder = campaign.max_base.1;
            let from_slot = self.committed + 1;
            self.send(holder, Message::CatchUpRequest { from_slot }, out);
            return;
        }
        // Phase one did not complete in time: a higher ballot.
        self.start_campaign(now, out);
    }
}

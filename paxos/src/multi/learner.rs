//! The learner's side: knowing what is chosen, applying it in order,
//! answering reads, catching up, and switching configuration at a
//! stop-sign.

use super::slot::truncate_within;
use std::sync::Arc;

use tessera_core::{Action, ActionOf, Instant, NodeId};
use tessera_storage::LogWrite;

use super::acceptor::check_entries;
use super::node::Role;
use crate::invariants::Decision;
use crate::multi::{
    CATCH_UP_ENTRIES_MAX, Configuration, Message, MultiPaxos, PaxosWrite, ReadPath, Response,
    SlotEntry, SlotValue, StateMachine,
};
use crate::{Ballot, PaxosError};

impl<S: StateMachine> MultiPaxos<S> {
    /// The leader of `ballot` says every slot up to `commit` is chosen.
    pub(crate) fn learn_commit(
        &mut self,
        ballot: Ballot,
        commit: u64,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if ballot != self.leader_ballot || self.is_leader() {
            return;
        }
        self.leader_commit = self.leader_commit.max(commit);
        self.advance_follower_commit(now, out);
    }

    /// Moves the commit index over slots this node accepted in the
    /// leader's ballot: the leader proposes one value per slot per ballot,
    /// so such a slot holds the chosen value. Anything else is fetched.
    pub(crate) fn advance_follower_commit(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let ballot = self.leader_ballot;
        while self.committed < self.leader_commit {
            let next = self.committed + 1;
            match self.log.get(next) {
                Some(entry) if entry.ballot == ballot && !entry.value.is_vacant() => {
                    self.committed = next;
                }
                _ => break,
            }
        }
        if self.committed < self.leader_commit && self.catch_up_at.is_none() {
            self.request_catch_up(now, out);
        }
        self.apply_committed(now, out);
    }

    fn request_catch_up(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let Some(leader) = self.leader.filter(|l| *l != self.id()) else {
            return;
        };
        let from_slot = self.committed + 1;
        self.send(leader, Message::CatchUpRequest { from_slot }, out);
        self.catch_up_at = Some(now + self.config.retransmit_timeout);
    }

    pub(crate) fn catch_up_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        if self.catch_up_at.is_some_and(|at| now >= at) {
            self.catch_up_at = None;
            if self.committed < self.leader_commit && !self.is_leader() {
                self.request_catch_up(now, out);
            }
        }
    }

    pub(crate) fn on_catch_up_request(
        &mut self,
        from: NodeId,
        from_slot: u64,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if from_slot == 0 {
            self.reject(PaxosError::Malformed {
                from,
                reason: "catch-up from slot 0",
            });
            return;
        }
        if from_slot <= self.log.base().index {
            self.start_snapshot_transfer(from, now, out);
            return;
        }
        if from_slot > self.committed {
            return;
        }
        let to = self
            .committed
            .min(from_slot.saturating_add(CATCH_UP_ENTRIES_MAX as u64 - 1));
        let mut entries = self.log.range(from_slot, to);
        truncate_within(&mut entries, self.config.message_bytes_max, |entry| {
            Self::value_bytes(&entry.value)
        });
        self.send(
            from,
            Message::CatchUp {
                entries,
                commit: self.committed,
            },
            out,
        );
    }

    pub(crate) fn on_catch_up(
        &mut self,
        from: NodeId,
        entries: Vec<SlotEntry<S::Command>>,
        _commit: u64,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Err(error) = check_entries(from, &entries, 1, None, &[], CATCH_UP_ENTRIES_MAX) {
            self.reject(error);
            return;
        }
        if entries.windows(2).any(|w| w[1].slot != w[0].slot + 1) {
            self.reject(PaxosError::Malformed {
                from,
                reason: "catch-up entries are not consecutive",
            });
            return;
        }
        let useful: Vec<SlotEntry<S::Command>> = entries
            .into_iter()
            .filter(|e| e.slot > self.committed)
            .collect();
        let Some(first) = useful.first().map(|e| e.slot) else {
            return;
        };
        if first != self.committed + 1 {
            return;
        }
        let last = useful.last().map_or(first, |e| e.slot);
        self.store_entries(useful, out);
        // Every entry a peer sends to catch up is chosen (it sends only up
        // to its own commit index).
        self.committed = last;
        self.catch_up_at = None;
        self.apply_committed(now, out);
        if let Role::Candidate(campaign) = &self.role
            && campaign.won
            && self.committed >= campaign.max_base.0
        {
            self.finish_campaign(now, out);
            return;
        }
        if self.committed < self.leader_commit && !self.is_leader() {
            self.request_catch_up(now, out);
        }
    }

    /// Applies every chosen slot not applied yet, answers the leader's
    /// waiting commands and reads, and compacts the log when due.
    pub(crate) fn apply_committed(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        while self.applied < self.committed {
            let slot = self.applied + 1;
            let Some(value) = self.log.value_at(slot) else {
                debug_assert!(false, "slot {slot} is committed but not in the log");
                break;
            };
            if value.is_vacant() {
                debug_assert!(false, "slot {slot} is committed but vacant");
                break;
            }
            // The leader answers the slot's requests as it applies them.
            let requests = match &mut self.role {
                Role::Leader(leadership)
                    if leadership.in_flight.front().is_some_and(|f| f.slot == slot) =>
                {
                    leadership
                        .in_flight
                        .pop_front()
                        .map(|flight| flight.requests)
                }
                _ => None,
            };
            let mut stop_sign = None;
            match value {
                SlotValue::Batch(commands) => match requests {
                    Some(mut ids) => {
                        // Each command with its request (one per command):
                        // the answers are written straight into `out`.
                        let answered = ids.len().min(commands.len());
                        let machine = &mut self.machine;
                        out.extend(commands[..answered].iter().zip(ids.drain(..answered)).map(
                            |(command, id)| Action::Reply {
                                id,
                                response: Response::Applied {
                                    slot,
                                    output: machine.apply(slot, command),
                                },
                            },
                        ));
                        for command in &commands[answered..] {
                            machine.apply(slot, command);
                        }
                        ids.clear();
                        // Kept for the leader's next slot.
                        if ids.capacity() > self.spare_ids.capacity() {
                            self.spare_ids = ids;
                        }
                    }
                    None => {
                        for command in commands {
                            self.machine.apply(slot, command);
                        }
                    }
                },
                SlotValue::StopSign(configuration) => stop_sign = Some(configuration.clone()),
                SlotValue::NoOp | SlotValue::Vacant => {}
            }
            if self.decisions.is_enabled() {
                self.decisions.record(Decision::Applied {
                    instance: slot,
                    value: value.clone(),
                });
            }
            self.applied = slot;
            if let Some(configuration) = stop_sign {
                self.apply_stop_sign(slot, configuration, now, out);
            }
        }
        self.answer_reads(out);
        if !self.booting && self.applied >= self.log.base().index + self.config.snapshot_interval {
            self.take_snapshot(out);
        }
    }

    fn answer_reads(&mut self, out: &mut Vec<ActionOf<Self>>) {
        let applied = self.applied;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        while leadership
            .reads
            .front()
            .is_some_and(|read| read.barrier <= applied)
        {
            if let Some(read) = leadership.reads.pop_front() {
                self.counters.barrier_reads += 1;
                out.push(Action::Reply {
                    id: read.id,
                    response: Response::Read {
                        slot: applied,
                        output: self.machine.query(&read.query),
                        path: ReadPath::Barrier,
                    },
                });
            }
        }
    }

    /// The stop-sign in `slot` is applied: every later slot belongs to
    /// `next`.
    fn apply_stop_sign(
        &mut self,
        slot: u64,
        next: Configuration,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if self
            .configuration
            .as_ref()
            .is_some_and(|current| current.epoch >= next.epoch)
        {
            // Already in force (replayed at boot).
            return;
        }
        let Ok(quorums) = next.quorums.build() else {
            // Checked when proposed and when received.
            debug_assert!(false, "a chosen stop-sign names an invalid configuration");
            return;
        };
        let old_members = self.members().to_vec();
        // Slots after the stop-sign were never chosen in the old
        // configuration and belong to no other: drop them.
        if self.log.last() > slot {
            self.log.truncate_from(slot + 1);
            self.persist(PaxosWrite::Log(LogWrite::TruncateFrom(slot + 1)), out);
        }
        self.removed = !quorums.members().contains(&self.id());
        self.quorums = Arc::new(quorums);
        self.configuration = Some(next.clone());
        self.granted = None;
        self.leader_commit = self.committed;
        self.persist_hard_state(out);
        if self.booting {
            return;
        }
        // A snapshot at the stop-sign is what new members start from.
        self.take_snapshot(out);
        let was_leader = self.is_leader();
        if let Role::Leader(leadership) = &mut self.role
            && let Some(id) = leadership.reconfigure_request.take()
        {
            out.push(Action::Reply {
                id,
                response: Response::Reconfigured {
                    epoch: next.epoch,
                    start_slot: next.start_slot,
                },
            });
        }
        self.abandon_leadership(out);
        self.role = Role::Follower;
        self.leader = None;
        if was_leader {
            for member in self.members().to_vec() {
                if !old_members.contains(&member) {
                    self.start_snapshot_transfer(member, now, out);
                }
            }
            if !self.removed {
                // The old leader opens the new configuration at once.
                self.start_campaign(now, out);
            }
        } else {
            self.reset_election_deadline(now);
        }
    }
}

//! The command leader: pre-accept, the fast path, the slow path, commit.

use std::sync::Arc;

use tessera_core::{Action, ActionOf, Instant, NodeId, RequestId};
use tessera_quorum::{MemberSet, Phase, QuorumSystem, VoteOutcome, VoteTally};

use super::node::{LeadPhase, Leading, jitter};
use crate::Ballot;
use crate::epaxos::{
    Attributes, Epaxos, EpaxosMessage, EpaxosMode, EpaxosResponse, InstanceId, InstanceRecord,
    Interfering, Status,
};
use crate::multi::StateMachine;

impl<S: StateMachine> Epaxos<S>
where
    S::Command: Interfering,
{
    /// A client's command: this replica leads a new instance for it.
    pub(crate) fn propose(
        &mut self,
        id: RequestId,
        command: S::Command,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        self.proposals.record_with(|| command.clone());
        if self.leading.len() >= self.config.leading_max
            || self.instances.len() >= self.config.instances_max
        {
            out.push(Action::Reply {
                id,
                response: EpaxosResponse::Overloaded,
            });
            return;
        }
        let instance = InstanceId::new(self.id(), self.next_number);
        self.next_number += 1;
        let attributes = self.local_attributes(&command.interference_key(), instance);
        let record = InstanceRecord {
            command: Some(command.clone()),
            attributes: attributes.clone(),
            status: Some(Status::PreAccepted),
            promised: Ballot::ZERO,
            accepted_ballot: Ballot::ZERO,
            unchanged: true,
        };
        let write = self.store(instance, record, out);
        self.waiting.insert(instance, id);
        // The pre-accepts leave only once this replica's own record is
        // durable: recovery counts the command leader as one more replica
        // that knows the instance, which must survive its crash.
        let message = EpaxosMessage::PreAccept {
            instance,
            ballot: Ballot::ZERO,
            command: Some(command),
            attributes: attributes.clone(),
        };
        for member in self.config.members.clone() {
            if member != self.id() {
                self.gate.after(
                    write,
                    Action::Send {
                        to: member,
                        message: message.clone(),
                    },
                    out,
                );
            }
        }
        self.leading.insert(
            instance,
            Leading {
                ballot: Ballot::ZERO,
                phase: LeadPhase::PreAccepting {
                    proposed: attributes.clone(),
                    union: attributes,
                    replied: MemberSet::EMPTY,
                    unchanged: 0,
                    fast_allowed: true,
                },
                self_ready: false,
                started: now,
                retry_at: now + self.config.retry_timeout,
                recovery: false,
            },
        );
        self.self_votes.push_back((write, instance, Ballot::ZERO));
    }

    /// Starts phase one for `instance` in `ballot` as its (acting) leader:
    /// used by recovery, which may not take the fast path.
    pub(crate) fn lead_pre_accept(
        &mut self,
        instance: InstanceId,
        ballot: Ballot,
        command: Option<S::Command>,
        attributes: Attributes,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        // A replica never takes its own promise back.
        assert!(
            self.promised(instance) <= ballot,
            "a lead in ballot {ballot} for {instance} after promising {}",
            self.promised(instance)
        );
        let record = InstanceRecord {
            command: command.clone(),
            attributes: attributes.clone(),
            status: Some(Status::PreAccepted),
            promised: ballot,
            accepted_ballot: ballot,
            unchanged: false,
        };
        let write = self.store(instance, record, out);
        let message = EpaxosMessage::PreAccept {
            instance,
            ballot,
            command,
            attributes: attributes.clone(),
        };
        for member in self.config.members.clone() {
            if member != self.id() {
                self.gate.after(
                    write,
                    Action::Send {
                        to: member,
                        message: message.clone(),
                    },
                    out,
                );
            }
        }
        self.leading.insert(
            instance,
            Leading {
                ballot,
                phase: LeadPhase::PreAccepting {
                    proposed: attributes.clone(),
                    union: attributes,
                    replied: MemberSet::EMPTY,
                    unchanged: 0,
                    fast_allowed: false,
                },
                self_ready: false,
                started: now,
                retry_at: now + self.config.retry_timeout,
                recovery: true,
            },
        );
        self.self_votes.push_back((write, instance, ballot));
    }

    /// Phase two: accept `attributes` in `ballot` (the slow path, or a
    /// recovery's decision).
    #[allow(clippy::too_many_arguments)] // one phase-two proposal, its parts named
    pub(crate) fn lead_accept(
        &mut self,
        instance: InstanceId,
        ballot: Ballot,
        command: Option<S::Command>,
        attributes: Attributes,
        recovery: bool,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        // A replica never takes its own promise back.
        assert!(
            self.promised(instance) <= ballot,
            "an accept in ballot {ballot} for {instance} after promising {}",
            self.promised(instance)
        );
        let record = InstanceRecord {
            command: command.clone(),
            attributes: attributes.clone(),
            status: Some(Status::Accepted),
            promised: ballot,
            accepted_ballot: ballot,
            unchanged: false,
        };
        let write = self.store(instance, record, out);
        let message = EpaxosMessage::Accept {
            instance,
            ballot,
            command,
            attributes,
        };
        for member in self.config.members.clone() {
            if member != self.id() {
                self.gate.after(
                    write,
                    Action::Send {
                        to: member,
                        message: message.clone(),
                    },
                    out,
                );
            }
        }
        let started = self.leading.get(&instance).map_or(now, |l| l.started);
        self.leading.insert(
            instance,
            Leading {
                ballot,
                phase: LeadPhase::Accepting {
                    accepts: VoteTally::new(
                        Arc::clone(&self.quorums),
                        Phase::Write,
                        ballot.epoch(),
                        0,
                        (),
                    ),
                },
                self_ready: false,
                started,
                retry_at: now + self.config.retry_timeout,
                recovery,
            },
        );
        self.self_votes.push_back((write, instance, ballot));
    }

    /// This replica's own record for a lead is durable: it counts itself.
    pub(crate) fn self_vote_durable(
        &mut self,
        instance: InstanceId,
        ballot: Ballot,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let me = self.id();
        let Some(lead) = self.leading.get_mut(&instance) else {
            return;
        };
        if lead.ballot != ballot {
            return;
        }
        lead.self_ready = true;
        if let LeadPhase::Accepting { accepts } = &mut lead.phase {
            let _ = accepts.record(me, ballot.epoch(), 0, &());
        }
        self.progress(instance, now, out);
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_pre_accept_reply(
        &mut self,
        from: NodeId,
        instance: InstanceId,
        ballot: Ballot,
        attributes: Attributes,
        unchanged: bool,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let Some(position) = self.quorums.position(from) else {
            return;
        };
        let Some(lead) = self.leading.get_mut(&instance) else {
            return;
        };
        if lead.ballot != ballot {
            return;
        }
        let LeadPhase::PreAccepting {
            union,
            replied,
            unchanged: unchanged_count,
            ..
        } = &mut lead.phase
        else {
            return;
        };
        if !replied.insert(position) {
            return; // a duplicate
        }
        *union = union.union(&attributes);
        if unchanged && ballot.is_zero() {
            *unchanged_count += 1;
        }
        self.progress(instance, now, out);
    }

    pub(crate) fn on_accept_reply(
        &mut self,
        from: NodeId,
        instance: InstanceId,
        ballot: Ballot,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let Some(lead) = self.leading.get_mut(&instance) else {
            return;
        };
        if lead.ballot != ballot {
            return;
        }
        let LeadPhase::Accepting { accepts } = &mut lead.phase else {
            return;
        };
        let _ = accepts.record(from, ballot.epoch(), 0, &());
        self.progress(instance, now, out);
    }

    /// Decides what a lead does next: commit on the fast path, go to the
    /// slow path, or commit after the accept round.
    pub(crate) fn progress(
        &mut self,
        instance: InstanceId,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let promised = self.promised(instance);
        let others = self.config.members.len() - 1;
        let fast_needed = self.config.fast_quorum_size() - 1;
        let slow_needed = self.config.slow_quorum_size() - 1;
        let retry_timeout = self.config.retry_timeout;
        let Some(lead) = self.leading.get(&instance) else {
            return;
        };
        if promised > lead.ballot {
            // A recovery took the instance over: it will commit it.
            self.leading.remove(&instance);
            return;
        }
        if !lead.self_ready {
            return;
        }
        let recovery = lead.recovery;
        let ballot = lead.ballot;
        match &lead.phase {
            LeadPhase::PreAccepting {
                proposed,
                union,
                replied,
                unchanged,
                fast_allowed,
            } => {
                let replies = replied.len();
                if *fast_allowed && *unchanged >= fast_needed {
                    // The fast path: N − 1 replicas, this one included,
                    // pre-accepted exactly the proposed attributes.
                    let attributes = proposed.clone();
                    self.counters.fast_commits += 1;
                    self.enter(
                        EpaxosMode::FastPath,
                        "a fast quorum pre-accepted unchanged attributes",
                        now,
                        out,
                    );
                    self.commit_as_leader(instance, attributes, now, out);
                    return;
                }
                let fast_possible = *fast_allowed && *unchanged + (others - replies) >= fast_needed;
                let waited = now >= lead.started + retry_timeout;
                if replies >= slow_needed && (!fast_possible || waited) {
                    let attributes = union.clone();
                    if !recovery {
                        self.counters.slow_commits += 1;
                        let trigger = if fast_possible {
                            "the fast quorum did not answer in time"
                        } else {
                            "attributes changed by interference"
                        };
                        self.enter(EpaxosMode::SlowPath, trigger, now, out);
                    }
                    let command = self
                        .instances
                        .get(&instance)
                        .and_then(|slot| slot.record.command.clone());
                    self.lead_accept(instance, ballot, command, attributes, recovery, now, out);
                }
            }
            LeadPhase::Accepting { accepts } => {
                if accepts.outcome() == VoteOutcome::Won {
                    let attributes = self
                        .instances
                        .get(&instance)
                        .map(|slot| slot.record.attributes.clone())
                        .unwrap_or_default();
                    self.commit_as_leader(instance, attributes, now, out);
                }
            }
        }
    }

    /// Commits `instance` with `attributes`, tells every replica, and
    /// executes what it can.
    pub(crate) fn commit_as_leader(
        &mut self,
        instance: InstanceId,
        attributes: Attributes,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        self.leading.remove(&instance);
        self.recovering.remove(&instance);
        let Some(slot) = self.instances.get(&instance) else {
            return;
        };
        let record = InstanceRecord {
            command: slot.record.command.clone(),
            attributes,
            status: Some(Status::Committed),
            promised: slot.record.promised,
            accepted_ballot: slot.record.accepted_ballot,
            unchanged: slot.record.unchanged,
        };
        let write = self.store(instance, record, out);
        // Nothing acts on the commit — no execution, no answer, no commit
        // message — until this replica's commit record is durable: a
        // command leader that restarts must report the commit to any
        // recovery that asks, or a recovery whose quorum includes it could
        // see fewer than F unchanged pre-accepts and choose differently.
        self.commits_pending.push_back((write, instance));
        self.release_commits(now, out);
    }

    /// Announces, and executes, the commits whose records are durable.
    pub(crate) fn release_commits(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let mut released = false;
        while let Some((write, instance)) = self.commits_pending.front().copied() {
            if !self.gate.is_durable(write) {
                break;
            }
            self.commits_pending.pop_front();
            let Some(record) = self.committed(instance) else {
                continue;
            };
            let message = EpaxosMessage::Commit {
                instance,
                command: record.command.clone(),
                attributes: record.attributes.clone(),
            };
            for member in self.config.members.clone() {
                if member != self.id() {
                    self.send(member, message.clone(), out);
                }
            }
            self.note_committed(instance);
            released = true;
        }
        if released {
            self.execute_ready(now, out);
        }
    }

    pub(crate) fn on_nack(&mut self, instance: InstanceId, ballot: Ballot, promised: Ballot) {
        self.highest_round_seen = self.highest_round_seen.max(promised.round);
        if self
            .leading
            .get(&instance)
            .is_some_and(|lead| lead.ballot == ballot && promised > ballot)
        {
            self.leading.remove(&instance);
        }
        if self
            .recovering
            .get(&instance)
            .is_some_and(|recovery| recovery.ballot == ballot && promised > ballot)
        {
            self.recovering.remove(&instance);
        }
    }

    /// Re-sends what was not answered, and falls back to the slow path.
    pub(crate) fn leading_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let due: Vec<InstanceId> = self
            .leading
            .iter()
            .filter(|(_, lead)| lead.retry_at <= now)
            .map(|(instance, _)| *instance)
            .collect();
        for instance in due {
            let retry = jitter(&mut self.rng, self.config.retry_timeout);
            let Some(slot) = self.instances.get(&instance) else {
                self.leading.remove(&instance);
                continue;
            };
            let record = slot.record.clone();
            let Some(lead) = self.leading.get_mut(&instance) else {
                continue;
            };
            lead.retry_at = now + retry;
            let ballot = lead.ballot;
            let (message, answered) = match &lead.phase {
                LeadPhase::PreAccepting {
                    proposed, replied, ..
                } => (
                    EpaxosMessage::PreAccept {
                        instance,
                        ballot,
                        command: record.command.clone(),
                        attributes: proposed.clone(),
                    },
                    *replied,
                ),
                LeadPhase::Accepting { accepts } => (
                    EpaxosMessage::Accept {
                        instance,
                        ballot,
                        command: record.command.clone(),
                        attributes: record.attributes.clone(),
                    },
                    accepts.granted(),
                ),
            };
            if lead.self_ready {
                for (position, member) in self.config.members.iter().enumerate() {
                    if *member != self.config.id && !answered.contains(position) {
                        out.push(Action::Send {
                            to: *member,
                            message: message.clone(),
                        });
                    }
                }
            }
            // Waited long enough for the fast quorum: the slow path will
            // do with a majority.
            self.progress(instance, now, out);
        }
    }
}

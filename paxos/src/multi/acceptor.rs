//! The acceptor's side: promises, acceptances and lease grants.

use std::time::Duration;

use tessera_core::{Action, ActionOf, Instant, NodeId};
use tessera_hlc::Lease;

use crate::error::check_size;
use crate::multi::{
    ACCEPT_SLOTS_MAX, BATCH_COMMANDS_LIMIT, LeaseOffer, Message, MultiPaxos, PROMISE_ENTRIES_MAX,
    SlotEntry, SlotValue, StateMachine,
};
use crate::{Ballot, PaxosError};

/// The longest lease an acceptor grants, whatever a leader offers.
pub const LEASE_DURATION_MAX: Duration = Duration::from_secs(60);

impl<S: StateMachine> MultiPaxos<S> {
    /// Whether a lease this node granted to another node may still be
    /// held, or the node is in its restart quarantine: then it must not
    /// promise `ballot`.
    fn lease_blocks(&self, ballot: Ballot, now: Instant) -> bool {
        if now < self.quarantine_until {
            return true;
        }
        self.granted
            .as_ref()
            .is_some_and(|lease| lease.may_be_held(now) && lease.holder() != ballot.node)
    }

    pub(crate) fn on_prepare(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        from_slot: u64,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if self.configuration.is_none() {
            return;
        }
        self.observe_round(ballot);
        if ballot < self.promised {
            self.send(
                from,
                Message::Nack {
                    ballot,
                    promised: self.promised,
                },
                out,
            );
            return;
        }
        if ballot > self.promised {
            if self.lease_blocks(ballot, now) {
                // The candidate will ask again once the lease has expired.
                self.counters.prepares_deferred += 1;
                return;
            }
            self.promised = ballot;
            self.persist_hard_state(out);
            // A higher ballot campaigns: this node's own campaign or
            // leadership is over.
            let mine = match &self.role {
                super::node::Role::Leader(l) => Some(l.ballot),
                super::node::Role::Candidate(c) => Some(c.ballot),
                super::node::Role::Follower => None,
            };
            if mine.is_some_and(|mine| mine < ballot) {
                self.abandon_leadership(out);
                self.role = super::node::Role::Follower;
                self.leader = None;
            }
            if ballot.node != self.id() {
                self.reset_election_deadline(now);
            }
        }
        let (entries, next) = self.log.report(
            from_slot.max(1),
            PROMISE_ENTRIES_MAX,
            self.config.message_bytes_max,
            Self::value_bytes,
        );
        let promise = Action::Send {
            to: from,
            message: Message::Promise {
                ballot,
                from_slot,
                entries,
                next,
                base: self.log.base().index,
            },
        };
        // Only once the promise (and every earlier write) is durable.
        self.gate.after_pending(promise, out);
    }

    /// Checks an `Accept`'s shape before anything of it is applied.
    fn check_accept(
        &self,
        from: NodeId,
        first_slot: u64,
        values: &[SlotValue<S::Command>],
    ) -> Result<(), PaxosError> {
        check_size(from, "accept slots", values.len(), ACCEPT_SLOTS_MAX)?;
        if first_slot == 0 || first_slot.checked_add(values.len() as u64).is_none() {
            return Err(PaxosError::Malformed {
                from,
                reason: "accept slot out of range",
            });
        }
        for value in values {
            check_value(from, value)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_accept(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first_slot: u64,
        values: Vec<SlotValue<S::Command>>,
        commit: u64,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Err(error) = self.check_accept(from, first_slot, &values) {
            self.reject(error);
            return;
        }
        if self.configuration.is_none() || values.is_empty() {
            return;
        }
        self.observe_round(ballot);
        if ballot < self.promised {
            self.send(
                from,
                Message::Nack {
                    ballot,
                    promised: self.promised,
                },
                out,
            );
            return;
        }
        if ballot > self.promised {
            self.promised = ballot;
            self.persist_hard_state(out);
        }
        self.follow(ballot, now, out);
        let count = values.len() as u64;
        let entries: Vec<SlotEntry<S::Command>> = values
            .into_iter()
            .enumerate()
            .map(|(i, value)| SlotEntry {
                slot: first_slot + i as u64,
                ballot,
                value,
            })
            .collect();
        self.store_entries(entries, out);
        // Slots inside the compacted prefix are chosen already: only the
        // rest is acknowledged as accepted. A leader proposing them does
        // not know they are chosen: it gets this node's snapshot, or it
        // would wait for acknowledgements that never come.
        if first_slot <= self.log.base().index && from != self.id() {
            self.start_snapshot_transfer(from, now, out);
        }
        let end = first_slot + count - 1;
        let first = first_slot.max(self.log.base().index + 1);
        if first <= end {
            let accepted = Action::Send {
                to: from,
                message: Message::Accepted {
                    ballot,
                    first_slot: first,
                    count: end - first + 1,
                },
            };
            self.gate.after_pending(accepted, out);
        }
        self.learn_commit(ballot, commit, now, out);
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_heartbeat(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        round: u64,
        commit: u64,
        offer: Option<LeaseOffer>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if self.configuration.is_none() {
            return;
        }
        self.observe_round(ballot);
        if ballot < self.promised {
            self.send(
                from,
                Message::Nack {
                    ballot,
                    promised: self.promised,
                },
                out,
            );
            return;
        }
        if ballot > self.promised {
            self.promised = ballot;
            self.persist_hard_state(out);
        }
        self.follow(ballot, now, out);
        let lease_granted = match (offer, self.config.lease) {
            (Some(offer), Some(lease_config)) => {
                self.grant(from, ballot, offer, lease_config.max_clock_offset)
            }
            _ => false,
        };
        let ack = Action::Send {
            to: from,
            message: Message::HeartbeatAck {
                ballot,
                round,
                lease_granted,
            },
        };
        self.gate.after_pending(ack, out);
        self.learn_commit(ballot, commit, now, out);
    }

    /// Grants `holder`'s lease offer: from now on this node promises no
    /// other ballot until the lease's `held_until` on its own clock.
    pub(crate) fn grant(
        &mut self,
        holder: NodeId,
        ballot: Ballot,
        offer: LeaseOffer,
        max_offset: Duration,
    ) -> bool {
        let duration = Duration::from_nanos(offer.duration_nanos);
        if duration > LEASE_DURATION_MAX {
            self.reject(PaxosError::Malformed {
                from: holder,
                reason: "lease offer longer than LEASE_DURATION_MAX",
            });
            return false;
        }
        let Ok(lease) = Lease::new(holder, ballot.epoch(), offer.start, duration, max_offset)
        else {
            return false;
        };
        let keep_old = self
            .granted
            .as_ref()
            .is_some_and(|old| old.held_until() > lease.held_until() && old.holder() == holder);
        if !keep_old {
            self.granted = Some(lease);
        }
        true
    }
}

/// Checks one slot value from a peer.
pub(crate) fn check_value<C>(from: NodeId, value: &SlotValue<C>) -> Result<(), PaxosError> {
    match value {
        SlotValue::Vacant => Err(PaxosError::Malformed {
            from,
            reason: "a vacant placeholder sent as a value",
        }),
        SlotValue::Batch(commands) => {
            check_size(from, "batch commands", commands.len(), BATCH_COMMANDS_LIMIT)
        }
        SlotValue::StopSign(configuration) => match configuration.quorums.build() {
            Ok(_) => Ok(()),
            Err(_) => Err(PaxosError::Malformed {
                from,
                reason: "a stop-sign names an invalid configuration",
            }),
        },
        SlotValue::NoOp => Ok(()),
    }
}

/// Checks entries reported by a peer: ascending slots from `from_slot`,
/// ballots below `below` and owned by `members` (any owner if `members` is
/// empty), real values.
pub(crate) fn check_entries<C>(
    from: NodeId,
    entries: &[SlotEntry<C>],
    from_slot: u64,
    below: Option<Ballot>,
    members: &[NodeId],
    max: usize,
) -> Result<(), PaxosError> {
    check_size(from, "entries", entries.len(), max)?;
    let mut previous = from_slot.saturating_sub(1);
    for entry in entries {
        if entry.slot <= previous || entry.slot == 0 {
            return Err(PaxosError::Malformed {
                from,
                reason: "entries not in ascending slot order",
            });
        }
        previous = entry.slot;
        if below.is_some_and(|below| entry.ballot >= below) {
            return Err(PaxosError::Malformed {
                from,
                reason: "a promise reports an acceptance at or above the promised ballot",
            });
        }
        if members.is_empty() {
            // Chosen entries from an earlier configuration: their ballots
            // may belong to nodes no longer members.
            if entry.ballot.round > crate::ROUND_MAX {
                return Err(PaxosError::Malformed {
                    from,
                    reason: "ballot round out of range",
                });
            }
        } else {
            entry.ballot.check(from, members)?;
        }
        check_value(from, &entry.value)?;
    }
    Ok(())
}

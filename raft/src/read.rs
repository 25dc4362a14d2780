//! Linearizable reads without writing to the log: ReadIndex, confirmed by a
//! quorum round, and lease reads, served at once under a leader lease
//! (dissertation §6.4 and §6.4.1).
//!
//! Both wait until the leader has committed an entry of its own term:
//! before that it does not know the commit index (§6.4 step 1).
//!
//! # The lease
//!
//! A follower that acknowledges a round started at `t` (leader's clock)
//! heard from the leader after `t`, and refuses to help elect anyone else
//! for `election_timeout_min` after that, measured on its own clock
//! (leader stickiness, [`RaftNode::in_leader_lease`]). So once a quorum
//! acknowledged round `r`, no other leader can exist before
//! `start(r) + election_timeout_min` — give or take how much the clocks
//! disagree about that interval, which
//! [`RaftConfig::max_clock_offset`](crate::RaftConfig::max_clock_offset)
//! bounds. The lease is a tessera-hlc [`Lease`] with exactly those
//! numbers: holder the leader, epoch the term, start `start(r)`, duration
//! `election_timeout_min`, maximum offset the bound; the leader uses it
//! while [`Lease::is_valid_for_holder`], that is until
//! `start(r) + election_timeout_min − max_clock_offset`.
//!
//! A restarted node counts its start as contact with a leader, since it
//! may have acknowledged one just before it crashed. A leader that hands
//! leadership over gives its lease up for the rest of its term, since the
//! transfer's election ignores stickiness.

use tessera_core::{Instant, RequestId};
use tessera_hlc::Lease;
use tessera_quorum::QuorumSystem;

use crate::node::{RaftAction, Role};
use crate::{RaftError, RaftNode, ReadPath, ReadPolicy, Response, StateMachine};

/// A read waiting at the leader.
pub(crate) struct PendingRead<S: StateMachine> {
    pub(crate) id: RequestId,
    pub(crate) query: S::Query,
    /// The commit index to reflect; `None` until the leader has committed an
    /// entry of its term.
    pub(crate) read_index: Option<u64>,
    /// The round a quorum must acknowledge first (0: none needed).
    pub(crate) round: u64,
    pub(crate) path: ReadPath,
}

impl<S: StateMachine> RaftNode<S> {
    /// Whether the leader has committed an entry of its own term.
    pub(crate) fn committed_in_term(&self) -> bool {
        self.log.term_at(self.commit) == Some(self.term)
    }

    /// The leader's lease, if it holds one it may use at `now` (its own
    /// clock): see [`Lease::is_valid_for_holder`].
    pub fn valid_lease(&self, now: Instant) -> Option<&Lease> {
        let Role::Leader(leadership) = &self.role else {
            return None;
        };
        if !self.config.check_quorum || leadership.lease_given_up {
            return None;
        }
        leadership
            .lease
            .as_ref()
            .filter(|lease| lease.is_valid_for_holder(now))
    }

    /// The leader's lease as it stands (valid, expired or given up), for
    /// status reports.
    pub fn lease(&self) -> Option<&Lease> {
        match &self.role {
            Role::Leader(leadership) => leadership.lease.as_ref(),
            _ => None,
        }
    }

    /// The highest round a quorum has acknowledged (the leader counting its
    /// own current round).
    fn quorum_round(&self) -> u64 {
        let Role::Leader(leadership) = &self.role else {
            return 0;
        };
        let Some(quorum) = &self.membership.quorum else {
            return 0;
        };
        quorum.committed_index(|node| {
            if node == self.id {
                leadership.round
            } else {
                leadership.progress.get(&node).map_or(0, |p| p.acked_round)
            }
        })
    }

    /// Extends the lease from the latest round a quorum acknowledged.
    pub(crate) fn refresh_lease(&mut self) {
        let round = self.quorum_round();
        let (id, term) = (self.id, self.term);
        let duration = self.config.election_timeout_min;
        let offset = self.config.max_clock_offset;
        let self_is_voter = self.membership.current.is_voter(self.id);
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if round <= leadership.lease_round || leadership.lease_given_up || !self_is_voter {
            return;
        }
        if let Some(start) = leadership.round_start(round)
            && let Ok(lease) = Lease::new(id, term, start, duration, offset)
        {
            leadership.lease = Some(lease);
            leadership.lease_round = round;
        }
    }

    /// A read request.
    pub(crate) fn read(
        &mut self,
        id: RequestId,
        query: S::Query,
        policy: ReadPolicy,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if !self.is_leader() {
            let leader = self.leader;
            self.reply(id, Response::NotLeader { leader }, out);
            return;
        }
        let limit = self.config.reads_pending_max;
        let committed_in_term = self.committed_in_term();
        let lease_ok = committed_in_term && self.valid_lease(self.now).is_some();
        let commit = self.commit;
        let now = self.now;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.reads.len() >= limit {
            self.reply(
                id,
                Response::Rejected(RaftError::Overloaded {
                    queue: "reads_pending",
                    limit,
                }),
                out,
            );
            return;
        }
        let read_index = committed_in_term.then_some(commit);
        let (path, round) = if policy == ReadPolicy::Lease && lease_ok {
            (ReadPath::Lease, 0)
        } else {
            if policy == ReadPolicy::Lease {
                self.counters.lease_fallbacks += 1;
            }
            // A round started after the read arrived: now, or after the one
            // in flight (which started before) is acknowledged.
            let round = match leadership.read_round {
                None => {
                    let round = leadership.start_round(now);
                    leadership.read_round = Some(round);
                    round
                }
                Some(_) => leadership.round + 1,
            };
            (ReadPath::ReadIndex, round)
        };
        let start_heartbeat = path == ReadPath::ReadIndex && round == leadership.round;
        leadership.reads.push_back(PendingRead {
            id,
            query,
            read_index,
            round,
            path,
        });
        if start_heartbeat {
            self.send_round_heartbeats(out);
        }
    }

    /// Sends the current round to every follower (a heartbeat without
    /// starting another round).
    fn send_round_heartbeats(&mut self, out: &mut Vec<RaftAction<S>>) {
        let (term, commit) = (self.term, self.commit);
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        let round = leadership.round;
        for (follower, progress) in &leadership.progress {
            out.push(tessera_core::Action::Send {
                to: *follower,
                message: crate::Message::Heartbeat(crate::Heartbeat {
                    term,
                    commit: commit.min(progress.match_index),
                    round,
                }),
            });
        }
    }

    /// Answers the reads that are confirmed and applied; starts the next
    /// read round if reads wait for one.
    pub(crate) fn serve_reads(&mut self, out: &mut Vec<RaftAction<S>>) {
        let confirmed_round = self.quorum_round();
        let committed_in_term = self.committed_in_term();
        let (commit, applied) = (self.commit, self.applied.index);
        let now = self.now;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.reads.is_empty() {
            leadership.read_round = None;
            return;
        }
        if leadership
            .read_round
            .is_some_and(|round| round <= confirmed_round)
        {
            leadership.read_round = None;
        }
        let mut ready = Vec::new();
        let mut waiting_round = false;
        let mut index = 0;
        while index < leadership.reads.len() {
            let read = &mut leadership.reads[index];
            if read.read_index.is_none() && committed_in_term {
                read.read_index = Some(commit);
            }
            let confirmed = read.round <= confirmed_round;
            waiting_round |= !confirmed;
            match read.read_index {
                Some(read_index) if confirmed && read_index <= applied => {
                    if let Some(read) = leadership.reads.remove(index) {
                        ready.push(read);
                    }
                }
                _ => index += 1,
            }
        }
        let start_round = waiting_round && leadership.read_round.is_none();
        if start_round {
            let round = leadership.start_round(now);
            leadership.read_round = Some(round);
        }
        for read in ready {
            let index = read.read_index.unwrap_or(commit);
            match read.path {
                ReadPath::Lease => self.counters.lease_reads += 1,
                ReadPath::ReadIndex => self.counters.read_index_reads += 1,
            }
            let output = self.sm.query(&read.query);
            self.reply(
                read.id,
                Response::Read {
                    index,
                    output,
                    path: read.path,
                },
                out,
            );
        }
        if start_round {
            self.send_round_heartbeats(out);
        }
    }

    /// How long the lease has left at `now` (zero if none).
    pub(crate) fn lease_remaining(&self, now: Instant) -> std::time::Duration {
        self.valid_lease(self.now)
            .map(|lease| lease.holder_valid_until().duration_since(now))
            .unwrap_or_default()
    }
}

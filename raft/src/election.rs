//! Who leads: randomized election timeouts, pre-vote, votes, and stepping
//! up and down (Raft §5.2, §5.4.1; dissertation §9.6 for pre-vote and §6.2
//! for check-quorum's leader stickiness).

use tessera_core::{PersistId, RequestId};
use tessera_quorum::{Phase, QuorumCertificate, VoteOutcome, VoteTally};

use crate::node::{RaftAction, Role};
use crate::replication::Leadership;
use crate::{
    Flaw, Message, MessageRejection, Payload, RaftError, RaftNode, Response, StateMachine,
    VoteRequest, VoteResponse, VoterQuorum,
};

/// An election (or pre-election) under way.
pub(crate) struct Election {
    pub(crate) tally: VoteTally<(), VoterQuorum>,
    /// The write of this node's own vote; its vote counts once durable.
    pub(crate) self_vote: Option<PersistId>,
}

impl<S: StateMachine> RaftNode<S> {
    /// Whether this node still honours its leader's lease: it heard from
    /// the leader (or started) less than `election_timeout_min` ago, so it
    /// refuses to help elect anyone else. Leaders honour their own.
    pub(crate) fn in_leader_lease(&self) -> bool {
        if !self.config.check_quorum || self.config.flaw == Flaw::VoteDuringLease {
            return false;
        }
        self.is_leader() || self.now < self.leader_contact + self.config.election_timeout_min
    }

    /// The election timer fired.
    pub(crate) fn on_election_timeout(&mut self, out: &mut Vec<RaftAction<S>>) {
        self.reset_election_deadline();
        if !self.membership.current.is_voter(self.id) {
            // Learners and nodes outside the configuration never campaign.
            return;
        }
        if self.leader.is_some() {
            self.leader = None;
        }
        if self.config.pre_vote {
            self.campaign_pre_vote(out);
        } else {
            self.campaign(false, out);
        }
    }

    fn new_tally(&self, term: u64) -> Option<VoteTally<(), VoterQuorum>> {
        let quorum = self.membership.quorum.clone()?;
        Some(VoteTally::new(quorum, Phase::Read, term, 0, ()))
    }

    fn vote_request(&self, term: u64, pre_vote: bool, transfer: bool) -> Message<S::Command> {
        Message::VoteRequest(VoteRequest {
            term,
            last_log: self.log.last_position(),
            pre_vote,
            transfer,
        })
    }

    fn campaign_pre_vote(&mut self, out: &mut Vec<RaftAction<S>>) {
        self.abandon_snapshot_receive();
        let term = self.term + 1;
        let Some(mut tally) = self.new_tally(term) else {
            return;
        };
        self.counters.pre_votes_started += 1;
        // A pre-vote changes no state, so the node's own counts at once.
        let outcome = tally
            .record(self.id, term, 0, &())
            .unwrap_or(VoteOutcome::Pending);
        self.abandon_leadership_state(out);
        self.role = Role::PreCandidate(Election {
            tally,
            self_vote: None,
        });
        if outcome == VoteOutcome::Won {
            self.campaign(false, out);
            return;
        }
        let request = self.vote_request(term, true, false);
        for voter in self.voters_except_self() {
            self.send(voter, request.clone(), out);
        }
    }

    /// Starts an election in the next term. `transfer`: the leader handed
    /// leadership over, so voters ignore its lease.
    pub(crate) fn campaign(&mut self, transfer: bool, out: &mut Vec<RaftAction<S>>) {
        self.abandon_snapshot_receive();
        let term = self.term + 1;
        let Some(tally) = self.new_tally(term) else {
            return;
        };
        self.counters.elections_started += 1;
        self.abandon_leadership_state(out);
        self.term = term;
        self.vote = Some(self.id);
        self.leader = None;
        self.save_hard_state(out);
        let self_vote = self.gate.last_assigned();
        self.role = Role::Candidate(Election {
            tally,
            self_vote: Some(self_vote),
        });
        self.reset_election_deadline();
        // The requests need not wait for the vote to be durable: they bind
        // no one. The node's own vote counts only once it is.
        let request = self.vote_request(term, false, transfer);
        for voter in self.voters_except_self() {
            self.send(voter, request.clone(), out);
        }
        if self.gate.is_durable(self_vote) {
            self.on_self_vote_durable(self_vote, out);
        }
    }

    fn voters_except_self(&self) -> Vec<u64> {
        let membership = &self.membership.current;
        let mut voters: Vec<u64> = membership
            .voters()
            .iter()
            .chain(membership.outgoing())
            .copied()
            .filter(|v| *v != self.id)
            .collect();
        voters.sort_unstable();
        voters.dedup();
        voters
    }

    /// The candidate's own vote became durable: count it.
    pub(crate) fn on_self_vote_durable(&mut self, up_to: PersistId, out: &mut Vec<RaftAction<S>>) {
        let term = self.term;
        let id = self.id;
        let won = match &mut self.role {
            Role::Candidate(election) => match election.self_vote {
                Some(vote) if vote <= up_to => {
                    election.self_vote = None;
                    election.tally.record(id, term, 0, &()) == Ok(VoteOutcome::Won)
                }
                _ => false,
            },
            _ => false,
        };
        if won {
            self.become_leader(out);
        }
    }

    /// A request for a (pre-)vote.
    pub(crate) fn on_vote_request(
        &mut self,
        from: u64,
        request: VoteRequest,
        out: &mut Vec<RaftAction<S>>,
    ) {
        let refuse = |term| {
            Message::VoteResponse(VoteResponse {
                term,
                granted: false,
                pre_vote: request.pre_vote,
            })
        };
        if request.term < self.term {
            let message = refuse(self.term);
            self.send(from, message, out);
            return;
        }
        if request.term > self.term && !request.transfer && self.in_leader_lease() {
            // Leader stickiness: a leader this node heard from recently
            // may hold a lease; helping to depose it could break it.
            self.counters.votes_ignored_in_lease += 1;
            return;
        }
        if !self.membership.current.is_voter(from) {
            self.reject(MessageRejection::NotAMember);
            let message = refuse(self.term);
            self.send(from, message, out);
            return;
        }
        let log_ok = self.log.is_up_to_date(request.last_log);
        if request.pre_vote {
            let grant = request.term > self.term && log_ok;
            let message = Message::VoteResponse(VoteResponse {
                term: if grant { request.term } else { self.term },
                granted: grant,
                pre_vote: true,
            });
            self.send(from, message, out);
            return;
        }
        if request.term > self.term {
            // Adopt the term; it is saved together with the vote below, in
            // one write.
            self.step_down(request.term, None, out);
        }
        let can_vote = self.vote == Some(from) || (self.vote.is_none() && self.leader.is_none());
        let grant = can_vote && log_ok;
        if grant {
            self.vote = Some(from);
            self.reset_election_deadline();
        }
        self.save_hard_state(out);
        let message = Message::VoteResponse(VoteResponse {
            term: self.term,
            granted: grant,
            pre_vote: false,
        });
        if self.config.flaw == Flaw::VoteBeforePersist {
            self.send(from, message, out);
        } else {
            // The vote binds this node only once it survives a crash.
            self.send_when_durable(from, message, out);
        }
    }

    /// An answer to this node's (pre-)vote request.
    pub(crate) fn on_vote_response(
        &mut self,
        from: u64,
        response: VoteResponse,
        out: &mut Vec<RaftAction<S>>,
    ) {
        let term = self.term;
        let outcome = match &mut self.role {
            Role::PreCandidate(election) if response.pre_vote => {
                if response.granted && response.term == term + 1 {
                    election.tally.record(from, term + 1, 0, &())
                } else if !response.granted && response.term > term {
                    Ok(VoteOutcome::Lost)
                } else if !response.granted {
                    election.tally.record_refusal(from, term + 1, 0)
                } else {
                    return;
                }
            }
            Role::Candidate(election) if !response.pre_vote && response.term == term => {
                if response.granted {
                    election.tally.record(from, term, 0, &())
                } else {
                    election.tally.record_refusal(from, term, 0)
                }
            }
            _ => {
                if !(response.pre_vote && response.granted) && response.term > term {
                    self.become_follower(response.term, None, out);
                }
                return;
            }
        };
        if !(response.pre_vote && response.granted) && response.term > term {
            self.become_follower(response.term, None, out);
            return;
        }
        match outcome {
            Ok(VoteOutcome::Won) => {
                if matches!(self.role, Role::PreCandidate(_)) {
                    self.campaign(false, out);
                } else {
                    self.become_leader(out);
                }
            }
            Ok(VoteOutcome::Lost) => self.become_follower(self.term, None, out),
            Ok(VoteOutcome::Pending) => {}
            Err(tessera_quorum::QuorumError::VoteRejected {
                reason: tessera_quorum::VoteRejection::NotAMember,
                ..
            }) => self.reject(MessageRejection::NotAMember),
            // Duplicates (a duplicated message) change nothing.
            Err(_) => {}
        }
    }

    /// Becomes a follower in `term` (adopting it if higher, which clears
    /// the vote), of `leader` if known.
    pub(crate) fn become_follower(
        &mut self,
        term: u64,
        leader: Option<u64>,
        out: &mut Vec<RaftAction<S>>,
    ) {
        self.step_down(term, leader, out);
        self.save_hard_state(out);
    }

    /// [`become_follower`](Self::become_follower) without saving the hard
    /// state: the caller saves it, with what else it changes.
    fn step_down(&mut self, term: u64, leader: Option<u64>, out: &mut Vec<RaftAction<S>>) {
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        self.abandon_leadership_state(out);
        self.role = Role::Follower;
        self.leader = leader;
        if leader.is_some() {
            self.leader_contact = self.now;
        }
        self.reset_election_deadline();
    }

    /// Ends a leadership (if this node was leading): answers what waited on
    /// it.
    pub(crate) fn abandon_leadership_state(&mut self, out: &mut Vec<RaftAction<S>>) {
        let Role::Leader(leadership) = std::mem::replace(&mut self.role, Role::Follower) else {
            return;
        };
        let leadership = *leadership;
        let new_leader = self.leader.filter(|l| *l != self.id);
        for read in leadership.reads {
            self.reply(read.id, Response::NotLeader { leader: new_leader }, out);
        }
        if let Some(transfer) = leadership.transfer {
            if transfer.timeout_now_sent && new_leader.is_none() {
                // The target is probably campaigning: answer once this node
                // learns who won.
                self.transfer_waiters = Some(crate::transfer::TransferWaiters {
                    to: transfer.to,
                    requests: transfer.requests,
                    deadline: self.now + self.config.election_timeout_max,
                });
            } else {
                for id in transfer.requests {
                    self.answer_transfer(id, transfer.to, new_leader, out);
                }
            }
        }
        if let Some(change) = leadership.membership_request {
            // The change may still commit under the next leader.
            self.reply(change.id, Response::Unknown, out);
        }
    }

    fn answer_transfer(
        &self,
        id: RequestId,
        to: u64,
        new_leader: Option<u64>,
        out: &mut Vec<RaftAction<S>>,
    ) {
        let response = if new_leader == Some(to) {
            Response::LeadershipTransferred {
                to,
                term: self.term,
            }
        } else {
            Response::Rejected(RaftError::TransferFailed {
                to,
                reason: "the leader stepped down before the transfer completed".to_string(),
            })
        };
        self.reply(id, response, out);
    }

    /// Won the election: lead.
    pub(crate) fn become_leader(&mut self, out: &mut Vec<RaftAction<S>>) {
        let Role::Candidate(election) = std::mem::replace(&mut self.role, Role::Follower) else {
            return;
        };
        self.counters.elections_won += 1;
        let certificate: Option<QuorumCertificate<(), VoterQuorum>> = election
            .tally
            .certificate()
            .map(|c| c.with_issued_at(self.now));
        self.leader = Some(self.id);
        let members: Vec<u64> = self
            .membership
            .current
            .members()
            .filter(|m| *m != self.id)
            .collect();
        self.role = Role::Leader(Box::new(Leadership::new(
            self.now,
            &self.config,
            members,
            self.log.last_index() + 1,
            certificate,
        )));
        // The new term's first entry: once committed, everything before it
        // is, and reads may be served (Raft §5.4.2, §8).
        self.append_as_leader(Payload::Blank, out);
        self.broadcast_append(out);
    }
}

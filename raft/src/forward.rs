//! Proposal forwarding: a follower sends a client's proposal to its leader
//! and answers the client itself once it applies the entry.

use tessera_core::{Instant, NodeId, RequestId};

use crate::node::RaftAction;
use crate::{
    ForwardOutcome, Message, MessageRejection, Payload, RaftError, RaftNode, Response, StateMachine,
};

/// How many forwarded proposals per follower the leader remembers, to
/// recognise a duplicated `Forward` message and not append it twice.
pub const FORWARDS_REMEMBERED_MAX: usize = 4_096;

/// The forwarded proposals a leader appended, per follower: the most
/// recent [`FORWARDS_REMEMBERED_MAX`] ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct ForwardsSeen {
    order: std::collections::VecDeque<u64>,
    ids: std::collections::BTreeSet<u64>,
}

impl ForwardsSeen {
    /// Records `id`; returns whether it is new.
    fn insert(&mut self, id: u64) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > FORWARDS_REMEMBERED_MAX
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }
}

/// A proposal forwarded to the leader, waiting for its answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingForward {
    pub(crate) id: RequestId,
    pub(crate) deadline: Instant,
}

impl<S: StateMachine> RaftNode<S> {
    /// Forwards a client's proposal to `leader`.
    pub(crate) fn forward(
        &mut self,
        id: RequestId,
        leader: NodeId,
        command: S::Command,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if self.forwards.len() >= self.config.forwards_pending_max {
            self.reply(
                id,
                Response::Rejected(RaftError::Overloaded {
                    queue: "forwards_pending",
                    limit: self.config.forwards_pending_max,
                }),
                out,
            );
            return;
        }
        let forward_id = self.next_forward_id;
        self.next_forward_id = self.next_forward_id.wrapping_add(1);
        self.forwards.insert(
            forward_id,
            PendingForward {
                id,
                deadline: self.now + self.config.forward_timeout,
            },
        );
        self.counters.proposals_forwarded += 1;
        self.send(
            leader,
            Message::Forward {
                id: forward_id,
                command,
            },
            out,
        );
    }

    /// A follower's forwarded proposal, at the leader.
    pub(crate) fn on_forward(
        &mut self,
        from: NodeId,
        id: u64,
        command: S::Command,
        out: &mut Vec<RaftAction<S>>,
    ) {
        let refuse = |leader| Message::ForwardResponse {
            id,
            outcome: ForwardOutcome::Refused { leader },
        };
        if !self.membership.current.contains(from) {
            self.reject(MessageRejection::NotAMember);
            let message = refuse(self.leader);
            self.send(from, message, out);
            return;
        }
        if !self.is_leader() || self.proposal_refusal().is_some() {
            let message = refuse(self.leader.filter(|l| *l != self.id));
            self.send(from, message, out);
            return;
        }
        // The network may deliver a message twice: append each forwarded
        // proposal once.
        if let crate::node::Role::Leader(leadership) = &mut self.role
            && !leadership.forwards_seen.entry(from).or_default().insert(id)
        {
            return;
        }
        let at = self.append_as_leader(Payload::Command(command), out);
        self.send(
            from,
            Message::ForwardResponse {
                id,
                outcome: ForwardOutcome::Appended { at },
            },
            out,
        );
        self.broadcast_append(out);
    }

    /// The leader's answer to a forwarded proposal.
    pub(crate) fn on_forward_response(
        &mut self,
        _from: NodeId,
        id: u64,
        outcome: ForwardOutcome,
        out: &mut Vec<RaftAction<S>>,
    ) {
        let Some(pending) = self.forwards.remove(&id) else {
            return; // answered already, or timed out
        };
        match outcome {
            ForwardOutcome::Appended { at } => self.track_proposal(at, pending.id, out),
            ForwardOutcome::Refused { leader } => {
                self.reply(pending.id, Response::NotLeader { leader }, out);
            }
        }
    }

    /// Answers `Unknown` to forwards the leader did not answer in time.
    pub(crate) fn expire_forwards(&mut self, out: &mut Vec<RaftAction<S>>) {
        if self.forwards.is_empty() {
            return;
        }
        let now = self.now;
        let expired: Vec<u64> = self
            .forwards
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(pending) = self.forwards.remove(&id) {
                self.reply(pending.id, Response::Unknown, out);
            }
        }
    }
}

//! Leadership transfer (dissertation §3.10): the leader brings the target
//! up to date, then tells it to campaign at once with `TimeoutNow`.
//! Proposals are refused while a transfer is pending; the transfer aborts
//! after an election timeout.

use tessera_core::{Instant, NodeId, RequestId};

use crate::node::{RaftAction, Role};
use crate::{Message, RaftError, RaftNode, Response, StateMachine};

/// How many clients may wait on one transfer; more are refused.
pub const TRANSFER_WAITERS_MAX: usize = 16;

/// Clients of a transfer the leader handed over (it sent TimeoutNow and
/// then stepped down): answered when this node learns who leads next.
#[derive(Debug, Clone)]
pub(crate) struct TransferWaiters {
    pub(crate) to: NodeId,
    pub(crate) requests: Vec<RequestId>,
    pub(crate) deadline: Instant,
}

/// A transfer in progress at the leader.
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    pub(crate) to: NodeId,
    pub(crate) deadline: Instant,
    pub(crate) requests: Vec<RequestId>,
    pub(crate) timeout_now_sent: bool,
}

impl<S: StateMachine> RaftNode<S> {
    /// The node leadership is being handed to, if a transfer is pending.
    pub fn transfer_target(&self) -> Option<NodeId> {
        match &self.role {
            Role::Leader(leadership) => leadership.transfer.as_ref().map(|t| t.to),
            _ => None,
        }
    }

    /// A request to hand leadership to `to`.
    pub(crate) fn transfer_leadership(
        &mut self,
        id: RequestId,
        to: NodeId,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if !self.is_leader() {
            let leader = self.leader;
            self.reply(id, Response::NotLeader { leader }, out);
            return;
        }
        if to == self.id {
            let term = self.term;
            self.reply(id, Response::LeadershipTransferred { to, term }, out);
            return;
        }
        if !self.membership.current.is_voter(to) {
            self.reply(
                id,
                Response::Rejected(RaftError::TransferFailed {
                    to,
                    reason: "not a voter of the current configuration".to_string(),
                }),
                out,
            );
            return;
        }
        let deadline = self.now + self.config.election_timeout_min;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if let Some(transfer) = &mut leadership.transfer {
            if transfer.to == to {
                if transfer.requests.len() >= TRANSFER_WAITERS_MAX {
                    self.reply(
                        id,
                        Response::Rejected(RaftError::Overloaded {
                            queue: "transfer_waiters",
                            limit: TRANSFER_WAITERS_MAX,
                        }),
                        out,
                    );
                } else {
                    transfer.requests.push(id);
                }
                return;
            }
            // A transfer to another node supersedes this one.
            let previous = transfer.to;
            let waiting = std::mem::take(&mut transfer.requests);
            leadership.transfer = None;
            for waiter in waiting {
                self.reply(
                    waiter,
                    Response::Rejected(RaftError::TransferFailed {
                        to: previous,
                        reason: format!("superseded by a transfer to node {to}"),
                    }),
                    out,
                );
            }
        }
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        leadership.transfer = Some(Transfer {
            to,
            deadline,
            requests: vec![id],
            timeout_now_sent: false,
        });
        self.counters.transfers_started += 1;
        self.maybe_send_timeout_now(to, out);
        if !self.transfer_timeout_now_sent() {
            // Catch the target up now rather than at the next heartbeat.
            if let Role::Leader(leadership) = &mut self.role
                && let Some(progress) = leadership.progress.get_mut(&to)
                && matches!(progress.state, crate::replication::ReplicaState::Replicate)
            {
                let next = progress.match_index + 1;
                progress.probe_from(next);
            }
            self.send_append(to, out);
        }
    }

    /// This node learned who leads (or that nobody it waited for will):
    /// answers the clients of a transfer it handed over.
    pub(crate) fn resolve_transfer_waiters(&mut self, out: &mut Vec<RaftAction<S>>) {
        let Some(waiters) = &self.transfer_waiters else {
            return;
        };
        let outcome: Option<Result<NodeId, &str>> = match self.leader {
            Some(leader) if leader == waiters.to => Some(Ok(leader)),
            Some(_) => Some(Err("another node was elected")),
            None if self.now >= waiters.deadline || self.is_leader() => {
                Some(Err("no leader was elected within an election timeout"))
            }
            None => None,
        };
        if let Some(outcome) = outcome
            && let Some(waiters) = self.transfer_waiters.take()
        {
            for id in waiters.requests {
                let response = match outcome {
                    Ok(to) => Response::LeadershipTransferred {
                        to,
                        term: self.term,
                    },
                    Err(reason) => Response::Rejected(RaftError::TransferFailed {
                        to: waiters.to,
                        reason: reason.to_string(),
                    }),
                };
                self.reply(id, response, out);
            }
        }
    }

    fn transfer_timeout_now_sent(&self) -> bool {
        match &self.role {
            Role::Leader(leadership) => leadership
                .transfer
                .as_ref()
                .is_some_and(|t| t.timeout_now_sent),
            _ => false,
        }
    }

    /// Sends `TimeoutNow` to the transfer's target once it holds the whole
    /// log. The lease is given up first: the target's election ignores it.
    pub(crate) fn maybe_send_timeout_now(&mut self, to: NodeId, out: &mut Vec<RaftAction<S>>) {
        let last = self.log.last_index();
        let term = self.term;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        let Some(transfer) = &mut leadership.transfer else {
            return;
        };
        if transfer.to != to || transfer.timeout_now_sent {
            return;
        }
        if leadership
            .progress
            .get(&to)
            .is_none_or(|p| p.match_index < last)
        {
            return;
        }
        transfer.timeout_now_sent = true;
        leadership.lease_given_up = true;
        if let Some(lease) = &mut leadership.lease {
            let _ = lease.revoke();
        }
        out.push(tessera_core::Action::Send {
            to,
            message: Message::TimeoutNow { term },
        });
    }

    /// Aborts a transfer past its deadline.
    pub(crate) fn check_transfer(&mut self, out: &mut Vec<RaftAction<S>>) {
        let now = self.now;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        let Some(transfer) = &leadership.transfer else {
            return;
        };
        if now < transfer.deadline {
            return;
        }
        let Some(transfer) = leadership.transfer.take() else {
            return;
        };
        self.counters.transfers_aborted += 1;
        for id in transfer.requests {
            self.reply(
                id,
                Response::Rejected(RaftError::TransferFailed {
                    to: transfer.to,
                    reason: "aborted after an election timeout".to_string(),
                }),
                out,
            );
        }
    }

    /// The leader tells this node to campaign now.
    pub(crate) fn on_timeout_now(&mut self, from: NodeId, term: u64, out: &mut Vec<RaftAction<S>>) {
        if term != self.term
            || self.leader != Some(from)
            || !matches!(self.role, crate::node::Role::Follower)
            || !self.membership.current.is_voter(self.id)
        {
            return;
        }
        self.campaign(true, out);
    }
}

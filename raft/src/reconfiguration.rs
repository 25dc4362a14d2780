//! Membership changes at the node: the leader appends configurations one
//! change at a time, leaves a joint configuration as soon as it commits,
//! and steps down once a configuration without it commits; every node uses
//! the latest configuration in its log (Raft §6, dissertation §4).

use tessera_core::RequestId;

use crate::node::{RaftAction, Role};
use crate::replication::Progress;
use crate::{Membership, MembershipChange, Payload, RaftError, RaftNode, Response, StateMachine};

/// A membership change a client waits on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingChange {
    pub(crate) id: RequestId,
    /// The index of the configuration whose commit answers the client.
    pub(crate) index: u64,
}

impl<S: StateMachine> RaftNode<S> {
    /// A request to change the membership.
    pub(crate) fn change_membership(
        &mut self,
        id: RequestId,
        change: MembershipChange,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if !self.is_leader() {
            let leader = self.leader;
            self.reply(id, Response::NotLeader { leader }, out);
            return;
        }
        if let Some(to) = self.transfer_target() {
            self.reply(
                id,
                Response::Rejected(RaftError::TransferInProgress { to }),
                out,
            );
            return;
        }
        let busy = match &self.role {
            Role::Leader(leadership) => leadership.membership_request.is_some(),
            _ => true,
        };
        if busy || self.membership.current.is_joint() || self.membership.index > self.commit {
            self.reply(
                id,
                Response::Rejected(RaftError::MembershipChangeInProgress),
                out,
            );
            return;
        }
        let next = match self.membership.current.apply_change(&change) {
            Ok(next) => next,
            Err(error) => {
                self.reply(id, Response::Rejected(error), out);
                return;
            }
        };
        // A learner is promoted only once it has nearly caught up, or every
        // commit would wait for it.
        let last = self.log.last_index();
        for voter in next.voters() {
            if self.membership.current.is_voter(*voter) {
                continue;
            }
            let matched = self.match_index_of(*voter);
            if matched.saturating_add(self.config.promote_lag_max) < last {
                self.reply(
                    id,
                    Response::Rejected(RaftError::MembershipChangeRefused {
                        change: change.clone(),
                        reason: format!(
                            "node {voter} is {} entries behind (at most {} allowed)",
                            last - matched,
                            self.config.promote_lag_max
                        ),
                    }),
                    out,
                );
                return;
            }
        }
        let at = self.append_as_leader(Payload::Membership(Box::new(next)), out);
        if let Role::Leader(leadership) = &mut self.role {
            leadership.membership_request = Some(PendingChange {
                id,
                index: at.index,
            });
        }
        self.counters.membership_changes += 1;
        self.broadcast_append(out);
    }

    /// A configuration entered the log at `index`: it is in force now.
    pub(crate) fn enter_membership(&mut self, index: u64, membership: Membership) {
        self.membership.quorum = membership.quorum();
        self.membership.current = membership;
        self.membership.index = index;
        self.sync_progress();
    }

    /// Recomputes the configuration in force from the log (after a
    /// truncation, an append carrying configurations, or a snapshot).
    pub(crate) fn recompute_membership(&mut self) {
        let base_index = self.membership.base.0;
        let latest = self
            .log
            .memberships()
            .filter(|(index, _)| *index > base_index)
            .last()
            .map(|(index, m)| (index, m.clone()));
        let (index, membership) =
            latest.unwrap_or_else(|| (base_index, self.membership.base.1.clone()));
        if index != self.membership.index || membership != self.membership.current {
            self.enter_membership(index, membership);
        }
    }

    /// Makes the leader's follower list match the configuration.
    fn sync_progress(&mut self) {
        let next_index = self.log.last_index() + 1;
        let id = self.id;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        let members: Vec<u64> = self
            .membership
            .current
            .members()
            .filter(|m| *m != id)
            .collect();
        leadership
            .progress
            .retain(|node, _| members.binary_search(node).is_ok());
        for member in members {
            leadership
                .progress
                .entry(member)
                .or_insert_with(|| Progress::new(next_index));
        }
    }

    /// A configuration was committed (and applied) at `index`.
    pub(crate) fn on_membership_committed(
        &mut self,
        index: u64,
        membership: Membership,
        out: &mut Vec<RaftAction<S>>,
    ) {
        if !self.is_leader() {
            return;
        }
        if membership.is_joint() {
            // Joint consensus reached: move on to the final configuration
            // at once, if this joint one is still the latest.
            if self.membership.index == index {
                let at = self
                    .append_as_leader(Payload::Membership(Box::new(membership.leave_joint())), out);
                if let Role::Leader(leadership) = &mut self.role
                    && let Some(change) = &mut leadership.membership_request
                {
                    change.index = at.index;
                }
                self.broadcast_append(out);
            }
            return;
        }
        let answered = match &mut self.role {
            Role::Leader(leadership) => match leadership.membership_request {
                Some(change) if change.index == index => {
                    leadership.membership_request = None;
                    Some(change.id)
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(id) = answered {
            self.reply(
                id,
                Response::MembershipChanged {
                    index,
                    membership: Box::new(membership.clone()),
                },
                out,
            );
        }
        if !membership.is_voter(self.id) && self.membership.index == index {
            // Removed: a leader outside its configuration steps down once
            // the configuration is committed (dissertation §4.2.2).
            self.counters.removed_step_downs += 1;
            // Let the others learn the commit before they elect a successor.
            self.broadcast_heartbeat(out);
            self.become_follower(self.term, None, out);
        }
    }
}

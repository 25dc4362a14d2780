//! What a node reports to operators and drivers: its role and term, the
//! log's positions, each follower's replication, its mode and why, its
//! lease, and counters of what it did and refused.

use std::collections::BTreeMap;

use tessera_core::{Instant, NodeId};
use tessera_storage::LogPosition;

use crate::node::Role;
use crate::{Membership, MessageRejection, RaftMode, RaftNode, RoleKind, StateMachine};

/// Counters of what a node did and refused, since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RaftCounters {
    /// Pre-vote campaigns started.
    pub pre_votes_started: u64,
    /// Elections started (terms campaigned in).
    pub elections_started: u64,
    /// Elections won.
    pub elections_won: u64,
    /// Vote requests ignored because the node heard from its leader within
    /// the election timeout.
    pub votes_ignored_in_lease: u64,
    /// Times the leader stepped down after losing contact with a quorum.
    pub check_quorum_step_downs: u64,
    /// Times the leader stepped down after a configuration without it
    /// committed.
    pub removed_step_downs: u64,
    /// Append messages sent.
    pub appends_sent: u64,
    /// Appends this node rejected for a log mismatch.
    pub appends_rejected: u64,
    /// Heartbeat rounds sent.
    pub heartbeats_sent: u64,
    /// Reads served under the lease.
    pub lease_reads: u64,
    /// Reads served by ReadIndex.
    pub read_index_reads: u64,
    /// Lease reads that fell back to ReadIndex (no valid lease).
    pub lease_fallbacks: u64,
    /// Proposals forwarded to the leader.
    pub proposals_forwarded: u64,
    /// Snapshots taken.
    pub snapshots_taken: u64,
    /// Snapshot transfers started to followers.
    pub snapshots_sent: u64,
    /// Snapshots installed from a leader.
    pub snapshots_installed: u64,
    /// Leadership transfers started.
    pub transfers_started: u64,
    /// Leadership transfers aborted.
    pub transfers_aborted: u64,
    /// Membership changes started.
    pub membership_changes: u64,
    /// Messages from peers dropped, by reason.
    pub rejected_messages: BTreeMap<MessageRejection, u64>,
}

impl RaftCounters {
    pub(crate) fn reject(&mut self, reason: MessageRejection) {
        *self.rejected_messages.entry(reason).or_default() += 1;
    }

    /// Messages dropped for `reason`.
    pub fn rejected(&self, reason: MessageRejection) -> u64 {
        self.rejected_messages.get(&reason).copied().unwrap_or(0)
    }

    /// Messages dropped, for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_messages.values().sum()
    }
}

/// What the leader knows of one follower.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FollowerStatus {
    /// The follower.
    pub id: NodeId,
    /// Whether it votes (otherwise a learner).
    pub voter: bool,
    /// The last index known to match the leader's log.
    pub match_index: u64,
    /// The next index the leader sends.
    pub next_index: u64,
    /// How many entries it lags behind the leader's log.
    pub lag: u64,
    /// `probe`, `replicate` or `snapshot`.
    pub state: &'static str,
    /// Appends in flight to it.
    pub inflight_messages: usize,
    /// When the leader last heard from it (leader's clock).
    pub last_ack: Option<Instant>,
}

/// A node's status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RaftStatus {
    /// The node.
    pub id: NodeId,
    /// Its role.
    pub role: RoleKind,
    /// Its term.
    pub term: u64,
    /// Its vote in the term.
    pub vote: Option<NodeId>,
    /// The leader as it knows it.
    pub leader: Option<NodeId>,
    /// The highest index known committed.
    pub commit_index: u64,
    /// The last entry applied to the state machine.
    pub last_applied: LogPosition,
    /// The last entry of the log.
    pub last_log: LogPosition,
    /// The last index durable on its disk.
    pub durable_index: u64,
    /// The log's purged prefix ends here.
    pub log_base: LogPosition,
    /// The latest durable snapshot's last position.
    pub snapshot: Option<LogPosition>,
    /// The configuration in force.
    pub membership: Membership,
    /// The mode.
    pub mode: RaftMode,
    /// Since when.
    pub mode_since: Instant,
    /// Why it entered the mode (`None` if it never changed).
    pub mode_trigger: Option<String>,
    /// Until when (exclusive, leader's clock) the leader may use its lease.
    pub lease_valid_until: Option<Instant>,
    /// Each follower, at the leader.
    pub followers: Vec<FollowerStatus>,
    /// Proposals waiting to be applied here.
    pub pending_proposals: usize,
    /// Reads waiting at the leader.
    pub pending_reads: usize,
    /// The transfer target, while one is pending.
    pub transfer_target: Option<NodeId>,
    /// Counters.
    pub counters: RaftCounters,
}

impl<S: StateMachine> RaftNode<S> {
    /// The node's status.
    pub fn status(&self) -> RaftStatus {
        let last = self.log.last_index();
        let (followers, pending_reads) = match &self.role {
            Role::Leader(leadership) => (
                leadership
                    .progress
                    .iter()
                    .map(|(id, p)| FollowerStatus {
                        id: *id,
                        voter: self.membership.current.is_voter(*id),
                        match_index: p.match_index,
                        next_index: p.next_index,
                        lag: last.saturating_sub(p.match_index),
                        state: p.state_name(),
                        inflight_messages: p.inflight.len(),
                        last_ack: p.last_ack,
                    })
                    .collect(),
                leadership.reads.len(),
            ),
            _ => (Vec::new(), 0),
        };
        RaftStatus {
            id: self.id,
            role: self.role_kind(),
            term: self.term,
            vote: self.vote,
            leader: self.leader,
            commit_index: self.commit,
            last_applied: self.applied,
            last_log: self.log.last_position(),
            durable_index: self.durable_last,
            log_base: self.log.base(),
            snapshot: self.snapshot.durable.as_ref().map(|m| m.last),
            membership: self.membership.current.clone(),
            mode: self.mode.current(),
            mode_since: self.mode.since(),
            mode_trigger: self.mode.why().map(|t| t.trigger.clone()),
            lease_valid_until: self.valid_lease(self.now).map(|l| l.holder_valid_until()),
            followers,
            pending_proposals: self.proposals.len(),
            pending_reads,
            transfer_target: self.transfer_target(),
            counters: self.counters.clone(),
        }
    }
}

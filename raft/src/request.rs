//! What clients ask a node, and what it answers.

use tessera_core::NodeId;

use crate::{Membership, MembershipChange, RaftError};

/// How a read is made linearizable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReadPolicy {
    /// The leader records its commit index, confirms with a quorum that it
    /// is still leader (one round of heartbeats), waits until it has
    /// applied that index, then answers (dissertation §6.4). One round
    /// trip, no clock assumption.
    ReadIndex,
    /// The leader answers at once from its state if it holds a valid lease
    /// (dissertation §6.4.1), which rests on the clock-drift bound
    /// [`RaftConfig::max_clock_offset`](crate::RaftConfig::max_clock_offset).
    /// Without a valid lease the read falls back to ReadIndex (counted in
    /// [`RaftCounters::lease_fallbacks`](crate::RaftCounters::lease_fallbacks)).
    Lease,
}

/// How a read was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReadPath {
    /// Confirmed by a quorum round.
    ReadIndex,
    /// Served under the leader lease.
    Lease,
}

/// A client request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Request<C, Q> {
    /// Replicate and apply a command.
    Propose(C),
    /// Answer a query, linearizably.
    Read {
        /// The query.
        query: Q,
        /// How to make it linearizable.
        policy: ReadPolicy,
    },
    /// Change the membership (at the leader).
    ChangeMembership(MembershipChange),
    /// Hand leadership to another voter (at the leader).
    TransferLeadership {
        /// The voter to hand it to.
        to: NodeId,
    },
}

/// The answer to a [`Request`].
///
/// [`Response::NotLeader`], [`Response::Rejected`] and
/// [`Response::Dropped`] are definite: the request did not and will not
/// take effect. [`Response::Unknown`] is not: a proposal may still be
/// committed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Response<O, R> {
    /// The command was committed at `index` and applied, with this output.
    Applied {
        /// Its log index.
        index: u64,
        /// What the state machine returned.
        output: O,
    },
    /// The query's answer, reflecting every write committed before the read
    /// arrived.
    Read {
        /// The commit index the read reflects (at least).
        index: u64,
        /// The answer.
        output: R,
        /// How it was made linearizable.
        path: ReadPath,
    },
    /// The membership change is committed.
    MembershipChanged {
        /// The index of the final configuration.
        index: u64,
        /// The configuration now in force (boxed: rare and large).
        membership: Box<Membership>,
    },
    /// Leadership moved to `to` in `term`.
    LeadershipTransferred {
        /// The new leader.
        to: NodeId,
        /// Its term.
        term: u64,
    },
    /// This node is not the leader: try `leader` (if known).
    NotLeader {
        /// The leader as this node knows it.
        leader: Option<NodeId>,
    },
    /// Refused; nothing was executed.
    Rejected(RaftError),
    /// The proposal was appended but overwritten by another leader's entry:
    /// it was not and will never be applied.
    Dropped,
    /// The outcome is unknown: the proposal may or may not be applied.
    Unknown,
}

//! What clients ask a Multi-Paxos node, and what it answers.

use tessera_core::NodeId;

use crate::multi::QuorumSpec;

/// A client request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Request<C, Q> {
    /// Replicate and apply a command (at the leader).
    Propose(C),
    /// Answer a query linearizably (at the leader): from its state at once
    /// under a valid lease, otherwise after a read barrier — a slot of its
    /// ballot proposed after the read arrived — is chosen and applied.
    Read(Q),
    /// Answer a query linearizably with no clock assumption: always after a
    /// read barrier, even while the leader holds a valid lease (one
    /// phase-two round; what a ReadIndex-style read is in Raft).
    BarrierRead(Q),
    /// Move to a new configuration (at the leader), by stop-sign.
    Reconfigure(QuorumSpec),
}

/// How a read was made linearizable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReadPath {
    /// Answered at once under the leader's lease: no other leader can have
    /// chosen anything while it is valid.
    Lease,
    /// Answered after a barrier slot of the leader's ballot, proposed after
    /// the read arrived, was chosen: no other ballot chose anything in
    /// between.
    Barrier,
}

/// The answer to a [`Request`].
///
/// [`NotLeader`](Self::NotLeader), [`Overloaded`](Self::Overloaded) and
/// [`Refused`](Self::Refused) are definite: nothing was or will be
/// executed. [`Unknown`](Self::Unknown) is not: the command may still be
/// chosen by a later leader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Response<O, R> {
    /// The command was chosen in `slot` and applied, with this output.
    Applied {
        /// Its slot.
        slot: u64,
        /// What the state machine returned.
        output: O,
    },
    /// The read's answer, reflecting every command whose answer was given
    /// before the read arrived.
    Read {
        /// The last slot applied when it was answered.
        slot: u64,
        /// The answer.
        output: R,
        /// How it was made linearizable.
        path: ReadPath,
    },
    /// The new configuration governs the log from `start_slot` on.
    Reconfigured {
        /// Its epoch.
        epoch: u64,
        /// The first slot it governs.
        start_slot: u64,
    },
    /// This node is not the leader: try `leader` if known.
    NotLeader {
        /// The leader as this node knows it.
        leader: Option<NodeId>,
    },
    /// Too many requests are waiting: this one was dropped.
    Overloaded,
    /// Refused, with the reason (an invalid configuration).
    Refused(String),
    /// Leadership was lost while the command was in flight: it may or may
    /// not be chosen.
    Unknown,
}

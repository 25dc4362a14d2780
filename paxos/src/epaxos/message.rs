//! Messages between EPaxos replicas.

use crate::Ballot;
use crate::epaxos::{Attributes, InstanceId, InstanceRecord};

/// A message between two EPaxos replicas. Every message names one
/// instance and the ballot it is sent in ([`Ballot::ZERO`] is the command
/// leader's own).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EpaxosMessage<C> {
    /// Phase one: pre-accept `command` with at least these attributes.
    PreAccept {
        /// The instance.
        instance: InstanceId,
        /// The ballot.
        ballot: Ballot,
        /// The command (`None`: a no-op).
        command: Option<C>,
        /// The proposer's attributes.
        attributes: Attributes,
    },
    /// The answer to a pre-accept: the replica's attributes, and whether
    /// they are exactly the proposer's.
    PreAcceptReply {
        /// The instance.
        instance: InstanceId,
        /// The ballot answered.
        ballot: Ballot,
        /// The replica's attributes (its interfering instances added).
        attributes: Attributes,
        /// Whether the attributes are the proposer's, unchanged.
        unchanged: bool,
    },
    /// Phase two (the slow path, and recovery): accept these attributes in
    /// `ballot`.
    Accept {
        /// The instance.
        instance: InstanceId,
        /// The ballot.
        ballot: Ballot,
        /// The command.
        command: Option<C>,
        /// The attributes.
        attributes: Attributes,
    },
    /// The replica accepted in `ballot`.
    AcceptReply {
        /// The instance.
        instance: InstanceId,
        /// The ballot.
        ballot: Ballot,
    },
    /// The replica promised a higher ballot for the instance: `ballot` is
    /// refused.
    Nack {
        /// The instance.
        instance: InstanceId,
        /// The refused ballot.
        ballot: Ballot,
        /// The ballot promised.
        promised: Ballot,
    },
    /// The instance is committed with these attributes.
    Commit {
        /// The instance.
        instance: InstanceId,
        /// The command.
        command: Option<C>,
        /// The final attributes.
        attributes: Attributes,
    },
    /// Explicit prepare: a replica recovering the instance asks every
    /// replica to promise `ballot` and report what it knows.
    Prepare {
        /// The instance.
        instance: InstanceId,
        /// The recovery's ballot.
        ballot: Ballot,
    },
    /// Every instance of each listed replica up to the number given is
    /// committed at the sender: a peer that knows more sends the commits
    /// it lacks (how a replica that was down or cut off catches up).
    Frontier {
        /// Per replica, the highest number up to which every instance is
        /// committed at the sender.
        committed: Vec<InstanceId>,
    },
    /// The answer to an explicit prepare.
    PrepareReply {
        /// The instance.
        instance: InstanceId,
        /// The promised ballot.
        ballot: Ballot,
        /// What this replica knows of the instance (`None`: nothing).
        report: Option<InstanceRecord<C>>,
    },
}

impl<C> EpaxosMessage<C> {
    /// The instance the message is about (none for a frontier).
    pub fn instance(&self) -> Option<InstanceId> {
        Some(match self {
            EpaxosMessage::PreAccept { instance, .. }
            | EpaxosMessage::PreAcceptReply { instance, .. }
            | EpaxosMessage::Accept { instance, .. }
            | EpaxosMessage::AcceptReply { instance, .. }
            | EpaxosMessage::Nack { instance, .. }
            | EpaxosMessage::Commit { instance, .. }
            | EpaxosMessage::Prepare { instance, .. }
            | EpaxosMessage::PrepareReply { instance, .. } => *instance,
            EpaxosMessage::Frontier { .. } => return None,
        })
    }

    /// The ballot the message is sent in.
    pub fn ballot(&self) -> Ballot {
        match self {
            EpaxosMessage::PreAccept { ballot, .. }
            | EpaxosMessage::PreAcceptReply { ballot, .. }
            | EpaxosMessage::Accept { ballot, .. }
            | EpaxosMessage::AcceptReply { ballot, .. }
            | EpaxosMessage::Nack { ballot, .. }
            | EpaxosMessage::Prepare { ballot, .. }
            | EpaxosMessage::PrepareReply { ballot, .. } => *ballot,
            EpaxosMessage::Commit { .. } | EpaxosMessage::Frontier { .. } => Ballot::ZERO,
        }
    }
}

//! Messages between Synod nodes.

use tessera_core::NodeId;

use crate::Ballot;

/// A message of single-decree Paxos (Lamport, "Paxos Made Simple", §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SynodMessage<V> {
    /// Phase 1a: a proposer asks acceptors to promise `ballot`.
    Prepare {
        /// The ballot.
        ballot: Ballot,
    },
    /// Phase 1b: the acceptor promises never to accept below `ballot`, and
    /// reports the value it accepted last, if any.
    Promise {
        /// The promised ballot.
        ballot: Ballot,
        /// The acceptor's last acceptance: its ballot and value.
        accepted: Option<(Ballot, V)>,
    },
    /// Phase 2a: the proposer asks acceptors to accept `value` in `ballot`.
    Accept {
        /// The ballot.
        ballot: Ballot,
        /// The value.
        value: V,
    },
    /// Phase 2b: the acceptor accepted `value` in `ballot`. Sent to every
    /// learner.
    Accepted {
        /// The ballot.
        ballot: Ballot,
        /// The value.
        value: V,
    },
    /// The acceptor has promised a higher ballot: the proposer's `ballot`
    /// is refused.
    Nack {
        /// The refused ballot.
        ballot: Ballot,
        /// The ballot the acceptor promised.
        promised: Ballot,
    },
    /// A learner that knows the decision tells a node still trying: `value`
    /// was accepted in `ballot` by `voters`, a phase-two quorum — the
    /// certificate, checked by the receiver before it learns.
    Decided {
        /// The ballot of the accepting quorum.
        ballot: Ballot,
        /// The chosen value.
        value: V,
        /// The acceptors that accepted it in `ballot`.
        voters: Vec<NodeId>,
    },
}

impl<V> SynodMessage<V> {
    /// The ballot the message is about.
    pub fn ballot(&self) -> Ballot {
        match self {
            SynodMessage::Prepare { ballot }
            | SynodMessage::Promise { ballot, .. }
            | SynodMessage::Accept { ballot, .. }
            | SynodMessage::Accepted { ballot, .. }
            | SynodMessage::Nack { ballot, .. }
            | SynodMessage::Decided { ballot, .. } => *ballot,
        }
    }
}

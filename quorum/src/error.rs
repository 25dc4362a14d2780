//! The crate's one error type.

use tessera_core::{InvalidParameter, NodeId};

/// What went wrong, and whose fault it is.
///
/// - **the caller's** (API misuse): [`InvalidParameter`](Self::InvalidParameter),
///   [`NoIntersection`](Self::NoIntersection),
///   [`TooManyFaults`](Self::TooManyFaults);
/// - **a peer's** (a vote, certificate or message that must not be
///   applied): [`VoteRejected`](Self::VoteRejected),
///   [`NotAQuorum`](Self::NotAQuorum),
///   [`MalformedMessage`](Self::MalformedMessage).
///
/// This crate does no I/O, so it has no I/O errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    /// A parameter is out of range (an empty or duplicated member list, a
    /// quorum size of zero or beyond the member count).
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),

    /// The requested quorums need not intersect, so the configuration is
    /// refused: `read + write` must exceed `total`.
    #[error(
        "read quorums of {read} and write quorums of {write} need not intersect \
         among {total} (votes): {read} + {write} must exceed {total}"
    )]
    NoIntersection {
        /// Read (phase-one) quorum size or vote threshold.
        read: u64,
        /// Write (phase-two) quorum size or vote threshold.
        write: u64,
        /// Members, or total votes for weighted quorums.
        total: u64,
    },

    /// A Byzantine quorum system needs at least `3f + 1` members to
    /// tolerate `f` faulty ones.
    #[error(
        "{members} members cannot tolerate {faults} Byzantine faults: at least {needed} are needed"
    )]
    TooManyFaults {
        /// Members given.
        members: usize,
        /// Faults asked for.
        faults: usize,
        /// `3 * faults + 1`.
        needed: usize,
    },

    /// A certificate's voters do not form a quorum.
    #[error("{voters} voters do not form a quorum: at least {needed} are needed")]
    NotAQuorum {
        /// Distinct member voters.
        voters: usize,
        /// The fewest members a quorum has.
        needed: usize,
    },

    /// A message from a peer broke the protocol (it does not decode, or
    /// does not fit the session it claims) and was not applied.
    #[error("malformed message: {reason}")]
    MalformedMessage {
        /// What is wrong with it.
        reason: String,
    },

    /// A vote was refused and not counted.
    #[error("vote from node {voter} rejected: {reason}")]
    VoteRejected {
        /// The voter.
        voter: NodeId,
        /// Why.
        reason: VoteRejection,
    },
}

/// Why a vote was not counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoteRejection {
    /// The voter is not a member of the configuration.
    #[error("not a member of the configuration")]
    NotAMember,
    /// The voter has already voted in this tally (a retransmission, or an
    /// attempt to be counted twice).
    #[error("already voted")]
    Duplicate,
    /// The vote is for another round (term, view, ballot).
    #[error("vote for round {got}, the tally is for round {expected}")]
    WrongRound {
        /// The tally's round.
        expected: u64,
        /// The vote's round.
        got: u64,
    },
    /// The vote is for another instance (log index, slot, sequence number).
    #[error("vote for index {got}, the tally is for index {expected}")]
    WrongIndex {
        /// The tally's index.
        expected: u64,
        /// The vote's index.
        got: u64,
    },
    /// The vote is for a different value than the tally's.
    #[error("vote for a different value")]
    WrongValue,
}

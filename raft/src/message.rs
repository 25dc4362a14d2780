//! Messages between Raft nodes.
//!
//! Every message carries the sender's term. Leader-to-follower messages
//! also carry the leader's *round*: a counter the leader increments at
//! every heartbeat and read confirmation, echoed back in acknowledgements.
//! A quorum acknowledging round `r` proves the leader was still leader when
//! it started `r` — the evidence behind ReadIndex reads — and the time it
//! started `r` is when its lease starts.

use tessera_core::NodeId;
use tessera_storage::LogPosition;

use crate::{Entry, Membership};

/// A message between two Raft nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Message<C> {
    /// A candidate (or pre-candidate) asks for a vote (Raft §5.2, §9.6).
    VoteRequest(VoteRequest),
    /// The answer to a [`Message::VoteRequest`].
    VoteResponse(VoteResponse),
    /// The leader sends entries following `prev` (Raft §5.3).
    Append(AppendRequest<C>),
    /// The answer to a [`Message::Append`].
    AppendResponse(AppendResponse),
    /// The leader asserts its leadership and tells the commit index, with no
    /// log check.
    Heartbeat(Heartbeat),
    /// The answer to a [`Message::Heartbeat`].
    HeartbeatResponse(HeartbeatResponse),
    /// One chunk of a snapshot, for a follower behind the compacted log
    /// (Raft §7). Boxed: rare, and larger than every other message.
    Snapshot(Box<SnapshotChunk>),
    /// The answer to a [`Message::Snapshot`] chunk.
    SnapshotResponse(SnapshotResponse),
    /// The leader hands leadership over: campaign now (dissertation §3.10).
    TimeoutNow {
        /// The leader's term.
        term: u64,
    },
    /// A follower forwards a client's proposal to its leader.
    Forward {
        /// The follower's number for it, echoed in the answer.
        id: u64,
        /// The command.
        command: C,
    },
    /// The leader's answer to a [`Message::Forward`].
    ForwardResponse {
        /// The follower's number.
        id: u64,
        /// What became of the proposal.
        outcome: ForwardOutcome,
    },
}

impl<C> Message<C> {
    /// The sender's term (0 for forwarding, which is not term-bound).
    pub fn term(&self) -> u64 {
        match self {
            Message::VoteRequest(m) => m.term,
            Message::VoteResponse(m) => m.term,
            Message::Append(m) => m.term,
            Message::AppendResponse(m) => m.term,
            Message::Heartbeat(m) => m.term,
            Message::HeartbeatResponse(m) => m.term,
            Message::Snapshot(m) => m.term,
            Message::SnapshotResponse(m) => m.term,
            Message::TimeoutNow { term } => *term,
            Message::Forward { .. } | Message::ForwardResponse { .. } => 0,
        }
    }
}

/// A request for a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VoteRequest {
    /// The term the candidate campaigns in (for a pre-vote, the term it
    /// would campaign in: its own term + 1, not adopted by anyone).
    pub term: u64,
    /// The candidate's last log position: voters refuse a candidate whose
    /// log is less up to date than theirs (Raft §5.4.1).
    pub last_log: LogPosition,
    /// A pre-vote (dissertation §9.6): "would you vote for me?", changing
    /// no one's term.
    pub pre_vote: bool,
    /// The campaign follows a leadership transfer: voters grant it even
    /// though they heard from the leader within an election timeout.
    pub transfer: bool,
}

/// The answer to a [`VoteRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VoteResponse {
    /// The voter's term (for a granted pre-vote, the requested term).
    pub term: u64,
    /// Whether the vote is granted.
    pub granted: bool,
    /// Whether this answers a pre-vote.
    pub pre_vote: bool,
}

/// Entries for a follower, following `prev` in the leader's log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AppendRequest<C> {
    /// The leader's term.
    pub term: u64,
    /// The position just before the entries.
    pub prev: LogPosition,
    /// The entries, contiguous from `prev.index + 1`.
    pub entries: Vec<Entry<C>>,
    /// The leader's commit index.
    pub commit: u64,
    /// The leader's round when it sent this.
    pub round: u64,
}

/// The answer to an [`AppendRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AppendResponse {
    /// The follower's term.
    pub term: u64,
    /// The round echoed from the request.
    pub round: u64,
    /// Accepted or rejected.
    pub outcome: AppendOutcome,
}

/// Whether a follower took an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AppendOutcome {
    /// The follower's log matches the leader's up to `match_index`, durably.
    Accepted {
        /// The last index known to match.
        match_index: u64,
    },
    /// The follower's log does not hold `prev`.
    Rejected {
        /// The `prev.index` of the rejected request.
        rejected_prev: u64,
        /// Where the leader should look instead: the last position in the
        /// follower's log at or before `rejected_prev` whose term is at most
        /// the request's `prev.term` (fast log back-off, dissertation §5.3).
        hint: LogPosition,
    },
}

/// A heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Heartbeat {
    /// The leader's term.
    pub term: u64,
    /// The leader's commit index, capped at what this follower is known to
    /// match, so the follower never commits an entry it may not share.
    pub commit: u64,
    /// The leader's round.
    pub round: u64,
}

/// The answer to a [`Heartbeat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HeartbeatResponse {
    /// The follower's term.
    pub term: u64,
    /// The round echoed.
    pub round: u64,
}

/// What a snapshot covers, sent with every chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SnapshotHeader {
    /// The last log position it includes.
    pub last: LogPosition,
    /// The configuration at `last`.
    pub membership: Membership,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// crc32c of the whole snapshot.
    pub checksum: u32,
}

/// One chunk of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SnapshotChunk {
    /// The leader's term.
    pub term: u64,
    /// The leader's round.
    pub round: u64,
    /// The snapshot.
    pub header: SnapshotHeader,
    /// Where the chunk starts.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

/// The answer to a [`SnapshotChunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SnapshotResponse {
    /// The follower's term.
    pub term: u64,
    /// The round echoed.
    pub round: u64,
    /// The snapshot answered.
    pub last: LogPosition,
    /// The offset the follower expects next (it has everything before).
    pub next_offset: u64,
    /// The snapshot is installed and durable: the follower matches up to
    /// `last.index`.
    pub installed: bool,
}

/// What a leader did with a forwarded proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ForwardOutcome {
    /// Appended at this position: the forwarding follower answers its
    /// client when it applies that index (or learns it was overwritten).
    Appended {
        /// The entry's position.
        at: LogPosition,
    },
    /// Not appended, definitely.
    Refused {
        /// The leader as the receiver knows it, if it is not one.
        leader: Option<NodeId>,
    },
}

//! Messages between Multi-Paxos nodes.

use tessera_core::Instant;
use tessera_storage::LogPosition;

use crate::Ballot;
use crate::multi::{SlotEntry, SlotValue};

/// A leader's lease offer, carried by its heartbeat: "I hold the lease from
/// `start` (my clock) for `duration_nanos`". An acceptor that grants it
/// promises no other ballot until `start + duration + max_offset` on its
/// own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LeaseOffer {
    /// The start, on the leader's clock.
    pub start: Instant,
    /// The length, in nanoseconds.
    pub duration_nanos: u64,
}

/// A message between two Multi-Paxos nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Message<C> {
    /// Phase 1a, once for all slots from `from_slot` on.
    Prepare {
        /// The candidate's ballot.
        ballot: Ballot,
        /// The first slot the candidate does not know chosen.
        from_slot: u64,
    },
    /// Phase 1b: the acceptor promised `ballot`, and reports what it
    /// accepted from `from_slot` on — at most
    /// [`PROMISE_ENTRIES_MAX`](crate::multi::PROMISE_ENTRIES_MAX) entries;
    /// `next` says where to ask again for the rest.
    Promise {
        /// The promised ballot.
        ballot: Ballot,
        /// The first slot reported.
        from_slot: u64,
        /// Accepted (non-vacant) slots, ascending.
        entries: Vec<SlotEntry<C>>,
        /// Where the rest starts, if the report was cut short.
        next: Option<u64>,
        /// The acceptor's compacted prefix: every slot up to here is chosen
        /// and folded into its snapshot.
        base: u64,
    },
    /// Phase 2a for consecutive slots from `first_slot`, and the leader's
    /// commit index.
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The first slot.
        first_slot: u64,
        /// One value per slot.
        values: Vec<SlotValue<C>>,
        /// Every slot up to here is chosen.
        commit: u64,
    },
    /// Phase 2b: the acceptor accepted `count` slots from `first_slot` in
    /// `ballot`, durably.
    Accepted {
        /// The ballot.
        ballot: Ballot,
        /// The first slot.
        first_slot: u64,
        /// How many slots.
        count: u64,
    },
    /// The acceptor promised a higher ballot.
    Nack {
        /// The refused ballot.
        ballot: Ballot,
        /// The ballot promised.
        promised: Ballot,
    },
    /// The leader is alive, tells its commit index and offers a lease.
    Heartbeat {
        /// The leader's ballot.
        ballot: Ballot,
        /// The heartbeat's number, echoed in the acknowledgement.
        round: u64,
        /// Every slot up to here is chosen.
        commit: u64,
        /// The lease offered, if leases are on.
        lease: Option<LeaseOffer>,
    },
    /// The answer to a heartbeat.
    HeartbeatAck {
        /// The leader's ballot.
        ballot: Ballot,
        /// The heartbeat's number.
        round: u64,
        /// Whether the lease offer was granted.
        lease_granted: bool,
    },
    /// A replica behind the commit index asks for chosen slots from
    /// `from_slot`.
    CatchUpRequest {
        /// The first slot it lacks.
        from_slot: u64,
    },
    /// Chosen slots, consecutive, for a replica catching up.
    CatchUp {
        /// The entries, each chosen.
        entries: Vec<SlotEntry<C>>,
        /// The sender's commit index.
        commit: u64,
    },
    /// One chunk of a snapshot, for a replica behind the compacted log.
    SnapshotChunk {
        /// The last slot the snapshot covers, and that slot's ballot epoch.
        last: LogPosition,
        /// The configuration at `last`, encoded.
        configuration: Vec<u8>,
        /// The snapshot's total size.
        total_bytes: u64,
        /// Where this chunk starts.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The receiver has the snapshot up to `offset` (and wants the rest).
    SnapshotAck {
        /// The snapshot.
        last: LogPosition,
        /// Bytes received so far.
        offset: u64,
    },
}

impl<C> Message<C> {
    /// The ballot the message carries, if any.
    pub fn ballot(&self) -> Option<Ballot> {
        match self {
            Message::Prepare { ballot, .. }
            | Message::Promise { ballot, .. }
            | Message::Accept { ballot, .. }
            | Message::Accepted { ballot, .. }
            | Message::Nack { ballot, .. }
            | Message::Heartbeat { ballot, .. }
            | Message::HeartbeatAck { ballot, .. } => Some(*ballot),
            _ => None,
        }
    }
}

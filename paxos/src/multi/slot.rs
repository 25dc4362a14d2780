//! Log slots: what an acceptor holds for each instance of the log.

use tessera_storage::LogEntry;

use crate::Ballot;
use crate::multi::Configuration;

/// What a slot of the replicated log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SlotValue<C> {
    /// An acceptor's placeholder: nothing accepted here yet (it accepted a
    /// later slot first). Never proposed, never chosen; a message carrying
    /// it is malformed.
    Vacant,
    /// Nothing to execute: fills a gap a failed leader left, and serves as
    /// a read barrier when no command is waiting.
    NoOp,
    /// Client commands, executed in order.
    Batch(Vec<C>),
    /// The last slot of a configuration: from the next slot on, the
    /// configuration it names takes over (stop-sign reconfiguration).
    StopSign(Configuration),
}

impl<C> SlotValue<C> {
    /// Whether this is the [`Vacant`](Self::Vacant) placeholder.
    pub fn is_vacant(&self) -> bool {
        matches!(self, SlotValue::Vacant)
    }

    /// The commands in it (none but for a batch).
    pub fn commands(&self) -> &[C] {
        match self {
            SlotValue::Batch(commands) => commands,
            _ => &[],
        }
    }
}

/// One slot of an acceptor's log: the value it last accepted there and the
/// ballot it accepted it in ([`Ballot::ZERO`] for a vacant slot).
///
/// As a tessera-storage [`LogEntry`] its index is the slot and its term is
/// the ballot's [`epoch`](Ballot::epoch), so a [`MemLog`] or a
/// [`DurableLog`] holds an acceptor's log as is.
///
/// [`MemLog`]: tessera_storage::MemLog
/// [`DurableLog`]: tessera_storage::DurableLog
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SlotEntry<C> {
    /// The slot, from 1.
    pub slot: u64,
    /// The ballot the value was accepted in.
    pub ballot: Ballot,
    /// The value.
    pub value: SlotValue<C>,
}

impl<C> SlotEntry<C> {
    /// A vacant placeholder for `slot`.
    pub fn vacant(slot: u64) -> Self {
        SlotEntry {
            slot,
            ballot: Ballot::ZERO,
            value: SlotValue::Vacant,
        }
    }
}

impl<C: Clone> LogEntry for SlotEntry<C> {
    fn index(&self) -> u64 {
        self.slot
    }

    fn term(&self) -> u64 {
        self.ballot.epoch()
    }
}

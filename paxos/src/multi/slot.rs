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

    /// Its size as counted against the message byte limit: a slot's fixed
    /// overhead plus `command_bytes` of each command (a stop-sign counts
    /// its members).
    pub fn bytes(&self, command_bytes: impl Fn(&C) -> usize) -> usize {
        SLOT_OVERHEAD_BYTES
            + match self {
                SlotValue::Batch(commands) => commands.iter().map(command_bytes).sum(),
                SlotValue::StopSign(configuration) => 8 * configuration.members().len(),
                SlotValue::Vacant | SlotValue::NoOp => 0,
            }
    }
}

/// Bytes a slot counts besides its commands (its number, ballot and tag).
pub const SLOT_OVERHEAD_BYTES: usize = 24;

/// Splits `items` into consecutive runs of at most `count_max` items and
/// at most `bytes_max` bytes each (by `size`); an item larger than
/// `bytes_max` forms a run of its own.
pub(crate) fn split_within<T>(
    items: Vec<T>,
    count_max: usize,
    bytes_max: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<Vec<T>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let mut bytes = 0usize;
    for item in items {
        let item_bytes = size(&item);
        if !run.is_empty()
            && (run.len() == count_max || bytes.saturating_add(item_bytes) > bytes_max)
        {
            runs.push(std::mem::take(&mut run));
            bytes = 0;
        }
        bytes = bytes.saturating_add(item_bytes);
        run.push(item);
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// The longest prefix of `items` within `bytes_max` bytes (by `size`),
/// at least one item: the rest is dropped.
pub(crate) fn truncate_within<T>(items: &mut Vec<T>, bytes_max: usize, size: impl Fn(&T) -> usize) {
    let mut bytes = 0usize;
    let keep = items
        .iter()
        .position(|item| {
            bytes = bytes.saturating_add(size(item));
            bytes > bytes_max
        })
        .map_or(items.len(), |over| over.max(1));
    items.truncate(keep);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_stay_within_count_and_bytes_and_a_large_item_goes_alone() {
        let size = |n: &usize| *n;
        assert_eq!(
            split_within(vec![3, 3, 3, 3, 3], 10, 7, size),
            vec![vec![3, 3], vec![3, 3], vec![3]]
        );
        assert_eq!(
            split_within(vec![1, 1, 1, 1, 1], 2, 100, size),
            vec![vec![1, 1], vec![1, 1], vec![1]]
        );
        assert_eq!(
            split_within(vec![2, 50, 2], 10, 10, size),
            vec![vec![2], vec![50], vec![2]]
        );
        assert!(split_within(Vec::<usize>::new(), 1, 1, size).is_empty());
    }

    #[test]
    fn a_prefix_within_bytes_keeps_at_least_one_item() {
        let size = |n: &usize| *n;
        let mut items = vec![4, 4, 4];
        truncate_within(&mut items, 8, size);
        assert_eq!(items, vec![4, 4]);
        let mut items = vec![9, 1];
        truncate_within(&mut items, 8, size);
        assert_eq!(items, vec![9]);
        let mut items = vec![1, 2];
        truncate_within(&mut items, 8, size);
        assert_eq!(items, vec![1, 2]);
    }

    #[test]
    fn a_value_counts_its_overhead_and_its_commands() {
        let batch: SlotValue<Vec<u8>> = SlotValue::Batch(vec![vec![0; 10], vec![0; 5]]);
        assert_eq!(batch.bytes(Vec::len), SLOT_OVERHEAD_BYTES + 15);
        assert_eq!(
            SlotValue::<Vec<u8>>::NoOp.bytes(Vec::len),
            SLOT_OVERHEAD_BYTES
        );
    }
}

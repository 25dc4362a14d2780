//! The per-peer delta buffer with acknowledgements of delta-state
//! anti-entropy.

use std::collections::{BTreeMap, VecDeque};

use tessera_core::NodeId;

use crate::StateCrdt;

/// What a peer needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shipment<D> {
    /// Nothing: it acknowledged everything.
    Nothing,
    /// The deltas `from..to` joined into one group.
    Deltas {
        /// The first delta (what the peer acknowledged).
        from: u64,
        /// One past the last delta.
        to: u64,
        /// The delta group.
        delta: D,
    },
    /// The whole state, covering every delta before `to`: the peer's
    /// acknowledgement is unknown (it never answered, or this replica
    /// restarted) or older than the oldest delta still buffered.
    State {
        /// One past the last delta the state covers.
        to: u64,
    },
}

/// Almeida, Shoker and Baquero's delta buffer with acknowledgements
/// ("Delta state replicated data types", 2018, Algorithm 2): every delta
/// this replica produced or received gets the next sequence number; each
/// peer acknowledges how far it has joined; a peer is sent the join of the
/// deltas it has not acknowledged, and the deltas every peer has
/// acknowledged are dropped.
///
/// Two refinements: a delta that came *from* a peer is not sent back to it
/// (the paper's "avoid back-propagation"), and the buffer is bounded —
/// past `max_entries` the oldest deltas are dropped, and a peer that had
/// not acknowledged them gets the whole state instead.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{DeltaBuffer, GCounter, Shipment};
///
/// let mut buffer = DeltaBuffer::new([2, 3], 100);
/// let mut counter = GCounter::new();
/// buffer.push(counter.increment(1, 1)?, None);
/// buffer.push(counter.increment(1, 1)?, None);
/// // Peers that never answered get the whole state first.
/// assert_eq!(buffer.shipment(2), Shipment::State { to: 2 });
/// buffer.acknowledge(2, 1);
/// match buffer.shipment(2) {
///     Shipment::Deltas { from: 1, to: 2, delta } => assert_eq!(delta.value(), 2),
///     other => panic!("{other:?}"),
/// }
/// buffer.acknowledge(2, 2);
/// buffer.acknowledge(3, 2);
/// buffer.collect_garbage();
/// assert_eq!(buffer.len(), 0);
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DeltaBuffer<D> {
    /// `(sequence number, the peer it came from, delta)`, oldest first.
    entries: VecDeque<(u64, Option<NodeId>, D)>,
    next: u64,
    /// Each peer's acknowledgement: every delta below it is joined there.
    /// `None`: unknown (ship the whole state).
    acknowledged: BTreeMap<NodeId, Option<u64>>,
    max_entries: usize,
}

impl<D: StateCrdt + Default> DeltaBuffer<D> {
    /// An empty buffer for `peers`, holding at most `max_entries` deltas
    /// (at least one).
    pub fn new(peers: impl IntoIterator<Item = NodeId>, max_entries: usize) -> Self {
        DeltaBuffer {
            entries: VecDeque::new(),
            next: 0,
            acknowledged: peers.into_iter().map(|peer| (peer, None)).collect(),
            max_entries: max_entries.max(1),
        }
    }

    /// The sequence number the next delta gets (the count so far).
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// How many deltas are buffered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no delta is buffered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The peers.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.acknowledged.keys().copied()
    }

    /// `peer`'s acknowledgement, if known.
    pub fn acknowledged(&self, peer: NodeId) -> Option<u64> {
        self.acknowledged.get(&peer).copied().flatten()
    }

    /// How many deltas `peer` has not acknowledged (all of them if its
    /// acknowledgement is unknown).
    pub fn unacknowledged(&self, peer: NodeId) -> u64 {
        self.next - self.acknowledged(peer).unwrap_or(0)
    }

    /// Buffers `delta`, which came from peer `from` (or from this replica,
    /// `None`). Returns its sequence number.
    pub fn push(&mut self, delta: D, from: Option<NodeId>) -> u64 {
        let sequence = self.next;
        self.entries.push_back((sequence, from, delta));
        self.next += 1;
        while self.entries.len() > self.max_entries {
            self.entries.pop_front();
        }
        sequence
    }

    /// Records that `peer` has joined every delta below `up_to`.
    /// Acknowledgements never move back, and one past what was sent is
    /// ignored.
    pub fn acknowledge(&mut self, peer: NodeId, up_to: u64) {
        if up_to > self.next {
            return;
        }
        if let Some(acknowledged) = self.acknowledged.get_mut(&peer) {
            *acknowledged = Some(acknowledged.map_or(up_to, |previous| previous.max(up_to)));
        }
    }

    /// Forgets `peer`'s acknowledgement: it gets the whole state next (it
    /// restarted and may have lost what it had not made durable — which
    /// it never acknowledged, but a fresh start is simplest).
    pub fn reset(&mut self, peer: NodeId) {
        if let Some(acknowledged) = self.acknowledged.get_mut(&peer) {
            *acknowledged = None;
        }
    }

    /// What to send `peer` now.
    pub fn shipment(&mut self, peer: NodeId) -> Shipment<D> {
        let Some(acknowledged) = self.acknowledged.get(&peer).copied() else {
            return Shipment::Nothing;
        };
        let Some(from) = acknowledged else {
            return Shipment::State { to: self.next };
        };
        if from >= self.next {
            return Shipment::Nothing;
        }
        let oldest = self
            .entries
            .front()
            .map_or(self.next, |(sequence, _, _)| *sequence);
        if from < oldest {
            return Shipment::State { to: self.next };
        }
        let mut group: Option<D> = None;
        for (_, origin, delta) in self.entries.iter().skip((from - oldest) as usize) {
            if *origin == Some(peer) {
                continue;
            }
            match &mut group {
                Some(group) => group.merge(delta),
                None => group = Some(delta.clone()),
            }
        }
        match group {
            Some(delta) => Shipment::Deltas {
                from,
                to: self.next,
                delta,
            },
            None => {
                // Everything it lacks came from it: it has it.
                self.acknowledge(peer, self.next);
                Shipment::Nothing
            }
        }
    }

    /// Drops the deltas every peer with a known acknowledgement has
    /// joined. Peers whose acknowledgement is unknown get whole states, so
    /// they hold nothing back.
    pub fn collect_garbage(&mut self) {
        let floor = self
            .acknowledged
            .values()
            .flatten()
            .copied()
            .min()
            .unwrap_or(self.next);
        while self
            .entries
            .front()
            .is_some_and(|(sequence, _, _)| *sequence < floor)
        {
            self.entries.pop_front();
        }
    }
}

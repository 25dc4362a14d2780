//! The requests a replica received and has not executed: one per client
//! (its latest), in arrival order, with those the primary has not yet put
//! in a batch of the current view kept apart so that batching costs the
//! batch, not every waiting request.

use std::collections::VecDeque;
use std::sync::Arc;

use tessera_core::NodeId;

use crate::ClientRequest;
use crate::node_map::NodeMap;

/// A request received and authenticated, not yet executed.
#[derive(Debug, Clone)]
pub(crate) struct WaitingRequest {
    pub(crate) request: Arc<ClientRequest>,
    pub(crate) arrival: u64,
    /// Whether this replica, as primary, put it in a batch of the current
    /// view.
    pub(crate) batched: bool,
}

/// Waiting requests, at most one per client: bounded by the number of
/// clients the keyring knows.
///
/// Each client that ever sent a request gets a slot, kept once its request
/// executed (empty), so a client's next request costs a lookup of its slot,
/// not an insertion into a map; slots are as many as the clients the
/// keyring knows. The two arrival orders are queues of `(arrival, slot)` in
/// which entries of requests since executed, replaced or (for `unbatched`)
/// batched are left in place and skipped when reached: an entry is live
/// while its slot holds the request with that arrival number, which is a
/// check of one array element. The queues are trimmed at the front
/// whenever their first entry goes stale, so their first entries are live,
/// and compacted when stale entries outnumber live ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct WaitingRequests {
    slot_of: NodeMap<usize>,
    slots: Vec<Option<WaitingRequest>>,
    by_arrival: VecDeque<(u64, usize)>,
    unbatched: VecDeque<(u64, usize)>,
    /// Slots holding a request.
    count: usize,
    /// Live entries of `unbatched`: waiting requests not batched.
    unbatched_count: usize,
    arrivals: u64,
}

/// Stale queue entries tolerated beyond the live ones before compacting.
const STALE_SLACK: usize = 64;

impl WaitingRequests {
    pub(crate) fn get(&self, client: NodeId) -> Option<&WaitingRequest> {
        let slot = *self.slot_of.get(&client)?;
        self.slots[slot].as_ref()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Whether the queue entry `(arrival, slot)` is the slot's request.
    fn live(slots: &[Option<WaitingRequest>], arrival: u64, slot: usize) -> bool {
        matches!(&slots[slot], Some(waiting) if waiting.arrival == arrival)
    }

    /// Whether the entry is a waiting request not yet batched.
    fn live_unbatched(slots: &[Option<WaitingRequest>], arrival: u64, slot: usize) -> bool {
        matches!(&slots[slot], Some(waiting) if waiting.arrival == arrival && !waiting.batched)
    }

    /// Restores the queues' invariants after the entries of arrival
    /// `stale` (if any) went stale: a queue whose first entry that was drops
    /// its stale first entries, so every first entry is live again, and a
    /// queue whose stale entries outgrew the live ones is compacted. `None`
    /// checks both fronts whatever they are.
    fn tidy(&mut self, stale: Option<u64>) {
        let slots = &self.slots;
        let touched = |front: Option<&(u64, usize)>| {
            front.is_some_and(|(arrival, _)| stale.is_none_or(|stale| *arrival == stale))
        };
        if touched(self.by_arrival.front()) {
            while let Some(&(arrival, slot)) = self.by_arrival.front() {
                if Self::live(slots, arrival, slot) {
                    break;
                }
                self.by_arrival.pop_front();
            }
        }
        if touched(self.unbatched.front()) {
            while let Some(&(arrival, slot)) = self.unbatched.front() {
                if Self::live_unbatched(slots, arrival, slot) {
                    break;
                }
                self.unbatched.pop_front();
            }
        }
        if self.by_arrival.len() > 2 * self.count + STALE_SLACK {
            self.by_arrival
                .retain(|&(arrival, slot)| Self::live(slots, arrival, slot));
        }
        if self.unbatched.len() > 2 * self.unbatched_count + STALE_SLACK {
            self.unbatched
                .retain(|&(arrival, slot)| Self::live_unbatched(slots, arrival, slot));
        }
    }

    /// Adds `request`, replacing an older one of the same client.
    pub(crate) fn insert(&mut self, request: Arc<ClientRequest>) {
        let client = request.client;
        self.arrivals += 1;
        let arrival = self.arrivals;
        let slot = *self.slot_of.entry(client).or_insert_with(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let replaced = self.slots[slot].replace(WaitingRequest {
            request,
            arrival,
            batched: false,
        });
        match &replaced {
            Some(old) if !old.batched => self.unbatched_count -= 1,
            Some(_) => {}
            None => self.count += 1,
        }
        self.unbatched_count += 1;
        self.unbatched.push_back((arrival, slot));
        self.by_arrival.push_back((arrival, slot));
        self.tidy(Some(replaced.map_or(arrival, |old| old.arrival)));
    }

    /// Removes `client`'s request if it is at or below `timestamp`
    /// (executed). Returns whether it did.
    pub(crate) fn remove_executed(&mut self, client: NodeId, timestamp: u64) -> bool {
        let Some(&slot) = self.slot_of.get(&client) else {
            return false;
        };
        let entry = &mut self.slots[slot];
        match entry {
            Some(waiting) if waiting.request.timestamp <= timestamp => {
                if !waiting.batched {
                    self.unbatched_count -= 1;
                }
                let arrival = waiting.arrival;
                *entry = None;
                self.count -= 1;
                self.tidy(Some(arrival));
                true
            }
            _ => false,
        }
    }

    /// Keeps only the requests `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&WaitingRequest) -> bool) {
        for entry in &mut self.slots {
            if let Some(waiting) = entry
                && !keep(waiting)
            {
                if !waiting.batched {
                    self.unbatched_count -= 1;
                }
                *entry = None;
                self.count -= 1;
            }
        }
        self.tidy(None);
    }

    /// Requests not yet in a batch of the current view.
    pub(crate) fn unbatched_len(&self) -> usize {
        self.unbatched_count
    }

    /// The oldest `max` requests not yet batched, marked batched.
    pub(crate) fn take_batch(&mut self, max: usize) -> Vec<Arc<ClientRequest>> {
        let mut requests = Vec::with_capacity(max.min(self.unbatched_count));
        while requests.len() < max {
            let Some((arrival, slot)) = self.unbatched.pop_front() else {
                break;
            };
            if let Some(waiting) = &mut self.slots[slot]
                && waiting.arrival == arrival
                && !waiting.batched
            {
                waiting.batched = true;
                self.unbatched_count -= 1;
                requests.push(waiting.request.clone());
            }
        }
        self.tidy(None);
        requests
    }

    /// Marks `client`'s request at `timestamp` batched (a new view orders
    /// it again).
    pub(crate) fn mark_batched(&mut self, client: NodeId, timestamp: u64) {
        let Some(&slot) = self.slot_of.get(&client) else {
            return;
        };
        if let Some(waiting) = &mut self.slots[slot]
            && waiting.request.timestamp == timestamp
            && !waiting.batched
        {
            waiting.batched = true;
            self.unbatched_count -= 1;
            let arrival = waiting.arrival;
            self.tidy(Some(arrival));
        }
    }

    /// A view change: nothing is batched in the next view yet.
    pub(crate) fn unbatch_all(&mut self) {
        let mut all: Vec<(u64, usize)> = self
            .slots
            .iter_mut()
            .enumerate()
            .filter_map(|(slot, entry)| {
                let waiting = entry.as_mut()?;
                waiting.batched = false;
                Some((waiting.arrival, slot))
            })
            .collect();
        all.sort_unstable();
        self.unbatched_count = all.len();
        self.unbatched = all.into();
    }

    /// The client and timestamp of the oldest request.
    pub(crate) fn oldest(&self) -> Option<(NodeId, u64)> {
        self.by_arrival.iter().find_map(|&(arrival, slot)| {
            self.slots[slot]
                .as_ref()
                .filter(|waiting| waiting.arrival == arrival)
                .map(|waiting| (waiting.request.client, waiting.request.timestamp))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Authenticator;
    use std::collections::BTreeMap;

    fn request(client: NodeId, timestamp: u64) -> Arc<ClientRequest> {
        Arc::new(ClientRequest {
            client,
            timestamp,
            operation: vec![],
            authenticator: Authenticator::None,
        })
    }

    #[test]
    fn batches_take_the_oldest_unbatched_and_a_view_change_returns_them() {
        let mut waiting = WaitingRequests::default();
        waiting.insert(request(1, 1));
        waiting.insert(request(2, 1));
        waiting.insert(request(1, 2)); // replaces client 1's first
        assert_eq!(waiting.len(), 2);
        let batch = waiting.take_batch(8);
        assert_eq!(
            batch
                .iter()
                .map(|r| (r.client, r.timestamp))
                .collect::<Vec<_>>(),
            vec![(2, 1), (1, 2)]
        );
        assert_eq!(waiting.unbatched_len(), 0);
        waiting.unbatch_all();
        assert_eq!(waiting.unbatched_len(), 2);
        assert!(waiting.remove_executed(2, 5));
        assert!(
            !waiting.remove_executed(1, 1),
            "a newer request still waits"
        );
        assert_eq!(waiting.unbatched_len(), 1);
        assert_eq!(waiting.oldest(), Some((1, 2)));
        waiting.mark_batched(1, 2);
        assert_eq!(waiting.unbatched_len(), 0);
    }

    /// The queues with stale entries behave exactly as ordered maps kept
    /// exact would: checked against a plain model over a long random run.
    #[test]
    fn lazy_queues_agree_with_a_plain_model() {
        // Model: client -> (timestamp, arrival, batched).
        let mut model: BTreeMap<NodeId, (u64, u64, bool)> = BTreeMap::new();
        let mut arrivals = 0u64;
        let mut waiting = WaitingRequests::default();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..20_000 {
            let client = next(12) + 1;
            let timestamp = next(50) + 1;
            match next(6) {
                0 | 1 => {
                    waiting.insert(request(client, timestamp));
                    arrivals += 1;
                    model.insert(client, (timestamp, arrivals, false));
                }
                2 => {
                    let removed = model.get(&client).is_some_and(|(t, _, _)| *t <= timestamp);
                    if removed {
                        model.remove(&client);
                    }
                    assert_eq!(waiting.remove_executed(client, timestamp), removed);
                }
                3 => {
                    let max = next(5) as usize;
                    let mut order: Vec<(u64, NodeId)> = model
                        .iter()
                        .filter(|(_, (_, _, batched))| !batched)
                        .map(|(c, (_, a, _))| (*a, *c))
                        .collect();
                    order.sort_unstable();
                    order.truncate(max);
                    let expected: Vec<(NodeId, u64)> = order
                        .iter()
                        .map(|(_, c)| {
                            let entry = model.get_mut(c).expect("in the model");
                            entry.2 = true;
                            (*c, entry.0)
                        })
                        .collect();
                    let taken: Vec<(NodeId, u64)> = waiting
                        .take_batch(max)
                        .iter()
                        .map(|r| (r.client, r.timestamp))
                        .collect();
                    assert_eq!(taken, expected);
                }
                4 => match next(3) {
                    0 => {
                        waiting.unbatch_all();
                        for entry in model.values_mut() {
                            entry.2 = false;
                        }
                    }
                    1 => {
                        waiting.retain(|w| w.request.timestamp % 3 != 0);
                        model.retain(|_, (t, _, _)| *t % 3 != 0);
                    }
                    _ => {
                        waiting.mark_batched(client, timestamp);
                        if let Some(entry) = model.get_mut(&client)
                            && entry.0 == timestamp
                        {
                            entry.2 = true;
                        }
                    }
                },
                _ => {}
            }
            assert_eq!(waiting.len(), model.len());
            assert_eq!(
                waiting.unbatched_len(),
                model.values().filter(|(_, _, b)| !b).count()
            );
            let oldest = model
                .iter()
                .min_by_key(|(_, (_, a, _))| *a)
                .map(|(c, (t, _, _))| (*c, *t));
            assert_eq!(waiting.oldest(), oldest);
            assert!(waiting.by_arrival.len() <= 2 * waiting.len() + STALE_SLACK + 1);
            assert!(waiting.unbatched.len() <= 2 * waiting.unbatched_len() + STALE_SLACK + 1);
        }
    }
}

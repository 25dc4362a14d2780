//! The requests a replica received and has not executed: one per client
//! (its latest), in arrival order, with those the primary has not yet put
//! in a batch of the current view kept apart so that batching costs the
//! batch, not every waiting request.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_core::NodeId;

use crate::ClientRequest;

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
#[derive(Debug, Clone, Default)]
pub(crate) struct WaitingRequests {
    by_client: BTreeMap<NodeId, WaitingRequest>,
    by_arrival: BTreeMap<u64, NodeId>,
    unbatched: BTreeMap<u64, NodeId>,
    arrivals: u64,
}

impl WaitingRequests {
    pub(crate) fn get(&self, client: NodeId) -> Option<&WaitingRequest> {
        self.by_client.get(&client)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_client.len()
    }

    /// Adds `request`, replacing an older one of the same client.
    pub(crate) fn insert(&mut self, request: Arc<ClientRequest>) {
        let client = request.client;
        self.arrivals += 1;
        let arrival = self.arrivals;
        if let Some(old) = self.by_client.insert(
            client,
            WaitingRequest {
                request,
                arrival,
                batched: false,
            },
        ) {
            self.unbatched.remove(&old.arrival);
            self.by_arrival.remove(&old.arrival);
        }
        self.unbatched.insert(arrival, client);
        self.by_arrival.insert(arrival, client);
    }

    /// Removes `client`'s request if it is at or below `timestamp`
    /// (executed). Returns whether it did.
    pub(crate) fn remove_executed(&mut self, client: NodeId, timestamp: u64) -> bool {
        match self.by_client.get(&client) {
            Some(waiting) if waiting.request.timestamp <= timestamp => {
                let arrival = waiting.arrival;
                self.by_client.remove(&client);
                self.unbatched.remove(&arrival);
                self.by_arrival.remove(&arrival);
                true
            }
            _ => false,
        }
    }

    /// Keeps only the requests `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&WaitingRequest) -> bool) {
        let (unbatched, by_arrival) = (&mut self.unbatched, &mut self.by_arrival);
        self.by_client.retain(|_, waiting| {
            let kept = keep(waiting);
            if !kept {
                unbatched.remove(&waiting.arrival);
                by_arrival.remove(&waiting.arrival);
            }
            kept
        });
    }

    /// Requests not yet in a batch of the current view.
    pub(crate) fn unbatched_len(&self) -> usize {
        self.unbatched.len()
    }

    /// The oldest `max` requests not yet batched, marked batched.
    pub(crate) fn take_batch(&mut self, max: usize) -> Vec<Arc<ClientRequest>> {
        let mut requests = Vec::with_capacity(max.min(self.unbatched.len()));
        while requests.len() < max {
            let Some((_, client)) = self.unbatched.pop_first() else {
                break;
            };
            if let Some(waiting) = self.by_client.get_mut(&client) {
                waiting.batched = true;
                requests.push(waiting.request.clone());
            }
        }
        requests
    }

    /// Marks `client`'s request at `timestamp` batched (a new view orders
    /// it again).
    pub(crate) fn mark_batched(&mut self, client: NodeId, timestamp: u64) {
        if let Some(waiting) = self.by_client.get_mut(&client)
            && waiting.request.timestamp == timestamp
            && !waiting.batched
        {
            waiting.batched = true;
            self.unbatched.remove(&waiting.arrival);
        }
    }

    /// A view change: nothing is batched in the next view yet.
    pub(crate) fn unbatch_all(&mut self) {
        for (client, waiting) in &mut self.by_client {
            if waiting.batched {
                waiting.batched = false;
                self.unbatched.insert(waiting.arrival, *client);
            }
        }
    }

    /// The client and timestamp of the oldest request.
    pub(crate) fn oldest(&self) -> Option<(NodeId, u64)> {
        let (_, client) = self.by_arrival.first_key_value()?;
        self.by_client
            .get(client)
            .map(|waiting| (*client, waiting.request.timestamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Authenticator;

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
}

//! Client requests, replies and the batches a primary orders.

use std::sync::Arc;

use tessera_core::NodeId;

use crate::wire::{HashSink, Sink};
use crate::{Authenticator, Digest};

/// A client's request: an operation for the replicated state machine, with
/// the client's timestamp and its own authenticator (a MAC for each
/// replica, or a signature).
///
/// Timestamps order one client's requests: a replica executes a request
/// only if its timestamp is above the last it executed for that client,
/// and answers a repeat of that last one from its reply cache. That is how
/// retransmissions are de-duplicated and replays refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// The client.
    pub client: NodeId,
    /// The client's timestamp, increasing with each of its requests.
    pub timestamp: u64,
    /// The operation, encoded by the application.
    pub operation: Vec<u8>,
    /// The client's authenticator over [`digest`](Self::digest).
    pub authenticator: Authenticator,
}

impl ClientRequest {
    /// The request's digest: over client, timestamp and operation, not the
    /// authenticator, so every replica agrees on it whatever MACs it sees.
    pub fn digest(&self) -> Digest {
        let mut hasher = HashSink::new();
        hasher.put(b"tessera-pbft/request");
        self.feed(&mut hasher);
        Digest::from_hash(hasher.finalize())
    }

    /// Writes what the request's authenticator and its batch's digest
    /// cover: client, timestamp and operation.
    pub(crate) fn feed(&self, sink: &mut impl Sink) {
        sink.put_u64(self.client);
        sink.put_u64(self.timestamp);
        sink.put_prefixed(&self.operation);
    }
}

/// A replica's answer to a client: the result of executing its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The view the replica was in, so the client learns the primary.
    pub view: u64,
    /// The request's timestamp.
    pub timestamp: u64,
    /// The client.
    pub client: NodeId,
    /// The replica answering.
    pub replica: NodeId,
    /// The result, encoded by the application.
    pub result: Vec<u8>,
}

/// The requests one sequence number orders. An empty batch is the null
/// request a new primary assigns to a sequence number nobody prepared.
///
/// Requests are shared (`Arc`): the same request travels from the client
/// to every replica, waits at each, and goes into the primary's batch
/// without being copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The requests, executed in this order.
    pub requests: Vec<Arc<ClientRequest>>,
}

impl Batch {
    /// A batch of `requests`.
    pub fn new(requests: impl IntoIterator<Item = impl Into<Arc<ClientRequest>>>) -> Self {
        Batch {
            requests: requests.into_iter().map(Into::into).collect(),
        }
    }

    /// The null request.
    pub fn null() -> Arc<Batch> {
        Arc::new(Batch::default())
    }

    /// The digest of the null request.
    pub fn null_digest() -> Digest {
        Batch::default().digest()
    }

    /// The batch's digest: one hash over its requests (client, timestamp,
    /// operation each, not their authenticators), in order.
    pub fn digest(&self) -> Digest {
        let mut hasher = HashSink::new();
        hasher.put(b"tessera-pbft/batch");
        hasher.put_len(self.requests.len());
        for request in &self.requests {
            request.feed(&mut hasher);
        }
        Digest::from_hash(hasher.finalize())
    }

    /// Whether this is the null request.
    pub fn is_null(&self) -> bool {
        self.requests.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(timestamp: u64, operation: &[u8]) -> ClientRequest {
        ClientRequest {
            client: 100,
            timestamp,
            operation: operation.to_vec(),
            authenticator: Authenticator::None,
        }
    }

    #[test]
    fn digests_cover_what_is_ordered_and_not_the_authenticator() {
        let a = request(1, b"x");
        let mut b = a.clone();
        b.authenticator = Authenticator::Mac([1; 16]);
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), request(2, b"x").digest());
        assert_ne!(a.digest(), request(1, b"y").digest());
        let batch = Batch::new([a.clone(), request(2, b"x")]);
        let swapped = Batch::new([request(2, b"x"), a]);
        assert_ne!(batch.digest(), swapped.digest(), "order matters");
        assert_ne!(batch.digest(), Batch::null_digest());
        assert!(Batch::null().is_null());
    }
}

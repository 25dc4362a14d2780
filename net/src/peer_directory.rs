//! Who the cluster's members are and where to reach them.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use tessera_core::NodeId;

use crate::PeerConfig;

/// The members this node knows: consulted to accept a peer's connection
/// and to tell clients where the leader is.
#[derive(Debug, Default)]
pub(crate) struct PeerDirectory {
    peers: RwLock<BTreeMap<NodeId, PeerConfig>>,
}

impl PeerDirectory {
    pub(crate) fn new(peers: &[PeerConfig]) -> Self {
        PeerDirectory {
            peers: RwLock::new(peers.iter().map(|peer| (peer.id, peer.clone())).collect()),
        }
    }

    pub(crate) fn insert(&self, peer: PeerConfig) {
        // A map of plain values: a writer that panicked left it whole.
        self.peers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer.id, peer);
    }

    pub(crate) fn contains(&self, id: NodeId) -> bool {
        self.peers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id)
    }

    pub(crate) fn client_address(&self, id: NodeId) -> Option<String> {
        self.peers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .map(|peer| peer.client_address.clone())
    }
}

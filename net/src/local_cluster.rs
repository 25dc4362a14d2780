//! Several nodes in one process, their messages moved between the same
//! bounded queues the network uses but without a network: no encoding, no
//! sockets. The baseline the real transport is measured against, and a
//! quick way to run a protocol on real timers and disks in a test.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_core::{NodeId, Protocol};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::peer_queue::PeerQueue;
use crate::runtime::{Inbound, RuntimeExit, RuntimeOptions, peer_lanes, spawn_runtime};
use crate::{DurableStore, NetError, NodeHandle, NodeSetup, ProtocolAdapter, WriteOf};

/// Messages moved per hand-over between two local nodes.
const LOCAL_BATCH_MESSAGES_MAX: usize = 256;

struct LocalNode<A: ProtocolAdapter> {
    handle: NodeHandle<A>,
    runtime_shutdown: watch::Sender<bool>,
    runtime_task: JoinHandle<RuntimeExit>,
    disk_exited: oneshot::Receiver<()>,
}

/// A cluster of nodes in one process, connected by in-memory queues.
pub struct LocalCluster<A: ProtocolAdapter> {
    nodes: BTreeMap<NodeId, LocalNode<A>>,
    forwarders: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

impl<A: ProtocolAdapter> std::fmt::Debug for LocalCluster<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

async fn forward<M>(
    from: NodeId,
    queue: Arc<PeerQueue<M>>,
    inbound: mpsc::Sender<Inbound<M>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            () = queue.ready() => {}
        }
        queue.take_batch(LOCAL_BATCH_MESSAGES_MAX, usize::MAX, &mut batch);
        let messages = std::mem::take(&mut batch);
        if inbound.send(Inbound { from, messages }).await.is_err() {
            return;
        }
    }
}

impl<A: ProtocolAdapter> LocalCluster<A> {
    /// Starts every node in `setups`, each able to send to every other,
    /// with per-peer queues of `queue_messages_max` messages (and
    /// `queue_bytes_max` bytes) per lane.
    ///
    /// # Errors
    ///
    /// [`NetError::Startup`] if a disk thread cannot be spawned.
    pub fn start<D>(
        setups: Vec<NodeSetup<A, D>>,
        queue_messages_max: usize,
        queue_bytes_max: usize,
    ) -> Result<Self, NetError>
    where
        D: DurableStore<WriteOf<A>>,
    {
        let ids: Vec<NodeId> = setups.iter().map(|setup| setup.node.id()).collect();
        let (shutdown, shutdown_receiver) = watch::channel(false);
        let mut nodes = BTreeMap::new();
        // Every (from, to) queue, wired once every node's inbound exists.
        let mut queues = Vec::new();
        let mut inbounds = BTreeMap::new();
        for setup in setups {
            let id = setup.node.id();
            let mut peers = BTreeMap::new();
            for &to in ids.iter().filter(|&&to| to != id) {
                let lanes = peer_lanes(queue_messages_max, queue_bytes_max);
                for queue in &lanes {
                    queues.push((id, to, Arc::clone(queue)));
                }
                peers.insert(to, lanes);
            }
            let options = RuntimeOptions {
                clock: setup.clock,
                ..RuntimeOptions::default()
            };
            let started = spawn_runtime(setup.adapter, setup.node, setup.store, peers, options)?;
            inbounds.insert(id, started.inbound);
            nodes.insert(
                id,
                LocalNode {
                    handle: started.handle,
                    runtime_shutdown: started.shutdown,
                    runtime_task: started.task,
                    disk_exited: started.disk_exited,
                },
            );
        }
        let forwarders = queues
            .into_iter()
            .filter_map(|(from, to, queue)| {
                let inbound = inbounds.get(&to)?.clone();
                Some(tokio::spawn(forward(
                    from,
                    queue,
                    inbound,
                    shutdown_receiver.clone(),
                )))
            })
            .collect();
        Ok(LocalCluster {
            nodes,
            forwarders,
            shutdown,
        })
    }

    /// The handle of node `id`.
    pub fn handle(&self, id: NodeId) -> Option<&NodeHandle<A>> {
        self.nodes.get(&id).map(|node| &node.handle)
    }

    /// Every node's handle, by id.
    pub fn handles(&self) -> Vec<NodeHandle<A>> {
        self.nodes
            .values()
            .map(|node| node.handle.clone())
            .collect()
    }

    /// Stops every node and waits until their storage is closed.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for forwarder in self.forwarders {
            forwarder.abort();
            let _ = forwarder.await;
        }
        for (_, node) in self.nodes {
            let _ = node.runtime_shutdown.send(true);
            let _ = node.runtime_task.await;
            let _ = node.disk_exited.await;
        }
    }
}

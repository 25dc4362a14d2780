//! Starting a node for real: its runtime, disk thread, peer links, peer
//! and client servers and metrics endpoint, from one [`NodeConfig`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;

use crate::client_service::ClientService;
use crate::connection::accept_connections;
use crate::peer_directory::PeerDirectory;
use crate::peer_link::{Link, LinkContext, run_link};
use crate::peer_service::PeerService;
use crate::proto::transport::client_server::ClientServer;
use crate::proto::transport::peer_transport_server::PeerTransportServer;
use crate::runtime::{Command, PeerLanes, RuntimeExit, RuntimeOptions, peer_lanes, spawn_runtime};
use crate::{
    DurableStore, Lane, NetError, Network, NodeConfig, NodeHandle, NodeTls, PeerConfig,
    ProtocolAdapter, RuntimeClock, WriteOf,
};

/// What a node is made of before it runs: its protocol adapter, the
/// protocol node (fresh or recovered from disk), its durable store and its
/// clock. [`raft_setup`](crate::raft_setup) makes one for Raft.
pub struct NodeSetup<A: ProtocolAdapter, D> {
    /// The protocol adapter.
    pub adapter: Arc<A>,
    /// The node.
    pub node: A::Node,
    /// Where its writes go.
    pub store: D,
    /// Its clock.
    pub clock: RuntimeClock,
}

impl<A: ProtocolAdapter, D> std::fmt::Debug for NodeSetup<A, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSetup")
            .field("protocol", &self.adapter.protocol())
            .finish_non_exhaustive()
    }
}

/// Starts the links to a new peer and routes the node's messages to it.
type PeerAdder = Box<dyn Fn(&PeerConfig) -> Result<Vec<JoinHandle<()>>, NetError> + Send + Sync>;

/// A peer's queues and the tasks of its links.
type PeerLinks<M> = (PeerLanes<M>, Vec<JoinHandle<()>>);

/// A node running on tokio, serving its peers and clients.
///
/// Dropping it without [`shutdown`](Self::shutdown) or
/// [`kill`](Self::kill) leaves its tasks running until the runtime ends.
pub struct RunningNode<A: ProtocolAdapter> {
    handle: NodeHandle<A>,
    peer_address: String,
    client_address: String,
    servers_shutdown: watch::Sender<bool>,
    runtime_shutdown: watch::Sender<bool>,
    runtime_task: Option<JoinHandle<RuntimeExit>>,
    tasks: Vec<JoinHandle<()>>,
    disk_exited: Option<oneshot::Receiver<()>>,
    add_peer: PeerAdder,
}

impl<A: ProtocolAdapter> std::fmt::Debug for RunningNode<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode")
            .field("id", &self.handle.id())
            .field("peer_address", &self.peer_address)
            .field("client_address", &self.client_address)
            .finish_non_exhaustive()
    }
}

fn bind_error(field: &str, address: &str, source: std::io::Error) -> NetError {
    NetError::Bind {
        field: field.to_string(),
        address: address.to_string(),
        source,
    }
}

/// The two listening sockets of a node, bound before it starts (so that
/// tests can bind port 0 and learn the addresses before writing the
/// configurations).
pub struct Listeners<N: Network> {
    peer: N::Listener,
    client: N::Listener,
    peer_address: String,
    client_address: String,
}

impl<N: Network> std::fmt::Debug for Listeners<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("peer_address", &self.peer_address)
            .field("client_address", &self.client_address)
            .finish()
    }
}

impl<N: Network> Listeners<N> {
    /// Binds `listen_peer` and `listen_client`.
    ///
    /// # Errors
    ///
    /// [`NetError::Bind`] naming the field whose address cannot be bound.
    pub async fn bind(
        network: &N,
        listen_peer: &str,
        listen_client: &str,
    ) -> Result<Self, NetError> {
        let peer = network
            .bind(listen_peer)
            .await
            .map_err(|error| bind_error("listen_peer", listen_peer, error))?;
        let client = network
            .bind(listen_client)
            .await
            .map_err(|error| bind_error("listen_client", listen_client, error))?;
        let peer_address = network
            .local_address(&peer)
            .map_err(|error| bind_error("listen_peer", listen_peer, error))?;
        let client_address = network
            .local_address(&client)
            .map_err(|error| bind_error("listen_client", listen_client, error))?;
        Ok(Listeners {
            peer,
            client,
            peer_address,
            client_address,
        })
    }

    /// The peer port's address.
    pub fn peer_address(&self) -> &str {
        &self.peer_address
    }

    /// The client port's address.
    pub fn client_address(&self) -> &str {
        &self.client_address
    }
}

/// Starts node `setup` as `config` describes, on `network`, binding the
/// addresses `config` gives.
///
/// # Errors
///
/// As [`start_node_with`], and [`NetError::Bind`] naming the field whose
/// address cannot be bound.
pub async fn start_node<A, D, N>(
    config: &NodeConfig,
    setup: NodeSetup<A, D>,
    network: N,
) -> Result<RunningNode<A>, NetError>
where
    A: ProtocolAdapter,
    D: DurableStore<WriteOf<A>>,
    N: Network,
{
    config.validate()?;
    let listeners = Listeners::bind(&network, &config.listen_peer, &config.listen_client).await?;
    start_node_with(config, setup, network, listeners).await
}

/// Starts node `setup` as `config` describes, on `network`, serving on
/// `listeners` (bound beforehand; `listen_peer` and `listen_client` are
/// then not used).
///
/// Checks, in order, and fails with an error naming the field: the
/// configuration ([`NetError::Config`]), the TLS files
/// ([`NetError::Certificate`]), every peer address resolves
/// ([`NetError::Resolve`]) and the metrics endpoint can start
/// ([`NetError::Metrics`]). A peer that is merely down is not an error:
/// the node keeps trying to reach it.
///
/// # Errors
///
/// As above.
pub async fn start_node_with<A, D, N>(
    config: &NodeConfig,
    setup: NodeSetup<A, D>,
    network: N,
    listeners: Listeners<N>,
) -> Result<RunningNode<A>, NetError>
where
    A: ProtocolAdapter,
    D: DurableStore<WriteOf<A>>,
    N: Network,
{
    config.validate()?;
    let Listeners {
        peer: peer_listener,
        client: client_listener,
        peer_address,
        client_address,
    } = listeners;
    let NodeSetup {
        adapter,
        node,
        store,
        clock,
    } = setup;
    let id = tessera_core::Protocol::id(&node);
    if id != config.node_id {
        return Err(NetError::Startup {
            reason: format!("the node's id is {id} but node_id is {}", config.node_id),
        });
    }
    let tls = match &config.tls {
        Some(tls) => Some(NodeTls::load(tls, &config.cluster_id, config.node_id)?),
        None => {
            tracing::warn!(
                node = id,
                "no [tls] section: peers are not authenticated (development only)"
            );
            None
        }
    };
    for (at, peer) in config.peers.iter().enumerate() {
        if peer.id == id {
            continue;
        }
        network
            .resolve(&peer.peer_address)
            .await
            .map_err(|error| NetError::Resolve {
                field: format!("peers[{at}].peer_address"),
                address: peer.peer_address.clone(),
                reason: error.to_string(),
            })?;
    }
    let mut tasks = Vec::new();
    if let Some(metrics_listen) = &config.metrics_listen {
        tasks.push(start_prometheus(metrics_listen)?);
    }

    let transport = config.transport.clone();
    let cluster_id: Arc<str> = config.cluster_id.as_str().into();
    let directory = Arc::new(PeerDirectory::new(&config.peers));
    let (servers_shutdown, shutdown) = watch::channel(false);
    let context = Arc::new(LinkContext {
        node_id: id,
        cluster_id: Arc::clone(&cluster_id),
        codec: Arc::clone(&adapter),
        network: network.clone(),
        tls: tls.as_ref().map(|tls| Arc::clone(&tls.dialer)),
        transport: transport.clone(),
    });
    let spawn_links = {
        let context = Arc::clone(&context);
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        let transport = transport.clone();
        move |peer: &PeerConfig| -> Result<PeerLinks<A::Message>, NetError> {
            let lanes = peer_lanes(
                transport.peer_queue_messages_max,
                transport.peer_queue_bytes_max,
            );
            let server_name = match &tls {
                Some(tls) => Some(tls.peer_name(peer.id)?),
                None => None,
            };
            let address: Arc<str> = peer.peer_address.as_str().into();
            let handles = Lane::ALL
                .iter()
                .map(|&lane| {
                    let link = Link {
                        peer: peer.id,
                        address: Arc::clone(&address),
                        server_name: server_name.clone(),
                        lane,
                        queue: Arc::clone(&lanes[lane.index()]),
                    };
                    tokio::spawn(run_link(Arc::clone(&context), link, shutdown.clone()))
                })
                .collect();
            Ok((lanes, handles))
        }
    };
    let mut peers = BTreeMap::new();
    for peer in config.peers.iter().filter(|peer| peer.id != id) {
        let (lanes, handles) = spawn_links(peer)?;
        peers.insert(peer.id, lanes);
        tasks.extend(handles);
    }
    let options = RuntimeOptions {
        clock,
        requests_pending_max: config.client.requests_pending_max,
        inbound_batches_max: transport.inbound_batches_max,
        ..RuntimeOptions::default()
    };
    let started = spawn_runtime(Arc::clone(&adapter), node, store, peers, options)?;
    let handle = started.handle.clone();

    // The peer port: mutual TLS whenever TLS is configured.
    let peer_service = PeerService {
        node_id: id,
        cluster_id: Arc::clone(&cluster_id),
        codec: Arc::clone(&adapter),
        directory: Arc::clone(&directory),
        tls_required: tls.is_some(),
        inbound: started.inbound.clone(),
        envelope_messages_max: transport.envelope_messages_max,
    };
    let limit = transport.message_bytes_max;
    let peer_server = PeerTransportServer::new(peer_service)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    tasks.extend(serve(
        network.clone(),
        peer_listener,
        tls.as_ref().map(|tls| Arc::clone(&tls.peer_server)),
        &transport,
        id,
        shutdown.clone(),
        peer_server,
    ));

    // The client port.
    let client_service = ClientService {
        handle: handle.clone(),
        directory: Arc::clone(&directory),
        request_timeout: config.request_timeout(),
    };
    let client_server = ClientServer::new(client_service)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    tasks.extend(serve(
        network,
        client_listener,
        tls.as_ref().map(|tls| Arc::clone(&tls.client_server)),
        &transport,
        id,
        shutdown.clone(),
        client_server,
    ));

    let add_peer = {
        let handle = handle.clone();
        let directory = Arc::clone(&directory);
        Box::new(
            move |peer: &PeerConfig| -> Result<Vec<JoinHandle<()>>, NetError> {
                let (lanes, handles) = spawn_links(peer)?;
                directory.insert(peer.clone());
                handle.add_peer(peer.id, lanes)?;
                Ok(handles)
            },
        )
    };
    tracing::info!(node = id, %peer_address, %client_address, "node serving");
    Ok(RunningNode {
        handle,
        peer_address,
        client_address,
        servers_shutdown,
        runtime_shutdown: started.shutdown,
        runtime_task: Some(started.task),
        tasks,
        disk_exited: Some(started.disk_exited),
        add_peer,
    })
}

/// Serves `service` on the connections `listener` accepts.
fn serve<N, S>(
    network: N,
    listener: N::Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    transport: &crate::TransportConfig,
    node: tessera_core::NodeId,
    mut shutdown: watch::Receiver<bool>,
    service: S,
) -> [JoinHandle<()>; 2]
where
    N: Network,
    S: tower::Service<
            tonic::codegen::http::Request<tonic::body::Body>,
            Response = tonic::codegen::http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let (established, incoming) = mpsc::channel(crate::connection::HANDSHAKES_INFLIGHT_MAX);
    let acceptor = tokio::spawn(accept_connections(
        network,
        listener,
        tls,
        transport.handshake_timeout(),
        node.to_string(),
        established,
        shutdown.clone(),
    ));
    let keepalive = Duration::from_millis(transport.keepalive_interval_ms);
    let keepalive_timeout = Duration::from_millis(transport.keepalive_timeout_ms);
    let server = Server::builder()
        .http2_keepalive_interval(Some(keepalive))
        .http2_keepalive_timeout(Some(keepalive_timeout));
    let server = tokio::spawn(async move {
        let signal = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(error) = server
            .serve_with_incoming_shutdown(service, ReceiverStream::new(incoming), signal)
            .await
        {
            tracing::error!(node, %error, "server stopped");
        }
    });
    [acceptor, server]
}

/// Installs the Prometheus recorder (once per process) and serves it.
fn start_prometheus(address: &str) -> Result<JoinHandle<()>, NetError> {
    let socket: SocketAddr = address.parse().map_err(|error| NetError::Metrics {
        reason: format!("`{address}`: {error}"),
    })?;
    let (recorder, exporter) = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(socket)
        .build()
        .map_err(|error| NetError::Metrics {
            reason: format!("cannot serve metrics on {address}: {error}"),
        })?;
    metrics::set_global_recorder(recorder).map_err(|_| NetError::Metrics {
        reason: "a metrics recorder is already installed in this process".into(),
    })?;
    tracing::info!(%address, "serving Prometheus metrics");
    Ok(tokio::spawn(async move {
        if let Err(error) = exporter.await {
            tracing::error!(?error, "the metrics endpoint stopped");
        }
    }))
}

impl<A: ProtocolAdapter> RunningNode<A> {
    /// The handle to the node.
    pub fn handle(&self) -> &NodeHandle<A> {
        &self.handle
    }

    /// The address the peer port listens on (with the port chosen, if the
    /// configuration said 0).
    pub fn peer_address(&self) -> &str {
        &self.peer_address
    }

    /// The address the client port listens on.
    pub fn client_address(&self) -> &str {
        &self.client_address
    }

    /// Starts sending to a new member (one being added to the cluster by a
    /// membership change) and accepts its connections.
    ///
    /// # Errors
    ///
    /// [`NetError::Stopped`] if the node stopped.
    pub fn add_peer(&mut self, peer: &PeerConfig) -> Result<(), NetError> {
        let handles = (self.add_peer)(peer)?;
        self.tasks.extend(handles);
        Ok(())
    }

    /// Waits until the node stops by itself (a storage failure) or is
    /// shut down; returns why.
    ///
    /// # Errors
    ///
    /// [`NetError::StorageFailed`] if a write failed.
    pub async fn wait(&mut self) -> Result<(), NetError> {
        let Some(task) = self.runtime_task.as_mut() else {
            return Ok(());
        };
        let exit = task.await;
        self.runtime_task = None;
        match exit {
            Ok(RuntimeExit::Shutdown) => Ok(()),
            Ok(RuntimeExit::StorageFailed(reason)) => Err(NetError::StorageFailed { reason }),
            Err(_) => Err(NetError::Stopped {
                node: self.handle.id(),
            }),
        }
    }

    /// Stops the node: it takes no more input, its servers and links close,
    /// and its disk thread finishes the writes already handed to it and
    /// closes the storage. Returns once the storage is closed, so the node
    /// can be restarted from the same directory.
    ///
    /// # Errors
    ///
    /// [`NetError::StorageFailed`] if the node had stopped after a failed
    /// write.
    pub async fn shutdown(mut self) -> Result<(), NetError> {
        let _ = self.runtime_shutdown.send(true);
        let result = self.wait().await;
        self.stop_tasks().await;
        result
    }

    /// Stops the node abruptly, as a crash of its tasks would: nothing more
    /// is sent or answered. Writes already handed to the disk thread still
    /// reach the disk (the process lives on); to lose unsynced writes as a
    /// power failure would, run the node on a simulated file system and
    /// crash that. Returns once the storage is closed.
    pub async fn kill(mut self) {
        if let Some(task) = self.runtime_task.take() {
            task.abort();
            let _ = task.await;
        }
        self.stop_tasks().await;
    }

    async fn stop_tasks(&mut self) {
        let _ = self.servers_shutdown.send(true);
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        if let Some(exited) = self.disk_exited.take() {
            let _ = exited.await;
        }
    }
}

/// Helps a running node route a new peer's messages.
impl<A: ProtocolAdapter> NodeHandle<A> {
    pub(crate) fn add_peer(
        &self,
        id: tessera_core::NodeId,
        lanes: PeerLanes<A::Message>,
    ) -> Result<(), NetError> {
        self.send_command(Command::AddPeer { id, lanes })
    }
}

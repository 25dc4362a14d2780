//! A Raft cluster of real nodes on loopback for the integration tests:
//! TLS with a generated CA, durable storage in a temporary directory,
//! ports chosen by the OS, and helpers that poll with timeouts (never a
//! fixed sleep that races).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::NodeId;
use tessera_net::{
    CertificateAuthority, ClientAuth, ClientOutcome, ClientTls, ClusterClient, DurableStore,
    Listeners, MapCommand, MapQuery, MapValue, NodeConfig, NodeHandle, NodeSetup, NodeStatus,
    PeerConfig, ProtocolAdapter, RaftAdapter, ReadConsistency, ReplicatedMap, RunningNode,
    RuntimeClock, TlsConfig, TokioNetwork, WriteOf, raft_setup, start_node_with,
};
use tessera_storage::{Codec, StdFs};

pub(crate) type Node = RunningNode<RaftAdapter<ReplicatedMap>>;
pub(crate) type Handle = NodeHandle<RaftAdapter<ReplicatedMap>>;

/// How long any one wait may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

pub(crate) fn encode(command: &MapCommand) -> Vec<u8> {
    let mut bytes = Vec::new();
    command.encode(&mut bytes);
    bytes
}

pub(crate) fn put(key: &str, value: &str) -> Vec<u8> {
    encode(&MapCommand::Put {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    })
}

/// Writes the PEM files of node `id` (or any text) into `dir`.
pub(crate) fn write_pem(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a PEM file");
    path
}

pub(crate) struct TestCluster {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) ca: CertificateAuthority,
    pub(crate) configs: BTreeMap<NodeId, NodeConfig>,
    pub(crate) nodes: BTreeMap<NodeId, Node>,
}

impl TestCluster {
    /// Configurations for `n` nodes with TLS, their ports bound now (and
    /// handed to the nodes as they start).
    pub(crate) async fn new(
        n: u64,
        tune: impl Fn(&mut NodeConfig),
    ) -> (Self, BTreeMap<NodeId, Listeners<TokioNetwork>>) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca = CertificateAuthority::generate("test").expect("a CA");
        let mut listeners = BTreeMap::new();
        for id in 1..=n {
            let bound = Listeners::bind(&TokioNetwork, "127.0.0.1:0", "127.0.0.1:0")
                .await
                .expect("loopback ports");
            listeners.insert(id, bound);
        }
        let peers: Vec<PeerConfig> = listeners
            .iter()
            .map(|(&id, l)| PeerConfig {
                id,
                peer_address: l.peer_address().to_string(),
                client_address: l.client_address().to_string(),
            })
            .collect();
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).expect("a certificate directory");
        let ca_path = write_pem(&certs, "ca.pem", &ca.cert_pem());
        let mut configs = BTreeMap::new();
        for id in 1..=n {
            let issued = ca.issue_node(id, &[]).expect("a node certificate");
            let mut config = NodeConfig::new(
                "test",
                id,
                dir.path().join(format!("node-{id}")),
                peers.clone(),
            );
            config.tls = Some(TlsConfig {
                ca_cert: ca_path.clone(),
                cert: write_pem(&certs, &format!("node-{id}.pem"), &issued.cert_pem),
                key: write_pem(&certs, &format!("node-{id}.key"), &issued.key_pem),
                client_auth: ClientAuth::None,
            });
            tune(&mut config);
            configs.insert(id, config);
        }
        let cluster = TestCluster {
            dir,
            ca,
            configs,
            nodes: BTreeMap::new(),
        };
        (cluster, listeners)
    }

    /// Starts node `id` on `listeners` (or, restarting, on its configured
    /// addresses).
    pub(crate) async fn start(&mut self, id: NodeId, listeners: Option<Listeners<TokioNetwork>>) {
        let config = self.configs[&id].clone();
        let listeners = match listeners {
            Some(listeners) => listeners,
            None => Listeners::bind(&TokioNetwork, &config.listen_peer, &config.listen_client)
                .await
                .expect("the node's own ports again"),
        };
        let setup = raft_setup(
            &config,
            ReplicatedMap::default(),
            Arc::new(StdFs),
            RuntimeClock::new(),
        )
        .expect("the node's storage");
        let node = start_node_with(&config, setup, TokioNetwork, listeners)
            .await
            .expect("the node starts");
        self.nodes.insert(id, node);
    }

    /// Starts every node.
    pub(crate) async fn start_all(n: u64, tune: impl Fn(&mut NodeConfig)) -> Self {
        let (mut cluster, listeners) = Self::new(n, tune).await;
        for (id, listeners) in listeners {
            cluster.start(id, Some(listeners)).await;
        }
        cluster
    }

    pub(crate) fn handle(&self, id: NodeId) -> Handle {
        self.nodes[&id].handle().clone()
    }

    pub(crate) fn client_tls(&self) -> ClientTls {
        ClientTls::from_pem("test", &self.ca.cert_pem(), None).expect("client TLS")
    }

    pub(crate) fn client(&self) -> ClusterClient {
        let addresses = self
            .configs
            .values()
            .map(|config| config.own_peer().expect("own peer").client_address.clone())
            .collect();
        ClusterClient::new(addresses, Some(self.client_tls())).with_timeout(Duration::from_secs(10))
    }

    /// Waits until one running node leads in a Target mode and every other
    /// running node follows it; returns the leader.
    pub(crate) async fn leader(&self) -> NodeId {
        stable_leader(|| self.nodes.values().map(|n| n.handle().status()).collect()).await
    }

    /// Proposes through the cluster client until it is applied (retrying
    /// redirects while an election runs).
    pub(crate) async fn propose(&self, client: &ClusterClient, command: Vec<u8>) -> u64 {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match client.propose(command.clone()).await {
                Ok(ClientOutcome::Applied { index, .. }) => return index,
                Ok(ClientOutcome::NotLeader { .. })
                | Err(tessera_net::NetError::Connect { .. }) => {}
                other => panic!("proposal failed: {other:?}"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no leader took the proposal"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn kill(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).expect("a running node");
        node.kill().await;
    }

    pub(crate) async fn shutdown(mut self) {
        for (_, node) in std::mem::take(&mut self.nodes) {
            node.shutdown().await.expect("a clean shutdown");
        }
    }
}

/// Binds node `config`'s own ports again, for a restart: a killed node's
/// ports may take a moment to be free.
pub(crate) async fn bind_again(config: &NodeConfig) -> Listeners<TokioNetwork> {
    let mut attempt = 0;
    loop {
        match Listeners::bind(&TokioNetwork, &config.listen_peer, &config.listen_client).await {
            Ok(listeners) => break listeners,
            Err(error) if attempt < 40 => {
                attempt += 1;
                let _ = error;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the node's own ports again: {error}"),
        }
    }
}

/// The nodes of a [`TestCluster`] running any protocol, each booted from
/// its configuration (and its disk) by `boot`.
pub(crate) struct ProtocolCluster<A: ProtocolAdapter, D> {
    pub(crate) cluster: TestCluster,
    pub(crate) nodes: BTreeMap<NodeId, RunningNode<A>>,
    boot: fn(&NodeConfig) -> NodeSetup<A, D>,
}

impl<A: ProtocolAdapter, D: DurableStore<WriteOf<A>>> ProtocolCluster<A, D> {
    /// Starts every node of `cluster` on the ports bound for it.
    pub(crate) async fn start_all(
        cluster: TestCluster,
        listeners: BTreeMap<NodeId, Listeners<TokioNetwork>>,
        boot: fn(&NodeConfig) -> NodeSetup<A, D>,
    ) -> Self {
        let mut this = ProtocolCluster {
            cluster,
            nodes: BTreeMap::new(),
            boot,
        };
        for (id, listeners) in listeners {
            this.start(id, Some(listeners)).await;
        }
        this
    }

    /// Starts node `id` on `listeners` (or, restarting, on its configured
    /// addresses).
    pub(crate) async fn start(&mut self, id: NodeId, listeners: Option<Listeners<TokioNetwork>>) {
        let config = self.cluster.configs[&id].clone();
        let listeners = match listeners {
            Some(listeners) => listeners,
            None => bind_again(&config).await,
        };
        let setup = (self.boot)(&config);
        let node = start_node_with(&config, setup, TokioNetwork, listeners)
            .await
            .expect("the node starts");
        self.nodes.insert(id, node);
    }

    pub(crate) fn handle(&self, id: NodeId) -> NodeHandle<A> {
        self.nodes[&id].handle().clone()
    }

    /// Waits until one running node leads in a Target mode and every other
    /// running node follows it; returns the leader.
    pub(crate) async fn leader(&self) -> NodeId {
        stable_leader(|| self.nodes.values().map(|n| n.handle().status()).collect()).await
    }

    /// A client of node `id`'s client port alone.
    pub(crate) fn client_of(&self, id: NodeId) -> ClusterClient {
        let address = self.cluster.configs[&id]
            .own_peer()
            .expect("own peer")
            .client_address
            .clone();
        ClusterClient::new(vec![address], Some(self.cluster.client_tls()))
            .with_timeout(Duration::from_secs(30))
    }

    pub(crate) async fn kill(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).expect("a running node");
        node.kill().await;
    }

    pub(crate) async fn shutdown(mut self) {
        for (_, node) in std::mem::take(&mut self.nodes) {
            node.shutdown().await.expect("a clean shutdown");
        }
    }
}

/// A protocol node replicating a [`ReplicatedMap`]: where it keeps it.
pub(crate) trait MapNode {
    /// The node's own copy of the map.
    fn map(&self) -> &ReplicatedMap;
}

impl MapNode for tessera_raft::RaftNode<ReplicatedMap> {
    fn map(&self) -> &ReplicatedMap {
        self.state_machine()
    }
}

impl MapNode for tessera_paxos::multi::MultiPaxos<ReplicatedMap> {
    fn map(&self) -> &ReplicatedMap {
        self.state_machine()
    }
}

impl MapNode for tessera_pbft::Gateway<tessera_net::PbftMachine<ReplicatedMap>> {
    fn map(&self) -> &ReplicatedMap {
        self.replica().app().app()
    }
}

/// The value of `key` in node `handle`'s state machine, read inside it.
pub(crate) async fn local_value<A>(handle: &NodeHandle<A>, key: &str) -> Option<Vec<u8>>
where
    A: ProtocolAdapter<Node: MapNode>,
{
    let key = key.as_bytes().to_vec();
    handle
        .inspect(move |node| node.map().get(&key).map(<[u8]>::to_vec))
        .await
        .expect("the node runs")
}

/// What a node restarted from its disk while the others compacted their
/// logs past what it had must show (keys `a0..` written before its crash,
/// `b..` through `b59` after): it catches up through `last` by a snapshot
/// (`snapshots_installed` counts them), holds writes from both sides of its
/// crash, serves a bounded-stale read, and the cluster still answers
/// linearizable reads of both.
pub(crate) async fn assert_caught_up_by_snapshot<A>(
    restarted: &NodeHandle<A>,
    client: &ClusterClient,
    last: u64,
    snapshots_installed: fn(&A::Node) -> u64,
) where
    A: ProtocolAdapter<Node: MapNode>,
{
    restarted
        .wait_for(|s| s.applied_index >= last, PATIENCE)
        .await
        .expect("the restarted node catches up");
    let installed = restarted
        .inspect(snapshots_installed)
        .await
        .expect("the node runs");
    assert!(installed >= 1, "caught up by snapshot");
    assert_eq!(
        local_value(restarted, "a3").await.as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(
        local_value(restarted, "b59").await.as_deref(),
        Some(&b"59"[..])
    );

    // It serves a stale read within a bound once it hears from the leader.
    let mut query = Vec::new();
    MapQuery {
        key: b"b10".to_vec(),
    }
    .encode(&mut query);
    let outcome = restarted
        .read(
            &query,
            ReadConsistency::Stale {
                max_staleness: Duration::from_secs(5),
            },
        )
        .await
        .expect("a stale read");
    assert!(
        matches!(outcome, ClientOutcome::Read { path: "stale", .. }),
        "{outcome:?}"
    );

    // And everything committed is still there, read linearizably.
    assert_eq!(read(client, "a0").await.as_deref(), Some(&b"0"[..]));
    assert_eq!(read(client, "b59").await.as_deref(), Some(&b"59"[..]));
}

/// Reads `key` linearizably through the client.
pub(crate) async fn read(client: &ClusterClient, key: &str) -> Option<Vec<u8>> {
    let mut query = Vec::new();
    MapQuery {
        key: key.as_bytes().to_vec(),
    }
    .encode(&mut query);
    match client
        .read(query, ReadConsistency::Linearizable)
        .await
        .expect("a read")
    {
        ClientOutcome::Read { output, .. } => MapValue::decode(&output).expect("a map value").0,
        other => panic!("read failed: {other:?}"),
    }
}

/// Waits until, among the statuses `statuses` reads, one node leads in a
/// Target mode and every other node follows it; returns the leader. Fails
/// the test after [`PATIENCE`].
pub(crate) async fn stable_leader(statuses: impl Fn() -> Vec<NodeStatus>) -> NodeId {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let statuses = statuses();
        let leaders: Vec<_> = statuses
            .iter()
            .filter(|s| s.is_leader() && s.mode_is_target)
            .collect();
        if let [leader] = leaders.as_slice()
            && statuses.iter().all(|s| s.leader == Some(leader.id))
        {
            return leader.id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no stable leader within {PATIENCE:?}: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

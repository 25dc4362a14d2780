//! Bad configurations fail at start-up with an error that names the
//! field: missing certificate files, duplicate node ids, addresses that
//! cannot be bound or resolved, a certificate for another node.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use support::TestCluster;
use tessera_net::{
    NetError, NodeConfig, ReplicatedMap, RuntimeClock, TokioNetwork, raft_setup, start_node,
    start_raft_node,
};
use tessera_storage::StdFs;

async fn start_error(config: &NodeConfig) -> NetError {
    match start_raft_node(config, ReplicatedMap::default()).await {
        Ok(_) => panic!("node {} started with a bad configuration", config.node_id),
        Err(error) => error,
    }
}

async fn one_node() -> (TestCluster, NodeConfig) {
    let (cluster, _listeners) = TestCluster::new(3, |_| {}).await;
    let config = cluster.configs[&1].clone();
    (cluster, config)
}

#[tokio::test]
async fn a_missing_certificate_file_is_named() {
    let (_cluster, mut config) = one_node().await;
    let tls = config.tls.as_mut().expect("TLS");
    tls.cert = PathBuf::from("/nonexistent/node-1.pem");
    let error = start_error(&config).await;
    let NetError::Certificate {
        field,
        path,
        reason,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(field, "tls.cert");
    assert_eq!(path, &PathBuf::from("/nonexistent/node-1.pem"));
    assert!(reason.contains("No such file"), "{error}");
    assert!(error.to_string().contains("tls.cert"), "{error}");
}

#[tokio::test]
async fn a_key_that_is_not_pem_and_a_certificate_for_another_node_are_refused() {
    let (cluster, mut config) = one_node().await;
    let tls = config.tls.as_mut().expect("TLS");
    let garbage = cluster.dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key").expect("write");
    tls.key = garbage;
    let error = start_error(&config).await;
    assert!(
        matches!(&error, NetError::Certificate { field, .. } if field == "tls.key"),
        "{error}"
    );

    // Node 2's certificate and key, configured as node 1's.
    let mut config = cluster.configs[&1].clone();
    let theirs = cluster.configs[&2].tls.clone().expect("TLS");
    let tls = config.tls.as_mut().expect("TLS");
    tls.cert = theirs.cert;
    tls.key = theirs.key;
    let error = start_error(&config).await;
    assert!(
        matches!(&error, NetError::Certificate { field, .. } if field == "tls.cert"),
        "{error}"
    );
    assert!(error.to_string().contains("node-1.test.tessera"), "{error}");
}

#[tokio::test]
async fn duplicate_node_ids_are_named() {
    let (_cluster, mut config) = one_node().await;
    config.peers[2].id = 2;
    let error = start_error(&config).await;
    let NetError::Config(config_error) = &error else {
        panic!("{error}");
    };
    assert_eq!(config_error.field, "peers[2].id");
    assert!(
        config_error.reason.contains("duplicate node id 2"),
        "{error}"
    );
}

#[tokio::test]
async fn an_address_that_cannot_be_bound_is_named() {
    let (cluster, mut config) = one_node().await;
    // A documentation address (RFC 5737): never one of this machine's.
    config.listen_peer = "192.0.2.1:7000".into();
    let setup = raft_setup(
        &config,
        ReplicatedMap::default(),
        Arc::new(StdFs),
        RuntimeClock::new(),
    )
    .expect("storage opens");
    let error = match start_node(&config, setup, TokioNetwork).await {
        Ok(_) => panic!("bound a foreign address"),
        Err(error) => error,
    };
    assert!(
        matches!(&error, NetError::Bind { field, address, .. } if field == "listen_peer" && address == "192.0.2.1:7000"),
        "{error}"
    );
    drop(cluster);
}

#[tokio::test]
async fn a_peer_address_that_does_not_resolve_is_named() {
    let (_cluster, mut config) = one_node().await;
    config.peers[1].peer_address = "no-such-host.invalid:7000".into();
    let error = start_error(&config).await;
    assert!(
        matches!(&error, NetError::Resolve { field, .. } if field == "peers[1].peer_address"),
        "{error}"
    );
}

#[tokio::test]
async fn a_port_in_use_is_named() {
    let (_cluster, mut config) = one_node().await;
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    config.listen_client = taken.local_addr().expect("an address").to_string();
    let error = start_error(&config).await;
    assert!(
        matches!(&error, NetError::Bind { field, .. } if field == "listen_client"),
        "{error}"
    );
}

#[test]
fn a_configuration_file_with_a_wrong_field_says_which() {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        "cluster_id = \"demo\"\nnode_id = 1\ndata_dir = \"d\"\nlisten_peer = \"127.0.0.1:1\"\n\
         listen_client = \"127.0.0.1:2\"\n\n[[peers]]\nid = 1\npeer_address = \"127.0.0.1:1\"\n\
         client_address = \"127.0.0.1:2\"\n\n[raft]\nheartbeat_interval_ms = 5000\n",
    )
    .expect("write");
    let error = NodeConfig::load(&path).expect_err("heartbeats slower than elections");
    assert_eq!(error.field, "raft.heartbeat_interval_ms");
}

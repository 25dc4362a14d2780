//! The Prometheus endpoint: a node serving `metrics_listen` exports its
//! term, mode, commit and apply indexes, replication lag and commit
//! latency. (The recorder is process-wide, so this binary holds one test.)

mod support;

use std::time::Duration;

use support::{PATIENCE, TestCluster, put};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn scrape(address: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the metrics port");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("a request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("a response");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_exports_its_metrics_to_prometheus() {
    // A port the OS picks, released for the exporter to bind.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = free.local_addr().expect("an address").to_string();
    drop(free);
    let metrics_address = address.clone();
    let cluster = TestCluster::start_all(3, move |config| {
        if config.node_id == 1 {
            config.metrics_listen = Some(metrics_address.clone());
        }
    })
    .await;
    let client = cluster.client();
    for n in 0..5 {
        cluster.propose(&client, put(&format!("k{n}"), "v")).await;
    }
    cluster
        .handle(1)
        .wait_for(|s| s.applied_index >= 6, PATIENCE)
        .await
        .expect("node 1 applies");

    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let text = scrape(&address).await;
        let has = |needle: &str| text.lines().any(|line| line.starts_with(needle));
        let complete = has("tessera_node_term{node=\"1\"}")
            && has("tessera_node_commit_index{node=\"1\"}")
            && has("tessera_node_applied_index{node=\"1\"}")
            && has("tessera_node_apply_lag{node=\"1\"}")
            && has("tessera_node_mode{node=\"1\"")
            && has("tessera_storage_writes_total{node=\"1\"}")
            && has("tessera_peer_messages_sent_total{node=\"1\"")
            // Followers report their lag at the leader, commits their
            // latency there: at least one node of the three leads.
            && has("tessera_replication_lag_entries{")
            && has("tessera_commit_latency_seconds");
        if complete {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics missing:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.shutdown().await;
}

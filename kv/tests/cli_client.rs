//! The client commands of the `tessera-kv` binary against a one-node
//! cluster started in the test: put, cas, get (three read paths), scan,
//! del and status.

use std::process::Command;

use tessera_kv::start_kv_node;
use tessera_net::{Listeners, NodeConfig, PeerConfig, TokioNetwork};

fn tessera_kv(arguments: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera-kv"))
        .args(arguments)
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// A one-node cluster's configuration with its data in `dir`, on ports
/// the system picked, and its client address.
async fn one_node(dir: &std::path::Path) -> (NodeConfig, String) {
    let ports = Listeners::bind(&TokioNetwork, "127.0.0.1:0", "127.0.0.1:0")
        .await
        .expect("free ports");
    let peers = vec![PeerConfig {
        id: 1,
        peer_address: ports.peer_address().into(),
        client_address: ports.client_address().into(),
    }];
    drop(ports);
    let address = peers[0].client_address.clone();
    (
        NodeConfig::new("cli", 1, dir.join("node-1"), peers),
        address,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_commands_work_against_a_running_node() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (config, address) = one_node(dir.path()).await;
    let node = start_kv_node(&config).await.expect("the node starts");

    let run = |arguments: Vec<&str>| {
        let mut arguments = arguments;
        arguments.extend(["--connect", address.as_str()]);
        let owned: Vec<String> = arguments.iter().map(|a| a.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let borrowed: Vec<&str> = owned.iter().map(String::as_str).collect();
                tessera_kv(&borrowed)
            })
            .await
            .expect("the command runs")
        }
    };
    let (code, out, err) = run(vec!["put", "a", "1"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok (version "), "{out}");
    let (code, out, _) = run(vec!["cas", "a", "2", "--expect", "9"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("not swapped"), "{out}");
    let (_, out, _) = run(vec!["cas", "a", "2", "--expect", "1"]).await;
    assert!(out.starts_with("swapped"), "{out}");
    let (_, out, _) = run(vec!["cas", "b", "7", "--expect-absent"]).await;
    assert!(out.starts_with("swapped"), "{out}");
    let (_, out, _) = run(vec!["get", "a"]).await;
    assert!(
        out.starts_with("2 (version ") && out.contains("read_index"),
        "{out}"
    );
    let (_, out, _) = run(vec!["get", "a", "--lease"]).await;
    assert!(out.starts_with("2 ") && out.contains("lease"), "{out}");
    let (_, out, _) = run(vec!["get", "a", "--stale-ms", "5000"]).await;
    assert!(out.starts_with("2 ") && out.contains("stale read"), "{out}");
    let (_, out, _) = run(vec!["scan", "a", "--limit", "1"]).await;
    assert!(
        out.contains("a = 2") && out.contains("more follow"),
        "{out}"
    );
    let (_, out, _) = run(vec!["del", "a"]).await;
    assert!(out.starts_with("ok"), "{out}");
    let (_, out, _) = run(vec!["get", "a"]).await;
    assert!(out.starts_with("(absent)"), "{out}");
    let (code, out, _) = run(vec!["status"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("mode leading") && out.contains("lag 0"),
        "{out}"
    );
    // The evidence the leader holds: a lease with time left, the commit
    // certificate of its commit index, and no closed timestamp.
    assert!(out.contains("lease: valid "), "{out}");
    assert!(
        out.contains("last commit certificate: index ") && out.contains("held by nodes 1"),
        "{out}"
    );
    assert!(
        out.contains("closed timestamp: absent (raft keeps none)"),
        "{out}"
    );
    assert!(out.contains("evidence: TermVote over Epoch("), "{out}");
    assert!(
        out.contains("evidence: Lease over Global: Active, expires in "),
        "{out}"
    );
    // A missing argument is a usage error.
    let (code, _, err) = run(vec!["cas", "a", "3"]).await;
    assert_eq!(code, 2, "{err}");
    node.shutdown().await.expect("clean shutdown");

    // With the node gone, an operation fails (exit 1) saying what to do.
    let (code, _, err) = run(vec!["get", "a", "--timeout-ms", "300"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tessera-kv status"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_commands_work_against_a_multi_paxos_node() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (config, address) = one_node(dir.path()).await;
    let node = tessera_kv::start_kv_paxos_node(&config)
        .await
        .expect("the node starts");
    let run = |arguments: &[&str]| {
        let mut owned: Vec<String> = arguments.iter().map(|a| a.to_string()).collect();
        owned.extend(["--connect".to_string(), address.clone()]);
        async move {
            tokio::task::spawn_blocking(move || {
                let borrowed: Vec<&str> = owned.iter().map(String::as_str).collect();
                tessera_kv(&borrowed)
            })
            .await
            .expect("the command runs")
        }
    };
    // The put waits (retrying "no leader yet") for the node to win phase
    // one on its own promise.
    let (code, out, err) = run(&["put", "a", "1"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok (version "), "{out}");
    let (_, out, _) = run(&["cas", "a", "2", "--expect", "1"]).await;
    assert!(out.starts_with("swapped"), "{out}");
    let (code, out, err) = run(&["get", "a"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("2 (version "), "{out}");
    let (_, out, _) = run(&["get", "a", "--stale-ms", "5000"]).await;
    assert!(out.starts_with("2 ") && out.contains("stale read"), "{out}");
    let (code, out, _) = run(&["status"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("[paxos] mode stable-leader") && out.contains("leader 1"),
        "{out}"
    );
    assert!(out.contains("lease: valid "), "{out}");
    assert!(out.contains("held by nodes 1"), "{out}");
    assert!(
        out.contains("closed timestamp: absent (paxos keeps none)"),
        "{out}"
    );
    assert!(out.contains("evidence: Promise over Epoch("), "{out}");
    node.shutdown().await.expect("clean shutdown");
}

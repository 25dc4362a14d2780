//! Bad input to the `tessera-kv` binary: each case gets a one-line error
//! that says what to do, and exit code 2.

use std::path::Path;
use std::process::{Command, Output};

use tessera_net::{NodeConfig, PeerConfig};

fn tessera_kv(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera-kv"))
        .args(arguments)
        .output()
        .expect("the binary runs")
}

/// Asserts exit code 2 and one line on stderr containing `needle` (and a
/// hint at what to do); returns the line.
fn assert_usage_error(output: &Output, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr}");
    assert!(lines[0].contains(needle), "{stderr}");
    assert!(
        [
            "use ",
            "choose",
            "fix",
            "make",
            "stop",
            "see --help",
            "give"
        ]
        .iter()
        .any(|hint| lines[0].contains(hint)),
        "no advice: {stderr}"
    );
    lines[0].to_string()
}

/// A one-node configuration file in `dir` listening on `client` (and on a
/// free peer port), its data under `data_dir`.
fn write_config(dir: &Path, client: &str, data_dir: &Path) -> String {
    let peer = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let peer_address = peer.local_addr().expect("address").to_string();
    drop(peer);
    let peers = vec![PeerConfig {
        id: 1,
        peer_address,
        client_address: client.to_string(),
    }];
    let config = NodeConfig::new("errors", 1, data_dir, peers);
    let path = dir.join("node-1.toml");
    std::fs::write(&path, config.to_toml()).expect("write the configuration");
    path.display().to_string()
}

#[test]
fn an_unknown_protocol_and_too_few_pbft_nodes_exit_2() {
    let line = assert_usage_error(
        &tessera_kv(&["demo", "--protocol", "zab"]),
        "unknown protocol `zab`",
    );
    assert!(
        line.contains("raft") && line.contains("paxos") && line.contains("pbft"),
        "{line}"
    );
    let line = assert_usage_error(
        &tessera_kv(&["demo", "--protocol", "pbft", "--nodes", "3"]),
        "--nodes 3",
    );
    assert!(line.contains("3f + 1"), "{line}");
    assert_usage_error(&tessera_kv(&["frobnicate"]), "unknown command");
}

#[test]
fn serving_pbft_with_too_few_nodes_exits_2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = write_config(dir.path(), "127.0.0.1:0", &dir.path().join("data"));
    let line = assert_usage_error(
        &tessera_kv(&["serve", "--config", &path, "--protocol", "pbft"]),
        "3f + 1",
    );
    assert!(line.contains(&path) && line.contains("peers"), "{line}");
}

#[test]
fn a_malformed_configuration_exits_2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "node_id = \"one\"\n[[peers\n").expect("write");
    let line = assert_usage_error(
        &tessera_kv(&["serve", "--config", &path.display().to_string()]),
        "bad.toml",
    );
    assert!(line.contains("fix the configuration file"), "{line}");
    let missing = dir.path().join("missing.toml").display().to_string();
    assert_usage_error(
        &tessera_kv(&["serve", "--config", &missing]),
        "missing.toml",
    );
}

#[test]
fn an_occupied_port_exits_2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("address").to_string();
    let path = write_config(dir.path(), &address, &dir.path().join("data"));
    let line = assert_usage_error(&tessera_kv(&["serve", "--config", &path]), &address);
    assert!(line.contains("listen_client"), "{line}");
    drop(taken);
}

#[test]
fn an_unwritable_data_directory_exits_2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // A directory cannot be made under a regular file, whoever runs this.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").expect("write");
    let client = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = client.local_addr().expect("address").to_string();
    drop(client);
    let path = write_config(dir.path(), &address, &file.join("data"));
    let line = assert_usage_error(&tessera_kv(&["serve", "--config", &path]), "data_dir");
    assert!(line.contains("writable"), "{line}");
}

#[test]
fn an_unwritable_demo_output_directory_exits_2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").expect("write");
    let out = file.join("out").display().to_string();
    assert_usage_error(&tessera_kv(&["demo", "--quick", "--out", &out]), "--out");
}

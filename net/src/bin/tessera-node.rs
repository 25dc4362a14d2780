//! `tessera-node`: one Raft, Multi-Paxos or PBFT node replicating a
//! key-value map, and the
//! commands around it — making a demo cluster's configuration and
//! certificates, and a small client.
//!
//! ```text
//! tessera-node init   --dir DIR [--nodes 3] [--cluster demo] [--base-port 7000] [--no-tls]
//!                     [--protocol raft|paxos|pbft]
//! tessera-node certs  --out DIR --nodes 1,2,3 [--cluster demo] [--clients NAME,..] [--names HOST,..]
//! tessera-node run    --config FILE [--protocol raft|paxos|pbft] [--node-id N] [--data-dir DIR]
//!                     [--listen-peer A] [--listen-client A] [--metrics-listen A]
//! tessera-node put    KEY VALUE   (--config FILE | --connect A,B,C [--cluster C --ca F [--cert F --key F]])
//! tessera-node get    KEY [--lease | --stale-ms N]   (same connection flags)
//! tessera-node delete KEY         (same connection flags)
//! tessera-node status             (same connection flags)
//! ```
//!
//! Everything reusable lives in the `tessera_net` library; this binary only
//! parses flags and prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tessera_net::{
    CertificateAuthority, ClientAuth, ClientOutcome, ClientTls, ClusterClient, MapCommand,
    MapValue, NodeConfig, PeerConfig, ProtocolAdapter, ReadConsistency, ReplicatedMap, RunningNode,
    TlsConfig, pbft_keys_file_name, start_paxos_node, start_pbft_node, start_raft_node,
    write_pbft_keys,
};
use tessera_storage::Codec;

const USAGE: &str = "usage:
  tessera-node init   --dir DIR [--nodes 3] [--cluster demo] [--base-port 7000] [--no-tls]
                      [--protocol raft|paxos|pbft]
  tessera-node certs  --out DIR --nodes 1,2,3 [--cluster demo] [--clients NAME,..] [--names HOST,..]
  tessera-node run    --config FILE [--protocol raft|paxos|pbft] [--node-id N] [--data-dir DIR]
                      [--listen-peer ADDR] [--listen-client ADDR] [--metrics-listen ADDR]
  tessera-node put    KEY VALUE   CONNECTION
  tessera-node get    KEY [--lease | --stale-ms N]   CONNECTION
  tessera-node delete KEY         CONNECTION
  tessera-node status             CONNECTION
CONNECTION is --config NODE.toml (the client uses that node's peers and certificates)
or --connect ADDR,ADDR,.. [--cluster C --ca CA.pem [--cert CERT.pem --key KEY.pem]]";

/// Parsed command-line arguments: positional words and `--flag value`s
/// (`--flag` alone for booleans).
struct Arguments {
    positional: Vec<String>,
    flags: BTreeMap<String, String>,
}

const BOOLEAN_FLAGS: [&str; 3] = ["no-tls", "lease", "help"];

fn parse(arguments: impl Iterator<Item = String>) -> Result<Arguments, String> {
    let mut positional = Vec::new();
    let mut flags = BTreeMap::new();
    let mut arguments = arguments.peekable();
    while let Some(argument) = arguments.next() {
        if let Some(flag) = argument.strip_prefix("--") {
            if BOOLEAN_FLAGS.contains(&flag) {
                flags.insert(flag.to_string(), String::new());
            } else {
                let value = arguments
                    .next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?;
                flags.insert(flag.to_string(), value);
            }
        } else {
            positional.push(argument);
        }
    }
    Ok(Arguments { positional, flags })
}

impl Arguments {
    fn take(&mut self, flag: &str) -> Option<String> {
        self.flags.remove(flag)
    }

    fn required(&mut self, flag: &str) -> Result<String, String> {
        self.take(flag)
            .ok_or_else(|| format!("--{flag} is required"))
    }

    fn number<T: std::str::FromStr>(&mut self, flag: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.take(flag) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|error| format!("--{flag} `{value}`: {error}")),
        }
    }

    fn finish(self) -> Result<(), String> {
        match self.flags.keys().next() {
            Some(flag) => Err(format!("unknown flag --{flag}")),
            None => Ok(()),
        }
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

fn node_ids(value: &str) -> Result<Vec<u64>, String> {
    list(value)
        .iter()
        .map(|id| {
            id.parse()
                .map_err(|error| format!("--nodes `{id}`: {error}"))
        })
        .collect()
}

fn main() -> ExitCode {
    let mut arguments = match parse(std::env::args().skip(1)) {
        Ok(arguments) => arguments,
        Err(error) => return fail(&error),
    };
    if arguments.flags.contains_key("help") || arguments.positional.is_empty() {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let command = arguments.positional.remove(0);
    let result = match command.as_str() {
        "init" => init(arguments),
        "certs" => certs(arguments),
        "run" => run(arguments),
        "put" | "get" | "delete" | "status" => client(&command, arguments),
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &str) -> ExitCode {
    eprintln!("tessera-node: {error}");
    ExitCode::FAILURE
}

/// Which protocol a `--protocol` flag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Raft,
    Paxos,
    Pbft,
}

fn protocol(arguments: &mut Arguments) -> Result<Option<Protocol>, String> {
    match arguments.take("protocol").as_deref() {
        None => Ok(None),
        Some("raft") => Ok(Some(Protocol::Raft)),
        Some("paxos") => Ok(Some(Protocol::Paxos)),
        Some("pbft") => Ok(Some(Protocol::Pbft)),
        Some(other) => Err(format!(
            "--protocol {other}: use raft, paxos or pbft (every node of a cluster runs the same)"
        )),
    }
}

/// Writes certificates, PBFT keys (for four nodes or more) and one
/// configuration file per node for a cluster on this machine.
fn init(mut arguments: Arguments) -> Result<(), String> {
    let dir = PathBuf::from(arguments.required("dir")?);
    let nodes: u64 = arguments.number("nodes", 3)?;
    let cluster = arguments.take("cluster").unwrap_or_else(|| "demo".into());
    let base_port: u16 = arguments.number("base-port", 7000)?;
    let tls = arguments.take("no-tls").is_none();
    let protocol = protocol(&mut arguments)?;
    arguments.finish()?;
    if nodes == 0 || nodes > 99 {
        return Err(format!("--nodes {nodes}: between 1 and 99"));
    }
    if protocol == Some(Protocol::Pbft) && nodes < 4 {
        return Err(format!(
            "--nodes {nodes}: PBFT needs n = 3f + 1 >= 4 nodes to tolerate one Byzantine fault"
        ));
    }
    let port = |offset: u64, id: u64| -> Result<u16, String> {
        u16::try_from(u64::from(base_port) + offset + id)
            .map_err(|_| format!("--base-port {base_port} leaves no room for {nodes} nodes"))
    };
    let mut peers = Vec::new();
    for id in 1..=nodes {
        peers.push(PeerConfig {
            id,
            peer_address: format!("127.0.0.1:{}", port(0, id)?),
            client_address: format!("127.0.0.1:{}", port(100, id)?),
        });
    }
    std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let ids: Vec<u64> = (1..=nodes).collect();
    if tls {
        let ca = CertificateAuthority::generate(&cluster).map_err(|e| e.to_string())?;
        ca.write_files(
            &dir.join("certs"),
            &ids,
            &["admin"],
            &["localhost".into(), "127.0.0.1".into()],
        )
        .map_err(|e| e.to_string())?;
    }
    // PBFT keys for every cluster that can run PBFT: its configurations
    // then run any of the three protocols.
    let pbft = nodes >= 4;
    let gateway_clients = tessera_net::PbftSettings::default().gateway_clients;
    if pbft {
        for path in write_pbft_keys(&dir.join("pbft-keys"), &ids, gateway_clients)
            .map_err(|e| e.to_string())?
        {
            println!("wrote {}", path.display());
        }
    }
    for id in ids {
        let mut config = NodeConfig::new(&cluster, id, format!("data/node-{id}"), peers.clone());
        config.metrics_listen = Some(format!("127.0.0.1:{}", port(200, id)?));
        if pbft {
            config.pbft.keys = Some(PathBuf::from("pbft-keys").join(pbft_keys_file_name(id)));
        }
        if tls {
            config.tls = Some(TlsConfig {
                ca_cert: "certs/ca.pem".into(),
                cert: format!("certs/node-{id}.pem").into(),
                key: format!("certs/node-{id}.key").into(),
                client_auth: ClientAuth::Required,
            });
        }
        let path = dir.join(format!("node-{id}.toml"));
        std::fs::write(&path, config.to_toml())
            .map_err(|error| format!("{}: {error}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn certs(mut arguments: Arguments) -> Result<(), String> {
    let out = PathBuf::from(arguments.required("out")?);
    let nodes = node_ids(&arguments.required("nodes")?)?;
    let cluster = arguments.take("cluster").unwrap_or_else(|| "demo".into());
    let clients = arguments
        .take("clients")
        .map(|c| list(&c))
        .unwrap_or_default();
    let names = arguments
        .take("names")
        .map(|n| list(&n))
        .unwrap_or_default();
    arguments.finish()?;
    let ca = CertificateAuthority::generate(&cluster).map_err(|e| e.to_string())?;
    let clients: Vec<&str> = clients.iter().map(String::as_str).collect();
    for path in ca
        .write_files(&out, &nodes, &clients, &names)
        .map_err(|e| e.to_string())?
    {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))
}

fn run(mut arguments: Arguments) -> Result<(), String> {
    let path = arguments.required("config")?;
    let protocol = protocol(&mut arguments)?.unwrap_or(Protocol::Raft);
    let mut config = NodeConfig::load(&path).map_err(|error| format!("{path}: {error}"))?;
    for flag in [
        "node-id",
        "data-dir",
        "listen-peer",
        "listen-client",
        "metrics-listen",
    ] {
        if let Some(value) = arguments.take(flag) {
            config
                .set(&flag.replace('-', "_"), &value)
                .map_err(|error| format!("--{flag}: {error}"))?;
        }
    }
    arguments.finish()?;
    config
        .validate()
        .map_err(|error| format!("{path}: {error}"))?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    runtime()?.block_on(async {
        match protocol {
            Protocol::Paxos => {
                let node = start_paxos_node(&config, ReplicatedMap::default())
                    .await
                    .map_err(|error| error.to_string())?;
                serve(node, &config).await
            }
            Protocol::Pbft => {
                let node = start_pbft_node(&config, ReplicatedMap::default())
                    .await
                    .map_err(|error| error.to_string())?;
                serve(node, &config).await
            }
            Protocol::Raft => {
                let node = start_raft_node(&config, ReplicatedMap::default())
                    .await
                    .map_err(|error| error.to_string())?;
                serve(node, &config).await
            }
        }
    })
}

/// Serves until the node stops or Ctrl-C.
async fn serve<A: ProtocolAdapter>(
    mut node: RunningNode<A>,
    config: &NodeConfig,
) -> Result<(), String> {
    println!(
        "node {} of cluster {} serving peers on {} and clients on {}",
        config.node_id,
        config.cluster_id,
        node.peer_address(),
        node.client_address()
    );
    tokio::select! {
        result = node.wait() => result.map_err(|error| error.to_string()),
        _ = tokio::signal::ctrl_c() => {
            println!("shutting down");
            node.shutdown().await.map_err(|error| error.to_string())
        }
    }
}

/// The client's addresses and TLS, from a node's configuration file or
/// from flags.
fn connection(arguments: &mut Arguments) -> Result<(Vec<String>, Option<ClientTls>), String> {
    if let Some(path) = arguments.take("config") {
        let config = NodeConfig::load(&path).map_err(|error| format!("{path}: {error}"))?;
        let tls = ClientTls::for_node(&config).map_err(|error| error.to_string())?;
        return Ok((config.client_addresses(), tls));
    }
    let addresses = list(&arguments.required("connect")?);
    let tls = match arguments.take("ca") {
        None => None,
        Some(ca) => {
            let cluster = arguments.required("cluster")?;
            let identity = match (arguments.take("cert"), arguments.take("key")) {
                (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
                (None, None) => None,
                _ => return Err("--cert and --key go together".into()),
            };
            Some(
                ClientTls::load(
                    &cluster,
                    Path::new(&ca),
                    identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
                )
                .map_err(|error| error.to_string())?,
            )
        }
    };
    Ok((addresses, tls))
}

fn encode(command: &MapCommand) -> Vec<u8> {
    let mut bytes = Vec::new();
    command.encode(&mut bytes);
    bytes
}

fn client(command: &str, mut arguments: Arguments) -> Result<(), String> {
    let (addresses, tls) = connection(&mut arguments)?;
    let word = |at: usize, what: &str| -> Result<String, String> {
        arguments
            .positional
            .get(at)
            .cloned()
            .ok_or_else(|| format!("{command} needs {what}"))
    };
    let client = ClusterClient::new(addresses.clone(), tls).with_timeout(Duration::from_secs(5));
    let request = match command {
        "put" => Some((
            true,
            encode(&MapCommand::Put {
                key: word(0, "a KEY")?.into_bytes(),
                value: word(1, "a VALUE")?.into_bytes(),
            }),
        )),
        "delete" => Some((
            true,
            encode(&MapCommand::Delete {
                key: word(0, "a KEY")?.into_bytes(),
            }),
        )),
        "get" => Some((false, word(0, "a KEY")?.into_bytes())),
        _ => None,
    };
    let consistency = match (arguments.take("lease"), arguments.take("stale-ms")) {
        (Some(_), Some(_)) => return Err("--lease and --stale-ms exclude each other".into()),
        (Some(_), None) => ReadConsistency::Lease,
        (None, Some(ms)) => ReadConsistency::Stale {
            max_staleness: Duration::from_millis(
                ms.parse()
                    .map_err(|error| format!("--stale-ms `{ms}`: {error}"))?,
            ),
        },
        (None, None) => ReadConsistency::Linearizable,
    };
    arguments.finish()?;
    runtime()?.block_on(async {
        let Some((is_write, bytes)) = request else {
            for address in &addresses {
                match client.status(address).await {
                    Ok(status) => {
                        println!(
                            "{address}: node {} mode {} term {} leader {} commit {} applied {}",
                            status.node_id,
                            status.mode,
                            status.term,
                            status
                                .leader_id
                                .map_or("?".to_string(), |id| id.to_string()),
                            status.commit_index,
                            status.applied_index
                        );
                        if let Some(left) = status.lease_remaining_ms {
                            println!("  lease: valid {left} ms more");
                        }
                        if let Some(certificate) = &status.commit_certificate {
                            println!(
                                "  commit certificate: index {} of term {}, held by {:?}",
                                certificate.index, certificate.term, certificate.voters
                            );
                        }
                        for evidence in &status.evidence {
                            println!("  evidence: {evidence}");
                        }
                    }
                    Err(error) => println!("{address}: {error}"),
                }
            }
            return Ok(());
        };
        let outcome = if is_write {
            client.propose(bytes).await
        } else {
            client.read(bytes, consistency).await
        }
        .map_err(|error| error.to_string())?;
        match outcome {
            ClientOutcome::Applied { index, .. } => println!("ok (index {index})"),
            ClientOutcome::Read {
                index,
                output,
                path,
                staleness,
            } => {
                let value =
                    MapValue::decode(&output).map_err(|error| format!("bad answer: {error}"))?;
                match value.0 {
                    Some(value) => println!("{}", String::from_utf8_lossy(&value)),
                    None => println!("(not found)"),
                }
                eprintln!(
                    "(read at index {index} by {path}, {} ms stale)",
                    staleness.as_millis()
                );
            }
            ClientOutcome::NotLeader { leader } => {
                return Err(format!(
                    "no leader found (last known: {leader:?}); try again"
                ));
            }
            ClientOutcome::Refused { reason } => return Err(format!("refused: {reason}")),
            ClientOutcome::Indeterminate { reason } => {
                return Err(format!("outcome unknown: {reason}"));
            }
        }
        Ok(())
    })
}

//! The `tessera-kv` command line: `serve`, the client commands, `status`
//! and `demo`. Bad input gets a one-line error saying what to do, and exit
//! code 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera_net::{ClientTls, NetError, NodeConfig, ProtocolAdapter, ReadConsistency, RunningNode};

use crate::demo::{Backend, DemoError, DemoOptions, run_demo};
use crate::{KvClient, KvError, Versioned, start_kv_node, start_kv_paxos_node, start_kv_pbft_node};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the operation failed (no answer, an unknown outcome, a demo
/// that did not pass).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input (usage, configuration, ports, directories).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: interrupted by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The usage text.
pub const USAGE: &str = "tessera-kv: a replicated key-value service (Raft, Multi-Paxos or PBFT over tessera-net, mutual TLS, durable storage)

usage:
  tessera-kv demo   [--nodes 3] [--quick] [--out DIR] [--clients 6] [--protocol raft|paxos|pbft]
  tessera-kv serve  --config NODE.toml [--protocol raft|paxos|pbft]
  tessera-kv get    KEY [--lease | --stale-ms N]        CONNECTION
  tessera-kv put    KEY VALUE                           CONNECTION
  tessera-kv cas    KEY NEW (--expect OLD | --expect-absent)   CONNECTION
  tessera-kv del    KEY                                 CONNECTION
  tessera-kv scan   [START [END]] [--limit 100] [--lease | --stale-ms N]   CONNECTION
  tessera-kv status                                     CONNECTION

CONNECTION is --config NODE.toml (its peers' client addresses and its certificates)
or --connect ADDR,ADDR,.. [--cluster C --ca CA.pem [--cert C.pem --key K.pem]].
Client commands give up after --timeout-ms (default 5000), retrying refusals until then.
Node configuration files are tessera-net's (`tessera-node init --dir DIR` writes a set;
add --protocol pbft for PBFT's keys). The demo runs 3 nodes, or 4 under PBFT (3f + 1, f = 1).
Exit codes: 0 ok, 1 operation failed, 2 bad input, 130 interrupted.";

/// A failure: the message (one line) and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong and what to do.
    pub message: String,
    /// The exit code.
    pub code: u8,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: EXIT_USAGE,
    }
}

fn operation(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: EXIT_FAILED,
    }
}

struct Arguments {
    positional: Vec<String>,
    flags: BTreeMap<String, String>,
}

const SWITCHES: [&str; 5] = ["quick", "lease", "expect-absent", "help", "no-progress"];

fn parse(arguments: Vec<String>) -> Result<Arguments, Failure> {
    let mut positional = Vec::new();
    let mut flags = BTreeMap::new();
    let mut arguments = arguments.into_iter();
    while let Some(argument) = arguments.next() {
        match argument.strip_prefix("--") {
            Some(flag) if SWITCHES.contains(&flag) => {
                flags.insert(flag.to_string(), String::new());
            }
            Some(flag) => {
                let (flag, value) = match flag.split_once('=') {
                    Some((flag, value)) => (flag.to_string(), value.to_string()),
                    None => (
                        flag.to_string(),
                        arguments
                            .next()
                            .ok_or_else(|| usage(format!("--{flag} needs a value; see --help")))?,
                    ),
                };
                flags.insert(flag, value);
            }
            None if argument == "-h" => {
                flags.insert("help".into(), String::new());
            }
            None => positional.push(argument),
        }
    }
    Ok(Arguments { positional, flags })
}

impl Arguments {
    fn take(&mut self, flag: &str) -> Option<String> {
        self.flags.remove(flag)
    }

    fn switch(&mut self, flag: &str) -> bool {
        self.flags.remove(flag).is_some()
    }

    fn number<T: std::str::FromStr>(&mut self, flag: &str, default: T) -> Result<T, Failure>
    where
        T::Err: std::fmt::Display,
    {
        match self.take(flag) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|error| usage(format!("--{flag} `{value}`: {error}; give a number"))),
        }
    }

    fn word(&self, at: usize, command: &str, what: &str) -> Result<String, Failure> {
        self.positional
            .get(at)
            .cloned()
            .ok_or_else(|| usage(format!("{command} needs {what}; see --help")))
    }

    fn finish(self, most_words: usize) -> Result<(), Failure> {
        if let Some(flag) = self.flags.keys().next() {
            return Err(usage(format!("unknown flag --{flag}; see --help")));
        }
        if let Some(extra) = self.positional.get(most_words) {
            return Err(usage(format!("unexpected argument `{extra}`; see --help")));
        }
        Ok(())
    }
}

/// Runs the command line `arguments` (without the program name) and
/// returns the exit code, printing answers on stdout and errors (one line)
/// on stderr.
pub fn main(arguments: Vec<String>) -> u8 {
    match run(arguments) {
        Ok(()) => EXIT_OK,
        Err(failure) => {
            eprintln!("tessera-kv: {}", failure.message);
            failure.code
        }
    }
}

fn run(arguments: Vec<String>) -> Result<(), Failure> {
    let mut arguments = parse(arguments)?;
    if arguments.switch("help") || arguments.positional.is_empty() {
        println!("{USAGE}");
        return Ok(());
    }
    let command = arguments.positional.remove(0);
    match command.as_str() {
        "demo" => demo(arguments),
        "serve" => serve(arguments),
        "get" | "put" | "cas" | "del" | "scan" => client(&command, arguments),
        "status" => status(arguments),
        other => Err(usage(format!(
            "unknown command `{other}`: use demo, serve, get, put, cas, del, scan or status (--help)"
        ))),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| operation(format!("cannot start the async runtime: {error}")))
}

fn protocol(arguments: &mut Arguments) -> Result<Backend, Failure> {
    let backend = Backend::parse(&arguments.take("protocol").unwrap_or_else(|| "raft".into()))
        .map_err(usage)?;
    Ok(backend)
}

fn demo(mut arguments: Arguments) -> Result<(), Failure> {
    let protocol = protocol(&mut arguments)?;
    let options = DemoOptions {
        protocol,
        // PBFT needs 3f + 1 nodes: four tolerate one Byzantine node.
        nodes: arguments.number("nodes", protocol.default_nodes())?,
        quick: arguments.switch("quick"),
        out: arguments.take("out").map(PathBuf::from),
        clients: arguments.number("clients", 6)?,
        progress: !arguments.switch("no-progress"),
    };
    arguments.finish(0)?;
    let runtime = runtime()?;
    let report = runtime.block_on(async {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nCtrl-C: stopping the workload and shutting the cluster down…");
                let _ = stop.send(true);
            }
        });
        run_demo(options, stopped).await
    });
    match report {
        Ok(report) => {
            println!("{}", report.render());
            if report.passed() {
                Ok(())
            } else {
                Err(operation(
                    "the demo did not pass (see the report above): the history was not shown linearizable or a node did not return to Target mode",
                ))
            }
        }
        Err(DemoError::Usage(message)) => Err(usage(message)),
        Err(DemoError::Interrupted) => Err(Failure {
            message: DemoError::Interrupted.to_string(),
            code: EXIT_INTERRUPTED,
        }),
        Err(error @ DemoError::Failed(_)) => Err(operation(error.to_string())),
    }
}

fn load_config(path: &str) -> Result<NodeConfig, Failure> {
    let config = NodeConfig::load(path).map_err(|error| {
        usage(format!(
            "{path}: {error}; fix the configuration file (`tessera-node init --dir DIR` writes valid ones)"
        ))
    })?;
    config.validate().map_err(|error| {
        usage(format!(
            "{path}: {error}; fix the configuration file (`tessera-node init --dir DIR` writes valid ones)"
        ))
    })?;
    Ok(config)
}

/// A start-up error, as one line saying what to do.
fn startup_failure(path: &str, config: &NodeConfig, error: &NetError) -> Failure {
    let one_line = |text: String| text.replace('\n', " ");
    let message = match error {
        NetError::Bind { field, .. } => format!(
            "{path}: {error}; the port is in use or not available: stop what uses it or choose another port in `{field}`"
        ),
        NetError::Storage(_) => format!(
            "{path}: data_dir {}: {error}; make the directory writable or set data_dir to a writable directory",
            config.data_dir.display()
        ),
        NetError::Certificate { field, .. } if field.starts_with("pbft") => format!(
            "{path}: {error}; fix `{field}` to name this node's PBFT key file (`tessera-node init --protocol pbft` writes them)"
        ),
        NetError::Certificate { field, .. } => {
            format!("{path}: {error}; fix `{field}` to name a readable PEM file of this cluster")
        }
        NetError::Config(config_error) => format!("{path}: {config_error}; fix that field"),
        other => format!("{path}: {other}; fix the configuration or the data directory"),
    };
    usage(one_line(message))
}

/// Whether `dir` can hold the node's files: created if missing, and
/// writable. Checked before the storage opens, for a clear error.
fn check_data_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|error| format!("cannot create it ({error})"))?;
    let probe = dir.join(".tessera-kv-write-test");
    std::fs::write(&probe, b"").map_err(|error| format!("cannot write in it ({error})"))?;
    std::fs::remove_file(&probe).map_err(|error| format!("cannot write in it ({error})"))
}

fn serve(mut arguments: Arguments) -> Result<(), Failure> {
    let protocol = protocol(&mut arguments)?;
    let path = arguments
        .take("config")
        .ok_or_else(|| usage("serve needs --config NODE.toml; see --help"))?;
    arguments.finish(0)?;
    let config = load_config(&path)?;
    check_data_dir(&config.data_dir).map_err(|reason| {
        usage(format!(
            "{path}: data_dir {}: {reason}; make it writable or set data_dir to a writable directory",
            config.data_dir.display()
        ))
    })?;
    runtime()?.block_on(async {
        match protocol {
            Backend::Paxos => {
                let node = start_kv_paxos_node(&config)
                    .await
                    .map_err(|error| startup_failure(&path, &config, &error))?;
                run_node(node, &config).await
            }
            Backend::Pbft => {
                let node = start_kv_pbft_node(&config)
                    .await
                    .map_err(|error| startup_failure(&path, &config, &error))?;
                run_node(node, &config).await
            }
            Backend::Raft => {
                let node = start_kv_node(&config)
                    .await
                    .map_err(|error| startup_failure(&path, &config, &error))?;
                run_node(node, &config).await
            }
        }
    })
}

/// Serves until the node stops or Ctrl-C.
async fn run_node<A: ProtocolAdapter>(
    mut node: RunningNode<A>,
    config: &NodeConfig,
) -> Result<(), Failure> {
    // Once started (a start-up error is one line of ours), the node's log
    // on stderr: mode changes with their triggers, refused peers, storage
    // failures; RUST_LOG filters it.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    println!(
        "tessera-kv node {} of cluster {} serving peers on {} and clients on {} (Ctrl-C stops)",
        config.node_id,
        config.cluster_id,
        node.peer_address(),
        node.client_address()
    );
    tokio::select! {
        result = node.wait() => result.map_err(|error| operation(format!("the node stopped: {error}; restart it (it recovers from its data directory)"))),
        _ = tokio::signal::ctrl_c() => {
            println!("shutting down");
            node.shutdown().await.map_err(|error| operation(error.to_string()))
        }
    }
}

/// The client's addresses and TLS, from a node's configuration or flags.
fn connection(arguments: &mut Arguments) -> Result<(Vec<String>, Option<ClientTls>), Failure> {
    let tls_failure = |error: NetError| usage(format!("{error}; check the certificate files"));
    if let Some(path) = arguments.take("config") {
        let config = load_config(&path)?;
        let tls = ClientTls::for_node(&config).map_err(tls_failure)?;
        return Ok((config.client_addresses(), tls));
    }
    let addresses: Vec<String> = arguments
        .take("connect")
        .ok_or_else(|| {
            usage("say which cluster: --config NODE.toml or --connect ADDR,ADDR,..; see --help")
        })?
        .split(',')
        .map(str::trim)
        .filter(|address| !address.is_empty())
        .map(str::to_string)
        .collect();
    if addresses.is_empty() {
        return Err(usage("--connect needs at least one ADDRESS:PORT"));
    }
    let tls = match arguments.take("ca") {
        None => None,
        Some(ca) => {
            let cluster = arguments
                .take("cluster")
                .ok_or_else(|| usage("--ca needs --cluster ID (the cluster's id)"))?;
            let identity = match (arguments.take("cert"), arguments.take("key")) {
                (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
                (None, None) => None,
                _ => return Err(usage("--cert and --key go together")),
            };
            Some(
                ClientTls::load(
                    &cluster,
                    Path::new(&ca),
                    identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
                )
                .map_err(tls_failure)?,
            )
        }
    };
    Ok((addresses, tls))
}

fn consistency(arguments: &mut Arguments) -> Result<ReadConsistency, Failure> {
    match (arguments.switch("lease"), arguments.take("stale-ms")) {
        (true, Some(_)) => Err(usage("--lease and --stale-ms exclude each other")),
        (true, None) => Ok(ReadConsistency::Lease),
        (false, Some(ms)) => Ok(ReadConsistency::Stale {
            max_staleness: Duration::from_millis(ms.parse().map_err(|error| {
                usage(format!("--stale-ms `{ms}`: {error}; give milliseconds"))
            })?),
        }),
        (false, None) => Ok(ReadConsistency::Linearizable),
    }
}

fn show(versioned: &Versioned) -> String {
    format!(
        "{} (version {})",
        String::from_utf8_lossy(&versioned.value),
        versioned.version
    )
}

fn kv_failure(error: KvError) -> Failure {
    operation(match error {
        KvError::NotDone(reason) => {
            format!("not done: {reason}; check the cluster with `tessera-kv status`")
        }
        KvError::Unknown(reason) => {
            format!("outcome unknown: {reason}; read the key back before retrying")
        }
    })
}

fn served(path: &str, staleness: Duration) -> String {
    if path == "stale" {
        format!(
            "[{path} read: reflects every write committed up to {} ms before it]",
            staleness.as_millis()
        )
    } else {
        format!("[{path} read: linearizable]")
    }
}

fn client(command: &str, mut arguments: Arguments) -> Result<(), Failure> {
    let (addresses, tls) = connection(&mut arguments)?;
    let read = consistency(&mut arguments)?;
    let limit: u32 = arguments.number("limit", 100)?;
    let timeout: u64 = arguments.number("timeout-ms", 5_000)?;
    let expect = arguments.take("expect");
    let expect_absent = arguments.switch("expect-absent");
    let key = |at| arguments.word(at, command, "a KEY");
    let (first, second) = match command {
        "put" => (key(0)?, Some(arguments.word(1, command, "a VALUE")?)),
        "cas" => (key(0)?, Some(arguments.word(1, command, "a NEW value")?)),
        "get" | "del" => (key(0)?, None),
        _ => (
            arguments.positional.first().cloned().unwrap_or_default(),
            arguments.positional.get(1).cloned(),
        ),
    };
    if command == "cas" && expect.is_some() == expect_absent {
        return Err(usage(
            "cas needs exactly one of --expect OLD and --expect-absent",
        ));
    }
    arguments.finish(2)?;
    let client =
        KvClient::new(addresses, tls, Duration::from_millis(timeout)).map_err(kv_failure)?;
    runtime()?.block_on(async {
        match command {
            "get" => {
                let answer = client.get(first.as_bytes(), read).await.map_err(kv_failure)?;
                match &answer.value {
                    Some(versioned) => println!("{} {}", show(versioned), served(answer.path, answer.staleness)),
                    None => println!("(absent) {}", served(answer.path, answer.staleness)),
                }
            }
            "put" => {
                let value = second.unwrap_or_default();
                let version = client
                    .put(first.as_bytes(), value.as_bytes())
                    .await
                    .map_err(kv_failure)?;
                println!("ok (version {version})");
            }
            "del" => {
                let version = client.delete(first.as_bytes()).await.map_err(kv_failure)?;
                println!("ok (version {version})");
            }
            "cas" => {
                let new = second.unwrap_or_default();
                let (swapped, version) = client
                    .compare_and_set(first.as_bytes(), expect.as_deref().map(str::as_bytes), new.as_bytes())
                    .await
                    .map_err(kv_failure)?;
                if swapped {
                    println!("swapped (version {version})");
                } else {
                    println!("not swapped: the key did not hold the expected value (decided at {version})");
                }
            }
            _ => {
                let answer = client
                    .scan(first.as_bytes(), second.as_deref().map(str::as_bytes), limit, read)
                    .await
                    .map_err(kv_failure)?;
                let (entries, truncated) = &answer.value;
                for (key, versioned) in entries {
                    println!("{} = {}", String::from_utf8_lossy(key), show(versioned));
                }
                println!(
                    "{} entr{}{} {}",
                    entries.len(),
                    if entries.len() == 1 { "y" } else { "ies" },
                    if *truncated { " (more follow: raise --limit or scan from the last key)" } else { "" },
                    served(answer.path, answer.staleness)
                );
            }
        }
        Ok(())
    })
}

fn status(mut arguments: Arguments) -> Result<(), Failure> {
    let (addresses, tls) = connection(&mut arguments)?;
    arguments.finish(0)?;
    let client =
        KvClient::new(addresses.clone(), tls, Duration::from_secs(3)).map_err(kv_failure)?;
    runtime()?.block_on(async {
        let mut replies = Vec::new();
        for address in &addresses {
            replies.push((address, client.cluster().status(address).await));
        }
        // Lag is measured against the highest commit index any node reports
        // (the leader's, when it answers).
        let commit_max = replies
            .iter()
            .filter_map(|(_, reply)| reply.as_ref().ok().map(|s| s.commit_index))
            .max()
            .unwrap_or(0);
        let mut reachable = 0;
        for (address, reply) in &replies {
            match reply {
                Ok(status) => {
                    reachable += 1;
                    let leader = status.leader_id.map_or("unknown".to_string(), |id| id.to_string());
                    let role = if status.leader_id == Some(status.node_id) {
                        format!("leader of term {}", status.term)
                    } else if status.leader_id.is_some() {
                        format!("follows node {leader} in term {}", status.term)
                    } else {
                        "no leader known: an election is under way".to_string()
                    };
                    println!(
                        "{address}: node {} [{}] mode {} term {} leader {} commit {} applied {} last log {} lag {} — {}",
                        status.node_id,
                        status.protocol,
                        status.mode,
                        status.term,
                        leader,
                        status.commit_index,
                        status.applied_index,
                        status.last_log_index,
                        commit_max.saturating_sub(status.applied_index),
                        role
                    );
                    for line in evidence_lines(status) {
                        println!("    {line}");
                    }
                }
                Err(error) => println!("{address}: unreachable: {error}"),
            }
        }
        if reachable == 0 {
            return Err(operation("no node answered; start the nodes (`tessera-kv serve --config NODE.toml`) or check --connect"));
        }
        Ok(())
    })
}

/// What `status` prints under a node's line: the evidence its `Status`
/// reply carries — the lease's time left, the last commit certificate, the
/// closed timestamp (absent: Raft keeps none) and every piece of evidence
/// the node holds.
fn evidence_lines(status: &tessera_net::proto::transport::StatusReply) -> Vec<String> {
    let is_leader = status.leader_id == Some(status.node_id);
    let mut lines = Vec::new();
    lines.push(match status.lease_remaining_ms {
        Some(left) => format!("lease: valid {left} ms more (leader's clock)"),
        None if is_leader => {
            "lease: none valid now (lease reads fall back to ReadIndex)".to_string()
        }
        None => "lease: none (only a leader holds one)".to_string(),
    });
    lines.push(match &status.commit_certificate {
        Some(certificate) => format!(
            "last commit certificate: index {} of term {}, held by nodes {}",
            certificate.index,
            certificate.term,
            certificate
                .voters
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None if is_leader => "last commit certificate: none yet".to_string(),
        None => "last commit certificate: none (only the leader holds one)".to_string(),
    });
    lines.push(match status.closed_timestamp_ns {
        Some(at) => format!(
            "closed timestamp: {} (node's clock)",
            tessera_core::Instant::from_nanos(at)
        ),
        None => format!("closed timestamp: absent ({} keeps none)", status.protocol),
    });
    if status.evidence.is_empty() {
        lines.push(format!(
            "evidence: none reported by the {} adapter",
            status.protocol
        ));
    }
    lines.extend(
        status
            .evidence
            .iter()
            .map(|evidence| format!("evidence: {evidence}")),
    );
    lines
}

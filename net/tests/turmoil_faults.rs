//! Partitions and crashes under turmoil: three Raft (or Multi-Paxos) nodes
//! run the real
//! tonic and rustls stacks over turmoil's simulated TCP, with durable
//! storage on tessera-storage's simulated disks (a crash keeps what was
//! synced plus a random, possibly torn, part of the rest). Three clients
//! write and read a few keys through a nemesis of partitions and crashes;
//! their history must be linearizable (tessera-sim's checker), so no
//! committed write is lost — the final reads, after the cluster heals, are
//! part of the history.
//!
//! `TESSERA_SEEDS=N` runs N seeds instead of the default two.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_core::{Instant, SeededRng};
use tessera_net::{
    CertificateAuthority, ClientAuth, ClientOutcome, ClientTls, ClusterClient, MapCommand,
    MapQuery, MapValue, Network, NodeConfig, PeerConfig, ReadConsistency, ReplicatedMap,
    RuntimeClock, TlsConfig, paxos_setup, raft_setup, start_node,
};
use tessera_sim::{History, KvModel, KvOp, LinearizabilityChecker, RegisterOp, RegisterRet};
use tessera_storage::{Codec, CrashKind, SimFs};

/// Simulated TCP from turmoil.
#[derive(Debug, Clone, Copy)]
struct TurmoilNetwork;

impl Network for TurmoilNetwork {
    type Stream = turmoil::net::TcpStream;
    type Listener = turmoil::net::TcpListener;

    async fn bind(&self, address: &str) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(address).await
    }

    fn local_address(&self, listener: &Self::Listener) -> io::Result<String> {
        Ok(listener.local_addr()?.to_string())
    }

    async fn accept(&self, listener: &Self::Listener) -> io::Result<(Self::Stream, String)> {
        let (stream, remote) = listener.accept().await?;
        Ok((stream, remote.to_string()))
    }

    async fn connect(&self, address: &str) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(address).await
    }

    async fn resolve(&self, _address: &str) -> io::Result<()> {
        // Host names are the simulation's; they resolve once it runs.
        Ok(())
    }
}

const NODES: u64 = 3;
const CLIENTS: u64 = 3;
const KEYS: [&str; 3] = ["x", "y", "z"];
const PEER_PORT: u16 = 7000;
const CLIENT_PORT: u16 = 8000;

type KvHistory = History<KvOp<String, u64>, RegisterRet<u64>>;

fn host(id: u64) -> String {
    format!("node{id}")
}

fn now() -> Instant {
    Instant::from_nanos(
        u64::try_from(turmoil::sim_elapsed().unwrap_or_default().as_nanos()).unwrap_or(u64::MAX),
    )
}

fn encode<T: Codec>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    value.encode(&mut bytes);
    bytes
}

struct Pki {
    ca: String,
    nodes: BTreeMap<u64, (String, String)>,
}

fn pki() -> Pki {
    let ca = CertificateAuthority::generate("sim").expect("a CA");
    let nodes = (1..=NODES)
        .map(|id| {
            let issued = ca.issue_node(id, &[]).expect("a certificate");
            (id, (issued.cert_pem, issued.key_pem))
        })
        .collect();
    Pki {
        ca: ca.cert_pem(),
        nodes,
    }
}

fn config(id: u64, dir: &std::path::Path) -> NodeConfig {
    let peers = (1..=NODES)
        .map(|peer| PeerConfig {
            id: peer,
            peer_address: format!("{}:{PEER_PORT}", host(peer)),
            client_address: format!("{}:{CLIENT_PORT}", host(peer)),
        })
        .collect();
    let mut config = NodeConfig::new("sim", id, dir.join(host(id)), peers);
    config.listen_peer = format!("0.0.0.0:{PEER_PORT}");
    config.listen_client = format!("0.0.0.0:{CLIENT_PORT}");
    config.client.request_timeout_ms = 2_000;
    config.transport.backoff_max_ms = 500;
    config.raft.snapshot_threshold_entries = 40;
    config.raft.snapshot_keep_entries = 10;
    config.paxos.snapshot_interval = 40;
    config
}

/// The protocol the nodes run.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Raft,
    Paxos,
}

/// One client's loop: writes of unique values and linearizable reads on a
/// few keys, recorded with Jepsen semantics.
async fn client_loop(
    client_id: u64,
    seed: u64,
    history: Arc<Mutex<KvHistory>>,
    tls: ClientTls,
    until: Duration,
) -> turmoil::Result {
    let addresses = (1..=NODES)
        .map(|id| format!("{}:{CLIENT_PORT}", host(id)))
        .collect();
    let client = ClusterClient::with_network(addresses, Some(tls), TurmoilNetwork)
        .with_timeout(Duration::from_secs(2));
    let mut rng = SeededRng::new(seed ^ client_id);
    // A client that saw an indeterminate outcome continues as a new
    // process: its old operation may still take effect.
    let mut process = client_id * 1_000_000;
    let mut next_value = client_id * 1_000_000_000;
    let record = |input, outcome: Result<Option<RegisterRet<u64>>, bool>, process, invoked| {
        let mut history = history.lock().expect("the history");
        let id = history
            .invoke(process, input, invoked)
            .expect("one operation per process");
        match outcome {
            Ok(Some(output)) => history.ok(id, output, now()).expect("ok"),
            Ok(None) | Err(false) => history.fail(id, now()).expect("fail"),
            Err(true) => history.info(id, now()).expect("info"),
        }
    };
    while turmoil::sim_elapsed().unwrap_or_default() < until {
        let key = KEYS[rng.below(KEYS.len() as u64) as usize];
        let invoked = now();
        if rng.below(2) == 0 {
            next_value += 1;
            let value = next_value;
            let command = MapCommand::Put {
                key: key.as_bytes().to_vec(),
                value: value.to_string().into_bytes(),
            };
            // Ok(Some): applied; Ok(None)/Err(false): definitely not;
            // Err(true): unknown.
            let outcome = match client.propose(encode(&command)).await {
                Ok(ClientOutcome::Applied { .. }) => Ok(Some(RegisterRet::Done)),
                Ok(ClientOutcome::NotLeader { .. } | ClientOutcome::Refused { .. }) => Ok(None),
                Err(tessera_net::NetError::Connect { .. }) => Err(false),
                Ok(_) | Err(_) => Err(true),
            };
            let indeterminate = outcome == Err(true);
            record(
                KvOp {
                    key: key.to_string(),
                    op: RegisterOp::Write(value),
                },
                outcome,
                process,
                invoked,
            );
            if indeterminate {
                process += 1;
            }
        } else {
            let query = encode(&MapQuery {
                key: key.as_bytes().to_vec(),
            });
            let outcome = match client.read(query, ReadConsistency::Linearizable).await {
                Ok(ClientOutcome::Read { output, .. }) => {
                    let value = MapValue::decode(&output).expect("a map value").0;
                    let value = value.map(|bytes| {
                        String::from_utf8(bytes)
                            .expect("utf-8")
                            .parse::<u64>()
                            .expect("a number")
                    });
                    Ok(Some(RegisterRet::Read(value)))
                }
                // A read changes nothing: whatever went wrong, it failed.
                _ => Ok(None),
            };
            record(
                KvOp {
                    key: key.to_string(),
                    op: RegisterOp::Read,
                },
                outcome,
                process,
                invoked,
            );
        }
        tokio::time::sleep(Duration::from_millis(5 + rng.below(20))).await;
    }
    // The cluster has healed: every key is read until a read succeeds, so
    // a committed write that was lost would show as a stale value.
    for key in KEYS {
        for _ in 0..100 {
            let invoked = now();
            let query = encode(&MapQuery {
                key: key.as_bytes().to_vec(),
            });
            if let Ok(ClientOutcome::Read { output, .. }) =
                client.read(query, ReadConsistency::Linearizable).await
            {
                let value = MapValue::decode(&output)
                    .expect("a map value")
                    .0
                    .map(|bytes| {
                        String::from_utf8(bytes)
                            .expect("utf-8")
                            .parse::<u64>()
                            .expect("a number")
                    });
                record(
                    KvOp {
                        key: key.to_string(),
                        op: RegisterOp::Read,
                    },
                    Ok(Some(RegisterRet::Read(value))),
                    process,
                    invoked,
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Runs one seed; returns what happened, for the log.
fn run_seed(protocol: Protocol, seed: u64) -> String {
    let dir = tempfile::tempdir().expect("a directory");
    let pki = pki();
    let disks: Rc<RefCell<BTreeMap<u64, SimFs>>> = Rc::new(RefCell::new(
        (1..=NODES).map(|id| (id, SimFs::new())).collect(),
    ));
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(120))
        .rng_seed(seed)
        .build();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("a directory");
    let write = |name: String, text: &str| {
        let path = certs.join(name);
        std::fs::write(&path, text).expect("write a PEM file");
        path
    };
    let ca_path = write("ca.pem".into(), &pki.ca);
    for id in 1..=NODES {
        let mut config = config(id, dir.path());
        let (cert, key) = &pki.nodes[&id];
        config.tls = Some(TlsConfig {
            ca_cert: ca_path.clone(),
            cert: write(format!("node-{id}.pem"), cert),
            key: write(format!("node-{id}.key"), key),
            client_auth: ClientAuth::None,
        });
        let disks = Rc::clone(&disks);
        sim.host(host(id), move || {
            let config = config.clone();
            let disk = disks.borrow()[&id].clone();
            async move {
                // The node's storage is on its simulated disk; its clock
                // reads simulated time (the same on every host).
                let clock = RuntimeClock::anchored_at(now() + Duration::from_secs(1_000_000));
                match protocol {
                    Protocol::Raft => {
                        let setup =
                            raft_setup(&config, ReplicatedMap::default(), Arc::new(disk), clock)?;
                        let mut node = start_node(&config, setup, TurmoilNetwork).await?;
                        node.wait().await?;
                    }
                    Protocol::Paxos => {
                        let setup =
                            paxos_setup(&config, ReplicatedMap::default(), Arc::new(disk), clock)?;
                        let mut node = start_node(&config, setup, TurmoilNetwork).await?;
                        node.wait().await?;
                    }
                }
                Ok(())
            }
        });
    }
    let history: Arc<Mutex<KvHistory>> = Arc::new(Mutex::new(History::new()));
    let faults_until = Duration::from_secs(16);
    for client_id in 1..=CLIENTS {
        let history = Arc::clone(&history);
        let tls = ClientTls::from_pem("sim", &pki.ca, None).expect("client TLS");
        sim.client(format!("client{client_id}"), async move {
            client_loop(
                client_id,
                seed,
                history,
                tls,
                faults_until + Duration::from_secs(4),
            )
            .await
        });
    }

    // The nemesis, on the simulation's clock.
    let mut rng = SeededRng::new(seed);
    let mut crashed: Option<u64> = None;
    let (mut crashes, mut partitions) = (0, 0);
    let mut partitioned: Option<(u64, u64)> = None;
    let mut next_fault = Duration::from_secs(2);
    loop {
        let finished = sim.step().expect("no host fails");
        if finished {
            break;
        }
        let elapsed = sim.elapsed();
        if elapsed < next_fault {
            continue;
        }
        next_fault = elapsed + Duration::from_millis(1_000 + rng.below(2_000));
        // Heal whatever is broken, then (until the faults end) break
        // something else.
        if let Some((a, b)) = partitioned.take() {
            sim.repair(host(a), host(b));
        }
        if let Some(id) = crashed.take() {
            sim.bounce(host(id));
        }
        if elapsed >= faults_until {
            continue;
        }
        let victim = 1 + rng.below(NODES);
        if rng.below(2) == 0 {
            // Isolate the victim from one other node (and maybe both).
            let other = 1 + (victim + rng.below(NODES - 1)) % NODES;
            sim.partition(host(victim), host(other));
            partitioned = Some((victim, other));
            partitions += 1;
        } else {
            sim.crash(host(victim));
            let mut disks = disks.borrow_mut();
            let disk = disks.get_mut(&victim).expect("a disk");
            *disk = disk.crash(CrashKind::PowerLoss {
                seed: rng.next_u64(),
            });
            crashed = Some(victim);
            crashes += 1;
        }
    }

    // Final reads through a healed cluster belong to the history too: a
    // write acknowledged and then lost would show up as a stale read here.
    let history = std::mem::take(&mut *history.lock().expect("the history"));
    let summary = history.summary();
    let report = LinearizabilityChecker::new(KvModel::<String, u64>::new()).check(&history);
    assert!(
        report.is_linearizable(),
        "{protocol:?} seed {seed}: not linearizable: {report:?}\n{summary:?}"
    );
    let oks = history
        .operations()
        .iter()
        .filter(|op| matches!(op.outcome, tessera_sim::Outcome::Ok(RegisterRet::Done)))
        .count();
    assert!(
        oks > 20,
        "seed {seed}: only {oks} writes succeeded: {summary:?}"
    );
    assert!(crashes + partitions >= 4, "seed {seed}: too few faults");

    // The check has teeth: the same history with one read's value changed
    // to one never written is refused.
    let mut tampered = History::new();
    let mut changed = false;
    for op in history.operations() {
        let id = tampered
            .invoke(op.process, op.input.clone(), op.invoked_at)
            .expect("invoke");
        let at = op.completed_at.unwrap_or(op.invoked_at);
        match &op.outcome {
            tessera_sim::Outcome::Ok(RegisterRet::Read(Some(_))) if !changed => {
                changed = true;
                tampered
                    .ok(id, RegisterRet::Read(Some(u64::MAX)), at)
                    .expect("ok");
            }
            tessera_sim::Outcome::Ok(output) => tampered.ok(id, output.clone(), at).expect("ok"),
            tessera_sim::Outcome::Fail => tampered.fail(id, at).expect("fail"),
            tessera_sim::Outcome::Info | tessera_sim::Outcome::Pending => {
                tampered.info(id, at).expect("info")
            }
        }
    }
    assert!(changed, "seed {seed}: no read saw a value");
    let report = LinearizabilityChecker::new(KvModel::<String, u64>::new()).check(&tampered);
    assert!(
        !report.is_linearizable(),
        "seed {seed}: a tampered history passed"
    );
    format!("{summary} ({crashes} crashes, {partitions} partitions)")
}

fn seeds() -> u64 {
    std::env::var("TESSERA_SEEDS")
        .ok()
        .and_then(|seeds| seeds.parse().ok())
        .unwrap_or(2)
}

#[test]
fn partitions_and_crashes_keep_the_history_linearizable() {
    for seed in 1..=seeds() {
        let summary = run_seed(Protocol::Raft, seed);
        eprintln!("seed {seed}: linearizable: {summary}");
    }
}

#[test]
fn multi_paxos_under_partitions_and_crashes_keeps_the_history_linearizable() {
    for seed in 1..=seeds() {
        let summary = run_seed(Protocol::Paxos, seed);
        eprintln!("Multi-Paxos seed {seed}: linearizable: {summary}");
    }
}

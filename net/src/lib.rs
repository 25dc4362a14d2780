//! # tessera-net: Tessera's protocols, for real
//!
//! The protocol crates are sans-IO state machines. This crate runs one
//! node of any of them on tokio — real timers, real disks, real sockets —
//! and connects nodes in separate processes and on separate hosts with a
//! gRPC transport (tonic and prost) over mutual TLS (rustls with the ring
//! provider). It adds a client API, metrics, one typed configuration, a
//! node binary (`tessera-node`) and a test certificate authority.
//!
//! The pieces:
//!
//! - the **runtime** ([`start_node`], [`LocalCluster`]) drives any
//!   [`Protocol`](tessera_core::Protocol): it turns the node's
//!   `next_deadline()` into a timer, persists every write through a
//!   [`DurableStore`] on the node's own disk thread, sends messages through
//!   bounded per-peer queues, hands replies back to waiting clients and
//!   publishes mode changes ([`NodeHandle`]);
//! - a per-protocol **adapter** ([`ProtocolAdapter`], with its
//!   [`WireCodec`]) says how the protocol's messages look on the wire, how
//!   client requests map onto its requests, and what it reports —
//!   [`RaftAdapter`] for Raft, with [`RaftStore`] mapping Raft's writes onto
//!   a `DurableLog` and a `SnapshotDir` ([`raft_setup`]); [`PaxosAdapter`]
//!   for Multi-Paxos (tessera-paxos's `MultiPaxos`), with [`PaxosStore`]
//!   keeping its acceptor log, hard state and snapshots the same way and
//!   giving a restarting node the image it boots from ([`paxos_setup`],
//!   tuned by [`PaxosSettings`]); [`PbftAdapter`] for PBFT (tessera-pbft's
//!   `Gateway`: every node a replica and its clients' gateway), with
//!   [`PbftStore`] keeping the journal, checkpoints and reserved
//!   timestamps ([`pbft_setup`], tuned by [`PbftSettings`], its keys from
//!   [`write_pbft_keys`] files);
//! - the **transport**: each node streams envelopes to each peer over a
//!   long-lived HTTP/2 stream per lane (ordinary messages; snapshot chunks
//!   on their own), reconnecting with back-off, with keep-alive pings;
//! - the **client API**: `Propose`, `Read` (linearizable through a quorum
//!   round — Raft's ReadIndex, Multi-Paxos's barrier slot, PBFT's total
//!   order — or the leader's lease, or stale within a bound) and `Status`,
//!   answering "not leader, try N at this address" ([`ClusterClient`]
//!   follows those redirects; under PBFT every node answers, and the
//!   answer is as trustworthy as that node — see [`PbftAdapter`]).
//!
//! ## What it guards
//!
//! - **NOTHING ACKNOWLEDGED BEFORE IT IS DURABLE.** The node keeps the
//!   protocol's durability rule (votes, acknowledgements and replies wait
//!   for [`Input::Persisted`](tessera_core::Input::Persisted)); the runtime
//!   keeps its half: it reports a write persisted only after the
//!   `fdatasync` covering it has returned (storage's `DurableTicket`), and
//!   only in order. The executor never blocks on a sync: writes go to the
//!   node's disk thread and durability comes back through a callback.
//! - **ONLY AUTHENTICATED PEERS.** With TLS configured, a node's identity is
//!   its certificate: a peer must present a certificate issued by the
//!   cluster's CA that names the node id it claims
//!   (`node-<id>.<cluster>.tessera`), of this cluster and protocol, or its
//!   connection or envelope is refused — logged with the remote address and
//!   counted ([`Refusal`]). A node dialing a peer checks the peer's
//!   certificate names that peer.
//! - **BOUNDED MEMORY.** Every queue has a named bound: per peer and lane
//!   ([`TransportConfig::peer_queue_messages_max`], dropping the oldest
//!   message and counting it — a slow or absent peer never makes the node
//!   wait), inbound batches (back-pressure through HTTP/2 flow control),
//!   pending client requests (refused as overloaded beyond the bound),
//!   message sizes ([`TransportConfig::message_bytes_max`], larger ones
//!   refused with an error).
//! - **BAD INPUT IS AN ERROR, NEVER A PANIC.** Malformed or oversized
//!   protobuf from a peer or a client gets an error response; the decoders
//!   are fuzzed (`net/fuzz`).
//!
//! ## Evidence
//!
//! The protocol's own evidence (Raft's commit certificates, leases, term
//! and vote; Multi-Paxos's promise, promise and commit certificates and
//! leases) is unchanged; the transport adds **peer identity**: the
//! certificate chain verified by the TLS handshake and the identity name
//! checked against every envelope's sender. Durability acknowledgements
//! are storage's `DurableTicket`s. The client `Status` reply carries the
//! evidence a node holds ([`ProtocolAdapter::evidence`], an
//! [`EvidenceReport`]): the leader's lease and its time left, the last
//! commit certificate with the voters behind it, the closed timestamp
//! where the protocol keeps one (Raft does not), and one line per piece
//! of evidence.
//!
//! ## Modes
//!
//! The node's modes are its protocol's (Raft's `RaftMode` matrix,
//! Multi-Paxos's `PaxosMode`, PBFT's `PbftMode`): every
//! transition is logged with its trigger, exported as the
//! `tessera_node_mode` gauge and published on
//! [`NodeHandle::subscribe_modes`]. The runtime adds one stop: if a write
//! or sync fails, the node stops ([`NetError::StorageFailed`]), as a crash
//! would, and restarts from what is on disk.
//!
//! ## Example
//!
//! Three Raft nodes replicating a [`ReplicatedMap`] over gRPC on loopback,
//! each with its own durable storage, then a client proposing and reading
//! (without TLS here; `docs/running.md` shows the deployment with it):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tessera_net::*;
//! use tessera_storage::{Codec, StdFs};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! tokio::runtime::Runtime::new()?.block_on(async {
//!     // Bind every node's ports first (port 0: the system picks).
//!     let mut listeners = Vec::new();
//!     for _ in 1..=3 {
//!         listeners.push(Listeners::bind(&TokioNetwork, "127.0.0.1:0", "127.0.0.1:0").await?);
//!     }
//!     let peers: Vec<PeerConfig> = listeners
//!         .iter()
//!         .zip(1..)
//!         .map(|(l, id)| PeerConfig {
//!             id,
//!             peer_address: l.peer_address().into(),
//!             client_address: l.client_address().into(),
//!         })
//!         .collect();
//!     let mut nodes = Vec::new();
//!     for (listeners, id) in listeners.into_iter().zip(1..) {
//!         let config = NodeConfig::new("demo", id, dir.path().join(format!("node{id}")), peers.clone());
//!         let setup = raft_setup(&config, ReplicatedMap::default(), Arc::new(StdFs), RuntimeClock::new())?;
//!         nodes.push(start_node_with(&config, setup, TokioNetwork, listeners).await?);
//!     }
//!
//!     // A client finds the leader by following redirects.
//!     let client = ClusterClient::new(peers.iter().map(|p| p.client_address.clone()).collect(), None);
//!     let mut put = Vec::new();
//!     MapCommand::Put { key: b"hello".to_vec(), value: b"world".to_vec() }.encode(&mut put);
//!     let mut outcome = client.propose(put.clone()).await?;
//!     while let ClientOutcome::NotLeader { .. } = outcome {
//!         tokio::time::sleep(Duration::from_millis(50)).await; // still electing
//!         outcome = client.propose(put.clone()).await?;
//!     }
//!     assert!(matches!(outcome, ClientOutcome::Applied { .. }), "{outcome:?}");
//!
//!     let read = client.read(b"hello".to_vec(), ReadConsistency::Linearizable).await?;
//!     let ClientOutcome::Read { output, .. } = read else { panic!("{read:?}") };
//!     assert_eq!(MapValue::decode(&output)?, MapValue(Some(b"world".to_vec())));
//!
//!     for node in nodes {
//!         node.shutdown().await?;
//!     }
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! The node binary (`cargo run -p tessera-net --bin tessera-node -- --help`)
//! runs the same from a TOML file, and makes the certificates:
//! `docs/running.md` walks through a three-node cluster on one machine.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod adapter;
mod certificate_authority;
mod client_service;
mod cluster_client;
mod config;
mod connection;
mod durable_store;
mod error;
mod local_cluster;
mod network;
mod node_handle;
mod observability;
mod partition;
mod paxos_adapter;
mod paxos_setup;
mod paxos_store;
mod paxos_wire;
mod pbft_adapter;
mod pbft_keys;
mod pbft_setup;
mod pbft_store;
mod peer_directory;
mod peer_link;
mod peer_queue;
mod peer_service;
mod raft_adapter;
mod raft_setup;
mod raft_store;
mod raft_wire;
mod replicated_map;
mod running_node;
mod runtime;
mod runtime_clock;
mod tls;
mod wire;

/// The wire types, generated from `net/proto/*.proto` at build time (by
/// protox and tonic-prost-build: no system `protoc`).
pub mod proto {
    /// `tessera.net.v1`: envelopes between nodes, the peer and client
    /// services.
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod transport {
        tonic::include_proto!("tessera.net.v1");
    }

    /// `tessera.raft.v1`: Raft's messages.
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod raft {
        tonic::include_proto!("tessera.raft.v1");
    }

    /// `tessera.paxos.v1`: Multi-Paxos's messages.
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod paxos {
        tonic::include_proto!("tessera.paxos.v1");
    }
}

pub use adapter::{
    CertificateReport, ClientOutcome, EvidenceReport, FollowerReport, InvalidRequest, ModeOf,
    NodeStatus, ProtocolAdapter, ReadConsistency, RequestOf, ResponseOf, WriteOf,
    describe_evidence,
};
pub use certificate_authority::{CertificateAuthority, IssuedCertificate};
pub use client_service::PROPOSE_BATCH_COMMANDS_MAX;
pub use cluster_client::{CLIENT_ATTEMPTS_MAX, ClusterClient, PROPOSE_BATCHES_IN_FLIGHT_MAX, dial};
pub use config::{
    ClientAuth, ClientConfig, ConfigError, NodeConfig, PaxosSettings, PbftSettings, PeerConfig,
    RaftSettings, TlsConfig, TransportConfig,
};
pub use durable_store::{DurableStore, WRITE_BATCHES_QUEUED_MAX};
pub use error::{NetError, Refusal};
pub use local_cluster::LocalCluster;
pub use network::{Network, TokioNetwork};
pub use node_handle::NodeHandle;
pub use observability::{
    METRIC_APPLIED_INDEX, METRIC_APPLY_LAG, METRIC_CLIENT_REQUESTS, METRIC_COMMIT_INDEX,
    METRIC_COMMIT_LATENCY, METRIC_IS_LEADER, METRIC_LAST_LOG_INDEX, METRIC_MESSAGES_DROPPED,
    METRIC_MESSAGES_RECEIVED, METRIC_MESSAGES_SENT, METRIC_MODE, METRIC_NAMES,
    METRIC_PEER_CONNECT_FAILURES, METRIC_PEER_CONNECTS, METRIC_PEER_REFUSALS,
    METRIC_REPLICATION_LAG, METRIC_TERM, METRIC_WRITE_BATCHES, METRIC_WRITES,
};
pub use partition::{PartitionSwitch, PartitionedNetwork, PartitionedStream};
pub use paxos_adapter::{PaxosAdapter, PaxosApplication};
pub use paxos_setup::{paxos_setup, start_paxos_node};
pub use paxos_store::PaxosStore;
pub use pbft_adapter::{PbftAdapter, PbftApplication, PbftMachine};
pub use pbft_keys::{PbftKeys, load_pbft_keys, pbft_keys_file_name, write_pbft_keys};
pub use pbft_setup::{pbft_setup, start_pbft_node};
pub use pbft_store::PbftStore;
pub use raft_adapter::{RaftAdapter, RaftApplication};
pub use raft_setup::{raft_setup, start_raft_node};
pub use raft_store::{RaftStore, SNAPSHOTS_KEPT};
pub use replicated_map::{MapCommand, MapOutput, MapQuery, MapValue, ReplicatedMap};
pub use running_node::{Listeners, NodeSetup, RunningNode, start_node, start_node_with};
pub use runtime::RuntimeOptions;
pub use runtime_clock::RuntimeClock;
pub use tls::{
    ClientTls, NodeTls, client_identity_name, cluster_identity_name, node_identity_name,
};
pub use wire::{Lane, WireCodec, WireError};

/// Decodes `bytes` as a peer would receive them — an envelope, then each
/// message in it as a Raft message, as a Multi-Paxos message of
/// [`ReplicatedMap`] commands and as a PBFT envelope (four replicas'
/// limits) — and re-encodes what decodes, checking it
/// decodes to the same. For the fuzz targets and their corpus test: it
/// must never panic.
///
/// # Panics
///
/// If a decoded message does not survive re-encoding (a codec bug).
pub fn fuzz_peer_decoders(bytes: &[u8]) {
    use prost::Message as _;
    fn check<A: WireCodec<Message: PartialEq + std::fmt::Debug>>(adapter: &A, bytes: &[u8]) {
        if let Ok(message) = adapter.decode(bytes) {
            let mut encoded = Vec::new();
            adapter.encode(&message, &mut encoded);
            let again = adapter.decode(&encoded);
            assert_eq!(
                again.as_ref().ok(),
                Some(&message),
                "re-encoding changed the message"
            );
        }
    }
    let raft = RaftAdapter::<ReplicatedMap>::new();
    let paxos = PaxosAdapter::<ReplicatedMap>::new();
    let pbft = PbftAdapter::<ReplicatedMap>::new(
        tessera_pbft::PbftConfig::new([1, 2, 3, 4]).expect("four replicas tolerate one fault"),
    );
    check(&raft, bytes);
    check(&paxos, bytes);
    check(&pbft, bytes);
    if let Ok(envelope) = proto::transport::Envelope::decode(bytes) {
        for message in &envelope.messages {
            check(&raft, message);
            check(&paxos, message);
            check(&pbft, message);
        }
    }
}

/// Decodes `bytes` as every client-facing message the client port accepts
/// (and the replies a client reads), for the fuzz targets: it must never
/// panic.
pub fn fuzz_client_decoders(bytes: &[u8]) {
    use prost::Message as _;
    use tessera_storage::Codec;
    let _ = proto::transport::ProposeRequest::decode(bytes)
        .map(|request| MapCommand::decode(&request.command));
    let _ = proto::transport::ReadRequest::decode(bytes);
    let _ = proto::transport::ClientReply::decode(bytes);
    let _ = proto::transport::Hello::decode(bytes);
    let _ = MapCommand::decode(bytes);
    let _ = MapValue::decode(bytes);
}

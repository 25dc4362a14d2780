//! # tessera-kv: a replicated key-value service
//!
//! Get, put, delete, compare-and-set and range scans, replicated by Raft,
//! Multi-Paxos or PBFT on tessera-net's runtime (gRPC over mutual TLS, durable
//! storage on each node's disk), with every write's version an HLC
//! timestamp (tessera-hlc). It is built only from the other crates' public
//! APIs: [`KvStore`] is a `tessera_raft::StateMachine`, a
//! `tessera_paxos::multi::StateMachine` and a `tessera_net::PbftApplication`,
//! served by `tessera_net::raft_setup`, `paxos_setup` or `pbft_setup` and
//! `start_node`; [`KvClient`] wraps `tessera_net::ClusterClient`.
//!
//! The `tessera-kv` binary has `serve` (one node from a tessera-net
//! configuration file), the client commands `get` / `put` / `cas` / `del`
//! / `scan`, `status`, and `demo`: a cluster on loopback, a mixed workload,
//! a leader crash and a partitioned follower, and at the end a linearizability
//! check of the whole client history with tessera-sim's checker
//! (`cargo run --release -p tessera-kv -- demo`; `docs/kv.md` tells more).
//!
//! ## What it guards
//!
//! - **LINEARIZABILITY** of get, put, delete and compare-and-set: writes
//!   are committed through the Raft log (or chosen in a Multi-Paxos slot,
//!   or committed by 2f + 1 PBFT replicas and executed) before they are
//!   answered; reads are served by the leader after a quorum round (Raft's
//!   ReadIndex, Multi-Paxos's barrier slot) or under its lease, or under
//!   PBFT ordered and executed like writes. The demo checks it on every run, over real sockets and disks.
//! - **NOTHING ACKNOWLEDGED BEFORE IT IS DURABLE** on a quorum's disks
//!   (tessera-net's runtime: a write is acknowledged only after its
//!   `fdatasync`).
//! - **MONOTONIC VERSIONS**: a write's version is
//!   `max(client's HLC stamp, the previous version's successor)`, so versions
//!   increase strictly in log (and linearization) order, never trail the
//!   writer's clock, and are the same on every replica.
//! - **HONEST OUTCOMES**: an answer is definite ([`KvError::NotDone`]: it
//!   did not happen, retry freely) or says it is unknown
//!   ([`KvError::Unknown`]: it may have happened). A write with an unknown
//!   outcome is never resent.
//! - **BOUNDED STALENESS** for follower reads (`--stale-ms N`): a node
//!   answers only if it heard from its leader within the bound, and the
//!   answer states how stale it may be.
//!
//! ## Evidence
//!
//! Raft's: the term and vote behind a leader, commit certificates (a quorum
//! of durable acknowledgements) behind every answered write, the leader's
//! lease (its expiry on the leader's clock) behind lease reads; the
//! transport's: peer identities checked against certificates. `status`
//! shows each node's mode, term, leader, commit index and lag; the demo's
//! final status adds the leader's remaining lease.
//!
//! ## Modes
//!
//! A node's modes are Raft's (`tessera_raft::RaftMode`): `Leading` and
//! `Following` are Target modes (full guarantees); `Degraded` (a leader
//! without a lease: reads take a quorum round), `Recovery` (an election or
//! catch-up: requests redirected or refused) and `Bootstrap` are not. The
//! demo prints every transition with its trigger and charts them.
//!
//! The backend is chosen at start: Raft (the default), Multi-Paxos
//! (`--protocol paxos`, [`start_kv_paxos_node`]) or PBFT (`--protocol
//! pbft`, [`start_kv_pbft_node`]), with the same client API; under
//! Multi-Paxos the modes are `PaxosMode`'s (`stable-leader` is the Target
//! mode), under PBFT `PbftMode`'s (`normal` is the Target mode). Under
//! PBFT, every node answers clients as their gateway (no redirects), reads
//! are ordered like writes (PBFT has no leases), and the cluster tolerates
//! `f` Byzantine nodes out of `3f + 1`; an answer is as trustworthy as the
//! node that gave it.
//!
//! ## Example
//!
//! A three-node cluster in this process (no TLS here; the demo uses it),
//! then a client:
//!
//! ```
//! use std::time::Duration;
//! use tessera_kv::{KvClient, start_kv_node};
//! use tessera_net::{Listeners, NodeConfig, PeerConfig, ReadConsistency, TokioNetwork};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! tokio::runtime::Runtime::new()?.block_on(async {
//!     // Free ports first, then each node's configuration.
//!     let mut peers = Vec::new();
//!     for id in 1..=3 {
//!         let ports = Listeners::bind(&TokioNetwork, "127.0.0.1:0", "127.0.0.1:0").await?;
//!         peers.push(PeerConfig {
//!             id,
//!             peer_address: ports.peer_address().into(),
//!             client_address: ports.client_address().into(),
//!         });
//!     }
//!     let mut nodes = Vec::new();
//!     for id in 1..=3 {
//!         let config = NodeConfig::new("example", id, dir.path().join(format!("n{id}")), peers.clone());
//!         nodes.push(start_kv_node(&config).await?);
//!     }
//!     let addresses = peers.iter().map(|p| p.client_address.clone()).collect();
//!     let client = KvClient::new(addresses, None, Duration::from_secs(10))?;
//!     let version = client.put(b"greeting", b"hello").await?;
//!     let (swapped, _) = client.compare_and_set(b"greeting", Some(b"hello"), b"hi").await?;
//!     assert!(swapped);
//!     let read = client.get(b"greeting", ReadConsistency::Linearizable).await?;
//!     let value = read.value.expect("present");
//!     assert_eq!(value.value, b"hi");
//!     assert!(value.version > version);
//!     let (entries, _) = client.scan(b"", None, 10, ReadConsistency::Linearizable).await?.value;
//!     assert_eq!(entries.len(), 1);
//!     for node in nodes {
//!         node.shutdown().await?;
//!     }
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod chart;
pub mod cli;
mod client;
pub mod demo;
mod store;

pub use client::{KvClient, KvError, ReadAnswer};
pub use demo::{Backend, DemoError, DemoOptions, DemoReport, run_demo};
pub use store::{KvAnswer, KvCommand, KvOutput, KvQuery, KvStore, SCAN_LIMIT_MAX, Versioned};

/// A running tessera-kv node replicating by Raft.
pub type KvNode = tessera_net::RunningNode<tessera_net::RaftAdapter<KvStore>>;

/// A running tessera-kv node replicating by Multi-Paxos.
pub type KvPaxosNode = tessera_net::RunningNode<tessera_net::PaxosAdapter<KvStore>>;

/// A running tessera-kv node replicating by PBFT.
pub type KvPbftNode = tessera_net::RunningNode<tessera_net::PbftAdapter<KvStore>>;

/// Starts one tessera-kv node as `config` (tessera-net's node
/// configuration) describes: its storage under `config.data_dir`, restored
/// from what is there, serving peers and clients on the configured
/// addresses.
///
/// # Errors
///
/// As `tessera_net::start_raft_node`: a bad configuration, unusable
/// storage or certificates, an address that cannot be bound.
pub async fn start_kv_node(
    config: &tessera_net::NodeConfig,
) -> Result<KvNode, tessera_net::NetError> {
    tessera_net::start_raft_node(config, KvStore::default()).await
}

/// Starts one tessera-kv node replicating by Multi-Paxos (`--protocol
/// paxos`), as `config` describes (its Multi-Paxos tuning in
/// `config.paxos`); otherwise as [`start_kv_node`]. Every node of a
/// cluster must run the same protocol: a node refuses peers of another.
///
/// # Errors
///
/// As `tessera_net::start_paxos_node`: a bad configuration, unusable
/// storage or certificates, an address that cannot be bound.
pub async fn start_kv_paxos_node(
    config: &tessera_net::NodeConfig,
) -> Result<KvPaxosNode, tessera_net::NetError> {
    tessera_net::start_paxos_node(config, KvStore::default()).await
}

/// Starts one tessera-kv node replicating by PBFT (`--protocol pbft`), as
/// `config` describes (its PBFT tuning and its key file in `config.pbft`;
/// `tessera-node init --protocol pbft` writes both); otherwise as
/// [`start_kv_node`]. A PBFT cluster needs `3f + 1` nodes to tolerate `f`
/// Byzantine ones: four for one.
///
/// Every node serves clients as their gateway: it orders their operations
/// through PBFT and answers with its own replica's result, which is
/// correct if that node is (see `tessera_net::PbftAdapter`).
///
/// # Errors
///
/// As `tessera_net::start_pbft_node`: a bad configuration, missing or
/// invalid keys, unusable storage or certificates, an address that cannot
/// be bound.
pub async fn start_kv_pbft_node(
    config: &tessera_net::NodeConfig,
) -> Result<KvPbftNode, tessera_net::NetError> {
    tessera_net::start_pbft_node(config, KvStore::default()).await
}

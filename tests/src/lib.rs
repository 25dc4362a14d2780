//! # tessera-tests: cross-crate tests and the guide's examples
//!
//! Tests that need more than one Tessera crate live here, in `tests/`: how
//! the crates compose, and the laws every crate's mode matrix obeys.
//!
//! The guide's chapters are included below as documentation, so every Rust
//! code block in `docs/` is compiled and run by `cargo test` as a doc-test:
//! the guide cannot drift from the code.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

/// The guide's chapter on invariants, evidence, modes and guarantee vectors.
#[doc = include_str!("../../docs/concepts.md")]
pub mod concepts {}

/// The guide's chapter on the simulator and the linearizability checker.
#[doc = include_str!("../../docs/simulation.md")]
pub mod simulation {}

/// The guide's chapter on quorum systems and leaderless replication.
#[doc = include_str!("../../docs/quorum.md")]
pub mod quorum {}

/// The guide's chapter on conflict-free replication: CRDTs and delta sync.
#[doc = include_str!("../../docs/replication-crdt.md")]
pub mod replication_crdt {}

/// The guide's chapter on running Jepsen's Maelstrom against Tessera.
#[doc = include_str!("../../docs/maelstrom.md")]
pub mod maelstrom {}

/// The guide's chapter on running a cluster: tessera-net's configuration,
/// certificates, ports and metrics.
#[doc = include_str!("../../docs/running.md")]
pub mod running {}

/// The guide's chapter on Raft: invariants, evidence, modes and the driving
/// loop.
#[doc = include_str!("../../docs/raft.md")]
pub mod raft {}

/// The guide's chapter on the Paxos family: Synod, Multi-Paxos, flexible
/// and grid quorums, EPaxos.
#[doc = include_str!("../../docs/paxos.md")]
pub mod paxos {}

/// The guide's chapter on Byzantine fault tolerance: PBFT.
#[doc = include_str!("../../docs/pbft.md")]
pub mod pbft {}

/// The guide's chapter on composing guarantees across crates: the
/// guarantee-vector meet over the crates' own mode data.
#[doc = include_str!("../../docs/composing.md")]
pub mod composing {}

/// The guide's chapter on choosing a mechanism: Raft, Multi-Paxos, EPaxos,
/// PBFT, leaderless quorums and CRDTs side by side.
#[doc = include_str!("../../docs/choosing.md")]
pub mod choosing {}

/// The README's embedding example.
#[doc = include_str!("../../README.md")]
pub mod readme {}

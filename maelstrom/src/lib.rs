//! # tessera-maelstrom: Tessera under Jepsen's Maelstrom
//!
//! [Maelstrom](https://github.com/jepsen-io/maelstrom) tests a distributed
//! system by running its nodes as processes that speak JSON lines on
//! stdin and stdout, routing their messages through a simulated network
//! it can partition, playing clients against them, and checking the
//! history the clients saw. This crate is such a node — the
//! `tessera-maelstrom` binary — built from Tessera's crates:
//!
//! | workload | runs on |
//! |---|---|
//! | `lin-kv` (`read`, `write`, `cas`) | tessera-raft: a [`KvStore`] replicated by a `RaftNode`; followers forward to the leader |
//! | `g-counter` (`add`, `read`) | tessera-crdt `GCounter`, delta-state anti-entropy (`DeltaSyncNode`) |
//! | `pn-counter` (`add`, `read`) | tessera-crdt `PnCounter`, delta sync |
//! | `g-set` (`add`, `read`) | tessera-crdt `GSet` of canonical JSON texts, delta sync |
//! | `broadcast` (`topology`, `broadcast`, `read`) | the same `GSet`, delta sync between topology neighbours (deltas are relayed, so they cross multiple hops) |
//!
//! Node-to-node traffic is Maelstrom messages too: `{"type": "raft",
//! "msg": <base64>}` carrying a Raft message in this crate's compact
//! binary encoding ([`encode_raft_message`]), and `{"type":
//! "delta_sync", "msg": <base64>}` carrying a delta-sync message in
//! tessera-crdt's encoding.
//!
//! ## What it guards
//!
//! The protocols guard their own invariants (Raft's five safety
//! properties; CRDT convergence). This crate guards the **contract of
//! Maelstrom's error codes**: an [`ErrorCode`] that is *definite* is sent
//! only when the operation was not and never will be executed — Raft
//! refused it, redirected it with no leader to forward to, or overwrote it
//! ([`ErrorCode::TemporarilyUnavailable`]), or the key or the expected
//! value was not there (codes 20 and 22, which are results). When the
//! outcome is unknown — leadership changed while the request was pending,
//! a forward or the node's own [`NodeOptions::client_timeout`] ran out —
//! the answer is indefinite ([`ErrorCode::Crash`], [`ErrorCode::Timeout`]).
//! A wrong definite answer would make a correct history look
//! non-linearizable to Maelstrom (and to tessera-sim's checker in this
//! crate's tests), so the mapping is tested answer by answer.
//!
//! Bad input never panics: a line that is not a message, a request with a
//! missing field or an unknown type gets a definite
//! [`ErrorCode::MalformedRequest`] when it has a sender and a `msg_id`,
//! and is logged and skipped otherwise; a peer's undecodable message is
//! dropped and counted ([`NodeStats`]).
//!
//! ## Evidence and durability
//!
//! Maelstrom gives a node no disk that outlives its process, so each node
//! keeps an **in-memory durable image** — Raft's `RaftDisk`, delta sync's
//! `DurableReplica` — applies every write to it, and only then reports the
//! write persisted. The protocols' durability rule (no vote, acknowledgement
//! or reply before the write it depends on is durable) holds against that
//! image; the image does not survive the process, so a node whose process
//! is killed comes back empty (Maelstrom's `partition` nemesis never kills
//! nodes). The evidence a node holds is its protocol's: Raft's commit
//! certificates and lease, delta sync's causal contexts.
//!
//! ## Modes
//!
//! The node reports its protocol's mode transitions on stderr, with their
//! triggers: Raft's `RaftMode` (Leading, Following, Degraded, Recovery) for
//! lin-kv, delta sync's `SyncMode` (Converging, Partitioned, CatchingUp)
//! for the CRDT workloads.
//!
//! ## Example
//!
//! A three-node lin-kv cluster, driven in-process: messages between nodes
//! are passed by hand, time is a number.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::Duration;
//! use tessera_core::Instant;
//! use tessera_maelstrom::{Envelope, MaelstromNode, NodeOptions, Output, Workload};
//!
//! let names = ["n1", "n2", "n3"];
//! let mut nodes: Vec<MaelstromNode> = (0..3)
//!     .map(|i| MaelstromNode::new(Workload::LinKv, NodeOptions { seed: i, ..NodeOptions::default() }))
//!     .collect::<Result<_, _>>()?;
//! let mut now = Instant::from_secs(1);
//! let mut wire: VecDeque<Envelope> = VecDeque::new();
//! let mut client_inbox = Vec::new();
//! for name in names {
//!     let init = format!(
//!         r#"{{"src":"c0","dest":"{name}","body":{{"type":"init","msg_id":1,"node_id":"{name}","node_ids":["n1","n2","n3"]}}}}"#
//!     );
//!     wire.push_back(Envelope::parse(&init)?);
//! }
//!
//! // Deliver every message; tick nodes whose deadline has come.
//! let mut run = |nodes: &mut Vec<MaelstromNode>, wire: &mut VecDeque<Envelope>, now: Instant,
//!                client_inbox: &mut Vec<Envelope>| {
//!     for node in nodes.iter_mut() {
//!         let mut out = Vec::new();
//!         node.tick(now, &mut out);
//!         wire.extend(out.into_iter().filter_map(|o| o.as_message().cloned()));
//!     }
//!     while let Some(message) = wire.pop_front() {
//!         let Some(at) = names.iter().position(|n| *n == message.dest) else {
//!             client_inbox.push(message);
//!             continue;
//!         };
//!         let mut out = Vec::new();
//!         nodes[at].handle(now, message, &mut out);
//!         wire.extend(out.into_iter().filter_map(|o| o.as_message().cloned()));
//!     }
//! };
//!
//! // Let a leader emerge, then write through one node and read through another.
//! for _ in 0..100 {
//!     now = now + Duration::from_millis(10);
//!     run(&mut nodes, &mut wire, now, &mut client_inbox);
//! }
//! wire.push_back(Envelope::parse(r#"{"src":"c1","dest":"n2","body":{"type":"write","msg_id":2,"key":1,"value":7}}"#)?);
//! run(&mut nodes, &mut wire, now, &mut client_inbox);
//! wire.push_back(Envelope::parse(r#"{"src":"c1","dest":"n3","body":{"type":"read","msg_id":3,"key":1}}"#)?);
//! for _ in 0..10 {
//!     now = now + Duration::from_millis(10);
//!     run(&mut nodes, &mut wire, now, &mut client_inbox);
//! }
//! let kinds: Vec<&str> = client_inbox.iter().map(|m| m.body.kind.as_str()).collect();
//! assert_eq!(kinds, ["init_ok", "init_ok", "init_ok", "write_ok", "read_ok"]);
//! assert_eq!(client_inbox[4].body.fields["value"], 7);
//! # Ok::<(), tessera_maelstrom::MaelstromError>(())
//! ```
//!
//! `docs/maelstrom.md` (the guide's chapter) shows how to run Maelstrom
//! against the binary for each workload.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod crdt_service;
mod crdt_workloads;
mod directory;
mod driver;
mod envelope;
mod error;
mod error_code;
mod json_text;
mod kv_store;
mod lin_kv;
mod node;
mod options;
mod output;
mod peer_payload;
mod protocol_host;
mod raft_codec;
mod request;
mod workload;

pub use directory::NodeDirectory;
pub use driver::{INBOX_LINES_MAX, LINE_BYTES_MAX, StdioDriver};
pub use envelope::{Body, Envelope};
pub use error::MaelstromError;
pub use error_code::ErrorCode;
pub use json_text::{VALUE_BYTES_MAX, canonical_json};
pub use kv_store::{KvCommand, KvOutput, KvStore};
pub use lin_kv::CLIENT_REQUESTS_PENDING_MAX;
pub use node::{MaelstromNode, NodeStats};
pub use options::{
    CLIENT_TIMEOUT_DEFAULT, ELECTION_TIMEOUT_DEFAULT, NodeOptions, SNAPSHOT_ENTRIES_DEFAULT,
};
pub use output::Output;
pub use raft_codec::{decode_raft_message, encode_raft_message};
pub use request::{ClientRequest, NODES_MAX};
pub use workload::Workload;

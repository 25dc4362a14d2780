//! # tessera-raft: Raft as a sans-IO state machine
//!
//! A complete Raft node — pre-vote, check-quorum, pipelined and
//! flow-controlled replication with fast back-off, ReadIndex and lease
//! reads, leadership transfer, chunked snapshots, joint-consensus
//! membership changes with learners, proposal forwarding — that never
//! touches a clock, a socket or a file. A driver (the deterministic
//! simulator `tessera-sim`, the tokio runtime `tessera-net`, or a test)
//! feeds it inputs and performs the actions it returns, through
//! tessera-core's [`Protocol`](tessera_core::Protocol) contract.
//!
//! ## What it guards
//!
//! The consensus chapter's fundamental properties, UNIQUENESS (one leader
//! per term) and AGREEMENT (one entry per index, applied everywhere in the
//! same order), in Raft's five safety properties — each a core
//! [`Invariant`](tessera_core::Invariant) in [`invariants`], checked by the
//! simulator after every step:
//! [`ElectionSafety`](invariants::ElectionSafety),
//! [`LeaderAppendOnly`](invariants::LeaderAppendOnly),
//! [`LogMatching`](invariants::LogMatching),
//! [`LeaderCompleteness`](invariants::LeaderCompleteness),
//! [`StateMachineSafety`](invariants::StateMachineSafety), and
//! [`DurableMonotonic`](invariants::DurableMonotonic) (term, vote and
//! commit index never go back across crashes). Safety never depends on
//! time: only lease reads do, on the explicit clock-drift bound
//! [`RaftConfig::max_clock_offset`].
//!
//! **Durability** is part of the contract: a node votes, acknowledges an
//! append, or counts itself in a quorum only once the driver has confirmed
//! (with [`Input::Persisted`](tessera_core::Input::Persisted)) that the
//! state it depends on is durable.
//!
//! ## Evidence
//!
//! [`RaftNode::evidence`] lists what a node holds: its term and vote
//! ([`TermVote`]), at a leader the certificate of its election (a
//! tessera-quorum `QuorumCertificate`), the [`CommitCertificate`] of its
//! commit index (transitive down the log by Log Matching) and its leader
//! lease (a tessera-hlc `Lease`), and its latest durable snapshot's
//! metadata.
//!
//! ## Modes
//!
//! [`RaftMode`] is the seed's consensus mode matrix as data: `Bootstrap`
//! (Floor: no writes), `Leading` (Target: valid lease, 2-RTT commits,
//! lease reads), `Following` (Target), `Degraded` (lease expired or near
//! expiry: ReadIndex only) and `Recovery` (election or state transfer).
//! Every transition is reported with its trigger.
//!
//! ## Example: a three-node cluster, driven by hand
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::Duration;
//! use tessera_core::{Action, Input, Instant, Protocol, RequestId};
//! use tessera_raft::{
//!     RaftConfig, RaftDisk, RaftInput, RaftNode, ReadPolicy, Request, Response,
//!     SnapshotBuffer, StateMachine, Startup,
//! };
//!
//! /// The application: a counter.
//! #[derive(Default)]
//! struct Counter { value: u64, snapshots: SnapshotBuffer }
//!
//! impl StateMachine for Counter {
//!     type Command = u64;
//!     type Output = u64;
//!     type Query = ();
//!     type QueryOutput = u64;
//!     fn apply(&mut self, _index: u64, add: &u64) -> u64 { self.value += add; self.value }
//!     fn query(&self, _: &()) -> u64 { self.value }
//!     fn snapshot_capture(&mut self) -> u64 { self.snapshots.capture(self.value.to_le_bytes().to_vec()) }
//!     fn snapshot_read(&self, offset: u64, len: usize) -> Vec<u8> { self.snapshots.read(offset, len) }
//!     fn restore_begin(&mut self) { self.snapshots.begin_restore() }
//!     fn restore_chunk(&mut self, chunk: &[u8]) -> Result<(), String> { self.snapshots.push_chunk(chunk) }
//!     fn restore_finish(&mut self) -> Result<(), String> {
//!         let bytes = self.snapshots.finish_restore();
//!         self.value = u64::from_le_bytes(bytes.try_into().map_err(|_| "not a counter")?);
//!         Ok(())
//!     }
//! }
//!
//! // 1. Create: three nodes of a new cluster, each with its own disk.
//! let ids = [1u64, 2, 3];
//! let mut nodes: Vec<RaftNode<Counter>> = ids
//!     .iter()
//!     .map(|&id| {
//!         let startup = Startup::bootstrap(id, id, Instant::ZERO, ids.to_vec());
//!         RaftNode::start(startup, RaftConfig::default(), Counter::default()).unwrap()
//!     })
//!     .collect();
//! let mut disks: Vec<RaftDisk<u64>> = ids.iter().map(|_| RaftDisk::new()).collect();
//!
//! // 2. Drive: deliver inputs, perform actions. Writes are made durable at
//! //    once and confirmed; messages are delivered in order.
//! let mut now = Instant::ZERO;
//! let mut inbox: VecDeque<(usize, RaftInput<Counter>)> = VecDeque::new();
//! let mut replies = Vec::new();
//! let mut step = |nodes: &mut Vec<RaftNode<Counter>>,
//!                 inbox: &mut VecDeque<(usize, RaftInput<Counter>)>,
//!                 now: Instant| {
//!     while let Some((at, input)) = inbox.pop_front() {
//!         let mut actions = Vec::new();
//!         nodes[at].handle(now, input, &mut actions);
//!         let mut durable = None;
//!         for action in actions {
//!             match action {
//!                 Action::Persist { id, write } => {
//!                     disks[at].write(write).unwrap();
//!                     durable = Some(id);
//!                 }
//!                 Action::Send { to, message } => {
//!                     let from = ids[at];
//!                     inbox.push_back((to as usize - 1, Input::Message { from, message }));
//!                 }
//!                 Action::Reply { id, response } => replies.push((id, response)),
//!                 Action::ModeChanged(_) => {}
//!             }
//!         }
//!         if let Some(up_to) = durable {
//!             inbox.push_back((at, Input::Persisted { up_to }));
//!         }
//!     }
//! };
//!
//! // Time passes until someone's election timer fires and a leader emerges.
//! while !nodes.iter().any(|n| n.is_leader()) {
//!     now = now + Duration::from_millis(10);
//!     for at in 0..3 {
//!         if nodes[at].next_deadline().is_some_and(|d| d <= now) {
//!             inbox.push_back((at, Input::Tick));
//!         }
//!     }
//!     step(&mut nodes, &mut inbox, now);
//! }
//! let leader = nodes.iter().position(|n| n.is_leader()).unwrap();
//!
//! // 3. Use: propose, then read linearizably.
//! inbox.push_back((leader, Input::Request { id: RequestId(1), request: Request::Propose(5) }));
//! step(&mut nodes, &mut inbox, now);
//! let read = Request::Read { query: (), policy: ReadPolicy::ReadIndex };
//! inbox.push_back((leader, Input::Request { id: RequestId(2), request: read }));
//! step(&mut nodes, &mut inbox, now);
//!
//! assert!(matches!(replies[0], (RequestId(1), Response::Applied { output: 5, .. })));
//! assert!(matches!(replies[1], (RequestId(2), Response::Read { output: 5, .. })));
//! assert!(nodes.iter().all(|n| n.commit_index() == 2)); // the leader's blank entry, then ours
//! ```
//!
//! `docs/raft.md` (the guide's chapter) explains the driving loop, the
//! evidence lifecycle and the mode matrix in full, with a copyable driver.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod config;
mod durable;
mod election;
mod entry;
mod error;
mod evidence;
mod forward;
pub mod invariants;
mod log;
mod membership;
mod message;
mod mode;
mod node;
mod read;
mod reconfiguration;
mod replication;
mod request;
mod snapshot;
mod state_machine;
mod status;
mod transfer;

pub use config::{Flaw, RaftConfig};
pub use durable::{RaftDisk, RaftWrite, Recovered, apply_write, restore_from};
pub use entry::{Entry, Payload};
pub use error::{MessageRejection, RaftError};
pub use evidence::{CommitCertificate, TermVote};
pub use forward::FORWARDS_REMEMBERED_MAX;
pub use log::RaftLog;
pub use membership::{Membership, MembershipChange, VoterQuorum};
pub use message::{
    AppendOutcome, AppendRequest, AppendResponse, ForwardOutcome, Heartbeat, HeartbeatResponse,
    Message, SnapshotChunk, SnapshotHeader, SnapshotResponse, VoteRequest, VoteResponse,
};
pub use mode::RaftMode;
pub use node::{RaftAction, RaftInput, RaftNode, RoleKind, Startup};
pub use replication::{COMMIT_SAVE_STRIDE, ROUNDS_TRACKED_MAX};
pub use request::{ReadPath, ReadPolicy, Request, Response};
pub use state_machine::{SnapshotBuffer, StateMachine};
pub use status::{FollowerStatus, RaftCounters, RaftStatus};
pub use transfer::TRANSFER_WAITERS_MAX;

/// Identifies a node: tessera-core's `NodeId`.
pub use tessera_core::NodeId;
/// Log positions and hard state come from tessera-storage.
pub use tessera_storage::{HardState, LogPosition, SnapshotMeta};

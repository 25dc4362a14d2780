//! # tessera-pbft: Byzantine fault tolerance
//!
//! PBFT (Castro and Liskov, OSDI 1999; TOCS 2002) as a sans-IO state
//! machine: `n ≥ 3f + 1` replicas order client requests and execute them on
//! a deterministic [`StateMachine`], correctly as long as at most `f` of
//! them are Byzantine — silent, lying, equivocating, forging, replaying.
//! A [`Replica`] and a [`Client`] are tessera-core
//! [`Protocol`](tessera_core::Protocol) nodes: a driver (the simulator
//! `tessera-sim`, the network runtime, a test) hands them messages, ticks
//! and durability confirmations, and performs the sends, writes and replies
//! they return. Neither touches a clock, a socket, a file or OS randomness:
//! keys come from the configuration ([`Keyring`]).
//!
//! ## Why 3f + 1
//!
//! A replica can wait for only `n − f` answers (f may be silent), and of
//! those up to `f` may lie; quorums of `2f + 1` out of `3f + 1` therefore
//! intersect in at least `f + 1` replicas — at least one correct. A client
//! accepts a result from `f + 1` matching replies: at least one correct
//! replica's.
//!
//! ## What it guards
//!
//! - **EXECUTION AGREEMENT** — no two correct replicas execute different
//!   batches at one sequence number, across view changes, crashes and
//!   state transfers;
//! - **PREPARED UNIQUENESS** — correct replicas never prepare different
//!   batches at one sequence number in one view;
//! - **CHECKPOINT AGREEMENT** — correct replicas' states agree at every
//!   checkpoint;
//! - **VIEW MONOTONIC** — a replica's durable view never goes back;
//! - **WATERMARKS** — a replica holds only sequence numbers between its
//!   watermarks.
//!
//! Each is a core [`Invariant`](tessera_core::Invariant) in [`invariants`],
//! checked by the simulator after every step. Durability is part of the
//! contract: a replica sends a prepare, commit, checkpoint, view change or
//! reply only after the driver confirmed the writes it depends on.
//!
//! ## The protocol
//!
//! The primary of view `v` (replica `v mod n`) batches requests and
//! multicasts a **pre-prepare** assigning a sequence number; backups
//! multicast **prepares**; a replica with the pre-prepare and `2f` matching
//! prepares is *prepared* and multicasts a **commit**; `2f + 1` matching
//! commits make the batch *committed*, and replicas execute committed
//! batches in sequence order and reply. Normal-case messages carry MAC
//! vectors ([`Authenticator`]); checkpoints, view changes and new views are
//! ed25519-signed — or every message, with [`Authentication::Signatures`].
//! Every `K` sequence numbers replicas sign a **checkpoint**; `2f + 1`
//! matching ones make it stable, move the low watermark and discard the log
//! below it; a replica that fell behind fetches the state (**state
//! transfer**). A request that waits too long makes backups suspect the
//! primary and start a **view change**, with back-off; the next primary
//! decides from `2f + 1` signed view changes what was prepared
//! ([`decide_new_view`]), so anything committed survives into the new view.
//!
//! ## Evidence
//!
//! [`PrePrepareCertificate`], [`PreparedCertificate`],
//! [`CommittedCertificate`], [`CheckpointCertificate`] and
//! [`ViewChangeCertificate`] are core
//! [`Evidence`](tessera_core::Evidence), each scoped to its view and
//! sequence number (or view), built on tessera-quorum's
//! [`QuorumCertificate`](tessera_quorum::QuorumCertificate) over the
//! [`Byzantine`](tessera_quorum::Byzantine) quorum system.
//! [`Replica::evidence`] lists what a replica holds.
//!
//! ## Modes
//!
//! [`PbftMode`] is the mode matrix as data: `Stalled` (Floor: no quorum of
//! correct replicas reachable), `Normal` (Target: stable view, three-phase
//! commits), `Suspecting` (Degraded: the primary is suspected, timers
//! running), `ChangingView` and `Transferring` (Recovery). Every transition
//! is reported with its trigger.
//!
//! ## Gateway
//!
//! A [`Gateway`] is a replica that also serves clients who reach the
//! cluster through it alone (tessera-net's gRPC client port): it wraps each
//! operation into a request of one of the client identities it hosts
//! ([`gateway_client_id`]), orders it like any client's, and answers with
//! its own replica's executed result ([`GatewayReply`]). Timestamps are
//! reserved durably ([`GatewayWrite::ReserveTimestamps`]), so a restarted
//! gateway never reuses one.
//!
//! **Trust model:** a gateway's answer is correct if the gateway replica is
//! correct — it executes only requests committed by `2f + 1` replicas, in
//! the total order. A client that trusts none of the replicas runs
//! [`Client`] and waits for `f + 1` matching replies; tessera-net does not
//! offer that over gRPC yet.
//!
//! ## Example: four replicas and a client, driven by hand
//!
//! ```
//! use std::collections::VecDeque;
//! use tessera_core::{Action, ActionOf, Input, Instant, NodeId, Protocol, RequestId};
//! use tessera_pbft::{
//!     Client, ClientDisk, ClientOutcome, Envelope, Keyring, KvCommand, KvOutcome, MemKv,
//!     PbftConfig, Replica,
//! };
//!
//! type Inbox = VecDeque<(NodeId, NodeId, Envelope)>;
//!
//! /// Performs a node's actions: sends go to the inbox, writes are durable
//! /// at once, replies are collected.
//! fn perform<P: Protocol<Message = Envelope>>(
//!     node: &mut P, actions: Vec<ActionOf<P>>, inbox: &mut Inbox, replies: &mut Vec<P::Response>,
//! ) {
//!     for action in actions {
//!         match action {
//!             Action::Send { to, message } => inbox.push_back((node.id(), to, message)),
//!             Action::Persist { id, .. } => {
//!                 let mut more = Vec::new();
//!                 node.handle(Instant::ZERO, Input::Persisted { up_to: id }, &mut more);
//!                 perform(node, more, inbox, replies);
//!             }
//!             Action::Reply { response, .. } => replies.push(response),
//!             Action::ModeChanged(_) => {}
//!         }
//!     }
//! }
//!
//! // Keys for four replicas and one client, derived from a seed.
//! let nodes = [1, 2, 3, 4, 100];
//! let config = PbftConfig::new([1, 2, 3, 4])?;
//! let mut replicas: Vec<Replica<MemKv>> = (1..=4)
//!     .map(|id| Replica::new(config.clone(), Keyring::derive(7, id, &nodes), MemKv::default(), Instant::ZERO))
//!     .collect::<Result<_, _>>()?;
//! let mut client = Client::new(config, Keyring::derive(7, 100, &nodes), &ClientDisk::default(), Instant::ZERO)?;
//!
//! let (mut inbox, mut results, mut ignored) = (Inbox::new(), Vec::new(), Vec::new());
//! let put = KvCommand::Put(b"x".to_vec(), b"1".to_vec()).encode();
//! let mut actions = Vec::new();
//! client.handle(Instant::ZERO, Input::Request { id: RequestId(1), request: put }, &mut actions);
//! perform(&mut client, actions, &mut inbox, &mut results);
//!
//! // Deliver every message until the network is quiet.
//! while let Some((from, to, message)) = inbox.pop_front() {
//!     if to == 100 {
//!         let mut actions = Vec::new();
//!         client.handle(Instant::ZERO, Input::Message { from, message }, &mut actions);
//!         perform(&mut client, actions, &mut inbox, &mut results);
//!     } else {
//!         let (replica, mut actions) = (&mut replicas[to as usize - 1], Vec::new());
//!         replica.handle(Instant::ZERO, Input::Message { from, message }, &mut actions);
//!         perform(replica, actions, &mut inbox, &mut ignored);
//!     }
//! }
//!
//! // f + 1 = 2 matching replies: the client accepted the result.
//! let [ClientOutcome::Executed { result, .. }] = &results[..] else { panic!("{results:?}") };
//! assert_eq!(KvOutcome::decode(result), Some(KvOutcome::Done));
//! for replica in &replicas {
//!     assert_eq!(replica.last_executed(), 1);
//!     assert_eq!(replica.app().get(b"x"), Some(&b"1"[..]));
//! }
//! # Ok::<(), tessera_pbft::PbftError>(())
//! ```
//!
//! `docs/pbft.md` is the chapter: the three phases, certificates,
//! checkpoints and watermarks, the view change, the mode matrix, and how
//! the Byzantine tests attack the protocol.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod authenticator;
mod certificate;
mod checkpointing;
mod client;
mod config;
mod counters;
mod decision;
mod digest;
mod error;
mod gateway;
pub mod invariants;
mod keys;
mod message;
mod mode;
mod node_map;
mod normal_case;
mod replica;
mod request;
mod retransmission;
mod state_machine;
mod storage;
mod view_changing;
mod waiting_requests;
mod wire;

pub use authenticator::Authenticator;
pub use certificate::{
    CertifiedPhase, CheckpointCertificate, CommitPhase, CommittedCertificate,
    PrePrepareCertificate, PreparePhase, PreparedCertificate, ViewChangeCertificate,
    VoteCertificate, Votes,
};
pub use client::{Client, ClientDisk, ClientOutcome, ClientWrite, TIMESTAMPS_PER_RESERVATION};
pub use config::{Authentication, PbftConfig};
pub use counters::{DropCounters, DropReason};
pub use decision::{NewViewDecision, Undecided, check_view_change, decide_new_view};
pub use digest::Digest;
pub use error::{Fault, PbftError};
pub use gateway::{
    GATEWAY_CLIENT_TAG, GATEWAY_CLIENTS_MAX, GATEWAY_REPLICA_ID_LIMIT, Gateway, GatewayDisk,
    GatewayOptions, GatewayReply, GatewayWrite, check_gateway_ids, gateway_client_id,
};
pub use keys::{Keyring, MAC_BYTES, Mac, Signature};
pub use message::{
    BatchData, Checkpoint, CheckpointProof, Claim, Envelope, Fetch, NewView,
    PRE_PREPARED_PER_SEQ_MAX, Payload, PrePrepare, StateData, Status, ViewChange, Vote,
};
pub use mode::PbftMode;
pub use replica::{EXECUTIONS_KEPT, GATEWAY_REQUESTS_MAX, Replica};
pub use request::{Batch, ClientRequest, Reply};
pub use retransmission::FETCHES_PER_ROUND_MAX;
pub use state_machine::{KvCommand, KvOutcome, MemKv, StateMachine};
pub use storage::{
    CHECKPOINTS_KEPT, JournalEntry, JournalRecord, PbftDisk, PbftHardState, PbftWrite, Recovered,
    apply_write,
};

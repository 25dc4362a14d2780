//! # tessera-paxos: the Paxos family, sans-IO
//!
//! Three consensus protocols that never touch a clock, a socket or a
//! file, each a tessera-core [`Protocol`](tessera_core::Protocol) driven
//! exactly like tessera-raft's node — by the deterministic simulator
//! `tessera-sim`, a runtime, or a test:
//!
//! | node | what it decides |
//! |---|---|
//! | [`synod::Synod`] | one value among competing proposers (single-decree Paxos) |
//! | [`multi::MultiPaxos`] | a replicated log, one Paxos instance per slot, with a stable leader, batching and pipelining, barrier and lease reads, snapshots and stop-sign reconfiguration |
//! | [`epaxos::Epaxos`] | a partial order of commands without a leader: only interfering commands are ordered, and a command commits in one round trip unless concurrent interfering ones change its dependencies |
//!
//! Proposal numbers are [`Ballot`]s (a round, then the owning node). The
//! quorums are [`PaxosQuorums`]: a phase-one and a phase-two system —
//! majorities, flexible `q1 + q2 > n`, grids, or any two tessera-quorum
//! systems — and every constructor refuses a pair in which some phase-one
//! quorum misses some phase-two quorum
//! ([`PaxosError::QuorumsDoNotIntersect`]), the one property Paxos needs
//! of its quorums.
//!
//! ## What it guards
//!
//! The consensus chapter's fundamental properties, UNIQUENESS (at most one
//! value chosen per instance) and AGREEMENT (no two learners learn
//! different values), with VALIDITY (a chosen value was proposed) and
//! TOTAL ORDER (every replica applies the same sequence) — each a core
//! [`Invariant`](tessera_core::Invariant) in [`invariants`], checked by
//! the simulator after every step:
//! [`Uniqueness`](invariants::Uniqueness),
//! [`Agreement`](invariants::Agreement),
//! [`Validity`](invariants::Validity),
//! [`TotalOrder`](invariants::TotalOrder). EPaxos, which orders only
//! interfering commands, has its own:
//! [`InstanceUniqueness`](invariants::InstanceUniqueness),
//! [`InstanceAgreement`](invariants::InstanceAgreement) and
//! [`ConsistentExecution`](invariants::ConsistentExecution) (two
//! interfering commands run in the same order everywhere). The checkers
//! read what nodes record in their [`Audit`]s: acceptances once durable,
//! decisions as applied.
//!
//! **Durability** is part of the contract: a node promises, accepts or
//! counts itself in a quorum only once the driver has confirmed (with
//! [`Input::Persisted`](tessera_core::Input::Persisted)) that the state it
//! depends on is durable. Safety never depends on time; only Multi-Paxos's
//! lease reads do, on the stated clock-offset bound
//! [`LeaseConfig::max_clock_offset`](multi::LeaseConfig::max_clock_offset).
//!
//! ## Evidence
//!
//! Every node lists what it holds with `evidence(now)`
//! ([`MultiPaxos::evidence`](multi::MultiPaxos::evidence),
//! [`Synod::evidence`](synod::Synod::evidence)):
//!
//! - the **promise** — the proposal number (ballot) an acceptor promised,
//!   durably: it accepts nothing below it ([`Promise`]);
//! - the **promise certificate** — a phase-one quorum's promises for a
//!   ballot ([`Synod::promise_certificate`](synod::Synod::promise_certificate),
//!   [`MultiPaxos::promise_certificate`](multi::MultiPaxos::promise_certificate));
//! - the **chosen / commit certificate** — a phase-two quorum's
//!   acceptances in one ballot
//!   ([`ChosenCertificate`](synod::ChosenCertificate),
//!   [`CommitCertificate`](multi::CommitCertificate)), scoped to one
//!   instance: unlike Raft's, it says nothing of other slots;
//! - the **leader lease** — a tessera-hlc `Lease` granted by a phase-two
//!   quorum ([`MultiPaxos::lease`](multi::MultiPaxos::lease));
//! - the **snapshot** metadata of a compacted log.
//!
//! All certificates are tessera-quorum `QuorumCertificate`s that name
//! their voters and validate against the quorum system.
//!
//! ## Modes
//!
//! Synod and Multi-Paxos nodes report a [`PaxosMode`]: `Bootstrap`
//! (Floor: no leader yet), `StableLeader` (Target: phase one done, commits
//! in two message delays, lease reads), `LeaderSuspected` (Degraded: lease
//! lapsed or heartbeats missed — reads go through the log) and
//! `LeaderChange` (Recovery: phase one and recovery of slots in progress).
//! EPaxos replicas report an [`EpaxosMode`](epaxos::EpaxosMode):
//! `Bootstrap`, `FastPath` (Target: one round trip), `SlowPath`
//! (Degraded: a second round trip to a majority) and `ExplicitPrepare`
//! (Recovery: taking over a failed leader's instance). Every mode keeps
//! every safety invariant — a mode change trades speed, never safety — and
//! every transition is reported with its trigger
//! ([`Action::ModeChanged`](tessera_core::Action::ModeChanged)).
//!
//! ## Example: three Multi-Paxos nodes, driven by hand
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::Duration;
//! use tessera_core::{Action, DurableState, Input, InputOf, Instant, NodeId, Protocol, RequestId};
//! use tessera_paxos::multi::{
//!     Configuration, MultiPaxos, MultiPaxosConfig, PaxosDisk, QuorumSpec, ReadPath, Request,
//!     Response, StateMachine,
//! };
//!
//! /// The application: a counter.
//! #[derive(Default)]
//! struct Counter(u64);
//!
//! impl StateMachine for Counter {
//!     type Command = u64;
//!     type Output = u64;
//!     type Query = ();
//!     type QueryOutput = u64;
//!     fn apply(&mut self, _slot: u64, add: &u64) -> u64 { self.0 += add; self.0 }
//!     fn query(&self, _: &()) -> u64 { self.0 }
//!     fn snapshot(&self) -> Vec<u8> { self.0.to_le_bytes().to_vec() }
//!     fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
//!         self.0 = u64::from_le_bytes(bytes.try_into().map_err(|_| "not a counter")?);
//!         Ok(())
//!     }
//! }
//!
//! // 1. Create: three nodes of one configuration (majority quorums), each
//! //    with its own disk.
//! let ids: [NodeId; 3] = [1, 2, 3];
//! let initial = Configuration::initial(QuorumSpec::Majority(ids.to_vec()));
//! let mut disks: Vec<PaxosDisk<u64>> = ids.iter().map(|_| PaxosDisk::without_audit()).collect();
//! let mut nodes = Vec::new();
//! for (&id, disk) in ids.iter().zip(&disks) {
//!     let config = MultiPaxosConfig::new(id, initial.clone())?;
//!     nodes.push(MultiPaxos::boot(config, disk, Counter::default(), id, Instant::ZERO)?);
//! }
//!
//! // 2. Drive: deliver inputs, perform the actions. Writes are durable at
//! //    once and confirmed; messages are delivered in order.
//! type Node = MultiPaxos<Counter>;
//! let mut inbox: VecDeque<(NodeId, InputOf<Node>)> = VecDeque::new();
//! let mut replies = Vec::new();
//! let mut run = |nodes: &mut Vec<Node>, inbox: &mut VecDeque<(NodeId, InputOf<Node>)>, now| {
//!     while let Some((at, input)) = inbox.pop_front() {
//!         let i = (at - 1) as usize;
//!         let mut actions = Vec::new();
//!         nodes[i].handle(now, input, &mut actions);
//!         for action in actions {
//!             match action {
//!                 Action::Persist { id, write } => {
//!                     disks[i].apply(write);
//!                     inbox.push_back((at, Input::Persisted { up_to: id }));
//!                 }
//!                 Action::Send { to, message } => {
//!                     inbox.push_back((to, Input::Message { from: at, message }));
//!                 }
//!                 Action::Reply { id, response } => replies.push((id, response)),
//!                 Action::ModeChanged(_) => {}
//!             }
//!         }
//!     }
//! };
//!
//! // Time passes until an election timer fires: phase one, once.
//! let mut now = Instant::ZERO;
//! while !nodes.iter().any(|n| n.is_leader()) {
//!     now = now + Duration::from_millis(10);
//!     for &id in &ids {
//!         if nodes[(id - 1) as usize].next_deadline().is_some_and(|d| d <= now) {
//!             inbox.push_back((id, Input::Tick));
//!         }
//!     }
//!     run(&mut nodes, &mut inbox, now);
//! }
//! let leader = nodes.iter().find(|n| n.is_leader()).expect("elected");
//! assert!(leader.promise_certificate().is_some(), "a phase-one quorum promised");
//! let leader = leader.leader().expect("it knows itself");
//!
//! // 3. Use: propose (phase two, one round trip), then read — without a
//! //    lease, through a barrier slot.
//! inbox.push_back((leader, Input::Request { id: RequestId(1), request: Request::Propose(5) }));
//! inbox.push_back((leader, Input::Request { id: RequestId(2), request: Request::Read(()) }));
//! run(&mut nodes, &mut inbox, now);
//!
//! assert!(matches!(replies[0], (RequestId(1), Response::Applied { output: 5, .. })));
//! assert!(matches!(
//!     replies[1],
//!     (RequestId(2), Response::Read { output: 5, path: ReadPath::Barrier, .. })
//! ));
//! let leader = &nodes[(leader - 1) as usize];
//! let certificate = leader.last_commit_certificate().expect("chosen with proof");
//! assert!(certificate.voters().count() >= 2);
//! # Ok::<(), tessera_paxos::PaxosError>(())
//! ```
//!
//! Leases, snapshots, reconfiguration and EPaxos are in the module
//! documentation of [`multi`] and [`epaxos`]; `docs/paxos.md` (the guide's
//! chapter) tells the whole story — Synod step by step, why quorums only
//! need to intersect, the evidence lifecycle and the mode matrices — with a
//! copyable driver.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod audit;
mod ballot;
pub mod epaxos;
mod error;
mod evidence;
pub mod invariants;
mod mode;
pub mod multi;
mod quorums;
pub mod synod;

pub use audit::{AUDIT_MAX, Audit};
pub use ballot::{Ballot, NODE_ID_MAX, ROUND_MAX};
pub use error::PaxosError;
pub use evidence::Promise;
pub use mode::PaxosMode;
pub use quorums::PaxosQuorums;

//! # tessera-quorum: quorum systems, certificates and leaderless replication
//!
//! "Quorums create truth through intersection": a decision taken by one
//! quorum is seen by every later quorum that must learn it, because the two
//! share a member. This crate holds the quorum math every Tessera consensus
//! crate uses, and builds on it a Dynamo-style leaderless key-value store.
//!
//! ## What it guards
//!
//! - **INTERSECTION** — every read (phase-one) quorum shares a member with
//!   every write (phase-two) quorum; for Byzantine quorums at least `f + 1`,
//!   so always a correct one. Constructors refuse configurations that would
//!   break it; [`verify_intersection`] checks it exhaustively for up to
//!   [`EXHAUSTIVE_MEMBERS_MAX`] members.
//!
//!   | system | read quorum | write quorum | why they intersect |
//!   |---|---|---|---|
//!   | [`Majority`] | `⌊n/2⌋+1` | `⌊n/2⌋+1` | two sets of more than `n/2` share a member |
//!   | [`Flexible`] | `r` | `w` | `r + w > n` (checked) |
//!   | [`Grid`] | a member of every row | a whole row | the row's member in the read quorum |
//!   | [`Weighted`] | `r` votes | `w` votes | `r + w > total votes` (checked) |
//!   | [`Byzantine`] | `⌈(n+f+1)/2⌉` | same | overlap `≥ f + 1`, so a correct member |
//!   | [`Joint`] | both halves' | both halves' | each half's quorums intersect |
//!
//! - **NO STALE READ** — with `r + w > n` and strict quorums, a read sees
//!   every write acknowledged before it began (the same intersection, over
//!   a key's home replicas).
//! - **NO RESURRECTION** — a tombstone is collected only after a grace
//!   period longer than any hint lives, once every home replica holds
//!   exactly that tombstone; the purged versions are refused afterwards.
//! - **CONVERGENCE**, **UNIQUE DOTS** and **SESSION GUARANTEES**
//!   (read-your-writes, monotonic reads) — see [`Replica`].
//!
//! ## Evidence
//!
//! - [`QuorumCertificate`] — a quorum of votes for one value in one round
//!   and instance, built by a [`VoteTally`] (which refuses non-members,
//!   duplicates and votes for another value, round or instance); core
//!   [`Evidence`](tessera_core::Evidence), non-transitive.
//! - Version vectors — a read's context says what the read has seen; a
//!   write's dotted version vector says which versions it replaces.
//! - [`SessionToken`] — what a client session has seen, carried from
//!   coordinator to coordinator.
//!
//! ## Modes
//!
//! A [`Replica`] is **healthy** (Target: strict quorums, every replica
//! answering), **sloppy** (Degraded: a sloppy quorum stood in for a replica,
//! hints are held, or a caller chose `r + w ≤ n`: reads are eventual) or
//! **repairing** (Recovery: hints handed back, anti-entropy fixing
//! differences), and reports each change with its trigger. The matrix is
//! data: [`ReplicationMode`].
//!
//! ## Hot paths
//!
//! Quorum checks work on a [`MemberSet`] (a 128-bit mask): counting a vote
//! never allocates, and [`QuorumSystem::committed_index`] finds the largest
//! index a write quorum acknowledged from each member's match index, on the
//! stack. Merkle trees update in O(log n) per change; anti-entropy sends
//! bytes in proportion to the differing keys.
//!
//! ## Example
//!
//! A Raft-style leader counts acknowledgements while its cluster moves from
//! three members to three others by joint consensus; then two replicas of
//! a leaderless store find the one key they disagree on.
//!
//! ```
//! use tessera_core::{Evidence, EvidenceScope, Instant};
//! use tessera_quorum::{
//!     AntiEntropySession, Joint, KeyRange, Majority, ObjectStore, Phase, QuorumSystem, Version,
//!     VoteOutcome, VoteTally,
//! };
//! use tessera_vclock::{Dot, DottedVersionVector, VersionVector};
//!
//! let joint = Joint::new(Majority::new([1, 2, 3])?, Majority::new([3, 4, 5])?)?;
//!
//! // Entry 12 of term 4, acknowledged one member at a time.
//! let mut acks = VoteTally::new(&joint, Phase::Write, 4, 12, ());
//! assert_eq!(acks.record(1, 4, 12, &())?, VoteOutcome::Pending);
//! assert_eq!(acks.record(2, 4, 12, &())?, VoteOutcome::Pending); // old half done
//! assert_eq!(acks.record(4, 4, 12, &())?, VoteOutcome::Pending);
//! assert_eq!(acks.record(5, 4, 12, &())?, VoteOutcome::Won); // new half too
//! let certificate = acks.certificate().expect("both halves acknowledged");
//! assert!(certificate.proves(&EvidenceScope::Instance { epoch: 4, index: 12 }, Instant::ZERO));
//!
//! // The same answer from match indexes, without a tally.
//! let match_index = |node| match node { 1 | 2 | 4 | 5 => 12, _ => 0 };
//! assert_eq!(joint.committed_index(match_index), 12);
//!
//! // Two replicas of 500 keys; one lacks a key. Anti-entropy sends the
//! // hashes on that key's path and the one object, not the other 499.
//! let range = KeyRange { start: u64::MAX, end: u64::MAX }; // the whole ring
//! let (mut a, mut b): (ObjectStore<u64>, ObjectStore<u64>) = (ObjectStore::new(9)?, ObjectStore::new(9)?);
//! for i in 0..500u64 {
//!     let version = Version {
//!         clock: DottedVersionVector::new(Dot::new(1, i + 1), VersionVector::new())?,
//!         value: Some(i),
//!     };
//!     a.add(range, &i.to_le_bytes(), version.clone());
//!     if i != 77 {
//!         b.add(range, &i.to_le_bytes(), version);
//!     }
//! }
//! let report = AntiEntropySession::synchronize(&mut a, &mut b, range)?;
//! assert_eq!(a.root(range), b.root(range));
//! assert_eq!(report.objects, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The [`Replica`] documentation describes the store; `docs/quorum.md`
//! drives one in the simulator.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod anti_entropy_message;
mod anti_entropy_session;
mod any_quorum;
mod byzantine;
mod coordinator;
mod error;
mod flexible;
mod grid;
mod intersection;
mod joint;
mod key_hash;
mod majority;
mod member_set;
mod mergeable;
mod merkle_tree;
mod object_store;
mod quorum_certificate;
mod quorum_system;
mod rebalance;
mod replica;
mod replica_config;
mod replica_disk;
mod replica_maintenance;
mod replica_message;
mod replica_request;
mod replication_mode;
mod request_options;
mod ring;
#[cfg(feature = "serde")]
mod serde_repr;
mod session_token;
mod versioned_object;
mod vote_tally;
mod weighted;

pub use anti_entropy_message::{
    ANTI_ENTROPY_KEYS_MAX, AbortReason, AntiEntropyMessage, KEY_BYTES_MAX, LeafEntry,
};
pub use anti_entropy_session::{AntiEntropySession, AntiEntropyStep, SyncReport};
pub use any_quorum::AnyQuorum;
pub use byzantine::Byzantine;
pub use error::{QuorumError, VoteRejection};
pub use flexible::Flexible;
pub use grid::Grid;
pub use intersection::{
    EXHAUSTIVE_MEMBERS_MAX, INTERSECTION, IntersectionReport, verify_intersection,
};
pub use joint::Joint;
pub use majority::Majority;
pub use member_set::{MEMBERS_MAX, MemberSet};
pub use mergeable::{ConflictPolicy, Mergeable};
pub use merkle_tree::{MERKLE_DEPTH_MAX, MerkleTree};
pub use object_store::{Key, ObjectStore};
pub use quorum_certificate::QuorumCertificate;
pub use quorum_system::{Phase, QuorumSystem};
pub use replica::{REPLICA_NODE_ID_MAX, Replica, ReplicaStats};
pub use replica_config::ReplicaConfig;
pub use replica_disk::{Hint, PurgedTombstone, ReplicaDisk, ReplicaWrite};
pub use replica_maintenance::{
    ANTI_ENTROPY_SESSIONS_MAX, HANDOFF_BATCH_MAX, TOMBSTONE_QUERIES_MAX,
};
pub use replica_message::ReplicaMessage;
pub use replica_request::{ReadResult, ReplicaRequest, ReplicaResponse};
pub use replication_mode::{
    CONVERGENCE, NO_RESURRECTION, NO_STALE_READ, ReplicationMode, SESSION_GUARANTEES, UNIQUE_DOTS,
};
pub use request_options::RequestOptions;
pub use ring::{KeyRange, RING_NODES_MAX, Ring, VNODES_MAX};
pub use session_token::{SESSION_KEYS_MAX, SessionToken};
pub use versioned_object::{ReplicatedValue, Version, VersionedObject};
pub use vote_tally::{VoteOutcome, VoteTally};
pub use weighted::Weighted;

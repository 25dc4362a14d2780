//! # tessera-hlc: time as evidence
//!
//! Clocks order events. This crate gives a node the clocks it needs to
//! order its own events and its peers', to bound how wrong its idea of real
//! time can be, and to act alone for a while (a lease):
//!
//! - [`LamportClock`] — logical time: causality and nothing else;
//! - [`Hlc`] — a lock-free hybrid logical clock: physical time plus a
//!   logical counter packed in one `u64` ([`Timestamp`]), never going
//!   backwards, refusing peers beyond the maximum offset, optionally
//!   persisting an upper bound across restarts;
//! - [`UncertaintyInterval`] and commit wait ([`Hlc::commit_wait_blocking`],
//!   [`Hlc::commit_wait`]) — TrueTime-style `[earliest, latest]` and the
//!   wait that turns it into external consistency;
//! - [`ReadUncertainty`] — the uncertainty-restart rule for reads;
//! - [`ClosedTimestampTracker`] and [`ClosedTimestamp`] — a leaseholder's
//!   promise that no more writes will appear below a timestamp, so
//!   followers can serve reads;
//! - [`Lease`] — exclusivity until a time, safe under bounded clock offset,
//!   in [`tessera_core::Instant`]s so sans-IO Raft and Paxos nodes use it for
//!   leader leases.
//!
//! ## What it guards
//!
//! - **ORDER** — timestamps are totally ordered and unique: per clock, and
//!   across the cluster with the node id ([`NodeTimestamp`]).
//! - **MONOTONICITY** — a clock never goes backwards, even when its physical
//!   clock steps back, and never repeats a timestamp across a restart when
//!   it persists an upper bound.
//! - **CAUSALITY** — a message's receipt is stamped after its send.
//! - **BOUNDED DIVERGENCE** — a remote timestamp more than the maximum offset
//!   ahead is refused, so no clock drags the cluster into its future.
//!
//! [`Monotonicity`], [`Causality`] and [`BoundedDivergence`] check them as
//! [`tessera_core::Invariant`]s.
//!
//! ## Evidence
//!
//! A [`NodeTimestamp`] proves an order (kind `Timestamp`); an
//! [`UncertaintyInterval`] proves a bound on the clock error; a
//! [`ClosedTimestamp`] proves no write will appear at or below it in a
//! range; a [`Lease`] proves exclusivity until its expiry, as its holder
//! sees it. Each implements [`tessera_core::Evidence`], with the lifecycle
//! generated → validated → active → expired or revoked.
//!
//! ## Modes
//!
//! [`ClockMode`] is the seed's matrix as data: **Synchronized** (Target:
//! bounded skew, fresh sync, HLC + closed timestamps + leases),
//! **LooselySynchronized** (Degraded: uncertainty past its target, stale
//! sync, expired leases), **Resynchronizing** (Recovery: after a clock jump,
//! until a resync under a new epoch), **LogicalOnly** (Floor: causality
//! only). [`ClockMonitor`] decides the mode from syncs, jumps
//! ([`Hlc::check_physical_clock`]) and leases, and says why.
//!
//! The chapter docs/time.md tells the whole story.
//!
//! ## Example
//!
//! A reader meets an uncertain value, two nodes exchange a message, a
//! writer waits out the uncertainty, and a leaseholder closes a timestamp
//! for followers.
//!
//! ```
//! use std::time::Duration;
//! use tessera_core::{Evidence, EvidenceScope, ManualClock, WallTime};
//! use tessera_hlc::*;
//!
//! // Node 2's physical clock runs 3 ms ahead of node 1's.
//! let clock_one = ManualClock::new(WallTime::from_unix_nanos(1_000_000_000));
//! let clock_two = ManualClock::new(WallTime::from_unix_nanos(1_003_000_000));
//! let one = Hlc::new(clock_one.clone(), HlcConfig::new(1))?;
//! let two = Hlc::new(clock_two.clone(), HlcConfig::new(2))?;
//!
//! // Node 1 starts a read; node 2 writes. The write's timestamp is above
//! // the read's, but within the maximum offset: in real time it may have
//! // come first, so the read must restart above it, not ignore it.
//! let read = one.read_uncertainty(one.now());
//! let written = two.now();
//! assert_eq!(read.classify(written), ValueVisibility::Uncertain { restart_at: written });
//! let read = read.restart_at(written);
//! assert_eq!(read.classify(written), ValueVisibility::Visible);
//!
//! // CAUSALITY: node 1 receives node 2's message and stamps the receipt
//! // after the send, although its own physical clock is behind.
//! let received = one.receive(written)?;
//! assert!(received > written);
//! assert!(one.now() > received);
//!
//! // Commit wait: how long until `written` has passed on every clock.
//! let wait = two.commit_wait_remaining(written);
//! assert!(wait > Duration::ZERO && wait <= two.commit_wait_limit());
//!
//! // Closed timestamps: the leaseholder closes 3 s behind its clock.
//! let range = EvidenceScope::Range { start: b"a".to_vec(), end: None };
//! let mut tracker = ClosedTimestampTracker::new(range.clone(), Duration::from_secs(3));
//! clock_two.advance(Duration::from_secs(10));
//! let evidence = tracker.close(two.now(), 17);
//! assert!(evidence.check_follower_read(written, 17).is_ok());
//! assert!(evidence.proves(&range, evidence.issued().to_instant()));
//! # Ok::<(), HlcError>(())
//! ```

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod clock_jump;
mod closed_timestamp;
mod error;
mod hlc;
mod invariants;
mod lamport;
mod lease;
mod loom;
mod mode;
mod realtime_clock;
mod timestamp;
mod uncertainty;

pub use clock_jump::ClockJump;
pub use closed_timestamp::{ClosedTimestamp, ClosedTimestampTracker, InflightWrite};
pub use error::HlcError;
pub use hlc::{Hlc, HlcConfig};
pub use invariants::{
    BOUNDED_DIVERGENCE, BoundedDivergence, CAUSALITY, Causality, MONOTONICITY, MessageTimestamps,
    Monotonicity, ORDER,
};
pub use lamport::{LamportClock, LamportTimestamp};
pub use lease::Lease;
pub use mode::{ClockMode, ClockMonitor, ClockPolicy, LeaseStatus, operation};
pub use realtime_clock::RealtimeClock;
pub use timestamp::{NodeTimestamp, Timestamp};
pub use uncertainty::{ReadUncertainty, UncertaintyInterval, ValueVisibility};

/// The guide chapter on time, compiled as doc-tests so its examples stay
/// true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/time.md")]
pub struct TimeChapter;

//! # tessera-core: the shared vocabulary
//!
//! Every Tessera crate describes its mechanism the same way, and this crate
//! turns that description into types, so it is checked by the compiler and
//! by tests instead of living only in prose:
//!
//! - an [`Invariant`] is a named property a component promises — UNIQUENESS,
//!   ORDER, LOG MATCHING, CONVERGENCE — checkable against a state or a
//!   history; a [`Violation`] says what broke, where and when;
//! - [`Evidence`] is proof that a guarantee holds right now — a quorum
//!   certificate, a lease, a timestamp — with a kind, a scope, a lifecycle
//!   (generated → validated → active → expired or revoked) and, where
//!   time-bound, an expiry; it is non-transitive unless its type says so;
//! - a [`Mode`] is a component's operating regime — Floor, Target, Degraded
//!   or Recovery — whose [`ModeSpec`] row states the invariants it keeps, the
//!   operations it allows and what it promises; a [`ModeTracker`] records
//!   every transition with its trigger;
//! - a [`GuaranteeVector`] ⟨scope, order, visibility, recency, idempotence,
//!   auth⟩ is what a component promises; combining components takes the
//!   component-wise meet, so guarantees compose downward to the weakest
//!   link.
//!
//! It also holds what every protocol and driver shares: [`NodeId`], time as
//! an input ([`Instant`], [`WallTime`], [`Clock`]), seeded randomness
//! ([`SeededRng`]) and the sans-IO [`Protocol`] contract with its
//! durability rule ([`DurabilityGate`]).
//!
//! ## What it guards
//!
//! This crate guards no distributed property itself. It guards the
//! *vocabulary*: the guarantee-vector lattice laws (property-tested), the
//! evidence lifecycle and non-transitivity, the mode-matrix laws (Target is
//! the strongest mode; no mode drops a Floor invariant —
//! [`check_mode_matrix`]), and the durability rule of the protocol contract
//! (nothing that depends on a write leaves a node before the write is
//! durable).
//!
//! ## Example
//!
//! Combine two components, see which one limits the result, and track the
//! mode of a component as its evidence comes and goes.
//!
//! ```
//! use std::time::Duration;
//! use tessera_core::*;
//!
//! // A consensus log and a cache in front of it.
//! let log = GuaranteeVector { auth: Auth::Authenticated, ..GuaranteeVector::TOP };
//! let cache = GuaranteeVector {
//!     recency: Recency::BoundedStaleness(Duration::from_secs(1)),
//!     ..GuaranteeVector::TOP
//! };
//! let mut service = Composition::new();
//! service.add("log", log).add("cache", cache);
//! assert_eq!(service.limited_by(Dimension::Recency), vec!["cache"]);
//! assert_eq!(service.limited_by(Dimension::Auth), vec!["log"]);
//!
//! // An invariant over a list of terms, one per node.
//! let mut agreed = InvariantFn::new("AGREEMENT", |terms: &[u64]| {
//!     match terms.windows(2).find(|w| w[0] != w[1]) {
//!         None => Ok(()),
//!         Some(w) => Err(Violation::new("AGREEMENT", "nodes disagree")
//!             .with("left", w[0]).with("right", w[1])),
//!     }
//! });
//! assert!(agreed.check(&[3, 3, 3][..]).is_ok());
//! assert!(agreed.check(&[3, 4, 3][..]).is_err());
//! ```
//!
//! The [`Protocol`] trait's documentation shows a complete node driven by
//! hand; `tessera-sim` drives the same nodes under faults.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod error;
mod evidence;
mod guarantee;
mod invariant;
mod mode;
mod protocol;
mod rng;
mod time;

/// Identifies a node (a replica, a process) within a cluster.
pub type NodeId = u64;

pub use error::InvalidParameter;
pub use evidence::{
    Evidence, EvidenceError, EvidenceKind, EvidenceScope, EvidenceState, EvidenceSummary,
};
pub use guarantee::{
    Auth, Composition, Dimension, GuaranteeVector, Idempotence, Level, Order, Recency, Scope,
    Visibility,
};
pub use invariant::{Invariant, InvariantFn, InvariantSet, Violation, check_non_decreasing};
pub use mode::{
    MODE_HISTORY_MAX_DEFAULT, Mode, ModeLevel, ModeSpec, ModeTracker, ModeTransition,
    check_mode_matrix, render_mode_matrix,
};
pub use protocol::{
    Action, ActionOf, DurabilityGate, DurableState, Input, InputOf, PersistId, Protocol, RequestId,
};
pub use rng::SeededRng;
pub use time::{Clock, Instant, ManualClock, SystemClock, WallTime, duration_nanos};

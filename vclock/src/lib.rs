//! # tessera-vclock: causality without clocks
//!
//! Physical time cannot tell whether two writes were concurrent; causal
//! histories can. This crate tracks them:
//!
//! - [`Dot`] — one event of one actor, the unit everything is made of;
//! - [`VersionVector`] (alias [`VectorClock`]) — what a replica has seen,
//!   as a sorted compact vector: [`compare`](VersionVector::compare) →
//!   [`CausalOrder`] (Before / Equal / After / Concurrent),
//!   [`merge`](VersionVector::merge), [`increment`](VersionVector::increment),
//!   [`dominates`](VersionVector::dominates);
//! - [`DottedVersionVector`] — the clock of one version: its writing event
//!   and the causal past it overwrote;
//! - [`DvvSet`] — all the sibling versions of a key with Riak's semantics
//!   (`update`, `sync`, `join`, `values`, `reconcile`, `lww`), so concurrent
//!   writes through one coordinator do not explode into siblings;
//! - [`PruningPolicy`] — bounding a vector's size, with the causality lost
//!   reported explicitly ([`Pruned`]);
//! - [`CompactEncoding`] — a canonical varint binary form whose decoder
//!   returns errors, never panics, on malformed bytes. Serde derives are
//!   behind the `serde` feature.
//!
//! ## What it guards
//!
//! **CAUSALITY** — if a replica's history includes an event, it includes
//! every event that happened before it — and **CONVERGENCE** of causal
//! metadata: [`merge`](VersionVector::merge) is the least upper bound of
//! the causal order, so it is commutative, associative and idempotent, and
//! replicas that have exchanged everything hold equal vectors. The order is
//! a partial order (reflexive, antisymmetric, transitive). These laws are
//! property-tested, as is the decoder's refusal of arbitrary bytes.
//!
//! ## Evidence
//!
//! A [`VersionVector`] is [`tessera_core::Evidence`] of kind
//! `CausalContext`: it proves what a replica has seen, for as long as the
//! replica exists (it never expires). Pruning weakens it, and says so.
//!
//! ## Modes
//!
//! Causality tracking has no modes of its own: it needs no clock, no quorum
//! and no leader, so it works the same in every mode of the components
//! around it — it is what the Floor of tessera-hlc's clock modes and of the
//! replication crates falls back on (see docs/time.md). The one
//! degradation is chosen by the caller: pruning, which trades causality
//! information for size.
//!
//! ## Example
//!
//! A coordinator stores sibling values; two clients write with stale
//! contexts; a reader merges.
//!
//! ```
//! use tessera_vclock::*;
//!
//! const SERVER: u64 = 1;
//! let mut stored: DvvSet<&str> = DvvSet::default();
//!
//! // Client X writes, reads back the context.
//! stored.update(&VersionVector::new(), "x1", SERVER)?;
//! let x_context = stored.join();
//! // Client Y writes without reading: concurrent with x1.
//! stored.update(&VersionVector::new(), "y1", SERVER)?;
//! // X writes again over what it read: x1 is obsolete, y1 is not.
//! stored.update(&x_context, "x2", SERVER)?;
//! let mut siblings: Vec<_> = stored.values().copied().collect();
//! siblings.sort();
//! assert_eq!(siblings, ["x2", "y1"]);
//!
//! // The causal context a reader gets, and the order of contexts.
//! let context = stored.join();
//! assert_eq!(x_context.compare(&context), CausalOrder::Before);
//!
//! // A compact, canonical binary form that rejects malformed bytes.
//! let bytes = context.to_bytes();
//! assert_eq!(VersionVector::from_bytes(&bytes)?, context);
//! assert!(VersionVector::from_bytes(&[0xff]).is_err());
//! # Ok::<(), VclockError>(())
//! ```

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod causal_order;
mod dot;
mod dotted_version_vector;
mod dvvset;
mod encoding;
mod error;
mod pruning;
mod version_vector;

pub use causal_order::CausalOrder;
pub use dot::Dot;
pub use dotted_version_vector::DottedVersionVector;
pub use dvvset::DvvSet;
pub use encoding::{CompactEncoding, Decoder, write_varint};
pub use error::VclockError;
pub use pruning::{Pruned, PruningPolicy};
pub use version_vector::{VectorClock, VersionVector};

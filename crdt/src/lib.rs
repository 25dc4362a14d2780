//! # tessera-crdt: conflict-free replication
//!
//! Replicas that accept updates independently — offline, partitioned, on
//! different continents — and still agree, with no coordination: each
//! type's merge is commutative, associative and idempotent, so replicas
//! that have received the same updates are equal, whatever the order and
//! however often they arrived.
//!
//! ## The three styles
//!
//! - **state-based** ([`StateCrdt`]): ship whole states, [`merge`](StateCrdt::merge)
//!   them (a lattice join);
//! - **delta-state** ([`DeltaCrdt`]): every update returns a small *delta*
//!   that joins like a state — ship deltas, fall back to states;
//! - **op-based** ([`OpCrdt`]): ship operations, delivered causally and
//!   exactly once by [`CausalDelivery`], which buffers an early operation
//!   or refuses it with [`CrdtError::MissingDependencies`] — never applies
//!   it wrongly.
//!
//! ## The types
//!
//! | type | what it is |
//! |---|---|
//! | [`GCounter`], [`PnCounter`] | counters (grow-only; up and down) |
//! | [`GSet`], [`TwoPSet`] | grow-only set; add-then-remove-forever set |
//! | [`OrSet`] | add-wins observed-remove set, tombstone-free (dot store + causal context, like ORSWOT) |
//! | [`EwFlag`], [`DwFlag`] | enable-wins and disable-wins flags |
//! | [`LwwRegister`] | last-writer-wins register on tessera-hlc timestamps, ties broken by node id |
//! | [`MvRegister`] | multi-value register: concurrent writes kept as siblings, each under its dot |
//! | [`OrMap`] | map of nested CRDTs; a remove resets the value causally, with no per-key tombstone |
//! | [`Sequence`], [`Text`] | lists and text: FugueMax integration over run-length-encoded items in an order-statistic tree |
//!
//! Every type has a compact, canonical binary encoding ([`CrdtEncoding`])
//! whose decoder refuses malformed or inconsistent input with an error,
//! never a panic, and serde derives behind the `serde` feature.
//!
//! ## What it guards
//!
//! [`CONVERGENCE`] — replicas that have received the same updates are
//! equal — and [`INFLATION`] — a replica's state, its causal context in
//! particular, only grows. Both are [`tessera_core::Invariant`]s
//! ([`Convergence`], [`Inflation`]) that the simulator checks; the
//! algebraic laws behind them are property-tested for every type. The
//! delta-sync protocol adds [`ACKNOWLEDGED_DURABLE`]: nothing is
//! acknowledged before it is durable.
//!
//! ## Evidence
//!
//! **Dots** name single events (`(actor, n)`, tessera-vclock's [`Dot`](tessera_vclock::Dot)),
//! and a **causal context** ([`CausalContext`]: a version vector plus the
//! events seen out of order) proves what a replica has seen — evidence of
//! kind `CausalContext`, which never expires. Contexts are what make
//! removes safe without tombstones: what was seen and dropped stays
//! dropped.
//!
//! ## Modes
//!
//! [`DeltaSyncNode`] — delta-state anti-entropy as a sans-IO
//! [`tessera_core::Protocol`] — reports a [`SyncMode`]: **converging**
//! (Target: every peer answers, deltas flow), **partitioned** (Degraded: a
//! peer is silent; still available, replicas diverge) and **catching up**
//! (Recovery: shipping what was missed). The guide chapter
//! `docs/replication-crdt.md` tells the whole story.
//!
//! ## Example
//!
//! Two replicas of a shopping list update while apart, exchange deltas in
//! either order, and agree.
//!
//! ```
//! use tessera_crdt::{CrdtEncoding, DeltaCrdt, OrSet, OrSetDelta, StateCrdt};
//!
//! let (alice, bob) = (1, 2);
//! let mut at_alice: OrSet<String> = OrSet::new();
//! let mut at_bob: OrSet<String> = OrSet::new();
//!
//! // Updates return deltas: a few bytes, whatever the size of the set.
//! let milk = at_alice.add("milk".into(), alice)?;
//! let eggs = at_bob.add("eggs".into(), bob)?;
//! let no_milk = {
//!     at_bob.join_delta(&milk);
//!     at_bob.remove(&"milk".to_string())
//! };
//!
//! // Deltas travel as bytes; a malformed one is refused, not applied.
//! let wire = no_milk.to_bytes();
//! assert!(OrSetDelta::<String>::from_bytes(&wire[..wire.len() - 1]).is_err());
//! at_alice.join_delta(&OrSetDelta::from_bytes(&wire)?);
//! at_alice.join_delta(&eggs);
//!
//! assert_eq!(at_alice, at_bob); // CONVERGENCE
//! assert_eq!(at_alice.iter().collect::<Vec<_>>(), ["eggs"]);
//! # Ok::<(), tessera_crdt::CrdtError>(())
//! ```

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod causal_context;
mod causal_delivery;
mod delta_buffer;
mod delta_sync;
mod dot_fun;
mod dot_map;
mod dot_set;
mod dw_flag;
mod encoding;
mod error;
mod ew_flag;
mod flag;
mod g_counter;
mod g_set;
mod invariants;
mod lww_register;
mod mutation;
mod mv_register;
mod or_map;
mod or_set;
mod pn_counter;
mod sequence;
mod sync_mode;
mod traits;
mod two_p_set;

pub use causal_context::CausalContext;
pub use causal_delivery::{CAUSAL_BUFFER_MAX_DEFAULT, CausalDelivery, CausalOp};
pub use delta_buffer::{DeltaBuffer, Shipment};
pub use delta_sync::{
    DELTA_BUFFER_MAX_DEFAULT, DeltaSyncConfig, DeltaSyncNode, DurableReplica, PEER_TIMEOUT_DEFAULT,
    SYNC_INTERVAL_DEFAULT, SyncMessage, SyncStats, SyncWrite,
};
pub use dot_fun::DotFun;
pub use dot_map::{DotMap, DotMapDelta, Key};
pub use dot_set::DotSet;
pub use dw_flag::DwFlag;
pub use encoding::CrdtEncoding;
pub use error::CrdtError;
pub use ew_flag::EwFlag;
pub use flag::FlagOp;
pub use g_counter::{GCounter, GCounterOp};
pub use g_set::GSet;
pub use invariants::{
    ACKNOWLEDGED_DURABLE, CONVERGENCE, Convergence, INFLATION, Inflation, ReplicaView,
};
pub use lww_register::{LwwRegister, LwwWrite, Value};
pub use mutation::{
    GCounterRequest, GSetRequest, LwwRegisterRequest, Mutation, MvRegisterRequest, OrSetReply,
    OrSetRequest, PnCounterRequest, SequenceRequest, check_mutation,
};
pub use mv_register::{MvRegister, MvWrite};
pub use or_map::{OrMap, OrMapDelta, OrMapOp};
pub use or_set::{OrSet, OrSetDelta, OrSetOp};
pub use pn_counter::{PnCounter, PnCounterOp};
pub use sequence::{
    CompactionReport, SEQUENCE_PENDING_MAX, Sequence, SequenceDelta, SequenceOp, SequenceStats,
    Text,
};
pub use sync_mode::SyncMode;
pub use traits::{DeltaCrdt, DotStore, Embeddable, OpCrdt, StateCrdt};
pub use two_p_set::{TwoPSet, TwoPSetOp};

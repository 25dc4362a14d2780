//! The invariants of time, named, checkable and cited.
//!
//! ORDER and MONOTONICITY are the fundamental ones; CAUSALITY and BOUNDED
//! DIVERGENCE derive from them. The simulator and the tests check them
//! after every step; an application can check them in production.

mod bounded_divergence;
mod causality;
mod monotonicity;

pub use bounded_divergence::BoundedDivergence;
pub use causality::{Causality, MessageTimestamps};
pub use monotonicity::Monotonicity;

/// ORDER: timestamps are totally ordered and no two events get the same
/// one — per clock by MONOTONICITY, across nodes by the node id in
/// [`NodeTimestamp`](crate::NodeTimestamp).
pub const ORDER: &str = "ORDER";

/// MONOTONICITY: each clock's timestamps strictly increase, whatever its
/// physical clock does.
pub const MONOTONICITY: &str = "MONOTONICITY";

/// CAUSALITY: if event *a* happened before *b* (Lamport's →), then
/// `ts(a) < ts(b)`; in particular a message's receipt is stamped after its
/// send.
pub const CAUSALITY: &str = "CAUSALITY";

/// BOUNDED DIVERGENCE: at any instant, any two nodes' clocks differ by at
/// most the maximum offset.
pub const BOUNDED_DIVERGENCE: &str = "BOUNDED DIVERGENCE";

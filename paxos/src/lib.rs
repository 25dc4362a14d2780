//! # tessera-paxos: the Paxos family, sans-IO
//!
//! (overview written below)

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod audit;
mod ballot;
pub mod epaxos;
mod error;
pub mod invariants;
mod mode;
pub mod multi;
mod quorums;
pub mod synod;

pub use audit::{AUDIT_MAX, Audit};
pub use ballot::{Ballot, NODE_ID_MAX, ROUND_MAX};
pub use error::PaxosError;
pub use mode::PaxosMode;
pub use quorums::PaxosQuorums;

//! Multi-Paxos: a replicated log of Paxos instances, one per slot, with a
//! stable leader.
//!
//! (chapter summary below)

mod acceptor;
mod acceptor_log;
mod config;
mod configuration;
mod disk;
mod leader;
mod learner;
mod message;
mod node;
mod request;
mod slot;
mod snapshot;
mod state_machine;

pub use acceptor::LEASE_DURATION_MAX;
pub use config::{
    ACCEPT_SLOTS_MAX, BATCH_COMMANDS_LIMIT, CATCH_UP_ENTRIES_MAX, LeaseConfig, MultiPaxosConfig,
    PROMISE_ENTRIES_MAX, SNAPSHOT_CHUNK_BYTES_MAX,
};
pub use configuration::{CONFIGURATION_MEMBERS_MAX, Configuration, QuorumSpec};
pub use disk::{Overwrite, PaxosDisk, PaxosHardState, PaxosWrite};
pub use message::{LeaseOffer, Message};
pub use node::{CommitCertificate, MultiPaxos, MultiPaxosCounters};
pub use request::{ReadPath, Request, Response};
pub use slot::{SlotEntry, SlotValue};
pub use state_machine::StateMachine;

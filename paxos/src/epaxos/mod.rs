//! EPaxos (Egalitarian Paxos): leaderless state machine replication.
//!
//! (chapter summary below)

mod command_leader;
mod config;
mod disk;
mod execution;
mod instance;
mod message;
mod mode;
mod node;
mod recovery;
mod replica;

pub use config::{EpaxosConfig, INSTANCES_MAX_DEFAULT, LEADING_MAX_DEFAULT};
pub use disk::{EpaxosDisk, EpaxosWrite};
pub use instance::{Attributes, InstanceId, InstanceRecord, Interfering, Status};
pub use message::EpaxosMessage;
pub use mode::EpaxosMode;
pub use node::{Epaxos, EpaxosCounters, EpaxosDecision, EpaxosResponse};

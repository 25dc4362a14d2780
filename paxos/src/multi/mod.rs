//! Multi-Paxos: a replicated log of Paxos instances, one per slot, with a
//! stable leader.
//!
//! Every [`MultiPaxos`] node is acceptor and learner, and — once it wins
//! phase one — the leader, driving a [`StateMachine`] with the chosen
//! commands in slot order. Its quorums come from the [`Configuration`]'s
//! [`QuorumSpec`]: majorities, flexible (`q1 + q2 > n`) or a grid.
//!
//! - **Phase one once per leadership.** A node that hears no leader for a
//!   random time in `[election_timeout, 2 · election_timeout)` sends
//!   `Prepare(b, from_slot)` covering every slot above what it knows
//!   chosen; each acceptor promises `b` for all of them at once and reports
//!   what it accepted from `from_slot` on (at most [`PROMISE_ENTRIES_MAX`]
//!   entries per message; the rest is asked for again). A phase-one quorum
//!   of promises is the leader's
//!   [promise certificate](MultiPaxos::promise_certificate).
//! - **Slots in progress, gaps filled with no-ops.** The new leader
//!   re-proposes, in its own ballot, the highest-ballot value reported for
//!   every slot — accepted by a minority or by a quorum alike — and fills
//!   every hole below the highest reported slot with a
//!   [`SlotValue::NoOp`], so the log stays contiguous. Only then is it a
//!   stable leader.
//! - **Phase two per slot, batched and pipelined.** Commands arriving while
//!   [`window`](MultiPaxosConfig::window) slots are already in flight wait
//!   and are batched into one slot (up to
//!   [`batch_max`](MultiPaxosConfig::batch_max)); one `Accept` carries
//!   consecutive slots (at most [`ACCEPT_SLOTS_MAX`]). A slot is chosen
//!   once a phase-two quorum accepted it in the leader's ballot: its
//!   [`CommitCertificate`], scoped to that ballot and slot and **not
//!   transitive** — other slots may be chosen in other ballots.
//! - **Reads** at the leader are linearizable by one of two
//!   [`ReadPath`]s: a *barrier* (a slot of the leader's ballot proposed
//!   after the read arrived is chosen and applied first) or, with a
//!   [`LeaseConfig`], the *lease* (answered at once). Acceptors that granted
//!   a lease promise no other ballot until its end plus `max_clock_offset`
//!   on their clocks, and the leader stops using it `max_clock_offset`
//!   before its end on its own — so no other leader can finish phase one
//!   while it is in use, provided no two clocks differ by more than
//!   `max_clock_offset`. A restarted acceptor, which forgot its grants,
//!   refuses every ballot for a lease plus twice the offset (a lease
//!   offer longer than [`LEASE_DURATION_MAX`] is refused).
//! - **Snapshots.** Every `snapshot_interval` applied slots a node stores
//!   a snapshot ([`PaxosWrite`]) and compacts its log. A replica behind the
//!   commit index asks for the chosen slots (at most
//!   [`CATCH_UP_ENTRIES_MAX`] per message); one behind the compacted log is
//!   sent the snapshot in chunks of at most [`SNAPSHOT_CHUNK_BYTES_MAX`]
//!   bytes.
//! - **Reconfiguration by stop-sign.** [`Request::Reconfigure`] proposes a
//!   [`SlotValue::StopSign`] naming the next configuration: the slot that chooses it is
//!   the last of the old configuration, decided by the old quorums, and
//!   every later slot belongs to the new one (from its `start_slot`), so
//!   every slot is decided by exactly one quorum system. New members start
//!   from a snapshot at the stop-sign ([`MultiPaxosConfig::joining`]).
//!   Once the stop-sign is proposed the old leader takes no new requests
//!   (it answers `NotLeader { leader: None }`), and one reconfiguration
//!   runs at a time.
//!
//! A node reports its [`PaxosMode`](crate::PaxosMode) and every change
//! with its trigger ([`MultiPaxos::mode_history`] keeps the recent ones).
//!
//! # Examples
//!
//! The [crate documentation](crate#example-three-multi-paxos-nodes-driven-by-hand)
//! drives three nodes by hand to an election, a chosen command and a
//! barrier read; the guide's chapter `docs/paxos.md` adds leases, a leader
//! crash and a restart from disk. A node's setup:
//!
//! ```
//! use std::time::Duration;
//! use tessera_paxos::multi::{Configuration, LeaseConfig, MultiPaxosConfig, QuorumSpec};
//!
//! // Five acceptors; phase two on any two, phase one on any four (2 + 4 > 5).
//! let quorums = QuorumSpec::Flexible { members: vec![1, 2, 3, 4, 5], phase1: 4, phase2: 2 };
//! let mut config = MultiPaxosConfig::new(1, Configuration::initial(quorums))?;
//! config.lease = Some(LeaseConfig {
//!     duration: Duration::from_millis(400),
//!     max_clock_offset: Duration::from_millis(50),
//! });
//! assert!(config.validate().is_ok());
//!
//! // Two of five and two of five may miss each other: refused.
//! let bad = QuorumSpec::Flexible { members: vec![1, 2, 3, 4, 5], phase1: 2, phase2: 2 };
//! assert!(MultiPaxosConfig::new(1, Configuration::initial(bad)).is_err());
//! # Ok::<(), tessera_paxos::PaxosError>(())
//! ```

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
pub use slot::{SLOT_OVERHEAD_BYTES, SlotEntry, SlotValue};
pub use state_machine::StateMachine;

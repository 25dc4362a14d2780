//! # tessera-sim: deterministic simulation and linearizability checking
//!
//! The simulator drives any number of nodes that implement the
//! [`Protocol`](tessera_core::Protocol) contract through a virtual network,
//! virtual disks and virtual clocks, one event at a time:
//!
//! - **deterministic**: every random choice (latency, loss, duplication,
//!   the nemesis, client choices, node seeds) derives from one seed, and
//!   simultaneous events run in the order they were scheduled — the same
//!   seed gives the same run, so a failing seed is a test case forever;
//! - **faults on demand**: per-link latency distributions, message loss,
//!   duplication and reordering, symmetric and one-way partitions, crashes
//!   (volatile state lost; writes not yet durable lost, or a prefix of them
//!   kept) and restarts from durable state, clock offsets, drift and steps —
//!   applied by hand ([`Simulation::apply`]), on a schedule
//!   ([`Simulation::schedule`]) or by a random [`NemesisConfig`] that heals
//!   everything at the end of its safety phase;
//! - **invariants after every step**: any
//!   [`Invariant`](tessera_core::Invariant) over the [`Cluster`] (every
//!   node's live and durable state);
//! - **histories**: simulated clients run a [`Workload`] closed-loop and
//!   record a [`History`] with Jepsen semantics (invoke, then ok / fail /
//!   info);
//! - **linearizability**: a [`LinearizabilityChecker`] (Wing–Gong–Lowe
//!   search, partitioned per key) for a [`KvModel`] and a
//!   [`RegisterModel`], or any [`Model`] of your own.
//!
//! ## What it guards
//!
//! The simulator guards nothing itself; it is how the other crates prove
//! their invariants. Its own promise is **reproducibility** (the same seed
//! gives the same run, byte for byte) and **honest reporting**: a failure
//! names the invariant, the step, the virtual time, the seed and the
//! command that reruns it ([`SimFailure`]). The checker's promise is
//! **soundness**: it accepts a history only if a linearization exists, and
//! reports an undecided search as a failure, never a pass.
//!
//! ## Evidence and modes
//!
//! The simulator records the evidence nodes report — their mode changes
//! with triggers ([`Simulation::mode_log`]) — next to every fault it applied
//! ([`Simulation::fault_log`]), so a run can be read as a timeline.
//!
//! ## Example
//!
//! Three primary-backup replicas under the nemesis for five seconds of
//! virtual time, then healed; every invariant checked after every step, and
//! the client history checked for linearizability.
//!
//! ```
//! use std::time::Duration;
//! use tessera_sim::fixture::primary_backup::{Flaw, KvWorkload, PbInvariants, PrimaryBackup};
//! use tessera_sim::{KvModel, NemesisConfig, SimConfig, Simulation};
//!
//! let mut config = SimConfig::new(7, vec![1, 2, 3]);
//! config.nemesis = Some(NemesisConfig {
//!     active_for: Duration::from_secs(5),
//!     ..NemesisConfig::default()
//! });
//! let mut sim = Simulation::new(config, KvWorkload::new(3, false), |boot| {
//!     PrimaryBackup::boot(&boot, Flaw::None)
//! })?;
//! sim.add_invariant(PbInvariants);
//!
//! sim.run_for(Duration::from_secs(6))?;  // faults, then healed
//! sim.stop_clients();
//! sim.run_for(Duration::from_secs(2))?;  // in-flight operations finish
//!
//! let report = sim.check_history(KvModel::new())?;
//! assert!(report.is_linearizable());
//! assert!(sim.stats().crashes > 0 || sim.stats().messages_dropped_partition > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod checker;
mod client;
mod clock;
mod cluster;
mod config;
mod error;
mod fault;
pub mod fixture;
mod history;
mod latency;
mod nemesis;
mod network;
mod queue;
mod seeds;
mod simulation;

pub use checker::{
    COUNTEREXAMPLE_OPERATIONS_MAX, CheckReport, Counterexample, KvModel, KvOp, LINEARIZABILITY,
    LinearizabilityChecker, Model, RegisterModel, RegisterOp, RegisterRet, STATE_LIMIT_DEFAULT,
    SyntheticHistory, Verdict,
};
pub use client::{NoClients, Reply, Workload};
pub use clock::{DRIFT_PPM_MAX, NodeClock, VIRTUAL_EPOCH};
pub use cluster::{Boot, Cluster, NodeView};
pub use config::{ClientConfig, ClockConfig, NetworkConfig, SimConfig};
pub use error::{SimError, SimFailure};
pub use fault::Fault;
pub use history::{History, HistoryError, HistorySummary, OpId, Operation, Outcome};
pub use latency::{EXPONENTIAL_TAIL_MAX, Latency};
pub use nemesis::{FaultWeights, NemesisConfig};
pub use network::SimStats;
pub use seeds::{SEED_ENV, SEEDS_ENV, first_failure, run_seeds, seeds};
pub use simulation::{FaultRecord, LOG_MAX, ModeChange, Simulation, TIMER_RESOLUTION};

//! The simulator's errors: bad parameters (the caller's mistake) and
//! failures (a protocol broke an invariant or produced a history that is not
//! linearizable).

use std::fmt;

use tessera_core::{Instant, InvalidParameter, NodeId, Violation};

/// A simulator or checker was used wrongly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A configuration value is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),
    /// A fault or request named a node the simulation does not have.
    #[error("node {0} is not part of the simulation")]
    UnknownNode(NodeId),
    /// A node id was given twice.
    #[error("node {0} is already part of the simulation")]
    DuplicateNode(NodeId),
    /// A history was recorded or given out of order.
    #[error(transparent)]
    History(#[from] crate::HistoryError),
}

/// A simulation found a bug: an invariant broke after some step, or the
/// recorded history failed the linearizability check.
///
/// Its `Display` names the seed and how to rerun exactly this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFailure {
    /// The seed of the failing run.
    pub seed: u64,
    /// The number of steps taken when the failure was found.
    pub step: u64,
    /// The virtual time of the failure.
    pub at: Instant,
    /// What broke (boxed: failures are rare, and results stay small).
    pub violation: Box<Violation>,
    /// The `cargo test` arguments that select the failing test, if known.
    pub rerun: Option<String>,
}

impl SimFailure {
    /// Records how to select the failing test: the arguments after
    /// `cargo test`, such as `-p tessera-sim --test primary_backup`.
    pub fn with_rerun(mut self, cargo_test_args: impl Into<String>) -> Self {
        self.rerun = Some(cargo_test_args.into());
        self
    }

    /// The command that reruns exactly this seed.
    pub fn rerun_command(&self) -> String {
        match &self.rerun {
            Some(args) => format!("TESSERA_SEED={} cargo test {args}", self.seed),
            None => format!("TESSERA_SEED={} cargo test <this test>", self.seed),
        }
    }
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n  seed {} failed at step {} (virtual time {})\n  rerun: {}",
            self.violation,
            self.seed,
            self.step,
            self.at,
            self.rerun_command()
        )
    }
}

impl std::error::Error for SimFailure {}

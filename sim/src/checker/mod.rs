//! The linearizability checker.
//!
//! A history is linearizable if every operation can be assigned a single
//! instant between its invocation and its completion such that, taken in
//! that order, the operations obey the sequential [`Model`]. Failed
//! operations are left out (they did not happen); operations with an
//! unknown outcome may take effect at any point after their invocation, or
//! never.
//!
//! The search is Wing and Gong's, with Lowe's memoisation of explored
//! configurations, run separately on each partition of the history (each
//! key of a key-value store), as the porcupine checker does.

mod model;
mod synthetic;
mod wgl;

use std::collections::BTreeMap;
use std::fmt::{self, Debug};

use tessera_core::{Instant, InvalidParameter, Violation};

pub use model::{KvModel, KvOp, Model, RegisterModel, RegisterOp, RegisterRet};
pub use synthetic::SyntheticHistory;

use crate::{History, Outcome};
use wgl::{PartitionOp, SearchOutcome};

/// The name under which linearizability failures are reported.
pub const LINEARIZABILITY: &str = "LINEARIZABILITY";

/// The default bound on configurations explored per partition.
pub const STATE_LIMIT_DEFAULT: u64 = 10_000_000;

/// The checker's verdict on a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every partition has a valid order.
    Linearizable,
    /// Some partition has none.
    NotLinearizable(Box<Counterexample>),
    /// The search exceeded its state budget on a partition before deciding.
    Unknown {
        /// The partition (as `Debug`).
        partition: String,
        /// Configurations explored there.
        states: u64,
    },
}

/// Why a history is not linearizable: the partition, how far the best
/// order got, and the operations involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterexample {
    /// The partition (as `Debug`).
    pub partition: String,
    /// The most operations any valid order of this partition got through.
    pub linearized: usize,
    /// The operation that could not be placed before its completion, as
    /// `process: input -> output`.
    pub stuck: String,
    /// The partition's operations in invocation order, as
    /// `[invoked, completed] process: input -> output`, around the stuck one
    /// (at most [`COUNTEREXAMPLE_OPERATIONS_MAX`]).
    pub operations: Vec<String>,
}

/// How many operations a [`Counterexample`] lists at most.
pub const COUNTEREXAMPLE_OPERATIONS_MAX: usize = 40;

impl Counterexample {
    /// The counterexample as a [`Violation`] of [`LINEARIZABILITY`].
    pub fn to_violation(&self) -> Violation {
        let mut violation = Violation::new(
            LINEARIZABILITY,
            format!(
                "no valid order for partition {}: stuck at {}",
                self.partition, self.stuck
            ),
        )
        .with("linearized_before_stuck", self.linearized);
        for op in &self.operations {
            violation = violation.with("op", op);
        }
        violation
    }
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "partition {} is not linearizable: {} operation(s) placed, then stuck at {}",
            self.partition, self.linearized, self.stuck
        )?;
        for op in &self.operations {
            writeln!(f, "  {op}")?;
        }
        Ok(())
    }
}

/// What a check found, and how much work it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Partitions checked.
    pub partitions: usize,
    /// Operations checked (failed operations excluded).
    pub operations: usize,
    /// Configurations explored in all.
    pub states: u64,
}

impl CheckReport {
    /// Whether the verdict is [`Verdict::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        self.verdict == Verdict::Linearizable
    }

    /// `Ok` if linearizable, otherwise a [`Violation`] of
    /// [`LINEARIZABILITY`] (an exhausted budget is reported as a violation
    /// too: a check that cannot decide must not pass silently).
    ///
    /// # Errors
    ///
    /// The violation, as described.
    pub fn into_result(self) -> Result<(), Violation> {
        match self.verdict {
            Verdict::Linearizable => Ok(()),
            Verdict::NotLinearizable(counterexample) => Err(counterexample.to_violation()),
            Verdict::Unknown { partition, states } => Err(Violation::new(
                LINEARIZABILITY,
                format!("undecided: partition {partition} exceeded the search budget"),
            )
            .with("states", states)),
        }
    }
}

/// Checks histories against a [`Model`].
///
/// # Examples
///
/// A write of 1 completes, and only afterwards a read begins — and returns
/// nothing. No order explains it: the read is stale.
///
/// ```
/// use tessera_core::Instant;
/// use tessera_sim::{History, LinearizabilityChecker, RegisterModel, RegisterOp, RegisterRet};
///
/// let at = Instant::from_millis;
/// let mut history = History::new();
/// let write = history.invoke(0, RegisterOp::Write(1), at(1)).unwrap();
/// history.ok(write, RegisterRet::Done, at(2)).unwrap();
/// let read = history.invoke(1, RegisterOp::Read, at(3)).unwrap();
/// history.ok(read, RegisterRet::Read(None), at(4)).unwrap();
///
/// let checker = LinearizabilityChecker::new(RegisterModel::<u32>::new());
/// assert!(!checker.check(&history).is_linearizable());
///
/// // Had the read overlapped the write, reading nothing would be fine.
/// let mut history = History::new();
/// let write = history.invoke(0, RegisterOp::Write(1), at(1)).unwrap();
/// let read = history.invoke(1, RegisterOp::Read, at(2)).unwrap();
/// history.ok(read, RegisterRet::Read(None), at(3)).unwrap();
/// history.ok(write, RegisterRet::Done, at(4)).unwrap();
/// assert!(checker.check(&history).is_linearizable());
/// ```
#[derive(Debug, Clone)]
pub struct LinearizabilityChecker<M> {
    model: M,
    state_limit: u64,
}

impl<M: Model> LinearizabilityChecker<M> {
    /// A checker for `model` with the default budget
    /// ([`STATE_LIMIT_DEFAULT`] configurations per partition).
    pub fn new(model: M) -> Self {
        LinearizabilityChecker {
            model,
            state_limit: STATE_LIMIT_DEFAULT,
        }
    }

    /// Sets the budget of configurations explored per partition.
    ///
    /// # Errors
    ///
    /// [`InvalidParameter`] for a budget of zero.
    pub fn with_state_limit(mut self, state_limit: u64) -> Result<Self, InvalidParameter> {
        if state_limit == 0 {
            return Err(InvalidParameter::new(
                "state_limit",
                "must be at least 1 configuration per partition",
            ));
        }
        self.state_limit = state_limit;
        Ok(self)
    }

    /// Checks `history`.
    pub fn check(&self, history: &History<M::Input, M::Output>) -> CheckReport {
        let mut partitions: BTreeMap<M::Partition, Vec<PartitionOp<'_, M>>> = BTreeMap::new();
        let mut processes: BTreeMap<M::Partition, Vec<u64>> = BTreeMap::new();
        let mut operations = 0;
        for op in history.operations() {
            let (output, completed_at) = match (&op.outcome, op.completed_at) {
                (Outcome::Fail, _) => continue,
                (Outcome::Ok(output), Some(at)) => (Some(output), at),
                // Unknown outcomes complete at the end of time.
                _ => (None, Instant::MAX),
            };
            operations += 1;
            let key = self.model.partition(&op.input);
            processes.entry(key.clone()).or_default().push(op.process);
            partitions.entry(key).or_default().push(PartitionOp {
                input: &op.input,
                output,
                invoked_at: op.invoked_at,
                completed_at,
            });
        }
        let mut states = 0;
        let partition_count = partitions.len();
        for (key, ops) in &partitions {
            match wgl::search(&self.model, ops, self.state_limit) {
                SearchOutcome::Linearizable { states: explored } => states += explored,
                SearchOutcome::GaveUp { states: explored } => {
                    return CheckReport {
                        verdict: Verdict::Unknown {
                            partition: format!("{key:?}"),
                            states: explored,
                        },
                        partitions: partition_count,
                        operations,
                        states: states + explored,
                    };
                }
                SearchOutcome::NotLinearizable {
                    states: explored,
                    linearized,
                    stuck,
                } => {
                    let process_ids = processes.get(key).map(Vec::as_slice).unwrap_or(&[]);
                    let counterexample = describe(key, ops, process_ids, linearized, stuck);
                    return CheckReport {
                        verdict: Verdict::NotLinearizable(Box::new(counterexample)),
                        partitions: partition_count,
                        operations,
                        states: states + explored,
                    };
                }
            }
        }
        CheckReport {
            verdict: Verdict::Linearizable,
            partitions: partition_count,
            operations,
            states,
        }
    }
}

fn describe<M: Model>(
    key: &M::Partition,
    ops: &[PartitionOp<'_, M>],
    processes: &[u64],
    linearized: usize,
    stuck: usize,
) -> Counterexample {
    let line = |index: usize| {
        let op = &ops[index];
        let process = processes.get(index).copied().unwrap_or_default();
        let output = match op.output {
            Some(output) => format!("{output:?}"),
            None => "unknown".to_string(),
        };
        let completed = if op.completed_at == Instant::MAX {
            "never".to_string()
        } else {
            op.completed_at.to_string()
        };
        format!(
            "[{}, {}] process {}: {:?} -> {}",
            op.invoked_at, completed, process, op.input, output
        )
    };
    let stuck_line = line(stuck);
    // The operations around the stuck one, in invocation order.
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|i| (ops[*i].invoked_at, *i));
    let position = order.iter().position(|i| *i == stuck).unwrap_or(0);
    let half = COUNTEREXAMPLE_OPERATIONS_MAX / 2;
    let start = position.saturating_sub(half);
    let end = (start + COUNTEREXAMPLE_OPERATIONS_MAX).min(order.len());
    Counterexample {
        partition: format!("{key:?}"),
        linearized,
        stuck: stuck_line,
        operations: order[start..end].iter().map(|i| line(*i)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_budget_is_rejected() {
        let error = LinearizabilityChecker::new(RegisterModel::<u8>::new())
            .with_state_limit(0)
            .unwrap_err();
        assert_eq!(error.parameter, "state_limit");
    }

    #[test]
    fn exhausted_budget_is_unknown_and_fails_into_result() {
        let at = Instant::from_millis;
        let mut history = History::new();
        for process in 0..8 {
            let id = history
                .invoke(process, RegisterOp::Write(process), at(1))
                .unwrap();
            history.ok(id, RegisterRet::Done, at(2)).unwrap();
        }
        let report = LinearizabilityChecker::new(RegisterModel::<u64>::new())
            .with_state_limit(3)
            .unwrap()
            .check(&history);
        assert!(matches!(report.verdict, Verdict::Unknown { .. }));
        assert!(report.into_result().is_err());
    }
}

//! Client histories with Jepsen semantics.
//!
//! Every client operation is recorded twice: when it is **invoked**, and
//! when it **completes** with one of three outcomes:
//!
//! - `ok`: it happened, with this result;
//! - `fail`: it definitely did not happen (the node refused it before
//!   doing anything);
//! - `info`: unknown — it may have happened, at any point after its
//!   invocation, or never (a timeout, a crash, a lost reply).
//!
//! An operation still pending when the history is checked counts as `info`.

use std::collections::BTreeMap;
use std::fmt;

use tessera_core::Instant;

/// Identifies an operation within its [`History`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<O> {
    /// Not completed (yet): treated as [`Outcome::Info`] by the checker.
    Pending,
    /// It took effect and returned this output.
    Ok(O),
    /// It definitely did not take effect.
    Fail,
    /// It may or may not have taken effect.
    Info,
}

/// One client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Its id.
    pub id: OpId,
    /// The client process that invoked it. A process runs one operation at
    /// a time; after an `info` outcome the client continues as a new
    /// process, since the old operation may still be in flight.
    pub process: u64,
    /// What was asked.
    pub input: I,
    /// When it was invoked.
    pub invoked_at: Instant,
    /// When it completed, if it did.
    pub completed_at: Option<Instant>,
    /// How it ended.
    pub outcome: Outcome<O>,
}

/// Misuse of the history recorder or a malformed history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The operation id is not in this history.
    #[error("operation {0:?} is not in the history")]
    UnknownOperation(OpId),
    /// The operation already completed.
    #[error("operation {0:?} already completed")]
    AlreadyCompleted(OpId),
    /// It completed before it was invoked.
    #[error("operation {id:?} completes at {completed_at} before its invocation at {invoked_at}")]
    CompletedBeforeInvoked {
        /// The operation.
        id: OpId,
        /// Its invocation.
        invoked_at: Instant,
        /// Its completion.
        completed_at: Instant,
    },
    /// A process invoked an operation while its previous one was pending.
    #[error("process {process} invoked {id:?} while {pending:?} was still pending")]
    ProcessBusy {
        /// The process.
        process: u64,
        /// The new operation.
        id: OpId,
        /// Its pending operation.
        pending: OpId,
    },
}

/// A recorded history of client operations.
///
/// # Examples
///
/// ```
/// use tessera_core::Instant;
/// use tessera_sim::{History, Outcome};
///
/// let mut history = History::new();
/// let write = history.invoke(0, "write 1", Instant::from_millis(1)).unwrap();
/// history.ok(write, "ok", Instant::from_millis(3)).unwrap();
/// let read = history.invoke(1, "read", Instant::from_millis(4)).unwrap();
/// history.info(read, Instant::from_millis(9)).unwrap();
///
/// assert_eq!(history.len(), 2);
/// assert_eq!(history.get(read).unwrap().outcome, Outcome::Info);
/// // Completing twice is a clear error, not a panic.
/// assert!(history.ok(write, "ok", Instant::from_millis(5)).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History<I, O> {
    operations: Vec<Operation<I, O>>,
    /// The pending operation of each busy process.
    pending: BTreeMap<u64, OpId>,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        History {
            operations: Vec::new(),
            pending: BTreeMap::new(),
        }
    }
}

impl<I, O> History<I, O> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `process` invoked `input` at `at`.
    ///
    /// # Errors
    ///
    /// [`HistoryError::ProcessBusy`] if the process has an operation still
    /// pending.
    pub fn invoke(&mut self, process: u64, input: I, at: Instant) -> Result<OpId, HistoryError> {
        let id = OpId(self.operations.len());
        if let Some(pending) = self.pending.get(&process) {
            return Err(HistoryError::ProcessBusy {
                process,
                id,
                pending: *pending,
            });
        }
        self.pending.insert(process, id);
        self.operations.push(Operation {
            id,
            process,
            input,
            invoked_at: at,
            completed_at: None,
            outcome: Outcome::Pending,
        });
        Ok(id)
    }

    fn complete(&mut self, id: OpId, outcome: Outcome<O>, at: Instant) -> Result<(), HistoryError> {
        let op = self
            .operations
            .get_mut(id.0)
            .ok_or(HistoryError::UnknownOperation(id))?;
        if !matches!(op.outcome, Outcome::Pending) {
            return Err(HistoryError::AlreadyCompleted(id));
        }
        if at < op.invoked_at {
            return Err(HistoryError::CompletedBeforeInvoked {
                id,
                invoked_at: op.invoked_at,
                completed_at: at,
            });
        }
        op.outcome = outcome;
        op.completed_at = Some(at);
        self.pending.remove(&op.process);
        Ok(())
    }

    /// Records that `id` took effect and returned `output` at `at`.
    ///
    /// # Errors
    ///
    /// [`HistoryError`] if `id` is unknown, already completed, or `at` is
    /// before its invocation.
    pub fn ok(&mut self, id: OpId, output: O, at: Instant) -> Result<(), HistoryError> {
        self.complete(id, Outcome::Ok(output), at)
    }

    /// Records that `id` definitely did not take effect.
    ///
    /// # Errors
    ///
    /// As for [`ok`](Self::ok).
    pub fn fail(&mut self, id: OpId, at: Instant) -> Result<(), HistoryError> {
        self.complete(id, Outcome::Fail, at)
    }

    /// Records that the outcome of `id` is unknown.
    ///
    /// # Errors
    ///
    /// As for [`ok`](Self::ok).
    pub fn info(&mut self, id: OpId, at: Instant) -> Result<(), HistoryError> {
        self.complete(id, Outcome::Info, at)
    }

    /// The operation `id`.
    pub fn get(&self, id: OpId) -> Option<&Operation<I, O>> {
        self.operations.get(id.0)
    }

    /// Every operation, in invocation order.
    pub fn operations(&self) -> &[Operation<I, O>] {
        &self.operations
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Counts of each outcome.
    pub fn summary(&self) -> HistorySummary {
        let mut summary = HistorySummary::default();
        for op in &self.operations {
            match op.outcome {
                Outcome::Pending => summary.pending += 1,
                Outcome::Ok(_) => summary.ok += 1,
                Outcome::Fail => summary.fail += 1,
                Outcome::Info => summary.info += 1,
            }
        }
        summary
    }
}

/// How many operations ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistorySummary {
    /// Completed with a result.
    pub ok: usize,
    /// Definitely did not happen.
    pub fail: usize,
    /// Unknown.
    pub info: usize,
    /// Never completed.
    pub pending: usize,
}

impl fmt::Display for HistorySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ok, {} fail, {} info, {} pending",
            self.ok, self.fail, self.info, self.pending
        )
    }
}

impl<I: fmt::Debug, O: fmt::Debug> fmt::Display for History<I, O> {
    /// One line per event, in time order, Jepsen style.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut events: Vec<(Instant, bool, &Operation<I, O>)> = Vec::new();
        for op in &self.operations {
            events.push((op.invoked_at, false, op));
            if let Some(at) = op.completed_at {
                events.push((at, true, op));
            }
        }
        events.sort_by_key(|(at, is_completion, op)| (*at, *is_completion, op.id));
        for (at, is_completion, op) in events {
            if is_completion {
                let (kind, value) = match &op.outcome {
                    Outcome::Ok(output) => ("ok", format!("{output:?}")),
                    Outcome::Fail => ("fail", String::new()),
                    Outcome::Info | Outcome::Pending => ("info", String::new()),
                };
                writeln!(
                    f,
                    "{at} process {} {kind:<6} {:?} {value}",
                    op.process, op.input
                )?;
            } else {
                writeln!(f, "{at} process {} invoke {:?}", op.process, op.input)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_rejects_malformed_sequences() {
        let mut history: History<u8, u8> = History::new();
        let a = history.invoke(0, 1, Instant::from_millis(5)).unwrap();
        assert_eq!(
            history.invoke(0, 2, Instant::from_millis(6)),
            Err(HistoryError::ProcessBusy {
                process: 0,
                id: OpId(1),
                pending: a
            })
        );
        assert!(matches!(
            history.ok(a, 1, Instant::from_millis(4)),
            Err(HistoryError::CompletedBeforeInvoked { .. })
        ));
        assert_eq!(
            history.fail(OpId(7), Instant::from_millis(9)),
            Err(HistoryError::UnknownOperation(OpId(7)))
        );
        history.fail(a, Instant::from_millis(7)).unwrap();
        assert_eq!(
            history.info(a, Instant::from_millis(8)),
            Err(HistoryError::AlreadyCompleted(a))
        );
        assert_eq!(history.summary().fail, 1);
    }

    #[test]
    fn display_orders_events_by_time() {
        let mut history: History<&str, &str> = History::new();
        let a = history.invoke(0, "w", Instant::from_nanos(1)).unwrap();
        let b = history.invoke(1, "r", Instant::from_nanos(2)).unwrap();
        history.ok(b, "x", Instant::from_nanos(3)).unwrap();
        history.ok(a, "ok", Instant::from_nanos(4)).unwrap();
        let text = history.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[2].contains("process 1 ok"));
        assert!(lines[3].contains("process 0 ok"));
    }
}

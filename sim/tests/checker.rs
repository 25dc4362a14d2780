//! The linearizability checker against histories whose verdict is known:
//! every broken history in this suite must be rejected, every correct one
//! accepted.

use proptest::prelude::*;
use tessera_core::Instant;
use tessera_sim::{
    History, KvModel, KvOp, LinearizabilityChecker, OpId, RegisterModel, RegisterOp, RegisterRet,
    SyntheticHistory, Verdict,
};

type Register = History<RegisterOp<u32>, RegisterRet<u32>>;

/// Builds a register history from `(process, op, invoked, completion)`
/// rows, times in milliseconds; completion `None` is `info`, `Some(None)`
/// is `fail`.
struct Rows(Register);

enum End {
    Ok(u64, RegisterRet<u32>),
    Fail(u64),
    Info(u64),
    Pending,
}

impl Rows {
    fn new() -> Self {
        Rows(History::new())
    }

    fn op(mut self, process: u64, op: RegisterOp<u32>, invoked: u64, end: End) -> Self {
        let id: OpId = self
            .0
            .invoke(process, op, Instant::from_millis(invoked))
            .expect("well-formed row");
        match end {
            End::Ok(at, ret) => self
                .0
                .ok(id, ret, Instant::from_millis(at))
                .expect("well-formed row"),
            End::Fail(at) => self
                .0
                .fail(id, Instant::from_millis(at))
                .expect("well-formed row"),
            End::Info(at) => self
                .0
                .info(id, Instant::from_millis(at))
                .expect("well-formed row"),
            End::Pending => {}
        }
        self
    }

    fn linearizable(&self) -> bool {
        LinearizabilityChecker::new(RegisterModel::new())
            .check(&self.0)
            .is_linearizable()
    }
}

use RegisterOp::{Cas, Delete, Read, Write};

fn read(v: Option<u32>) -> RegisterRet<u32> {
    RegisterRet::Read(v)
}

fn done() -> RegisterRet<u32> {
    RegisterRet::Done
}

// --- broken histories: each must be rejected -------------------------------

#[test]
fn stale_read_is_rejected() {
    // The write completes; a read that starts afterwards sees the old value.
    let h = Rows::new()
        .op(0, Write(1), 0, End::Ok(10, done()))
        .op(1, Write(2), 20, End::Ok(30, done()))
        .op(2, Read, 40, End::Ok(50, read(Some(1))));
    assert!(!h.linearizable());
}

#[test]
fn lost_acknowledged_write_is_rejected() {
    // An acknowledged write vanishes: a later read sees nothing at all.
    let h =
        Rows::new()
            .op(0, Write(7), 0, End::Ok(5, done()))
            .op(1, Read, 10, End::Ok(15, read(None)));
    assert!(!h.linearizable());
}

#[test]
fn real_time_inversion_is_rejected() {
    // A write is in flight. One read sees the new value and completes; a
    // read that begins after it sees the old one. Each read alone could
    // be explained; together they invert real time.
    let h = Rows::new()
        .op(0, Write(1), 0, End::Ok(5, done()))
        .op(0, Write(2), 10, End::Ok(100, done()))
        .op(1, Read, 20, End::Ok(30, read(Some(2))))
        .op(2, Read, 40, End::Ok(50, read(Some(1))));
    assert!(!h.linearizable());
}

#[test]
fn value_never_written_is_rejected() {
    let h = Rows::new().op(0, Write(1), 0, End::Ok(5, done())).op(
        1,
        Read,
        0,
        End::Ok(5, read(Some(9))),
    );
    assert!(!h.linearizable());
}

#[test]
fn failed_write_must_not_be_seen() {
    let h =
        Rows::new()
            .op(0, Write(1), 0, End::Fail(5))
            .op(1, Read, 10, End::Ok(15, read(Some(1))));
    assert!(!h.linearizable());
}

#[test]
fn two_compare_and_sets_from_the_same_value_cannot_both_succeed() {
    let h = Rows::new()
        .op(0, Write(1), 0, End::Ok(5, done()))
        .op(
            1,
            Cas {
                expected: 1,
                new: 2,
            },
            10,
            End::Ok(20, RegisterRet::Cas(true)),
        )
        .op(
            2,
            Cas {
                expected: 1,
                new: 3,
            },
            10,
            End::Ok(20, RegisterRet::Cas(true)),
        );
    assert!(!h.linearizable());
}

#[test]
fn compare_and_set_that_should_have_succeeded_is_rejected() {
    let h = Rows::new().op(0, Write(1), 0, End::Ok(5, done())).op(
        1,
        Cas {
            expected: 1,
            new: 2,
        },
        10,
        End::Ok(20, RegisterRet::Cas(false)),
    );
    assert!(!h.linearizable());
}

#[test]
fn an_effect_cannot_be_undone_by_an_unknown_write() {
    // An indeterminate write may take effect once, at one point: a read
    // cannot see it and a later read not see it.
    let h = Rows::new()
        .op(0, Write(1), 0, End::Info(5))
        .op(1, Read, 10, End::Ok(15, read(Some(1))))
        .op(1, Read, 20, End::Ok(25, read(None)));
    assert!(!h.linearizable());
}

#[test]
fn deleted_value_cannot_reappear() {
    let h = Rows::new()
        .op(0, Write(1), 0, End::Ok(5, done()))
        .op(0, Delete, 10, End::Ok(15, done()))
        .op(1, Read, 20, End::Ok(25, read(Some(1))));
    assert!(!h.linearizable());
}

// --- correct histories: each must be accepted ------------------------------

#[test]
fn sequential_history_is_accepted() {
    let h = Rows::new()
        .op(0, Write(1), 0, End::Ok(5, done()))
        .op(0, Read, 10, End::Ok(15, read(Some(1))))
        .op(
            1,
            Cas {
                expected: 1,
                new: 2,
            },
            20,
            End::Ok(25, RegisterRet::Cas(true)),
        )
        .op(
            1,
            Cas {
                expected: 1,
                new: 3,
            },
            30,
            End::Ok(35, RegisterRet::Cas(false)),
        )
        .op(0, Delete, 40, End::Ok(45, done()))
        .op(1, Read, 50, End::Ok(55, read(None)));
    assert!(h.linearizable());
}

#[test]
fn concurrent_read_may_see_either_value() {
    for seen in [None, Some(1)] {
        let h = Rows::new().op(0, Write(1), 0, End::Ok(20, done())).op(
            1,
            Read,
            5,
            End::Ok(10, read(seen)),
        );
        assert!(h.linearizable(), "{seen:?}");
    }
}

#[test]
fn unknown_write_may_take_effect_late_or_never() {
    let late = Rows::new()
        .op(0, Write(1), 0, End::Info(5))
        .op(1, Read, 10, End::Ok(15, read(None)))
        .op(1, Read, 100, End::Ok(105, read(Some(1))));
    assert!(late.linearizable());
    let never =
        Rows::new()
            .op(0, Write(1), 0, End::Pending)
            .op(1, Read, 10, End::Ok(15, read(None)));
    assert!(never.linearizable());
}

#[test]
fn failed_operations_are_left_out() {
    let h = Rows::new()
        .op(0, Write(1), 0, End::Fail(5))
        .op(1, Read, 10, End::Ok(15, read(None)));
    assert!(h.linearizable());
}

#[test]
fn counterexample_names_the_partition_and_the_stuck_operation() {
    let mut history = History::new();
    let at = Instant::from_millis;
    let a = history
        .invoke(
            0,
            KvOp {
                key: "a",
                op: Write(1u32),
            },
            at(0),
        )
        .unwrap();
    history.ok(a, done(), at(5)).unwrap();
    let b = history
        .invoke(
            0,
            KvOp {
                key: "b",
                op: Write(1),
            },
            at(10),
        )
        .unwrap();
    history.ok(b, done(), at(15)).unwrap();
    let stale = history
        .invoke(1, KvOp { key: "b", op: Read }, at(20))
        .unwrap();
    history.ok(stale, read(None), at(25)).unwrap();

    let report = LinearizabilityChecker::new(KvModel::new()).check(&history);
    let Verdict::NotLinearizable(counterexample) = &report.verdict else {
        panic!("expected a counterexample, got {:?}", report.verdict);
    };
    assert_eq!(counterexample.partition, "\"b\"");
    assert!(counterexample.stuck.contains("Read"), "{counterexample}");
    assert_eq!(counterexample.operations.len(), 2);
    assert_eq!(report.partitions, 2);
    let violation = report.into_result().unwrap_err();
    assert_eq!(violation.invariant, "LINEARIZABILITY");
}

// --- generated histories ---------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Law: a history built from a witness order is accepted.
    #[test]
    fn histories_with_a_witness_are_accepted(
        seed in any::<u64>(),
        clients in 1u64..8,
        keys in 1u64..4,
        info_percent in 0u64..30,
    ) {
        let history = SyntheticHistory { seed, clients, keys, operations: 150, info_percent }.generate();
        let report = LinearizabilityChecker::new(KvModel::new()).check(&history);
        prop_assert!(report.is_linearizable(), "{:?}", report.verdict);
    }

    /// Law: making one completed read return a value nobody wrote makes
    /// the history non-linearizable.
    #[test]
    fn a_read_of_an_unwritten_value_is_always_caught(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let history = SyntheticHistory { seed, clients: 4, keys: 3, operations: 120, info_percent: 10 }.generate();
        let reads: Vec<usize> = history
            .operations()
            .iter()
            .enumerate()
            .filter(|(_, op)| op.input.op == Read && matches!(op.outcome, tessera_sim::Outcome::Ok(_)))
            .map(|(i, _)| i)
            .collect();
        prop_assume!(!reads.is_empty());
        let victim = reads[pick.index(reads.len())];
        // Rebuild the history with the victim's result corrupted.
        let mut corrupted = History::new();
        for (i, op) in history.operations().iter().enumerate() {
            let id = corrupted.invoke(op.process, op.input.clone(), op.invoked_at).unwrap();
            match (&op.outcome, op.completed_at) {
                (tessera_sim::Outcome::Ok(ret), Some(at)) => {
                    let ret = if i == victim { RegisterRet::Read(Some(u64::MAX)) } else { ret.clone() };
                    corrupted.ok(id, ret, at).unwrap();
                }
                (tessera_sim::Outcome::Info, Some(at)) => corrupted.info(id, at).unwrap(),
                _ => {}
            }
        }
        let report = LinearizabilityChecker::new(KvModel::new()).check(&corrupted);
        prop_assert!(!report.is_linearizable());
    }
}

#[test]
fn a_large_generated_history_is_checked_quickly_enough_to_matter() {
    // The benchmark's shape: 10,000 operations, 10 clients, 100 keys.
    let history = SyntheticHistory {
        seed: 1,
        clients: 10,
        keys: 100,
        operations: 10_000,
        info_percent: 5,
    }
    .generate();
    let report = LinearizabilityChecker::new(KvModel::new()).check(&history);
    assert!(report.is_linearizable());
    assert_eq!(report.partitions, 100);
}

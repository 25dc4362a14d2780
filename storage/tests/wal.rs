//! The write-ahead log through its public API: group commit, tickets,
//! faults and modes. Each test names the rule it checks.

// Test helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{GatedFs, block_on};
use tessera_core::{Invariant, Mode};
use tessera_storage::{
    AcknowledgedWritesSurvive, CrashKind, Fault, Faults, FaultyFs, LogPosition, SimFs,
    StorageError, StorageMode, Wal, WalOptions,
};

const DIR: &str = "/node/wal";

fn open(fs: impl tessera_storage::FileSystem + 'static) -> Wal {
    open_with(fs, WalOptions::default())
}

fn open_with(fs: impl tessera_storage::FileSystem + 'static, options: WalOptions) -> Wal {
    Wal::open(Arc::new(fs), DIR, options)
        .expect("open the log")
        .0
}

// Rule: group commit — everything appended while a sync is in flight shares
// the next sync; and no record is acknowledged before its sync returned.
#[test]
fn appends_during_a_sync_share_the_next_one() {
    let fs = GatedFs::new(SimFs::new());
    let wal = open(fs.clone());
    fs.close_gate();
    let (_, first) = wal.append(1, b"first").unwrap();
    fs.wait_for_waiters(1); // the syncer is inside fdatasync for `first`
    let rest: Vec<_> = (0..99)
        .map(|n| wal.append(1, &[n as u8; 32]).unwrap().1)
        .collect();
    assert!(first.try_result().is_none(), "not durable before its sync");
    assert!(rest.iter().all(|t| t.try_result().is_none()));
    // A crash now keeps none of them: nothing was reported durable.
    let crashed = fs.sim().crash(CrashKind::SyncedOnly);
    fs.pass_one();
    first.wait().unwrap();
    assert!(
        rest.iter().all(|t| t.try_result().is_none()),
        "the second batch still waits for its own sync"
    );
    fs.open_gate();
    for ticket in rest {
        ticket.wait().unwrap();
    }
    let stats = wal.stats();
    assert_eq!(stats.records, 100);
    assert_eq!(stats.syncs, 2, "100 records, 2 syncs: {stats:?}");
    assert_eq!(stats.batch_records_max, 99);
    let (after, report) = Wal::open(Arc::new(crashed), DIR, WalOptions::default()).unwrap();
    assert_eq!(report.records, 0);
    assert_eq!(after.last_lsn(), 0);
}

// Rule: records are readable at once, before they are written or synced.
#[test]
fn unsynced_records_are_readable() {
    let fs = GatedFs::new(SimFs::new());
    let wal = open(fs.clone());
    fs.close_gate();
    let (lsn, ticket) = wal.append(7, b"pending").unwrap();
    fs.wait_for_waiters(1);
    let (second, _) = wal.append(8, b"queued").unwrap();
    assert_eq!(wal.read(lsn).unwrap().payload, b"pending");
    assert_eq!(wal.read(second).unwrap().payload, b"queued");
    assert_eq!(wal.term_at(second).unwrap(), 8);
    fs.open_gate();
    ticket.wait().unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.read(second).unwrap().term, 8);
}

// Rule: a ticket is also a future (no runtime needed) and can call back;
// both report only after the sync.
#[test]
fn tickets_complete_as_futures_and_callbacks() {
    let fs = GatedFs::new(SimFs::new());
    let wal = open(fs.clone());
    fs.close_gate();
    let (_, ticket) = wal.append(1, b"a").unwrap();
    let (_, callback_ticket) = wal.append(1, b"b").unwrap();
    let called = Arc::new(Mutex::new(None));
    {
        let called = Arc::clone(&called);
        callback_ticket.on_durable(move |outcome| {
            *called.lock().unwrap() = Some(outcome.is_ok());
        });
    }
    fs.wait_for_waiters(1);
    assert_eq!(*called.lock().unwrap(), None, "no callback before the sync");
    let waiter = std::thread::spawn(move || block_on(ticket));
    fs.open_gate();
    waiter.join().unwrap().unwrap();
    wal.sync().unwrap();
    assert_eq!(*called.lock().unwrap(), Some(true));
}

// Rule: a failed fsync is never reported durable; the log refuses every
// later write (poisoned, read-only) and says why; durable records stay
// readable.
#[test]
fn failed_sync_poisons_the_log() {
    let faults = Faults::new();
    let sim = SimFs::new();
    let wal = open(FaultyFs::new(sim.clone(), faults.clone()));
    let (durable, ticket) = wal.append(1, b"durable").unwrap();
    ticket.wait().unwrap();
    faults.fail_syncs_after(0);
    let (lost, ticket) = wal.append(1, b"lost").unwrap();
    let error = ticket.wait().unwrap_err();
    assert!(matches!(error, StorageError::Poisoned { .. }), "{error}");
    assert_eq!(error.fault(), Fault::Io);
    assert!(error.to_string().contains("fdatasync"), "{error}");
    assert!(matches!(
        wal.append(1, b"refused"),
        Err(StorageError::Poisoned { .. })
    ));
    assert!(wal.truncate_from(1).is_err());
    assert!(wal.save_hard_state(vec![1]).is_err());
    assert_eq!(wal.mode(), StorageMode::ReadOnly);
    assert!(!wal.mode().allows("append"));
    let why = wal.mode_history().pop().unwrap();
    assert!(why.trigger.contains("fdatasync"), "{}", why.trigger);
    // Read-only: the durable record is served, the unsynced one is not.
    assert_eq!(wal.read(durable).unwrap().payload, b"durable");
    assert_eq!(wal.last_lsn(), durable);
    assert!(wal.read(lost).is_err());
    assert!(wal.close().is_err(), "close reports the poisoning");
    // Reopened (the disk healed): recovery rebuilds from what is on disk.
    faults.heal();
    let crashed = sim.crash(CrashKind::SyncedOnly);
    let wal = open(crashed);
    assert_eq!(wal.read(durable).unwrap().payload, b"durable");
    let (_, ticket) = wal.append(2, b"again").unwrap();
    ticket.wait().unwrap();
}

// Rule: a full disk (ENOSPC) fails the batch and poisons the log; after
// space is freed, recovery cuts the partial record and appending continues;
// nothing acknowledged is lost.
#[test]
fn full_disk_poisons_then_recovers() {
    let faults = Faults::new();
    let sim = SimFs::new();
    let wal = open(FaultyFs::new(sim.clone(), faults.clone()));
    let mut invariant = AcknowledgedWritesSurvive::new();
    for n in 0..10u8 {
        let (lsn, ticket) = wal.append(1, &[n; 100]).unwrap();
        ticket.wait().unwrap();
        invariant.acknowledge(lsn, vec![n; 100]);
    }
    faults.disk_full_after(50); // part of the next record fits
    let (_, ticket) = wal.append(1, &[99; 100]).unwrap();
    let error = ticket.wait().unwrap_err();
    assert!(error.to_string().contains("ENOSPC"), "{error}");
    assert_eq!(wal.mode(), StorageMode::ReadOnly);
    drop(wal);
    faults.heal();
    let (wal, report) = Wal::open(
        Arc::new(sim.crash(CrashKind::ProcessCrash)),
        DIR,
        WalOptions::default(),
    )
    .unwrap();
    assert!(
        report
            .repairs
            .iter()
            .any(|repair| matches!(repair, tessera_storage::Repair::TornTail { .. })),
        "the partial record is cut: {report}"
    );
    invariant.check(&wal).unwrap();
    let (lsn, ticket) = wal.append(1, b"continues").unwrap();
    ticket.wait().unwrap();
    assert_eq!(lsn, 11);
}

// Rule: short writes are completed, never taken for full ones.
#[test]
fn short_writes_are_completed() {
    let faults = Faults::new();
    faults.short_writes(true);
    let sim = SimFs::new();
    let wal = open(FaultyFs::new(sim.clone(), faults.clone()));
    for n in 0..20u8 {
        wal.append(3, &[n; 300]).unwrap();
    }
    wal.save_hard_state(vec![5; 40]).unwrap();
    wal.sync().unwrap();
    assert!(faults.injected() > 20);
    let wal = open(sim.crash(CrashKind::SyncedOnly));
    for lsn in 1..=20 {
        assert_eq!(wal.read(lsn).unwrap().payload, vec![lsn as u8 - 1; 300]);
    }
    assert_eq!(wal.hard_state().unwrap().as_slice(), &[5; 40]);
}

// Rule: the hard state is replaced atomically and only after every earlier
// append is durable (a crash keeps a prefix of the operations).
#[test]
fn hard_state_is_ordered_after_earlier_appends() {
    let sim = SimFs::new();
    let wal = open(sim.clone());
    wal.append(1, b"entry").unwrap();
    let ticket = wal.save_hard_state(b"term 1".to_vec()).unwrap();
    ticket.wait().unwrap();
    let after = open(sim.crash(CrashKind::SyncedOnly));
    assert_eq!(after.read(1).unwrap().payload, b"entry");
    assert_eq!(after.hard_state().unwrap().as_slice(), b"term 1");
}

// Rule: a failed sync of the hard state poisons the log too.
#[test]
fn failed_hard_state_sync_poisons() {
    let faults = Faults::new();
    let wal = open(FaultyFs::new(SimFs::new(), faults.clone()));
    faults.fail_syncs_after(0);
    let ticket = wal.save_hard_state(vec![1, 2, 3]).unwrap();
    assert!(ticket.wait().is_err());
    assert_eq!(wal.mode(), StorageMode::ReadOnly);
}

// Rule: slow syncs and a nearly full log are reported as Degraded, with the
// trigger; a full log refuses appends without poisoning; purging brings it
// back to Healthy.
#[test]
fn degraded_modes_and_the_size_limit() {
    let slow = open_with(
        SimFs::new(),
        WalOptions {
            slow_sync_threshold: Duration::ZERO,
            clock: Arc::new(StepClock::default()),
            ..WalOptions::default()
        },
    );
    slow.append(1, b"x").unwrap().1.wait().unwrap();
    assert_eq!(slow.mode(), StorageMode::Degraded);
    assert!(
        slow.mode_history()
            .pop()
            .unwrap()
            .trigger
            .contains("sync took")
    );

    let options = WalOptions {
        log_bytes_max: Some(2_000),
        segment_bytes_max: 500,
        record_bytes_max: 400,
        ..WalOptions::default()
    };
    let wal = open_with(SimFs::new(), options);
    let mut last = 0;
    loop {
        match wal.append(1, &[1; 100]) {
            Ok((lsn, ticket)) => {
                ticket.wait().unwrap();
                last = lsn;
            }
            Err(error) => {
                assert!(matches!(error, StorageError::LogFull { .. }), "{error}");
                assert_eq!(error.fault(), Fault::Misuse);
                break;
            }
        }
    }
    assert_eq!(wal.mode(), StorageMode::Degraded);
    assert!(wal.mode().allows("append"), "degraded still writes");
    wal.purge_to(LogPosition::new(last - 1, 1))
        .unwrap()
        .wait()
        .unwrap();
    let (_, ticket) = wal.append(1, &[2; 100]).unwrap();
    ticket.wait().unwrap();
    assert_eq!(wal.mode(), StorageMode::Healthy, "{:?}", wal.mode_history());
}

/// A clock that advances a millisecond per reading: every sync "takes"
/// time, without sleeping.
#[derive(Debug, Default)]
struct StepClock(AtomicUsize);

impl tessera_core::Clock for StepClock {
    fn now(&self) -> tessera_core::Instant {
        let step = self.0.fetch_add(1, Ordering::SeqCst) as u64;
        tessera_core::Instant::from_millis(step)
    }
    fn wall(&self) -> tessera_core::WallTime {
        tessera_core::WallTime::from_unix_nanos(0)
    }
}

// Rule: appends must fit the configured record size; options are checked.
#[test]
fn limits_are_enforced() {
    let wal = open_with(
        SimFs::new(),
        WalOptions {
            record_bytes_max: 10,
            ..WalOptions::default()
        },
    );
    assert!(matches!(
        wal.append(1, &[0; 11]),
        Err(StorageError::RecordTooLarge { len: 11, max: 10 })
    ));
    assert!(matches!(
        wal.append_at(5, 1, b"x"),
        Err(StorageError::NotContiguous {
            expected: 1,
            got: 5
        })
    ));
    let bad = Wal::open(
        Arc::new(SimFs::new()),
        DIR,
        WalOptions {
            segment_bytes_max: 10,
            ..WalOptions::default()
        },
    );
    assert!(matches!(bad, Err(StorageError::InvalidParameter(_))));
}

// Rule: truncation and purge are ordered with appends and survive crashes;
// truncated records can be appended again.
#[test]
fn truncate_and_purge_survive_a_crash() {
    let sim = SimFs::new();
    let options = WalOptions {
        segment_bytes_max: 400,
        record_bytes_max: 200,
        ..WalOptions::default()
    };
    let wal = open_with(sim.clone(), options.clone());
    for n in 1..=30u64 {
        wal.append(n / 10 + 1, &n.to_le_bytes()).unwrap();
    }
    wal.truncate_from(21).unwrap();
    wal.append(9, b"replaced").unwrap();
    wal.purge_to(LogPosition::new(12, 2)).unwrap();
    wal.sync().unwrap();
    let segments_before = sim.paths().len();
    let after = open_with(sim.crash(CrashKind::SyncedOnly), options);
    assert_eq!(after.base(), LogPosition::new(12, 2));
    assert_eq!(after.last_lsn(), 21);
    assert_eq!(after.read(21).unwrap().payload, b"replaced");
    assert_eq!(after.read(13).unwrap().payload, 13u64.to_le_bytes());
    assert!(matches!(
        after.read(12),
        Err(StorageError::Compacted { .. })
    ));
    assert!(segments_before < 12, "purged segments are removed");
}

// Rule: closing seals the log: the next open finds it clean.
#[test]
fn close_seals_and_reopen_is_clean() {
    let sim = SimFs::new();
    let wal = open(sim.clone());
    wal.append(1, b"a").unwrap();
    wal.close().unwrap();
    let (_, report) = Wal::open(Arc::new(sim.clone()), DIR, WalOptions::default()).unwrap();
    assert!(report.clean && report.repairs.is_empty(), "{report}");
    assert_eq!(report.records, 1);
    assert!(Path::new(DIR).is_absolute());
}

// Rule: the mode matrix holds for the log's reported modes.
#[test]
fn a_fresh_log_recovers_into_healthy() {
    let wal = open(SimFs::new());
    let history = wal.mode_history();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from, StorageMode::Recovering);
    assert_eq!(history[0].to, StorageMode::Healthy);
    assert!(history[0].trigger.starts_with("recovery finished"));
}

// Rule: dropping the last handle of a log from a completion callback (on
// the syncer thread) neither panics nor hangs.
#[test]
fn the_last_handle_may_be_dropped_in_a_callback() {
    let fs = GatedFs::new(SimFs::new());
    let wal = Arc::new(open(fs.clone()));
    fs.close_gate();
    let (_, ticket) = wal.append(1, b"x").unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    let last = Arc::clone(&wal);
    ticket.on_durable(move |outcome| {
        outcome.unwrap();
        drop(last);
        done.send(()).unwrap();
    });
    drop(wal);
    fs.open_gate();
    finished.recv_timeout(Duration::from_secs(30)).unwrap();
}

//! Recovery: torn tails are cut, corruption is reported with file and
//! offset, damage to a closed log is always detected, and no acknowledged
//! record is lost to a power failure at any moment.

// Test helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_core::{Invariant, SeededRng};
use tessera_storage::{
    AcknowledgedWritesSurvive, CrashKind, Fault, LogPosition, RECORD_HEADER_BYTES, Repair,
    SEGMENT_HEADER_BYTES, SimFs, StorageError, Wal, WalOptions, inspect_log,
};

const DIR: &str = "/node/wal";

fn options() -> WalOptions {
    WalOptions {
        segment_bytes_max: 1024,
        record_bytes_max: 256,
        ..WalOptions::default()
    }
}

fn open(fs: &SimFs) -> Result<(Wal, tessera_storage::RecoveryReport), StorageError> {
    Wal::open(Arc::new(fs.clone()), DIR, options())
}

fn segments(fs: &SimFs) -> Vec<PathBuf> {
    fs.paths()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .collect()
}

fn payload(lsn: u64) -> Vec<u8> {
    vec![(lsn % 250) as u8 + 1; 20 + (lsn % 40) as usize]
}

/// A log with `records` records, each synced in its own batch, left as a
/// crash leaves it (not closed, so its last segment is not sealed).
fn crashed_log(records: u64) -> SimFs {
    let fs = SimFs::new();
    let (wal, _) = open(&fs).unwrap();
    for lsn in 1..=records {
        wal.append(1, &payload(lsn)).unwrap().1.wait().unwrap();
    }
    fs.crash(CrashKind::ProcessCrash)
}

/// A log closed cleanly, with a purge and a hard state, several segments.
fn closed_log() -> SimFs {
    let fs = SimFs::new();
    let (wal, _) = open(&fs).unwrap();
    for lsn in 1..=60 {
        wal.append(lsn / 20 + 1, &payload(lsn)).unwrap();
    }
    wal.purge_to(LogPosition::new(5, 1)).unwrap();
    wal.save_hard_state(b"term 3, vote 2".to_vec()).unwrap();
    wal.close().unwrap();
    fs
}

fn last_segment(fs: &SimFs) -> PathBuf {
    segments(fs).pop().unwrap()
}

// Rule: a torn tail — a record cut short by the crash — is truncated back
// to the last valid record, reported, and appending continues after it.
#[test]
fn torn_tail_is_cut_back() {
    let fs = crashed_log(10);
    let path = last_segment(&fs);
    let mut bytes = fs.read_file(&path).unwrap();
    let full = bytes.len();
    // Half of the last record is lost.
    let last_len = RECORD_HEADER_BYTES + payload(10).len();
    bytes.truncate(full - last_len / 2);
    fs.overwrite_file(&path, &bytes);
    let (wal, report) = open(&fs).unwrap();
    assert_eq!(report.last_lsn, 9);
    match &report.repairs[..] {
        [
            Repair::TornTail {
                file,
                offset,
                bytes_dropped,
                defect,
            },
        ] => {
            assert_eq!(file, &path);
            assert_eq!(*offset, (full - last_len) as u64);
            assert_eq!(*bytes_dropped, (last_len - last_len / 2) as u64);
            assert!(defect.starts_with("record truncated"), "{defect}");
        }
        other => panic!("expected one torn tail, got {other:?}"),
    }
    let (lsn, ticket) = wal.append(2, b"after the tear").unwrap();
    ticket.wait().unwrap();
    assert_eq!(lsn, 10);
    drop(wal);
    let (wal, report) = open(&fs).unwrap();
    assert!(report.repairs.is_empty(), "{report}");
    assert_eq!(wal.read(10).unwrap().payload, b"after the tear");
}

// Rule: a zero-filled tail (the length reached the disk, the data did not)
// is truncated too.
#[test]
fn zero_filled_tail_is_cut_back() {
    let fs = crashed_log(5);
    let path = last_segment(&fs);
    let mut bytes = fs.read_file(&path).unwrap();
    let valid = bytes.len() as u64;
    bytes.extend_from_slice(&[0; 4096]);
    fs.overwrite_file(&path, &bytes);
    let (wal, report) = open(&fs).unwrap();
    assert_eq!(wal.last_lsn(), 5);
    assert!(matches!(
        &report.repairs[..],
        [Repair::TornTail { offset, bytes_dropped: 4096, .. }] if *offset == valid
    ));
    assert_eq!(fs.read_file(&path).unwrap().len() as u64, valid);
}

/// The file and offset of the record at `lsn`, from the inspection tool.
fn locate(fs: &SimFs, lsn: u64) -> (PathBuf, u64) {
    let inspection = inspect_log(fs, Path::new(DIR), true).unwrap();
    for segment in inspection.segments {
        for record in segment.records {
            if record.lsn == lsn {
                return (segment.file, record.offset);
            }
        }
    }
    panic!("lsn {lsn} not found")
}

fn flip(fs: &SimFs, path: &Path, offset: u64) {
    let mut bytes = fs.read_file(path).unwrap();
    bytes[offset as usize] ^= 0x10;
    fs.overwrite_file(path, &bytes);
}

// Rule: a checksum mismatch in a sealed segment is corruption, reported
// with the file and the offset of the damaged record; the log does not
// open.
#[test]
fn corruption_in_a_sealed_segment_is_reported_with_file_and_offset() {
    let fs = crashed_log(40);
    assert!(segments(&fs).len() > 2);
    let (file, offset) = locate(&fs, 3);
    flip(&fs, &file, offset + RECORD_HEADER_BYTES as u64 + 2);
    let error = open(&fs).unwrap_err();
    match &error {
        StorageError::Corruption {
            file: damaged,
            offset: at,
            reason,
        } => {
            assert_eq!((damaged, *at), (&file, offset));
            assert!(reason.contains("checksum mismatch"), "{reason}");
        }
        other => panic!("expected corruption, got {other}"),
    }
    assert_eq!(error.fault(), Fault::Corruption);
}

// Rule: damage in the middle of the last segment, followed by records that
// prove it was synced, is corruption — not a torn tail to cut silently.
#[test]
fn corruption_in_the_middle_of_the_last_segment_is_not_a_torn_tail() {
    let fs = crashed_log(40);
    let path = last_segment(&fs);
    let inspection = inspect_log(&fs, Path::new(DIR), true).unwrap();
    let last = inspection.segments.last().unwrap();
    assert!(last.records.len() >= 3, "{inspection}");
    let damaged = &last.records[1];
    flip(&fs, &path, damaged.offset + 40);
    let error = open(&fs).unwrap_err();
    let StorageError::Corruption {
        file,
        offset,
        reason,
    } = &error
    else {
        panic!("expected corruption, got {error}")
    };
    assert_eq!((file, *offset), (&path, damaged.offset));
    assert!(reason.contains("was synced"), "{reason}");
}

fn expect_detected(fs: &SimFs, what: &str) {
    match open(fs) {
        Err(error) if error.is_corruption() => {}
        Err(error) => panic!("{what}: expected corruption, got {error}"),
        Ok((_, report)) => panic!("{what}: opened without noticing: {report}"),
    }
}

// Rule: every bit flip anywhere in a closed log — segments, metadata, hard
// state — is detected: the log does not open.
#[test]
fn every_bit_flip_of_a_closed_log_is_detected() {
    let pristine = closed_log();
    let mut rng = SeededRng::new(7);
    let mut checked = 0;
    for path in pristine.paths() {
        let bytes = pristine.read_file(&path).unwrap();
        for offset in 0..bytes.len() {
            let fs = pristine.crash(CrashKind::SyncedOnly);
            let mut damaged = bytes.clone();
            damaged[offset] ^= 1 << rng.below(8);
            fs.overwrite_file(&path, &damaged);
            expect_detected(&fs, &format!("{} byte {offset}", path.display()));
            checked += 1;
        }
    }
    assert!(checked > 2000, "checked {checked} flips");
}

// Rule: every truncation of any file of a closed log is detected.
#[test]
fn every_truncation_of_a_closed_log_is_detected() {
    let pristine = closed_log();
    for path in pristine.paths() {
        let bytes = pristine.read_file(&path).unwrap();
        for len in 0..bytes.len() {
            let fs = pristine.crash(CrashKind::SyncedOnly);
            fs.overwrite_file(&path, &bytes[..len]);
            expect_detected(&fs, &format!("{} cut to {len}", path.display()));
        }
    }
}

// Rule: a missing segment in the middle, or segments newer than the
// metadata, are corruption.
#[test]
fn missing_or_foreign_segments_are_corruption() {
    let fs = crashed_log(40);
    let all = segments(&fs);
    let gone = &all[1];
    let crashed = fs.crash(CrashKind::SyncedOnly);
    use tessera_storage::FileSystem;
    crashed.remove_file(gone).unwrap();
    crashed.sync_dir(Path::new(DIR)).unwrap();
    let error = open(&crashed).unwrap_err();
    assert!(error.to_string().contains("is missing"), "{error}");
}

// Rule: leftovers of interrupted atomic writes are removed and reported.
#[test]
fn leftover_temporary_files_are_removed() {
    let fs = crashed_log(3);
    let temp = Path::new(DIR).join("hard-state.tmp");
    fs.overwrite_file(&temp, b"half written");
    let (_, report) = open(&fs).unwrap();
    assert!(
        report
            .repairs
            .contains(&Repair::RemovedTempFile { file: temp.clone() })
    );
    assert!(fs.read_file(&temp).is_none());
}

// Rule: an empty last segment with a broken header is corruption — a named
// segment always has a complete header (it is created under a temporary
// name) — so the data before it cannot be silently cut.
#[test]
fn a_broken_header_is_corruption_even_in_the_last_segment() {
    let fs = closed_log();
    let path = last_segment(&fs);
    let bytes = fs.read_file(&path).unwrap();
    assert_eq!(bytes.len(), SEGMENT_HEADER_BYTES, "the seal is header-only");
    fs.overwrite_file(&path, &bytes[..10]);
    expect_detected(&fs, "seal header cut");
}

/// One random workload step's bookkeeping: what was appended at each lsn,
/// and what was acknowledged.
struct Workload {
    rng: SeededRng,
    appended: BTreeMap<u64, BTreeSet<Vec<u8>>>,
    acknowledged: AcknowledgedWritesSurvive,
    counter: u64,
}

impl Workload {
    fn run(&mut self, wal: &Wal, operations: usize) {
        let mut pending = Vec::new();
        for _ in 0..operations {
            match self.rng.below(20) {
                0 => {
                    let last = wal.last_lsn();
                    let base = wal.base().index;
                    if last > base {
                        let from = self.rng.range(base + 1, last + 1);
                        self.acknowledged.truncated_from(from);
                        pending.clear();
                        wal.truncate_from(from).unwrap();
                    }
                }
                1 => {
                    let last = wal.last_lsn();
                    let base = wal.base().index;
                    if last > base + 3 {
                        let index = self.rng.range(base + 1, last - 2);
                        let term = wal.term_at(index).unwrap();
                        let upto = if self.rng.chance(0.8) {
                            LogPosition::new(index, term)
                        } else {
                            LogPosition::new(last + 5, term + 1)
                        };
                        wal.purge_to(upto).unwrap();
                    }
                }
                2 => {
                    let _ = wal.save_hard_state(self.counter.to_le_bytes().to_vec());
                }
                3 => {
                    // Wait for everything: acknowledged.
                    for (lsn, payload, ticket) in pending.drain(..) {
                        let ticket: tessera_storage::DurableTicket = ticket;
                        ticket.wait().unwrap();
                        self.acknowledged.acknowledge(lsn, payload);
                    }
                }
                _ => {
                    self.counter += 1;
                    let len = self.rng.range(1, 200) as usize;
                    let mut payload = self.counter.to_le_bytes().to_vec();
                    payload.resize(len.max(8), (self.counter % 200) as u8);
                    let term = 1 + self.counter / 50;
                    let (lsn, ticket) = wal.append(term, &payload).unwrap();
                    self.appended
                        .entry(lsn)
                        .or_default()
                        .insert(payload.clone());
                    pending.push((lsn, payload, ticket));
                }
            }
        }
        // Some tickets are complete without being waited for.
        for (lsn, payload, ticket) in pending {
            if ticket.is_durable() {
                self.acknowledged.acknowledge(lsn, payload);
            }
        }
    }
}

// Rule: whatever instant the power fails — mid-batch, mid-roll, mid-purge,
// mid-truncation — the log reopens without a false corruption report,
// every acknowledged record is there, every record found was appended at
// its lsn, and appending continues.
#[test]
fn power_loss_at_random_moments_loses_no_acknowledged_record() {
    let seeds = std::env::var("TESSERA_POWER_LOSS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60u64);
    let (mut torn_tails, mut checked) = (0, 0);
    for seed in 0..seeds {
        let mut fs = SimFs::new();
        let mut workload = Workload {
            rng: SeededRng::new(seed),
            appended: BTreeMap::new(),
            acknowledged: AcknowledgedWritesSurvive::new(),
            counter: 0,
        };
        for round in 0..6 {
            let gated = common::GatedFs::new(fs.clone());
            let (wal, report) =
                Wal::open(Arc::new(gated.clone()), DIR, options()).unwrap_or_else(|error| {
                    panic!("seed {seed} round {round}: recovery failed: {error}")
                });
            workload
                .acknowledged
                .check(&wal)
                .unwrap_or_else(|violation| {
                    panic!("seed {seed} round {round}: {violation} after {report}")
                });
            checked += workload.acknowledged.len();
            torn_tails += report
                .repairs
                .iter()
                .filter(|repair| matches!(repair, Repair::TornTail { .. }))
                .count();
            let base = wal.base().index;
            let last = wal.last_lsn();
            for lsn in base + 1..=last {
                let record = wal.read(lsn).unwrap();
                let known = workload
                    .appended
                    .get(&lsn)
                    .is_some_and(|payloads| payloads.contains(&record.payload));
                assert!(
                    known,
                    "seed {seed} round {round}: lsn {lsn} holds a record never appended there"
                );
            }
            let operations = workload.rng.range(10, 120) as usize;
            workload.run(&wal, operations);
            let crash_seed = workload.rng.next_u64();
            if workload.rng.chance(0.7) {
                // The power fails while the syncer is inside a sync, with
                // a batch written but not yet durable.
                gated.close_gate();
                for _ in 0..workload.rng.range(1, 30) {
                    workload.counter += 1;
                    let payload = workload.counter.to_le_bytes().to_vec();
                    let (lsn, _) = wal.append(1 + workload.counter / 50, &payload).unwrap();
                    workload.appended.entry(lsn).or_default().insert(payload);
                }
                gated.wait_for_waiters(1);
                fs = gated.sim().crash(CrashKind::PowerLoss { seed: crash_seed });
                gated.open_gate();
            } else {
                // The power fails whenever it does.
                fs = gated.sim().crash(CrashKind::PowerLoss { seed: crash_seed });
            }
            drop(wal);
        }
    }
    // The workload must really tear tails and check acknowledgements.
    assert!(
        torn_tails > seeds as usize / 4,
        "only {torn_tails} torn tails"
    );
    assert!(
        checked > seeds as usize * 20,
        "only {checked} acknowledgements checked"
    );
    eprintln!("{seeds} seeds: {torn_tails} torn tails cut, {checked} acknowledgements checked");
}

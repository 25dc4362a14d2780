//! The crash test: a child process appends with group commit and prints
//! every durability acknowledgement; the parent kills it with SIGKILL at a
//! random moment, reopens the log and checks that every acknowledged record
//! is present and intact, that records are in order, and that appending
//! continues. Then again, on the same log, hundreds of times.
//!
//! ```sh
//! cargo test -p tessera-storage --test crash                   # 300 kills
//! TESSERA_CRASH_ITERATIONS=5000 cargo test -p tessera-storage --test crash
//! TESSERA_CRASH_SEED=42 cargo test -p tessera-storage --test crash   # replay the kill timing
//! ```
//!
//! This file has its own `main` (`harness = false`): the same binary is the
//! parent, and — with `TESSERA_CRASH_CHILD_DIR` set — the child.

// A test binary: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_core::{Invariant, SeededRng};
use tessera_storage::{AcknowledgedWritesSurvive, LogPosition, StdFs, Wal, WalOptions};

const CHILD_DIR: &str = "TESSERA_CRASH_CHILD_DIR";
/// Which incarnation the child is: its counters start above every earlier
/// one's, so each appender's records keep increasing across kills.
const CHILD_INCARNATION: &str = "TESSERA_CRASH_CHILD_INCARNATION";
const APPENDERS: u8 = 4;
const ITERATIONS_DEFAULT: u64 = 300;
/// The child purges to keep about this many records, so the log (and the
/// parent's checks) stay small however many iterations run.
const RECORDS_KEPT: u64 = 3000;

fn options() -> WalOptions {
    WalOptions {
        // Small segments: kills land during rolls too.
        segment_bytes_max: 32 << 10,
        record_bytes_max: 1024,
        ..WalOptions::default()
    }
}

/// The payload appender `thread` writes as its `counter`-th record: any
/// damage or mix-up shows when the parent regenerates it.
fn payload(thread: u8, counter: u64) -> Vec<u8> {
    let mut bytes = vec![thread];
    bytes.extend_from_slice(&counter.to_le_bytes());
    let filler = 16 + (counter.wrapping_mul(31) + u64::from(thread) * 7) % 200;
    bytes.extend((0..filler).map(|i| (i as u8).wrapping_mul(thread + 1) ^ counter as u8));
    bytes
}

/// Which appender and counter a payload claims, if it is well formed.
fn parse_payload(bytes: &[u8]) -> Option<(u8, u64)> {
    let thread = *bytes.first()?;
    let counter = u64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?);
    (payload(thread, counter) == bytes).then_some((thread, counter))
}

fn main() {
    match std::env::var(CHILD_DIR) {
        Ok(dir) => {
            let incarnation = std::env::var(CHILD_INCARNATION)
                .ok()
                .and_then(|value| value.parse().ok())
                .unwrap_or(0);
            child(Path::new(&dir), incarnation)
        }
        Err(_) => parent(),
    }
}

/// Appends forever from several threads, printing one line per
/// acknowledgement, after the ticket said durable.
fn child(dir: &Path, incarnation: u64) {
    let (wal, report) = Wal::open(Arc::new(StdFs), dir, options()).unwrap();
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let print = |out: &Mutex<std::io::Stdout>, line: String| {
        let mut out = out.lock().unwrap();
        // One write per line, flushed at once: a kill may cut the last line
        // short, never mix two.
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    };
    print(&out, format!("ready {}\n", report.last_lsn));
    let wal = Arc::new(wal);
    let threads: Vec<_> = (0..APPENDERS)
        .map(|thread| {
            let wal = Arc::clone(&wal);
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                for counter in (incarnation << 32).. {
                    let (lsn, ticket) = wal.append(1, &payload(thread, counter)).unwrap();
                    if counter % 3 == 0 {
                        // Some acknowledgements come by callback, on the
                        // syncer thread.
                        let out = Arc::clone(&out);
                        ticket.on_durable(move |outcome| {
                            if outcome.is_ok() {
                                print(&out, format!("ack {lsn} {thread} {counter}\n"));
                            }
                        });
                        continue;
                    }
                    ticket.wait().unwrap();
                    print(&out, format!("ack {lsn} {thread} {counter}\n"));
                    if thread == 0 && counter % 50 == 0 {
                        let last = wal.last_lsn();
                        if last > wal.base().index + RECORDS_KEPT {
                            let index = last - RECORDS_KEPT / 2;
                            let term = wal.term_at(index).unwrap();
                            wal.purge_to(LogPosition::new(index, term)).unwrap();
                        }
                        let hard = counter.to_le_bytes().to_vec();
                        wal.save_hard_state(hard).unwrap().wait().unwrap();
                        print(&out, format!("hard {counter}\n"));
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

struct Kill {
    acks: Vec<(u64, u8, u64)>,
    hard: Option<u64>,
    ready: bool,
}

/// Runs one child and kills it `after` its start (counted from when it
/// reports ready, unless `early`).
fn run_child(dir: &Path, incarnation: u64, after: Duration, early: bool) -> Kill {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env(CHILD_DIR, dir)
        .env(CHILD_INCARNATION, incarnation.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut kill = Kill {
            acks: Vec::new(),
            hard: None,
            ready: false,
        };
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let words: Vec<&str> = line.split(' ').collect();
            match words[..] {
                ["ready", _] => {
                    kill.ready = true;
                    let _ = ready_tx.send(());
                }
                ["ack", lsn, thread, counter] => {
                    if let (Ok(lsn), Ok(thread), Ok(counter)) =
                        (lsn.parse(), thread.parse(), counter.parse())
                    {
                        kill.acks.push((lsn, thread, counter));
                    }
                }
                ["hard", counter] => {
                    if let Ok(counter) = counter.parse() {
                        kill.hard = Some(counter);
                    }
                }
                // A line cut short by the kill.
                _ => {}
            }
        }
        kill
    });
    if !early {
        // Recovery of a few thousand records takes milliseconds; a child
        // that takes longer than this is stuck.
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the child did not start");
    }
    std::thread::sleep(after);
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no close.
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

fn parent() {
    let iterations = std::env::var("TESSERA_CRASH_ITERATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(ITERATIONS_DEFAULT);
    let seed = std::env::var("TESSERA_CRASH_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
    println!("crash test: {iterations} kills, TESSERA_CRASH_SEED={seed}");
    let mut rng = SeededRng::new(seed);
    let root = tempfile::tempdir().unwrap();
    let dir: PathBuf = root.path().join("wal");
    let mut acknowledged = AcknowledgedWritesSurvive::new();
    let mut hard_acknowledged = None;
    let mut total_acks = 0;
    let started = Instant::now();
    for iteration in 0..iterations {
        let early = rng.chance(0.15);
        let after = Duration::from_micros(if early {
            rng.below(5_000)
        } else {
            rng.range(500, 25_000)
        });
        let kill = run_child(&dir, iteration + 1, after, early);
        for (lsn, thread, counter) in &kill.acks {
            acknowledged.acknowledge(*lsn, payload(*thread, *counter));
        }
        total_acks += kill.acks.len();
        if kill.hard.is_some() {
            hard_acknowledged = kill.hard;
        }
        let context = format!(
            "iteration {iteration} (TESSERA_CRASH_SEED={seed}), killed {after:?} after {}",
            if early { "spawn" } else { "ready" }
        );
        check(&dir, &mut acknowledged, hard_acknowledged, &context);
    }
    println!(
        "crash test: {iterations} kills, {total_acks} acknowledgements, every one found, in {:.1?}",
        started.elapsed()
    );
}

/// Reopens the log after a kill and checks it.
fn check(
    dir: &Path,
    acknowledged: &mut AcknowledgedWritesSurvive,
    hard_acknowledged: Option<u64>,
    context: &str,
) {
    let (wal, report) = Wal::open(Arc::new(StdFs), dir, options())
        .unwrap_or_else(|error| panic!("{context}: the log does not reopen: {error}"));
    // Every acknowledged record is present and intact.
    acknowledged
        .check(&wal)
        .unwrap_or_else(|violation| panic!("{context}: {violation}; {report}"));
    // Every record is a whole record some appender wrote, and each
    // appender's records are in the order it appended them.
    let mut last_counter: BTreeMap<u8, u64> = BTreeMap::new();
    for lsn in wal.base().index + 1..=wal.last_lsn() {
        let record = wal
            .read(lsn)
            .unwrap_or_else(|error| panic!("{context}: lsn {lsn}: {error}"));
        let (thread, counter) = parse_payload(&record.payload)
            .unwrap_or_else(|| panic!("{context}: lsn {lsn} holds a damaged record"));
        if let Some(previous) = last_counter.insert(thread, counter) {
            assert!(
                previous < counter,
                "{context}: appender {thread}'s records out of order at lsn {lsn}"
            );
        }
    }
    // The hard state is the last one acknowledged, or a later one.
    if let Some(hard) = hard_acknowledged {
        let saved = wal
            .hard_state()
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map(u64::from_le_bytes);
        assert!(
            saved.is_some_and(|saved| saved >= hard),
            "{context}: hard state {saved:?} is older than the acknowledged {hard}"
        );
    }
    // Appending continues (the parent writes as an extra appender).
    let parent_payload = payload(APPENDERS, wal.last_lsn());
    let (lsn, ticket) = wal
        .append(1, &parent_payload)
        .unwrap_or_else(|error| panic!("{context}: cannot append: {error}"));
    ticket
        .wait()
        .unwrap_or_else(|error| panic!("{context}: append not durable: {error}"));
    acknowledged.acknowledge(lsn, parent_payload);
    // Closing seals the log: the next child opens a clean log, and its kill
    // leaves an unsealed one again.
    wal.close()
        .unwrap_or_else(|error| panic!("{context}: close: {error}"));
}

//! Durability: tessera-storage's write-ahead log against the physical limit
//! of this disk, in the same run.
//!
//! - **The limit**: a raw loop of `write` + `fdatasync` appending batches of
//!   1, 16, 64 and 256 records of 256 bytes (framed as the log frames them)
//!   to a file — what the disk can do with that batch size and nothing else.
//! - **The log** with 1, 16, 64 and 256 concurrent appenders of 256-byte
//!   records, each waiting for its acknowledgement before appending again
//!   (a closed loop, so the batch size is the number of appenders). Two
//!   kinds of appender: OS threads blocking on their tickets, and
//!   asynchronous clients whose completion callback appends their next
//!   record (what a task on an async runtime does).
//! - **Recovery** of a log of `TESSERA_RECOVERY_BYTES` (default 256 MiB;
//!   the 1 GiB figure in docs/benchmarks.md used 1073741824), against a
//!   plain sequential read of the same files.
//!
//! ```sh
//! cargo bench -p tessera-bench --bench durability
//! TESSERA_RECOVERY_BYTES=1073741824 cargo bench -p tessera-bench --bench durability
//! ```
//!
//! `TESSERA_BENCH_APPENDERS=256` measures one row; `TESSERA_BENCH_VERBOSE=1`
//! prints every round; `TESSERA_RECOVERY_BYTES=0` skips recovery.
//! `TESSERA_BENCH_ROUNDS` (default 16) and `TESSERA_BENCH_SLICE_MS` (300)
//! set how long each row measures: the raw loop and the two kinds of log
//! take turns in slices, so a disk whose latency drifts (a shared machine)
//! treats them alike.
//!
//! ```sh
//! ```
//!
//! The files go to `TESSERA_BENCH_DIR` (default: the system's temporary
//! directory), which must be on the disk being measured, not a tmpfs.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tessera_storage::{RECORD_HEADER_BYTES, StdFs, Wal, WalOptions};

const RECORD_BYTES: usize = 256;
const CONCURRENCY: [usize; 4] = [1, 16, 64, 256];
/// The raw loop starts a new file after this many bytes, as the log starts
/// a new segment.
const RAW_FILE_BYTES_MAX: u64 = 64 << 20;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// What one measurement slice counted.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    records: u64,
    syncs: u64,
    seconds: f64,
    /// Seconds the log's syncer spent writing and syncing.
    busy: f64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.records += other.records;
        self.syncs += other.syncs;
        self.seconds += other.seconds;
        self.busy += other.busy;
    }

    /// The fraction of the time the syncer kept the disk busy: what is left
    /// is the log's own overhead (waking appenders, gathering a batch).
    fn busy_fraction(&self) -> f64 {
        self.busy / self.seconds
    }

    fn rate(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    fn per_sync(&self) -> f64 {
        self.records as f64 / self.syncs.max(1) as f64
    }
}

/// The raw loop: `batch` framed records per `write`, one `fdatasync` each.
fn raw_limit(dir: &Path, batch: usize, duration: Duration) -> Tally {
    let frame = RECORD_HEADER_BYTES + RECORD_BYTES;
    let buffer = vec![0x5a; frame * batch];
    let path = dir.join(format!("raw-{batch}"));
    let open = || {
        OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .expect("create the raw file")
    };
    let mut file: File = open();
    let mut written = 0u64;
    let mut tally = Tally::default();
    let started = Instant::now();
    while started.elapsed() < duration {
        file.write_all(&buffer).expect("write");
        file.sync_data().expect("fdatasync");
        written += buffer.len() as u64;
        tally.records += batch as u64;
        tally.syncs += 1;
        if written >= RAW_FILE_BYTES_MAX {
            file = open();
            written = 0;
        }
    }
    tally.seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    tally
}

fn open_wal(dir: &Path) -> Wal {
    let _ = std::fs::remove_dir_all(dir);
    Wal::open(Arc::new(StdFs), dir, WalOptions::default())
        .expect("open the log")
        .0
}

/// Counts what the log did between two instants, once the appenders are
/// all running.
fn window(wal: &Wal, count: &AtomicU64, duration: Duration) -> Tally {
    std::thread::sleep(WARM_UP);
    let (records, before) = (count.load(Ordering::Relaxed), wal.stats());
    let started = Instant::now();
    std::thread::sleep(duration);
    let after = wal.stats();
    Tally {
        records: count.load(Ordering::Relaxed) - records,
        syncs: after.syncs - before.syncs,
        seconds: started.elapsed().as_secs_f64(),
        busy: (after.busy_nanos - before.busy_nanos) as f64 / 1e9,
    }
}

/// Time for every appender to be running before a window opens.
const WARM_UP: Duration = Duration::from_millis(50);

/// The log with `appenders` threads, each appending and blocking on its
/// ticket in a loop.
fn wal_threads(dir: &Path, appenders: usize, duration: Duration) -> Tally {
    let wal = open_wal(dir);
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let payload = [0xa5u8; RECORD_BYTES];
    let tally = std::thread::scope(|scope| {
        for _ in 0..appenders {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let (_, ticket) = wal.append(1, &payload).expect("append");
                    ticket.wait().expect("durable");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let tally = window(&wal, &count, duration);
        stop.store(true, Ordering::Relaxed);
        tally
    });
    wal.close().expect("close");
    tally
}

/// One asynchronous client: appends, and when the append is durable its
/// callback appends the next record — no thread waits.
fn client(wal: Arc<Wal>, state: Arc<ClientState>) {
    if state.stop.load(Ordering::Relaxed) {
        state.finished();
        return;
    }
    let payload = [0x3cu8; RECORD_BYTES];
    let (_, ticket) = wal.append(1, &payload).expect("append");
    let next = Arc::clone(&wal);
    ticket.on_durable(move |outcome| {
        outcome.expect("durable");
        state.count.fetch_add(1, Ordering::Relaxed);
        client(next, state);
    });
}

struct ClientState {
    stop: AtomicBool,
    count: AtomicU64,
    running: Mutex<usize>,
    done: Condvar,
}

impl ClientState {
    fn finished(&self) {
        let mut running = self.running.lock().expect("lock");
        *running -= 1;
        self.done.notify_all();
    }
}

/// The log with `clients` asynchronous clients.
fn wal_async(dir: &Path, clients: usize, duration: Duration) -> Tally {
    let wal = Arc::new(open_wal(dir));
    let state = Arc::new(ClientState {
        stop: AtomicBool::new(false),
        count: AtomicU64::new(0),
        running: Mutex::new(clients),
        done: Condvar::new(),
    });
    for _ in 0..clients {
        client(Arc::clone(&wal), Arc::clone(&state));
    }
    let tally = window(&wal, &state.count, duration);
    state.stop.store(true, Ordering::Relaxed);
    let mut running = state.running.lock().expect("lock");
    while *running > 0 {
        running = state.done.wait(running).expect("lock");
    }
    drop(running);
    if let Ok(wal) = Arc::try_unwrap(wal) {
        wal.close().expect("close");
    }
    tally
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

/// Seconds to recover a log of about `bytes`, and to read its files
/// sequentially.
fn recovery(dir: &Path, bytes: u64) -> (u64, f64, f64) {
    let wal = open_wal(dir);
    let payload = [0x77u8; RECORD_BYTES];
    let frame = (RECORD_HEADER_BYTES + RECORD_BYTES) as u64;
    for _ in 0..bytes / frame {
        // Tickets are dropped: the final close makes everything durable.
        let _ = wal.append(1, &payload).expect("append");
    }
    wal.close().expect("close");
    let on_disk = dir_bytes(dir);
    // Read the files once so both measurements start from the same cache
    // state (this machine cannot drop the page cache).
    let read = || {
        let started = Instant::now();
        let mut total = 0u64;
        for entry in std::fs::read_dir(dir).expect("list").filter_map(Result::ok) {
            total += std::fs::read(entry.path()).expect("read").len() as u64;
        }
        assert!(total >= on_disk);
        started.elapsed().as_secs_f64()
    };
    read();
    let raw_read = read();
    let started = Instant::now();
    let (wal, report) = Wal::open(Arc::new(StdFs), dir, WalOptions::default()).expect("recover");
    let recover = started.elapsed().as_secs_f64();
    assert!(report.records >= bytes / frame);
    wal.close().expect("close");
    (on_disk, recover, raw_read)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then this only checks that it builds.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let rounds = env_u64("TESSERA_BENCH_ROUNDS", 16);
    let slice = Duration::from_millis(env_u64("TESSERA_BENCH_SLICE_MS", 300));
    let base = std::env::var("TESSERA_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let root = tempfile::tempdir_in(&base).expect("bench directory");
    let dir = root.path();
    println!(
        "durability: {RECORD_BYTES}-byte records; per row {rounds} rounds of {slice:?} raw, \
         {slice:?} WAL threads, {slice:?} WAL async, interleaved; in {}",
        base.display()
    );
    println!(
        "ratios are medians of the rounds' ratios (each round's three slices see the same disk); \
         disk busy: the fraction of time the log's syncer spent writing and syncing"
    );
    println!(
        "| appenders | raw write+fdatasync rec/s | WAL threads rec/s | ratio | rec/sync | disk busy | WAL async rec/s | ratio | rec/sync | disk busy |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut single = (Vec::new(), Vec::new(), Vec::new());
    // `TESSERA_BENCH_APPENDERS=64` measures one row only.
    let only = std::env::var("TESSERA_BENCH_APPENDERS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok());
    for appenders in CONCURRENCY {
        if only.is_some_and(|only| only != appenders) {
            continue;
        }
        // The disk is shared and its sync latency drifts: interleave short
        // slices so the three see the same conditions.
        let (mut raw, mut threads, mut clients) =
            (Tally::default(), Tally::default(), Tally::default());
        let (mut threads_ratios, mut clients_ratios) = (Vec::new(), Vec::new());
        let mut rates = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let round_raw = raw_limit(dir, appenders, slice);
            let round_threads = wal_threads(&dir.join("wal"), appenders, slice);
            let round_clients = wal_async(&dir.join("wal"), appenders, slice);
            if std::env::var("TESSERA_BENCH_VERBOSE").is_ok() {
                eprintln!(
                    "  round: raw {:.0}, threads {:.0}, async {:.0} rec/s",
                    round_raw.rate(),
                    round_threads.rate(),
                    round_clients.rate()
                );
            }
            threads_ratios.push(round_threads.rate() / round_raw.rate());
            clients_ratios.push(round_clients.rate() / round_raw.rate());
            rates.0.push(round_raw.rate());
            rates.1.push(round_threads.rate());
            rates.2.push(round_clients.rate());
            raw.add(round_raw);
            threads.add(round_threads);
            clients.add(round_clients);
        }
        println!(
            "| {appenders} | {:.0} | {:.0} | {:.2} | {:.1} | {:.0}% | {:.0} | {:.2} | {:.1} | {:.0}% |",
            raw.rate(),
            threads.rate(),
            median(threads_ratios),
            threads.per_sync(),
            100.0 * threads.busy_fraction(),
            clients.rate(),
            median(clients_ratios),
            clients.per_sync(),
            100.0 * clients.busy_fraction(),
        );
        if appenders == 1 {
            single = rates;
        } else if appenders == *CONCURRENCY.last().unwrap_or(&1) && !single.0.is_empty() {
            // Round by round, against the single appender's rounds: the
            // same drift correction as the ratios above.
            let speedup = |many: &[f64], one: &[f64]| {
                median(many.iter().zip(one).map(|(m, o)| m / o).collect())
            };
            println!(
                "group commit, {appenders} appenders vs 1 (median of rounds): raw limit {:.1}x, WAL threads {:.1}x, WAL async {:.1}x",
                speedup(&rates.0, &single.0),
                speedup(&rates.1, &single.1),
                speedup(&rates.2, &single.2),
            );
        }
    }
    let bytes = env_u64("TESSERA_RECOVERY_BYTES", 256 << 20);
    if bytes == 0 {
        return;
    }
    let (on_disk, recover, raw_read) = recovery(&dir.join("recovery"), bytes);
    println!(
        "recovery: {:.0} MiB in {recover:.3} s ({:.0} MiB/s); sequential read of the same files {raw_read:.3} s; ratio {:.2}",
        on_disk as f64 / f64::from(1 << 20),
        on_disk as f64 / f64::from(1 << 20) / recover,
        raw_read / recover
    );
}

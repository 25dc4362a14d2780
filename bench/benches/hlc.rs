//! tessera-hlc against uhlc 0.9 and against the bare clock read, in the
//! same run: `Hlc::now()` on one thread, from two threads sharing one
//! clock, and `update(remote)`.
//!
//! ```sh
//! cargo bench -p tessera-bench --bench hlc
//! ```
//!
//! Single-thread figures are the benchmark thread's CPU time (see
//! `support/thread_cpu_time.rs`), so load elsewhere on the machine does not
//! skew one side of a comparison; the two-thread group is wall time.
//!
//! docs/benchmarks.md ("Time and causality") records the ratios.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tessera_hlc::{Hlc, HlcConfig};

#[path = "support/thread_cpu_time.rs"]
mod thread_cpu_time;
use thread_cpu_time::ThreadCpuTime;

fn tessera_clock(node: u64) -> Hlc {
    Hlc::system(HlcConfig::new(node)).expect("the default configuration is valid")
}

fn uhlc_clock() -> uhlc::HLC {
    uhlc::HLCBuilder::new()
        .with_max_delta(HlcConfig::MAX_OFFSET_DEFAULT)
        .build()
}

/// One thread: the cost of a timestamp, and of the bare physical clock read
/// it is built on.
fn now_single_thread(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("hlc_now");
    group.bench_function("SystemTime::now", |b| {
        b.iter(|| black_box(SystemTime::now()))
    });
    let hlc = tessera_clock(1);
    group.bench_function("tessera_hlc::Hlc::now", |b| b.iter(|| black_box(hlc.now())));
    let peer = uhlc_clock();
    group.bench_function("uhlc::HLC::new_timestamp", |b| {
        b.iter(|| black_box(peer.new_timestamp()))
    });
    group.finish();
}

/// Runs `issue` `iterations` times on each of two threads at once and
/// returns the wall time of the whole; criterion reports it per iteration,
/// that is per pair of timestamps.
fn two_threads(iterations: u64, issue: impl Fn() + Sync) -> Duration {
    let start_line = Barrier::new(3);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                start_line.wait();
                for _ in 0..iterations {
                    issue();
                }
            });
        }
        start_line.wait();
        let start = Instant::now();
        // The scope joins both threads before returning.
        start
    })
    .elapsed()
}

/// Two threads issuing timestamps from one shared clock: throughput under
/// contention (the time per pair of timestamps; lower is better). Measured
/// in wall time — what contention costs only shows while both threads run
/// at once, so this group needs two otherwise idle cores.
fn now_two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("hlc_now_two_threads");
    group.sample_size(30);
    let hlc = tessera_clock(1);
    group.bench_function("tessera_hlc::Hlc::now", |b| {
        b.iter_custom(|iterations| {
            two_threads(iterations, || {
                black_box(hlc.now());
            })
        })
    });
    let peer = uhlc_clock();
    group.bench_function("uhlc::HLC::new_timestamp", |b| {
        b.iter_custom(|iterations| {
            two_threads(iterations, || {
                black_box(peer.new_timestamp());
            })
        })
    });
    // The floor for any clock that hands out unique timestamps from one
    // shared word: the physical clock read and one `fetch_add` on a shared
    // cache line, nothing else. What `Hlc::now` costs above this is its own
    // work; what this costs is the machine's cache-line transfer.
    let shared = AtomicU64::new(0);
    group.bench_function("floor: clock read + shared fetch_add", |b| {
        b.iter_custom(|iterations| {
            two_threads(iterations, || {
                black_box(SystemTime::now());
                black_box(shared.fetch_add(1, Ordering::Relaxed));
            })
        })
    });
    group.finish();
}

/// Observing a peer's timestamp issued a moment earlier — the common case
/// for a message that has just arrived.
fn update(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("hlc_update");
    let hlc = tessera_clock(1);
    let sender = tessera_clock(2);
    group.bench_function("tessera_hlc::Hlc::update", |b| {
        b.iter_batched(
            || sender.now(),
            |remote| hlc.update(black_box(remote)),
            BatchSize::SmallInput,
        )
    });
    let peer = uhlc_clock();
    let peer_sender = uhlc_clock();
    group.bench_function("uhlc::HLC::update_with_timestamp", |b| {
        b.iter_batched(
            || peer_sender.new_timestamp(),
            |remote| peer.update_with_timestamp(black_box(&remote)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = single_thread;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = now_single_thread, update
}
criterion_group!(two_threads_wall_time, now_two_threads);
criterion_main!(single_thread, two_threads_wall_time);

//! tessera-raft against openraft, with openraft's minimal benchmark
//! workload in the same run: three nodes in one process, in-memory logs,
//! no network (messages handed over directly), empty payloads, a state
//! machine that does nothing, and 1, 64 and 256 concurrent clients each
//! writing one entry at a time. Reported: throughput, p50 / p99 commit
//! latency (a client's proposal to its answer) and allocations per
//! committed entry (a counting global allocator).
//!
//! ```text
//! cargo bench -p tessera-bench --bench raft
//! TESSERA_BENCH_SECONDS=1 cargo bench -p tessera-bench --bench raft   # shorter
//! ```
//!
//! tessera-raft is driven by a single-threaded loop (a sans-IO node needs
//! nothing else); openraft runs on a tokio multi-thread runtime with two
//! worker threads (the machine's cores), as its benchmark does with more.

use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[path = "raft_support/openraft_cluster.rs"]
mod openraft_cluster;
#[path = "raft_support/tessera_cluster.rs"]
mod tessera_cluster;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// What one run measured.
pub(crate) struct Measurement {
    /// Entries committed (and answered) while measuring.
    pub(crate) ops: u64,
    /// How long the measurement took.
    pub(crate) elapsed: Duration,
    /// Every client operation's latency, in nanoseconds.
    pub(crate) latencies: Vec<u64>,
    /// Allocations made while measuring.
    pub(crate) allocations: u64,
}

impl Measurement {
    fn throughput(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        Duration::from_nanos(sorted[rank])
    }

    fn allocations_per_op(&self) -> f64 {
        self.allocations as f64 / self.ops.max(1) as f64
    }
}

/// Runs `measure` inside an allocation-counting region.
fn counted(measure: impl FnOnce() -> (u64, Duration, Vec<u64>)) -> Measurement {
    let region = Region::new(ALLOCATOR);
    let (ops, elapsed, latencies) = measure();
    let stats = region.change();
    Measurement {
        ops,
        elapsed,
        latencies,
        allocations: stats.allocations as u64 + stats.reallocations as u64,
    }
}

fn seconds() -> Duration {
    let seconds = std::env::var("TESSERA_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(seconds)
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent:
    // keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let duration = if quick {
        Duration::from_millis(200)
    } else {
        seconds()
    };
    println!("raft: 3 nodes in one process, in-memory logs, empty payloads, no-op state machine");
    println!("each client writes one entry at a time for {duration:?}\n");
    println!("| clients | library | throughput (entries/s) | p50 | p99 | allocations / entry |");
    println!("|---:|---|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for clients in [1usize, 64, 256] {
        let tessera = counted(|| tessera_cluster::run(clients, duration));
        if std::env::var("TESSERA_BENCH_ONLY").is_ok_and(|v| v == "tessera") {
            let m = &tessera;
            println!(
                "| {clients} | tessera-raft | {:.0} | {:.1?} | {:.1?} | {:.2} |",
                m.throughput(),
                m.percentile(0.50),
                m.percentile(0.99),
                m.allocations_per_op()
            );
            continue;
        }
        let openraft = counted(|| openraft_cluster::run(clients, duration));
        for (name, m) in [
            ("tessera-raft", &tessera),
            ("openraft 0.10.0-alpha.37", &openraft),
        ] {
            println!(
                "| {clients} | {name} | {:.0} | {:.1?} | {:.1?} | {:.2} |",
                m.throughput(),
                m.percentile(0.50),
                m.percentile(0.99),
                m.allocations_per_op()
            );
        }
        ratios.push((clients, tessera.throughput() / openraft.throughput()));
    }
    println!();
    for (clients, ratio) in ratios {
        println!("{clients} clients: tessera-raft / openraft throughput = {ratio:.2}x");
    }
}

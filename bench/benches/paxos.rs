//! tessera-paxos against its peers, in the same run.
//!
//! **Multi-Paxos** on the Raft benchmark's workload — three nodes in one
//! process, in-memory logs, messages handed over directly, empty payloads,
//! a no-op state machine, 1, 64 and 256 closed-loop clients each writing
//! one entry at a time — next to omnipaxos 0.2 (its in-memory storage,
//! default configuration) and tessera-raft. Multi-Paxos runs with a
//! window of one slot (`TESSERA_PAXOS_WINDOW` overrides it), so commands
//! arriving while a slot is out go together in the next. Reported:
//! throughput and p50 / p99 latency from a client's proposal to its
//! answer.
//!
//! **EPaxos** with five replicas and 0 %, 2 % and 100 % interfering
//! commands (64 clients, each bound to one replica that leads its
//! commands): throughput and the fraction of commands committed on the
//! fast path.
//!
//! ```text
//! cargo bench -p tessera-bench --bench paxos
//! TESSERA_BENCH_SECONDS=1 cargo bench -p tessera-bench --bench paxos   # shorter
//! TESSERA_BENCH_ONLY=multi TESSERA_BENCH_CLIENTS=1,64 cargo bench -p tessera-bench --bench paxos
//! TESSERA_BENCH_ONLY=versus cargo bench -p tessera-bench --bench paxos   # Multi-Paxos and omnipaxos only
//! ```
//!
//! Every system is driven by one thread: a sans-IO node needs nothing
//! else, and omnipaxos's servers are plain structs too.

use std::time::Duration;

#[path = "paxos_support/epaxos_cluster.rs"]
mod epaxos_cluster;
#[path = "paxos_support/multi_cluster.rs"]
mod multi_cluster;
#[path = "paxos_support/omnipaxos_cluster.rs"]
mod omnipaxos_cluster;
#[path = "paxos_support/raft_cluster.rs"]
mod raft_cluster;
#[path = "paxos_support/sans_io.rs"]
mod sans_io;

use sans_io::Run;

fn throughput(run: &Run) -> f64 {
    run.ops as f64 / run.elapsed.as_secs_f64().max(1e-9)
}

fn percentile(run: &Run, p: f64) -> Duration {
    let mut sorted = run.latencies.clone();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    Duration::from_nanos(sorted[rank])
}

fn seconds() -> Duration {
    let seconds = std::env::var("TESSERA_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(seconds)
}

/// `TESSERA_BENCH_ONLY=multi` (or `epaxos`) runs one part alone, for
/// profiling; `versus` runs Multi-Paxos and omnipaxos side by side.
fn only() -> Option<String> {
    std::env::var("TESSERA_BENCH_ONLY").ok()
}

/// `TESSERA_BENCH_CLIENTS=1,64` picks the client counts of a
/// `TESSERA_BENCH_ONLY=multi` or `versus` run (all three by default).
fn client_counts() -> Vec<usize> {
    std::env::var("TESSERA_BENCH_CLIENTS")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|c| c.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1, 64, 256])
}

fn main() {
    // `cargo test --benches` runs bench binaries without `--bench`: keep
    // that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let duration = if quick {
        Duration::from_millis(100)
    } else {
        seconds()
    };
    if only().as_deref() == Some("multi") {
        for clients in client_counts() {
            let run = multi_cluster::run(clients, duration);
            println!(
                "{clients} clients: {:.0} entries/s, p50 {:.1?}, p99 {:.1?}",
                throughput(&run),
                percentile(&run, 0.5),
                percentile(&run, 0.99)
            );
        }
        return;
    }
    if only().as_deref() == Some("versus") {
        // Multi-Paxos and omnipaxos alone, side by side in the same run:
        // the ratio the issue's target is about, without tessera-raft and
        // EPaxos.
        for clients in client_counts() {
            let multi = multi_cluster::run(clients, duration);
            let omni = omnipaxos_cluster::run(clients, duration);
            println!(
                "{clients} clients: Multi-Paxos {:.0} entries/s (p50 {:.1?}, p99 {:.1?}), \
                 omnipaxos {:.0} entries/s (p50 {:.1?}, p99 {:.1?}): {:.2}x",
                throughput(&multi),
                percentile(&multi, 0.5),
                percentile(&multi, 0.99),
                throughput(&omni),
                percentile(&omni, 0.5),
                percentile(&omni, 0.99),
                throughput(&multi) / throughput(&omni)
            );
        }
        return;
    }
    if only().as_deref() == Some("epaxos") {
        for interfering in [0.0, 0.02, 1.0] {
            let (run, _) = epaxos_cluster::run(64, duration, interfering);
            println!("{interfering}: {:.0} commands/s", throughput(&run));
        }
        return;
    }
    println!(
        "Multi-Paxos: 3 nodes in one process, in-memory logs, empty payloads, no-op state machine"
    );
    println!("each client writes one entry at a time for {duration:?}\n");
    println!("| clients | library | throughput (entries/s) | p50 | p99 |");
    println!("|---:|---|---:|---:|---:|");
    let mut ratios = Vec::new();
    for clients in [1usize, 64, 256] {
        let multi = multi_cluster::run(clients, duration);
        let omni = omnipaxos_cluster::run(clients, duration);
        let raft = raft_cluster::run(clients, duration);
        for (name, run) in [
            ("tessera-paxos Multi-Paxos", &multi),
            ("omnipaxos 0.2.4", &omni),
            ("tessera-raft", &raft),
        ] {
            println!(
                "| {clients} | {name} | {:.0} | {:.1?} | {:.1?} |",
                throughput(run),
                percentile(run, 0.50),
                percentile(run, 0.99)
            );
        }
        ratios.push((
            clients,
            throughput(&multi) / throughput(&omni),
            throughput(&multi) / throughput(&raft),
        ));
    }
    println!();
    for (clients, omni, raft) in ratios {
        println!(
            "{clients} clients: Multi-Paxos / omnipaxos = {omni:.2}x, Multi-Paxos / tessera-raft = {raft:.2}x"
        );
    }

    println!(
        "\nEPaxos: 5 replicas in one process, 64 clients spread over them, no-op state machine\n"
    );
    println!("| interfering | throughput (commands/s) | p50 | p99 | fast path |");
    println!("|---:|---:|---:|---:|---:|");
    for interfering in [0.0, 0.02, 1.0] {
        let (run, counters) = epaxos_cluster::run(64, duration, interfering);
        let fast: u64 = counters.iter().map(|c| c.fast_commits).sum();
        let slow: u64 = counters.iter().map(|c| c.slow_commits).sum();
        println!(
            "| {:.0} % | {:.0} | {:.1?} | {:.1?} | {:.1} % |",
            interfering * 100.0,
            throughput(&run),
            percentile(&run, 0.50),
            percentile(&run, 0.99),
            100.0 * fast as f64 / (fast + slow).max(1) as f64
        );
    }
}

//! tessera-vclock's `VersionVector` against crdts 7's `VClock`, in the same
//! run: compare and merge at 4, 16, 64 and 256 actors.
//!
//! ```sh
//! cargo bench -p tessera-bench --bench vclock
//! ```
//!
//! Workloads, the same for both crates:
//!
//! - `compare/descendant`: a vector against a copy with one actor's counter
//!   incremented (the answer is `Before`, and both crates must look at
//!   every actor to find it);
//! - `compare/concurrent`: two vectors over the same actors with random
//!   counters (almost always `Concurrent`);
//! - `merge`: the second concurrent vector merged into the first.
//!
//! Figures are the benchmark thread's CPU time (see
//! `support/thread_cpu_time.rs`), so load elsewhere on the machine does not
//! skew one side of a comparison.
//!
//! docs/benchmarks.md ("Time and causality") records the ratios.

use std::hint::black_box;

use crdts::{CmRDT, CvRDT};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use tessera_core::SeededRng;
use tessera_vclock::{Dot, VersionVector};

#[path = "support/thread_cpu_time.rs"]
mod thread_cpu_time;
use thread_cpu_time::ThreadCpuTime;

const SIZES: [u64; 4] = [4, 16, 64, 256];

/// Actor ids spread over the id space (as node ids are), with counters.
fn entries(actors: u64, rng: &mut SeededRng) -> Vec<(u64, u64)> {
    (0..actors)
        .map(|index| (index * 7_919 + 13, 1 + rng.below(1_000)))
        .collect()
}

fn ours(entries: &[(u64, u64)]) -> VersionVector {
    entries
        .iter()
        .map(|&(actor, counter)| Dot::new(actor, counter))
        .collect()
}

fn theirs(entries: &[(u64, u64)]) -> crdts::VClock<u64> {
    let mut clock = crdts::VClock::new();
    for &(actor, counter) in entries {
        clock.apply(crdts::Dot::new(actor, counter));
    }
    clock
}

struct Workload {
    base: Vec<(u64, u64)>,
    descendant: Vec<(u64, u64)>,
    concurrent: Vec<(u64, u64)>,
}

fn workload(actors: u64) -> Workload {
    let mut rng = SeededRng::new(actors);
    let base = entries(actors, &mut rng);
    let mut descendant = base.clone();
    let bumped = rng.below(actors) as usize;
    descendant[bumped].1 += 1;
    let concurrent = entries(actors, &mut rng);
    Workload {
        base,
        descendant,
        concurrent,
    }
}

fn compare(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("vclock_compare");
    for actors in SIZES {
        let load = workload(actors);
        let (a, b, c2) = (
            ours(&load.base),
            ours(&load.descendant),
            ours(&load.concurrent),
        );
        let (x, y, z) = (
            theirs(&load.base),
            theirs(&load.descendant),
            theirs(&load.concurrent),
        );
        assert_eq!(a.partial_cmp(&b), x.partial_cmp(&y));
        assert_eq!(a.partial_cmp(&c2), x.partial_cmp(&z));

        group.bench_with_input(
            BenchmarkId::new("descendant/tessera", actors),
            &actors,
            |bench, _| bench.iter(|| black_box(&a).compare(black_box(&b))),
        );
        group.bench_with_input(
            BenchmarkId::new("descendant/crdts", actors),
            &actors,
            |bench, _| bench.iter(|| black_box(&x).partial_cmp(black_box(&y))),
        );
        group.bench_with_input(
            BenchmarkId::new("concurrent/tessera", actors),
            &actors,
            |bench, _| bench.iter(|| black_box(&a).compare(black_box(&c2))),
        );
        group.bench_with_input(
            BenchmarkId::new("concurrent/crdts", actors),
            &actors,
            |bench, _| bench.iter(|| black_box(&x).partial_cmp(black_box(&z))),
        );
    }
    group.finish();
}

fn merge(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("vclock_merge");
    for actors in SIZES {
        let load = workload(actors);
        let (a, c2) = (ours(&load.base), ours(&load.concurrent));
        let (x, z) = (theirs(&load.base), theirs(&load.concurrent));
        group.bench_with_input(BenchmarkId::new("tessera", actors), &actors, |bench, _| {
            bench.iter_batched(
                || a.clone(),
                |mut target| {
                    target.merge(black_box(&c2));
                    target
                },
                BatchSize::SmallInput,
            )
        });
        // crdts' merge takes the other clock by value: both clones are made
        // outside the timed part.
        group.bench_with_input(BenchmarkId::new("crdts", actors), &actors, |bench, _| {
            bench.iter_batched(
                || (x.clone(), z.clone()),
                |(mut target, other)| {
                    target.merge(black_box(other));
                    target
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = compare, merge
}
criterion_main!(benches);

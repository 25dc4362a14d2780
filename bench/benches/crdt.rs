//! tessera-crdt against its peers, in the same run: crdts 7 (ORSet,
//! counters, multi-value register), and diamond-types, yrs and automerge
//! (the sequence CRDT replaying the automerge-paper editing trace).
//!
//! Run with `cargo bench -p tessera-bench --bench crdt`; encoded sizes,
//! peak memory and delta sizes come from `--bench crdt_sizes`.
//! docs/benchmarks.md ("Conflict-free replication") reports the ratios.

mod crdt_trace;

use std::hint::black_box;

use crdts::{CmRDT, CvRDT};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tessera_crdt::StateCrdt;

/// ORSet workload: adds on one replica, a copy, removes on both.
const ADDS: u64 = 10_000;
const REMOVES_EACH: u64 = 2_500;
/// Counter merges: actors in each counter.
const ACTORS: u64 = 64;

/// 10,000 adds; the replica is copied; each copy removes 2,500 different
/// elements (5,000 removes, two diverged replicas); one merges the other.
fn tessera_orset() -> tessera_crdt::OrSet<u64> {
    let mut a = tessera_crdt::OrSet::new();
    for element in 0..ADDS {
        a.add(element, 1).expect("dots left");
    }
    let mut b = a.clone();
    for element in 0..REMOVES_EACH {
        a.remove(&(2 * element));
        b.remove(&(2 * element + 1 + ADDS / 2));
    }
    a.merge(&b);
    a
}

fn crdts_orswot() -> crdts::Orswot<u64, u64> {
    let mut a: crdts::Orswot<u64, u64> = crdts::Orswot::new();
    for element in 0..ADDS {
        let op = a.add(element, a.read_ctx().derive_add_ctx(1));
        a.apply(op);
    }
    let mut b = a.clone();
    for element in 0..REMOVES_EACH {
        let op = a.rm(2 * element, a.contains(&(2 * element)).derive_rm_ctx());
        a.apply(op);
        let element = 2 * element + 1 + ADDS / 2;
        let op = b.rm(element, b.contains(&element).derive_rm_ctx());
        b.apply(op);
    }
    a.merge(b);
    a
}

fn orset(c: &mut Criterion) {
    assert_eq!(tessera_orset().len() as u64, ADDS - 2 * REMOVES_EACH);
    assert_eq!(
        crdts_orswot().read().val.len() as u64,
        ADDS - 2 * REMOVES_EACH
    );
    let mut group = c.benchmark_group("crdt/orset_10k_adds_5k_removes_merge");
    group.bench_function("tessera", |b| b.iter(|| black_box(tessera_orset())));
    group.bench_function("crdts", |b| b.iter(|| black_box(crdts_orswot())));
    group.finish();
}

/// Two counters over the same 64 actors, each ahead on half of them.
fn counters(c: &mut Criterion) {
    let mut mine = (tessera_crdt::GCounter::new(), tessera_crdt::GCounter::new());
    let mut theirs = (crdts::GCounter::<u64>::new(), crdts::GCounter::<u64>::new());
    let mut mine_pn = (
        tessera_crdt::PnCounter::new(),
        tessera_crdt::PnCounter::new(),
    );
    let mut theirs_pn = (
        crdts::PNCounter::<u64>::new(),
        crdts::PNCounter::<u64>::new(),
    );
    for actor in 0..ACTORS {
        let (left, right) = if actor % 2 == 0 { (7, 3) } else { (3, 7) };
        mine.0.increment(actor, left).expect("room");
        mine.1.increment(actor, right).expect("room");
        theirs.0.apply(theirs.0.inc_many(actor, left));
        theirs.1.apply(theirs.1.inc_many(actor, right));
        mine_pn.0.add(actor, left as i64).expect("room");
        mine_pn.0.add(actor, -(right as i64)).expect("room");
        mine_pn.1.add(actor, right as i64).expect("room");
        mine_pn.1.add(actor, -(left as i64)).expect("room");
        theirs_pn.0.apply(theirs_pn.0.inc_many(actor, left));
        theirs_pn.0.apply(theirs_pn.0.dec_many(actor, right));
        theirs_pn.1.apply(theirs_pn.1.inc_many(actor, right));
        theirs_pn.1.apply(theirs_pn.1.dec_many(actor, left));
    }
    let mut group = c.benchmark_group("crdt/gcounter_merge_64_actors");
    group.bench_function("tessera", |b| {
        b.iter_batched(
            || mine.0.clone(),
            |mut left| {
                left.merge(&mine.1);
                left
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("crdts", |b| {
        b.iter_batched(
            || (theirs.0.clone(), theirs.1.clone()),
            |(mut left, right)| {
                left.merge(right);
                left
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let mut group = c.benchmark_group("crdt/pncounter_merge_64_actors");
    group.bench_function("tessera", |b| {
        b.iter_batched(
            || mine_pn.0.clone(),
            |mut left| {
                left.merge(&mine_pn.1);
                left
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("crdts", |b| {
        b.iter_batched(
            || (theirs_pn.0.clone(), theirs_pn.1.clone()),
            |(mut left, right)| {
                left.merge(right);
                left
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A register written by 8 actors in turn; then two replicas write
/// concurrently, one merges the other (two siblings), and writes again
/// (resolving them).
fn mv_register(c: &mut Criterion) {
    let mut mine = tessera_crdt::MvRegister::new();
    let mut theirs: crdts::MVReg<u64, u64> = crdts::MVReg::new();
    for round in 0..64u64 {
        let actor = round % 8;
        mine.write(round, actor).expect("dots left");
        let op = theirs.write(round, theirs.read_ctx().derive_add_ctx(actor));
        theirs.apply(op);
    }
    let mut group = c.benchmark_group("crdt/mvregister_write_merge");
    group.bench_function("tessera", |b| {
        b.iter_batched(
            || (mine.clone(), mine.clone()),
            |(mut a, mut b)| {
                a.write(100, 1).expect("dots left");
                b.write(200, 2).expect("dots left");
                a.merge(&b);
                assert_eq!(a.values().len(), 2);
                a.write(300, 1).expect("dots left");
                a
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("crdts", |b| {
        b.iter_batched(
            || (theirs.clone(), theirs.clone()),
            |(mut a, mut b)| {
                let op = a.write(100, a.read_ctx().derive_add_ctx(1));
                a.apply(op);
                let op = b.write(200, b.read_ctx().derive_add_ctx(2));
                b.apply(op);
                a.merge(b);
                assert_eq!(a.read().val.len(), 2);
                let op = a.write(300, a.read_ctx().derive_add_ctx(1));
                a.apply(op);
                a
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn sequence(c: &mut Criterion) {
    use yrs::{GetString, Transact};
    let trace = crdt_trace::automerge_paper();
    let end_len = trace.end.len();
    // Every replay reaches the trace's final text.
    assert_eq!(crdt_trace::replay_tessera(&trace).to_string(), trace.end);
    assert_eq!(
        crdt_trace::replay_diamond(&trace)
            .branch
            .content()
            .to_string(),
        trace.end
    );
    let (doc, text) = crdt_trace::replay_yrs(&trace);
    assert_eq!(text.get_string(&doc.transact()), trace.end);
    let (doc, text) = crdt_trace::replay_automerge(&trace);
    assert_eq!(
        automerge::ReadDoc::text(&doc, &text).expect("text"),
        trace.end
    );

    let mut group = c.benchmark_group("crdt/sequence_automerge_paper");
    group.sample_size(10);
    group.bench_function("tessera", |b| {
        b.iter(|| {
            let text = crdt_trace::replay_tessera(&trace);
            assert_eq!(text.len(), end_len);
            text
        })
    });
    group.bench_function("diamond-types", |b| {
        b.iter(|| {
            let doc = crdt_trace::replay_diamond(&trace);
            assert_eq!(doc.len(), end_len);
            doc
        })
    });
    group.bench_function("yrs", |b| b.iter(|| crdt_trace::replay_yrs(&trace)));
    group.bench_function("automerge", |b| {
        b.iter(|| crdt_trace::replay_automerge(&trace))
    });
    group.finish();
}

criterion_group!(benches, orset, counters, mv_register, sequence);
criterion_main!(benches);

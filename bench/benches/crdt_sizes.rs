//! Sizes and memory, next to the peers: encoded sizes of the ORSet
//! workload's state (tessera-crdt's compact encoding against crdts 7's
//! serde types through bincode and JSON), delta size against full-state
//! size for a 1% change to a 100,000-element ORSet, and the automerge-paper
//! replay's peak heap, retained heap and encoded size for tessera-crdt,
//! diamond-types, yrs and automerge.
//!
//! Not a timing benchmark: it prints tables. Run it with
//! `cargo bench -p tessera-bench --bench crdt_sizes`. Heap is counted by a
//! global allocator that tracks current and peak bytes (peak_alloc), so
//! this binary is kept apart from the timing benchmarks.

mod crdt_trace;

use crdts::{CmRDT, CvRDT};
use peak_alloc::PeakAlloc;
use tessera_crdt::{CrdtEncoding, StateCrdt};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// Runs `build`, returning its value, the peak heap above the starting
/// point while it ran, and the heap it still holds.
fn measure<T>(build: impl FnOnce() -> T) -> (T, usize, usize) {
    let base = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let value = build();
    let peak = HEAP.peak_usage().saturating_sub(base);
    let retained = HEAP.current_usage().saturating_sub(base);
    (value, peak, retained)
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn bincode_size<T: serde::Serialize>(value: &T) -> usize {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_varint_encoding()
        .serialize(value)
        .expect("serializable")
        .len()
}

fn orset_sizes() {
    const ADDS: u64 = 10_000;
    const REMOVES_EACH: u64 = 2_500;
    let mut a = tessera_crdt::OrSet::new();
    let mut theirs: crdts::Orswot<u64, u64> = crdts::Orswot::new();
    for element in 0..ADDS {
        a.add(element, 1).expect("dots left");
        let op = theirs.add(element, theirs.read_ctx().derive_add_ctx(1));
        theirs.apply(op);
    }
    let mut b = a.clone();
    let mut theirs_b = theirs.clone();
    for element in 0..REMOVES_EACH {
        a.remove(&(2 * element));
        b.remove(&(2 * element + 1 + ADDS / 2));
        let op = theirs.rm(2 * element, theirs.contains(&(2 * element)).derive_rm_ctx());
        theirs.apply(op);
        let other = 2 * element + 1 + ADDS / 2;
        let op = theirs_b.rm(other, theirs_b.contains(&other).derive_rm_ctx());
        theirs_b.apply(op);
    }
    a.merge(&b);
    theirs.merge(theirs_b);
    let mine = a.to_bytes().len();
    let mine_json = serde_json::to_vec(&a).expect("serializable").len();
    let theirs_bincode = bincode_size(&theirs);
    let theirs_json = serde_json::to_vec(&theirs).expect("serializable").len();
    println!("### ORSet: 10,000 adds, 5,000 removes, merged (5,000 elements)\n");
    println!("| encoding | tessera-crdt | crdts 7 `Orswot` | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| compact binary (tessera) vs bincode, varint (crdts) | {} B | {} B | {:.2}× smaller |",
        mine,
        theirs_bincode,
        theirs_bincode as f64 / mine as f64
    );
    println!(
        "| serde JSON, both | {} B | {} B | {:.2}× smaller |\n",
        mine_json,
        theirs_json,
        theirs_json as f64 / mine_json as f64
    );
}

fn counter_sizes() {
    let mut mine = tessera_crdt::GCounter::new();
    let mut theirs = crdts::GCounter::<u64>::new();
    for actor in 0..64u64 {
        mine.increment(actor, 1_000 + actor).expect("room");
        theirs.apply(theirs.inc_many(actor, 1_000 + actor));
    }
    println!("### GCounter, 64 actors\n");
    println!("| tessera-crdt (compact) | crdts 7 (bincode, varint) |");
    println!("|---|---|");
    println!(
        "| {} B | {} B |\n",
        mine.to_bytes().len(),
        bincode_size(&theirs)
    );
}

fn delta_sizes() {
    const ELEMENTS: u64 = 100_000;
    const CHANGES: u64 = ELEMENTS / 100;
    let mut set = tessera_crdt::OrSet::new();
    for element in 0..ELEMENTS {
        set.add(element, 1).expect("dots left");
    }
    // A 1% change: 500 removes and 500 adds of new elements, by another
    // replica that has the whole set.
    let mut replica = set.clone();
    let mut group = tessera_crdt::OrSetDelta::default();
    for change in 0..CHANGES / 2 {
        group.merge(&replica.remove(&(change * 97)));
        group.merge(&replica.add(ELEMENTS + change, 2).expect("dots left"));
    }
    let delta = group.to_bytes().len();
    let full = replica.to_bytes().len();
    // The receiver gets the same from the delta as from the state.
    let mut from_delta = set.clone();
    tessera_crdt::DeltaCrdt::join_delta(&mut from_delta, &group);
    let mut from_state = set;
    from_state.merge(&replica);
    assert_eq!(from_delta, from_state);
    let message = tessera_crdt::SyncMessage::<tessera_crdt::OrSet<u64>>::Delta {
        incarnation: 1,
        from: 0,
        to: CHANGES,
        delta: group,
    }
    .to_bytes()
    .len();
    println!(
        "### Delta vs full state: a 1% change (500 adds, 500 removes) to a 100,000-element ORSet\n"
    );
    println!("| what | bytes |");
    println!("|---|---|");
    println!("| full state | {full} B ({}) |", kib(full));
    println!(
        "| delta group of the 1,000 updates | {delta} B ({}) |",
        kib(delta)
    );
    println!("| as a delta-sync message | {message} B |");
    println!(
        "| ratio | delta = {:.2}% of the state |\n",
        100.0 * delta as f64 / full as f64
    );
}

fn sequence_sizes() {
    use yrs::{ReadTxn, Transact};
    let trace = crdt_trace::automerge_paper();
    println!("### automerge-paper replay (259,778 edits): memory and encoded size\n");
    println!(
        "| library | peak heap during replay | heap retained after | encoded size | encoding |"
    );
    println!("|---|---|---|---|---|");

    let (text, peak, retained) = measure(|| crdt_trace::replay_tessera(&trace));
    assert_eq!(text.to_string(), trace.end);
    let encoded = text.to_bytes().len();
    println!(
        "| tessera-crdt | {} | {} | {} | compact binary, every operation, uncompressed |",
        mib(peak),
        mib(retained),
        kib(encoded)
    );
    let stats = text.stats();
    drop(text);

    let (doc, peak, retained) = measure(|| crdt_trace::replay_diamond(&trace));
    assert_eq!(doc.len(), trace.end.len());
    let full = doc
        .oplog
        .encode(diamond_types::list::encoding::ENCODE_FULL)
        .len();
    let uncompressed = doc
        .oplog
        .encode(diamond_types::list::encoding::EncodeOptions {
            compress_content: false,
            ..diamond_types::list::encoding::ENCODE_FULL
        })
        .len();
    println!(
        "| diamond-types | {} | {} | {} ({} uncompressed) | `ENCODE_FULL` (lz4-compressed content) |",
        mib(peak),
        mib(retained),
        kib(full),
        kib(uncompressed)
    );
    drop(doc);

    let ((doc, text), peak, retained) = measure(|| crdt_trace::replay_yrs(&trace));
    let update = doc
        .transact()
        .encode_state_as_update_v1(&yrs::StateVector::default())
        .len();
    let update_v2 = doc
        .transact()
        .encode_state_as_update_v2(&yrs::StateVector::default())
        .len();
    println!(
        "| yrs | {} | {} | {} (v2: {}) | update v1 from an empty state vector |",
        mib(peak),
        mib(retained),
        kib(update),
        kib(update_v2)
    );
    drop((doc, text));

    let ((mut doc, text), peak, retained) = measure(|| crdt_trace::replay_automerge(&trace));
    let saved = doc.save().len();
    println!(
        "| automerge | {} | {} | {} | `save()` (columnar, compressed) |\n",
        mib(peak),
        mib(retained),
        kib(saved)
    );
    drop((doc, text));

    println!("tessera-crdt after the trace: {stats:?}\n");
}

fn main() {
    // `cargo bench` passes `--bench`; a filter may follow. This binary
    // prints everything whatever the arguments.
    orset_sizes();
    counter_sizes();
    delta_sizes();
    sequence_sizes();
}

//! Replays the fuzzers' regression corpus (`storage/fuzz/corpus/`) through
//! the same properties the fuzz targets check, so CI exercises every input
//! a fuzzer ever kept without needing cargo-fuzz or a nightly compiler.
//!
//! New inputs found by `cargo fuzz run <target> -s none` (in
//! `storage/fuzz`) that crashed are fixed and then copied into the corpus.
//! The hand-made seeds are rewritten by
//! `cargo test -p tessera-storage --test fuzz_corpus -- --ignored`.

// A test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use tessera_storage::{
    RecordKind, SEGMENT_HEADER_BYTES, encode_frame, fuzz_record_decoder, fuzz_segment_recovery,
};

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target)
}

fn replay(target: &str, property: fn(&[u8])) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(corpus(target)).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| property(&bytes));
        assert!(outcome.is_ok(), "{} fails {target}", path.display());
        count += 1;
    }
    count
}

// Rule: the record decoder never panics on any input the fuzzer kept, and
// what it decodes re-encodes identically.
#[test]
fn record_decoder_corpus() {
    assert!(replay("record_decoder", fuzz_record_decoder) >= 10);
}

// Rule: recovery never panics on any segment body the fuzzer kept, and
// what it accepts reads back.
#[test]
fn segment_recovery_corpus() {
    assert!(replay("segment_recovery", fuzz_segment_recovery) >= 8);
}

fn frame(lsn: u64, term: u64, durable_through: u64, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_frame(
        &mut bytes,
        RecordKind::Entry,
        lsn,
        term,
        durable_through,
        payload,
    );
    bytes
}

fn frames(first_lsn: u64, count: u64, durable_lag: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    for lsn in first_lsn..first_lsn + count {
        let payload = vec![lsn as u8; (lsn % 23) as usize];
        bytes.extend(frame(
            lsn,
            1 + lsn / 4,
            lsn.saturating_sub(durable_lag),
            &payload,
        ));
    }
    bytes
}

/// Writes the hand-made seeds of both corpora.
#[test]
#[ignore = "rewrites the checked-in seed corpus"]
fn write_seed_corpus() {
    let record_seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-empty", Vec::new()),
        ("seed-one-record", frame(1, 1, 0, b"hello")),
        ("seed-empty-payload", frame(7, 3, 5, b"")),
        ("seed-three-records", frames(1, 3, 1)),
        (
            "seed-truncated-header",
            frame(1, 1, 0, b"hello")[..20].to_vec(),
        ),
        (
            "seed-truncated-payload",
            frame(1, 1, 0, b"hello")[..38].to_vec(),
        ),
        ("seed-zeros", vec![0; 64]),
        ("seed-bad-checksum", {
            let mut bytes = frame(2, 1, 1, b"payload");
            bytes[0] ^= 0xff;
            bytes
        }),
        ("seed-reserved-set", {
            let mut bytes = frame(2, 1, 1, b"payload");
            bytes[10] = 1;
            bytes
        }),
        ("seed-huge-length", {
            let mut bytes = frame(2, 1, 1, b"payload");
            bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
            bytes
        }),
        ("seed-claims-itself-durable", frame(4, 1, 4, b"x")),
        ("seed-small-max", {
            let mut bytes = vec![8];
            bytes.extend(frame(1, 1, 0, &[1; 40]));
            bytes
        }),
    ];
    let segment_seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-empty-segment", vec![0]),
        ("seed-clean", [vec![0], frames(1, 10, 1)].concat()),
        ("seed-torn-tail", {
            let mut bytes = [vec![0], frames(1, 10, 1)].concat();
            bytes.truncate(bytes.len() - 9);
            bytes
        }),
        (
            "seed-zero-tail",
            [vec![0], frames(1, 6, 1), vec![0; 300]].concat(),
        ),
        ("seed-corrupt-middle-proven", {
            let mut bytes = [vec![0], frames(1, 10, 1)].concat();
            bytes[1 + 60] ^= 4;
            bytes
        }),
        ("seed-corrupt-middle-unsynced", {
            let mut bytes = [vec![0], frames(1, 10, 100)].concat();
            bytes[1 + 60] ^= 4;
            bytes
        }),
        (
            "seed-wrong-lsn",
            [vec![0], frames(1, 3, 1), frames(9, 2, 1)].concat(),
        ),
        ("seed-two-segments", [vec![65], frames(1, 8, 1)].concat()),
        ("seed-two-segments-torn-first", {
            let mut bytes = [vec![65], frames(1, 8, 1)].concat();
            bytes[20] ^= 1;
            bytes
        }),
    ];
    assert_eq!(SEGMENT_HEADER_BYTES, 64);
    for (target, seeds) in [
        ("record_decoder", record_seeds),
        ("segment_recovery", segment_seeds),
    ] {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

//! Arbitrary bytes as the body of one or two segments, through recovery:
//! it never panics, and every record it accepts reads back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_storage::fuzz_segment_recovery(data);
});

//! Arbitrary bytes through the record decoder: it never panics, and every
//! record it accepts re-encodes to exactly the bytes it came from.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_storage::fuzz_record_decoder(data);
});

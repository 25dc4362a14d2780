//! Bytes as a client sends them (and as a client reads replies): never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tessera_net::fuzz_client_decoders(data);
});

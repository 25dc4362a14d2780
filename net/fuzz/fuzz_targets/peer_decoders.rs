//! Bytes as a peer sends them: an envelope, and Raft messages inside it.
//! Decoding must never panic, and whatever decodes must re-encode to the
//! same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tessera_net::fuzz_peer_decoders(data);
});

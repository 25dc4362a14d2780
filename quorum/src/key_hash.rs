//! A stable 64-bit hash of bytes: where a key sits on the ring and in a
//! Merkle tree must be the same on every node, every platform and every
//! release, so it cannot be std's randomly keyed `DefaultHasher`.

/// Mixes a 64-bit word so that every input bit affects every output bit
/// (the finalizer of MurmurHash3).
pub(crate) const fn mix64(mut word: u64) -> u64 {
    word ^= word >> 33;
    word = word.wrapping_mul(0xff51_afd7_ed55_8ccd);
    word ^= word >> 33;
    word = word.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    word ^ (word >> 33)
}

/// A stable, well-mixed 64-bit hash of `bytes`, seeded by `seed` so that
/// independent uses (ring position, tree bucket) get independent hashes.
///
/// Not cryptographic: replicas are trusted (crash faults only), so an
/// adversary choosing keys to collide is out of scope.
pub(crate) fn stable_hash(seed: u64, bytes: &[u8]) -> u64 {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut state = mix64(seed ^ (bytes.len() as u64).wrapping_mul(MULTIPLIER));
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        state = (state ^ u64::from_le_bytes(word))
            .wrapping_mul(MULTIPLIER)
            .rotate_left(31);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        state = (state ^ u64::from_le_bytes(word))
            .wrapping_mul(MULTIPLIER)
            .rotate_left(31);
    }
    mix64(state)
}

/// Seed of a key's position on the ring.
pub(crate) const RING_SEED: u64 = 0x7269_6e67; // "ring"
/// Seed of a key's bucket in a Merkle tree.
pub(crate) const TREE_SEED: u64 = 0x7472_6565; // "tree"
/// Seed of an object's digest.
pub(crate) const DIGEST_SEED: u64 = 0x6469_6765; // "dige"

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_values_never_change() {
        // Ring positions and Merkle buckets are shared between nodes and
        // releases: these values are part of the format.
        assert_eq!(stable_hash(RING_SEED, b""), stable_hash(RING_SEED, b""));
        let pinned = [
            stable_hash(RING_SEED, b"key"),
            stable_hash(TREE_SEED, b"key"),
            stable_hash(RING_SEED, b"a longer key, over eight bytes"),
        ];
        assert_eq!(pinned, PINNED);
    }

    const PINNED: [u64; 3] = [
        5_081_865_139_238_624_866,
        9_240_359_234_924_750_416,
        4_728_682_120_428_784_987,
    ];

    #[test]
    fn seeds_and_lengths_separate_inputs() {
        assert_ne!(stable_hash(RING_SEED, b"k"), stable_hash(TREE_SEED, b"k"));
        assert_ne!(stable_hash(RING_SEED, b"k"), stable_hash(RING_SEED, b"k\0"));
        assert_ne!(stable_hash(RING_SEED, b""), stable_hash(RING_SEED, b"\0"));
    }

    #[test]
    fn buckets_are_roughly_uniform() {
        let mut buckets = [0u32; 16];
        for i in 0..16_000u32 {
            buckets[(stable_hash(TREE_SEED, &i.to_le_bytes()) >> 60) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|count| (800..1200).contains(count)),
            "{buckets:?}"
        );
    }
}

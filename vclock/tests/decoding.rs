//! Decoding bytes from the network or the disk: arbitrary input returns a
//! value or an error, never a panic (the property a fuzzer checks, run here
//! as a property test), and corruption of a valid encoding is caught or
//! yields a well-formed value.

use proptest::prelude::*;
use tessera_vclock::{
    CompactEncoding, Dot, DottedVersionVector, DvvSet, VclockError, VersionVector,
};

fn decode_everything(bytes: &[u8]) {
    // Each decoder must return, not panic; the results are checked for
    // well-formedness where they succeed.
    if let Ok(vector) = VersionVector::from_bytes(bytes) {
        assert_eq!(VersionVector::from_bytes(&vector.to_bytes()), Ok(vector));
    }
    if let Ok(version) = DottedVersionVector::from_bytes(bytes) {
        assert!(!version.context().contains(version.dot()));
    }
    if let Ok(clock) = DvvSet::<u64>::from_bytes(bytes) {
        assert_eq!(DvvSet::<u64>::from_bytes(&clock.to_bytes()), Ok(clock));
    }
    let _ = DvvSet::<Vec<u8>>::from_bytes(bytes);
    let _ = DvvSet::<String>::from_bytes(bytes);
    if let Ok(dot) = Dot::from_bytes(bytes) {
        assert!(dot.counter > 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        decode_everything(&bytes);
    }

    #[test]
    fn corrupted_encodings_never_panic(
        entries in proptest::collection::vec((0u64..1_000, 1u64..1_000), 0..10),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let vector: VersionVector = entries.into_iter().map(|(actor, counter)| Dot::new(actor, counter)).collect();
        let mut bytes = vector.to_bytes();
        for (position, mask) in flips {
            let index = position % bytes.len();
            bytes[index] ^= mask;
        }
        decode_everything(&bytes);
        decode_everything(&bytes[..cut % (bytes.len() + 1)]);
    }
}

#[test]
fn hostile_lengths_are_refused_without_allocating() {
    // A DVVSet claiming 2^60 entries, values or anonymous values.
    let mut bytes = Vec::new();
    tessera_vclock::write_varint(&mut bytes, 1 << 60);
    assert!(matches!(
        DvvSet::<u64>::from_bytes(&bytes),
        Err(VclockError::LengthTooLarge { .. })
    ));
    let clock = DvvSet::from_parts([(1, 1, vec![7u64])], vec![]).unwrap();
    let mut bytes = clock.to_bytes();
    // Entry count 1, actor 1, counter 1, then the value count: make it huge.
    bytes.truncate(3);
    tessera_vclock::write_varint(&mut bytes, 1 << 60);
    assert!(matches!(
        DvvSet::<u64>::from_bytes(&bytes),
        Err(VclockError::LengthTooLarge { .. })
    ));
}

#[test]
fn a_dvvset_entry_with_more_values_than_events_is_refused() {
    // One entry: actor 1, counter 1, two values; no anonymous values.
    let bytes = [1, 1, 1, 2, 5, 6, 0];
    assert_eq!(
        DvvSet::<u64>::from_bytes(&bytes),
        Err(VclockError::TooManyValues {
            actor: 1,
            values: 2,
            counter: 1
        })
    );
}

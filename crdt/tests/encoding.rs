//! Decoding never panics: random bytes, and valid encodings with bytes
//! flipped, truncated or appended, are refused with an error (or decode to
//! a valid value) — never a panic, never an allocation the input cannot
//! back. The same for serde, and for inconsistent states built by hand.

use proptest::prelude::*;
use tessera_crdt::*;

fn must_not_panic<T: CrdtEncoding + StateCrdt>(bytes: &[u8]) {
    if let Ok(value) = T::from_bytes(bytes) {
        // Whatever decodes is valid and re-encodes.
        value.validate().expect("a decoded value is valid");
        let again = T::from_bytes(&value.to_bytes()).expect("re-encoding decodes");
        assert_eq!(again, value);
    }
}

/// A valid encoding of each type, to corrupt.
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let mut set = OrSet::new();
    for element in 0..20u64 {
        set.add(element, element % 3 + 1).expect("dots");
    }
    set.remove(&4);
    let mut map: OrMap<u8, OrSet<u8>> = OrMap::new();
    map.update(1, |s| s.add(7, 2)).expect("dots");
    map.update(2, |s| s.add(8, 3)).expect("dots");
    let mut register = MvRegister::new();
    register.write(5u64, 1).expect("dots");
    register
        .write_after(6, 2, &CausalContext::new())
        .expect("dots");
    let mut text = Text::new();
    text.insert_str(1, 0, "hello world").expect("in bounds");
    text.delete(2, 3, 4).expect("in bounds");
    text.insert_str(3, 2, "XY").expect("in bounds");
    let mut counter = PnCounter::new();
    counter.add(4, -9).expect("room");
    counter.add(2, 7).expect("room");
    let mut flag = EwFlag::new();
    flag.enable(1).expect("dots");
    let delta = set.add(99, 7).expect("dots");
    vec![
        ("orset", set.to_bytes()),
        ("ormap", map.to_bytes()),
        ("mvregister", register.to_bytes()),
        ("text", text.to_bytes()),
        ("pncounter", counter.to_bytes()),
        ("ewflag", flag.to_bytes()),
        ("orset delta", delta.to_bytes()),
        (
            "sync message",
            SyncMessage::<OrSet<u64>>::State {
                incarnation: 3,
                to: 4,
                state: set,
            }
            .to_bytes(),
        ),
    ]
}

fn decode_everything(bytes: &[u8]) {
    must_not_panic::<GCounter>(bytes);
    must_not_panic::<PnCounter>(bytes);
    must_not_panic::<GSet<u64>>(bytes);
    must_not_panic::<TwoPSet<String>>(bytes);
    must_not_panic::<OrSet<u64>>(bytes);
    must_not_panic::<EwFlag>(bytes);
    must_not_panic::<DwFlag>(bytes);
    must_not_panic::<LwwRegister<Vec<u8>>>(bytes);
    must_not_panic::<MvRegister<u64>>(bytes);
    must_not_panic::<OrMap<u8, OrSet<u8>>>(bytes);
    must_not_panic::<Text>(bytes);
    must_not_panic::<Sequence<u64>>(bytes);
    must_not_panic::<OrSetDelta<u64>>(bytes);
    must_not_panic::<SequenceDelta<char>>(bytes);
    let _ = CausalContext::from_bytes(bytes);
    let _ = SyncMessage::<OrSet<u64>>::from_bytes(bytes);
    let _ = SyncMessage::<Text>::from_bytes(bytes);
    let _ = SequenceOp::<char>::from_bytes(bytes);
    let _ = OrSetOp::<u64>::from_bytes(bytes);
    let _ = CausalOp::<GCounterOp>::from_bytes(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        decode_everything(&bytes);
    }

    #[test]
    fn corrupted_encodings_never_panic(
        sample in 0..8usize,
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
        tail in prop::collection::vec(any::<u8>(), 0..4),
    ) {
        let (_, mut bytes) = samples().swap_remove(sample);
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        decode_everything(&bytes);
        let cut = cut % (bytes.len() + 1);
        decode_everything(&bytes[..cut]);
        bytes.extend(tail);
        decode_everything(&bytes);
    }
}

#[test]
fn samples_round_trip() {
    for (name, bytes) in samples() {
        match name {
            "text" => assert_eq!(
                Text::from_bytes(&bytes).expect("text").to_string(),
                "heXYlorld"
            ),
            "orset" => assert_eq!(OrSet::<u64>::from_bytes(&bytes).expect("set").len(), 20),
            _ => {}
        }
    }
}

/// A length prefix of 2^60 items in a few bytes is refused before any
/// allocation.
#[test]
fn huge_lengths_are_refused_up_front() {
    let mut bytes = Vec::new();
    tessera_vclock::write_varint(&mut bytes, 1 << 60);
    assert!(matches!(
        GSet::<u64>::from_bytes(&bytes),
        Err(CrdtError::Decode(_))
    ));
    assert!(Text::from_bytes(&bytes).is_err());
}

/// Merging a state whose context contradicts itself is an error, never a
/// silent join: states built through the API are always consistent, so
/// the inconsistent ones come from outside — serde here.
#[test]
fn inconsistent_states_from_outside_are_refused() {
    // A dot (1, 5) outside a context that only knows (1, 1).
    let json =
        r#"[[[3,[{"actor":1,"counter":5}]]],{"compact":[{"actor":1,"counter":1}],"cloud":[]}]"#;
    let refused = serde_json::from_str::<OrSet<u64>>(json);
    assert!(refused.is_err(), "{refused:?}");
    // Keys out of order.
    let json = r#"[[[3,[{"actor":1,"counter":1}]],[2,[{"actor":1,"counter":2}]]],{"compact":[{"actor":1,"counter":2}],"cloud":[]}]"#;
    assert!(serde_json::from_str::<OrSet<u64>>(json).is_err());
    // The same dot naming two elements on two replicas: refused by
    // `try_merge`, which leaves the replica unchanged.
    let mut mine = OrSet::new();
    mine.add(1u64, 9).expect("dots");
    let mut theirs = OrSet::new();
    theirs.add(2u64, 9).expect("dots");
    let before = mine.clone();
    assert!(matches!(
        mine.try_merge(&theirs),
        Err(CrdtError::ConflictingDot { .. })
    ));
    assert_eq!(mine, before);
    // A register write reusing a timestamp for another value.
    let stamp = tessera_hlc::NodeTimestamp::new(tessera_hlc::Timestamp::from_nanos(4096), 1);
    let mut a = LwwRegister::new();
    a.set(1u8, stamp);
    let mut b = LwwRegister::new();
    b.set(2u8, stamp);
    assert!(matches!(
        a.try_merge(&b),
        Err(CrdtError::ConflictingWrite { node: 1 })
    ));
}

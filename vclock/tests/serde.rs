//! The serde forms: round trips, and the same validation as the binary
//! decoder — a deserialized value is as canonical as a decoded one.
#![cfg(feature = "serde")]

use tessera_vclock::{CausalOrder, Dot, DottedVersionVector, DvvSet, VersionVector};

#[test]
fn values_round_trip_through_json() {
    let vector: VersionVector = [Dot::new(1, 3), Dot::new(4, 1)].into_iter().collect();
    let json = serde_json::to_string(&vector).unwrap();
    assert_eq!(json, r#"[{"actor":1,"counter":3},{"actor":4,"counter":1}]"#);
    assert_eq!(
        serde_json::from_str::<VersionVector>(&json).unwrap(),
        vector
    );

    let version = DottedVersionVector::new(Dot::new(1, 5), vector.clone()).unwrap();
    let json = serde_json::to_string(&version).unwrap();
    assert_eq!(
        serde_json::from_str::<DottedVersionVector>(&json).unwrap(),
        version
    );

    let mut clock = DvvSet::default();
    clock
        .update(&VersionVector::new(), "a".to_string(), 1)
        .unwrap();
    clock
        .update(&VersionVector::new(), "b".to_string(), 1)
        .unwrap();
    let json = serde_json::to_string(&clock).unwrap();
    assert_eq!(
        serde_json::from_str::<DvvSet<String>>(&json).unwrap(),
        clock
    );

    let order = serde_json::to_string(&CausalOrder::Concurrent).unwrap();
    assert_eq!(
        serde_json::from_str::<CausalOrder>(&order).unwrap(),
        CausalOrder::Concurrent
    );
}

#[test]
fn non_canonical_input_is_refused() {
    for bad in [
        r#"[{"actor":4,"counter":1},{"actor":1,"counter":3}]"#,
        r#"[{"actor":1,"counter":1},{"actor":1,"counter":2}]"#,
        r#"[{"actor":1,"counter":0}]"#,
    ] {
        assert!(serde_json::from_str::<VersionVector>(bad).is_err(), "{bad}");
    }
    let inside = r#"{"dot":{"actor":1,"counter":1},"context":[{"actor":1,"counter":1}]}"#;
    assert!(serde_json::from_str::<DottedVersionVector>(inside).is_err());
    let too_many = r#"{"entries":[{"actor":1,"counter":1,"values":["a","b"]}],"anonymous":[]}"#;
    assert!(serde_json::from_str::<DvvSet<String>>(too_many).is_err());
}

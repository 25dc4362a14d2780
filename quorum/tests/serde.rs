//! Configurations written with serde are read back through their
//! constructors: a configuration whose quorums would not intersect cannot
//! be smuggled in through deserialization.
#![cfg(feature = "serde")]

use tessera_quorum::{AnyQuorum, Flexible, Grid, Joint, Majority, QuorumSystem, Weighted};

#[test]
fn configurations_round_trip() {
    let joint = Joint::new(
        AnyQuorum::from(Grid::with_columns(&[1, 2, 3, 4], 2).expect("valid grid")),
        AnyQuorum::from(Weighted::majority([(1, 3), (5, 1)]).expect("valid weights")),
    )
    .expect("valid joint");
    let any = AnyQuorum::from(joint);
    let text = serde_json::to_string(&any).expect("serializable");
    let back: AnyQuorum = serde_json::from_str(&text).expect("deserializable");
    assert_eq!(back, any);
    assert_eq!(back.members(), &[1, 2, 3, 4, 5]);
}

#[test]
fn rule_deserializing_a_non_intersecting_configuration_fails() {
    let good = serde_json::to_string(&Flexible::new([1, 2, 3], 2, 2).expect("valid")).expect("ok");
    assert_eq!(good, r#"{"members":[1,2,3],"read":2,"write":2}"#);
    let bad = r#"{"members":[1,2,3],"read":1,"write":2}"#;
    let error = serde_json::from_str::<Flexible>(bad).expect_err("must be refused");
    assert!(error.to_string().contains("need not intersect"), "{error}");
    let duplicate = r#"{"members":[1,1,3]}"#;
    assert!(serde_json::from_str::<Majority>(duplicate).is_err());
}

#[test]
fn rule_deserializing_an_inconsistent_object_fails() {
    use tessera_quorum::{Version, VersionedObject};
    use tessera_vclock::{Dot, DottedVersionVector, VersionVector};

    let mut object = VersionedObject::new();
    for actor in [1, 2] {
        object.add(Version {
            clock: DottedVersionVector::new(Dot::new(actor, 1), VersionVector::new())
                .expect("fresh dot"),
            value: Some(actor),
        });
    }
    let text = serde_json::to_string(&object).expect("serializable");
    let back: VersionedObject<u64> = serde_json::from_str(&text).expect("deserializable");
    assert_eq!(back, object);
    // The same versions in the wrong order are refused.
    let mut versions: Vec<serde_json::Value> = serde_json::from_str::<serde_json::Value>(&text)
        .expect("json")["versions"]
        .as_array()
        .expect("a list")
        .clone();
    versions.reverse();
    let swapped = serde_json::json!({ "versions": versions }).to_string();
    assert!(serde_json::from_str::<VersionedObject<u64>>(&swapped).is_err());
}

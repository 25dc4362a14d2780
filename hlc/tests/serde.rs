//! The serde forms round-trip; a timestamp serializes as its packed `u64`.
#![cfg(all(feature = "serde", not(loom)))]

use std::time::Duration;

use tessera_core::{EvidenceScope, Instant};
use tessera_hlc::{ClosedTimestampTracker, Lease, NodeTimestamp, Timestamp};

#[test]
fn clock_evidence_round_trips_through_json() {
    let timestamp = Timestamp::from_parts(1_700_000_000_000_000, 5).unwrap();
    let json = serde_json::to_string(&timestamp).unwrap();
    assert_eq!(json, timestamp.as_u64().to_string());
    assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), timestamp);

    let stamp = NodeTimestamp::new(timestamp, 3);
    let json = serde_json::to_string(&stamp).unwrap();
    assert_eq!(serde_json::from_str::<NodeTimestamp>(&json).unwrap(), stamp);

    let lease = Lease::new(
        1,
        2,
        Instant::from_secs(5),
        Duration::from_secs(9),
        Duration::from_millis(250),
    )
    .unwrap();
    let json = serde_json::to_string(&lease).unwrap();
    assert_eq!(serde_json::from_str::<Lease>(&json).unwrap(), lease);

    let mut tracker = ClosedTimestampTracker::new(EvidenceScope::Global, Duration::from_secs(1));
    let closed = tracker.close(timestamp, 9);
    let json = serde_json::to_string(&closed).unwrap();
    assert_eq!(
        serde_json::from_str::<tessera_hlc::ClosedTimestamp>(&json).unwrap(),
        closed
    );
}

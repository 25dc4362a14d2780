//! Raft's and Multi-Paxos's wire encodings: every message survives
//! encoding and decoding unchanged (property), and what is not a message is
//! refused with an error naming what is wrong, never a panic.

use proptest::prelude::*;
use tessera_net::{MapCommand, RaftAdapter, ReplicatedMap, WireCodec, WireError};
use tessera_raft::{
    AppendOutcome, AppendRequest, AppendResponse, Entry, ForwardOutcome, Heartbeat,
    HeartbeatResponse, Membership, Message, Payload, SnapshotChunk, SnapshotHeader,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use tessera_storage::LogPosition;

fn position() -> impl Strategy<Value = LogPosition> {
    (any::<u64>(), any::<u64>()).prop_map(|(index, term)| LogPosition::new(index, term))
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..16)
}

fn command() -> impl Strategy<Value = MapCommand> {
    prop_oneof![
        (bytes(), bytes()).prop_map(|(key, value)| MapCommand::Put { key, value }),
        bytes().prop_map(|key| MapCommand::Delete { key }),
        (bytes(), proptest::option::of(bytes()), bytes())
            .prop_map(|(key, expected, new)| MapCommand::CompareAndSet { key, expected, new }),
    ]
}

fn membership() -> impl Strategy<Value = Membership> {
    (
        proptest::collection::btree_set(1u64..8, 1..4),
        proptest::collection::btree_set(8u64..12, 0..3),
        any::<bool>(),
    )
        .prop_map(|(voters, learners, joint)| {
            let outgoing: Vec<u64> = if joint {
                voters.iter().take(1).copied().collect()
            } else {
                Vec::new()
            };
            Membership::from_parts(voters, outgoing, learners).expect("a valid membership")
        })
}

fn entry() -> impl Strategy<Value = Entry<MapCommand>> {
    let payload = prop_oneof![
        Just(Payload::Blank),
        command().prop_map(Payload::Command),
        membership().prop_map(|m| Payload::Membership(m.into())),
    ];
    (any::<u64>(), any::<u64>(), payload).prop_map(|(index, term, payload)| Entry {
        index,
        term,
        payload,
    })
}

fn message() -> impl Strategy<Value = Message<MapCommand>> {
    prop_oneof![
        (any::<u64>(), position(), any::<bool>(), any::<bool>()).prop_map(
            |(term, last_log, pre_vote, transfer)| {
                Message::VoteRequest(VoteRequest {
                    term,
                    last_log,
                    pre_vote,
                    transfer,
                })
            }
        ),
        (any::<u64>(), any::<bool>(), any::<bool>()).prop_map(|(term, granted, pre_vote)| {
            Message::VoteResponse(VoteResponse {
                term,
                granted,
                pre_vote,
            })
        }),
        (
            any::<u64>(),
            position(),
            proptest::collection::vec(entry(), 0..4),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(term, prev, entries, commit, round)| {
                Message::Append(AppendRequest {
                    term,
                    prev,
                    entries,
                    commit,
                    round,
                })
            }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(term, round, match_index)| {
            Message::AppendResponse(AppendResponse {
                term,
                round,
                outcome: AppendOutcome::Accepted { match_index },
            })
        }),
        (any::<u64>(), any::<u64>(), any::<u64>(), position()).prop_map(
            |(term, round, rejected_prev, hint)| {
                Message::AppendResponse(AppendResponse {
                    term,
                    round,
                    outcome: AppendOutcome::Rejected {
                        rejected_prev,
                        hint,
                    },
                })
            }
        ),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(term, commit, round)| {
            Message::Heartbeat(Heartbeat {
                term,
                commit,
                round,
            })
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(term, round)| Message::HeartbeatResponse(
            HeartbeatResponse { term, round }
        )),
        (
            any::<u64>(),
            any::<u64>(),
            position(),
            membership(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            bytes()
        )
            .prop_map(
                |(term, round, last, membership, size_bytes, checksum, offset, data)| {
                    Message::Snapshot(
                        SnapshotChunk {
                            term,
                            round,
                            header: SnapshotHeader {
                                last,
                                membership,
                                size_bytes,
                                checksum,
                            },
                            offset,
                            data,
                        }
                        .into(),
                    )
                }
            ),
        (
            any::<u64>(),
            any::<u64>(),
            position(),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(term, round, last, next_offset, installed)| {
                Message::SnapshotResponse(SnapshotResponse {
                    term,
                    round,
                    last,
                    next_offset,
                    installed,
                })
            }),
        any::<u64>().prop_map(|term| Message::TimeoutNow { term }),
        (any::<u64>(), command()).prop_map(|(id, command)| Message::Forward { id, command }),
        (any::<u64>(), position()).prop_map(|(id, at)| Message::ForwardResponse {
            id,
            outcome: ForwardOutcome::Appended { at }
        }),
        (any::<u64>(), proptest::option::of(any::<u64>())).prop_map(|(id, leader)| {
            Message::ForwardResponse {
                id,
                outcome: ForwardOutcome::Refused { leader },
            }
        }),
    ]
}

proptest! {
    /// Law: decode(encode(m)) == m for every Raft message.
    #[test]
    fn every_message_round_trips(message in message()) {
        let adapter = RaftAdapter::<ReplicatedMap>::new();
        let mut bytes = Vec::new();
        adapter.encode(&message, &mut bytes);
        prop_assert_eq!(adapter.decode(&bytes), Ok(message));
    }

    /// Law: decoding arbitrary bytes returns (an error or a message), never
    /// panics, and whatever decodes re-encodes to the same message.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        tessera_net::fuzz_peer_decoders(&bytes);
        tessera_net::fuzz_client_decoders(&bytes);
    }
}

#[test]
fn malformed_messages_say_what_is_wrong() {
    use prost::Message as _;
    use tessera_net::proto::raft as pb;
    let adapter = RaftAdapter::<ReplicatedMap>::new();
    let decode = |message: pb::RaftMessage| adapter.decode(&message.encode_to_vec());

    assert_eq!(
        decode(pb::RaftMessage { kind: None }),
        Err(WireError::Missing("kind"))
    );
    let vote = pb::raft_message::Kind::VoteRequest(pb::VoteRequest {
        term: 1,
        last_log: None,
        pre_vote: false,
        transfer: false,
    });
    assert_eq!(
        decode(pb::RaftMessage { kind: Some(vote) }),
        Err(WireError::Missing("vote_request.last_log"))
    );

    let bad_command = pb::Entry {
        index: 1,
        term: 1,
        payload: Some(pb::entry::Payload::Command(vec![9, 9])),
    };
    let append = pb::raft_message::Kind::Append(pb::AppendRequest {
        term: 1,
        prev: Some(pb::LogPosition { index: 0, term: 0 }),
        entries: vec![bad_command],
        commit: 0,
        round: 0,
    });
    let error = decode(pb::RaftMessage { kind: Some(append) }).unwrap_err();
    assert!(
        matches!(
            error,
            WireError::Invalid {
                field: "entry.command",
                ..
            }
        ),
        "{error}"
    );

    let learner_and_voter = pb::Membership {
        voters: vec![1, 2],
        outgoing: vec![],
        learners: vec![2],
    };
    let chunk = pb::raft_message::Kind::Snapshot(pb::SnapshotChunk {
        term: 1,
        round: 1,
        header: Some(pb::SnapshotHeader {
            last: Some(pb::LogPosition { index: 5, term: 1 }),
            membership: Some(learner_and_voter),
            size_bytes: 1,
            checksum: 0,
        }),
        offset: 0,
        data: vec![1],
    });
    let error = decode(pb::RaftMessage { kind: Some(chunk) }).unwrap_err();
    assert!(
        matches!(
            error,
            WireError::Invalid {
                field: "snapshot.header.membership",
                ..
            }
        ),
        "{error}"
    );

    assert!(matches!(
        adapter.decode(&[0xff; 8]),
        Err(WireError::Protobuf(_))
    ));
}

#[test]
fn snapshot_chunks_travel_on_their_own_lane() {
    use tessera_net::Lane;
    let adapter = RaftAdapter::<ReplicatedMap>::new();
    let chunk = Message::Snapshot(
        SnapshotChunk {
            term: 1,
            round: 1,
            header: SnapshotHeader {
                last: LogPosition::new(5, 1),
                membership: Membership::new([1, 2, 3]).expect("voters"),
                size_bytes: 4,
                checksum: 0,
            },
            offset: 0,
            data: vec![0; 4096],
        }
        .into(),
    );
    assert_eq!(adapter.lane(&chunk), Lane::Bulk);
    assert!(adapter.size_hint(&chunk) >= 4096);
    let heartbeat = Message::Heartbeat(Heartbeat {
        term: 1,
        commit: 0,
        round: 0,
    });
    assert_eq!(adapter.lane(&heartbeat), Lane::Ordinary);
}

/// Multi-Paxos's messages (`proto/paxos.proto`).
mod paxos {
    use super::{bytes, command, position};
    use proptest::prelude::*;
    use tessera_core::Instant;
    use tessera_net::{Lane, MapCommand, PaxosAdapter, ReplicatedMap, WireCodec, WireError};
    use tessera_paxos::Ballot;
    use tessera_paxos::multi::{
        Configuration, LeaseOffer, Message, QuorumSpec, SlotEntry, SlotValue,
    };
    use tessera_storage::LogPosition;

    fn adapter() -> PaxosAdapter<ReplicatedMap> {
        PaxosAdapter::new()
    }

    fn ballot() -> impl Strategy<Value = Ballot> {
        (any::<u64>(), any::<u64>()).prop_map(|(round, node)| Ballot::new(round, node))
    }

    fn nodes() -> impl Strategy<Value = Vec<u64>> {
        proptest::collection::vec(any::<u64>(), 0..5)
    }

    fn configuration() -> impl Strategy<Value = Configuration> {
        let quorums = prop_oneof![
            nodes().prop_map(QuorumSpec::Majority),
            (nodes(), 0usize..9, 0usize..9).prop_map(|(members, phase1, phase2)| {
                QuorumSpec::Flexible {
                    members,
                    phase1,
                    phase2,
                }
            }),
            proptest::collection::vec(nodes(), 0..3).prop_map(QuorumSpec::Grid),
        ];
        (any::<u64>(), any::<u64>(), quorums).prop_map(|(epoch, start_slot, quorums)| {
            Configuration {
                epoch,
                start_slot,
                quorums,
            }
        })
    }

    fn value() -> impl Strategy<Value = SlotValue<MapCommand>> {
        prop_oneof![
            Just(SlotValue::NoOp),
            proptest::collection::vec(command(), 0..4).prop_map(SlotValue::Batch),
            configuration().prop_map(SlotValue::StopSign),
        ]
    }

    fn entries() -> impl Strategy<Value = Vec<SlotEntry<MapCommand>>> {
        proptest::collection::vec(
            (any::<u64>(), ballot(), value()).prop_map(|(slot, ballot, value)| SlotEntry {
                slot,
                ballot,
                value,
            }),
            0..4,
        )
    }

    fn message() -> impl Strategy<Value = Message<MapCommand>> {
        prop_oneof![
            (ballot(), any::<u64>())
                .prop_map(|(ballot, from_slot)| Message::Prepare { ballot, from_slot }),
            (
                ballot(),
                any::<u64>(),
                entries(),
                proptest::option::of(any::<u64>()),
                any::<u64>()
            )
                .prop_map(|(ballot, from_slot, entries, next, base)| {
                    Message::Promise {
                        ballot,
                        from_slot,
                        entries,
                        next,
                        base,
                    }
                }),
            (
                ballot(),
                any::<u64>(),
                proptest::collection::vec(value(), 0..4),
                any::<u64>()
            )
                .prop_map(|(ballot, first_slot, values, commit)| Message::Accept {
                    ballot,
                    first_slot,
                    values,
                    commit,
                }),
            (ballot(), any::<u64>(), any::<u64>()).prop_map(|(ballot, first_slot, count)| {
                Message::Accepted {
                    ballot,
                    first_slot,
                    count,
                }
            }),
            (ballot(), ballot()).prop_map(|(ballot, promised)| Message::Nack { ballot, promised }),
            (
                ballot(),
                any::<u64>(),
                any::<u64>(),
                proptest::option::of((any::<u64>(), any::<u64>()))
            )
                .prop_map(|(ballot, round, commit, lease)| Message::Heartbeat {
                    ballot,
                    round,
                    commit,
                    lease: lease.map(|(start, duration_nanos)| LeaseOffer {
                        start: Instant::from_nanos(start),
                        duration_nanos,
                    }),
                }),
            (ballot(), any::<u64>(), any::<bool>()).prop_map(|(ballot, round, lease_granted)| {
                Message::HeartbeatAck {
                    ballot,
                    round,
                    lease_granted,
                }
            }),
            any::<u64>().prop_map(|from_slot| Message::CatchUpRequest { from_slot }),
            (entries(), any::<u64>())
                .prop_map(|(entries, commit)| Message::CatchUp { entries, commit }),
            (position(), bytes(), any::<u64>(), any::<u64>(), bytes()).prop_map(
                |(last, configuration, total_bytes, offset, data)| Message::SnapshotChunk {
                    last,
                    configuration,
                    total_bytes,
                    offset,
                    data,
                }
            ),
            (position(), any::<u64>())
                .prop_map(|(last, offset)| Message::SnapshotAck { last, offset }),
        ]
    }

    proptest! {
        /// Law: decode(encode(m)) == m for every Multi-Paxos message.
        #[test]
        fn every_message_round_trips(message in message()) {
            let mut bytes = Vec::new();
            adapter().encode(&message, &mut bytes);
            prop_assert_eq!(adapter().decode(&bytes), Ok(message));
        }

        /// Law: decoding arbitrary bytes returns an error or a message, never
        /// panics, and whatever decodes re-encodes to the same message.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(message) = adapter().decode(&bytes) {
                let mut again = Vec::new();
                adapter().encode(&message, &mut again);
                prop_assert_eq!(adapter().decode(&again), Ok(message));
            }
        }
    }

    #[test]
    fn malformed_messages_say_what_is_wrong() {
        use prost::Message as _;
        use tessera_net::proto::paxos as pb;
        let decode = |message: pb::PaxosMessage| adapter().decode(&message.encode_to_vec());
        let kind = |kind| pb::PaxosMessage { kind: Some(kind) };

        assert_eq!(
            decode(pb::PaxosMessage { kind: None }),
            Err(WireError::Missing("kind"))
        );
        assert_eq!(
            decode(kind(pb::paxos_message::Kind::Prepare(pb::Prepare {
                ballot: None,
                from_slot: 1,
            }))),
            Err(WireError::Missing("prepare.ballot"))
        );
        assert_eq!(
            decode(kind(pb::paxos_message::Kind::SnapshotAck(
                pb::SnapshotAck {
                    last: None,
                    offset: 0,
                }
            ))),
            Err(WireError::Missing("snapshot_ack.last"))
        );

        let ballot = Some(pb::Ballot { round: 1, node: 1 });
        let accept = |value: pb::slot_value::Value| {
            kind(pb::paxos_message::Kind::Accept(pb::Accept {
                ballot,
                first_slot: 1,
                values: vec![pb::SlotValue { value: Some(value) }],
                commit: 0,
            }))
        };
        let error = decode(accept(pb::slot_value::Value::Batch(pb::Batch {
            commands: vec![vec![9, 9]],
        })))
        .unwrap_err();
        assert!(
            matches!(
                error,
                WireError::Invalid {
                    field: "batch.command",
                    ..
                }
            ),
            "{error}"
        );
        let error = decode(accept(pb::slot_value::Value::Vacant(pb::Empty {}))).unwrap_err();
        assert!(
            matches!(
                error,
                WireError::Invalid {
                    field: "slot_value",
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(
            decode(accept(pb::slot_value::Value::StopSign(pb::Configuration {
                epoch: 1,
                start_slot: 2,
                quorums: None,
            }))),
            Err(WireError::Missing("stop_sign.quorums"))
        );
        assert_eq!(
            decode(kind(pb::paxos_message::Kind::CatchUp(pb::CatchUp {
                entries: vec![pb::SlotEntry {
                    slot: 1,
                    ballot,
                    value: None,
                }],
                commit: 1,
            }))),
            Err(WireError::Missing("slot_value"))
        );

        assert!(matches!(
            adapter().decode(&[0xff; 8]),
            Err(WireError::Protobuf(_))
        ));
    }

    #[test]
    fn snapshot_chunks_travel_on_their_own_lane() {
        let chunk = Message::SnapshotChunk {
            last: LogPosition::new(5, 1),
            configuration: Vec::new(),
            total_bytes: 4096,
            offset: 0,
            data: vec![0; 4096],
        };
        assert_eq!(adapter().lane(&chunk), Lane::Bulk);
        assert!(adapter().size_hint(&chunk) >= 4096);
        let accept = Message::Accept {
            ballot: Ballot::new(1, 1),
            first_slot: 1,
            values: vec![SlotValue::Batch(vec![MapCommand::Put {
                key: vec![0; 100],
                value: vec![0; 1000],
            }])],
            commit: 0,
        };
        assert_eq!(adapter().lane(&accept), Lane::Ordinary);
        assert!(adapter().size_hint(&accept) >= 1100);
        assert_eq!(adapter().kind(&accept), "accept");
        assert_eq!(adapter().protocol(), "paxos");
    }
}

//! Bad input from peers — impossible indexes and terms, strangers,
//! oversized batches, garbage of every shape — is dropped and counted,
//! never a panic and never applied.

mod common;

use common::{KvCommand, Msg, Net, config};
use proptest::prelude::*;
use tessera_core::{Input, Instant, Protocol};
use tessera_raft::{
    AppendOutcome, AppendRequest, AppendResponse, Entry, Heartbeat, HeartbeatResponse, Message,
    MessageRejection, RaftConfig, SnapshotChunk, SnapshotHeader, SnapshotResponse, VoteRequest,
    VoteResponse,
};
use tessera_storage::LogPosition;

fn append(term: u64, prev: LogPosition, entries: Vec<Entry<KvCommand>>, commit: u64) -> Msg {
    Message::Append(AppendRequest {
        term,
        prev,
        entries,
        commit,
        round: 1,
    })
}

fn put(index: u64, term: u64) -> Entry<KvCommand> {
    Entry::command(index, term, KvCommand::Put(index, term))
}

#[test]
fn impossible_appends_are_rejected_and_counted() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let before = net.log_terms(2);
    let cases = [
        // A gap between entries.
        append(1, LogPosition::new(1, 1), vec![put(2, 1), put(4, 1)], 0),
        // An entry of a later term than the message.
        append(1, LogPosition::new(1, 1), vec![put(2, 5)], 0),
        // Terms going backwards.
        append(3, LogPosition::new(1, 1), vec![put(2, 3), put(3, 2)], 0),
        // A previous term later than the message's.
        append(1, LogPosition::new(1, 7), vec![], 0),
    ];
    for message in cases {
        net.input(2, Input::Message { from: 1, message });
    }
    assert_eq!(
        net.node(2)
            .counters()
            .rejected(MessageRejection::ImpossibleIndex),
        4
    );
    assert_eq!(net.log_terms(2), before);
}

#[test]
fn oversized_batches_are_refused() {
    let config = RaftConfig {
        append_entries_max: 3,
        ..config()
    };
    let mut net = Net::with_config(&[1, 2, 3], config);
    net.elect(1);
    let entries = (2..=6).map(|i| put(i, 1)).collect();
    net.input(
        2,
        Input::Message {
            from: 1,
            message: append(1, LogPosition::new(1, 1), entries, 0),
        },
    );
    assert_eq!(
        net.node(2).counters().rejected(MessageRejection::Oversized),
        1
    );
    assert_eq!(net.node(2).log().last_index(), 1);
    let chunk = Message::Snapshot(Box::new(SnapshotChunk {
        term: 1,
        round: 1,
        header: SnapshotHeader {
            last: LogPosition::new(99, 1),
            membership: net.node(2).membership().clone(),
            size_bytes: 1 << 30,
            checksum: 0,
        },
        offset: 0,
        data: vec![0; net.config.snapshot_chunk_bytes * 4 + 1],
    }));
    net.input(
        2,
        Input::Message {
            from: 1,
            message: chunk,
        },
    );
    assert_eq!(
        net.node(2).counters().rejected(MessageRejection::Oversized),
        2
    );
}

#[test]
fn a_second_leader_for_a_term_is_refused() {
    // Election Safety from the follower's side: it has a leader for term 1
    // and will not take another's entries for that term.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.input(
        2,
        Input::Message {
            from: 3,
            message: append(1, LogPosition::new(1, 1), vec![put(2, 1)], 0),
        },
    );
    assert_eq!(
        net.node(2)
            .counters()
            .rejected(MessageRejection::ConflictingLeader),
        1
    );
    assert_eq!(net.node(2).log().last_index(), 1);
}

#[test]
fn an_append_contradicting_a_committed_entry_is_refused() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.put(1, 1, 1);
    net.heartbeat(1);
    assert_eq!(net.node(2).commit_index(), 2);
    // A later leader claiming a different entry 2.
    net.input(
        2,
        Input::Message {
            from: 3,
            message: append(5, LogPosition::new(1, 1), vec![put(2, 4)], 0),
        },
    );
    assert_eq!(
        net.node(2)
            .counters()
            .rejected(MessageRejection::CommittedConflict),
        1
    );
    assert_eq!(net.node(2).log().term_at(2), Some(1));
}

#[test]
fn answers_from_strangers_and_impossible_acknowledgements_are_dropped() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let last = net.node(1).log().last_index();
    let stranger_ack = Message::AppendResponse(AppendResponse {
        term: 1,
        round: 1,
        outcome: AppendOutcome::Accepted { match_index: last },
    });
    net.input(
        1,
        Input::Message {
            from: 9,
            message: stranger_ack,
        },
    );
    let beyond = Message::AppendResponse(AppendResponse {
        term: 1,
        round: 1,
        outcome: AppendOutcome::Accepted {
            match_index: last + 100,
        },
    });
    net.input(
        1,
        Input::Message {
            from: 2,
            message: beyond,
        },
    );
    let counters = net.node(1).counters();
    assert_eq!(counters.rejected(MessageRejection::NotAMember), 1);
    assert_eq!(counters.rejected(MessageRejection::ImpossibleIndex), 1);
    assert!(net.node(1).is_leader());
    assert_eq!(net.node(1).commit_index(), last);
    // A vote request from a non-voter is refused.
    net.advance(std::time::Duration::from_secs(5));
    let stranger_vote = Message::VoteRequest(VoteRequest {
        term: 9,
        last_log: LogPosition::new(100, 9),
        pre_vote: false,
        transfer: true,
    });
    net.input(
        2,
        Input::Message {
            from: 9,
            message: stranger_vote,
        },
    );
    assert_eq!(net.node(2).vote(), Some(1));
    assert_eq!(
        net.node(2)
            .counters()
            .rejected(MessageRejection::NotAMember),
        1
    );
}

#[test]
fn a_message_claiming_to_come_from_the_receiver_is_dropped() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.input(
        2,
        Input::Message {
            from: 2,
            message: append(9, LogPosition::ZERO, vec![], 0),
        },
    );
    assert_eq!(net.node(2).term(), 1);
    assert_eq!(net.node(2).counters().rejected_total(), 1);
}

fn any_position() -> impl Strategy<Value = LogPosition> {
    (0u64..12, 0u64..6).prop_map(|(index, term)| LogPosition::new(index, term))
}

fn any_message() -> impl Strategy<Value = Msg> {
    let entries = prop::collection::vec((0u64..14, 0u64..7), 0..5)
        .prop_map(|v| v.into_iter().map(|(i, t)| put(i, t)).collect::<Vec<_>>());
    prop_oneof![
        (0u64..7, any_position(), any::<bool>(), any::<bool>()).prop_map(
            |(term, last_log, pre_vote, transfer)| {
                Message::VoteRequest(VoteRequest {
                    term,
                    last_log,
                    pre_vote,
                    transfer,
                })
            }
        ),
        (0u64..7, any::<bool>(), any::<bool>()).prop_map(|(term, granted, pre_vote)| {
            Message::VoteResponse(VoteResponse {
                term,
                granted,
                pre_vote,
            })
        }),
        (0u64..7, any_position(), entries, 0u64..15, 0u64..20).prop_map(
            |(term, prev, entries, commit, round)| Message::Append(AppendRequest {
                term,
                prev,
                entries,
                commit,
                round
            })
        ),
        (0u64..7, 0u64..20, 0u64..15, any_position(), any::<bool>()).prop_map(
            |(term, round, index, hint, ok)| {
                let outcome = if ok {
                    AppendOutcome::Accepted { match_index: index }
                } else {
                    AppendOutcome::Rejected {
                        rejected_prev: index,
                        hint,
                    }
                };
                Message::AppendResponse(AppendResponse {
                    term,
                    round,
                    outcome,
                })
            }
        ),
        (0u64..7, 0u64..15, 0u64..20).prop_map(|(term, commit, round)| Message::Heartbeat(
            Heartbeat {
                term,
                commit,
                round
            }
        )),
        (0u64..7, 0u64..20).prop_map(|(term, round)| Message::HeartbeatResponse(
            HeartbeatResponse { term, round }
        )),
        (
            0u64..7,
            any_position(),
            0u64..40,
            0u64..40,
            prop::collection::vec(any::<u8>(), 0..24),
            any::<u32>()
        )
            .prop_map(|(term, last, size, offset, data, checksum)| {
                Message::Snapshot(Box::new(SnapshotChunk {
                    term,
                    round: 1,
                    header: SnapshotHeader {
                        last,
                        membership: tessera_raft::Membership::new([1, 2, 3]).expect("voters"),
                        size_bytes: size,
                        checksum,
                    },
                    offset,
                    data,
                }))
            }),
        (0u64..7, any_position(), 0u64..40, any::<bool>()).prop_map(
            |(term, last, next_offset, installed)| {
                Message::SnapshotResponse(SnapshotResponse {
                    term,
                    round: 1,
                    last,
                    next_offset,
                    installed,
                })
            }
        ),
        (0u64..7).prop_map(|term| Message::TimeoutNow { term }),
        (any::<u64>(), 0u64..9).prop_map(|(id, k)| Message::Forward {
            id,
            command: KvCommand::Put(k, k)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Rule: whatever peers send, in whatever order, no node panics. (A
    /// peer that lies plausibly — a well-formed append from a term it does
    /// not lead — can mislead any crash-fault protocol; the transport's
    /// authentication, not Raft, keeps strangers out. What Raft refuses is
    /// what cannot be true, and that is counted.)
    #[test]
    fn garbage_never_panics(
        messages in prop::collection::vec((1u64..=4, 1u64..=3, any_message()), 1..60)
    ) {
        let mut net = Net::new(&[1, 2, 3]);
        net.panic_on_violation = false;
        net.elect(1);
        net.put(1, 1, 1);
        for (from, to, message) in messages {
            net.advance(std::time::Duration::from_millis(3));
            net.input(to, Input::Message { from, message });
            net.settle();
        }
        net.run_for(std::time::Duration::from_millis(600), std::time::Duration::from_millis(20));
    }

    /// Rule: an unreliable network — messages reordered, duplicated or lost
    /// at random, nodes crashing and restarting — never breaks an invariant
    /// (the harness checks them all after every step).
    #[test]
    fn an_unreliable_network_never_breaks_an_invariant(seed in any::<u64>()) {
        let mut rng = tessera_core::SeededRng::new(seed);
        let mut net = Net::new(&[1, 2, 3]);
        for step in 0..400u64 {
            net.advance(std::time::Duration::from_millis(rng.range(1, 15)));
            match rng.below(20) {
                0 => {
                    let id = rng.range(1, 4);
                    if net.running().contains(&id) && net.running().len() == 3 {
                        net.crash(id);
                    } else if !net.running().contains(&id) {
                        net.restart(id);
                    }
                }
                1..=3 => {
                    let leader = net.leaders().first().copied().unwrap_or(1);
                    if net.running().contains(&leader) {
                        net.propose(leader, KvCommand::Put(step % 4, step));
                    }
                }
                _ => {}
            }
            for id in net.running() {
                if net.node(id).next_deadline().is_some_and(|d| d <= net.now) {
                    net.input(id, Input::Tick);
                }
            }
            // Deliver a few queued messages in random order, some twice,
            // some never.
            for _ in 0..rng.below(8) {
                if net.queue.is_empty() {
                    break;
                }
                let pick = rng.below(net.queue.len() as u64) as usize;
                let Some(envelope) = net.queue.remove(pick) else { break };
                match rng.below(10) {
                    0 => {}
                    1 => {
                        net.queue.push_back(envelope.clone());
                        net.queue.push_front(envelope);
                        net.deliver_one();
                    }
                    _ => {
                        net.queue.push_front(envelope);
                        net.deliver_one();
                    }
                }
            }
        }
    }
}

#[test]
fn a_node_started_with_garbage_durable_state_reports_it() {
    // Storage failure is reported as such, not a panic.
    let recovered = tessera_raft::Recovered {
        hard_state: Some(tessera_raft::HardState {
            term: 3,
            vote: None,
            commit: 50,
            configuration: vec![1, 2, 3],
        }),
        snapshot: None,
        log_base: LogPosition::ZERO,
        entries: vec![put(1, 1)],
    };
    let result = tessera_raft::RaftNode::start(
        tessera_raft::Startup::recover(1, 1, Instant::ZERO, recovered),
        config(),
        common::Kv::default(),
    );
    assert!(matches!(
        result,
        Err(tessera_raft::RaftError::Recovery { .. })
    ));
    let _ = |node: &common::Node| node.next_deadline();
}

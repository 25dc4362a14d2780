//! Replays the fuzzers' corpus (`net/fuzz/corpus/`) through the same
//! properties the fuzz targets check, so CI exercises every input a fuzzer
//! kept without cargo-fuzz or a nightly compiler.
//!
//! Inputs found by `cargo fuzz run <target> -s none` (in `net/fuzz`) that
//! crashed are fixed and then copied into the corpus. The hand-made seeds
//! are rewritten by `cargo test -p tessera-net --test fuzz_corpus -- --ignored`.

use std::path::PathBuf;

use prost::Message as _;
use tessera_net::proto::transport::{
    ClientReply, Envelope, ProposeRequest, ReadRequest, client_reply,
};
use tessera_net::{
    MapCommand, PaxosAdapter, RaftAdapter, ReplicatedMap, WireCodec, fuzz_client_decoders,
    fuzz_peer_decoders,
};
use tessera_paxos::Ballot;
use tessera_paxos::multi::{Configuration, LeaseOffer, QuorumSpec, SlotEntry, SlotValue};
use tessera_raft::{AppendRequest, Entry, Heartbeat, Membership, Message, Payload, VoteRequest};
use tessera_storage::{Codec, LogPosition};

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target)
}

fn replay(target: &str, property: fn(&[u8])) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(corpus(target)).expect("the corpus directory") {
        let path = entry.expect("a corpus entry").path();
        let bytes = std::fs::read(&path).expect("a corpus file");
        let outcome = std::panic::catch_unwind(|| property(&bytes));
        assert!(outcome.is_ok(), "{} fails {target}", path.display());
        count += 1;
    }
    count
}

// Rule: the peer decoders never panic on any input the fuzzer kept, and
// what decodes re-encodes to the same message.
#[test]
fn peer_decoders_corpus() {
    assert!(replay("peer_decoders", fuzz_peer_decoders) >= 18);
}

// The PBFT seeds are real messages: they decode (so the corpus exercises
// re-encoding), and a truncated one does not.
#[test]
fn pbft_seeds_decode() {
    let adapter = tessera_net::PbftAdapter::<ReplicatedMap>::new(
        tessera_pbft::PbftConfig::new([1, 2, 3, 4]).expect("four replicas"),
    );
    for seed in ["pre-prepare", "commit", "checkpoint", "request"] {
        let bytes = std::fs::read(corpus("peer_decoders").join(format!("seed-pbft-{seed}")))
            .expect("a seed file");
        assert!(adapter.decode(&bytes).is_ok(), "seed-pbft-{seed}");
    }
    let truncated = std::fs::read(corpus("peer_decoders").join("seed-pbft-truncated-pre-prepare"))
        .expect("a seed file");
    assert!(adapter.decode(&truncated).is_err());
}

// Rule: the client decoders never panic on any input the fuzzer kept.
#[test]
fn client_decoders_corpus() {
    assert!(replay("client_decoders", fuzz_client_decoders) >= 4);
}

fn raft(message: &Message<MapCommand>) -> Vec<u8> {
    let mut bytes = Vec::new();
    RaftAdapter::<ReplicatedMap>::new().encode(message, &mut bytes);
    bytes
}

fn paxos(message: &tessera_paxos::multi::Message<MapCommand>) -> Vec<u8> {
    let mut bytes = Vec::new();
    PaxosAdapter::<ReplicatedMap>::new().encode(message, &mut bytes);
    bytes
}

fn put(key: &[u8], value: &[u8]) -> MapCommand {
    MapCommand::Put {
        key: key.to_vec(),
        value: value.to_vec(),
    }
}

/// Rewrites the hand-made seed inputs.
#[test]
#[ignore = "rewrites the checked-in seed corpus"]
fn write_seed_corpus() {
    let heartbeat = raft(&Message::Heartbeat(Heartbeat {
        term: 3,
        commit: 9,
        round: 4,
    }));
    let vote = raft(&Message::VoteRequest(VoteRequest {
        term: 2,
        last_log: LogPosition::new(7, 1),
        pre_vote: true,
        transfer: false,
    }));
    let append = raft(&Message::Append(AppendRequest {
        term: 2,
        prev: LogPosition::new(7, 1),
        entries: vec![
            Entry::command(8, 2, put(b"k", b"v")),
            Entry::blank(9, 2),
            Entry {
                index: 10,
                term: 2,
                payload: Payload::Membership(Membership::new([1, 2, 3]).expect("voters").into()),
            },
        ],
        commit: 7,
        round: 5,
    }));
    let envelope = |messages: Vec<Vec<u8>>| {
        Envelope {
            sender: 2,
            cluster_id: "demo".into(),
            protocol: "raft".into(),
            messages,
        }
        .encode_to_vec()
    };
    use tessera_paxos::multi::Message as Paxos;
    let ballot = Ballot::new(3, 2);
    let paxos_accept = paxos(&Paxos::Accept {
        ballot,
        first_slot: 8,
        values: vec![
            SlotValue::Batch(vec![put(b"k", b"v"), put(b"l", b"w")]),
            SlotValue::NoOp,
            SlotValue::StopSign(Configuration {
                epoch: 1,
                start_slot: 11,
                quorums: QuorumSpec::Majority(vec![1, 2, 3, 4]),
            }),
        ],
        commit: 7,
    });
    let paxos_promise = paxos(&Paxos::Promise {
        ballot,
        from_slot: 5,
        entries: vec![SlotEntry {
            slot: 5,
            ballot: Ballot::new(2, 1),
            value: SlotValue::Batch(vec![put(b"k", b"u")]),
        }],
        next: Some(6),
        base: 4,
    });
    let paxos_heartbeat = paxos(&Paxos::Heartbeat {
        ballot,
        round: 9,
        commit: 10,
        lease: Some(LeaseOffer {
            start: tessera_core::Instant::from_millis(1_000),
            duration_nanos: 500_000_000,
        }),
    });
    let paxos_envelope = Envelope {
        sender: 2,
        cluster_id: "demo".into(),
        protocol: "paxos".into(),
        messages: vec![paxos_heartbeat.clone(), paxos_accept.clone()],
    }
    .encode_to_vec();
    let pbft_keys = tessera_pbft::Keyring::derive(7, 2, &[1, 2, 3, 4, 100]);
    let pbft_client = tessera_pbft::Keyring::derive(7, 100, &[1, 2, 3, 4, 100]);
    let pbft_config = tessera_pbft::PbftConfig::new([1, 2, 3, 4]).expect("four replicas");
    let mut operation = Vec::new();
    put(b"k", b"v").encode(&mut operation);
    let request = std::sync::Arc::new(tessera_pbft::ClientRequest::seal(
        &pbft_client,
        &pbft_config,
        5,
        operation,
    ));
    let batch = std::sync::Arc::new(tessera_pbft::Batch::new([request.clone()]));
    let pbft = |payload| {
        tessera_pbft::Envelope::seal_for_replicas(&pbft_keys, &pbft_config, payload).encode()
    };
    let pbft_pre_prepare = pbft(tessera_pbft::Payload::PrePrepare(
        tessera_pbft::PrePrepare {
            view: 1,
            seq: 9,
            digest: batch.digest(),
            batch,
        },
    ));
    let pbft_commit = pbft(tessera_pbft::Payload::Commit(tessera_pbft::Vote {
        view: 1,
        seq: 9,
        digest: tessera_pbft::Digest::of(b"batch"),
    }));
    let pbft_checkpoint = pbft(tessera_pbft::Payload::Checkpoint(
        tessera_pbft::Checkpoint {
            seq: 64,
            digest: tessera_pbft::Digest::of(b"state"),
        },
    ));
    let pbft_request = tessera_pbft::Envelope {
        sender: 100,
        payload: tessera_pbft::Payload::Request(request),
        authenticator: tessera_pbft::Authenticator::None,
    }
    .encode();
    let pbft_envelope = Envelope {
        sender: 2,
        cluster_id: "demo".into(),
        protocol: "pbft".into(),
        messages: vec![pbft_commit.clone(), pbft_request.clone()],
    }
    .encode_to_vec();
    let peer: Vec<(&str, Vec<u8>)> = vec![
        ("pbft-pre-prepare", pbft_pre_prepare.clone()),
        ("pbft-commit", pbft_commit),
        ("pbft-checkpoint", pbft_checkpoint),
        ("pbft-request", pbft_request),
        ("pbft-envelope", pbft_envelope),
        (
            "pbft-truncated-pre-prepare",
            pbft_pre_prepare[..pbft_pre_prepare.len() / 2].to_vec(),
        ),
        ("paxos-accept", paxos_accept),
        ("paxos-promise", paxos_promise),
        ("paxos-heartbeat", paxos_heartbeat),
        ("paxos-envelope", paxos_envelope),
        ("heartbeat", heartbeat.clone()),
        ("vote", vote.clone()),
        ("append", append.clone()),
        ("envelope-one", envelope(vec![heartbeat.clone()])),
        (
            "envelope-many",
            envelope(vec![vote, append.clone(), heartbeat]),
        ),
        ("envelope-garbage", envelope(vec![vec![0xff, 0x01, 0x02]])),
        ("truncated-append", append[..append.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("huge-length", vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
    ];
    let mut command = Vec::new();
    put(b"key", b"value").encode(&mut command);
    let client: Vec<(&str, Vec<u8>)> = vec![
        (
            "propose",
            ProposeRequest {
                command: command.clone(),
            }
            .encode_to_vec(),
        ),
        (
            "read",
            ReadRequest {
                query: b"key".to_vec(),
                consistency: 2,
                max_staleness_ms: 100,
            }
            .encode_to_vec(),
        ),
        (
            "reply",
            ClientReply {
                outcome: Some(client_reply::Outcome::Refused(
                    tessera_net::proto::transport::Refused {
                        reason: "no".into(),
                    },
                )),
            }
            .encode_to_vec(),
        ),
        ("command", command),
        ("bad-tag", vec![9, 0, 0, 0]),
    ];
    for (target, seeds) in [("peer_decoders", peer), ("client_decoders", client)] {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).expect("the corpus directory");
        for (name, bytes) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("a seed file");
        }
    }
}

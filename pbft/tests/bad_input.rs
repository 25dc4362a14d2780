//! Bad input from the network: malformed, oversized, truncated, mutated and
//! unauthenticated messages are dropped and counted — never a panic, never
//! applied.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use support::CLIENT_BASE;
use support::hand::HandCluster;
use tessera_core::{Input, Instant, Protocol};
use tessera_pbft::{
    Authenticator, Batch, ClientRequest, DropReason, Envelope, KvCommand, MemKv, Payload,
    PbftConfig, PbftError, PrePrepare, Replica,
};

fn config() -> PbftConfig {
    let mut config = PbftConfig::new([1, 2, 3, 4]).expect("four replicas");
    config.checkpoint_interval = 2;
    config.watermark_window = 4;
    config.view_change_timeout = Duration::from_millis(100);
    config.status_interval = Duration::from_millis(20);
    config.operation_bytes_max = 256;
    config.batch_size_max = 4;
    config.message_bytes_max = 64 * 1024;
    config
}

/// Every message of a run with checkpoints, a view change and a state
/// transfer: a corpus of valid encodings of every kind of message.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let seen: Rc<RefCell<Vec<Envelope>>> = Rc::default();
        let mut cluster = HandCluster::new(config(), 1);
        let record = seen.clone();
        cluster.filter = Some(Box::new(move |_, _, message| {
            record.borrow_mut().push(message.clone());
            true
        }));
        for i in 0..5 {
            cluster.submit(CLIENT_BASE, KvCommand::Put(b"k".to_vec(), vec![i]).encode());
            cluster.deliver_all();
        }
        cluster.crash(1);
        cluster.submit(CLIENT_BASE, KvCommand::Get(b"k".to_vec()).encode());
        cluster.run_for(Duration::from_secs(1), Duration::from_millis(10));
        let mut kinds: Vec<&'static str> = seen.borrow().iter().map(|e| e.payload.kind()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in [
            "request",
            "pre-prepare",
            "prepare",
            "commit",
            "reply",
            "checkpoint",
            "view-change",
            "new-view",
            "status",
        ] {
            assert!(
                kinds.contains(&kind),
                "the corpus lacks a {kind}: {kinds:?}"
            );
        }
        let mut corpus: Vec<Vec<u8>> = seen.borrow().iter().map(Envelope::encode).collect();
        corpus.sort();
        corpus.dedup();
        corpus
    })
}

fn replica() -> Replica<MemKv> {
    let nodes = [1, 2, 3, 4, CLIENT_BASE];
    let keys = tessera_pbft::Keyring::derive(support::KEY_SEED, 2, &nodes);
    Replica::new(config(), keys, MemKv::default(), Instant::ZERO).expect("a replica")
}

#[test]
fn every_valid_message_round_trips() {
    for bytes in corpus() {
        let envelope = Envelope::decode(bytes, &config()).expect("a valid encoding");
        assert_eq!(&envelope.encode(), bytes);
    }
}

#[test]
fn oversized_input_is_refused_and_counted() {
    let config = config();
    let mut replica = replica();
    let huge = vec![0u8; config.message_bytes_max + 1];
    assert!(matches!(
        Envelope::decode(&huge, &config),
        Err(PbftError::Oversized {
            what: "message",
            ..
        })
    ));
    assert!(replica.decode_message(&huge).is_none());
    assert_eq!(replica.drops().get(DropReason::Oversized), 1);
    // An operation above its limit inside an otherwise small message.
    let keys =
        tessera_pbft::Keyring::derive(support::KEY_SEED, CLIENT_BASE, &[1, 2, 3, 4, CLIENT_BASE]);
    let request = ClientRequest::seal(&keys, &config, 1, vec![7; config.operation_bytes_max + 1]);
    let envelope = Envelope {
        sender: CLIENT_BASE,
        payload: Payload::Request(Arc::new(request.clone())),
        authenticator: Authenticator::None,
    };
    assert!(matches!(
        Envelope::decode(&envelope.encode(), &config),
        Err(PbftError::Oversized {
            what: "operation",
            ..
        })
    ));
    // Handed in typed, it is refused as well.
    let mut actions = Vec::new();
    replica.handle(
        Instant::ZERO,
        Input::Message {
            from: CLIENT_BASE,
            message: envelope,
        },
        &mut actions,
    );
    assert_eq!(replica.drops().get(DropReason::Oversized), 1 + 1);
    // A batch above its limit.
    let small = ClientRequest::seal(&keys, &config, 1, vec![1]);
    let batch = Arc::new(Batch::new(vec![small; config.batch_size_max + 1]));
    let primary = tessera_pbft::Keyring::derive(support::KEY_SEED, 1, &[1, 2, 3, 4, CLIENT_BASE]);
    let pre_prepare = PrePrepare {
        view: 0,
        seq: 1,
        digest: batch.digest(),
        batch,
    };
    let envelope = Envelope::seal_for_replicas(&primary, &config, Payload::PrePrepare(pre_prepare));
    assert!(matches!(
        Envelope::decode(&envelope.encode(), &config),
        Err(PbftError::Oversized {
            what: "batch requests",
            ..
        })
    ));
    replica.handle(
        Instant::ZERO,
        Input::Message {
            from: 1,
            message: envelope,
        },
        &mut actions,
    );
    assert_eq!(replica.drops().get(DropReason::Oversized), 3);
    assert_eq!(replica.last_executed(), 0);
}

#[test]
fn unauthenticated_messages_of_every_kind_are_dropped_and_counted() {
    let config = config();
    let mut replica = replica();
    let mut stripped = 0;
    for bytes in corpus() {
        let mut envelope = Envelope::decode(bytes, &config).expect("valid");
        if envelope.sender == 2
            || matches!(envelope.payload, Payload::Request(_) | Payload::Reply(_))
        {
            continue;
        }
        envelope.authenticator = Authenticator::None;
        let mut actions = Vec::new();
        replica.handle(
            Instant::ZERO,
            Input::Message {
                from: envelope.sender,
                message: envelope,
            },
            &mut actions,
        );
        stripped += 1;
        assert!(
            actions
                .iter()
                .all(|a| !matches!(a, tessera_core::Action::Send { .. })),
            "an unauthenticated message caused a send"
        );
    }
    assert!(stripped > 10);
    assert_eq!(replica.drops().get(DropReason::BadAuthenticator), stripped);
    assert_eq!(replica.last_executed(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// Random bytes never make the decoder panic.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Envelope::decode(&bytes, &config());
    }

    /// Valid messages, mutated — bytes flipped, cut short, extended — never
    /// make the decoder or a replica panic; whatever decodes is handled
    /// (and refused unless it still authenticates).
    #[test]
    fn mutated_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        extra in proptest::collection::vec(any::<u8>(), 0..8),
        truncate in any::<bool>(),
    ) {
        let corpus = corpus();
        let mut bytes = corpus[pick.index(corpus.len())].clone();
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] ^= value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        bytes.extend(extra);
        let mut replica = replica();
        if let Some(envelope) = replica.decode_message(&bytes) {
            let from = envelope.sender;
            let mut actions = Vec::new();
            replica.handle(Instant::from_secs(1), Input::Message { from, message: envelope }, &mut actions);
            replica.handle(Instant::from_secs(2), Input::Tick, &mut actions);
        } else {
            prop_assert_eq!(replica.drops().get(DropReason::Malformed) + replica.drops().get(DropReason::Oversized), 1);
        }
        prop_assert!(replica.validate().is_ok());
    }

    /// A replica fed a whole valid run's messages in random order, as if
    /// from its peers, stays consistent and never panics.
    #[test]
    fn messages_in_any_order_never_panic(order in Just(()).prop_perturb(|_, mut rng| {
        let mut indexes: Vec<usize> = (0..corpus().len()).collect();
        for i in (1..indexes.len()).rev() {
            indexes.swap(i, (rng.next_u32() as usize) % (i + 1));
        }
        indexes
    })) {
        let mut replica = replica();
        let corpus = corpus();
        let mut now = Instant::ZERO;
        for index in order {
            let envelope = Envelope::decode(&corpus[index], &config()).expect("valid");
            let from = envelope.sender;
            let mut actions = Vec::new();
            now = now + Duration::from_millis(3);
            replica.handle(now, Input::Message { from, message: envelope }, &mut actions);
            for action in actions {
                if let tessera_core::Action::Persist { id, .. } = action {
                    let mut more = Vec::new();
                    replica.handle(now, Input::Persisted { up_to: id }, &mut more);
                }
            }
        }
        prop_assert!(replica.validate().is_ok());
    }
}

//! Only authenticated peers: a node whose certificate comes from another
//! CA cannot join or send messages; a node claiming another node's id is
//! refused; malformed and oversized protobuf gets an error response, and
//! the node keeps working.

mod support;

use std::time::Duration;

use prost::Message as _;
use prost::bytes::{Buf, BufMut};
use support::{PATIENCE, TestCluster, put, write_pem};
use tessera_net::proto::transport::peer_transport_client::PeerTransportClient;
use tessera_net::proto::transport::{Envelope, Hello};
use tessera_net::{
    CertificateAuthority, ClientTls, NetError, RaftAdapter, ReplicatedMap, TokioNetwork, WireCodec,
    dial, node_identity_name,
};
use tessera_raft::{Heartbeat, Message};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// A TLS client of node `target`'s peer port presenting `identity`.
fn peer_tls(ca_pem: &str, identity: &tessera_net::IssuedCertificate, target: u64) -> ClientTls {
    ClientTls::from_pem(
        "test",
        ca_pem,
        Some((&identity.cert_pem, &identity.key_pem)),
    )
    .expect("client TLS")
    .with_server_name(&node_identity_name("test", target))
    .expect("a DNS name")
}

fn envelope(sender: u64, messages: Vec<Vec<u8>>) -> Envelope {
    Envelope {
        sender,
        cluster_id: "test".into(),
        protocol: "raft".into(),
        messages,
    }
}

fn heartbeat() -> Vec<u8> {
    let mut bytes = Vec::new();
    RaftAdapter::<ReplicatedMap>::new().encode(
        &Message::Heartbeat(Heartbeat {
            term: 0,
            commit: 0,
            round: 0,
        }),
        &mut bytes,
    );
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_certificate_from_another_ca_cannot_join() {
    let (mut cluster, mut listeners) = TestCluster::new(3, |_| {}).await;
    // Node 3 holds a certificate for its own name — but from another CA,
    // which it also trusts.
    let rogue_ca = CertificateAuthority::generate("test").expect("a CA");
    let rogue = rogue_ca.issue_node(3, &[]).expect("a certificate");
    let certs = cluster.dir.path().join("rogue");
    std::fs::create_dir_all(&certs).expect("a directory");
    let tls = cluster
        .configs
        .get_mut(&3)
        .and_then(|c| c.tls.as_mut())
        .expect("TLS");
    tls.ca_cert = write_pem(&certs, "ca.pem", &rogue_ca.cert_pem());
    tls.cert = write_pem(&certs, "node-3.pem", &rogue.cert_pem);
    tls.key = write_pem(&certs, "node-3.key", &rogue.key_pem);
    for id in 1..=3 {
        let bound = listeners.remove(&id);
        cluster.start(id, bound).await;
    }

    // Nodes 1 and 2 form a majority and commit without node 3.
    let client = cluster.client();
    cluster.propose(&client, put("k", "v")).await;
    let leader = (1..=2)
        .find(|&id| cluster.handle(id).status().is_leader())
        .expect("node 1 or 2 leads");

    // Node 3 never hears from the leader, in either direction: its
    // connections are refused at the handshake, and it refuses theirs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rogue_status = cluster.handle(3).status();
    assert_eq!(rogue_status.commit_index, 0, "{rogue_status:?}");
    assert_ne!(rogue_status.leader, Some(leader), "{rogue_status:?}");
    let followers = cluster
        .handle(leader)
        .followers()
        .await
        .expect("the leader runs");
    let lagging = followers
        .iter()
        .find(|f| f.id == 3)
        .expect("node 3 is a follower");
    assert_eq!(lagging.match_index, 0, "nothing reached node 3");

    // A connection with the rogue certificate is refused outright.
    let address = cluster.configs[&1]
        .own_peer()
        .expect("peer")
        .peer_address
        .clone();
    let tls = peer_tls(&rogue_ca.cert_pem(), &rogue, 1);
    let result = dial(&TokioNetwork, &address, Some(&tls), Duration::from_secs(5)).await;
    match result {
        Err(NetError::Connect { .. }) => {}
        Ok(channel) => {
            // The handshake may complete from the client's side before the
            // server rejects the certificate; the first call then fails.
            let mut peer = PeerTransportClient::new(channel);
            let hello = Hello {
                sender: 3,
                cluster_id: "test".into(),
                protocol: "raft".into(),
            };
            assert!(peer.introduce(hello).await.is_err());
        }
        Err(other) => panic!("unexpected error {other}"),
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_claiming_another_id_is_refused_and_bad_messages_get_errors() {
    let cluster = TestCluster::start_all(3, |config| {
        config.transport.message_bytes_max = 2 << 20;
        config.raft.append_bytes_max = 512 << 10;
    })
    .await;
    cluster.leader().await;
    let address = cluster.configs[&1]
        .own_peer()
        .expect("peer")
        .peer_address
        .clone();
    let node3 = cluster.ca.issue_node(3, &[]).expect("a certificate");
    let tls = peer_tls(&cluster.ca.cert_pem(), &node3, 1);
    let channel = dial(&TokioNetwork, &address, Some(&tls), Duration::from_secs(5))
        .await
        .expect("node 3's certificate is accepted");
    let mut peer = PeerTransportClient::new(channel.clone()).max_encoding_message_size(16 << 20);

    // Node 3's certificate claiming to be node 2: refused.
    let hello = |sender| Hello {
        sender,
        cluster_id: "test".into(),
        protocol: "raft".into(),
    };
    let status = peer.introduce(hello(2)).await.expect_err("an impostor");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = peer
        .deliver(envelope(2, vec![heartbeat()]))
        .await
        .expect_err("an impostor");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Another cluster, another protocol, a stranger: refused too.
    let mut other_cluster = envelope(3, vec![heartbeat()]);
    other_cluster.cluster_id = "elsewhere".into();
    let status = peer
        .deliver(other_cluster)
        .await
        .expect_err("another cluster");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let mut other_protocol = envelope(3, vec![heartbeat()]);
    other_protocol.protocol = "pbft".into();
    let status = peer
        .deliver(other_protocol)
        .await
        .expect_err("another protocol");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = peer
        .deliver(envelope(9, vec![heartbeat()]))
        .await
        .expect_err("a stranger");
    assert_eq!(status.code(), Code::PermissionDenied);

    // As itself, node 3 is accepted.
    assert_eq!(
        peer.introduce(hello(3))
            .await
            .expect("node 3")
            .into_inner()
            .node_id,
        1
    );
    let reply = peer
        .deliver(envelope(3, vec![heartbeat()]))
        .await
        .expect("a heartbeat");
    assert_eq!(reply.into_inner().messages, 1);

    // A message that is not protobuf, and one that is but lacks required
    // fields: invalid argument.
    let status = peer
        .deliver(envelope(3, vec![vec![0xff, 0xff, 0xff]]))
        .await
        .expect_err("garbage");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let status = peer
        .deliver(envelope(3, vec![Vec::new()]))
        .await
        .expect_err("no kind");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // An envelope larger than message_bytes_max: refused by the decoder.
    let status = peer
        .deliver(envelope(3, vec![vec![0u8; 3 << 20]]))
        .await
        .expect_err("oversized");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");

    // Bytes that are not even an envelope.
    let mut raw = tonic::client::Grpc::new(channel);
    raw.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/tessera.net.v1.PeerTransport/Deliver",
    );
    let status = raw
        .unary(
            tonic::Request::new(vec![0x0a, 0xff, 0xff, 0xff, 0xff]),
            path,
            RawCodec,
        )
        .await
        .expect_err("not an envelope");
    assert_ne!(status.code(), Code::Ok);

    // After all that, the cluster still commits.
    let client = cluster.client();
    cluster.propose(&client, put("after", "attack")).await;
    cluster
        .handle(1)
        .wait_for(|s| s.commit_index > 0, PATIENCE)
        .await
        .expect("node 1 still works");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_client_certificates_cannot_pass_for_nodes() {
    let cluster = TestCluster::start_all(1, |_| {}).await;
    let address = cluster.configs[&1]
        .own_peer()
        .expect("peer")
        .peer_address
        .clone();
    // Without TLS, nothing gets through.
    let plain = dial(&TokioNetwork, &address, None, Duration::from_secs(5)).await;
    if let Ok(channel) = plain {
        let mut peer = PeerTransportClient::new(channel);
        let hello = Hello {
            sender: 2,
            cluster_id: "test".into(),
            protocol: "raft".into(),
        };
        assert!(peer.introduce(hello).await.is_err());
    }
    // A client certificate from the right CA is not a node's.
    let admin = cluster
        .ca
        .issue_client("admin")
        .expect("a client certificate");
    let tls = peer_tls(&cluster.ca.cert_pem(), &admin, 1);
    let channel = dial(&TokioNetwork, &address, Some(&tls), Duration::from_secs(5))
        .await
        .expect("the CA's certificates are accepted at the handshake");
    let mut peer = PeerTransportClient::new(channel);
    let hello = Hello {
        sender: 1,
        cluster_id: "test".into(),
        protocol: "raft".into(),
    };
    let status = peer
        .introduce(hello)
        .await
        .expect_err("a client is not a node");
    assert_eq!(status.code(), Code::PermissionDenied);
    cluster.shutdown().await;
}

/// Sends and receives raw bytes, to put what no prost type would encode on
/// the wire.
#[derive(Debug, Clone, Copy)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[test]
fn the_envelope_type_is_what_the_raw_test_breaks() {
    // The raw bytes above claim a field-1 string of 2^28 bytes.
    assert!(Envelope::decode(&[0x0a, 0xff, 0xff, 0xff, 0xff][..]).is_err());
}

//! A three-node Raft cluster over real gRPC with mutual TLS on loopback,
//! each node with durable storage (a `DurableLog` and a `SnapshotDir`) in
//! a temporary directory: election, commits, the leader's task killed, a
//! new leader, the old leader restarted from its disk and caught up — by a
//! snapshot, since the log it missed was compacted meanwhile (Raft §7).
//! Then the same with three Multi-Paxos nodes (module `paxos`).

mod support;

use std::time::Duration;

use support::{PATIENCE, TestCluster, local_value, put, read};
use tessera_net::{ClientOutcome, MapQuery, ReadConsistency};
use tessera_storage::Codec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_commit_fail_over_restart_and_catch_up_by_snapshot() {
    let mut cluster = TestCluster::start_all(3, |config| {
        // Compact often, so a node that misses 60 entries must be sent a
        // snapshot.
        config.raft.snapshot_threshold_entries = 20;
        config.raft.snapshot_keep_entries = 5;
    })
    .await;
    let client = cluster.client();

    // Elect, then commit.
    let first = cluster.leader().await;
    for n in 0..10 {
        cluster
            .propose(&client, put(&format!("a{n}"), &format!("{n}")))
            .await;
    }
    assert_eq!(read(&client, "a9").await.as_deref(), Some(&b"9"[..]));
    let committed = cluster.handle(first).status().commit_index;
    for id in 1..=3 {
        cluster
            .handle(id)
            .wait_for(|s| s.applied_index >= committed, PATIENCE)
            .await
            .expect("every node applies what was committed");
    }

    // Kill the leader's task: the other two elect a new leader.
    cluster.kill(first).await;
    let second = cluster.leader().await;
    assert_ne!(second, first);
    assert!(cluster.handle(second).status().term > 0);

    // Commit enough that the new leader compacts past everything the old
    // leader has.
    let mut last = 0;
    for n in 0..60 {
        last = cluster
            .propose(&client, put(&format!("b{n}"), &format!("{n}")))
            .await;
    }
    let leader = cluster.handle(second);
    let base = leader
        .inspect(|node| node.log().base().index)
        .await
        .expect("the leader runs");
    assert!(
        base > committed,
        "the leader compacted its log (base {base}, old commit {committed})"
    );

    // Restart the old leader from its disk: it recovers what it had, then
    // catches up by snapshot.
    cluster.start(first, None).await;
    let restarted = cluster.handle(first);
    restarted
        .wait_for(|s| s.applied_index >= last, PATIENCE)
        .await
        .expect("the restarted node catches up");
    let installed = restarted
        .inspect(|node| node.counters().snapshots_installed)
        .await
        .expect("the node runs");
    assert!(installed >= 1, "caught up by snapshot");
    assert_eq!(
        local_value(&restarted, "a3").await.as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(
        local_value(&restarted, "b59").await.as_deref(),
        Some(&b"59"[..])
    );

    // It serves a stale read within a bound once it hears from the leader.
    let mut query = Vec::new();
    MapQuery {
        key: b"b10".to_vec(),
    }
    .encode(&mut query);
    let outcome = restarted
        .read(
            &query,
            ReadConsistency::Stale {
                max_staleness: Duration::from_secs(5),
            },
        )
        .await
        .expect("a stale read");
    assert!(
        matches!(outcome, ClientOutcome::Read { path: "stale", .. }),
        "{outcome:?}"
    );

    // And everything committed is still there, read linearizably.
    assert_eq!(read(&client, "a0").await.as_deref(), Some(&b"0"[..]));
    assert_eq!(read(&client, "b59").await.as_deref(), Some(&b"59"[..]));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_redirects_clients_to_the_leader() {
    let cluster = TestCluster::start_all(3, |_| {}).await;
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|&id| id != leader).expect("a follower");
    let outcome = cluster
        .handle(follower)
        .propose(&put("k", "v"))
        .await
        .expect("the follower answers");
    assert_eq!(
        outcome,
        ClientOutcome::NotLeader {
            leader: Some(leader)
        }
    );

    // Through the client port, the redirect carries the leader's address,
    // which the cluster client follows.
    let address = cluster.configs[&follower]
        .own_peer()
        .expect("peer")
        .client_address
        .clone();
    let client = tessera_net::ClusterClient::new(vec![address.clone()], Some(cluster.client_tls()));
    let outcome = client.propose(put("k", "v")).await.expect("a proposal");
    let ClientOutcome::Applied { index, .. } = outcome else {
        panic!("not applied: {outcome:?}");
    };

    // The Status RPC reports the evidence each node holds: the leader a
    // lease with time left and a commit certificate from a quorum, the
    // follower neither (and no node a closed timestamp: Raft keeps none).
    let leader_address = cluster.configs[&leader]
        .own_peer()
        .expect("peer")
        .client_address
        .clone();
    let status = client.status(&leader_address).await.expect("leader status");
    assert_eq!(status.leader_id, Some(leader));
    assert!(
        status.lease_remaining_ms.is_some_and(|left| left > 0),
        "{status:?}"
    );
    let certificate = status.commit_certificate.expect("a commit certificate");
    assert!(certificate.index >= index, "{certificate:?}");
    assert_eq!(certificate.term, status.term);
    // A quorum of members; not necessarily with the leader in it: the
    // followers' acknowledgements may reach a quorum before the leader's
    // own write is durable.
    assert!(certificate.voters.len() >= 2, "{certificate:?}");
    assert!(
        certificate
            .voters
            .iter()
            .all(|voter| (1..=3).contains(voter)),
        "{certificate:?}"
    );
    assert!(status.closed_timestamp_ns.is_none());
    for kind in ["TermVote", "CommitCertificate", "Lease"] {
        assert!(
            status.evidence.iter().any(|line| line.starts_with(kind)),
            "{kind} missing: {:?}",
            status.evidence
        );
    }
    let status = client.status(&address).await.expect("follower status");
    assert_eq!(status.node_id, follower);
    assert_eq!(status.lease_remaining_ms, None, "{status:?}");
    assert_eq!(status.commit_certificate, None, "{status:?}");
    assert!(
        status
            .evidence
            .iter()
            .any(|line| line.starts_with("TermVote")),
        "{:?}",
        status.evidence
    );
    assert!(
        !status.evidence.iter().any(|line| line.starts_with("Lease")),
        "{:?}",
        status.evidence
    );
    cluster.shutdown().await;
}

/// Concurrent proposals through one client travel in `ProposeBatch`
/// calls, each answered on its own: through a redirect (the client knows
/// only a follower), across a leader change (the leader killed while
/// batches are in flight: nothing is acknowledged that the new leader does
/// not hold), and with malformed commands among them. A malformed batch
/// is refused with an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_proposals_are_each_answered_through_redirects_and_a_leader_change() {
    use std::sync::Arc;
    use tessera_net::proto::transport::{ProposeBatchRequest, batch_outcome, client_reply};
    use tessera_net::{NetError, PROPOSE_BATCH_COMMANDS_MAX};

    const CALLERS: usize = 48;
    let mut cluster = TestCluster::start_all(3, |_| {}).await;
    let leader = cluster.leader().await;
    let address_of = |id| {
        cluster.configs[&id]
            .own_peer()
            .expect("peer")
            .client_address
            .clone()
    };

    // Through a follower: every batch is redirected, and each caller
    // follows the redirect to an Applied outcome of its own.
    let follower = (1..=3).find(|&id| id != leader).expect("a follower");
    let client = Arc::new(
        tessera_net::ClusterClient::new(vec![address_of(follower)], Some(cluster.client_tls()))
            .with_timeout(Duration::from_secs(10)),
    );
    let wave = |client: &Arc<tessera_net::ClusterClient>, prefix: &'static str| {
        (0..CALLERS)
            .map(|n| {
                let client = Arc::clone(client);
                let command = if prefix == "bad" && n % 4 == 0 {
                    vec![0xff; 9] // not a map command
                } else {
                    put(&format!("{prefix}{n}"), &format!("{n}"))
                };
                tokio::spawn(async move { client.propose(command).await })
            })
            .collect::<Vec<_>>()
    };
    // Callers that give up midway (their futures dropped while the call
    // is out, sent from their own task or carried by a sending task)
    // leave the client working: later proposals, one at a time and
    // concurrent, are still sent and answered.
    let warm = client.propose(put("warm", "x")).await.expect("a proposal");
    assert!(matches!(warm, ClientOutcome::Applied { .. }), "{warm:?}");
    let mut gave_up_count = 0;
    for n in 0..4 {
        let call = client.propose(put(&format!("abandoned{n}"), "x"));
        tokio::pin!(call);
        // Polled until the call is out, then dropped.
        tokio::select! {
            biased;
            outcome = &mut call => {
                assert!(matches!(outcome, Ok(ClientOutcome::Applied { .. })), "{outcome:?}");
            }
            () = tokio::task::yield_now() => gave_up_count += 1,
        }
    }
    assert!(
        gave_up_count >= 2,
        "only {gave_up_count} callers gave up midway"
    );
    // One at a time, each proposal is a call of its own.
    let before = client.proposal_calls();
    for n in 0..3 {
        let outcome = client
            .propose(put(&format!("lone{n}"), "x"))
            .await
            .expect("a lone proposal");
        assert!(
            matches!(outcome, ClientOutcome::Applied { .. }),
            "{outcome:?}"
        );
    }
    assert!(client.proposal_calls() >= before + 3);
    let mut indexes = std::collections::BTreeSet::new();
    for (n, task) in wave(&client, "r").into_iter().enumerate() {
        match task.await.expect("the caller runs") {
            Ok(ClientOutcome::Applied { index, .. }) => {
                assert!(indexes.insert(index), "index {index} answered twice");
            }
            other => panic!("caller {n}: {other:?}"),
        }
    }
    let calls = client.proposal_calls();
    assert!(
        calls < CALLERS as u64,
        "{CALLERS} concurrent proposals took {calls} calls"
    );
    for n in [0, CALLERS / 2, CALLERS - 1] {
        let expected = n.to_string();
        assert_eq!(
            read(&client, &format!("r{n}")).await.as_deref(),
            Some(expected.as_bytes())
        );
    }

    // Malformed commands among good ones: each malformed one is refused
    // as invalid, each good one applied.
    for (n, task) in wave(&client, "bad").into_iter().enumerate() {
        let result = task.await.expect("the caller runs");
        if n % 4 == 0 {
            let Err(NetError::Rpc { status, .. }) = &result else {
                panic!("caller {n}: {result:?}");
            };
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        } else {
            assert!(
                matches!(result, Ok(ClientOutcome::Applied { .. })),
                "caller {n}: {result:?}"
            );
        }
    }

    // A malformed batch is refused; a batch with a malformed command
    // refuses that command alone.
    let channel = tessera_net::dial(
        &tessera_net::TokioNetwork,
        &address_of(leader),
        Some(&cluster.client_tls()),
        Duration::from_secs(10),
    )
    .await
    .expect("a connection to the leader");
    let mut raw = tessera_net::proto::transport::client_client::ClientClient::new(channel);
    for commands in [
        Vec::new(),
        vec![put("x", "y"); PROPOSE_BATCH_COMMANDS_MAX + 1],
    ] {
        let status = raw
            .propose_batch(ProposeBatchRequest { commands })
            .await
            .expect_err("a malformed batch is refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
    let reply = raw
        .propose_batch(ProposeBatchRequest {
            commands: vec![put("m0", "0"), b"garbage".to_vec(), put("m2", "2")],
        })
        .await
        .expect("a batch is answered")
        .into_inner();
    assert_eq!(reply.outcomes.len(), 3);
    for (n, outcome) in reply.outcomes.iter().enumerate() {
        let applied = matches!(
            &outcome.result,
            Some(batch_outcome::Result::Reply(reply))
                if matches!(reply.outcome, Some(client_reply::Outcome::Applied(_)))
        );
        let invalid = matches!(
            &outcome.result,
            Some(batch_outcome::Result::InvalidArgument(_))
        );
        assert!(if n == 1 { invalid } else { applied }, "{n}: {outcome:?}");
    }

    // The leader killed while batches are in flight: each caller learns an
    // outcome or an error, and every one acknowledged as applied is held
    // by the new leader.
    let client = Arc::new(cluster.client());
    let tasks = wave(&client, "f");
    tokio::time::sleep(Duration::from_millis(2)).await;
    cluster.kill(leader).await;
    let mut acknowledged = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        match task.await.expect("the caller runs") {
            Ok(ClientOutcome::Applied { .. }) => acknowledged.push(n),
            Ok(ClientOutcome::NotLeader { .. } | ClientOutcome::Indeterminate { .. })
            | Err(NetError::Rpc { .. } | NetError::Connect { .. }) => {}
            other => panic!("caller {n}: {other:?}"),
        }
    }
    let second = cluster.leader().await;
    assert_ne!(second, leader);
    let committed = cluster.handle(second).status().commit_index;
    cluster
        .handle(second)
        .wait_for(|s| s.applied_index >= committed, PATIENCE)
        .await
        .expect("the new leader applies what it committed");
    for &n in &acknowledged {
        let expected = n.to_string();
        assert_eq!(
            local_value(&cluster.handle(second), &format!("f{n}"))
                .await
                .as_deref(),
            Some(expected.as_bytes()),
            "f{n} was acknowledged"
        );
    }
    // And the next wave goes to the new leader, every caller applied.
    for (n, task) in wave(&client, "g").into_iter().enumerate() {
        let result = task.await.expect("the caller runs");
        assert!(
            matches!(result, Ok(ClientOutcome::Applied { .. })),
            "caller {n}: {result:?}"
        );
    }
    cluster.shutdown().await;
}

mod paxos {
    use super::support;
    // A three-node Multi-Paxos cluster over real gRPC with mutual TLS on
    // loopback, each node with durable storage (a `DurableLog` and a
    // `SnapshotDir`) in a temporary directory: election (phase one), commits,
    // the leader's task killed, a new leader after the granted leases lapse,
    // the old leader restarted from its disk and caught up — by a snapshot,
    // since the log it missed was compacted meanwhile.

    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use support::{PATIENCE, TestCluster, put, read};
    use tessera_core::NodeId;
    use tessera_net::{
        ClientOutcome, Listeners, MapQuery, NodeHandle, PaxosAdapter, ReadConsistency,
        ReplicatedMap, RunningNode, RuntimeClock, TokioNetwork, paxos_setup, start_node_with,
    };
    use tessera_storage::{Codec, StdFs};

    type Adapter = PaxosAdapter<ReplicatedMap>;

    struct PaxosCluster {
        cluster: TestCluster,
        nodes: BTreeMap<NodeId, RunningNode<Adapter>>,
    }

    impl PaxosCluster {
        async fn start_all(tune: impl Fn(&mut tessera_net::NodeConfig)) -> Self {
            let (cluster, listeners) = TestCluster::new(3, tune).await;
            let mut this = PaxosCluster {
                cluster,
                nodes: BTreeMap::new(),
            };
            for (id, listeners) in listeners {
                this.start(id, Some(listeners)).await;
            }
            this
        }

        async fn start(&mut self, id: NodeId, listeners: Option<Listeners<TokioNetwork>>) {
            let config = self.cluster.configs[&id].clone();
            let listeners = match listeners {
                Some(listeners) => listeners,
                None => {
                    // The killed node's ports may take a moment to be free.
                    let mut attempt = 0;
                    loop {
                        match Listeners::bind(
                            &TokioNetwork,
                            &config.listen_peer,
                            &config.listen_client,
                        )
                        .await
                        {
                            Ok(listeners) => break listeners,
                            Err(error) if attempt < 40 => {
                                attempt += 1;
                                let _ = error;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            Err(error) => panic!("the node's own ports again: {error}"),
                        }
                    }
                }
            };
            let setup = paxos_setup(
                &config,
                ReplicatedMap::default(),
                Arc::new(StdFs),
                RuntimeClock::new(),
            )
            .expect("the node's storage");
            let node = start_node_with(&config, setup, TokioNetwork, listeners)
                .await
                .expect("the node starts");
            self.nodes.insert(id, node);
        }

        fn handle(&self, id: NodeId) -> NodeHandle<Adapter> {
            self.nodes[&id].handle().clone()
        }

        /// Waits until one running node leads in a Target mode and every other
        /// running node follows it; returns the leader.
        async fn leader(&self) -> NodeId {
            support::stable_leader(|| self.nodes.values().map(|n| n.handle().status()).collect())
                .await
        }

        async fn kill(&mut self, id: NodeId) {
            let node = self.nodes.remove(&id).expect("a running node");
            node.kill().await;
        }

        async fn shutdown(mut self) {
            for (_, node) in std::mem::take(&mut self.nodes) {
                node.shutdown().await.expect("a clean shutdown");
            }
        }
    }

    async fn local_value(handle: &NodeHandle<Adapter>, key: &str) -> Option<Vec<u8>> {
        let key = key.as_bytes().to_vec();
        handle
            .inspect(move |node| node.state_machine().get(&key).map(<[u8]>::to_vec))
            .await
            .expect("the node runs")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multi_paxos_elects_commits_fails_over_restarts_and_catches_up_by_snapshot() {
        let mut cluster = PaxosCluster::start_all(|config| {
            // Compact often, so a node that misses 60 slots must be sent a
            // snapshot.
            config.paxos.snapshot_interval = 20;
        })
        .await;
        let client = cluster.cluster.client();

        // Elect, then commit.
        let first = cluster.leader().await;
        for n in 0..10 {
            cluster
                .cluster
                .propose(&client, put(&format!("a{n}"), &format!("{n}")))
                .await;
        }
        assert_eq!(read(&client, "a9").await.as_deref(), Some(&b"9"[..]));
        let committed = cluster.handle(first).status().commit_index;
        for id in 1..=3 {
            cluster
                .handle(id)
                .wait_for(|s| s.applied_index >= committed, PATIENCE)
                .await
                .expect("every node applies what was committed");
        }
        // The leader reports each acceptor's replication: both caught up.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let followers = cluster
                .handle(first)
                .followers()
                .await
                .expect("the leader runs");
            assert_eq!(followers.len(), 2, "{followers:?}");
            if followers.iter().all(|f| f.lag == 0 && f.match_index > 0) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{followers:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // The leader's Status: its lease with time left, the certificate of
        // the last slot it chose, its promise; a follower's: no lease of its
        // own, the lease it granted.
        let address = |id: NodeId| {
            cluster.cluster.configs[&id]
                .own_peer()
                .expect("peer")
                .client_address
                .clone()
        };
        let status = client.status(&address(first)).await.expect("leader status");
        assert_eq!(status.leader_id, Some(first));
        assert!(status.term >= 1, "{status:?}");
        assert!(
            status.lease_remaining_ms.is_some_and(|left| left > 0),
            "{status:?}"
        );
        let certificate = status.commit_certificate.expect("a commit certificate");
        assert_eq!(certificate.term, status.term, "{certificate:?}");
        assert!(certificate.voters.len() >= 2, "{certificate:?}");
        // The promise, the promise certificate (slot 0: phase one covers
        // every slot) and the last commit certificate (both quorum
        // certificates), the lease.
        let count = |kind: &str| {
            status
                .evidence
                .iter()
                .filter(|line| line.starts_with(kind))
                .count()
        };
        assert_eq!(count("Promise"), 1, "{:?}", status.evidence);
        assert_eq!(count("QuorumCertificate"), 2, "{:?}", status.evidence);
        assert_eq!(count("Lease"), 1, "{:?}", status.evidence);
        assert!(status.closed_timestamp_ns.is_none());
        let follower = (1..=3).find(|&id| id != first).expect("a follower");
        let status = client
            .status(&address(follower))
            .await
            .expect("follower status");
        assert_eq!(status.leader_id, Some(first));
        assert_eq!(status.lease_remaining_ms, None, "{status:?}");
        assert_eq!(status.commit_certificate, None, "{status:?}");
        assert!(
            status.evidence.iter().any(|line| line.starts_with("Lease")),
            "the lease it granted: {:?}",
            status.evidence
        );

        // Kill the leader's task: once the leases they granted lapse, the
        // other two run phase one and one of them leads.
        cluster.kill(first).await;
        let second = cluster.leader().await;
        assert_ne!(second, first);

        // Commit enough that every node compacts past everything the old
        // leader has.
        let mut last = 0;
        for n in 0..60 {
            last = cluster
                .cluster
                .propose(&client, put(&format!("b{n}"), &format!("{n}")))
                .await;
        }
        let base = cluster
            .handle(second)
            .inspect(|node| node.snapshot_index())
            .await
            .expect("the leader runs");
        assert!(
            base > committed,
            "the leader compacted its log (base {base}, old commit {committed})"
        );

        // Restart the old leader from its disk: it recovers what it had, then
        // catches up by snapshot.
        cluster.start(first, None).await;
        let restarted = cluster.handle(first);
        restarted
            .wait_for(|s| s.applied_index >= last, PATIENCE)
            .await
            .expect("the restarted node catches up");
        let installed = restarted
            .inspect(|node| node.counters().snapshots_installed)
            .await
            .expect("the node runs");
        assert!(installed >= 1, "caught up by snapshot");
        assert_eq!(
            local_value(&restarted, "a3").await.as_deref(),
            Some(&b"3"[..])
        );
        assert_eq!(
            local_value(&restarted, "b59").await.as_deref(),
            Some(&b"59"[..])
        );

        // It serves a stale read within a bound once it hears from the leader.
        let mut query = Vec::new();
        MapQuery {
            key: b"b10".to_vec(),
        }
        .encode(&mut query);
        let outcome = restarted
            .read(
                &query,
                ReadConsistency::Stale {
                    max_staleness: Duration::from_secs(5),
                },
            )
            .await
            .expect("a stale read");
        assert!(
            matches!(outcome, ClientOutcome::Read { path: "stale", .. }),
            "{outcome:?}"
        );

        // And everything committed is still there, read linearizably.
        assert_eq!(read(&client, "a0").await.as_deref(), Some(&b"0"[..]));
        assert_eq!(read(&client, "b59").await.as_deref(), Some(&b"59"[..]));
        cluster.shutdown().await;
    }
}

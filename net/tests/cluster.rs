//! A three-node Raft cluster over real gRPC with mutual TLS on loopback,
//! each node with durable storage (a `DurableLog` and a `SnapshotDir`) in
//! a temporary directory: election, commits, the leader's task killed, a
//! new leader, the old leader restarted from its disk and caught up — by a
//! snapshot, since the log it missed was compacted meanwhile (Raft §7).
//! Then the same with three Multi-Paxos nodes (module `paxos`), and with
//! four PBFT nodes (module `pbft`).

mod support;

use std::time::Duration;

use support::{PATIENCE, TestCluster, local_value, put, read};
use tessera_net::ClientOutcome;

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
    support::assert_caught_up_by_snapshot(&cluster.handle(first), &client, last, |node| {
        node.counters().snapshots_installed
    })
    .await;
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

    use std::sync::Arc;
    use std::time::Duration;

    use support::{PATIENCE, TestCluster, put, read};
    use tessera_core::NodeId;
    use tessera_net::{
        MapCommand, NodeConfig, NodeSetup, PaxosAdapter, PaxosStore, ReplicatedMap, RuntimeClock,
        paxos_setup,
    };
    use tessera_storage::StdFs;

    type Adapter = PaxosAdapter<ReplicatedMap>;
    type PaxosCluster = support::ProtocolCluster<Adapter, PaxosStore<MapCommand>>;

    fn boot(config: &NodeConfig) -> NodeSetup<Adapter, PaxosStore<MapCommand>> {
        paxos_setup(
            config,
            ReplicatedMap::default(),
            Arc::new(StdFs),
            RuntimeClock::new(),
        )
        .expect("the node's storage")
    }

    async fn start_all(tune: impl Fn(&mut NodeConfig)) -> PaxosCluster {
        let (cluster, listeners) = TestCluster::new(3, tune).await;
        PaxosCluster::start_all(cluster, listeners, boot).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multi_paxos_elects_commits_fails_over_restarts_and_catches_up_by_snapshot() {
        let mut cluster = start_all(|config| {
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
        support::assert_caught_up_by_snapshot(&cluster.handle(first), &client, last, |node| {
            node.counters().snapshots_installed
        })
        .await;
        cluster.shutdown().await;
    }
}

mod pbft {
    use super::support;
    // A four-node PBFT cluster (f = 1) over real gRPC with mutual TLS on
    // loopback, each node with durable storage in a temporary directory and
    // its own key file: writes through one node's client port (the node is
    // the client's gateway), linearizable reads, the primary's task killed
    // and a view change, the old primary restarted from its disk and caught
    // up by a state transfer, its log having been discarded below the
    // stable checkpoints.

    use std::sync::Arc;
    use std::time::Duration;

    use support::{PATIENCE, TestCluster, local_value, put, read};
    use tessera_net::{
        ClientOutcome, ClusterClient, MapQuery, NodeConfig, NodeSetup, PbftAdapter, PbftStore,
        ReadConsistency, ReplicatedMap, RuntimeClock, pbft_keys_file_name, pbft_setup,
        write_pbft_keys,
    };
    use tessera_storage::{Codec, StdFs};

    type Adapter = PbftAdapter<ReplicatedMap>;
    type PbftCluster = support::ProtocolCluster<Adapter, PbftStore>;

    fn boot(config: &NodeConfig) -> NodeSetup<Adapter, PbftStore> {
        pbft_setup(
            config,
            ReplicatedMap::default(),
            Arc::new(StdFs),
            RuntimeClock::new(),
        )
        .expect("the node's keys and storage")
    }

    /// Four nodes, each with its own key file.
    async fn start_all() -> PbftCluster {
        let (mut cluster, listeners) = TestCluster::new(4, |config| {
            config.pbft.checkpoint_interval = 8;
            config.pbft.view_change_timeout_ms = 300;
            config.pbft.view_change_timeout_max_ms = 2_000;
            config.pbft.status_interval_ms = 50;
            config.pbft.gateway_clients = 4;
            config.pbft.gateway_timeout_ms = 20_000;
        })
        .await;
        let keys = cluster.dir.path().join("pbft-keys");
        write_pbft_keys(&keys, &[1, 2, 3, 4], 4).expect("PBFT keys");
        for (id, config) in &mut cluster.configs {
            config.pbft.keys = Some(keys.join(pbft_keys_file_name(*id)));
        }
        PbftCluster::start_all(cluster, listeners, boot).await
    }

    /// Proposes until applied: a node answers "outcome unknown" only past
    /// its gateway timeout, which a view change stays well within.
    async fn propose(client: &ClusterClient, command: Vec<u8>) -> u64 {
        match client.propose(command).await {
            Ok(ClientOutcome::Applied { index, .. }) => index,
            other => panic!("proposal failed: {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pbft_commits_through_one_node_changes_view_restarts_and_catches_up() {
        let mut cluster = start_all().await;
        // Every node is a gateway: writes through node 2, reads through 3.
        let writer = cluster.client_of(2);
        let reader = cluster.client_of(3);
        let mut last = 0;
        for n in 0..10 {
            let index = propose(&writer, put(&format!("a{n}"), &format!("{n}"))).await;
            assert!(
                index > last,
                "sequence numbers increase: {index} after {last}"
            );
            last = index;
        }
        assert_eq!(read(&reader, "a9").await.as_deref(), Some(&b"9"[..]));
        let mut query = Vec::new();
        MapQuery {
            key: b"a3".to_vec(),
        }
        .encode(&mut query);
        // Ordered after the writes (asked of node 3's handle: the path as
        // the node gives it).
        match cluster
            .handle(3)
            .read(&query, ReadConsistency::Linearizable)
            .await
            .expect("a read")
        {
            ClientOutcome::Read {
                path,
                index,
                output,
                ..
            } => {
                assert_eq!(path, "ordered");
                assert!(index > last, "ordered after the writes: {index}");
                assert_eq!(
                    tessera_net::MapValue::decode(&output).expect("a value").0,
                    Some(b"3".to_vec())
                );
            }
            other => panic!("{other:?}"),
        }
        // The same path through the client port.
        match reader
            .read(query.clone(), ReadConsistency::Linearizable)
            .await
            .expect("a read")
        {
            ClientOutcome::Read { path, .. } => assert_eq!(path, "ordered"),
            other => panic!("{other:?}"),
        }
        for id in 1..=4 {
            cluster
                .handle(id)
                .wait_for(|s| s.applied_index >= last, PATIENCE)
                .await
                .expect("every replica executes what committed");
        }
        // View 0: replica 1 is the primary, as every node reports.
        let primary = cluster.handle(2).status().leader.expect("a primary");
        assert_eq!(primary, 1);
        let status = writer
            .status(
                &cluster.cluster.configs[&2]
                    .own_peer()
                    .expect("peer")
                    .client_address,
            )
            .await
            .expect("status");
        assert_eq!((status.term, status.leader_id), (0, Some(1)));
        assert!(
            status
                .evidence
                .iter()
                .any(|line| line.contains("Certificate")),
            "{:?}",
            status.evidence
        );
        // A stale read at node 3 answers from its own state.
        match reader
            .read(
                query,
                ReadConsistency::Stale {
                    max_staleness: Duration::from_secs(60),
                },
            )
            .await
            .expect("a stale read")
        {
            ClientOutcome::Read { path, .. } => assert_eq!(path, "stale"),
            other => panic!("{other:?}"),
        }

        // Kill the primary: the others change view and writes still commit
        // through node 3.
        let low_before = cluster
            .handle(primary)
            .inspect(|node| node.replica().last_executed())
            .await
            .expect("the primary runs");
        cluster.kill(primary).await;
        for n in 0..30 {
            last = propose(&reader, put(&format!("b{n}"), &format!("{n}"))).await;
        }
        let view = cluster.handle(3).status().term;
        assert!(view >= 1, "a view change happened");
        let stable = cluster
            .handle(3)
            .inspect(|node| node.replica().low_watermark())
            .await
            .expect("node 3 runs");
        assert!(
            stable > low_before,
            "a stable checkpoint {stable} above what the old primary executed ({low_before})"
        );

        // Restart the old primary from its disk: it catches up by a state
        // transfer (what it missed below the stable checkpoint is gone).
        cluster.start(primary, None).await;
        let restarted = cluster.handle(primary);
        restarted
            .wait_for(|s| s.applied_index >= last && s.term == view, PATIENCE)
            .await
            .expect("the restarted replica catches up");
        assert_eq!(
            local_value(&restarted, "b29").await.as_deref(),
            Some(&b"29"[..])
        );
        assert_eq!(
            local_value(&restarted, "a0").await.as_deref(),
            Some(&b"0"[..])
        );
        let executed_here = restarted
            .inspect(|node| node.replica().executions_total())
            .await
            .expect("runs");
        assert!(
            executed_here < last - low_before,
            "caught up by state transfer, not by executing all {} batches",
            last - low_before
        );
        // And it serves as a gateway again.
        let again = cluster.client_of(primary);
        assert!(propose(&again, put("c", "after")).await > last);
        cluster.shutdown().await;
    }

    #[test]
    fn malformed_and_oversized_pbft_bytes_are_errors() {
        use tessera_net::WireCodec;
        let mut config = tessera_pbft::PbftConfig::new([1, 2, 3, 4]).expect("four replicas");
        config.message_bytes_max = 1024;
        let adapter = Adapter::new(config);
        for bytes in [&b""[..], b"\x00", b"\xff\xff\xff\xff", &[7u8; 300][..]] {
            assert!(adapter.decode(bytes).is_err(), "{bytes:?}");
        }
        let error = adapter.decode(&[0u8; 2048]).expect_err("oversized");
        assert!(error.to_string().contains("exceeds"), "{error}");
    }
}

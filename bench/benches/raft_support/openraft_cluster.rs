//! The openraft side, as in openraft's `benchmarks/minimal`: three `Raft`
//! instances in one process on tokio, an in-memory log (a `BTreeMap`), a
//! state machine that only records what it applied, and a "network" that
//! calls the target node's handler directly. Written for this benchmark
//! against openraft 0.10.0-alpha.37's API.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant as WallInstant};

use openraft::alias::{EntryOf, LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::errors::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::storage::{
    EntryResponder, IOFlushed, LogState, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::{
    Config, OptionalSend, Raft, RaftLogReader, RaftNetworkFactory, RaftNetworkV2, StoredMembership,
};

/// An empty client request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Request;

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request")
    }
}

/// An empty answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reply;

openraft::declare_raft_types!(
    /// The benchmark's type configuration.
    pub(crate) Bench:
        D = Request,
        R = Reply,
        Node = (),
);

type C = Bench;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct LogInner {
    vote: Option<VoteOf<C>>,
    log: BTreeMap<u64, EntryOf<C>>,
    purged: Option<LogIdOf<C>>,
    committed: Option<LogIdOf<C>>,
}

/// The in-memory log store.
#[derive(Clone, Default)]
pub(crate) struct MemLog(Arc<Mutex<LogInner>>);

impl RaftLogReader<C> for MemLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<C>>, io::Error> {
        let inner = lock(&self.0);
        Ok(inner.log.range(range).map(|(_, e)| e.clone()).collect())
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        Ok(lock(&self.0).vote)
    }
}

impl RaftLogStorage<C> for MemLog {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let inner = lock(&self.0);
        let last = inner
            .log
            .values()
            .next_back()
            .map(|e| e.log_id())
            .or(inner.purged);
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        lock(&self.0).vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        lock(&self.0).committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        Ok(lock(&self.0).committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        {
            let mut inner = lock(&self.0);
            for entry in entries {
                inner.log.insert(entry.index(), entry);
            }
        }
        callback.io_completed(Ok(()));
        Ok(())
    }

    async fn truncate_after(&mut self, last: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let start = last.map_or(0, |l| l.index() + 1);
        lock(&self.0).log.split_off(&start);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        let mut inner = lock(&self.0);
        inner.purged = Some(log_id);
        let kept = inner.log.split_off(&(log_id.index() + 1));
        inner.log = kept;
        Ok(())
    }
}

#[derive(Default)]
struct SmInner {
    applied: Option<LogIdOf<C>>,
    membership: StoredMembershipOf<C>,
}

/// The no-op state machine.
#[derive(Clone, Default)]
pub(crate) struct NoopSm(Arc<Mutex<SmInner>>);

impl RaftSnapshotBuilder<C> for NoopSm {
    type SnapshotData = ();

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<C, ()>, io::Error> {
        let inner = lock(&self.0);
        Ok(openraft::storage::Snapshot {
            meta: openraft::storage::SnapshotMeta {
                last_log_id: inner.applied,
                last_membership: inner.membership.clone(),
            },
            snapshot: (),
        })
    }
}

impl RaftStateMachine<C> for NoopSm {
    type SnapshotData = ();
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>), io::Error> {
        let inner = lock(&self.0);
        Ok((inner.applied, inner.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures_util::Stream<Item = Result<EntryResponder<C>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        use futures_util::StreamExt;
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            {
                let mut inner = lock(&self.0);
                inner.applied = Some(entry.log_id());
                if let Some(membership) = entry.get_membership() {
                    inner.membership = StoredMembership::new(Some(entry.log_id()), membership);
                }
            }
            if let Some(responder) = responder {
                responder.send(Reply);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<C>,
        _snapshot: (),
    ) -> Result<(), io::Error> {
        let mut inner = lock(&self.0);
        inner.applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<C, ()>>, io::Error> {
        Ok(None)
    }
}

type BenchRaft = Raft<C, NoopSm>;

/// Hands every RPC to the target node's handler.
#[derive(Clone, Default)]
pub(crate) struct Router(Arc<Mutex<BTreeMap<u64, BenchRaft>>>);

/// A "connection" to one node.
pub(crate) struct Link {
    target: BenchRaft,
}

impl RaftNetworkFactory<C> for Router {
    type Network = Link;

    async fn new_client(&mut self, target: u64, _node: &()) -> Link {
        let target = lock(&self.0)
            .get(&target)
            .cloned()
            .expect("every node is registered before the cluster starts");
        Link { target }
    }
}

impl RaftNetworkV2<C> for Link {
    type SnapshotData = ();

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        self.target
            .append_entries(rpc)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<C>,
        _option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.target
            .vote(rpc)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<C>,
        snapshot: SnapshotOf<C, ()>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        self.target
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))
    }
}

/// Runs `clients` closed-loop clients for `duration`; returns the entries
/// committed, the time taken and each operation's latency in nanoseconds.
pub(crate) fn run(clients: usize, duration: Duration) -> (u64, Duration, Vec<u64>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let config = Config {
            election_timeout_min: 200,
            election_timeout_max: 2000,
            purge_batch_size: 1024,
            max_payload_entries: 1024,
            ..Default::default()
        };
        let config = Arc::new(config.validate().expect("a valid configuration"));
        let router = Router::default();
        for id in 0..3u64 {
            let raft = Raft::new(
                id,
                config.clone(),
                router.clone(),
                MemLog::default(),
                NoopSm::default(),
            )
            .await
            .expect("a node");
            lock(&router.0).insert(id, raft);
        }
        let leader = lock(&router.0).get(&0).cloned().expect("node 0");
        let members: BTreeMap<u64, ()> = (0..3).map(|id| (id, ())).collect();
        leader
            .initialize(members)
            .await
            .expect("the cluster initializes");
        leader
            .wait(Some(Duration::from_secs(10)))
            .applied_index(Some(1), "initial membership")
            .await
            .expect("node 0 leads");
        let start = WallInstant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let leader = leader.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(1 << 16);
                    while start.elapsed() < duration {
                        let began = WallInstant::now();
                        leader.client_write(Request).await.expect("a write");
                        latencies.push(began.elapsed().as_nanos() as u64);
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.expect("a client task"));
        }
        let elapsed = start.elapsed();
        let nodes: Vec<BenchRaft> = lock(&router.0).values().cloned().collect();
        for node in nodes {
            let _ = node.shutdown().await;
        }
        (latencies.len() as u64, elapsed, latencies)
    })
}

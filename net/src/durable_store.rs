//! Persistence: the [`DurableStore`] trait mapping a protocol's writes onto
//! stable storage, and the disk thread that performs them off the async
//! executor and reports when they are durable.

use std::sync::Arc;
use std::thread;

use tessera_core::{NodeId, PersistId};
use tessera_storage::{DurableTicket, StorageError};
use tokio::sync::{mpsc, oneshot, watch};

/// Where a protocol's [`Action::Persist`](tessera_core::Action::Persist)
/// writes go: one small adapter per protocol.
///
/// The runtime calls [`write`](Self::write) for each write in the order the
/// node emitted them, then [`durable_ticket`](Self::durable_ticket), and
/// reports [`Input::Persisted`](tessera_core::Input::Persisted) up to the
/// last of them only once that ticket completes — after the `fdatasync`
/// covering them returned. Both run on the node's own disk thread, never
/// on the async executor, so they may block (writing a snapshot file,
/// waiting for a full queue).
///
/// Raft's adapter is [`RaftStore`](crate::RaftStore) (a `DurableLog` and a
/// `SnapshotDir`); tessera-raft's in-memory `RaftDisk` also implements it,
/// for tests that need no disk.
pub trait DurableStore<W>: Send + 'static {
    /// Performs `write` after every earlier one.
    ///
    /// # Errors
    ///
    /// The storage's error; the runtime then stops the node, as a crash
    /// would (what is on disk is whatever a crash would have left).
    fn write(&mut self, write: W) -> Result<(), StorageError>;

    /// A ticket that completes once every write performed so far is
    /// durable.
    fn durable_ticket(&mut self) -> DurableTicket;
}

impl<C: Clone + Send + 'static> DurableStore<tessera_raft::RaftWrite<C>>
    for tessera_raft::RaftDisk<C>
{
    /// The in-memory disk: durable as soon as written (it is the
    /// simulator's model of a disk; nothing survives the process).
    fn write(&mut self, write: tessera_raft::RaftWrite<C>) -> Result<(), StorageError> {
        tessera_raft::RaftDisk::write(self, write)
    }

    fn durable_ticket(&mut self) -> DurableTicket {
        DurableTicket::ready()
    }
}

/// How far writes are durable, as the disk thread reports it.
#[derive(Debug, Clone, Default)]
pub(crate) struct DiskProgress {
    /// Every write up to this one is durable.
    pub(crate) durable: PersistId,
    /// A write or sync failed: nothing after `durable` ever will be.
    pub(crate) failure: Option<Arc<str>>,
}

/// A batch of writes, in order.
pub(crate) type WriteBatch<W> = Vec<(PersistId, W)>;

/// At most this many write batches wait for the disk thread; the node
/// waits for room beyond it (the disk is the bottleneck then, and the node
/// could not make progress faster anyway).
pub const WRITE_BATCHES_QUEUED_MAX: usize = 64;

/// The node's end of its disk thread.
pub(crate) struct DiskThread<W> {
    pub(crate) writes: mpsc::Sender<WriteBatch<W>>,
    pub(crate) progress: watch::Receiver<DiskProgress>,
    /// Completes once the thread has exited and the store is closed (its
    /// files released).
    pub(crate) exited: oneshot::Receiver<()>,
}

/// Starts the disk thread of node `node` over `store`.
///
/// # Errors
///
/// The operating system's error if the thread cannot be spawned.
pub(crate) fn spawn_disk_thread<W, D>(node: NodeId, store: D) -> std::io::Result<DiskThread<W>>
where
    W: Send + 'static,
    D: DurableStore<W>,
{
    let (writes, receiver) = mpsc::channel(WRITE_BATCHES_QUEUED_MAX);
    let (progress_sender, progress) = watch::channel(DiskProgress::default());
    let (exited_sender, exited) = oneshot::channel();
    thread::Builder::new()
        .name(format!("tessera-disk-{node}"))
        .spawn(move || {
            run_disk_thread(node, store, receiver, Arc::new(progress_sender));
            // The store was dropped (closed) inside: its files are free.
            let _ = exited_sender.send(());
        })?;
    Ok(DiskThread {
        writes,
        progress,
        exited,
    })
}

fn run_disk_thread<W, D: DurableStore<W>>(
    node: NodeId,
    mut store: D,
    mut batches: mpsc::Receiver<WriteBatch<W>>,
    progress: Arc<watch::Sender<DiskProgress>>,
) {
    let fail = |error: &StorageError| {
        tracing::error!(node, %error, "a write failed: the node stops");
        let reason: Arc<str> = error.to_string().into();
        progress.send_modify(|p| p.failure = Some(reason));
    };
    while let Some(first) = batches.blocking_recv() {
        let mut last = None;
        let mut batch = Some(first);
        // Everything queued now goes under one ticket: group commit.
        while let Some(writes) = batch.take().or_else(|| batches.try_recv().ok()) {
            for (id, write) in writes {
                if let Err(error) = store.write(write) {
                    fail(&error);
                    return;
                }
                last = Some(id);
            }
        }
        let Some(last) = last else {
            continue;
        };
        let progress = Arc::clone(&progress);
        store
            .durable_ticket()
            .on_durable(move |result| match result {
                Ok(()) => {
                    progress.send_if_modified(|p| {
                        if p.durable < last && p.failure.is_none() {
                            p.durable = last;
                            true
                        } else {
                            false
                        }
                    });
                }
                Err(error) => {
                    tracing::error!(node, %error, "a sync failed: the node stops");
                    let reason: Arc<str> = error.to_string().into();
                    progress.send_modify(|p| p.failure = Some(reason));
                }
            });
    }
    drop(store);
}

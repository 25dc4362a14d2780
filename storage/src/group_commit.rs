//! The group-commit queue: many submitters, one syncer, every submitter told
//! when its operation is durable — never before.
//!
//! Submitters push operations and get a [`DurableTicket`] each. The syncer
//! thread takes everything queued as one batch, performs it (writes, then
//! one `fdatasync`), and reports the batch finished; the queue then marks
//! every operation of the batch durable and wakes their tickets. While the
//! syncer syncs one batch, the next one fills up: the more submitters, the
//! more operations share one sync.
//!
//! The queue is pure coordination — it does no I/O itself — so loom checks it
//! exhaustively (`tests/loom.rs`): no wake-up is lost, and no ticket
//! completes before the syncer reported its batch durable.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::StorageError;
use crate::loom::sync::{Condvar, Mutex, MutexGuard};

/// A function called once with the outcome of an operation.
pub type DurableCallback = Box<dyn FnOnce(Result<(), StorageError>) + Send + 'static>;

struct Inner<S, Op> {
    state: S,
    queued: Vec<(u64, Op)>,
    queued_cost: u64,
    inflight_cost: u64,
    cost_max: u64,
    next_seq: u64,
    durable_seq: u64,
    failure: Option<Arc<StorageError>>,
    closed: bool,
    syncer_idle: bool,
    wakers: BTreeMap<(u64, u64), Waker>,
    callbacks: BTreeMap<u64, Vec<DurableCallback>>,
    next_ticket_id: u64,
}

impl<S, Op> Inner<S, Op> {
    fn status(&self, seq: u64) -> Option<Result<(), StorageError>> {
        if seq <= self.durable_seq {
            Some(Ok(()))
        } else {
            self.failure.as_ref().map(|failure| Err(failure.share()))
        }
    }
}

/// A group-commit queue of operations `Op`, with submitter-side state `S`
/// kept under the same lock.
///
/// The state is what submitters and the syncer share: for the write-ahead
/// log, the next position to assign and the index of written records.
/// Keeping it under the queue's lock makes "assign a position" and "queue
/// the write" one atomic step, so operations are queued in position order.
///
/// Every queued operation has a sequence number, from 1. The syncer takes
/// operations in sequence order and reports them durable in that order.
///
/// # Examples
///
/// A syncer that "persists" numbers into a vector:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tessera_storage::CommitQueue;
///
/// let queue = Arc::new(CommitQueue::new((), u64::MAX));
/// let disk = Arc::new(Mutex::new(Vec::new()));
/// let syncer = {
///     let (queue, disk) = (Arc::clone(&queue), Arc::clone(&disk));
///     std::thread::spawn(move || {
///         let mut batch = Vec::new();
///         while let Some(last) = queue.next_batch(&mut batch) {
///             disk.lock().unwrap().extend(batch.drain(..).map(|(_, n)| n));
///             queue.finish_batch(last, Ok(()), |_, _| {});
///         }
///     })
/// };
/// let ticket = CommitQueue::submit(&queue, 1, |_, _| Ok(42)).unwrap();
/// ticket.wait().unwrap();
/// assert_eq!(*disk.lock().unwrap(), vec![42]);
/// queue.close();
/// syncer.join().unwrap();
/// ```
pub struct CommitQueue<S, Op> {
    inner: Mutex<Inner<S, Op>>,
    /// The syncer waits here for work.
    work_ready: Condvar,
    /// Blocking tickets and throttled submitters wait here for progress.
    progress: Condvar,
}

impl<S, Op> CommitQueue<S, Op> {
    fn lock(&self) -> MutexGuard<'_, Inner<S, Op>> {
        // Every update under this lock leaves the queue consistent before
        // anything that could panic runs, so a poisoned lock is still sound.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S, Op> fmt::Debug for CommitQueue<S, Op> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("CommitQueue")
            .field("queued", &inner.queued.len())
            .field("next_seq", &inner.next_seq)
            .field("durable_seq", &inner.durable_seq)
            .field("failed", &inner.failure.is_some())
            .field("closed", &inner.closed)
            .finish()
    }
}

impl<S: Send + 'static, Op: Send + 'static> CommitQueue<S, Op> {
    /// A queue around `state` that holds back submitters while the cost of
    /// queued and in-flight operations exceeds `cost_max` (the bound on
    /// memory a slow disk can make the queue hold).
    pub fn new(state: S, cost_max: u64) -> Self {
        CommitQueue {
            inner: Mutex::new(Inner {
                state,
                queued: Vec::new(),
                queued_cost: 0,
                inflight_cost: 0,
                cost_max,
                next_seq: 1,
                durable_seq: 0,
                failure: None,
                closed: false,
                syncer_idle: false,
                wakers: BTreeMap::new(),
                callbacks: BTreeMap::new(),
                next_ticket_id: 0,
            }),
            work_ready: Condvar::new(),
            progress: Condvar::new(),
        }
    }

    /// Queues the operation `make` builds from the shared state and the
    /// operation's sequence number, and returns its ticket.
    ///
    /// Waits first while more than the queue's cost bound is queued or in
    /// flight (back-pressure), unless nothing is.
    ///
    /// # Errors
    ///
    /// [`StorageError::Poisoned`] after a failed batch,
    /// [`StorageError::Closed`] after [`close`](Self::close), or the error
    /// `make` returns (then nothing is queued).
    pub fn submit(
        this: &Arc<Self>,
        cost: u64,
        make: impl FnOnce(&mut S, u64) -> Result<Op, StorageError>,
    ) -> Result<DurableTicket, StorageError> {
        let mut inner = this.lock();
        loop {
            if let Some(failure) = &inner.failure {
                return Err(failure.share());
            }
            if inner.closed {
                return Err(StorageError::Closed);
            }
            let busy = inner.queued_cost + inner.inflight_cost;
            if busy == 0 || busy.saturating_add(cost) <= inner.cost_max {
                break;
            }
            inner = this
                .progress
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let seq = inner.next_seq;
        let op = make(&mut inner.state, seq)?;
        inner.next_seq += 1;
        inner.queued.push((seq, op));
        inner.queued_cost += cost;
        if inner.syncer_idle {
            inner.syncer_idle = false;
            this.work_ready.notify_one();
        }
        let id = inner.next_ticket_id;
        inner.next_ticket_id += 1;
        drop(inner);
        Ok(DurableTicket {
            source: Some(Arc::clone(this) as Arc<dyn TicketSource>),
            seq,
            id,
        })
    }

    /// A ticket that completes once every operation submitted so far is
    /// durable (at once if there is none).
    pub fn barrier(this: &Arc<Self>) -> DurableTicket {
        let mut inner = this.lock();
        let id = inner.next_ticket_id;
        inner.next_ticket_id += 1;
        DurableTicket {
            source: Some(Arc::clone(this) as Arc<dyn TicketSource>),
            seq: inner.next_seq - 1,
            id,
        }
    }

    /// Runs `f` on the shared state, under the queue's lock.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self.lock().state)
    }

    /// For the syncer: waits until operations are queued, moves them all
    /// into `batch` (in sequence order) and returns the last one's sequence
    /// number. Returns `None` once the queue is closed and drained, or has
    /// failed: the syncer then stops.
    pub fn next_batch(&self, batch: &mut Vec<(u64, Op)>) -> Option<u64> {
        let mut inner = self.lock();
        loop {
            if inner.failure.is_some() {
                return None;
            }
            if !inner.queued.is_empty() {
                break;
            }
            if inner.closed {
                return None;
            }
            inner.syncer_idle = true;
            inner = self
                .work_ready
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
        }
        inner.syncer_idle = false;
        inner.inflight_cost += inner.queued_cost;
        inner.queued_cost = 0;
        let last = inner.queued.last().map(|(seq, _)| *seq);
        batch.append(&mut inner.queued);
        last
    }

    /// For the syncer: reports every operation up to `last_seq` durable
    /// (`Ok`), or the failure that makes the queue refuse everything from
    /// now on (`Err`). `update` runs first, under the lock, to publish the
    /// batch's effect on the shared state; then tickets are woken and
    /// callbacks run, on this thread.
    pub fn finish_batch(
        &self,
        last_seq: u64,
        outcome: Result<(), StorageError>,
        update: impl FnOnce(&mut S, Result<(), &StorageError>),
    ) {
        let mut inner = self.lock();
        match outcome {
            Ok(()) => {
                update(&mut inner.state, Ok(()));
                inner.durable_seq = inner.durable_seq.max(last_seq);
            }
            Err(error) => {
                update(&mut inner.state, Err(&error));
                if inner.failure.is_none() {
                    inner.failure = Some(Arc::new(error));
                }
                inner.queued.clear();
                inner.queued_cost = 0;
            }
        }
        inner.inflight_cost = 0;
        let (wakers, callbacks) = take_completed(&mut inner);
        drop(inner);
        self.progress.notify_all();
        run_completions(self, wakers, callbacks);
    }

    /// Stops accepting operations. The syncer performs what is queued and
    /// then [`next_batch`](Self::next_batch) returns `None`.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        drop(inner);
        self.work_ready.notify_all();
        self.progress.notify_all();
    }

    /// Fails every operation not yet durable with `error`, as a failed batch
    /// would: for a syncer that stops abnormally.
    pub fn abandon(&self, error: StorageError) {
        self.finish_batch(0, Err(error), |_, _| {});
        self.work_ready.notify_all();
    }

    /// The highest sequence number such that it and every earlier
    /// operation are durable.
    pub fn durable_seq(&self) -> u64 {
        self.lock().durable_seq
    }

    /// The failure that poisoned the queue, if any.
    pub fn failure(&self) -> Option<Arc<StorageError>> {
        self.lock().failure.clone()
    }
}

type Completions = (Vec<Waker>, Vec<(u64, Vec<DurableCallback>)>);

/// Removes the wakers and callbacks whose operation is now settled.
fn take_completed<S, Op>(inner: &mut Inner<S, Op>) -> Completions {
    if inner.failure.is_some() {
        let wakers = std::mem::take(&mut inner.wakers).into_values().collect();
        let callbacks = std::mem::take(&mut inner.callbacks).into_iter().collect();
        return (wakers, callbacks);
    }
    let pending_wakers = inner.wakers.split_off(&(inner.durable_seq + 1, 0));
    let wakers = std::mem::replace(&mut inner.wakers, pending_wakers)
        .into_values()
        .collect();
    let pending_callbacks = inner.callbacks.split_off(&(inner.durable_seq + 1));
    let callbacks = std::mem::replace(&mut inner.callbacks, pending_callbacks)
        .into_iter()
        .collect();
    (wakers, callbacks)
}

fn run_completions<S: Send + 'static, Op: Send + 'static>(
    queue: &CommitQueue<S, Op>,
    wakers: Vec<Waker>,
    callbacks: Vec<(u64, Vec<DurableCallback>)>,
) {
    for waker in wakers {
        waker.wake();
    }
    for (seq, callbacks) in callbacks {
        for callback in callbacks {
            let outcome = queue.status(seq).unwrap_or(Ok(()));
            callback(outcome);
        }
    }
}

/// What a ticket needs from its queue, without the queue's type parameters.
trait TicketSource: Send + Sync {
    fn status(&self, seq: u64) -> Option<Result<(), StorageError>>;
    fn wait(&self, seq: u64) -> Result<(), StorageError>;
    fn poll_seq(&self, seq: u64, id: u64, waker: &Waker) -> Poll<Result<(), StorageError>>;
    fn forget_waker(&self, seq: u64, id: u64);
    fn subscribe(&self, seq: u64, callback: DurableCallback);
    fn new_ticket_id(&self) -> u64;
}

impl<S: Send + 'static, Op: Send + 'static> TicketSource for CommitQueue<S, Op> {
    fn status(&self, seq: u64) -> Option<Result<(), StorageError>> {
        self.lock().status(seq)
    }

    fn wait(&self, seq: u64) -> Result<(), StorageError> {
        let mut inner = self.lock();
        loop {
            if let Some(outcome) = inner.status(seq) {
                return outcome;
            }
            inner = self
                .progress
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn poll_seq(&self, seq: u64, id: u64, waker: &Waker) -> Poll<Result<(), StorageError>> {
        let mut inner = self.lock();
        if let Some(outcome) = inner.status(seq) {
            inner.wakers.remove(&(seq, id));
            return Poll::Ready(outcome);
        }
        match inner.wakers.get_mut(&(seq, id)) {
            Some(existing) if existing.will_wake(waker) => {}
            Some(existing) => existing.clone_from(waker),
            None => {
                inner.wakers.insert((seq, id), waker.clone());
            }
        }
        Poll::Pending
    }

    fn forget_waker(&self, seq: u64, id: u64) {
        self.lock().wakers.remove(&(seq, id));
    }

    fn subscribe(&self, seq: u64, callback: DurableCallback) {
        let mut inner = self.lock();
        match inner.status(seq) {
            Some(outcome) => {
                drop(inner);
                callback(outcome);
            }
            None => inner.callbacks.entry(seq).or_default().push(callback),
        }
    }

    fn new_ticket_id(&self) -> u64 {
        let mut inner = self.lock();
        inner.next_ticket_id += 1;
        inner.next_ticket_id
    }
}

/// The promise that one operation will be reported durable, or failed.
///
/// Three ways to learn the outcome, all told only after the operation's
/// `fdatasync` returned (or failed):
///
/// - [`wait`](Self::wait) blocks the calling thread;
/// - the ticket is a [`Future`], for async runtimes: polling never blocks,
///   and the syncer wakes the task (no runtime dependency: std's `Waker`);
/// - [`on_durable`](Self::on_durable) registers a callback, run on the
///   syncer thread right after the sync.
///
/// Dropping a ticket does not cancel the operation.
///
/// # Examples
///
/// ```
/// # use std::sync::Arc;
/// # use tessera_storage::{SimFs, Wal, WalOptions};
/// # let (wal, _) = Wal::open(Arc::new(SimFs::new()), "/log", WalOptions::default()).unwrap();
/// let (lsn, ticket) = wal.append(1, b"hello").unwrap();
/// ticket.wait().unwrap(); // durable now
/// assert_eq!(wal.read(lsn).unwrap().payload, b"hello");
/// ```
pub struct DurableTicket {
    source: Option<Arc<dyn TicketSource>>,
    seq: u64,
    id: u64,
}

impl fmt::Debug for DurableTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableTicket")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Clone for DurableTicket {
    fn clone(&self) -> Self {
        DurableTicket {
            source: self.source.clone(),
            seq: self.seq,
            id: self
                .source
                .as_ref()
                .map_or(0, |source| source.new_ticket_id()),
        }
    }
}

impl DurableTicket {
    /// A ticket that is already durable: for operations with nothing to
    /// write (the in-memory log).
    pub fn ready() -> Self {
        DurableTicket {
            source: None,
            seq: 0,
            id: 0,
        }
    }

    /// The operation's sequence number in its queue.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The outcome if it is known, without waiting: `None` while the
    /// operation is not yet durable.
    pub fn try_result(&self) -> Option<Result<(), StorageError>> {
        match &self.source {
            None => Some(Ok(())),
            Some(source) => source.status(self.seq),
        }
    }

    /// Whether the operation is durable now.
    pub fn is_durable(&self) -> bool {
        matches!(self.try_result(), Some(Ok(())))
    }

    /// Blocks until the operation is durable.
    ///
    /// Do not call it from a completion callback: callbacks run on the
    /// syncer thread, which would then wait for itself.
    ///
    /// # Errors
    ///
    /// [`StorageError::Poisoned`] if the batch holding the operation (or an
    /// earlier one) failed: the operation is then not durable.
    pub fn wait(self) -> Result<(), StorageError> {
        match &self.source {
            None => Ok(()),
            Some(source) => source.wait(self.seq),
        }
    }

    /// Calls `callback` with the outcome once known: at once if it already
    /// is, otherwise on the syncer thread after the sync. Keep callbacks
    /// short; they delay the next batch.
    pub fn on_durable(self, callback: impl FnOnce(Result<(), StorageError>) + Send + 'static) {
        match &self.source {
            None => callback(Ok(())),
            Some(source) => source.subscribe(self.seq, Box::new(callback)),
        }
    }
}

impl Future for DurableTicket {
    type Output = Result<(), StorageError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &self.source {
            None => Poll::Ready(Ok(())),
            Some(source) => source.poll_seq(self.seq, self.id, cx.waker()),
        }
    }
}

impl Drop for DurableTicket {
    fn drop(&mut self) {
        if let Some(source) = &self.source {
            source.forget_waker(self.seq, self.id);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::task::Wake;

    type Queue = CommitQueue<(), u64>;

    fn queue() -> Arc<Queue> {
        Arc::new(CommitQueue::new((), 100))
    }

    struct Flag(AtomicU64);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    // Rule: a ticket is not durable until the syncer finished its batch.
    #[test]
    fn tickets_complete_only_after_their_batch() {
        let queue = queue();
        let first = CommitQueue::submit(&queue, 1, |_, _| Ok(1)).unwrap();
        let mut batch = Vec::new();
        let last = queue.next_batch(&mut batch).unwrap();
        let second = CommitQueue::submit(&queue, 1, |_, _| Ok(2)).unwrap();
        assert!(first.try_result().is_none(), "taken is not durable");
        queue.finish_batch(last, Ok(()), |_, _| {});
        assert!(first.is_durable());
        assert!(
            second.try_result().is_none(),
            "the next batch is not durable"
        );
        assert_eq!(batch, vec![(1, 1)]);
    }

    // Rule: the future wakes its task when the batch is durable, and polls
    // ready afterwards.
    #[test]
    fn future_is_woken_by_the_syncer() {
        let queue = queue();
        let mut ticket = CommitQueue::submit(&queue, 1, |_, _| Ok(1)).unwrap();
        let flag = Arc::new(Flag(AtomicU64::new(0)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut ticket).poll(&mut cx).is_pending());
        // Polling again does not register twice.
        assert!(Pin::new(&mut ticket).poll(&mut cx).is_pending());
        let mut batch = Vec::new();
        let last = queue.next_batch(&mut batch).unwrap();
        assert_eq!(flag.0.load(Ordering::SeqCst), 0);
        queue.finish_batch(last, Ok(()), |_, _| {});
        assert_eq!(flag.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            Pin::new(&mut ticket).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
    }

    // Rule: a failed batch is never reported durable, and the queue refuses
    // every later operation.
    #[test]
    fn failure_poisons_every_pending_and_later_ticket() {
        let queue = queue();
        let first = CommitQueue::submit(&queue, 1, |_, _| Ok(1)).unwrap();
        let outcome = Arc::new(std::sync::Mutex::new(None));
        {
            let outcome = Arc::clone(&outcome);
            first
                .clone()
                .on_durable(move |result| *outcome.lock().unwrap() = Some(result.is_ok()));
        }
        let mut batch = Vec::new();
        let last = queue.next_batch(&mut batch).unwrap();
        let queued = CommitQueue::submit(&queue, 1, |_, _| Ok(2)).unwrap();
        queue.finish_batch(last, Err(StorageError::Closed), |_, _| {});
        assert!(matches!(first.wait(), Err(StorageError::Poisoned { .. })));
        assert!(matches!(queued.wait(), Err(StorageError::Poisoned { .. })));
        assert_eq!(*outcome.lock().unwrap(), Some(false));
        assert!(matches!(
            CommitQueue::submit(&queue, 1, |_, _| Ok(3)),
            Err(StorageError::Poisoned { .. })
        ));
        assert!(queue.next_batch(&mut batch).is_none());
    }

    #[test]
    fn barrier_covers_everything_submitted() {
        let queue = queue();
        assert!(CommitQueue::barrier(&queue).is_durable());
        let _first = CommitQueue::submit(&queue, 1, |_, _| Ok(1)).unwrap();
        let barrier = CommitQueue::barrier(&queue);
        assert!(barrier.try_result().is_none());
        let mut batch = Vec::new();
        let last = queue.next_batch(&mut batch).unwrap();
        queue.finish_batch(last, Ok(()), |_, _| {});
        assert!(barrier.is_durable());
    }

    #[test]
    fn submitters_wait_while_the_queue_is_over_its_bound() {
        let queue = queue();
        let _big = CommitQueue::submit(&queue, 100, |_, _| Ok(1)).unwrap();
        let submitted = Arc::new(AtomicU64::new(0));
        let waiter = {
            let (queue, submitted) = (Arc::clone(&queue), Arc::clone(&submitted));
            std::thread::spawn(move || {
                CommitQueue::submit(&queue, 1, |_, _| Ok(2)).unwrap();
                submitted.store(1, Ordering::SeqCst);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(submitted.load(Ordering::SeqCst), 0, "must wait for space");
        let mut batch = Vec::new();
        let last = queue.next_batch(&mut batch).unwrap();
        queue.finish_batch(last, Ok(()), |_, _| {});
        waiter.join().unwrap();
        assert_eq!(submitted.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn closed_queue_drains_then_stops() {
        let queue = queue();
        let ticket = CommitQueue::submit(&queue, 1, |_, _| Ok(1)).unwrap();
        queue.close();
        assert!(matches!(
            CommitQueue::submit(&queue, 1, |_, _| Ok(2)),
            Err(StorageError::Closed)
        ));
        let mut batch = Vec::new();
        let last = queue.next_batch(&mut batch).unwrap();
        queue.finish_batch(last, Ok(()), |_, _| {});
        assert!(ticket.is_durable());
        assert!(queue.next_batch(&mut batch).is_none());
    }
}

//! The application: what committed commands do, what queries read, and how
//! the state is captured into and restored from a snapshot in chunks.

use std::fmt;
use std::sync::Arc;

/// The replicated application. A node owns one, applies every committed
/// command to it in log order, and answers linearizable reads from it.
///
/// It must be deterministic: the same commands applied in the same order
/// from the same snapshot give the same state and outputs on every node.
///
/// # Snapshots
///
/// Snapshots move in chunks, so that a large state never sits in one
/// message or — if the state machine keeps its frozen snapshot on disk —
/// in memory at once:
///
/// - [`snapshot_capture`](Self::snapshot_capture) freezes the state as of
///   the last applied command; [`snapshot_read`](Self::snapshot_read)
///   then serves byte ranges of that frozen snapshot (for the node's own
///   disk and for followers that fell behind the compacted log) while
///   commands keep being applied;
/// - [`restore_begin`](Self::restore_begin),
///   [`restore_chunk`](Self::restore_chunk) (in order) and
///   [`restore_finish`](Self::restore_finish) replace the state with one
///   received from the leader or read back from disk at start-up. A new
///   `restore_begin` abandons a restore in progress.
///
/// [`SnapshotBuffer`] implements the byte-handling for a state machine
/// that serializes itself into memory.
///
/// # Examples
///
/// A counter:
///
/// ```
/// use tessera_raft::{SnapshotBuffer, StateMachine};
///
/// #[derive(Default)]
/// struct Counter { value: u64, snapshots: SnapshotBuffer }
///
/// impl StateMachine for Counter {
///     type Command = u64;
///     type Output = u64;
///     type Query = ();
///     type QueryOutput = u64;
///
///     fn apply(&mut self, _index: u64, add: &u64) -> u64 {
///         self.value += add;
///         self.value
///     }
///     fn query(&self, _: &()) -> u64 { self.value }
///     fn snapshot_capture(&mut self) -> u64 {
///         self.snapshots.capture(self.value.to_le_bytes().to_vec())
///     }
///     fn snapshot_read(&self, offset: u64, len: usize) -> Vec<u8> {
///         self.snapshots.read(offset, len)
///     }
///     fn restore_begin(&mut self) { self.snapshots.begin_restore() }
///     fn restore_chunk(&mut self, chunk: &[u8]) -> Result<(), String> {
///         self.snapshots.push_chunk(chunk)
///     }
///     fn restore_finish(&mut self) -> Result<(), String> {
///         let bytes = self.snapshots.finish_restore();
///         let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| "not a counter")?;
///         self.value = u64::from_le_bytes(bytes);
///         Ok(())
///     }
/// }
///
/// let mut counter = Counter::default();
/// counter.apply(1, &5);
/// let size = counter.snapshot_capture();
/// let mut copy = Counter::default();
/// copy.restore_begin();
/// copy.restore_chunk(&counter.snapshot_read(0, size as usize)).unwrap();
/// copy.restore_finish().unwrap();
/// assert_eq!(copy.query(&()), 5);
/// ```
pub trait StateMachine {
    /// A command, replicated in the log.
    type Command: Clone + fmt::Debug + PartialEq;
    /// What applying a command returns to the client that proposed it.
    type Output: Clone + fmt::Debug;
    /// A read-only query.
    type Query: fmt::Debug;
    /// A query's answer.
    type QueryOutput: fmt::Debug;

    /// Applies the committed command at log index `index`.
    fn apply(&mut self, index: u64, command: &Self::Command) -> Self::Output;

    /// Answers a query from the current state.
    fn query(&self, query: &Self::Query) -> Self::QueryOutput;

    /// The command's size in bytes, for the byte limits on appends and on
    /// data in flight to a follower. By default the size of the type.
    fn command_bytes(command: &Self::Command) -> usize {
        let _ = command;
        std::mem::size_of::<Self::Command>()
    }

    /// Freezes the state as of the last applied command as the snapshot
    /// [`snapshot_read`](Self::snapshot_read) serves, replacing any earlier
    /// one, and returns its size in bytes.
    fn snapshot_capture(&mut self) -> u64;

    /// Up to `len` bytes of the frozen snapshot from `offset` (fewer at the
    /// end, none past it).
    fn snapshot_read(&self, offset: u64, len: usize) -> Vec<u8>;

    /// Starts replacing the state with a snapshot, abandoning any restore
    /// in progress.
    fn restore_begin(&mut self);

    /// The next chunk of the snapshot being restored.
    ///
    /// # Errors
    ///
    /// Why the bytes are not (part of) a snapshot; the restore is then
    /// abandoned.
    fn restore_chunk(&mut self, chunk: &[u8]) -> Result<(), String>;

    /// Replaces the state with the snapshot restored.
    ///
    /// # Errors
    ///
    /// Why the snapshot is not valid; the state is then unchanged.
    fn restore_finish(&mut self) -> Result<(), String>;
}

/// The byte-handling half of [`StateMachine`]'s snapshot methods, for a
/// state machine that serializes itself into memory: the frozen snapshot is
/// shared (cheap to keep while sending), incoming chunks are collected
/// until the restore finishes.
///
/// A state machine whose state does not fit in memory twice should keep
/// its frozen snapshot in a file instead and serve `snapshot_read` from it.
#[derive(Clone, Default)]
pub struct SnapshotBuffer {
    frozen: Option<Arc<[u8]>>,
    incoming: Vec<u8>,
}

impl fmt::Debug for SnapshotBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotBuffer")
            .field("frozen_bytes", &self.frozen.as_ref().map(|f| f.len()))
            .field("incoming_bytes", &self.incoming.len())
            .finish()
    }
}

impl SnapshotBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Freezes `bytes` as the current snapshot; returns its size.
    pub fn capture(&mut self, bytes: Vec<u8>) -> u64 {
        let size = bytes.len() as u64;
        self.frozen = Some(bytes.into());
        size
    }

    /// Up to `len` bytes of the frozen snapshot from `offset`.
    pub fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        let Some(frozen) = &self.frozen else {
            return Vec::new();
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(frozen.len());
        let end = start.saturating_add(len).min(frozen.len());
        frozen[start..end].to_vec()
    }

    /// Starts collecting a snapshot being restored.
    pub fn begin_restore(&mut self) {
        self.incoming.clear();
    }

    /// Collects the next chunk.
    ///
    /// # Errors
    ///
    /// Never; the signature matches [`StateMachine::restore_chunk`].
    pub fn push_chunk(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.incoming.extend_from_slice(chunk);
        Ok(())
    }

    /// The collected snapshot, leaving the buffer ready for the next one.
    pub fn finish_restore(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.incoming)
    }
}

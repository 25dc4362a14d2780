//! The sequence CRDT for lists and text.

mod item_tree;
mod op_log;
mod sequence_op;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use tessera_core::NodeId;
use tessera_vclock::{Decoder, Dot, VersionVector, write_varint};

pub use sequence_op::{SequenceDelta, SequenceOp};

use item_tree::{ItemTree, LeafSplit, NONE, Piece};
use op_log::{AgentLog, ItemRef, LogRun, NO_ITEM, item, item_agent, item_seq};

use crate::encoding::{read_len, write_len};
use crate::lww_register::Value;
use crate::{CrdtEncoding, CrdtError, DeltaCrdt, OpCrdt, StateCrdt};

/// How many operations a sequence holds back, waiting for their causal
/// dependencies, before it refuses more ([`DeltaCrdt::validate_delta`]).
pub const SEQUENCE_PENDING_MAX: usize = 100_000;

/// When decoding a compacted sequence: at most this many compacted
/// operations per byte of the rest of the input (a bound on what a
/// hostile count can make the decoder allocate).
const COMPACTED_OPERATIONS_PER_BYTE_MAX: u64 = 65_536;

/// A text: a sequence of characters.
pub type Text = Sequence<char>;

/// A run of operations `seq..seq + len` of one agent, in the order the
/// replica applied them: a causal order, used to ship and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HistoryRun {
    agent: u32,
    seq: u32,
    len: u32,
}

/// An insert run being applied: items `seq..seq + count` of `agent`,
/// whose values start at `content_start` in the agent's content.
#[derive(Debug, Clone, Copy)]
struct NewRun {
    agent: u32,
    seq: u32,
    count: u32,
    content_start: u32,
}

/// One window item run met while integrating a remote insert.
#[derive(Debug, Clone, Copy)]
struct WindowRun {
    agent: u32,
    first_seq: u32,
    len: u32,
    /// Its position in the window, counted in items.
    start: u32,
    origin_left: ItemRef,
    origin_right: ItemRef,
    node: NodeId,
    leaf: u32,
    index: usize,
    offset: u32,
}

/// What applying an operation would do.
enum Status {
    Applied,
    Ready,
    Blocked(Dot),
    Invalid(String),
}

/// What became of an operation offered to the sequence.
enum Outcome<T> {
    Applied,
    Duplicate,
    Blocked(SequenceOp<T>, Dot),
    Invalid(String),
}

/// What [`Sequence::compact`] dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactionReport {
    /// Tombstones dropped (with their values).
    pub tombstones_dropped: u64,
    /// Tree pieces dropped.
    pub pieces_dropped: usize,
    /// Operation-log runs dropped.
    pub log_runs_dropped: usize,
}

/// Sizes of a sequence's structures: what its tombstones cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SequenceStats {
    /// Items shown in the document.
    pub visible: u64,
    /// Items deleted but kept (tombstones).
    pub tombstones: u64,
    /// Runs of items in the document tree (each 16 bytes).
    pub pieces: usize,
    /// Of which runs of tombstones.
    pub tombstone_pieces: usize,
    /// Leaves of the tree.
    pub leaves: usize,
    /// Operations applied (items inserted plus items deleted).
    pub operations: u64,
    /// Runs in the operation log (each 32 bytes).
    pub log_runs: usize,
}

/// A replicated sequence — a list of `T`, or with `char` a [`Text`] — with
/// insert, delete and range operations that converge under any causal
/// delivery order.
///
/// # The algorithm: FugueMax, in YATA's representation
///
/// Each item has a unique dot and two *origins*: the items it was typed
/// between. A replica places an item it receives right after its left
/// origin, then walks the items between the two origins (exactly the items
/// its author had not seen: concurrent inserts) and orders it among them by
/// the rule of Weidner and Kleppmann's Fugue ("The Art of the Fugue:
/// Minimizing Interleaving in Collaborative Text Editing", 2023) — the
/// integration rule josephg's reference CRDTs call YjsMod, which the Fugue
/// paper shows equivalent to FugueMax: items with the same left origin are
/// ordered by right origin, and items with the same two origins by author
/// (**ties broken by node id**, the lower first). Why this family: YATA's
/// two origins make concurrent runs of typing never interleave
/// (FugueMax's *maximal non-interleaving*, which RGA lacks for backward
/// typing), the integration needs no global order of operations (unlike
/// RGA's timestamps), and a run of typing is one item run with one pair of
/// origins, so it compresses to a few bytes.
///
/// # The representation
///
/// Items are kept in document order as **run-length-encoded pieces**:
/// consecutive items of one author, all live or all deleted. Typing a
/// character after the previous one extends the piece in place — one
/// operation per keystroke, applied as it comes, with no batching — and
/// so does receiving such a run one operation at a time. Pieces live in an
/// **order-statistic B-tree** (leaves of 32 pieces, counts of visible
/// items in the nodes), so finding position `k` costs `O(log n)`, and the
/// last edit's leaf is remembered, so the next edit nearby costs a scan of
/// one leaf. An index from each item to its leaf makes remote operations
/// `O(log n)` too.
///
/// # Tombstones
///
/// A deleted item stays, invisible, because a concurrent or later insert
/// may name it as an origin. Its cost: an item-to-leaf slot (4 bytes, as
/// every operation has), its value, and a share of a 16-byte tree piece —
/// a run of consecutive deletions (backspacing) is one piece, and the
/// deletion operations themselves are one 32-byte log run.
/// [`stats`](Self::stats) reports the counts. Once every replica holds the
/// same version and pauses, [`compact`](Self::compact) drops the
/// tombstones, their values and the operation history up to that version.
///
/// # Operations and causality
///
/// Deletions are operations with dots of their own, so every edit —
/// inserts and deletes alike — advances the [`version`](Self::version):
/// anti-entropy that compares versions never misses a delete. An
/// operation applies once its dependencies (its origins, the items it
/// deletes, its author's previous operation) are here; a delta holding one
/// too early keeps it pending, and [`OpCrdt::apply_op`] refuses it with
/// [`CrdtError::MissingDependencies`].
///
/// # Examples
///
/// ```
/// use tessera_crdt::{StateCrdt, Text};
///
/// let mut alice = Text::new();
/// alice.insert_str(1, 0, "Hello world")?;
/// let mut bob = alice.clone();
///
/// // Concurrent edits at the same place: runs never interleave.
/// alice.insert_str(1, 5, ", dear")?;
/// bob.insert_str(2, 5, " there")?;
/// bob.delete(2, 0, 1)?;
/// alice.merge(&bob);
/// bob.merge(&alice);
/// assert_eq!(alice, bob);
/// assert_eq!(alice.to_string(), "ello, dear there world");
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
pub struct Sequence<T> {
    tree: ItemTree,
    agents: Vec<AgentLog<T>>,
    agent_ids: BTreeMap<NodeId, u32>,
    history: Vec<HistoryRun>,
    pending: Vec<SequenceOp<T>>,
    last_agent: Option<(NodeId, u32)>,
    /// The version [`compact`](Sequence::compact) dropped the history of.
    compacted: VersionVector,
}

impl<T> Default for Sequence<T> {
    fn default() -> Self {
        Sequence {
            tree: ItemTree::default(),
            agents: Vec::new(),
            agent_ids: BTreeMap::new(),
            history: Vec::new(),
            pending: Vec::new(),
            last_agent: None,
            compacted: VersionVector::new(),
        }
    }
}

impl<T: Clone> Clone for Sequence<T> {
    fn clone(&self) -> Self {
        Sequence {
            tree: self.tree.clone(),
            agents: self.agents.clone(),
            agent_ids: self.agent_ids.clone(),
            history: self.history.clone(),
            pending: self.pending.clone(),
            last_agent: self.last_agent,
            compacted: self.compacted.clone(),
        }
    }
}

impl<T: Value> Sequence<T> {
    /// An empty sequence.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many items it shows.
    pub fn len(&self) -> usize {
        self.tree.visible_len() as usize
    }

    /// Whether it shows no item.
    pub fn is_empty(&self) -> bool {
        self.tree.visible_len() == 0
    }

    /// The item at `position`.
    pub fn get(&self, position: usize) -> Option<&T> {
        if position >= self.len() {
            return None;
        }
        let cursor = self.tree.locate_visible(position as u64);
        let piece = self.tree.piece(cursor.leaf, cursor.index);
        Some(self.agents[piece.agent as usize].value(piece.seq + cursor.offset))
    }

    /// The items, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.tree
            .pieces()
            .filter(|piece| !piece.deleted)
            .flat_map(move |piece| {
                self.agents[piece.agent as usize]
                    .values(piece.seq, piece.len)
                    .iter()
            })
    }

    /// The items, as a vector.
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().cloned().collect()
    }

    /// Every operation applied: for each author, how many of its
    /// operations (items inserted plus items deleted). Evidence of kind
    /// `CausalContext`.
    pub fn version(&self) -> VersionVector {
        VersionVector::from_dots(
            self.agents
                .iter()
                .filter(|agent| agent.applied > 0)
                .map(|agent| Dot::new(agent.node, u64::from(agent.applied))),
        )
    }

    /// How many received operations wait for their dependencies.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Sizes of the structures, tombstones included.
    pub fn stats(&self) -> SequenceStats {
        let mut stats = SequenceStats::default();
        for piece in self.tree.pieces() {
            stats.pieces += 1;
            if piece.deleted {
                stats.tombstones += u64::from(piece.len);
                stats.tombstone_pieces += 1;
            } else {
                stats.visible += u64::from(piece.len);
            }
        }
        stats.leaves = self.tree.counts().0;
        stats.operations = self.agents.iter().map(|a| u64::from(a.applied)).sum();
        stats.log_runs = self.agents.iter().map(|a| a.runs.len()).sum();
        stats
    }

    /// Inserts `values` at `position` as `actor` (one operation, however
    /// many values).
    ///
    /// # Errors
    ///
    /// [`CrdtError::OutOfBounds`] past the end; [`CrdtError::CounterExhausted`]
    /// after 2³² − 1 operations by one actor. The sequence is unchanged.
    pub fn insert(
        &mut self,
        actor: NodeId,
        position: usize,
        values: impl IntoIterator<Item = T>,
    ) -> Result<(), CrdtError> {
        let len = self.len();
        if position > len {
            return Err(CrdtError::OutOfBounds { position, len });
        }
        let agent = self.agent_for(actor);
        let log = &mut self.agents[agent as usize];
        let content_start = log.content.len();
        log.content.extend(values);
        let count = log.content.len() - content_start;
        if count == 0 {
            return Ok(());
        }
        let seq = u64::from(log.applied) + 1;
        if seq + count as u64 > u64::from(u32::MAX) {
            log.content.truncate(content_start);
            return Err(CrdtError::CounterExhausted { actor });
        }
        self.insert_local(
            NewRun {
                agent,
                seq: seq as u32,
                count: count as u32,
                content_start: content_start as u32,
            },
            position as u64,
        );
        Ok(())
    }

    /// Deletes `count` items from `position` as `actor`.
    ///
    /// # Errors
    ///
    /// [`CrdtError::OutOfBounds`] if the range passes the end;
    /// [`CrdtError::CounterExhausted`]. The sequence is unchanged.
    pub fn delete(
        &mut self,
        actor: NodeId,
        position: usize,
        count: usize,
    ) -> Result<(), CrdtError> {
        let len = self.len();
        let end = position.checked_add(count).filter(|end| *end <= len);
        if end.is_none() {
            return Err(CrdtError::OutOfBounds {
                position: position.saturating_add(count),
                len,
            });
        }
        if count == 0 {
            return Ok(());
        }
        let agent = self.agent_for(actor);
        if u64::from(self.agents[agent as usize].applied) + count as u64 >= u64::from(u32::MAX) {
            return Err(CrdtError::CounterExhausted { actor });
        }
        self.delete_local(agent, position as u64, count as u64);
        Ok(())
    }

    /// Deletes the items in `range` as `actor`.
    ///
    /// # Errors
    ///
    /// As [`delete`](Self::delete).
    pub fn delete_range(&mut self, actor: NodeId, range: Range<usize>) -> Result<(), CrdtError> {
        let count = range
            .end
            .checked_sub(range.start)
            .ok_or(CrdtError::OutOfBounds {
                position: range.start,
                len: self.len(),
            })?;
        self.delete(actor, range.start, count)
    }

    /// Replaces the items in `range` by `values` as `actor` (a deletion,
    /// then an insertion).
    ///
    /// # Errors
    ///
    /// As [`delete`](Self::delete) and [`insert`](Self::insert); nothing is
    /// changed if the range is out of bounds.
    pub fn splice(
        &mut self,
        actor: NodeId,
        range: Range<usize>,
        values: impl IntoIterator<Item = T>,
    ) -> Result<(), CrdtError> {
        let start = range.start;
        self.delete_range(actor, range)?;
        self.insert(actor, start, values)
    }

    /// The operation that inserts `values` at `position` as `actor`, for
    /// op-based use (apply it here too, through
    /// [`CausalDelivery`](crate::CausalDelivery) or [`OpCrdt::apply_op`]).
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert); an empty `values` is
    /// [`CrdtError::OutOfBounds`] too (an operation inserts something).
    pub fn insert_op(
        &self,
        actor: NodeId,
        position: usize,
        values: impl IntoIterator<Item = T>,
    ) -> Result<SequenceOp<T>, CrdtError> {
        let len = self.len();
        let values: Vec<T> = values.into_iter().collect();
        if position > len || values.is_empty() {
            return Err(CrdtError::OutOfBounds { position, len });
        }
        let id = self.next_dot(actor, values.len())?;
        let (left, right) = if position < len {
            let cursor = self.tree.locate_visible(position as u64);
            let piece = *self.tree.piece(cursor.leaf, cursor.index);
            let right = item(piece.agent, piece.seq + cursor.offset);
            let left = if cursor.offset > 0 {
                item(piece.agent, piece.seq + cursor.offset - 1)
            } else {
                self.tree.previous_piece(cursor.leaf, cursor.index).map_or(
                    NO_ITEM,
                    |(leaf, index)| {
                        let previous = self.tree.piece(leaf, index);
                        item(previous.agent, previous.end() - 1)
                    },
                )
            };
            (left, right)
        } else {
            let left = self.tree.last_piece().map_or(NO_ITEM, |(leaf, index)| {
                let previous = self.tree.piece(leaf, index);
                item(previous.agent, previous.end() - 1)
            });
            (left, NO_ITEM)
        };
        Ok(SequenceOp::Insert {
            id,
            origin_left: self.dot_of(left),
            origin_right: self.dot_of(right),
            values,
        })
    }

    /// The operation that deletes the item at `position` as `actor`, for
    /// op-based use.
    ///
    /// # Errors
    ///
    /// [`CrdtError::OutOfBounds`] past the last item;
    /// [`CrdtError::CounterExhausted`].
    pub fn delete_op(&self, actor: NodeId, position: usize) -> Result<SequenceOp<T>, CrdtError> {
        let len = self.len();
        if position >= len {
            return Err(CrdtError::OutOfBounds { position, len });
        }
        let id = self.next_dot(actor, 1)?;
        let cursor = self.tree.locate_visible(position as u64);
        let piece = *self.tree.piece(cursor.leaf, cursor.index);
        let target = self
            .dot_of(item(piece.agent, piece.seq + cursor.offset))
            .ok_or(CrdtError::OutOfBounds { position, len })?;
        Ok(SequenceOp::Delete {
            id,
            target,
            len: 1,
            forward: true,
        })
    }

    /// The dot `actor`'s next operation takes, if `count` more fit.
    fn next_dot(&self, actor: NodeId, count: usize) -> Result<Dot, CrdtError> {
        let applied = self
            .agent_of(actor)
            .map_or(0, |agent| u64::from(self.agents[agent as usize].applied));
        if applied + count as u64 >= u64::from(u32::MAX) {
            return Err(CrdtError::CounterExhausted { actor });
        }
        Ok(Dot::new(actor, applied + 1))
    }

    /// The operations this sequence holds that `version` does not cover:
    /// the delta a replica at `version` needs.
    pub fn ops_since(&self, version: &VersionVector) -> SequenceDelta<T> {
        let mut ops = Vec::new();
        for (agent, log) in self.agents.iter().enumerate() {
            // Operations before the compaction version are gone: every
            // replica has them.
            let known = version.get(log.node).max(self.compacted.get(log.node));
            if u64::from(log.applied) > known {
                let first = (known + 1) as u32;
                self.extract(agent as u32, first, log.applied, &mut ops);
            }
        }
        ops.extend(
            self.pending
                .iter()
                .filter(|op| op.end_counter() - 1 > version.get(op.id().actor))
                .cloned(),
        );
        SequenceDelta::from_ops(ops)
    }

    /// Drops every tombstone, the values of deleted items and the history
    /// of every operation so far, keeping only the live items (with their
    /// identities) and each author's operation count. Returns what was
    /// dropped.
    ///
    /// **Only at a quiescent, acknowledged version.** Call it when every
    /// replica holds exactly this replica's [`version`](Self::version) —
    /// every replica has acknowledged it, and no operation concurrent with
    /// it exists anywhere — and have every replica compact at that version
    /// before it makes new operations (a coordinated pause: the delta-sync
    /// protocol shows every peer's acknowledgement). Then no future
    /// operation can name a dropped tombstone as an origin, nor ask for a
    /// dropped operation: replicas that compacted at the same version are
    /// equal and go on converging. A replica that missed the compaction
    /// version cannot merge a compacted one (except an empty replica,
    /// which adopts it whole): [`validate_merge`](StateCrdt::validate_merge)
    /// says so.
    ///
    /// # Errors
    ///
    /// [`CrdtError::Inconsistent`] if operations are pending (the version
    /// is not settled); nothing is changed.
    pub fn compact(&mut self) -> Result<CompactionReport, CrdtError> {
        if !self.pending.is_empty() {
            return Err(CrdtError::inconsistent(
                "cannot compact while operations wait for their dependencies",
            ));
        }
        let before = self.stats();
        let mut agents: Vec<AgentLog<T>> = self
            .agents
            .iter()
            .map(|log| {
                let mut fresh = AgentLog::new(log.node);
                fresh.applied = log.applied;
                fresh.leaf_of = vec![NONE; log.applied as usize];
                fresh
            })
            .collect();
        // The live items, as runs of consecutive items of one author.
        let mut live: Vec<Piece> = Vec::new();
        for piece in self.tree.pieces().filter(|piece| !piece.deleted) {
            match live.last_mut() {
                Some(last) if last.agent == piece.agent && last.end() == piece.seq => {
                    last.len += piece.len;
                }
                _ => live.push(*piece),
            }
        }
        // Each author's live runs, in sequence order, become its log.
        let mut by_author: Vec<&Piece> = live.iter().collect();
        by_author.sort_by_key(|piece| (piece.agent, piece.seq));
        for piece in by_author {
            let old = &self.agents[piece.agent as usize];
            let log = &mut agents[piece.agent as usize];
            let content_start = log.content.len() as u32;
            for seq in piece.seq..piece.end() {
                log.content.push(old.value(seq).clone());
            }
            log.runs.push(LogRun::Insert {
                seq: piece.seq,
                len: piece.len,
                content_start,
                origin_left: NO_ITEM,
                origin_right: NO_ITEM,
            });
        }
        self.agents = agents;
        self.tree = ItemTree::default();
        for piece in live {
            let leaf = self.tree.last_leaf();
            let index = self.tree.leaf(leaf).pieces.len();
            self.agents[piece.agent as usize].leaf_of
                [piece.seq as usize - 1..piece.end() as usize - 1]
                .fill(leaf);
            let split = self.tree.insert_piece(leaf, index, piece);
            self.relocate(split);
        }
        self.history.clear();
        self.compacted = self.version();
        let after = self.stats();
        Ok(CompactionReport {
            tombstones_dropped: before.tombstones,
            pieces_dropped: before.pieces - after.pieces,
            log_runs_dropped: before.log_runs - after.log_runs,
        })
    }

    /// The version whose history [`compact`](Self::compact) dropped (empty
    /// if it never ran).
    pub fn compacted(&self) -> &VersionVector {
        &self.compacted
    }

    // ----- agents and bookkeeping -----

    /// Whether nothing was ever applied or received.
    fn is_blank(&self) -> bool {
        self.pending.is_empty() && self.agents.iter().all(|log| log.applied == 0)
    }

    /// Whether `extra` more operations may wait for their dependencies.
    fn check_pending_room(&self, extra: usize) -> Result<(), CrdtError> {
        if self.pending.len() + extra > SEQUENCE_PENDING_MAX {
            return Err(CrdtError::BufferFull {
                buffer: "sequence pending operations",
                limit: SEQUENCE_PENDING_MAX,
            });
        }
        Ok(())
    }

    fn agent_for(&mut self, node: NodeId) -> u32 {
        if let Some((cached, agent)) = self.last_agent
            && cached == node
        {
            return agent;
        }
        let agent = match self.agent_ids.get(&node) {
            Some(agent) => *agent,
            None => {
                let agent = self.agents.len() as u32;
                self.agents.push(AgentLog::new(node));
                self.agent_ids.insert(node, agent);
                agent
            }
        };
        self.last_agent = Some((node, agent));
        agent
    }

    fn agent_of(&self, node: NodeId) -> Option<u32> {
        self.agent_ids.get(&node).copied()
    }

    fn dot_of(&self, item_ref: ItemRef) -> Option<Dot> {
        (item_ref != NO_ITEM).then(|| {
            Dot::new(
                self.agents[item_agent(item_ref) as usize].node,
                u64::from(item_seq(item_ref)),
            )
        })
    }

    fn push_history(&mut self, agent: u32, seq: u32, len: u32) {
        if let Some(last) = self.history.last_mut()
            && last.agent == agent
            && last.seq + last.len == seq
        {
            last.len += len;
            return;
        }
        self.history.push(HistoryRun { agent, seq, len });
    }

    /// After a leaf split, points the moved items at their new leaf.
    fn relocate(&mut self, split: Option<LeafSplit>) {
        let Some(split) = split else { return };
        for piece in &self.tree.leaf(split.new_leaf).pieces {
            let log = &mut self.agents[piece.agent as usize];
            log.leaf_of[piece.seq as usize - 1..piece.end() as usize - 1].fill(split.new_leaf);
        }
    }

    /// Where piece `(leaf, index)` is after `split` of `leaf`.
    fn piece_after(&self, split: Option<LeafSplit>, leaf: u32, index: usize) -> (u32, usize) {
        if let Some(split) = split {
            let kept = self.tree.leaf(leaf).pieces.len();
            if index >= kept {
                return (split.new_leaf, index - kept);
            }
        }
        (leaf, index)
    }

    /// Where the slot before piece `index` (or the end) of `leaf` is after
    /// `split` of `leaf`.
    fn slot_after(&self, split: Option<LeafSplit>, leaf: u32, index: usize) -> (u32, usize) {
        if let Some(split) = split {
            let kept = self.tree.leaf(leaf).pieces.len();
            if index > kept {
                return (split.new_leaf, index - kept);
            }
        }
        (leaf, index)
    }

    /// Where item `item_ref` is: leaf, piece index, offset.
    fn locate(&self, item_ref: ItemRef) -> (u32, usize, u32) {
        let (agent, seq) = (item_agent(item_ref), item_seq(item_ref));
        let leaf = self.agents[agent as usize].leaf_of[seq as usize - 1];
        let pieces = &self.tree.leaf(leaf).pieces;
        let index = pieces
            .iter()
            .position(|piece| piece.holds(agent, seq))
            .unwrap_or_default();
        (leaf, index, seq - pieces[index].seq)
    }

    /// Extends the piece at `(leaf, index)` by items `seq..seq + count` of
    /// `agent` if it ends right before them and they continue its run
    /// (same right origin). Returns whether it did.
    fn try_extend(&mut self, leaf: u32, index: usize, run: NewRun, right: ItemRef) -> bool {
        let NewRun {
            agent, seq, count, ..
        } = run;
        let piece = *self.tree.piece(leaf, index);
        if piece.agent != agent || piece.end() != seq || piece.deleted {
            return false;
        }
        let continues = matches!(
            self.agents[agent as usize].runs.last(),
            Some(LogRun::Insert { seq: run_seq, len, origin_right, .. })
                if run_seq + len == seq && *origin_right == right
        );
        if !continues {
            return false;
        }
        self.tree.piece_mut(leaf, index).len += count;
        self.tree.add_visible(leaf, i64::from(count));
        true
    }

    /// Records insert `run` between `left` and `right`, placed in `leaf`.
    fn record_insert(&mut self, run: NewRun, left: ItemRef, right: ItemRef, leaf: u32) {
        let NewRun {
            agent,
            seq,
            count,
            content_start,
        } = run;
        let log = &mut self.agents[agent as usize];
        log.leaf_of
            .extend(std::iter::repeat_n(leaf, count as usize));
        log.log_insert(seq, count, content_start, left, right, agent);
        log.applied = seq + count - 1;
        self.push_history(agent, seq, count);
    }

    /// Records insert `run` and places it as a new piece at `slot_index`
    /// of `slot_leaf`.
    fn place_new_piece(
        &mut self,
        run: NewRun,
        left: ItemRef,
        right: ItemRef,
        slot_leaf: u32,
        slot_index: usize,
    ) {
        self.record_insert(run, left, right, slot_leaf);
        let split = self.tree.insert_piece(
            slot_leaf,
            slot_index,
            Piece {
                agent: run.agent,
                seq: run.seq,
                len: run.count,
                deleted: false,
            },
        );
        self.relocate(split);
    }

    // ----- local edits -----

    fn insert_local(&mut self, run: NewRun, position: u64) {
        let count = run.count;
        // The new items go right before the item now at `position` (after
        // any tombstones before it), or at the very end.
        let len = self.tree.visible_len();
        let (left, right, slot_leaf, slot_index) = if position < len {
            let cursor = self.tree.find_visible(position);
            let piece = *self.tree.piece(cursor.leaf, cursor.index);
            let right = item(piece.agent, piece.seq + cursor.offset);
            if cursor.offset > 0 {
                let left = item(piece.agent, piece.seq + cursor.offset - 1);
                let split = self
                    .tree
                    .split_piece(cursor.leaf, cursor.index, cursor.offset);
                self.relocate(split);
                let (leaf, index) = self.slot_after(split, cursor.leaf, cursor.index + 1);
                (left, right, leaf, index)
            } else {
                match self.tree.previous_piece(cursor.leaf, cursor.index) {
                    Some((leaf, index)) => {
                        let previous = *self.tree.piece(leaf, index);
                        let left = item(previous.agent, previous.end() - 1);
                        if self.try_extend(leaf, index, run, right) {
                            if leaf != cursor.leaf {
                                self.tree.shift_cache(i64::from(count));
                            }
                            self.record_insert(run, left, right, leaf);
                            return;
                        }
                        (left, right, cursor.leaf, cursor.index)
                    }
                    None => (NO_ITEM, right, cursor.leaf, cursor.index),
                }
            }
        } else {
            match self.tree.last_piece() {
                Some((leaf, index)) => {
                    let previous = *self.tree.piece(leaf, index);
                    let left = item(previous.agent, previous.end() - 1);
                    if self.try_extend(leaf, index, run, NO_ITEM) {
                        self.record_insert(run, left, NO_ITEM, leaf);
                        return;
                    }
                    (left, NO_ITEM, leaf, index + 1)
                }
                None => (NO_ITEM, NO_ITEM, self.tree.last_leaf(), 0),
            }
        };
        self.place_new_piece(run, left, right, slot_leaf, slot_index);
    }

    fn delete_local(&mut self, agent: u32, position: u64, count: u64) {
        let mut remaining = count;
        while remaining > 0 {
            let cursor = self.tree.find_visible(position);
            let piece = *self.tree.piece(cursor.leaf, cursor.index);
            let take = remaining.min(u64::from(piece.len - cursor.offset)) as u32;
            let log = &mut self.agents[agent as usize];
            let seq = log.applied + 1;
            log.log_delete(seq, take, piece.agent, piece.seq + cursor.offset, true);
            log.leaf_of.extend(std::iter::repeat_n(NONE, take as usize));
            log.applied += take;
            self.push_history(agent, seq, take);
            self.mark_deleted(cursor.leaf, cursor.index, cursor.offset, take);
            remaining -= u64::from(take);
        }
    }

    /// Marks items `offset..offset + count` of the live piece at
    /// `(leaf, index)` deleted.
    fn mark_deleted(&mut self, leaf: u32, index: usize, offset: u32, count: u32) {
        let (mut leaf, mut index) = (leaf, index);
        if offset > 0 {
            let split = self.tree.split_piece(leaf, index, offset);
            self.relocate(split);
            (leaf, index) = self.piece_after(split, leaf, index + 1);
        }
        if count < self.tree.piece(leaf, index).len {
            let split = self.tree.split_piece(leaf, index, count);
            self.relocate(split);
            (leaf, index) = self.piece_after(split, leaf, index);
        }
        self.tree.piece_mut(leaf, index).deleted = true;
        self.tree.add_visible(leaf, -i64::from(count));
        self.merge_tombstones(leaf, index);
    }

    /// Merges the tombstone piece at `(leaf, index)` with tombstone
    /// neighbours of the same insert run in the same leaf.
    fn merge_tombstones(&mut self, leaf: u32, index: usize) {
        let mut index = index;
        let pieces_len = self.tree.leaf(leaf).pieces.len();
        if index > 0 {
            let previous = *self.tree.piece(leaf, index - 1);
            let current = *self.tree.piece(leaf, index);
            if self.continues_tombstone(&previous, &current) {
                self.tree.piece_mut(leaf, index - 1).len += current.len;
                self.tree.remove_piece(leaf, index);
                index -= 1;
            }
        }
        let pieces_len = pieces_len.min(self.tree.leaf(leaf).pieces.len());
        if index + 1 < pieces_len {
            let current = *self.tree.piece(leaf, index);
            let next = *self.tree.piece(leaf, index + 1);
            if self.continues_tombstone(&current, &next) {
                self.tree.piece_mut(leaf, index).len += next.len;
                self.tree.remove_piece(leaf, index + 1);
            }
        }
    }

    fn continues_tombstone(&self, first: &Piece, second: &Piece) -> bool {
        first.deleted
            && second.deleted
            && first.agent == second.agent
            && first.end() == second.seq
            && !self.agents[second.agent as usize].starts_run(second.seq)
    }

    // ----- remote operations -----

    /// Integrates insert run `seq..seq + count` of `agent` (values already
    /// in its content) typed between `left` and `right`.
    fn integrate_insert(&mut self, run: NewRun, left: ItemRef, right: ItemRef) {
        let NewRun { agent, seq, .. } = run;
        self.tree.forget_cache();
        let new_node = self.agents[agent as usize].node;
        // The window: every item after `left` and before `right` — the
        // inserts the author had not seen.
        let mut cursor = if left == NO_ITEM {
            self.tree
                .first_piece()
                .map(|(leaf, index)| (leaf, index, 0))
        } else {
            let (leaf, index, offset) = self.locate(left);
            if offset + 1 < self.tree.piece(leaf, index).len {
                Some((leaf, index, offset + 1))
            } else {
                self.tree
                    .next_piece(leaf, index)
                    .map(|(leaf, index)| (leaf, index, 0))
            }
        };
        let mut window: Vec<WindowRun> = Vec::new();
        let mut total = 0u32;
        while let Some((leaf, index, offset)) = cursor {
            let piece = *self.tree.piece(leaf, index);
            let first_seq = piece.seq + offset;
            let mut len = piece.len - offset;
            let reaches_right = right != NO_ITEM
                && item_agent(right) == piece.agent
                && item_seq(right) >= first_seq
                && item_seq(right) < piece.end();
            if reaches_right {
                len = item_seq(right) - first_seq;
            }
            if len > 0 {
                let log = &self.agents[piece.agent as usize];
                let (origin_left, origin_right) = log.origins(piece.agent, first_seq);
                window.push(WindowRun {
                    agent: piece.agent,
                    first_seq,
                    len,
                    start: total,
                    origin_left,
                    origin_right,
                    node: log.node,
                    leaf,
                    index,
                    offset,
                });
                total += len;
            }
            if reaches_right {
                break;
            }
            cursor = self
                .tree
                .next_piece(leaf, index)
                .map(|(leaf, index)| (leaf, index, 0));
        }
        let dest = place_in_window(&window, total, left, right, new_node);

        // The slot: before window item `dest`, or before `right`, or at the
        // end of the document.
        let before = if dest < total {
            let run = window
                .iter()
                .rev()
                .find(|run| run.start <= dest)
                .copied()
                .unwrap_or(window[0]);
            Some((run.leaf, run.index, run.offset + (dest - run.start)))
        } else if right != NO_ITEM {
            Some(self.locate(right))
        } else {
            None
        };
        let (slot_leaf, slot_index) = match before {
            Some((leaf, index, offset)) if offset > 0 => {
                let split = self.tree.split_piece(leaf, index, offset);
                self.relocate(split);
                self.slot_after(split, leaf, index + 1)
            }
            Some((leaf, index, _)) => (leaf, index),
            None => {
                let leaf = self.tree.last_leaf();
                (leaf, self.tree.leaf(leaf).pieces.len())
            }
        };
        // A run received one operation at a time extends its piece.
        let previous = if slot_index > 0 {
            Some((slot_leaf, slot_index - 1))
        } else {
            self.tree.previous_piece(slot_leaf, slot_index)
        };
        if let Some((leaf, index)) = previous
            && left == item(agent, seq.wrapping_sub(1))
            && self.try_extend(leaf, index, run, right)
        {
            self.record_insert(run, left, right, leaf);
            return;
        }
        self.place_new_piece(run, left, right, slot_leaf, slot_index);
    }

    /// Applies deletions `seq..seq + count` of `agent` of `target_agent`'s
    /// items from `target_start`, up or down.
    fn integrate_delete(
        &mut self,
        agent: u32,
        seq: u32,
        count: u32,
        target_agent: u32,
        target_start: u32,
        forward: bool,
    ) {
        self.tree.forget_cache();
        let log = &mut self.agents[agent as usize];
        log.log_delete(seq, count, target_agent, target_start, forward);
        log.leaf_of
            .extend(std::iter::repeat_n(NONE, count as usize));
        log.applied = seq + count - 1;
        self.push_history(agent, seq, count);
        let (low, high) = if forward {
            (target_start, target_start + count - 1)
        } else {
            (target_start + 1 - count, target_start)
        };
        let mut next = low;
        while next <= high {
            let (leaf, index, offset) = self.locate(item(target_agent, next));
            let piece = *self.tree.piece(leaf, index);
            let take = (high - next + 1).min(piece.len - offset);
            if !piece.deleted {
                self.mark_deleted(leaf, index, offset, take);
            }
            next += take;
        }
    }

    fn item_known(&self, dot: Dot) -> Result<(), Status> {
        let Some(agent) = self.agent_of(dot.actor) else {
            return Err(Status::Blocked(dot));
        };
        let log = &self.agents[agent as usize];
        if dot.counter > u64::from(log.applied) {
            return Err(Status::Blocked(dot));
        }
        if !log.is_item(dot.counter as u32) {
            return Err(Status::Invalid(format!("{dot} is a deletion, not an item")));
        }
        Ok(())
    }

    /// What applying `op` (whose first dot is its author's next) would do.
    fn status(&self, op: &SequenceOp<T>) -> Status {
        if let Err(error) = op.check_shape() {
            return Status::Invalid(error.to_string());
        }
        let id = op.id();
        let applied = self
            .agent_of(id.actor)
            .map_or(0, |agent| u64::from(self.agents[agent as usize].applied));
        if op.end_counter() - 1 <= applied {
            return Status::Applied;
        }
        if id.counter > applied + 1 {
            return Status::Blocked(Dot::new(id.actor, applied + 1));
        }
        match op {
            SequenceOp::Insert {
                origin_left,
                origin_right,
                ..
            } => {
                if origin_left.is_some() && origin_left == origin_right {
                    return Status::Invalid(format!("insert {id} has one item as both origins"));
                }
                for origin in [origin_left, origin_right].into_iter().flatten() {
                    if let Err(status) = self.item_known(*origin) {
                        return status;
                    }
                }
                Status::Ready
            }
            SequenceOp::Delete {
                target,
                len,
                forward,
                ..
            } => {
                let (low, high) = if *forward {
                    (target.counter, target.counter + len - 1)
                } else {
                    (target.counter + 1 - len, target.counter)
                };
                let Some(agent) = self.agent_of(target.actor) else {
                    return Status::Blocked(Dot::new(target.actor, high));
                };
                let log = &self.agents[agent as usize];
                if high > u64::from(log.applied) {
                    return Status::Blocked(Dot::new(target.actor, high));
                }
                if !log.are_items(low as u32, high as u32) {
                    return Status::Invalid(format!("delete {id} targets a deletion"));
                }
                Status::Ready
            }
        }
    }

    /// Offers `op` to the sequence: applies what it can.
    fn offer(&mut self, mut op: SequenceOp<T>) -> Outcome<T> {
        let id = op.id();
        let applied = self
            .agent_of(id.actor)
            .map_or(0, |agent| u64::from(self.agents[agent as usize].applied));
        if id.counter <= applied && op.end_counter() - 1 > applied {
            op.trim_front(applied + 1 - id.counter);
        }
        match self.status(&op) {
            Status::Applied => Outcome::Duplicate,
            Status::Blocked(missing) => Outcome::Blocked(op, missing),
            Status::Invalid(reason) => Outcome::Invalid(reason),
            Status::Ready => {
                self.apply_ready(op);
                Outcome::Applied
            }
        }
    }

    fn apply_ready(&mut self, op: SequenceOp<T>) {
        match op {
            SequenceOp::Insert {
                id,
                origin_left,
                origin_right,
                values,
            } => {
                let agent = self.agent_for(id.actor);
                let left = self.item_ref(origin_left);
                let right = self.item_ref(origin_right);
                let log = &mut self.agents[agent as usize];
                let content_start = log.content.len() as u32;
                let count = values.len() as u32;
                log.content.extend(values);
                let run = NewRun {
                    agent,
                    seq: id.counter as u32,
                    count,
                    content_start,
                };
                self.integrate_insert(run, left, right);
            }
            SequenceOp::Delete {
                id,
                target,
                len,
                forward,
            } => {
                let agent = self.agent_for(id.actor);
                let target_agent = self.agent_for(target.actor);
                self.integrate_delete(
                    agent,
                    id.counter as u32,
                    len as u32,
                    target_agent,
                    target.counter as u32,
                    forward,
                );
            }
        }
    }

    fn item_ref(&self, dot: Option<Dot>) -> ItemRef {
        match dot {
            None => NO_ITEM,
            Some(dot) => match self.agent_of(dot.actor) {
                Some(agent) => item(agent, dot.counter as u32),
                None => NO_ITEM,
            },
        }
    }

    /// Applies every operation it can, in rounds, keeping the rest pending.
    /// Returns whether anything was applied.
    fn integrate_ops(&mut self, ops: impl IntoIterator<Item = SequenceOp<T>>) -> bool {
        let mut waiting: Vec<SequenceOp<T>> = std::mem::take(&mut self.pending);
        let had_pending = !waiting.is_empty();
        waiting.extend(ops);
        if had_pending {
            waiting = SequenceDelta::from_ops(waiting).into_ops();
        }
        let mut changed = false;
        loop {
            let mut progress = false;
            let mut blocked = Vec::new();
            for op in waiting {
                match self.offer(op) {
                    Outcome::Applied => progress = true,
                    Outcome::Duplicate | Outcome::Invalid(_) => {}
                    Outcome::Blocked(op, _) => blocked.push(op),
                }
            }
            changed |= progress;
            waiting = blocked;
            if !progress || waiting.is_empty() {
                break;
            }
        }
        self.pending = SequenceDelta::from_ops(waiting).into_ops();
        changed
    }

    /// Every operation not covered by `version`, in the order this replica
    /// applied them (a causal order).
    fn history_ops_since(&self, version: &VersionVector) -> Vec<SequenceOp<T>> {
        let mut ops = Vec::new();
        for run in &self.history {
            let node = self.agents[run.agent as usize].node;
            let known = version.get(node);
            let last = run.seq + run.len - 1;
            if u64::from(last) <= known {
                continue;
            }
            let first = run.seq.max((known + 1).min(u64::from(u32::MAX)) as u32);
            self.extract(run.agent, first, last, &mut ops);
        }
        ops
    }

    /// The operations `first..=last` of `agent`, as they were applied.
    fn extract(&self, agent: u32, first: u32, last: u32, out: &mut Vec<SequenceOp<T>>) {
        let log = &self.agents[agent as usize];
        let mut next = first;
        let mut index = log.run_index(first);
        while next <= last {
            let run = log.runs[index];
            let end = last.min(run.seq() + run.len() - 1);
            match run {
                LogRun::Insert {
                    seq,
                    content_start,
                    origin_left,
                    origin_right,
                    ..
                } => {
                    let left = if next == seq {
                        origin_left
                    } else {
                        item(agent, next - 1)
                    };
                    let from = (content_start + (next - seq)) as usize;
                    let to = from + (end - next + 1) as usize;
                    out.push(SequenceOp::Insert {
                        id: Dot::new(log.node, u64::from(next)),
                        origin_left: self.dot_of(left),
                        origin_right: self.dot_of(origin_right),
                        values: log.content[from..to].to_vec(),
                    });
                }
                LogRun::Delete {
                    seq,
                    target_agent,
                    target_start,
                    forward,
                    ..
                } => {
                    let skip = next - seq;
                    let target = if forward {
                        target_start + skip
                    } else {
                        target_start - skip
                    };
                    out.push(SequenceOp::Delete {
                        id: Dot::new(log.node, u64::from(next)),
                        target: Dot::new(
                            self.agents[target_agent as usize].node,
                            u64::from(target),
                        ),
                        len: u64::from(end - next + 1),
                        forward,
                    });
                }
            }
            next = end + 1;
            index += 1;
        }
    }

    /// The document as runs `(author, first seq, len, deleted)`, merged
    /// where consecutive: the same for equal states however their pieces
    /// were split.
    fn canonical_runs(&self) -> Vec<(NodeId, u32, u32, bool)> {
        let mut runs: Vec<(NodeId, u32, u32, bool)> = Vec::new();
        for piece in self.tree.pieces() {
            let node = self.agents[piece.agent as usize].node;
            if let Some(last) = runs.last_mut()
                && last.0 == node
                && last.1 + last.2 == piece.seq
                && last.3 == piece.deleted
            {
                last.2 += piece.len;
                continue;
            }
            runs.push((node, piece.seq, piece.len, piece.deleted));
        }
        runs
    }
}

/// Where a new item goes among the window items (the FugueMax / YjsMod
/// rule, over runs: only a run's first item can stop the scan, the items
/// after it have the previous item as left origin). Returns the window
/// index of the item it goes before (`total` for after them all).
fn place_in_window(
    window: &[WindowRun],
    total: u32,
    left: ItemRef,
    right: ItemRef,
    new_node: NodeId,
) -> u32 {
    let index_in_window = |target: ItemRef| -> Option<u32> {
        if target == NO_ITEM {
            return None;
        }
        window
            .iter()
            .find(|run| {
                run.agent == item_agent(target)
                    && item_seq(target) >= run.first_seq
                    && item_seq(target) < run.first_seq + run.len
            })
            .map(|run| run.start + (item_seq(target) - run.first_seq))
    };
    let mut dest = 0;
    let mut scanning = false;
    for run in window {
        if !scanning {
            dest = run.start;
        }
        // Where the run's left origin is, relative to ours.
        let left_order = if run.origin_left == left {
            Ordering::Equal
        } else if index_in_window(run.origin_left).is_some() {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        match left_order {
            Ordering::Less => return dest,
            Ordering::Greater => {}
            Ordering::Equal => {
                let right_order = if run.origin_right == right {
                    Ordering::Equal
                } else if index_in_window(run.origin_right).is_some() {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                match right_order {
                    Ordering::Less => scanning = true,
                    Ordering::Equal => {
                        if new_node < run.node {
                            return dest;
                        }
                        scanning = false;
                    }
                    Ordering::Greater => scanning = false,
                }
            }
        }
    }
    if scanning { dest } else { total }
}

impl Sequence<char> {
    /// Inserts `text` at `position` as `actor`.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    pub fn insert_str(
        &mut self,
        actor: NodeId,
        position: usize,
        text: &str,
    ) -> Result<(), CrdtError> {
        self.insert(actor, position, text.chars())
    }
}

impl fmt::Display for Sequence<char> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in self.tree.pieces().filter(|piece| !piece.deleted) {
            let values = self.agents[piece.agent as usize].values(piece.seq, piece.len);
            for character in values {
                fmt::Write::write_char(f, *character)?;
            }
        }
        Ok(())
    }
}

impl<T: Value> fmt::Debug for Sequence<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sequence")
            .field("items", &self.iter().collect::<Vec<_>>())
            .field("version", &self.version())
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Equal when the same operations were applied and the same are pending:
/// the same items, in the same order, deleted alike.
impl<T: Value> PartialEq for Sequence<T> {
    fn eq(&self, other: &Self) -> bool {
        self.version() == other.version()
            && self.pending == other.pending
            && self.canonical_runs() == other.canonical_runs()
    }
}

impl<T: Value> StateCrdt for Sequence<T> {
    /// Operations identify their effect, so inclusion is a comparison of
    /// versions (and of pending operations).
    fn includes(&self, other: &Self) -> bool {
        let version = self.version();
        version.descends(&other.version())
            && other.pending.iter().all(|op| {
                op.end_counter() - 1 <= version.get(op.id().actor)
                    || self
                        .pending
                        .binary_search_by_key(&op.id(), SequenceOp::id)
                        .is_ok_and(|index| self.pending[index] == *op)
            })
    }

    fn merge(&mut self, other: &Self) {
        if self.is_blank() && !other.compacted.is_empty() {
            // A fresh replica adopts a compacted one whole.
            *self = other.clone();
            return;
        }
        let ops = other.history_ops_since(&self.version());
        let pending = other.pending.clone();
        self.integrate_ops(ops.into_iter().chain(pending));
    }

    fn validate(&self) -> Result<(), CrdtError> {
        self.check_pending_room(0)
    }

    fn validate_merge(&self, other: &Self) -> Result<(), CrdtError> {
        other.validate()?;
        if !self.is_blank() && !self.version().descends(&other.compacted) {
            return Err(CrdtError::inconsistent(format!(
                "the other replica compacted its history at {:?}, which this replica does not hold",
                other.compacted
            )));
        }
        Ok(())
    }
}

impl<T: Value> DeltaCrdt for Sequence<T> {
    type Delta = SequenceDelta<T>;

    fn join_delta(&mut self, delta: &SequenceDelta<T>) -> bool {
        self.integrate_ops(delta.ops().iter().cloned())
    }

    fn validate_delta(&self, delta: &SequenceDelta<T>) -> Result<(), CrdtError> {
        delta.validate()?;
        self.check_pending_room(delta.ops().len())
    }
}

impl<T: Value> OpCrdt for Sequence<T> {
    type Op = SequenceOp<T>;

    /// # Errors
    ///
    /// [`CrdtError::MissingDependencies`] if the author's previous
    /// operation, an origin or a deleted item is not here yet;
    /// [`CrdtError::AlreadyApplied`]; [`CrdtError::Inconsistent`] for an
    /// operation that names a deletion as an item. Nothing is applied.
    fn apply_op(&mut self, op: &SequenceOp<T>) -> Result<(), CrdtError> {
        match self.offer(op.clone()) {
            Outcome::Applied => Ok(()),
            Outcome::Duplicate => Err(CrdtError::AlreadyApplied { op: op.id() }),
            Outcome::Blocked(_, missing) => Err(CrdtError::MissingDependencies {
                op: op.id(),
                missing: vec![missing],
            }),
            Outcome::Invalid(reason) => Err(CrdtError::Inconsistent { reason }),
        }
    }
}

// ----- encoding -----

impl<T: Value> Sequence<T> {
    /// Reads the compacted base written by `encode`: the authors'
    /// operation counts, then the kept items in document order.
    fn decode_base(
        &mut self,
        decoder: &mut Decoder<'_>,
        nodes: &[NodeId],
    ) -> Result<(), CrdtError> {
        for node in nodes {
            let applied = decoder.read_varint()?;
            let applied = u32::try_from(applied)
                .ok()
                .filter(|applied| *applied < u32::MAX)
                .ok_or_else(|| {
                    CrdtError::inconsistent("a compacted count past the counter range")
                })?;
            let agent = self.agent_for(*node);
            let log = &mut self.agents[agent as usize];
            log.applied = applied;
            // The index holds a slot per operation: a count far beyond what
            // the rest of the input could have compacted is refused before
            // anything is allocated.
            let backed =
                COMPACTED_OPERATIONS_PER_BYTE_MAX.saturating_mul(decoder.remaining() as u64 + 16);
            if u64::from(applied) > backed {
                return Err(CrdtError::inconsistent(
                    "a compacted operation count the input cannot back",
                ));
            }
            log.leaf_of = vec![NONE; applied as usize];
            if applied > 0 {
                self.compacted.witness(Dot::new(*node, u64::from(applied)));
            }
        }
        let count = read_len(decoder, 4)?;
        for _ in 0..count {
            let offset = decoder.position();
            let agent = usize::try_from(decoder.read_varint()?).unwrap_or(usize::MAX);
            let seq = decoder.read_varint()?;
            let len = decoder.read_varint()?;
            let log = self.agents.get(agent).ok_or_else(|| {
                CrdtError::inconsistent(format!(
                    "kept item at offset {offset} names an unknown author"
                ))
            })?;
            let fits = seq >= 1 && len >= 1 && seq + len - 1 <= u64::from(log.applied);
            if !fits || len > decoder.remaining() as u64 {
                return Err(CrdtError::inconsistent(format!(
                    "kept items at offset {offset} lie outside the compacted history"
                )));
            }
            let (agent, seq, len) = (agent as u32, seq as u32, len as u32);
            if log.leaf_of[seq as usize - 1..(seq + len) as usize - 1]
                .iter()
                .any(|leaf| *leaf != NONE)
            {
                return Err(CrdtError::inconsistent(format!(
                    "kept items at offset {offset} are kept twice"
                )));
            }
            let content_start = log.content.len() as u32;
            let mut values = Vec::with_capacity(len as usize);
            for _ in 0..len {
                values.push(T::decode(decoder)?);
            }
            let leaf = self.tree.last_leaf();
            let index = self.tree.leaf(leaf).pieces.len();
            let log = &mut self.agents[agent as usize];
            log.content.extend(values);
            log.runs.push(LogRun::Insert {
                seq,
                len,
                content_start,
                origin_left: NO_ITEM,
                origin_right: NO_ITEM,
            });
            log.leaf_of[seq as usize - 1..(seq + len) as usize - 1].fill(leaf);
            let split = self.tree.insert_piece(
                leaf,
                index,
                Piece {
                    agent,
                    seq,
                    len,
                    deleted: false,
                },
            );
            self.relocate(split);
        }
        for log in &mut self.agents {
            log.runs.sort_by_key(LogRun::seq);
        }
        Ok(())
    }
}

/// An item reference relative to operation `(agent, seq)`: 0 none, 1 the
/// same agent `distance` back, `2 + k` agent `k` at a sequence number.
fn write_item_ref(out: &mut Vec<u8>, target: ItemRef, agent: u32, seq: u32) {
    if target == NO_ITEM {
        out.push(0);
    } else if item_agent(target) == agent && item_seq(target) < seq {
        write_varint(out, 1);
        write_varint(out, u64::from(seq - item_seq(target) - 1));
    } else {
        write_varint(out, u64::from(item_agent(target)) + 2);
        write_varint(out, u64::from(item_seq(target)));
    }
}

fn read_item_ref(
    decoder: &mut Decoder<'_>,
    nodes: &[NodeId],
    agent: NodeId,
    seq: u64,
) -> Result<Option<Dot>, CrdtError> {
    let offset = decoder.position();
    match decoder.read_varint()? {
        0 => Ok(None),
        1 => {
            let back = decoder.read_varint()?;
            let counter = seq
                .checked_sub(back)
                .and_then(|c| c.checked_sub(1))
                .filter(|c| *c > 0)
                .ok_or_else(|| {
                    CrdtError::inconsistent(format!(
                        "item reference at offset {offset} points before the first item"
                    ))
                })?;
            Ok(Some(Dot::new(agent, counter)))
        }
        tag => {
            let index = usize::try_from(tag - 2).unwrap_or(usize::MAX);
            let node = nodes.get(index).ok_or_else(|| {
                CrdtError::inconsistent(format!(
                    "item reference at offset {offset} names an unknown author"
                ))
            })?;
            Ok(Some(Dot::new(*node, decoder.read_varint()?)))
        }
    }
}

/// The authors; then the operations in the order they were applied, in
/// runs of one author (header `count << 2 | kind`, kind 0 insert with its
/// origins and values, 1 and 2 deletion forward and backward with its first
/// target); then the pending operations. Decoding replays the operations,
/// so a decoded sequence is consistent by construction.
impl<T: Value> CrdtEncoding for Sequence<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.agents.len());
        for agent in &self.agents {
            write_varint(out, agent.node);
        }
        // The compacted base: each author's operation count at compaction,
        // then the items it kept, in document order.
        for agent in &self.agents {
            write_varint(out, self.compacted.get(agent.node));
        }
        let base: Vec<Piece> = self
            .tree
            .pieces()
            .filter_map(|piece| {
                let kept = self.compacted.get(self.agents[piece.agent as usize].node);
                let end = u64::from(piece.end()).min(kept + 1);
                (u64::from(piece.seq) < end).then(|| Piece {
                    len: (end - u64::from(piece.seq)) as u32,
                    deleted: false,
                    ..*piece
                })
            })
            .collect();
        write_len(out, base.len());
        for piece in &base {
            write_varint(out, u64::from(piece.agent));
            write_varint(out, u64::from(piece.seq));
            write_varint(out, u64::from(piece.len));
            for value in self.agents[piece.agent as usize].values(piece.seq, piece.len) {
                value.encode(out);
            }
        }
        write_len(out, self.history.len());
        for run in &self.history {
            write_varint(out, u64::from(run.agent));
            write_varint(out, u64::from(run.len));
            let log = &self.agents[run.agent as usize];
            let mut next = run.seq;
            let last = run.seq + run.len - 1;
            let mut index = log.run_index(next);
            while next <= last {
                let log_run = log.runs[index];
                let end = last.min(log_run.seq() + log_run.len() - 1);
                let count = u64::from(end - next + 1);
                match log_run {
                    LogRun::Insert {
                        seq,
                        content_start,
                        origin_left,
                        origin_right,
                        ..
                    } => {
                        write_varint(out, count << 2);
                        let left = if next == seq {
                            origin_left
                        } else {
                            item(run.agent, next - 1)
                        };
                        write_item_ref(out, left, run.agent, next);
                        write_item_ref(out, origin_right, run.agent, next);
                        let from = (content_start + (next - seq)) as usize;
                        for value in &log.content[from..from + count as usize] {
                            value.encode(out);
                        }
                    }
                    LogRun::Delete {
                        seq,
                        target_agent,
                        target_start,
                        forward,
                        ..
                    } => {
                        write_varint(out, (count << 2) | if forward { 1 } else { 2 });
                        let skip = next - seq;
                        let target = if forward {
                            target_start + skip
                        } else {
                            target_start - skip
                        };
                        write_varint(out, u64::from(target_agent));
                        write_varint(out, u64::from(target));
                    }
                }
                next = end + 1;
                index += 1;
            }
        }
        sequence_op::encode_ops(out, &self.pending);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let agent_count = read_len(decoder, 1)?;
        let mut nodes = Vec::with_capacity(agent_count);
        for _ in 0..agent_count {
            let node = decoder.read_varint()?;
            if nodes.contains(&node) {
                return Err(CrdtError::inconsistent(format!(
                    "author {node} is listed twice"
                )));
            }
            nodes.push(node);
        }
        let mut sequence = Sequence::new();
        sequence.decode_base(decoder, &nodes)?;
        let runs = read_len(decoder, 2)?;
        for _ in 0..runs {
            let offset = decoder.position();
            let author = usize::try_from(decoder.read_varint()?).unwrap_or(usize::MAX);
            let node = *nodes.get(author).ok_or_else(|| {
                CrdtError::inconsistent(format!(
                    "history run at offset {offset} names an unknown author"
                ))
            })?;
            let mut remaining = decoder.read_varint()?;
            while remaining > 0 {
                let op_offset = decoder.position();
                let header = decoder.read_varint()?;
                let count = header >> 2;
                if count == 0 || count > remaining {
                    return Err(CrdtError::inconsistent(format!(
                        "operation at offset {op_offset} does not fit its history run"
                    )));
                }
                let seq = sequence.agent_of(node).map_or(0, |agent| {
                    u64::from(sequence.agents[agent as usize].applied)
                }) + 1;
                let op = match header & 3 {
                    0 => {
                        let origin_left = read_item_ref(decoder, &nodes, node, seq)?;
                        let origin_right = read_item_ref(decoder, &nodes, node, seq)?;
                        if count > decoder.remaining() as u64 {
                            return Err(CrdtError::inconsistent(format!(
                                "insert at offset {op_offset} holds more values than bytes remain"
                            )));
                        }
                        let mut values = Vec::with_capacity(count as usize);
                        for _ in 0..count {
                            values.push(T::decode(decoder)?);
                        }
                        SequenceOp::Insert {
                            id: Dot::new(node, seq),
                            origin_left,
                            origin_right,
                            values,
                        }
                    }
                    kind @ (1 | 2) => {
                        let target_author =
                            usize::try_from(decoder.read_varint()?).unwrap_or(usize::MAX);
                        let target_node = *nodes.get(target_author).ok_or_else(|| {
                            CrdtError::inconsistent(format!(
                                "deletion at offset {op_offset} names an unknown author"
                            ))
                        })?;
                        SequenceOp::Delete {
                            id: Dot::new(node, seq),
                            target: Dot::new(target_node, decoder.read_varint()?),
                            len: count,
                            forward: kind == 1,
                        }
                    }
                    _ => {
                        return Err(CrdtError::inconsistent(format!(
                            "unknown operation kind at offset {op_offset}"
                        )));
                    }
                };
                match sequence.offer(op) {
                    Outcome::Applied => {}
                    Outcome::Duplicate => {
                        return Err(CrdtError::inconsistent(format!(
                            "operation at offset {op_offset} repeats one"
                        )));
                    }
                    Outcome::Blocked(_, missing) => {
                        return Err(CrdtError::inconsistent(format!(
                            "operation at offset {op_offset} comes before its dependency {missing}"
                        )));
                    }
                    Outcome::Invalid(reason) => return Err(CrdtError::Inconsistent { reason }),
                }
                remaining -= count;
            }
        }
        let delta = SequenceDelta::from_ops(sequence_op::decode_ops(decoder)?);
        sequence.integrate_ops(delta.into_ops());
        Ok(sequence)
    }
}

#[cfg(feature = "serde")]
impl<T: Value> serde::Serialize for Sequence<T> {
    /// The compact encoding, as bytes.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.to_bytes())
    }
}

#[cfg(feature = "serde")]
impl<'de, T: Value> serde::Deserialize<'de> for Sequence<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = serde_bytes_vec(deserializer)?;
        Sequence::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "serde")]
fn serde_bytes_vec<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct BytesVisitor;
    impl<'de> serde::de::Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the bytes of an encoded sequence")
        }
        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut bytes = Vec::new();
            while let Some(byte) = seq.next_element::<u8>()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
    deserializer.deserialize_bytes(BytesVisitor)
}

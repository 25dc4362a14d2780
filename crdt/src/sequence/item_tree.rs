//! The document order of a sequence's items: an order-statistic B-tree of
//! run-length-encoded pieces.
//!
//! Leaves hold up to [`LEAF_MAX`] pieces — runs of consecutive items of one
//! agent, all live or all deleted — and are linked in document order.
//! Internal nodes hold up to [`NODE_MAX`] children and each child's count
//! of *visible* items, so finding the `k`-th visible item is a walk from the
//! root, and an edit updates the counts on the path back up. Nodes live in
//! two arenas and refer to each other by index (no unsafe, no `Rc`).

/// Pieces a leaf holds before it splits.
pub(crate) const LEAF_MAX: usize = 32;
/// Children an internal node holds before it splits.
pub(crate) const NODE_MAX: usize = 32;
/// "No node": the root's parent, the ends of the leaf list.
pub(crate) const NONE: u32 = u32::MAX;

/// A run of `len` items of agent `agent` with sequence numbers
/// `seq..seq + len`, consecutive in the document, all live or all deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) agent: u32,
    pub(crate) seq: u32,
    pub(crate) len: u32,
    pub(crate) deleted: bool,
}

impl Piece {
    /// Items it shows in the document.
    #[inline]
    pub(crate) fn visible(&self) -> u64 {
        if self.deleted { 0 } else { u64::from(self.len) }
    }

    /// One past its last sequence number.
    #[inline]
    pub(crate) fn end(&self) -> u32 {
        self.seq + self.len
    }

    /// Whether it holds item `(agent, seq)`.
    #[inline]
    pub(crate) fn holds(&self, agent: u32, seq: u32) -> bool {
        self.agent == agent && seq >= self.seq && seq < self.end()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub(crate) pieces: Vec<Piece>,
    pub(crate) visible: u64,
    parent: u32,
    pub(crate) next: u32,
    prev: u32,
}

#[derive(Debug, Clone)]
struct Node {
    children: Vec<u32>,
    visible: Vec<u64>,
    parent: u32,
    leaf_children: bool,
}

/// Where an item is: a leaf, a piece in it, an offset in the piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) leaf: u32,
    pub(crate) index: usize,
    pub(crate) offset: u32,
}

/// A leaf split: pieces from `first_moved` on moved to `new_leaf`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeafSplit {
    pub(crate) new_leaf: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct ItemTree {
    leaves: Vec<Leaf>,
    nodes: Vec<Node>,
    root: u32,
    root_is_leaf: bool,
    first_leaf: u32,
    last_leaf: u32,
    /// The leaf of the last lookup and the visible position it starts at.
    /// Edits only touch the leaf they looked up (and leaves after it), so
    /// the start stays right until a lookup elsewhere replaces it.
    cached: Option<(u32, u64)>,
}

impl Default for ItemTree {
    fn default() -> Self {
        ItemTree {
            leaves: vec![Leaf {
                pieces: Vec::with_capacity(LEAF_MAX + 1),
                visible: 0,
                parent: NONE,
                next: NONE,
                prev: NONE,
            }],
            nodes: Vec::new(),
            root: 0,
            root_is_leaf: true,
            first_leaf: 0,
            last_leaf: 0,
            cached: None,
        }
    }
}

impl ItemTree {
    /// Visible items in the whole document.
    pub(crate) fn visible_len(&self) -> u64 {
        if self.root_is_leaf {
            self.leaves[self.root as usize].visible
        } else {
            self.nodes[self.root as usize].visible.iter().sum()
        }
    }

    pub(crate) fn leaf(&self, leaf: u32) -> &Leaf {
        &self.leaves[leaf as usize]
    }

    pub(crate) fn last_leaf(&self) -> u32 {
        self.last_leaf
    }

    /// Shifts the cached leaf's start by `delta` visible items inserted or
    /// deleted before it.
    pub(crate) fn shift_cache(&mut self, delta: i64) {
        if let Some((_, start)) = &mut self.cached {
            *start = start.wrapping_add_signed(delta);
        }
    }

    /// The piece before `(leaf, index)` in document order.
    pub(crate) fn previous_piece(&self, leaf: u32, index: usize) -> Option<(u32, usize)> {
        if index > 0 {
            return Some((leaf, index - 1));
        }
        let mut leaf = self.leaves[leaf as usize].prev;
        while leaf != NONE {
            let count = self.leaves[leaf as usize].pieces.len();
            if count > 0 {
                return Some((leaf, count - 1));
            }
            leaf = self.leaves[leaf as usize].prev;
        }
        None
    }

    /// The last piece of the document.
    pub(crate) fn last_piece(&self) -> Option<(u32, usize)> {
        let count = self.leaves[self.last_leaf as usize].pieces.len();
        if count > 0 {
            Some((self.last_leaf, count - 1))
        } else {
            self.previous_piece(self.last_leaf, 0)
        }
    }

    pub(crate) fn piece(&self, leaf: u32, index: usize) -> &Piece {
        &self.leaves[leaf as usize].pieces[index]
    }

    pub(crate) fn piece_mut(&mut self, leaf: u32, index: usize) -> &mut Piece {
        &mut self.leaves[leaf as usize].pieces[index]
    }

    /// How many leaves and pieces (for statistics).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let pieces = self.leaves.iter().map(|leaf| leaf.pieces.len()).sum();
        (self.leaves.len(), pieces)
    }

    /// Forgets the cached lookup (after edits away from it).
    pub(crate) fn forget_cache(&mut self) {
        self.cached = None;
    }

    /// The leaf holding the `k`-th visible item (`k < visible_len`) and the
    /// visible position the leaf starts at, by a walk from the root.
    fn descend(&self, k: u64) -> (u32, u64) {
        let mut start = 0;
        let mut remaining = k;
        let mut node = self.root;
        let mut is_leaf = self.root_is_leaf;
        while !is_leaf {
            let current = &self.nodes[node as usize];
            let mut chosen = current.children.len() - 1;
            for (index, count) in current.visible.iter().enumerate() {
                if remaining < *count {
                    chosen = index;
                    break;
                }
                remaining -= *count;
                start += *count;
            }
            is_leaf = current.leaf_children;
            node = current.children[chosen];
        }
        (node, start)
    }

    /// The piece and offset of the `k`-th visible item within `leaf`,
    /// which starts at visible position `start`.
    fn within_leaf(&self, leaf: u32, start: u64, k: u64) -> Cursor {
        let mut remaining = k - start;
        for (index, piece) in self.leaves[leaf as usize].pieces.iter().enumerate() {
            let visible = piece.visible();
            if remaining < visible {
                return Cursor {
                    leaf,
                    index,
                    offset: remaining as u32,
                };
            }
            remaining -= visible;
        }
        unreachable!("the leaf's visible count covers k")
    }

    /// Where the `k`-th visible item is (`k < visible_len`), remembering
    /// the leaf for the next lookup (edits cluster).
    pub(crate) fn find_visible(&mut self, k: u64) -> Cursor {
        if let Some((leaf, start)) = self.cached {
            let visible = self.leaves[leaf as usize].visible;
            if k >= start && k < start + visible {
                return self.within_leaf(leaf, start, k);
            }
        }
        let (leaf, start) = self.descend(k);
        self.cached = Some((leaf, start));
        self.within_leaf(leaf, start, k)
    }

    /// Where the `k`-th visible item is (`k < visible_len`), without
    /// touching the cache.
    pub(crate) fn locate_visible(&self, k: u64) -> Cursor {
        let (leaf, start) = self.descend(k);
        self.within_leaf(leaf, start, k)
    }

    /// Adds `delta` to the visible count of `leaf` and its ancestors.
    pub(crate) fn add_visible(&mut self, leaf: u32, delta: i64) {
        let apply = |count: &mut u64| *count = count.wrapping_add_signed(delta);
        apply(&mut self.leaves[leaf as usize].visible);
        let mut child = leaf;
        let mut parent = self.leaves[leaf as usize].parent;
        while parent != NONE {
            let node = &mut self.nodes[parent as usize];
            let index = node
                .children
                .iter()
                .position(|c| *c == child)
                .unwrap_or_default();
            apply(&mut node.visible[index]);
            child = parent;
            parent = node.parent;
        }
    }

    /// The next piece after `(leaf, index)` in document order.
    pub(crate) fn next_piece(&self, leaf: u32, index: usize) -> Option<(u32, usize)> {
        let mut leaf = leaf;
        let mut index = index + 1;
        loop {
            if index < self.leaves[leaf as usize].pieces.len() {
                return Some((leaf, index));
            }
            leaf = self.leaves[leaf as usize].next;
            if leaf == NONE {
                return None;
            }
            index = 0;
        }
    }

    /// The first piece of the document.
    pub(crate) fn first_piece(&self) -> Option<(u32, usize)> {
        let mut leaf = self.first_leaf;
        loop {
            if !self.leaves[leaf as usize].pieces.is_empty() {
                return Some((leaf, 0));
            }
            leaf = self.leaves[leaf as usize].next;
            if leaf == NONE {
                return None;
            }
        }
    }

    /// Every piece, in document order.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = &Piece> + '_ {
        let mut leaf = self.first_leaf;
        std::iter::from_fn(move || {
            if leaf == NONE {
                return None;
            }
            let current = &self.leaves[leaf as usize];
            leaf = current.next;
            Some(current.pieces.iter())
        })
        .flatten()
    }

    /// Splits the piece at `(leaf, index)` so that a piece starts at
    /// `offset` (`0 < offset < len`); the second half goes right after it.
    /// Returns the split of the leaf, if it overflowed.
    pub(crate) fn split_piece(
        &mut self,
        leaf: u32,
        index: usize,
        offset: u32,
    ) -> Option<LeafSplit> {
        let pieces = &mut self.leaves[leaf as usize].pieces;
        let first = pieces[index];
        pieces[index].len = offset;
        let second = Piece {
            agent: first.agent,
            seq: first.seq + offset,
            len: first.len - offset,
            deleted: first.deleted,
        };
        pieces.insert(index + 1, second);
        self.split_leaf_if_full(leaf)
    }

    /// Removes the piece at `(leaf, index)`, uncounting its visible items.
    pub(crate) fn remove_piece(&mut self, leaf: u32, index: usize) -> Piece {
        let piece = self.leaves[leaf as usize].pieces.remove(index);
        let visible = piece.visible();
        if visible > 0 {
            self.add_visible(leaf, -(visible as i64));
        }
        piece
    }

    /// Inserts `piece` at `index` of `leaf` and counts its visible items.
    /// Returns the split of the leaf, if it overflowed.
    pub(crate) fn insert_piece(
        &mut self,
        leaf: u32,
        index: usize,
        piece: Piece,
    ) -> Option<LeafSplit> {
        self.leaves[leaf as usize].pieces.insert(index, piece);
        let visible = piece.visible();
        if visible > 0 {
            self.add_visible(leaf, visible as i64);
        }
        self.split_leaf_if_full(leaf)
    }

    fn split_leaf_if_full(&mut self, leaf: u32) -> Option<LeafSplit> {
        if self.leaves[leaf as usize].pieces.len() <= LEAF_MAX {
            return None;
        }
        let new_leaf = self.leaves.len() as u32;
        let half = self.leaves[leaf as usize].pieces.len() / 2;
        let mut moved = Vec::with_capacity(LEAF_MAX + 1);
        moved.extend(self.leaves[leaf as usize].pieces.drain(half..));
        let moved_visible: u64 = moved.iter().map(Piece::visible).sum();
        let old = &mut self.leaves[leaf as usize];
        old.visible -= moved_visible;
        let next = old.next;
        old.next = new_leaf;
        let parent = old.parent;
        self.leaves.push(Leaf {
            pieces: moved,
            visible: moved_visible,
            parent,
            next,
            prev: leaf,
        });
        if next != NONE {
            self.leaves[next as usize].prev = new_leaf;
        } else {
            self.last_leaf = new_leaf;
        }
        self.insert_child_after(parent, leaf, new_leaf, moved_visible, true);
        Some(LeafSplit { new_leaf })
    }

    /// Inserts `new_child` after `child` in `parent` (or grows a new root),
    /// moving `new_visible` from `child`'s count to `new_child`'s.
    fn insert_child_after(
        &mut self,
        parent: u32,
        child: u32,
        new_child: u32,
        new_visible: u64,
        leaf_children: bool,
    ) {
        if parent == NONE {
            // The root split: a new root over the two halves.
            let old_visible = if leaf_children {
                self.leaves[child as usize].visible
            } else {
                self.nodes[child as usize].visible.iter().sum()
            };
            let root = self.nodes.len() as u32;
            self.nodes.push(Node {
                children: vec![child, new_child],
                visible: vec![old_visible, new_visible],
                parent: NONE,
                leaf_children,
            });
            self.set_parent(child, root, leaf_children);
            self.set_parent(new_child, root, leaf_children);
            self.root = root;
            self.root_is_leaf = false;
            return;
        }
        let node = &mut self.nodes[parent as usize];
        let index = node
            .children
            .iter()
            .position(|c| *c == child)
            .unwrap_or_default();
        node.visible[index] -= new_visible;
        node.children.insert(index + 1, new_child);
        node.visible.insert(index + 1, new_visible);
        self.set_parent(new_child, parent, leaf_children);
        if self.nodes[parent as usize].children.len() > NODE_MAX {
            self.split_node(parent);
        }
    }

    fn set_parent(&mut self, child: u32, parent: u32, is_leaf: bool) {
        if is_leaf {
            self.leaves[child as usize].parent = parent;
        } else {
            self.nodes[child as usize].parent = parent;
        }
    }

    fn split_node(&mut self, node: u32) {
        let new_node = self.nodes.len() as u32;
        let current = &mut self.nodes[node as usize];
        let half = current.children.len() / 2;
        let children: Vec<u32> = current.children.drain(half..).collect();
        let visible: Vec<u64> = current.visible.drain(half..).collect();
        let moved_visible = visible.iter().sum();
        let leaf_children = current.leaf_children;
        let parent = current.parent;
        for child in &children {
            self.set_parent(*child, new_node, leaf_children);
        }
        self.nodes.push(Node {
            children,
            visible,
            parent,
            leaf_children,
        });
        self.insert_child_after(parent, node, new_node, moved_visible, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(seq: u32, len: u32, deleted: bool) -> Piece {
        Piece {
            agent: 0,
            seq,
            len,
            deleted,
        }
    }

    #[test]
    fn positions_survive_many_splits() {
        let mut tree = ItemTree::default();
        // Insert 2,000 one-item pieces, alternately live and deleted, each at
        // the front, so leaves and nodes split many times.
        for seq in 0..2_000u32 {
            tree.insert_piece(tree.first_leaf, 0, piece(seq, 1, seq % 2 == 1));
            tree.forget_cache();
        }
        assert_eq!(tree.visible_len(), 1_000);
        let order: Vec<u32> = tree.pieces().map(|p| p.seq).collect();
        let expected: Vec<u32> = (0..2_000).rev().collect();
        assert_eq!(order, expected);
        for k in [0u64, 1, 499, 998, 999] {
            let cursor = tree.find_visible(k);
            assert_eq!(cursor, tree.locate_visible(k));
            let piece = tree.piece(cursor.leaf, cursor.index);
            assert!(!piece.deleted);
            // Live pieces are the even seqs, in reverse: k-th is 1998 - 2k.
            assert_eq!(piece.seq, 1_998 - 2 * k as u32);
        }
    }
}

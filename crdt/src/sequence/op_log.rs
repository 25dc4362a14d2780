//! Each agent's history of operations in a sequence: what it inserted
//! (with the origins each run was typed between, and the values), what it
//! deleted, and where each of its items lives in the item tree.

use tessera_core::NodeId;

use super::item_tree::NONE;

/// An item, as `(agent index, sequence number)` packed in a `u64`.
pub(crate) type ItemRef = u64;

/// No item: the start (as a left origin) or end (as a right origin) of the
/// document.
pub(crate) const NO_ITEM: ItemRef = u64::MAX;

#[inline]
pub(crate) fn item(agent: u32, seq: u32) -> ItemRef {
    (u64::from(agent) << 32) | u64::from(seq)
}

#[inline]
pub(crate) fn item_agent(item: ItemRef) -> u32 {
    (item >> 32) as u32
}

#[inline]
pub(crate) fn item_seq(item: ItemRef) -> u32 {
    item as u32
}

/// A run of one agent's operations with consecutive sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogRun {
    /// Items `seq..seq + len`, typed in order: the first after
    /// `origin_left` and before `origin_right`, each next one right after
    /// the previous; values from `content_start` in the agent's content.
    Insert {
        seq: u32,
        len: u32,
        content_start: u32,
        origin_left: ItemRef,
        origin_right: ItemRef,
    },
    /// Deletions `seq..seq + len`: the `i`-th deletes item
    /// `target_start ± i` of `target_agent`.
    Delete {
        seq: u32,
        len: u32,
        target_agent: u32,
        target_start: u32,
        forward: bool,
    },
}

impl LogRun {
    #[inline]
    pub(crate) fn seq(&self) -> u32 {
        match self {
            LogRun::Insert { seq, .. } | LogRun::Delete { seq, .. } => *seq,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> u32 {
        match self {
            LogRun::Insert { len, .. } | LogRun::Delete { len, .. } => *len,
        }
    }
}

/// One agent of a sequence.
#[derive(Debug, Clone)]
pub(crate) struct AgentLog<T> {
    pub(crate) node: NodeId,
    /// Operations `1..=applied` are applied.
    pub(crate) applied: u32,
    /// For operation `s`, at index `s − 1`: the leaf holding item `s`, or
    /// [`NONE`] for a deletion.
    pub(crate) leaf_of: Vec<u32>,
    pub(crate) runs: Vec<LogRun>,
    pub(crate) content: Vec<T>,
}

impl<T> AgentLog<T> {
    pub(crate) fn new(node: NodeId) -> Self {
        AgentLog {
            node,
            applied: 0,
            leaf_of: Vec::new(),
            runs: Vec::new(),
            content: Vec::new(),
        }
    }

    /// The run holding operation `seq` (`1 ≤ seq ≤ applied`).
    #[inline]
    pub(crate) fn run_index(&self, seq: u32) -> usize {
        match self.runs.last() {
            Some(last) if last.seq() <= seq => self.runs.len() - 1,
            _ => self.runs.partition_point(|run| run.seq() <= seq) - 1,
        }
    }

    /// Whether operation `seq` was applied and is an insert.
    pub(crate) fn is_item(&self, seq: u32) -> bool {
        seq >= 1 && seq <= self.applied && self.leaf_of[seq as usize - 1] != NONE
    }

    /// Whether items `first..=last` were all applied and are all items.
    pub(crate) fn are_items(&self, first: u32, last: u32) -> bool {
        first >= 1
            && last <= self.applied
            && self.leaf_of[first as usize - 1..last as usize]
                .iter()
                .all(|leaf| *leaf != NONE)
    }

    /// The origins of item `seq`: its left origin (the previous item for
    /// all but the first of a run) and its run's right origin.
    pub(crate) fn origins(&self, agent: u32, seq: u32) -> (ItemRef, ItemRef) {
        match self.runs[self.run_index(seq)] {
            LogRun::Insert {
                seq: start,
                origin_left,
                origin_right,
                ..
            } => {
                let left = if seq == start {
                    origin_left
                } else {
                    item(agent, seq - 1)
                };
                (left, origin_right)
            }
            LogRun::Delete { .. } => (NO_ITEM, NO_ITEM),
        }
    }

    /// Whether item `seq` starts its insert run (its left origin is not
    /// simply the previous item).
    pub(crate) fn starts_run(&self, seq: u32) -> bool {
        self.runs[self.run_index(seq)].seq() == seq
    }

    /// The value of item `seq`.
    pub(crate) fn value(&self, seq: u32) -> &T {
        let index = self.content_index(seq);
        &self.content[index]
    }

    /// The values of items `seq..seq + len` (all in one insert run).
    pub(crate) fn values(&self, seq: u32, len: u32) -> &[T] {
        let index = self.content_index(seq);
        &self.content[index..index + len as usize]
    }

    fn content_index(&self, seq: u32) -> usize {
        match self.runs[self.run_index(seq)] {
            LogRun::Insert {
                seq: start,
                content_start,
                ..
            } => (content_start + (seq - start)) as usize,
            LogRun::Delete { .. } => unreachable!("content of a deletion"),
        }
    }

    /// Records an insert run `seq..seq + len` (values already pushed),
    /// extending the last run when it continues it.
    pub(crate) fn log_insert(
        &mut self,
        seq: u32,
        len: u32,
        content_start: u32,
        origin_left: ItemRef,
        origin_right: ItemRef,
        own_agent: u32,
    ) {
        if let Some(LogRun::Insert {
            seq: last_seq,
            len: last_len,
            origin_right: last_right,
            ..
        }) = self.runs.last_mut()
            && *last_seq + *last_len == seq
            && origin_left == item(own_agent, seq - 1)
            && origin_right == *last_right
        {
            *last_len += len;
            return;
        }
        self.runs.push(LogRun::Insert {
            seq,
            len,
            content_start,
            origin_left,
            origin_right,
        });
    }

    /// Records deletions `seq..seq + len` of `target_agent`'s items from
    /// `target_start` (forward) or down from it, extending the last run
    /// when it continues it (typing backspace repeatedly is one run).
    pub(crate) fn log_delete(
        &mut self,
        seq: u32,
        len: u32,
        target_agent: u32,
        target_start: u32,
        forward: bool,
    ) {
        if let Some(LogRun::Delete {
            seq: last_seq,
            len: last_len,
            target_agent: last_agent,
            target_start: last_start,
            forward: last_forward,
        }) = self.runs.last_mut()
            && *last_seq + *last_len == seq
            && *last_agent == target_agent
        {
            let continues_forward = (*last_forward || *last_len == 1)
                && forward
                && *last_start + *last_len == target_start;
            let continues_backward = (!*last_forward || *last_len == 1)
                && len == 1
                && (*last_start).checked_sub(*last_len) == Some(target_start);
            if continues_forward {
                *last_forward = true;
                *last_len += len;
                return;
            }
            if continues_backward {
                *last_forward = false;
                *last_len += 1;
                return;
            }
        }
        self.runs.push(LogRun::Delete {
            seq,
            len,
            target_agent,
            target_start,
            forward,
        });
    }
}

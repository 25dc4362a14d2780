//! The Wing–Gong search with Lowe's memoisation, over one partition.
//!
//! Events (invocations and completions) sit in a doubly linked list in time
//! order. The search walks the list: at an invocation it tries to
//! linearize that operation now — apply it to the model state, remove its
//! two events from the list, push it on a stack — and restarts from the
//! head; at a completion it has met an operation that had to be linearized
//! already, so it backtracks. A set of (linearized operations, state)
//! configurations already explored prunes repeated work. Operations whose
//! outcome is unknown complete at the end of time, so they may be
//! linearized anywhere after their invocation (or, in effect, never).

use std::collections::HashSet;

use tessera_core::Instant;

use super::Model;

/// One operation of the partition, ready for the search.
pub(super) struct PartitionOp<'a, M: Model> {
    pub(super) input: &'a M::Input,
    /// `None` when the outcome is unknown.
    pub(super) output: Option<&'a M::Output>,
    pub(super) invoked_at: Instant,
    /// [`Instant::MAX`] when the outcome is unknown.
    pub(super) completed_at: Instant,
}

/// How a search over one partition ended.
pub(super) enum SearchOutcome {
    /// A valid order exists.
    Linearizable { states: u64 },
    /// None exists. `linearized` is the largest number of operations any
    /// explored order got through; `stuck` is the operation whose
    /// completion was reached without it being linearized at that depth.
    NotLinearizable {
        states: u64,
        linearized: usize,
        stuck: usize,
    },
    /// The state budget ran out first.
    GaveUp { states: u64 },
}

const NIL: usize = usize::MAX;

#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_completion: bool,
}

/// A set of operation indexes, hashable for the memo.
#[derive(Clone, PartialEq, Eq, Hash)]
struct OpSet(Vec<u64>);

impl OpSet {
    fn new(len: usize) -> Self {
        OpSet(vec![0; len.div_ceil(64)])
    }
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn remove(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// The event list: node 0 is the head sentinel, event `e` is node `e + 1`.
struct EventList {
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl EventList {
    fn new(len: usize) -> Self {
        let nodes = len + 1;
        let next = (0..nodes)
            .map(|n| if n + 1 < nodes { n + 1 } else { NIL })
            .collect();
        let prev = (0..nodes).map(|n| n.wrapping_sub(1)).collect();
        EventList { next, prev }
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    /// Undoes `unlink(node)`; calls must mirror the unlinks in reverse.
    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }
}

pub(super) fn search<M: Model>(
    model: &M,
    ops: &[PartitionOp<'_, M>],
    state_limit: u64,
) -> SearchOutcome {
    // Invocations sort before completions at the same instant, so touching
    // operations count as concurrent.
    let mut events: Vec<Event> = Vec::with_capacity(ops.len() * 2);
    for (op, _) in ops.iter().enumerate() {
        events.push(Event {
            op,
            is_completion: false,
        });
        events.push(Event {
            op,
            is_completion: true,
        });
    }
    let time = |e: &Event| {
        if e.is_completion {
            ops[e.op].completed_at
        } else {
            ops[e.op].invoked_at
        }
    };
    events.sort_by_key(|e| (time(e), e.is_completion, e.op));
    let mut completion_node = vec![0; ops.len()];
    for (index, event) in events.iter().enumerate() {
        if event.is_completion {
            completion_node[event.op] = index + 1;
        }
    }

    let mut list = EventList::new(events.len());
    let mut linearized = OpSet::new(ops.len());
    let mut memo: HashSet<(OpSet, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut node = list.next[0];
    let mut states: u64 = 0;
    let (mut deepest, mut stuck) = (0, 0);

    while list.next[0] != NIL {
        states += 1;
        if states > state_limit {
            return SearchOutcome::GaveUp { states };
        }
        let event = if node == NIL {
            None
        } else {
            Some(events[node - 1])
        };
        match event {
            Some(Event {
                op,
                is_completion: false,
            }) => {
                let entry = &ops[op];
                if let Some(next_state) = model.step(&state, entry.input, entry.output) {
                    linearized.insert(op);
                    if memo.insert((linearized.clone(), next_state.clone())) {
                        stack.push((node, std::mem::replace(&mut state, next_state)));
                        list.unlink(node);
                        list.unlink(completion_node[op]);
                        node = list.next[0];
                        continue;
                    }
                    linearized.remove(op);
                }
                node = list.next[node];
            }
            completion => {
                if let Some(Event { op, .. }) = completion
                    && stack.len() >= deepest
                {
                    deepest = stack.len();
                    stuck = op;
                }
                let Some((call_node, previous)) = stack.pop() else {
                    return SearchOutcome::NotLinearizable {
                        states,
                        linearized: deepest,
                        stuck,
                    };
                };
                let op = events[call_node - 1].op;
                linearized.remove(op);
                state = previous;
                list.relink(completion_node[op]);
                list.relink(call_node);
                node = list.next[call_node];
            }
        }
    }
    SearchOutcome::Linearizable { states }
}

//! Test support: a hand-driven network for scenario tests, and the bridge
//! that lets the simulator check the crate's invariants.

#![allow(dead_code, unreachable_pub)]

pub mod kv;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tessera_core::{
    Action, DurableState, Input, Instant, Invariant, ModeTransition, NodeId, PersistId, Protocol,
    RequestId, Violation,
};
use tessera_paxos::invariants::{ClusterView, ReplicaView};
use tessera_sim::Cluster;

/// One invariant over [`ClusterView`], as the boxed set below holds it.
pub type ViewInvariant<P, D> = Box<dyn for<'a> Invariant<ClusterView<'a, P, D>>>;

/// Lets the simulator check invariants written over [`ClusterView`]: the
/// view is built once per step and every invariant checks it.
pub struct OnCluster<P, D> {
    invariants: Vec<ViewInvariant<P, D>>,
}

impl<P, D> OnCluster<P, D> {
    pub fn new() -> Self {
        OnCluster {
            invariants: Vec::new(),
        }
    }

    pub fn with(
        mut self,
        invariant: impl for<'a> Invariant<ClusterView<'a, P, D>> + 'static,
    ) -> Self {
        self.invariants.push(Box::new(invariant));
        self
    }
}

impl<P, D> Invariant<Cluster<P, D>> for OnCluster<P, D>
where
    P: Protocol,
{
    fn name(&self) -> &'static str {
        "PAXOS SAFETY"
    }

    fn check(&mut self, cluster: &Cluster<P, D>) -> Result<(), Violation> {
        let view = ClusterView {
            now: cluster.now(),
            replicas: cluster
                .nodes()
                .map(|v| ReplicaView {
                    id: v.id,
                    node: v.node,
                    durable: v.durable,
                    incarnation: v.incarnation,
                })
                .collect(),
        };
        for invariant in &mut self.invariants {
            invariant.check(&view)?;
        }
        Ok(())
    }
}

type BootFn<P, D> = Box<dyn FnMut(NodeId, &D, u64) -> P>;

/// A message in flight.
pub struct Envelope<M> {
    pub from: NodeId,
    pub to: NodeId,
    pub message: M,
}

/// A hand-driven cluster: messages wait in a queue until delivered (all,
/// one by one, or dropped by a filter), writes become durable at once or
/// when told, nodes crash (losing what is not durable) and restart from
/// their disks.
pub struct Net<P: Protocol, D> {
    pub nodes: BTreeMap<NodeId, Option<P>>,
    pub disks: BTreeMap<NodeId, D>,
    pending: BTreeMap<NodeId, Vec<(PersistId, P::Write)>>,
    pub queue: VecDeque<Envelope<P::Message>>,
    pub replies: Vec<(NodeId, RequestId, P::Response)>,
    pub modes: Vec<(NodeId, ModeTransition<P::Mode>)>,
    pub now: Instant,
    /// Writes are durable the moment they are emitted.
    pub instant_disk: bool,
    /// Links that drop everything, by (from, to).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    boot: BootFn<P, D>,
    incarnations: BTreeMap<NodeId, u64>,
    next_request: u64,
}

impl<P, D> Net<P, D>
where
    P: Protocol,
    D: DurableState<P::Write>,
{
    pub fn new(ids: &[NodeId], mut boot: impl FnMut(NodeId, &D, u64) -> P + 'static) -> Self {
        let mut nodes = BTreeMap::new();
        let mut disks = BTreeMap::new();
        for id in ids {
            let disk = D::default();
            nodes.insert(*id, Some(boot(*id, &disk, 0)));
            disks.insert(*id, disk);
        }
        Net {
            nodes,
            disks,
            pending: BTreeMap::new(),
            queue: VecDeque::new(),
            replies: Vec::new(),
            modes: Vec::new(),
            now: Instant::ZERO,
            instant_disk: true,
            cut: BTreeSet::new(),
            boot: Box::new(boot),
            incarnations: BTreeMap::new(),
            next_request: 1,
        }
    }

    pub fn node(&self, id: NodeId) -> &P {
        self.nodes[&id].as_ref().expect("node is up")
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut P {
        self.nodes
            .get_mut(&id)
            .and_then(Option::as_mut)
            .expect("node is up")
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(Option::is_some)
    }

    /// Hands `input` to `id` and performs what it asks.
    pub fn input(&mut self, id: NodeId, input: Input<P::Message, P::Request>) {
        let now = self.now;
        let Some(Some(node)) = self.nodes.get_mut(&id) else {
            return;
        };
        let mut out = Vec::new();
        node.handle(now, input, &mut out);
        let mut confirm = None;
        for action in out {
            match action {
                Action::Send { to, message } => self.queue.push_back(Envelope {
                    from: id,
                    to,
                    message,
                }),
                Action::Persist {
                    id: write_id,
                    write,
                } => {
                    if self.instant_disk {
                        self.disks.get_mut(&id).expect("disk").apply(write);
                        confirm = Some(write_id);
                    } else {
                        self.pending.entry(id).or_default().push((write_id, write));
                    }
                }
                Action::Reply {
                    id: request,
                    response,
                } => self.replies.push((id, request, response)),
                Action::ModeChanged(transition) => self.modes.push((id, transition)),
            }
        }
        if let Some(up_to) = confirm {
            self.input(id, Input::Persisted { up_to });
        }
    }

    /// Makes `id`'s pending writes durable and tells it.
    pub fn sync(&mut self, id: NodeId) {
        let writes = self.pending.remove(&id).unwrap_or_default();
        let Some(up_to) = writes.last().map(|(write_id, _)| *write_id) else {
            return;
        };
        for (_, write) in writes {
            self.disks.get_mut(&id).expect("disk").apply(write);
        }
        self.input(id, Input::Persisted { up_to });
    }

    /// How many writes `id` has not made durable yet.
    pub fn pending_count(&self, id: NodeId) -> usize {
        self.pending.get(&id).map_or(0, Vec::len)
    }

    /// Makes only the first `count` pending writes of `id` durable, and
    /// does not tell it (a crash is coming).
    pub fn sync_prefix(&mut self, id: NodeId, count: usize) {
        let Some(writes) = self.pending.get_mut(&id) else {
            return;
        };
        let count = count.min(writes.len());
        let durable: Vec<_> = writes.drain(..count).collect();
        for (_, write) in durable {
            self.disks.get_mut(&id).expect("disk").apply(write);
        }
    }

    pub fn request(&mut self, id: NodeId, request: P::Request) -> RequestId {
        let request_id = RequestId(self.next_request);
        self.next_request += 1;
        self.input(
            id,
            Input::Request {
                id: request_id,
                request,
            },
        );
        request_id
    }

    /// Delivers the next message in the queue (dropped if its link is cut
    /// or its receiver down). Returns false when the queue is empty.
    pub fn deliver_one(&mut self) -> bool {
        let Some(envelope) = self.queue.pop_front() else {
            return false;
        };
        if self.cut.contains(&(envelope.from, envelope.to)) {
            return true;
        }
        self.input(
            envelope.to,
            Input::Message {
                from: envelope.from,
                message: envelope.message,
            },
        );
        true
    }

    /// Delivers until the queue is empty (bounded).
    pub fn deliver_all(&mut self) {
        for _ in 0..1_000_000 {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("the network did not quiesce");
    }

    /// Delivers, in order, the queued messages matching `pred` (and those
    /// they cause that also match), leaving the others queued.
    pub fn deliver_where(&mut self, mut pred: impl FnMut(&Envelope<P::Message>) -> bool) {
        for _ in 0..1_000_000 {
            let Some(position) = self.queue.iter().position(&mut pred) else {
                return;
            };
            let envelope = self.queue.remove(position).expect("position is in range");
            if self.cut.contains(&(envelope.from, envelope.to)) {
                continue;
            }
            self.input(
                envelope.to,
                Input::Message {
                    from: envelope.from,
                    message: envelope.message,
                },
            );
        }
        panic!("the network did not quiesce");
    }

    /// Every node as the invariants see it.
    pub fn view(&self) -> ClusterView<'_, P, D> {
        ClusterView {
            now: self.now,
            replicas: self
                .nodes
                .iter()
                .map(|(id, node)| ReplicaView {
                    id: *id,
                    node: node.as_ref(),
                    durable: &self.disks[id],
                    incarnation: self.incarnations.get(id).copied().unwrap_or(0),
                })
                .collect(),
        }
    }

    /// Drops every queued message matching `pred`.
    pub fn drop_where(&mut self, mut pred: impl FnMut(&Envelope<P::Message>) -> bool) {
        self.queue.retain(|e| !pred(e));
    }

    /// Moves time forward by `by`, ticking every node whose deadline passed
    /// (in id order), and delivering messages after each tick.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        self.deliver_all();
        loop {
            let next = self
                .nodes
                .values()
                .filter_map(|n| n.as_ref().and_then(Protocol::next_deadline))
                .filter(|d| *d <= until)
                .min();
            let Some(at) = next else { break };
            // Timers fire no sooner than a microsecond after now, as in
            // the simulator: a deadline in the past cannot spin.
            let at = at.max(self.now + Duration::from_micros(1));
            if at > until {
                break;
            }
            self.now = at;
            let due: Vec<NodeId> = self
                .nodes
                .iter()
                .filter(|(_, n)| {
                    n.as_ref()
                        .and_then(Protocol::next_deadline)
                        .is_some_and(|d| d <= self.now)
                })
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                self.input(id, Input::Tick);
            }
            self.deliver_all();
        }
        self.now = until;
    }

    /// Runs `steps` rounds of `advance(step)`.
    pub fn run(&mut self, step: Duration, steps: usize) {
        for _ in 0..steps {
            self.advance(step);
        }
    }

    /// Crashes `id`: its live state and non-durable writes are lost, and
    /// messages to it vanish.
    pub fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        self.pending.remove(&id);
        self.queue.retain(|e| e.to != id);
    }

    /// Restarts `id` from its disk.
    pub fn restart(&mut self, id: NodeId) {
        let incarnation = self.incarnations.entry(id).or_default();
        *incarnation += 1;
        let node = (self.boot)(id, &self.disks[&id], *incarnation);
        self.nodes.insert(id, Some(node));
        self.input(id, Input::Tick);
    }

    /// The replies `id` gave, in order.
    pub fn replies_of(&self, id: NodeId) -> Vec<&P::Response> {
        self.replies
            .iter()
            .filter(|(n, _, _)| *n == id)
            .map(|(_, _, r)| r)
            .collect()
    }

    pub fn reply_to(&self, request: RequestId) -> Option<&P::Response> {
        self.replies
            .iter()
            .find(|(_, r, _)| *r == request)
            .map(|(_, _, response)| response)
    }
}

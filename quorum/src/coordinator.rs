//! The coordinator's side of a request: choosing replicas, versioning a
//! write, counting acknowledgements and replies, session checks, read
//! repair, retries and sloppy stand-ins.

use tessera_core::{Action, ActionOf, Instant, NodeId, RequestId};
use tessera_vclock::{Dot, DottedVersionVector, VersionVector};

use crate::{
    Key, ReadResult, Replica, ReplicaConfig, ReplicaMessage, ReplicaResponse, ReplicaWrite,
    ReplicatedValue, RequestOptions, Version, VersionedObject,
};

/// Actor epochs reserved on disk at a time: one durable write per this
/// many fresh actors.
const EPOCH_BLOCK: u32 = 64;

/// The actor of `node`'s `epoch`.
pub(crate) const fn actor(node: NodeId, epoch: u32) -> NodeId {
    (node << 32) | epoch as NodeId
}

/// The node an actor belongs to.
pub(crate) const fn actor_node(actor: NodeId) -> NodeId {
    actor >> 32
}

/// One replica a request was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) node: NodeId,
    /// The home replica it stands in for, if a fallback.
    pub(crate) hint_for: Option<NodeId>,
    pub(crate) answered: bool,
}

/// A write waiting for acknowledgements.
#[derive(Debug, Clone)]
pub(crate) struct PendingWrite<V> {
    client: RequestId,
    key: Key,
    version: Version<V>,
    /// What is sent: the coordinator's object with the new version.
    object: VersionedObject<V>,
    options: RequestOptions,
    targets: Vec<Target>,
    replied: bool,
    started: Instant,
    last_sent: Instant,
}

/// A read waiting for replies.
#[derive(Debug, Clone)]
pub(crate) struct PendingRead<V> {
    client: RequestId,
    key: Key,
    options: RequestOptions,
    session: Option<VersionVector>,
    targets: Vec<Target>,
    replies: Vec<(NodeId, VersionedObject<V>)>,
    /// What purged tombstones at the repliers had deleted.
    purged: VersionVector,
    replied: bool,
    started: Instant,
    last_sent: Instant,
}

fn next_deadline(
    config: &ReplicaConfig,
    started: Instant,
    last_sent: Instant,
    waiting: bool,
) -> Instant {
    let timeout = started.saturating_add(config.request_timeout);
    if waiting {
        timeout.min(last_sent.saturating_add(config.retry_interval))
    } else {
        timeout
    }
}

impl<V> PendingWrite<V> {
    fn acknowledgements(&self) -> usize {
        self.targets.iter().filter(|t| t.answered).count()
    }

    pub(crate) fn next_deadline(&self, config: &ReplicaConfig) -> Instant {
        let waiting = self.targets.iter().any(|t| !t.answered);
        next_deadline(config, self.started, self.last_sent, waiting)
    }
}

impl<V> PendingRead<V> {
    pub(crate) fn next_deadline(&self, config: &ReplicaConfig) -> Instant {
        let waiting = self.targets.iter().any(|t| !t.answered);
        next_deadline(config, self.started, self.last_sent, waiting)
    }
}

impl<V: ReplicatedValue> Replica<V> {
    /// The replicas a request for `key` goes to: the first `n` home
    /// replicas, with fallbacks standing in for suspected ones when the
    /// request allows a sloppy quorum.
    fn choose_targets(&self, key: &[u8], options: RequestOptions) -> Vec<Target> {
        let walk = self.ring.walk(key);
        let homes = &walk[..options.n.min(walk.len())];
        let mut spares = walk[homes.len()..]
            .iter()
            .copied()
            .filter(|node| !self.is_suspected(*node));
        homes
            .iter()
            .map(|home| {
                let (node, hint_for) = if options.sloppy && self.is_suspected(*home) {
                    match spares.next() {
                        Some(spare) => (spare, Some(*home)),
                        None => (*home, None),
                    }
                } else {
                    (*home, None)
                };
                Target {
                    node,
                    hint_for,
                    answered: false,
                }
            })
            .collect()
    }

    /// A fallback for `home` not yet among `targets`, if any node is left.
    fn spare_for(&self, key: &[u8], targets: &[Target]) -> Option<NodeId> {
        self.ring
            .walk(key)
            .iter()
            .copied()
            .find(|node| !self.is_suspected(*node) && targets.iter().all(|t| t.node != *node))
    }

    /// The dot of a new write to `key` over `context`: the next event of
    /// this node's actor for the key when this node keeps the key in its
    /// own store (so it knows every earlier event of that actor), else the
    /// first event of a fresh epoch.
    fn next_dot(
        &mut self,
        key: &[u8],
        context: &VersionVector,
        stored_here: bool,
        out: &mut Vec<ActionOf<Self>>,
    ) -> Option<Dot> {
        if stored_here && let Some(object) = self.store.get(key) {
            let seen = object.context();
            let floor = actor(self.id, self.actor_floor);
            if let Some(own) = seen
                .actors()
                .filter(|actor| actor_node(*actor) == self.id && *actor >= floor)
                .max()
            {
                let counter = seen.get(own).max(context.get(own)).checked_add(1)?;
                return Some(Dot::new(own, counter));
            }
        }
        let epoch = self.next_epoch;
        self.next_epoch = epoch.checked_add(1)?;
        if epoch > self.epochs_reserved {
            self.epochs_reserved = epoch.saturating_add(EPOCH_BLOCK - 1);
            self.persist(ReplicaWrite::EpochsReserved(self.epochs_reserved), out);
        }
        let fresh = actor(self.id, epoch);
        Some(Dot::new(fresh, context.get(fresh).checked_add(1)?))
    }

    /// Versions a put (`Some`) or delete (`None`) and sends it to the
    /// replicas.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_write(
        &mut self,
        client: RequestId,
        key: Key,
        value: Option<V>,
        context: VersionVector,
        options: RequestOptions,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let targets = self.choose_targets(&key, options);
        let stored_here = targets
            .iter()
            .any(|t| t.node == self.id && t.hint_for.is_none());
        let clock = self
            .next_dot(&key, &context, stored_here, out)
            .ok_or_else(|| "this node's actor counters are exhausted".to_string())
            .and_then(|dot| {
                DottedVersionVector::new(dot, context)
                    .map_err(|error| format!("the context does not fit this write: {error}"))
            });
        let clock = match clock {
            Ok(clock) => clock,
            Err(reason) => {
                self.stats.requests_rejected += 1;
                out.push(Action::Reply {
                    id: client,
                    response: ReplicaResponse::Rejected { reason },
                });
                return;
            }
        };
        let version = Version { clock, value };
        let dot = version.dot();
        let op = self.rng.next_u64();
        // This node's own copy first. When it keeps the key, what goes out
        // is its whole object: every replica that gets the new event then
        // has every earlier event of this actor too.
        let mut object = VersionedObject::new();
        object.add(version.clone());
        if stored_here {
            self.store_object(&key, object.clone(), None, now, out);
            object = self.store.get(&key).cloned().unwrap_or(object);
        }
        for target in &targets {
            self.deliver_store(op, &key, dot, &object, target, now, out);
        }
        if targets.iter().any(|t| t.hint_for.is_some()) {
            self.stats.sloppy_writes += 1;
            self.mark_degraded(now, "a request used fallback replicas (sloppy quorum)");
        }
        self.writes.insert(
            op,
            PendingWrite {
                client,
                key,
                version,
                object,
                options,
                targets,
                replied: false,
                started: now,
                last_sent: now,
            },
        );
    }

    /// Sends a write to one target; this node stores its own copy at once
    /// and acknowledges it to itself once durable.
    #[allow(clippy::too_many_arguments)]
    fn deliver_store(
        &mut self,
        op: u64,
        key: &Key,
        dot: Dot,
        object: &VersionedObject<V>,
        target: &Target,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if target.node == self.id {
            self.store_object(key, object.clone(), target.hint_for, now, out);
            self.send(self.id, ReplicaMessage::StoreAck { op, dot }, out);
        } else {
            let message = ReplicaMessage::Store {
                op,
                key: key.clone(),
                dot,
                object: object.clone(),
                hint_for: target.hint_for,
            };
            self.send(target.node, message, out);
        }
    }

    pub(crate) fn on_store_ack(
        &mut self,
        from: NodeId,
        op: u64,
        dot: Dot,
        _now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let Some(write) = self.writes.get_mut(&op) else {
            return;
        };
        if write.version.dot() != dot {
            self.stats.messages_rejected += 1;
            return;
        }
        if let Some(target) = write
            .targets
            .iter_mut()
            .find(|t| t.node == from && !t.answered)
        {
            target.answered = true;
        }
        if !write.replied && write.acknowledgements() >= write.options.w {
            write.replied = true;
            out.push(Action::Reply {
                id: write.client,
                response: ReplicaResponse::Written {
                    version: write.version.clock.clone(),
                },
            });
        }
        if write.targets.iter().all(|t| t.answered) {
            self.writes.remove(&op);
        }
    }

    pub(crate) fn start_read(
        &mut self,
        client: RequestId,
        key: Key,
        options: RequestOptions,
        session: Option<VersionVector>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let targets = self.choose_targets(&key, options);
        let op = self.rng.next_u64();
        for target in &targets {
            self.deliver_fetch(op, &key, target.node, out);
        }
        if targets.iter().any(|t| t.hint_for.is_some()) {
            self.mark_degraded(now, "a request used fallback replicas (sloppy quorum)");
        }
        self.reads.insert(
            op,
            PendingRead {
                client,
                key,
                options,
                session,
                targets,
                replies: Vec::new(),
                purged: VersionVector::new(),
                replied: false,
                started: now,
                last_sent: now,
            },
        );
    }

    fn deliver_fetch(&mut self, op: u64, key: &Key, node: NodeId, out: &mut Vec<ActionOf<Self>>) {
        if node == self.id {
            let object = self.local_view(key);
            let reply = ReplicaMessage::FetchReply {
                op,
                key: key.clone(),
                object,
                purged: self.purged_context(key),
            };
            self.send(self.id, reply, out);
        } else {
            self.send(
                node,
                ReplicaMessage::Fetch {
                    op,
                    key: key.clone(),
                },
                out,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_fetch_reply(
        &mut self,
        from: NodeId,
        op: u64,
        key: &[u8],
        object: VersionedObject<V>,
        purged: VersionVector,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let Some(read) = self.reads.get_mut(&op) else {
            return;
        };
        if read.key != key {
            self.stats.messages_rejected += 1;
            return;
        }
        let Some(target) = read
            .targets
            .iter_mut()
            .find(|t| t.node == from && !t.answered)
        else {
            return;
        };
        target.answered = true;
        read.replies.push((from, object));
        read.purged.merge(&purged);
        self.try_complete_read(op, now, out);
    }

    /// Answers the client once R replies have seen what the session has;
    /// once every target has replied, repairs the ones behind.
    fn try_complete_read(&mut self, op: u64, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let Some(read) = self.reads.get_mut(&op) else {
            return;
        };
        if !read.replied && read.replies.len() >= read.options.r {
            let mut merged = merged_replies(&read.replies);
            // Versions a purge deleted stay deleted, whoever replied.
            merged.forget_covered_by(&read.purged);
            let mut context = merged.context();
            context.merge(&read.purged);
            let satisfied = read
                .session
                .as_ref()
                .is_none_or(|session| context.descends(session));
            if satisfied {
                read.replied = true;
                let result = ReadResult {
                    versions: merged.versions().to_vec(),
                    merged: self.policy.resolve(merged.values()),
                    context,
                };
                out.push(Action::Reply {
                    id: read.client,
                    response: ReplicaResponse::Read(result),
                });
            }
        }
        // Once everyone answered, repair and forget — unless the client is
        // still waiting for a reply that satisfies its session: then the
        // next tick asks again.
        if read.replied && read.targets.iter().all(|t| t.answered) {
            self.finish_read(op, now, out);
        }
    }

    /// Sends the merged object to every home replica that replied with
    /// less (read repair), and forgets the read.
    fn finish_read(&mut self, op: u64, _now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let Some(read) = self.reads.remove(&op) else {
            return;
        };
        if read.replies.is_empty() {
            return;
        }
        let merged = merged_replies(&read.replies);
        for (node, object) in &read.replies {
            let home = read
                .targets
                .iter()
                .any(|t| t.node == *node && t.hint_for.is_none());
            if home && *object != merged {
                self.stats.read_repairs += 1;
                let repair = ReplicaMessage::Repair {
                    key: read.key.clone(),
                    object: merged.clone(),
                };
                self.send(*node, repair, out);
            }
        }
    }

    /// Whether `node` has said nothing since `since`.
    fn silent_since(&self, node: NodeId, since: Instant) -> bool {
        node != self.id
            && self
                .last_heard
                .get(&node)
                .is_none_or(|heard| *heard < since)
    }

    /// Retries, suspicions, sloppy stand-ins and timeouts of open requests.
    pub(crate) fn tick_requests(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let write_ops: Vec<u64> = self.writes.keys().copied().collect();
        for op in write_ops {
            self.tick_write(op, now, out);
        }
        let read_ops: Vec<u64> = self.reads.keys().copied().collect();
        for op in read_ops {
            self.tick_read(op, now, out);
        }
    }

    /// Marks silent targets suspected; returns the homes a sloppy request
    /// should now replace.
    fn suspect_silent(
        &mut self,
        targets: &[Target],
        started: Instant,
        now: Instant,
    ) -> Vec<NodeId> {
        let mut replace = Vec::new();
        if now < started.saturating_add(self.config.suspect_after) {
            return replace;
        }
        for target in targets.iter().filter(|t| !t.answered) {
            if self.silent_since(target.node, started) {
                self.suspected.insert(target.node);
                let home = target.hint_for.unwrap_or(target.node);
                let replaced = targets.iter().any(|t| t.hint_for == Some(home));
                if target.hint_for.is_none() && !replaced {
                    replace.push(home);
                }
            }
        }
        replace
    }

    /// Suspects the targets that stayed silent and, for a sloppy request,
    /// the fallbacks that now stand in for silent home replicas.
    fn stand_ins(
        &mut self,
        key: &[u8],
        targets: &[Target],
        started: Instant,
        sloppy: bool,
        now: Instant,
    ) -> Vec<Target> {
        let replace = self.suspect_silent(targets, started, now);
        let mut added: Vec<Target> = Vec::new();
        if sloppy {
            let mut all = targets.to_vec();
            for home in replace {
                if let Some(spare) = self.spare_for(key, &all) {
                    let target = Target {
                        node: spare,
                        hint_for: Some(home),
                        answered: false,
                    };
                    all.push(target.clone());
                    added.push(target);
                }
            }
        }
        added
    }

    fn tick_write(&mut self, op: u64, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let Some(write) = self.writes.get(&op) else {
            return;
        };
        if now >= write.started.saturating_add(self.config.request_timeout) {
            if let Some(write) = self.writes.remove(&op)
                && !write.replied
            {
                out.push(Action::Reply {
                    id: write.client,
                    response: ReplicaResponse::Unavailable {
                        answered: write.acknowledgements(),
                        needed: write.options.w,
                    },
                });
            }
            return;
        }
        if now < write.last_sent.saturating_add(self.config.retry_interval) {
            return;
        }
        let (targets, started, sloppy) =
            (write.targets.clone(), write.started, write.options.sloppy);
        let key = write.key.clone();
        let added = self.stand_ins(&key, &targets, started, sloppy, now);
        let Some(write) = self.writes.get_mut(&op) else {
            return;
        };
        write.last_sent = now;
        write.targets.extend(added.iter().cloned());
        let (dot, object) = (write.version.dot(), write.object.clone());
        let resend: Vec<Target> = write
            .targets
            .iter()
            .filter(|t| !t.answered && t.node != self.id)
            .cloned()
            .collect();
        if !added.is_empty() {
            self.stats.sloppy_writes += 1;
            self.mark_degraded(now, "a request used fallback replicas (sloppy quorum)");
        }
        let me = self.id;
        for target in added.iter().filter(|t| t.node == me) {
            self.deliver_store(op, &key, dot, &object, target, now, out);
        }
        for target in resend {
            self.deliver_store(op, &key, dot, &object, &target, now, out);
        }
    }

    fn tick_read(&mut self, op: u64, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let Some(read) = self.reads.get(&op) else {
            return;
        };
        if now >= read.started.saturating_add(self.config.request_timeout) {
            if let Some(read) = self.reads.get_mut(&op)
                && !read.replied
            {
                read.replied = true;
                let response = if read.replies.len() >= read.options.r {
                    ReplicaResponse::SessionNotSatisfied
                } else {
                    ReplicaResponse::Unavailable {
                        answered: read.replies.len(),
                        needed: read.options.r,
                    }
                };
                out.push(Action::Reply {
                    id: read.client,
                    response,
                });
            }
            self.finish_read(op, now, out);
            return;
        }
        if now < read.last_sent.saturating_add(self.config.retry_interval) {
            return;
        }
        let (targets, started, sloppy) = (read.targets.clone(), read.started, read.options.sloppy);
        let key = read.key.clone();
        let added = self.stand_ins(&key, &targets, started, sloppy, now);
        let Some(read) = self.reads.get_mut(&op) else {
            return;
        };
        read.last_sent = now;
        read.targets.extend(added);
        // A session read that has its R replies but not the session's
        // versions asks everyone again: a replica may have caught up.
        let retry_all = read.replies.len() >= read.options.r && !read.replied;
        if retry_all {
            read.replies.clear();
            read.purged = VersionVector::new();
            for target in &mut read.targets {
                target.answered = false;
            }
        }
        let ask: Vec<NodeId> = read
            .targets
            .iter()
            .filter(|t| !t.answered)
            .map(|t| t.node)
            .collect();
        for node in ask {
            self.deliver_fetch(op, &key, node, out);
        }
    }
}

/// Every reply merged into one object.
fn merged_replies<V: ReplicatedValue>(
    replies: &[(NodeId, VersionedObject<V>)],
) -> VersionedObject<V> {
    let mut merged = VersionedObject::new();
    for (_, object) in replies {
        merged.merge(object);
    }
    merged
}

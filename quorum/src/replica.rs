//! A node of a leaderless store: it stores the objects of the ranges it
//! replicates, coordinates the client requests it receives, keeps hints
//! for unreachable replicas, and runs anti-entropy and tombstone
//! collection. Everything as a sans-IO state machine.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurabilityGate, Input, InputOf, Instant, InvalidParameter, ModeTracker,
    NodeId, Protocol, SeededRng,
};
use tessera_vclock::VersionVector;

use crate::coordinator::{PendingRead, PendingWrite};
use crate::replica_maintenance::GcRound;
use crate::{
    AntiEntropySession, ConflictPolicy, Hint, KEY_BYTES_MAX, Key, ObjectStore, PurgedTombstone,
    QuorumError, ReplicaConfig, ReplicaDisk, ReplicaMessage, ReplicaRequest, ReplicaResponse,
    ReplicaWrite, ReplicatedValue, ReplicationMode, Ring, VersionedObject,
};

/// Node ids a [`Replica`] accepts: below 2³², because a version's actor is
/// the node id and an epoch packed into one `u64` (see [`Replica`]).
pub const REPLICA_NODE_ID_MAX: NodeId = u32::MAX as NodeId;

/// Counters of what a replica did, for tests and status pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// Messages from peers dropped because they broke the protocol.
    pub messages_rejected: u64,
    /// Client requests refused for bad parameters.
    pub requests_rejected: u64,
    /// Writes for which a fallback stood in for a home replica.
    pub sloppy_writes: u64,
    /// Hints handed back and acknowledged.
    pub hints_handed_off: u64,
    /// Hints dropped after their lifetime.
    pub hints_expired: u64,
    /// Read repairs sent.
    pub read_repairs: u64,
    /// Anti-entropy sessions started here.
    pub anti_entropy_sessions: u64,
    /// Objects changed by anti-entropy here.
    pub keys_repaired: u64,
    /// Tombstones purged here.
    pub tombstones_purged: u64,
}

/// A node of a Dynamo-style leaderless key-value store.
///
/// Each node is a **replica** of the ranges the [`Ring`] gives it and a
/// **coordinator** for every client request it receives:
///
/// - a *put* or *delete* gets a new version — a dotted version vector over
///   the client's context — and is sent to the key's first N replicas (or,
///   with a sloppy quorum, to fallbacks standing in for unreachable ones);
///   it is acknowledged once W of them have it durably;
/// - a *get* asks the same replicas and answers once R have replied, with
///   every concurrent version as a sibling (or one value merged by the
///   [`ConflictPolicy`]); replicas found behind get the merged object back
///   (**read repair**); a session token makes it wait for, or refuse, an
///   answer older than what the session saw;
/// - a fallback keeps a stand-in write as a **hint**, drops it after
///   [`hint_ttl`](ReplicaConfig::hint_ttl), and hands it back when the home
///   replica answers again (**hinted handoff**);
/// - replicas of a range compare Merkle trees level by level and exchange
///   only the objects that differ (**anti-entropy**);
/// - a tombstone is purged only after
///   [`tombstone_grace`](ReplicaConfig::tombstone_grace), once every home
///   replica confirms it holds exactly that tombstone, and the purged
///   versions are refused for [`purge_retention`](ReplicaConfig::purge_retention)
///   afterwards (**no resurrection**);
/// - on [`ReplicaRequest::ChangeRing`], keys it no longer replicates are
///   handed to the nodes that gained them, and only those move
///   ([`Replica::change_ring`]).
///
/// # Versions and actors
///
/// A version's dot names its *actor* as `node << 32 | epoch`. A replica
/// continues an actor only for a key it holds in its own store, where it
/// has every earlier event of that actor for the key; anywhere else (a
/// first write, a write as a fallback, a write after a purge) it takes a
/// fresh epoch, reserved durably in blocks. So no two versions ever share a
/// dot, even across crashes — the simulator checks it after every step.
///
/// # Durability
///
/// Nothing leaves a replica before the state it reflects is durable: every
/// message waits behind the replica's pending writes
/// ([`DurabilityGate`]), so an acknowledgement, a read reply or an
/// anti-entropy object never shows what a crash could take back.
pub struct Replica<V: ReplicatedValue> {
    pub(crate) id: NodeId,
    pub(crate) ring: Ring,
    pub(crate) config: ReplicaConfig,
    pub(crate) policy: ConflictPolicy<V>,
    pub(crate) store: ObjectStore<V>,
    pub(crate) hints: BTreeMap<(NodeId, Key), Hint<V>>,
    pub(crate) purged: BTreeMap<Key, PurgedTombstone>,
    /// When each stored tombstone was first seen here.
    pub(crate) tombstones_since: BTreeMap<Key, Instant>,
    pub(crate) epochs_reserved: u32,
    pub(crate) next_epoch: u32,
    /// Actors of this node with a lower epoch are never continued: they
    /// may have events this node no longer holds (it gave keys away when
    /// the ring changed).
    pub(crate) actor_floor: u32,
    pub(crate) rng: SeededRng,
    pub(crate) gate: DurabilityGate<ActionOf<Replica<V>>>,
    pub(crate) mode: ModeTracker<ReplicationMode>,
    pub(crate) suspected: BTreeSet<NodeId>,
    pub(crate) last_heard: BTreeMap<NodeId, Instant>,
    pub(crate) writes: BTreeMap<u64, PendingWrite<V>>,
    pub(crate) reads: BTreeMap<u64, PendingRead<V>>,
    pub(crate) sessions: BTreeMap<(NodeId, u64), (AntiEntropySession, Instant)>,
    pub(crate) gc_rounds: BTreeMap<Key, GcRound>,
    /// The ranges this node replicates, for anti-entropy.
    pub(crate) own_ranges: Vec<crate::KeyRange>,
    pub(crate) anti_entropy_cursor: usize,
    pub(crate) next_anti_entropy: Instant,
    pub(crate) next_handoff: Instant,
    pub(crate) next_gc: Instant,
    pub(crate) degraded_until: Option<(Instant, &'static str)>,
    pub(crate) repairing_until: Option<(Instant, &'static str)>,
    pub(crate) stats: ReplicaStats,
}

impl<V: ReplicatedValue> Replica<V> {
    /// Starts node `id` of `ring` from its durable state `disk` at `now`.
    /// `seed` drives its random choices (operation ids, timer jitter).
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] if the configuration is invalid,
    /// `id` or a ring node is not below [`REPLICA_NODE_ID_MAX`], or the
    /// default N exceeds the ring's replication factor. A node that is not
    /// on the ring (yet) is allowed: it replicates nothing, but coordinates
    /// the requests it receives.
    pub fn new(
        id: NodeId,
        ring: Ring,
        config: ReplicaConfig,
        policy: ConflictPolicy<V>,
        disk: &ReplicaDisk<V>,
        seed: u64,
        now: Instant,
    ) -> Result<Self, QuorumError> {
        config.validate()?;
        config.default_options.validate(ring.replication())?;
        if let Some(node) = ring
            .nodes()
            .iter()
            .chain([&id])
            .find(|n| **n > REPLICA_NODE_ID_MAX)
        {
            return Err(InvalidParameter::new(
                "ring",
                format!("node ids must be at most {REPLICA_NODE_ID_MAX}, got {node}"),
            )
            .into());
        }
        let mut store = ObjectStore::new(config.merkle_depth)?;
        let mut tombstones_since = BTreeMap::new();
        for (key, object) in &disk.objects {
            store.put(ring.range_of(key), key, object.clone());
            if object.is_tombstone() {
                // The grace period restarts: the time seen before the
                // crash is not on disk, and starting late is safe.
                tombstones_since.insert(key.clone(), now);
            }
        }
        let own_ranges = ring.ranges_of(id).collect();
        let mut rng = SeededRng::new(seed);
        let jitter = |rng: &mut SeededRng, interval: Duration| {
            now.saturating_add(Duration::from_nanos(
                rng.below(interval.as_nanos().min(u128::from(u64::MAX)) as u64),
            ))
        };
        let next_anti_entropy = jitter(&mut rng, config.anti_entropy_interval);
        let next_handoff = jitter(&mut rng, config.handoff_interval);
        let next_gc = jitter(&mut rng, config.tombstone_gc_interval);
        Ok(Replica {
            id,
            ring,
            policy,
            store,
            hints: disk.hints.clone(),
            purged: disk.purged.clone(),
            tombstones_since,
            epochs_reserved: disk.epochs_reserved,
            next_epoch: disk.epochs_reserved.saturating_add(1),
            actor_floor: disk.actor_floor,
            rng,
            gate: DurabilityGate::new(),
            mode: ModeTracker::new(ReplicationMode::Healthy, now),
            suspected: BTreeSet::new(),
            last_heard: BTreeMap::new(),
            writes: BTreeMap::new(),
            reads: BTreeMap::new(),
            sessions: BTreeMap::new(),
            gc_rounds: BTreeMap::new(),
            own_ranges,
            anti_entropy_cursor: 0,
            next_anti_entropy,
            next_handoff,
            next_gc,
            degraded_until: None,
            repairing_until: None,
            stats: ReplicaStats::default(),
            config,
        })
    }

    /// The ring this node routes by.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The objects this node stores as a home replica.
    pub fn store(&self) -> &ObjectStore<V> {
        &self.store
    }

    /// The hints this node keeps for other replicas, by home and key.
    pub fn hints(&self) -> &BTreeMap<(NodeId, Key), Hint<V>> {
        &self.hints
    }

    /// The tombstones this node purged and still remembers.
    pub fn purged(&self) -> &BTreeMap<Key, PurgedTombstone> {
        &self.purged
    }

    /// The nodes this node currently believes down.
    pub fn suspected(&self) -> &BTreeSet<NodeId> {
        &self.suspected
    }

    /// What the node has done.
    pub fn stats(&self) -> ReplicaStats {
        self.stats
    }

    /// The mode tracker: current mode and recent transitions with triggers.
    pub fn mode_tracker(&self) -> &ModeTracker<ReplicationMode> {
        &self.mode
    }

    /// Asks the driver to persist `write`.
    pub(crate) fn persist(&mut self, write: ReplicaWrite<V>, out: &mut Vec<ActionOf<Self>>) {
        let id = self.gate.next_persist_id();
        out.push(Action::Persist { id, write });
    }

    /// Sends `message` once every write requested so far is durable.
    pub(crate) fn send(
        &mut self,
        to: NodeId,
        message: ReplicaMessage<V>,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        self.gate.after_pending(Action::Send { to, message }, out);
    }

    /// Whether `node` is believed down.
    pub(crate) fn is_suspected(&self, node: NodeId) -> bool {
        node != self.id && self.suspected.contains(&node)
    }

    pub(crate) fn mark_degraded(&mut self, now: Instant, why: &'static str) {
        self.degraded_until = Some((now.saturating_add(self.config.mode_hold), why));
    }

    pub(crate) fn mark_repairing(&mut self, now: Instant, why: &'static str) {
        self.repairing_until = Some((now.saturating_add(self.config.mode_hold), why));
    }

    /// Records that a tombstone is (or no longer is) stored for `key`.
    fn track_tombstone(&mut self, key: &[u8], now: Instant) {
        match self.store.get(key) {
            Some(object) if object.is_tombstone() => {
                self.tombstones_since.entry(key.to_vec()).or_insert(now);
            }
            _ => {
                self.tombstones_since.remove(key);
                self.gc_rounds.remove(key);
            }
        }
    }

    /// Drops from `object` what a remembered purge deleted.
    fn without_purged(&self, key: &[u8], object: &mut VersionedObject<V>) {
        if let Some(record) = self.purged.get(key) {
            object.forget_covered_by(&record.context);
        }
    }

    /// Merges `object` into the home store and persists the result.
    /// Returns whether anything changed.
    ///
    /// A key this node does not replicate (a sender routing by an older
    /// ring, during a membership change) is kept as a hint for each of the
    /// key's home replicas instead, so that nothing acknowledged is lost and
    /// nothing lingers where it does not belong.
    pub(crate) fn merge_into_store(
        &mut self,
        key: &[u8],
        mut object: VersionedObject<V>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) -> bool {
        let homes = self.ring.preference_list(key).to_vec();
        if !homes.contains(&self.id) {
            for home in homes {
                self.merge_into_hint(home, key, object.clone(), now, out);
            }
            return false;
        }
        self.without_purged(key, &mut object);
        if object.is_empty() {
            return false;
        }
        let range = self.ring.range_of(key);
        if !self.store.merge(range, key, &object) {
            return false;
        }
        let stored = self.store.get(key).cloned().unwrap_or_default();
        self.persist(
            ReplicaWrite::Object {
                key: key.to_vec(),
                object: stored,
            },
            out,
        );
        self.track_tombstone(key, now);
        true
    }

    /// Merges `object` into the hint kept for `home`, and persists it.
    pub(crate) fn merge_into_hint(
        &mut self,
        home: NodeId,
        key: &[u8],
        mut object: VersionedObject<V>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        self.without_purged(key, &mut object);
        if object.is_empty() {
            return;
        }
        let hint = self
            .hints
            .entry((home, key.to_vec()))
            .or_insert_with(|| Hint {
                object: VersionedObject::new(),
                stored_at: now,
            });
        if hint.object.merge(&object) {
            let hint = hint.clone();
            self.persist(
                ReplicaWrite::Hint {
                    home,
                    key: key.to_vec(),
                    hint: Some(hint),
                },
                out,
            );
        }
    }

    /// Stores a coordinator's object here: as a hint for `hint_for`, or as
    /// a home replica.
    pub(crate) fn store_object(
        &mut self,
        key: &[u8],
        object: VersionedObject<V>,
        hint_for: Option<NodeId>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        match hint_for {
            Some(home) if home != self.id => self.merge_into_hint(home, key, object, now, out),
            _ => {
                self.merge_into_store(key, object, now, out);
            }
        }
    }

    /// What this node knows of `key`: its stored object and every hint.
    pub(crate) fn local_view(&self, key: &[u8]) -> VersionedObject<V> {
        let mut object = self.store.get(key).cloned().unwrap_or_default();
        for ((_, hinted), hint) in &self.hints {
            if hinted.as_slice() == key {
                object.merge(&hint.object);
            }
        }
        object
    }

    /// Purges `key`'s tombstone here, remembering what it covered. The
    /// record is persisted before the removal, so a crash between the two
    /// keeps the tombstone rather than forgetting what it deleted.
    pub(crate) fn purge_here(
        &mut self,
        key: &[u8],
        context: VersionVector,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let record = PurgedTombstone {
            context,
            purged_at: now,
        };
        self.purged.insert(key.to_vec(), record.clone());
        self.persist(
            ReplicaWrite::Purged {
                key: key.to_vec(),
                record: Some(record),
            },
            out,
        );
        self.store.remove(key);
        self.persist(
            ReplicaWrite::Object {
                key: key.to_vec(),
                object: VersionedObject::new(),
            },
            out,
        );
        self.tombstones_since.remove(key);
        self.gc_rounds.remove(key);
        self.stats.tombstones_purged += 1;
    }

    /// What a purge here deleted of `key` (empty if nothing).
    pub(crate) fn purged_context(&self, key: &[u8]) -> VersionVector {
        self.purged
            .get(key)
            .map(|record| record.context.clone())
            .unwrap_or_default()
    }

    fn on_message(
        &mut self,
        from: NodeId,
        message: ReplicaMessage<V>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Some(key) = message_key(&message)
            && key.len() > KEY_BYTES_MAX
        {
            self.stats.messages_rejected += 1;
            return;
        }
        match message {
            ReplicaMessage::Store {
                op,
                key,
                dot,
                object,
                hint_for,
            } => {
                if !object.has_seen(dot) {
                    self.stats.messages_rejected += 1;
                    return;
                }
                self.store_object(&key, object, hint_for, now, out);
                self.send(from, ReplicaMessage::StoreAck { op, dot }, out);
            }
            ReplicaMessage::StoreAck { op, dot } => self.on_store_ack(from, op, dot, now, out),
            ReplicaMessage::Fetch { op, key } => {
                let object = self.local_view(&key);
                let purged = self.purged_context(&key);
                let reply = ReplicaMessage::FetchReply {
                    op,
                    key,
                    object,
                    purged,
                };
                self.send(from, reply, out);
            }
            ReplicaMessage::FetchReply {
                op,
                key,
                object,
                purged,
            } => {
                self.on_fetch_reply(from, op, &key, object, purged, now, out);
            }
            ReplicaMessage::Repair { key, object } => {
                self.merge_into_store(&key, object, now, out);
            }
            ReplicaMessage::Handoff { key, object } => {
                let digest = object.digest();
                self.merge_into_store(&key, object, now, out);
                self.send(from, ReplicaMessage::HandoffAck { key, digest }, out);
            }
            ReplicaMessage::HandoffAck { key, digest } => {
                self.on_handoff_ack(from, key, digest, out);
            }
            ReplicaMessage::AntiEntropy(message) => {
                self.on_anti_entropy(from, message, now, out);
            }
            ReplicaMessage::TombstoneQuery { key, context } => {
                let held = self
                    .store
                    .get(&key)
                    .is_some_and(|object| object.is_tombstone() && object.context() == context);
                self.send(
                    from,
                    ReplicaMessage::TombstoneHeld { key, context, held },
                    out,
                );
            }
            ReplicaMessage::TombstoneHeld { key, context, held } => {
                self.on_tombstone_held(from, key, context, held, now, out);
            }
            ReplicaMessage::Purge { key, context } => {
                let holds_it = self
                    .store
                    .get(&key)
                    .is_some_and(|object| object.is_tombstone() && object.context() == context);
                if holds_it && self.ring.preference_list(&key).contains(&from) {
                    self.purge_here(&key, context, now, out);
                }
            }
        }
    }

    fn on_request(
        &mut self,
        id: tessera_core::RequestId,
        request: ReplicaRequest<V>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let refuse = |reason: String| ReplicaResponse::Rejected { reason };
        if self.writes.len() + self.reads.len() >= self.config.pending_requests_max {
            out.push(Action::Reply {
                id,
                response: ReplicaResponse::Overloaded,
            });
            return;
        }
        let key_length = request.key().map_or(0, <[u8]>::len);
        if key_length > KEY_BYTES_MAX {
            self.stats.requests_rejected += 1;
            let error = QuorumError::from(InvalidParameter::new(
                "key",
                format!("keys are at most {KEY_BYTES_MAX} bytes, got {key_length}"),
            ));
            out.push(Action::Reply {
                id,
                response: refuse(error.to_string()),
            });
            return;
        }
        let options = match &request {
            ReplicaRequest::Get { options, .. }
            | ReplicaRequest::Put { options, .. }
            | ReplicaRequest::Delete { options, .. } => {
                options.unwrap_or(self.config.default_options)
            }
            ReplicaRequest::ChangeRing { ring } => {
                let result = self.change_ring(ring.clone(), now, out);
                let response = match result {
                    Ok(handed_over) => ReplicaResponse::RingChanged { handed_over },
                    Err(error) => {
                        self.stats.requests_rejected += 1;
                        refuse(error.to_string())
                    }
                };
                out.push(Action::Reply { id, response });
                return;
            }
        };
        if let Err(error) = options.validate(self.ring.replication()) {
            self.stats.requests_rejected += 1;
            out.push(Action::Reply {
                id,
                response: refuse(error.to_string()),
            });
            return;
        }
        // Sloppy or not: a sloppy request that finds every home replica
        // answering still has quorums that need not meet.
        if options.r + options.w <= options.n {
            self.mark_degraded(now, "a request chose r + w <= n");
        }
        match request {
            ReplicaRequest::Get { key, session, .. } => {
                self.start_read(id, key, options, session, now, out);
            }
            ReplicaRequest::Put {
                key,
                value,
                context,
                ..
            } => self.start_write(id, key, Some(value), context, options, now, out),
            ReplicaRequest::Delete { key, context, .. } => {
                self.start_write(id, key, None, context, options, now, out);
            }
            ReplicaRequest::ChangeRing { .. } => {}
        }
    }

    /// The mode the node is in now, and why.
    fn desired_mode(&self, now: Instant) -> (ReplicationMode, &'static str) {
        let mut hints_reachable = false;
        let mut hints_unreachable = false;
        for (home, _) in self.hints.keys() {
            if self.is_suspected(*home) {
                hints_unreachable = true;
            } else {
                hints_reachable = true;
            }
        }
        if hints_reachable {
            return (
                ReplicationMode::Repairing,
                "handing hints back to a returned replica",
            );
        }
        if let Some((until, why)) = self.repairing_until
            && now < until
        {
            return (ReplicationMode::Repairing, why);
        }
        if hints_unreachable {
            return (
                ReplicationMode::Sloppy,
                "holding hints for an unreachable replica",
            );
        }
        if let Some((until, why)) = self.degraded_until
            && now < until
        {
            return (ReplicationMode::Sloppy, why);
        }
        (
            ReplicationMode::Healthy,
            "replicas healthy and nothing to repair",
        )
    }

    fn update_mode(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let (mode, why) = self.desired_mode(now);
        for hold in [&mut self.degraded_until, &mut self.repairing_until] {
            if hold.is_some_and(|(until, _)| now >= until) {
                *hold = None;
            }
        }
        if let Some(transition) = self.mode.enter(mode, why, now) {
            out.push(Action::ModeChanged(transition));
        }
    }
}

/// The key a message is about, if it names one.
fn message_key<V>(message: &ReplicaMessage<V>) -> Option<&[u8]> {
    match message {
        ReplicaMessage::Store { key, .. }
        | ReplicaMessage::Fetch { key, .. }
        | ReplicaMessage::FetchReply { key, .. }
        | ReplicaMessage::Repair { key, .. }
        | ReplicaMessage::Handoff { key, .. }
        | ReplicaMessage::HandoffAck { key, .. }
        | ReplicaMessage::TombstoneQuery { key, .. }
        | ReplicaMessage::TombstoneHeld { key, .. }
        | ReplicaMessage::Purge { key, .. } => Some(key),
        ReplicaMessage::StoreAck { .. } | ReplicaMessage::AntiEntropy(_) => None,
    }
}

impl<V: ReplicatedValue> Protocol for Replica<V> {
    type Message = ReplicaMessage<V>;
    type Request = ReplicaRequest<V>;
    type Response = ReplicaResponse<V>;
    type Write = ReplicaWrite<V>;
    type Mode = ReplicationMode;

    fn id(&self) -> NodeId {
        self.id
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        match input {
            Input::Message { from, message } => {
                self.last_heard.insert(from, now);
                self.suspected.remove(&from);
                self.on_message(from, message, now, out);
            }
            Input::Request { id, request } => self.on_request(id, request, now, out),
            Input::Tick => self.on_tick(now, out),
            Input::Persisted { up_to } => self.gate.persisted(up_to, out),
        }
        self.update_mode(now, out);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut deadline = self
            .next_anti_entropy
            .min(self.next_handoff)
            .min(self.next_gc);
        // Expired holds are cleared at every input, so these are ahead.
        for (until, _) in [self.degraded_until, self.repairing_until]
            .into_iter()
            .flatten()
        {
            deadline = deadline.min(until);
        }
        for write in self.writes.values() {
            deadline = deadline.min(write.next_deadline(&self.config));
        }
        for read in self.reads.values() {
            deadline = deadline.min(read.next_deadline(&self.config));
        }
        Some(deadline)
    }

    fn mode(&self) -> ReplicationMode {
        self.mode.current()
    }
}

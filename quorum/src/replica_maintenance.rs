//! What a replica does in the background: hinted handoff, anti-entropy
//! sessions, and tombstone collection.

use std::collections::BTreeSet;
use std::time::Duration;

use tessera_core::{ActionOf, Instant, NodeId};
use tessera_vclock::VersionVector;

use crate::{
    AbortReason, AntiEntropyMessage, AntiEntropySession, Key, Replica, ReplicaMessage,
    ReplicaWrite, ReplicatedValue, VersionedObject,
};

/// The most anti-entropy sessions a replica runs at once (both roles).
pub const ANTI_ENTROPY_SESSIONS_MAX: usize = 4;

/// The most hints offered to one home replica per handoff round.
pub const HANDOFF_BATCH_MAX: usize = 64;

/// The most tombstones one collection round queries.
pub const TOMBSTONE_QUERIES_MAX: usize = 256;

/// A tombstone collection in progress: the collector asked every other
/// home replica whether it holds exactly this tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GcRound {
    context: VersionVector,
    held: BTreeSet<NodeId>,
    started: Instant,
}

impl<V: ReplicatedValue> Replica<V> {
    pub(crate) fn on_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        self.tick_requests(now, out);
        if now >= self.next_handoff {
            self.next_handoff = now.saturating_add(self.config.handoff_interval);
            self.expire_hints(now, out);
            self.hand_off(out);
        }
        if now >= self.next_anti_entropy {
            self.next_anti_entropy =
                now.saturating_add(self.jittered(self.config.anti_entropy_interval));
            self.expire_sessions(now);
            self.start_anti_entropy(now, out);
        }
        if now >= self.next_gc {
            self.next_gc = now.saturating_add(self.config.tombstone_gc_interval);
            self.collect_tombstones(now, out);
        }
    }

    /// `interval` plus up to half of it at random, so replicas do not
    /// start their sessions in lockstep.
    fn jittered(&mut self, interval: Duration) -> Duration {
        let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(nanos.saturating_add(self.rng.below(nanos / 2 + 1)))
    }

    // ----- hinted handoff -----

    fn expire_hints(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let ttl = self.config.hint_ttl;
        let expired: Vec<(NodeId, Key)> = self
            .hints
            .iter()
            .filter(|(_, hint)| now.duration_since(hint.stored_at) >= ttl)
            .map(|(place, _)| place.clone())
            .collect();
        for (home, key) in expired {
            self.stats.hints_expired += 1;
            self.drop_hint(home, key, out);
        }
    }

    fn drop_hint(&mut self, home: NodeId, key: Key, out: &mut Vec<ActionOf<Self>>) {
        self.hints.remove(&(home, key.clone()));
        self.persist(
            ReplicaWrite::Hint {
                home,
                key,
                hint: None,
            },
            out,
        );
    }

    /// Offers hints back to their home replicas: a full batch to a home
    /// believed up, one hint as a probe to a home believed down.
    fn hand_off(&mut self, out: &mut Vec<ActionOf<Self>>) {
        let mut offered: Vec<(NodeId, Key, VersionedObject<V>)> = Vec::new();
        let mut current: Option<(NodeId, usize)> = None;
        for ((home, key), hint) in &self.hints {
            let limit = if self.is_suspected(*home) {
                1
            } else {
                HANDOFF_BATCH_MAX
            };
            let count = match current {
                Some((node, count)) if node == *home => count,
                _ => 0,
            };
            if count < limit {
                offered.push((*home, key.clone(), hint.object.clone()));
            }
            current = Some((*home, count + 1));
        }
        for (home, key, object) in offered {
            self.send(home, ReplicaMessage::Handoff { key, object }, out);
        }
    }

    pub(crate) fn on_handoff_ack(
        &mut self,
        from: NodeId,
        key: Key,
        digest: u64,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let unchanged = self
            .hints
            .get(&(from, key.clone()))
            .is_some_and(|hint| hint.object.digest() == digest);
        if unchanged {
            self.stats.hints_handed_off += 1;
            self.drop_hint(from, key, out);
        }
    }

    // ----- anti-entropy -----

    fn expire_sessions(&mut self, now: Instant) {
        let timeout = self.config.anti_entropy_timeout;
        self.sessions
            .retain(|_, (_, started)| now.duration_since(*started) < timeout);
    }

    /// Starts a session with the next replica of the next range, round
    /// robin, skipping replicas believed down.
    fn start_anti_entropy(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        if self.own_ranges.is_empty() || self.sessions.len() >= ANTI_ENTROPY_SESSIONS_MAX {
            return;
        }
        let cursor = self.anti_entropy_cursor;
        self.anti_entropy_cursor = cursor.wrapping_add(1);
        let range = self.own_ranges[cursor % self.own_ranges.len()];
        let peers: Vec<NodeId> = self
            .ring
            .replicas_of(range)
            .iter()
            .copied()
            .filter(|node| *node != self.id && !self.is_suspected(*node))
            .collect();
        if peers.is_empty() {
            return;
        }
        let peer = peers[(cursor / self.own_ranges.len()) % peers.len()];
        let id = self.rng.next_u64();
        let (session, begin) = AntiEntropySession::initiate(&self.store, peer, id, range);
        self.sessions.insert((peer, id), (session, now));
        self.stats.anti_entropy_sessions += 1;
        self.send(peer, ReplicaMessage::AntiEntropy(begin), out);
    }

    pub(crate) fn on_anti_entropy(
        &mut self,
        from: NodeId,
        message: AntiEntropyMessage<V>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let id = message.session();
        let abort = |reason| {
            ReplicaMessage::AntiEntropy(AntiEntropyMessage::Abort {
                session: id,
                reason,
            })
        };
        let step = if let AntiEntropyMessage::Begin { range, .. } = &message {
            if !self.ring.replicas_of(*range).contains(&self.id) {
                self.send(from, abort(AbortReason::NotAReplica), out);
                return;
            }
            if self.sessions.len() >= ANTI_ENTROPY_SESSIONS_MAX {
                self.send(from, abort(AbortReason::Busy), out);
                return;
            }
            match AntiEntropySession::respond(&self.store, from, *range, &message) {
                Ok((session, step)) => {
                    if !step.finished {
                        self.sessions.insert((from, id), (session, now));
                    }
                    step
                }
                Err(_) => {
                    self.stats.messages_rejected += 1;
                    self.send(from, abort(AbortReason::Malformed), out);
                    return;
                }
            }
        } else {
            let Some((session, _)) = self.sessions.get_mut(&(from, id)) else {
                if !matches!(
                    message,
                    AntiEntropyMessage::Abort { .. } | AntiEntropyMessage::InSync { .. }
                ) {
                    self.send(from, abort(AbortReason::UnknownSession), out);
                }
                return;
            };
            match session.handle(&self.store, &message) {
                Ok(step) => {
                    if step.finished {
                        self.sessions.remove(&(from, id));
                    }
                    step
                }
                Err(_) => {
                    // Refused whole: nothing of it is applied.
                    self.stats.messages_rejected += 1;
                    self.sessions.remove(&(from, id));
                    self.send(from, abort(AbortReason::Malformed), out);
                    return;
                }
            }
        };
        let mut changed = 0;
        for (key, object) in step.received {
            if let Some(record) = self.purged.get(&key)
                && object.is_tombstone()
                && record.context.descends(&object.context())
            {
                // The peer still holds a tombstone every home replica held
                // and this one purged: tell it to purge too.
                let context = object.context();
                self.send(from, ReplicaMessage::Purge { key, context }, out);
                continue;
            }
            if self.merge_into_store(&key, object, now, out) {
                changed += 1;
            }
        }
        if changed > 0 {
            self.stats.keys_repaired += changed;
            self.mark_repairing(now, "anti-entropy is repairing differences");
        }
        if let Some(reply) = step.reply {
            self.send(from, ReplicaMessage::AntiEntropy(reply), out);
        }
    }

    // ----- tombstone collection -----

    /// The home replicas of `key` other than this node.
    fn other_homes(&self, key: &[u8]) -> Vec<NodeId> {
        self.ring
            .preference_list(key)
            .iter()
            .copied()
            .filter(|node| *node != self.id)
            .collect()
    }

    /// Starts collection rounds for tombstones past their grace period
    /// (as the key's collector: its first home replica), expires purge
    /// records, and drops rounds that got no full answer.
    fn collect_tombstones(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let retention = self.config.purge_retention;
        let expired: Vec<Key> = self
            .purged
            .iter()
            .filter(|(_, record)| now.duration_since(record.purged_at) >= retention)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            self.purged.remove(&key);
            self.persist(ReplicaWrite::Purged { key, record: None }, out);
        }
        let stale_after = self.config.tombstone_gc_interval * 4;
        self.gc_rounds
            .retain(|_, round| now.duration_since(round.started) < stale_after);

        let grace = self.config.tombstone_grace;
        let due: Vec<Key> = self
            .tombstones_since
            .iter()
            .filter(|(key, since)| {
                now.duration_since(**since) >= grace
                    && !self.gc_rounds.contains_key(*key)
                    && self.ring.preference_list(key).first() == Some(&self.id)
            })
            .map(|(key, _)| key.clone())
            .take(TOMBSTONE_QUERIES_MAX)
            .collect();
        for key in due {
            let Some(context) = self.store.get(&key).map(VersionedObject::context) else {
                continue;
            };
            let others = self.other_homes(&key);
            if others.is_empty() {
                self.purge_here(&key, context, now, out);
                continue;
            }
            for node in others {
                let query = ReplicaMessage::TombstoneQuery {
                    key: key.clone(),
                    context: context.clone(),
                };
                self.send(node, query, out);
            }
            self.gc_rounds.insert(
                key,
                GcRound {
                    context,
                    held: BTreeSet::new(),
                    started: now,
                },
            );
        }
    }

    pub(crate) fn on_tombstone_held(
        &mut self,
        from: NodeId,
        key: Key,
        context: VersionVector,
        held: bool,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let others = self.other_homes(&key);
        let Some(round) = self.gc_rounds.get_mut(&key) else {
            return;
        };
        if round.context != context {
            return;
        }
        if !held {
            self.gc_rounds.remove(&key);
            return;
        }
        round.held.insert(from);
        if !others.iter().all(|node| round.held.contains(node)) {
            return;
        }
        let still_here = self
            .store
            .get(&key)
            .is_some_and(|object| object.is_tombstone() && object.context() == context);
        self.gc_rounds.remove(&key);
        if !still_here {
            return;
        }
        self.purge_here(&key, context.clone(), now, out);
        for node in others {
            let purge = ReplicaMessage::Purge {
                key: key.clone(),
                context: context.clone(),
            };
            self.send(node, purge, out);
        }
    }
}

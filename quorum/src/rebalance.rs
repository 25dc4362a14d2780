//! Membership change: a replica moves to a new ring, keeping the keys it
//! still replicates and handing the others to the nodes that gained them.

use tessera_core::{ActionOf, Instant};

use crate::{QuorumError, Replica, ReplicaWrite, ReplicatedValue, Ring, VersionedObject};

impl<V: ReplicatedValue> Replica<V> {
    /// Routes by `ring` from now on. Keys this node still replicates are
    /// re-indexed under their new ranges; each key it no longer replicates
    /// becomes a hint for every node that gained it (handed over by the
    /// usual handoff) and leaves the store. Keys whose replicas did not
    /// change stay where they are: only the ranges next to the joining or
    /// leaving node's tokens move. Returns how many hints were made.
    ///
    /// This node's actors are retired for continuation (a fresh epoch for
    /// its next write on each key), since it may regain a key later without
    /// every event it wrote while holding it.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] if the new ring's replication
    /// factor is below the configured default N.
    pub fn change_ring(
        &mut self,
        ring: Ring,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) -> Result<usize, QuorumError> {
        self.config.default_options.validate(ring.replication())?;
        let old = std::mem::replace(&mut self.ring, ring);
        let keys: Vec<Vec<u8>> = self.store.iter().map(|(key, _)| key.clone()).collect();
        let mut handed_over = 0;
        for key in keys {
            let Some(object) = self.store.get(&key).cloned() else {
                continue;
            };
            let homes = self.ring.preference_list(&key);
            if homes.contains(&self.id) {
                self.store.put(self.ring.range_of(&key), &key, object);
                continue;
            }
            let gained: Vec<_> = homes
                .iter()
                .copied()
                .filter(|home| !old.preference_list(&key).contains(home))
                .collect();
            for home in gained {
                self.merge_into_hint(home, &key, object.clone(), now, out);
                handed_over += 1;
            }
            self.store.remove(&key);
            self.persist(
                ReplicaWrite::Object {
                    key: key.clone(),
                    object: VersionedObject::new(),
                },
                out,
            );
            self.tombstones_since.remove(&key);
        }
        self.actor_floor = self.next_epoch;
        self.persist(ReplicaWrite::ActorFloor(self.actor_floor), out);
        self.own_ranges = self.ring.ranges_of(self.id).collect();
        self.sessions.clear();
        self.gc_rounds.clear();
        Ok(handed_over)
    }
}

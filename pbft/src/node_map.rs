//! Maps keyed by node id on the per-message path: a hash map with a
//! one-multiplication hasher instead of an ordered map, for tables that
//! hold one entry per known node and are searched several times per
//! request.
//!
//! The keys are the keyring's node ids — configured, or clients whose
//! requests authenticated — never an attacker's free choice, so a weak
//! hash is safe; and no caller observes the iteration order in a way that
//! reaches another replica.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use tessera_core::NodeId;

/// A hash map from node ids.
pub(crate) type NodeMap<V> = HashMap<NodeId, V, BuildHasherDefault<NodeIdHasher>>;

/// Fibonacci hashing of a node id: one multiplication.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NodeIdHasher(u64);

const PHI: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for NodeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(PHI);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(PHI);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_spread_and_look_up() {
        let mut map: NodeMap<u64> = NodeMap::default();
        for id in (0..1000u64).map(|i| i * 4096) {
            map.insert(id, id + 1);
        }
        assert_eq!(map.len(), 1000);
        assert!((0..1000u64).all(|i| map[&(i * 4096)] == i * 4096 + 1));
        assert!(!map.contains_key(&1));
    }
}

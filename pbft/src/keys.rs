//! Keys: each node's ed25519 signing key, every node's public key, and a
//! symmetric MAC key shared by each pair of nodes — all given at start.
//!
//! Key material comes from the configuration, never from randomness inside
//! the protocol: [`Keyring::new`] takes keys generated and distributed by
//! the operator, and [`Keyring::derive`] derives a whole cluster's keys
//! from one seed, for simulations, tests and benchmarks, so a run replays
//! exactly from its seed.

use std::collections::BTreeMap;
use std::fmt;

use ed25519_dalek::{Signature as DalekSignature, Signer, SigningKey, VerifyingKey};
use tessera_core::{InvalidParameter, NodeId};

use crate::node_map::NodeMap;
use crate::wire::{HashSink, Sink};
use crate::{Digest, PbftError};

/// Bytes in a MAC: a BLAKE3 keyed hash truncated to 128 bits.
pub const MAC_BYTES: usize = 16;

/// One message authentication code.
pub type Mac = [u8; MAC_BYTES];

/// An ed25519 signature.
pub type Signature = [u8; 64];

const SIGNING_KEY_CONTEXT: &str = "tessera-pbft 2025-01 node signing key";
const MAC_KEY_CONTEXT: &str = "tessera-pbft 2025-01 pairwise MAC key";

/// A node's keys: its own signing key, the public keys of the nodes it
/// talks to, and the MAC key it shares with each of them.
///
/// Replicas and clients are both nodes: a client signs or MACs its requests
/// and checks the replies' MACs with the keys its keyring holds for the
/// replicas. `Debug` never prints secret material.
///
/// # Examples
///
/// ```
/// use tessera_pbft::Keyring;
///
/// // Four replicas and one client, all derived from one seed.
/// let nodes = [1, 2, 3, 4, 100];
/// let replica = Keyring::derive(7, 1, &nodes);
/// let client = Keyring::derive(7, 100, &nodes);
/// assert_eq!(replica.public_key_of(100), Some(client.public_key()));
/// assert!(replica.knows(4) && !replica.knows(5));
/// ```
#[derive(Clone)]
pub struct Keyring {
    id: NodeId,
    signing: SigningKey,
    public: BTreeMap<NodeId, VerifyingKey>,
    /// The pairwise MAC keys: searched for every MAC, so hashed.
    macs: NodeMap<[u8; 32]>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("id", &self.id)
            .field("peers", &self.public.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// The keyring of node `id` from explicit key material: its 32-byte
    /// ed25519 secret key, every peer's public key, and the MAC key it
    /// shares with each peer. Every peer needs both a public and a MAC key.
    ///
    /// # Errors
    ///
    /// [`PbftError::InvalidParameter`] if a public key is not a valid
    /// ed25519 point, or a peer lacks one of its two keys.
    pub fn new(
        id: NodeId,
        secret_key: [u8; 32],
        public_keys: impl IntoIterator<Item = (NodeId, [u8; 32])>,
        mac_keys: impl IntoIterator<Item = (NodeId, [u8; 32])>,
    ) -> Result<Keyring, PbftError> {
        let signing = SigningKey::from_bytes(&secret_key);
        let mut public = BTreeMap::new();
        for (node, key) in public_keys {
            let key = VerifyingKey::from_bytes(&key).map_err(|_| {
                InvalidParameter::new(
                    "public_keys",
                    format!("the key of node {node} is not an ed25519 public key"),
                )
            })?;
            public.insert(node, key);
        }
        public.insert(id, signing.verifying_key());
        let macs: NodeMap<[u8; 32]> = mac_keys.into_iter().collect();
        for node in public.keys() {
            if *node != id && !macs.contains_key(node) {
                return Err(InvalidParameter::new(
                    "mac_keys",
                    format!("node {node} has a public key but no MAC key"),
                )
                .into());
            }
        }
        if let Some(node) = macs.keys().find(|node| !public.contains_key(node)) {
            return Err(InvalidParameter::new(
                "public_keys",
                format!("node {node} has a MAC key but no public key"),
            )
            .into());
        }
        Ok(Keyring {
            id,
            signing,
            public,
            macs,
        })
    }

    /// The keyring of node `id` in a cluster of `nodes` whose keys all
    /// derive from `seed` (BLAKE3 key derivation): for simulations, tests
    /// and benchmarks. Anyone who knows the seed knows every key, so a
    /// production cluster uses [`Keyring::new`] with keys of its own.
    pub fn derive(seed: u64, id: NodeId, nodes: &[NodeId]) -> Keyring {
        let signing = SigningKey::from_bytes(&derived_secret(seed, id));
        let mut public = BTreeMap::new();
        let mut macs = NodeMap::default();
        for &node in nodes.iter().chain(std::iter::once(&id)) {
            let key = SigningKey::from_bytes(&derived_secret(seed, node)).verifying_key();
            public.insert(node, key);
            if node != id {
                macs.insert(node, derived_mac_key(seed, id, node));
            }
        }
        Keyring {
            id,
            signing,
            public,
            macs,
        }
    }

    /// The keyrings of every node in `nodes`, as [`derive`](Self::derive)
    /// makes them one by one, computing each public key once.
    pub fn derive_all(seed: u64, nodes: &[NodeId]) -> BTreeMap<NodeId, Keyring> {
        let signing: BTreeMap<NodeId, SigningKey> = nodes
            .iter()
            .map(|&node| (node, SigningKey::from_bytes(&derived_secret(seed, node))))
            .collect();
        let public: BTreeMap<NodeId, VerifyingKey> = signing
            .iter()
            .map(|(node, key)| (*node, key.verifying_key()))
            .collect();
        signing
            .into_iter()
            .map(|(id, signing)| {
                let macs = nodes
                    .iter()
                    .filter(|node| **node != id)
                    .map(|&node| (node, derived_mac_key(seed, id, node)))
                    .collect();
                (
                    id,
                    Keyring {
                        id,
                        signing,
                        public: public.clone(),
                        macs,
                    },
                )
            })
            .collect()
    }

    /// The secret key [`derive`](Self::derive) gives node `id` for `seed`.
    pub fn derived_secret_key(seed: u64, id: NodeId) -> [u8; 32] {
        derived_secret(seed, id)
    }

    /// The node this keyring belongs to.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The public key held for `node`.
    pub fn public_key_of(&self, node: NodeId) -> Option<[u8; 32]> {
        self.public.get(&node).map(VerifyingKey::to_bytes)
    }

    /// Whether keys are held for `node`.
    pub fn knows(&self, node: NodeId) -> bool {
        // Every peer has both keys (`new` checks it, `derive` makes both),
        // and the MAC map is the smaller one to search.
        node == self.id || self.macs.contains_key(&node)
    }

    /// The MAC of `digest` for `peer`, or `None` without a key for it.
    pub(crate) fn mac_for(&self, peer: NodeId, digest: &Digest) -> Option<Mac> {
        self.mac_of_for(peer, |hasher| hasher.put_digest(digest))
    }

    /// Whether `tag` is `peer`'s MAC of `digest` for this node.
    pub(crate) fn check_mac_from(&self, peer: NodeId, digest: &Digest, tag: &Mac) -> bool {
        self.check_mac_of_from(peer, |hasher| hasher.put_digest(digest), tag)
    }

    /// The MAC for `peer` of the bytes `feed` writes: one keyed hash over
    /// the message itself, cheaper than hashing it first when there is a
    /// single recipient.
    pub(crate) fn mac_of_for(&self, peer: NodeId, feed: impl FnOnce(&mut HashSink)) -> Option<Mac> {
        self.macs.get(&peer).map(|key| mac(key, peer, feed))
    }

    /// Whether `tag` is `peer`'s MAC, for this node, of the bytes `feed`
    /// writes.
    pub(crate) fn check_mac_of_from(
        &self,
        peer: NodeId,
        feed: impl FnOnce(&mut HashSink),
        tag: &Mac,
    ) -> bool {
        self.macs
            .get(&peer)
            .is_some_and(|key| constant_time_eq(&mac(key, self.id, feed), tag))
    }

    /// The MAC for `peer` of `bytes`: the primitive PBFT's own MACs use
    /// (a BLAKE3 keyed hash under the key this node shares with `peer`,
    /// bound to the recipient, truncated to [`MAC_BYTES`]), for a driver
    /// that authenticates messages of its own — for example another
    /// protocol's, measured against PBFT on equal terms. `None` without a
    /// key for `peer`.
    ///
    /// ```
    /// use tessera_pbft::Keyring;
    ///
    /// let nodes = [1, 2, 3];
    /// let (one, two) = (Keyring::derive(7, 1, &nodes), Keyring::derive(7, 2, &nodes));
    /// let tag = one.mac_bytes_for(2, b"append 5").expect("a key for node 2");
    /// assert!(two.check_mac_bytes_from(1, b"append 5", &tag));
    /// assert!(!two.check_mac_bytes_from(1, b"append 6", &tag));
    /// assert!(!Keyring::derive(7, 3, &nodes).check_mac_bytes_from(1, b"append 5", &tag));
    /// ```
    pub fn mac_bytes_for(&self, peer: NodeId, bytes: &[u8]) -> Option<Mac> {
        self.mac_of_for(peer, |hasher| hasher.put(bytes))
    }

    /// Whether `tag` is `peer`'s [`mac_bytes_for`](Self::mac_bytes_for)
    /// this node of `bytes`. Compares in constant time.
    pub fn check_mac_bytes_from(&self, peer: NodeId, bytes: &[u8], tag: &Mac) -> bool {
        self.check_mac_of_from(peer, |hasher| hasher.put(bytes), tag)
    }

    /// This node's signature of `digest`.
    pub(crate) fn sign(&self, digest: &Digest) -> Signature {
        self.signing.sign(&digest.0).to_bytes()
    }

    /// Whether `signature` is `node`'s signature of `digest`.
    pub(crate) fn check_signature(
        &self,
        node: NodeId,
        digest: &Digest,
        signature: &Signature,
    ) -> bool {
        let Some(key) = self.public.get(&node) else {
            return false;
        };
        key.verify_strict(&digest.0, &DalekSignature::from_bytes(signature))
            .is_ok()
    }
}

fn derived_secret(seed: u64, id: NodeId) -> [u8; 32] {
    let mut material = [0u8; 16];
    material[..8].copy_from_slice(&seed.to_le_bytes());
    material[8..].copy_from_slice(&id.to_le_bytes());
    blake3::derive_key(SIGNING_KEY_CONTEXT, &material)
}

fn derived_mac_key(seed: u64, a: NodeId, b: NodeId) -> [u8; 32] {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let mut material = [0u8; 24];
    material[..8].copy_from_slice(&seed.to_le_bytes());
    material[8..16].copy_from_slice(&low.to_le_bytes());
    material[16..].copy_from_slice(&high.to_le_bytes());
    blake3::derive_key(MAC_KEY_CONTEXT, &material)
}

/// The MAC a node sharing `key` computes for `recipient` over the bytes
/// `feed` writes. Naming the recipient keeps a MAC meant for one node from
/// being reflected to another that shares the key.
fn mac(key: &[u8; 32], recipient: NodeId, feed: impl FnOnce(&mut HashSink)) -> Mac {
    let mut hasher = HashSink::keyed(key);
    feed(&mut hasher);
    hasher.put_u64(recipient);
    let mut out = [0u8; MAC_BYTES];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..MAC_BYTES]);
    out
}

fn constant_time_eq(a: &Mac, b: &Mac) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_agree_pairwise_and_differ_by_seed() {
        let nodes = [1, 2, 3];
        let one = Keyring::derive(5, 1, &nodes);
        let two = Keyring::derive(5, 2, &nodes);
        let digest = Digest::of(b"m");
        let tag = one.mac_for(2, &digest).expect("a key for 2");
        assert!(two.check_mac_from(1, &digest, &tag));
        // A MAC for node 2 does not verify at node 3, nor from another sender.
        let three = Keyring::derive(5, 3, &nodes);
        assert!(!three.check_mac_from(1, &digest, &tag));
        assert!(!two.check_mac_from(3, &digest, &tag));
        let other_seed = Keyring::derive(6, 2, &nodes);
        assert!(!other_seed.check_mac_from(1, &digest, &tag));
        let signature = one.sign(&digest);
        assert!(two.check_signature(1, &digest, &signature));
        assert!(!two.check_signature(3, &digest, &signature));
        assert!(!two.check_signature(1, &Digest::of(b"n"), &signature));
    }

    #[test]
    fn deriving_all_at_once_gives_the_same_keyrings() {
        let nodes = [1, 2, 3, 9];
        let all = Keyring::derive_all(4, &nodes);
        for node in nodes {
            let one = Keyring::derive(4, node, &nodes);
            assert_eq!(all[&node].public_key(), one.public_key());
            assert_eq!(all[&node].macs, one.macs);
            assert_eq!(all[&node].public.len(), one.public.len());
        }
    }

    #[test]
    fn explicit_keys_must_come_in_pairs() {
        let public = Keyring::derive(1, 2, &[1, 2]).public_key();
        let error = Keyring::new(1, [9; 32], [(2, public)], []).unwrap_err();
        assert!(error.to_string().contains("no MAC key"), "{error}");
        let ring = Keyring::new(1, [9; 32], [(2, public)], [(2, [4; 32])]).unwrap();
        assert!(ring.knows(2));
        assert!(!format!("{ring:?}").contains("signing"));
    }
}

//! PBFT's key files: each node's ed25519 signing key, every node's public
//! key and the pairwise MAC keys, for the replicas and for each replica's
//! gateway identities.
//!
//! [`write_pbft_keys`] generates a cluster's keys from the operating
//! system's randomness and writes one file per replica, holding only the
//! secrets that replica needs: its own signing key and its gateway
//! identities', every public key, and the MAC keys of the pairs it or one
//! of its identities takes part in. [`load_pbft_keys`] reads one back and
//! checks it against the node's configuration.
//!
//! Who talks to whom: replicas with every replica, and every gateway
//! identity (of any node) with every replica — a request carries a MAC for
//! each replica. Identities never talk to each other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tessera_core::NodeId;
use tessera_pbft::{Keyring, check_gateway_ids, gateway_client_id};

use crate::NetError;
use crate::certificate_authority::write_file;

/// The format line every key file starts with.
const FORMAT: &str = "tessera-pbft-keys-1";

/// The name of replica `replica`'s key file: `pbft-keys-<id>.toml`.
pub fn pbft_keys_file_name(replica: NodeId) -> String {
    format!("pbft-keys-{replica}.toml")
}

/// One replica's keys, as its gateway needs them: the replica's keyring
/// and its gateway identities', in identity order.
#[derive(Debug, Clone)]
pub struct PbftKeys {
    /// The replica's keyring.
    pub replica: Keyring,
    /// The keyring of each of its gateway identities, `k = 0, 1, …`.
    pub gateway: Vec<Keyring>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    replica: NodeId,
    replicas: Vec<NodeId>,
    gateway_clients: usize,
    /// Secret signing keys: the replica's and its identities'.
    secret_keys: Vec<NodeKey>,
    /// Every node's public key.
    public_keys: Vec<NodeKey>,
    /// The MAC keys of the pairs the file's nodes take part in.
    mac_keys: Vec<PairKey>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeKey {
    id: NodeId,
    key: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairKey {
    a: NodeId,
    b: NodeId,
    key: String,
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

fn pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

/// Every node a cluster's key files name: the replicas, then each
/// replica's identities.
fn all_nodes(replicas: &[NodeId], gateway_clients: usize) -> Vec<NodeId> {
    let mut nodes = replicas.to_vec();
    for &replica in replicas {
        nodes.extend((0..gateway_clients).map(|k| gateway_client_id(replica, k)));
    }
    nodes
}

fn check_cluster(replicas: &[NodeId], gateway_clients: usize) -> Result<(), String> {
    if replicas.is_empty() {
        return Err("no replicas".into());
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != replicas.len() {
        return Err(format!("duplicate replica ids in {replicas:?}"));
    }
    for &replica in replicas {
        check_gateway_ids(replica, gateway_clients).map_err(|error| error.to_string())?;
    }
    Ok(())
}

fn random_key() -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut key)
        .map_err(|_| "the operating system's random source failed".to_string())?;
    Ok(key)
}

/// Generates fresh keys for a PBFT cluster of `replicas`, each hosting
/// `gateway_clients` gateway identities, from the operating system's
/// randomness, and writes one file per replica into `dir`
/// ([`pbft_keys_file_name`], readable by its owner only); returns the
/// paths written. Each file holds that replica's secrets and its
/// identities', never another replica's.
///
/// # Errors
///
/// [`NetError::Certificate`] (field `pbft.keys`) for an invalid cluster
/// (no replicas, duplicates, ids or an identity count out of range) or a
/// file that cannot be written.
pub fn write_pbft_keys(
    dir: &Path,
    replicas: &[NodeId],
    gateway_clients: usize,
) -> Result<Vec<PathBuf>, NetError> {
    let error = |path: &Path, reason: String| NetError::Certificate {
        field: "pbft.keys".into(),
        path: path.to_path_buf(),
        reason,
    };
    check_cluster(replicas, gateway_clients).map_err(|reason| error(dir, reason))?;
    std::fs::create_dir_all(dir).map_err(|e| error(dir, e.to_string()))?;
    let nodes = all_nodes(replicas, gateway_clients);
    let mut secrets = BTreeMap::new();
    let mut publics = BTreeMap::new();
    for &node in &nodes {
        let secret = random_key().map_err(|reason| error(dir, reason))?;
        let keyring = Keyring::new(node, secret, [], []).map_err(|e| error(dir, e.to_string()))?;
        publics.insert(node, keyring.public_key());
        secrets.insert(node, secret);
    }
    // Replica with replica, replica with every identity.
    let mut macs = BTreeMap::new();
    for &replica in replicas {
        for &other in &nodes {
            if other != replica && !macs.contains_key(&pair(replica, other)) {
                let key = random_key().map_err(|reason| error(dir, reason))?;
                macs.insert(pair(replica, other), key);
            }
        }
    }
    let mut written = Vec::new();
    for &replica in replicas {
        let own: Vec<NodeId> = std::iter::once(replica)
            .chain((0..gateway_clients).map(|k| gateway_client_id(replica, k)))
            .collect();
        let file = KeyFile {
            format: FORMAT.into(),
            replica,
            replicas: replicas.to_vec(),
            gateway_clients,
            secret_keys: own
                .iter()
                .map(|id| NodeKey {
                    id: *id,
                    key: hex(&secrets[id]),
                })
                .collect(),
            public_keys: publics
                .iter()
                .map(|(id, key)| NodeKey {
                    id: *id,
                    key: hex(key),
                })
                .collect(),
            mac_keys: macs
                .iter()
                .filter(|((a, b), _)| own.contains(a) || own.contains(b))
                .map(|((a, b), key)| PairKey {
                    a: *a,
                    b: *b,
                    key: hex(key),
                })
                .collect(),
        };
        let text = format!(
            "# PBFT keys of node {replica} and its {gateway_clients} gateway identities. \
             SECRET: keep this file on node {replica} only.\n{}",
            toml::to_string(&file).map_err(|e| error(dir, e.to_string()))?
        );
        let path = dir.join(pbft_keys_file_name(replica));
        write_file(&path, &text, true).map_err(|e| error(&path, e.to_string()))?;
        written.push(path);
    }
    Ok(written)
}

/// Reads replica `replica`'s key file at `path` and builds its keyrings,
/// checking the file against the cluster the configuration describes
/// (`replicas`, `gateway_clients` identities each).
///
/// # Errors
///
/// [`NetError::Certificate`] (field `pbft.keys`) naming the file and what
/// is wrong: it cannot be read, does not parse, belongs to another node or
/// cluster, or lacks a key some node needs.
pub fn load_pbft_keys(
    path: &Path,
    replica: NodeId,
    replicas: &[NodeId],
    gateway_clients: usize,
) -> Result<PbftKeys, NetError> {
    let error = |reason: String| NetError::Certificate {
        field: "pbft.keys".into(),
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}")))?;
    let file: KeyFile =
        toml::from_str(&text).map_err(|e| error(format!("not a PBFT key file: {e}")))?;
    if file.format != FORMAT {
        return Err(error(format!(
            "format `{}`, expected `{FORMAT}`",
            file.format
        )));
    }
    if file.replica != replica {
        return Err(error(format!(
            "holds the keys of node {}, not of this node {replica}",
            file.replica
        )));
    }
    let (mut theirs, mut ours) = (file.replicas.clone(), replicas.to_vec());
    theirs.sort_unstable();
    ours.sort_unstable();
    if theirs != ours {
        return Err(error(format!(
            "made for the replicas {theirs:?}, but the peers are {ours:?}"
        )));
    }
    if file.gateway_clients != gateway_clients {
        return Err(error(format!(
            "made for {} gateway identities per node, but pbft.gateway_clients is {gateway_clients}",
            file.gateway_clients
        )));
    }
    check_cluster(replicas, gateway_clients).map_err(error)?;
    let key = |text: &str, what: String| {
        unhex(text).ok_or_else(|| error(format!("{what}: not 64 hexadecimal digits")))
    };
    let mut secrets = BTreeMap::new();
    for entry in &file.secret_keys {
        secrets.insert(
            entry.id,
            key(&entry.key, format!("secret key of {}", entry.id))?,
        );
    }
    let mut publics = BTreeMap::new();
    for entry in &file.public_keys {
        publics.insert(
            entry.id,
            key(&entry.key, format!("public key of {}", entry.id))?,
        );
    }
    let mut macs = BTreeMap::new();
    for entry in &file.mac_keys {
        let what = format!("MAC key of {} and {}", entry.a, entry.b);
        macs.insert(pair(entry.a, entry.b), key(&entry.key, what)?);
    }
    let keyring = |id: NodeId, peers: &[NodeId]| -> Result<Keyring, NetError> {
        let secret = *secrets
            .get(&id)
            .ok_or_else(|| error(format!("no secret key for node {id}")))?;
        let mut public_keys = Vec::new();
        let mut mac_keys = Vec::new();
        for &peer in peers.iter().filter(|peer| **peer != id) {
            let public = publics
                .get(&peer)
                .ok_or_else(|| error(format!("no public key for node {peer}")))?;
            let mac = macs
                .get(&pair(id, peer))
                .ok_or_else(|| error(format!("no MAC key for nodes {id} and {peer}")))?;
            public_keys.push((peer, *public));
            mac_keys.push((peer, *mac));
        }
        let keyring = Keyring::new(id, secret, public_keys, mac_keys)
            .map_err(|e| error(format!("the keys of node {id}: {e}")))?;
        if publics
            .get(&id)
            .is_some_and(|public| *public != keyring.public_key())
        {
            return Err(error(format!(
                "the public key listed for node {id} is not its secret key's"
            )));
        }
        Ok(keyring)
    };
    let nodes = all_nodes(replicas, gateway_clients);
    let replica_keys = keyring(replica, &nodes)?;
    let gateway = (0..gateway_clients)
        .map(|k| keyring(gateway_client_id(replica, k), replicas))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PbftKeys {
        replica: replica_keys,
        gateway,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        let key = [0xa5; 32];
        assert_eq!(unhex(&hex(&key)), Some(key));
        assert_eq!(unhex("00"), None);
        assert_eq!(unhex(&"zz".repeat(32)), None);
    }

    #[test]
    fn written_files_load_into_keyrings_that_talk_to_each_other() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let replicas = [1, 2, 3, 4];
        let paths = write_pbft_keys(dir.path(), &replicas, 2).expect("keys written");
        assert_eq!(paths.len(), 4);
        let loaded: Vec<PbftKeys> = replicas
            .iter()
            .zip(&paths)
            .map(|(id, path)| load_pbft_keys(path, *id, &replicas, 2).expect("keys load"))
            .collect();
        // Replica 1 knows replica 2's identity 1; their public keys agree.
        let identity = gateway_client_id(2, 1);
        assert_eq!(
            loaded[0].replica.public_key_of(identity),
            Some(loaded[1].gateway[1].public_key())
        );
        // A MAC from identity (2, 1) for replica 3 checks at replica 3.
        let tag = loaded[1].gateway[1]
            .mac_bytes_for(3, b"request")
            .expect("a MAC key for replica 3");
        assert!(
            loaded[2]
                .replica
                .check_mac_bytes_from(identity, b"request", &tag)
        );
        // No file holds another replica's secret.
        let text = std::fs::read_to_string(&paths[0]).expect("readable");
        assert_eq!(text.matches("[[secret_keys]]").count(), 3);

        // Wrong node, wrong cluster, missing file, malformed, missing key.
        let wrong = |result: Result<PbftKeys, NetError>, needle: &str| {
            let error = result.expect_err("refused").to_string();
            assert!(error.contains(needle), "{error} should say {needle}");
        };
        wrong(
            load_pbft_keys(&paths[0], 2, &replicas, 2),
            "not of this node 2",
        );
        wrong(
            load_pbft_keys(&paths[0], 1, &[1, 2, 3, 5], 2),
            "made for the replicas",
        );
        wrong(
            load_pbft_keys(&paths[0], 1, &replicas, 3),
            "gateway identities",
        );
        wrong(
            load_pbft_keys(&dir.path().join("nothing.toml"), 1, &replicas, 2),
            "cannot read",
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "format = 7").expect("write");
        wrong(load_pbft_keys(&bad, 1, &replicas, 2), "not a PBFT key file");
        let cut = text.replacen("[[public_keys]]\nid = 4\n", "[[public_keys]]\nid = 99\n", 1);
        std::fs::write(&bad, cut).expect("write");
        wrong(
            load_pbft_keys(&bad, 1, &replicas, 2),
            "no public key for node 4",
        );
        assert!(write_pbft_keys(dir.path(), &[1, 1], 2).is_err());
        assert!(write_pbft_keys(dir.path(), &[1, 2], 0).is_err());
    }
}

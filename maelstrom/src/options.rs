//! How a node is tuned: its seed, timeouts and pacing.

use std::time::Duration;

use tessera_crdt::{PEER_TIMEOUT_DEFAULT, SYNC_INTERVAL_DEFAULT};

use crate::MaelstromError;

/// How long a lin-kv client request may wait for Raft's answer, by default.
pub const CLIENT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// After how many log entries a lin-kv node snapshots its map, by default.
pub const SNAPSHOT_ENTRIES_DEFAULT: u64 = 10_000;
/// The shortest Raft election timeout of a lin-kv node, by default: Raft's
/// LAN setting, for Maelstrom's default network latency of zero.
pub const ELECTION_TIMEOUT_DEFAULT: Duration = Duration::from_millis(150);

/// A node's tuning. The defaults suit Maelstrom's own (its clients give up
/// on a request after one second).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_maelstrom::NodeOptions;
///
/// let options = NodeOptions { seed: 7, snapshot_entries: 50, ..NodeOptions::default() };
/// assert!(options.validate().is_ok());
/// let bad = NodeOptions { client_timeout: Duration::ZERO, ..options };
/// assert!(bad.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeOptions {
    /// Seeds the node's random choices (Raft's election timeouts) and is its
    /// delta-sync incarnation: pick a different one at every start (the
    /// driver uses the wall clock).
    pub seed: u64,
    /// lin-kv: a request Raft has not answered within this time gets a
    /// `timeout` error (indefinite) and is forgotten.
    pub client_timeout: Duration,
    /// lin-kv: Raft snapshots the map every this many log entries (and keeps
    /// a tenth as many behind the snapshot for lagging followers).
    pub snapshot_entries: u64,
    /// lin-kv: Raft's shortest election timeout; the longest is twice it,
    /// heartbeats go every third of it, and the clock-drift bound of lease
    /// evidence is a third of it. Raise it with Maelstrom's `--latency`:
    /// at least four one-way latencies.
    pub election_timeout: Duration,
    /// CRDT workloads: how often deltas are shipped to each peer.
    pub sync_interval: Duration,
    /// CRDT workloads: a peer silent this long counts as partitioned.
    pub peer_timeout: Duration,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            seed: 0,
            client_timeout: CLIENT_TIMEOUT_DEFAULT,
            snapshot_entries: SNAPSHOT_ENTRIES_DEFAULT,
            election_timeout: ELECTION_TIMEOUT_DEFAULT,
            sync_interval: SYNC_INTERVAL_DEFAULT,
            peer_timeout: PEER_TIMEOUT_DEFAULT,
        }
    }
}

impl NodeOptions {
    /// Checks every value.
    ///
    /// # Errors
    ///
    /// [`MaelstromError::Usage`] naming the first bad one.
    pub fn validate(&self) -> Result<(), MaelstromError> {
        let bad = |reason: &str| {
            Err(MaelstromError::Usage {
                reason: reason.to_string(),
            })
        };
        if self.client_timeout.is_zero() {
            return bad("client_timeout must be positive");
        }
        if self.snapshot_entries < 10 {
            return bad("snapshot_entries must be at least 10");
        }
        if self.election_timeout < Duration::from_millis(3) {
            return bad("election_timeout must be at least 3 ms");
        }
        if let Err(error) = crate::lin_kv::raft_config(self).validate() {
            return bad(&format!("the Raft configuration is invalid: {error}"));
        }
        if self.sync_interval.is_zero() || self.peer_timeout <= self.sync_interval {
            return bad("sync_interval must be positive and shorter than peer_timeout");
        }
        Ok(())
    }
}

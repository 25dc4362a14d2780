//! How a replica behaves: default quorums, timers and bounds.

use std::time::Duration;

use tessera_core::InvalidParameter;

use crate::{MERKLE_DEPTH_MAX, QuorumError, RequestOptions};

/// A replica's settings. Every node of a cluster should use the same
/// values; the Merkle depth in particular must match for anti-entropy.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_quorum::ReplicaConfig;
///
/// let config = ReplicaConfig { hint_ttl: Duration::from_secs(10), ..ReplicaConfig::default() };
/// assert!(config.validate().is_ok());
///
/// // Tombstones must outlive hints, or a late hint could bring a deleted value back.
/// let unsafe_config = ReplicaConfig { tombstone_grace: Duration::from_secs(5), ..config };
/// assert!(unsafe_config.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// Quorums for requests that do not say.
    pub default_options: RequestOptions,
    /// How long a coordinator waits for R replies or W acknowledgements
    /// before answering that the quorum was unavailable.
    pub request_timeout: Duration,
    /// How often a coordinator re-sends to replicas that have not answered.
    pub retry_interval: Duration,
    /// How long a replica may stay silent before it is suspected down (and
    /// a sloppy quorum replaces it).
    pub suspect_after: Duration,
    /// How long a fallback keeps a hint before dropping it.
    pub hint_ttl: Duration,
    /// How often hints are offered back to their home replicas.
    pub handoff_interval: Duration,
    /// How often a replica starts an anti-entropy session.
    pub anti_entropy_interval: Duration,
    /// How long an anti-entropy session may last.
    pub anti_entropy_timeout: Duration,
    /// Levels of each range's Merkle tree below the root.
    pub merkle_depth: u8,
    /// How long a tombstone is kept, at least, before it may be collected
    /// (and then only once every home replica holds it).
    pub tombstone_grace: Duration,
    /// How often tombstone collection runs.
    pub tombstone_gc_interval: Duration,
    /// How long a replica remembers a purged tombstone, refusing the
    /// versions it had deleted if they arrive late.
    pub purge_retention: Duration,
    /// How long a replica stays in Degraded or Recovery after the last
    /// event that put it there.
    pub mode_hold: Duration,
    /// The most client requests a coordinator keeps open.
    pub pending_requests_max: usize,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            default_options: RequestOptions::strict(3, 2, 2),
            request_timeout: Duration::from_millis(300),
            retry_interval: Duration::from_millis(20),
            suspect_after: Duration::from_millis(60),
            hint_ttl: Duration::from_secs(30),
            handoff_interval: Duration::from_millis(100),
            anti_entropy_interval: Duration::from_millis(200),
            anti_entropy_timeout: Duration::from_secs(1),
            merkle_depth: 6,
            tombstone_grace: Duration::from_secs(60),
            tombstone_gc_interval: Duration::from_millis(500),
            purge_retention: Duration::from_secs(120),
            mode_hold: Duration::from_millis(500),
            pending_requests_max: 1_000,
        }
    }
}

impl ReplicaConfig {
    /// Checks every setting.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] naming the first bad one: a zero
    /// interval, a Merkle depth above [`MERKLE_DEPTH_MAX`], a tombstone
    /// grace not longer than the hint lifetime, or a purge retention
    /// shorter than the hint lifetime (either would let a late hint
    /// resurrect a deleted value).
    pub fn validate(&self) -> Result<(), QuorumError> {
        let positive = [
            ("request_timeout", self.request_timeout),
            ("retry_interval", self.retry_interval),
            ("suspect_after", self.suspect_after),
            ("hint_ttl", self.hint_ttl),
            ("handoff_interval", self.handoff_interval),
            ("anti_entropy_interval", self.anti_entropy_interval),
            ("anti_entropy_timeout", self.anti_entropy_timeout),
            ("tombstone_gc_interval", self.tombstone_gc_interval),
        ];
        for (parameter, value) in positive {
            if value.is_zero() {
                return Err(InvalidParameter::new(parameter, "must be positive").into());
            }
        }
        if self.merkle_depth > MERKLE_DEPTH_MAX {
            return Err(InvalidParameter::new(
                "merkle_depth",
                format!(
                    "must be at most {MERKLE_DEPTH_MAX}, got {}",
                    self.merkle_depth
                ),
            )
            .into());
        }
        if self.tombstone_grace <= self.hint_ttl {
            return Err(InvalidParameter::new(
                "tombstone_grace",
                format!(
                    "must exceed hint_ttl ({:?}), got {:?}: a hint of a deleted value could outlive its tombstone",
                    self.hint_ttl, self.tombstone_grace
                ),
            )
            .into());
        }
        if self.purge_retention < self.hint_ttl {
            return Err(InvalidParameter::new(
                "purge_retention",
                format!(
                    "must be at least hint_ttl ({:?}), got {:?}",
                    self.hint_ttl, self.purge_retention
                ),
            )
            .into());
        }
        if self.pending_requests_max == 0 {
            return Err(InvalidParameter::new("pending_requests_max", "must be positive").into());
        }
        Ok(())
    }
}

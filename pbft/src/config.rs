//! The configuration every replica and client of one cluster shares.

use std::time::Duration;

use tessera_core::{InvalidParameter, NodeId};
use tessera_quorum::{Byzantine, QuorumSystem};

use crate::PbftError;

/// Which authenticators normal-case messages carry.
///
/// View-change, new-view and checkpoint messages are always signed: they
/// are relayed and shown to third parties as proof. The normal case —
/// requests, pre-prepares, prepares, commits, replies, status — carries a
/// vector of MACs (one per recipient) by default, as in Castro and
/// Liskov's PBFT, because a MAC costs a fraction of a microsecond and a
/// signature tens of microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Authentication {
    /// MACs in the normal case, signatures where proof is needed.
    Macs,
    /// Signatures on every message.
    Signatures,
}

/// The cluster's replicas, fault bound and protocol parameters.
///
/// # Examples
///
/// ```
/// use tessera_pbft::PbftConfig;
///
/// let config = PbftConfig::new([1, 2, 3, 4])?;
/// assert_eq!(config.faults(), 1);          // n = 3f + 1
/// assert_eq!(config.quorum_size(), 3);     // 2f + 1
/// assert_eq!(config.weak_quorum_size(), 2); // f + 1
/// assert_eq!(config.primary(0), 1);
/// assert_eq!(config.primary(5), 2);
/// assert!(PbftConfig::new([1, 2, 3]).is_err()); // no Byzantine fault tolerated
/// # Ok::<(), tessera_pbft::PbftError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbftConfig {
    quorum: Byzantine,
    /// A checkpoint every this many sequence numbers (the paper's K).
    pub checkpoint_interval: u64,
    /// Sequence numbers a replica accepts above its low watermark (the
    /// paper's L): a multiple of the checkpoint interval, at least twice it.
    pub watermark_window: u64,
    /// Requests per batch at most.
    pub batch_size_max: usize,
    /// Batches the primary has pre-prepared but not executed, at most:
    /// while this many are in flight, new requests wait and so form larger
    /// batches.
    pub batches_in_flight_max: usize,
    /// How long a backup waits for a request to execute before it suspects
    /// the primary; doubled at each view change that does not complete.
    pub view_change_timeout: Duration,
    /// The view-change timeout never grows beyond this.
    pub view_change_timeout_max: Duration,
    /// How often a replica that waits for something (a request, a view
    /// change, missing messages) tells its peers where it stands, so they
    /// retransmit what it lacks.
    pub status_interval: Duration,
    /// A replica that has heard from fewer than `2f` peers within this
    /// long, while it has work, reports the Floor mode — and does not
    /// start a view change (it could not complete it, and could never take
    /// it back). Keep it below `view_change_timeout`, so that a replica cut
    /// off from the others knows it before its view-change timer expires,
    /// and above twice `status_interval` (a peer answers a status at once).
    pub peer_silence_timeout: Duration,
    /// A client multicasts its request again after this long without
    /// `f + 1` matching replies; doubled at each retry.
    pub client_retransmit_timeout: Duration,
    /// A client's retransmission timeout never grows beyond this.
    pub client_retransmit_timeout_max: Duration,
    /// Which authenticators normal-case messages carry.
    pub authentication: Authentication,
    /// A client operation's size limit, in bytes.
    pub operation_bytes_max: usize,
    /// A reply's result size limit, in bytes.
    pub result_bytes_max: usize,
    /// A checkpoint's state size limit, in bytes (a state transfer moves it
    /// in one message).
    pub state_bytes_max: usize,
    /// Any encoded message's size limit, in bytes.
    pub message_bytes_max: usize,
    /// Messages for a view a replica has not entered yet that it keeps, at
    /// most; the oldest go first.
    pub future_messages_max: usize,
    /// Operations a client queues behind the one in flight, at most.
    pub client_queue_max: usize,
}

impl PbftConfig {
    /// A configuration of `replicas` tolerating as many Byzantine faults as
    /// they can, `f = ⌊(n − 1) / 3⌋`, with default parameters.
    ///
    /// # Errors
    ///
    /// [`PbftError::InvalidParameter`] for a bad replica list, or fewer
    /// than four replicas (no fault tolerated).
    pub fn new(replicas: impl IntoIterator<Item = NodeId>) -> Result<Self, PbftError> {
        let quorum = Byzantine::tolerating_most(replicas)
            .map_err(|error| InvalidParameter::new("replicas", error.to_string()))?;
        if quorum.faults() == 0 {
            return Err(InvalidParameter::new(
                "replicas",
                format!(
                    "{} replicas tolerate no Byzantine fault: PBFT needs at least 3f + 1 = 4",
                    quorum.members().len()
                ),
            )
            .into());
        }
        Ok(Self::with_quorum(quorum))
    }

    /// A configuration of `replicas` tolerating `faults` Byzantine faults.
    ///
    /// # Errors
    ///
    /// [`PbftError::InvalidParameter`] for a bad replica list, `faults`
    /// zero, or fewer than `3 · faults + 1` replicas.
    pub fn with_faults(
        replicas: impl IntoIterator<Item = NodeId>,
        faults: usize,
    ) -> Result<Self, PbftError> {
        if faults == 0 {
            return Err(InvalidParameter::new("faults", "must be at least 1").into());
        }
        let quorum = Byzantine::new(replicas, faults)
            .map_err(|error| InvalidParameter::new("replicas", error.to_string()))?;
        Ok(Self::with_quorum(quorum))
    }

    fn with_quorum(quorum: Byzantine) -> Self {
        PbftConfig {
            quorum,
            checkpoint_interval: 64,
            watermark_window: 128,
            batch_size_max: 64,
            batches_in_flight_max: 4,
            view_change_timeout: Duration::from_millis(500),
            view_change_timeout_max: Duration::from_secs(30),
            status_interval: Duration::from_millis(100),
            peer_silence_timeout: Duration::from_millis(300),
            client_retransmit_timeout: Duration::from_millis(300),
            client_retransmit_timeout_max: Duration::from_secs(5),
            authentication: Authentication::Macs,
            operation_bytes_max: 64 * 1024,
            result_bytes_max: 64 * 1024,
            state_bytes_max: 64 * 1024 * 1024,
            message_bytes_max: 80 * 1024 * 1024,
            future_messages_max: 4096,
            client_queue_max: 1024,
        }
    }

    /// Checks every parameter.
    ///
    /// # Errors
    ///
    /// [`PbftError::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<(), PbftError> {
        let k = self.checkpoint_interval;
        if k == 0 {
            return Err(InvalidParameter::new("checkpoint_interval", "must be positive").into());
        }
        let l = self.watermark_window;
        if l < 2 * k || !l.is_multiple_of(k) {
            return Err(InvalidParameter::new(
                "watermark_window",
                format!(
                    "must be a multiple of checkpoint_interval ({k}) and at least twice it, got {l}"
                ),
            )
            .into());
        }
        if l > 1 << 20 {
            return Err(InvalidParameter::new("watermark_window", "must be at most 2^20").into());
        }
        for (name, value) in [
            ("batch_size_max", self.batch_size_max),
            ("batches_in_flight_max", self.batches_in_flight_max),
            ("operation_bytes_max", self.operation_bytes_max),
            ("message_bytes_max", self.message_bytes_max),
            ("future_messages_max", self.future_messages_max),
            ("client_queue_max", self.client_queue_max),
        ] {
            if value == 0 {
                return Err(InvalidParameter::new(name, "must be positive").into());
            }
        }
        if self.batch_size_max > 1 << 16 {
            return Err(InvalidParameter::new("batch_size_max", "must be at most 65536").into());
        }
        for (name, value) in [
            ("view_change_timeout", self.view_change_timeout),
            ("status_interval", self.status_interval),
            ("peer_silence_timeout", self.peer_silence_timeout),
            ("client_retransmit_timeout", self.client_retransmit_timeout),
        ] {
            if value.is_zero() {
                return Err(InvalidParameter::new(name, "must be positive").into());
            }
        }
        if self.view_change_timeout_max < self.view_change_timeout {
            return Err(InvalidParameter::new(
                "view_change_timeout_max",
                "must be at least view_change_timeout",
            )
            .into());
        }
        if self.client_retransmit_timeout_max < self.client_retransmit_timeout {
            return Err(InvalidParameter::new(
                "client_retransmit_timeout_max",
                "must be at least client_retransmit_timeout",
            )
            .into());
        }
        Ok(())
    }

    /// The replicas, sorted.
    pub fn replicas(&self) -> &[NodeId] {
        self.quorum.members()
    }

    /// `n`, the number of replicas.
    pub fn replica_count(&self) -> usize {
        self.replicas().len()
    }

    /// `f`, the Byzantine replicas tolerated.
    pub fn faults(&self) -> usize {
        self.quorum.faults()
    }

    /// `2f + 1` (more precisely `⌈(n + f + 1) / 2⌉`): a quorum, of which
    /// any two share a correct replica.
    pub fn quorum_size(&self) -> usize {
        self.quorum.quorum_size()
    }

    /// `f + 1`: the fewest replicas that include a correct one.
    pub fn weak_quorum_size(&self) -> usize {
        self.quorum.weak_quorum_size()
    }

    /// The tessera-quorum quorum system the replicas form.
    pub fn quorum(&self) -> &Byzantine {
        &self.quorum
    }

    /// The primary of `view`: replica `view mod n`.
    pub fn primary(&self, view: u64) -> NodeId {
        let replicas = self.replicas();
        replicas[(view % replicas.len() as u64) as usize]
    }

    /// The position of `node` among the replicas, if it is one.
    pub fn position(&self, node: NodeId) -> Option<usize> {
        self.replicas().binary_search(&node).ok()
    }

    /// Whether `node` is a replica.
    pub fn is_replica(&self, node: NodeId) -> bool {
        self.position(node).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_three_f_plus_one() {
        let config = PbftConfig::new(1..=7).unwrap();
        assert_eq!(
            (
                config.faults(),
                config.quorum_size(),
                config.weak_quorum_size()
            ),
            (2, 5, 3)
        );
        let config = PbftConfig::with_faults(1..=7, 1).unwrap();
        assert_eq!(config.quorum_size(), 5, "⌈(7 + 1 + 1) / 2⌉");
        assert!(PbftConfig::with_faults(1..=6, 2).is_err());
        assert!(PbftConfig::with_faults(1..=6, 0).is_err());
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let base = PbftConfig::new(1..=4).unwrap();
        base.validate().unwrap();
        type Mutation = Box<dyn Fn(&mut PbftConfig)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|c| c.checkpoint_interval = 0),
                "checkpoint_interval",
            ),
            (
                Box::new(|c| c.watermark_window = c.checkpoint_interval),
                "watermark_window",
            ),
            (
                Box::new(|c| c.watermark_window = 3 * c.checkpoint_interval + 1),
                "watermark_window",
            ),
            (Box::new(|c| c.batch_size_max = 0), "batch_size_max"),
            (
                Box::new(|c| c.view_change_timeout = Duration::ZERO),
                "view_change_timeout",
            ),
            (
                Box::new(|c| c.view_change_timeout_max = Duration::from_millis(1)),
                "view_change_timeout_max",
            ),
        ];
        for (mutate, name) in cases {
            let mut config = base.clone();
            mutate(&mut config);
            let error = config.validate().unwrap_err();
            assert!(
                error.to_string().contains(name),
                "{error} should name {name}"
            );
        }
    }
}

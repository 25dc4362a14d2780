//! One typed configuration for a node: identity, addresses, peers, TLS,
//! transport limits and the protocol's tuning, read from TOML and checked
//! field by field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_core::NodeId;
use tessera_paxos::PaxosError;
use tessera_paxos::multi::{Configuration, LeaseConfig, MultiPaxosConfig, QuorumSpec};
use tessera_pbft::{GATEWAY_CLIENTS_MAX, GatewayOptions, PbftConfig, PbftError};
use tessera_raft::{RaftConfig, RaftError};

/// A configuration value that is wrong, naming the field as it is written
/// in the TOML file (`peers[2].id`, `transport.backoff_max_ms`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration field `{field}`: {reason}")]
pub struct ConfigError {
    /// The field, as a path into the file.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// A member of the cluster: its id and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The node's id (at least 1, unique in the cluster).
    pub id: NodeId,
    /// Where the node listens for other nodes (`host:port`).
    pub peer_address: String,
    /// Where the node listens for clients (`host:port`); given to clients
    /// redirected to this node when it leads.
    pub client_address: String,
}

/// Whether the client port asks clients for certificates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// Clients must present a certificate issued by the cluster's CA.
    Required,
    /// TLS, but clients need no certificate.
    #[default]
    None,
}

/// TLS for both ports. The peer port always requires mutual TLS when this
/// section is present: a node's identity is its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The cluster's CA certificate (PEM): peers' and clients' certificates
    /// must chain to it.
    pub ca_cert: PathBuf,
    /// This node's certificate chain (PEM), naming
    /// `node-<id>.<cluster_id>.tessera` and `<cluster_id>.tessera`.
    pub cert: PathBuf,
    /// This node's private key (PEM).
    pub key: PathBuf,
    /// Whether clients need certificates on the client port.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// The transport's timeouts, back-off and bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransportConfig {
    /// Give up a connection attempt after this long.
    pub connect_timeout_ms: u64,
    /// The first pause before reconnecting to an unreachable peer.
    pub backoff_initial_ms: u64,
    /// The longest pause between reconnection attempts (the pause doubles
    /// from `backoff_initial_ms` up to this, with jitter).
    pub backoff_max_ms: u64,
    /// Send an HTTP/2 PING on idle connections this often.
    pub keepalive_interval_ms: u64,
    /// Close a connection whose PING is not answered within this time.
    pub keepalive_timeout_ms: u64,
    /// Give up a TLS handshake after this long.
    pub handshake_timeout_ms: u64,
    /// At most this many messages wait for each peer and lane; beyond it
    /// the oldest are dropped (and counted).
    pub peer_queue_messages_max: usize,
    /// At most about this many bytes wait for each peer and lane.
    pub peer_queue_bytes_max: usize,
    /// The largest gRPC message a node sends or accepts; larger ones are
    /// refused with an error.
    pub message_bytes_max: usize,
    /// At most this many messages per envelope.
    pub envelope_messages_max: usize,
    /// At most this many message batches from peers wait for the node.
    pub inbound_batches_max: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            connect_timeout_ms: 1_000,
            backoff_initial_ms: 50,
            backoff_max_ms: 2_000,
            keepalive_interval_ms: 1_000,
            keepalive_timeout_ms: 3_000,
            handshake_timeout_ms: 2_000,
            peer_queue_messages_max: 4_096,
            peer_queue_bytes_max: 32 << 20,
            message_bytes_max: 8 << 20,
            envelope_messages_max: 256,
            inbound_batches_max: 1_024,
        }
    }
}

/// The client port's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// A request not answered within this time gets "outcome unknown" (a
    /// proposal may still be applied) or, for a read, a refusal.
    pub request_timeout_ms: u64,
    /// At most this many client requests wait for the node; more are
    /// refused as overloaded.
    pub requests_pending_max: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            request_timeout_ms: 5_000,
            requests_pending_max: 16_384,
        }
    }
}

/// Raft's tuning, in the units a configuration file uses (milliseconds);
/// see [`RaftConfig`] for what each value means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RaftSettings {
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub pre_vote: bool,
    pub check_quorum: bool,
    pub max_clock_offset_ms: u64,
    pub append_entries_max: usize,
    pub append_bytes_max: usize,
    pub inflight_messages_max: usize,
    pub inflight_bytes_max: usize,
    pub proposals_pending_max: usize,
    pub reads_pending_max: usize,
    pub forward_proposals: bool,
    pub snapshot_threshold_entries: u64,
    pub snapshot_keep_entries: u64,
    pub snapshot_chunk_bytes: usize,
    pub snapshot_chunks_inflight_max: usize,
}

impl Default for RaftSettings {
    fn default() -> Self {
        Self::from_raft_config(&RaftConfig::default())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl RaftSettings {
    /// The settings equal to `config` (to the millisecond).
    pub fn from_raft_config(config: &RaftConfig) -> Self {
        RaftSettings {
            election_timeout_min_ms: millis(config.election_timeout_min),
            election_timeout_max_ms: millis(config.election_timeout_max),
            heartbeat_interval_ms: millis(config.heartbeat_interval),
            pre_vote: config.pre_vote,
            check_quorum: config.check_quorum,
            max_clock_offset_ms: millis(config.max_clock_offset),
            append_entries_max: config.append_entries_max,
            append_bytes_max: config.append_bytes_max,
            inflight_messages_max: config.inflight_messages_max,
            inflight_bytes_max: config.inflight_bytes_max,
            proposals_pending_max: config.proposals_pending_max,
            reads_pending_max: config.reads_pending_max,
            forward_proposals: config.forward_proposals,
            snapshot_threshold_entries: config.snapshot_threshold_entries,
            snapshot_keep_entries: config.snapshot_keep_entries,
            snapshot_chunk_bytes: config.snapshot_chunk_bytes,
            snapshot_chunks_inflight_max: config.snapshot_chunks_inflight_max,
        }
    }

    /// The [`RaftConfig`] these settings describe.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field (`raft.<field>`) that
    /// [`RaftConfig::validate`] refuses.
    pub fn to_raft_config(&self) -> Result<RaftConfig, ConfigError> {
        let config = RaftConfig {
            election_timeout_min: Duration::from_millis(self.election_timeout_min_ms),
            election_timeout_max: Duration::from_millis(self.election_timeout_max_ms),
            heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms),
            pre_vote: self.pre_vote,
            check_quorum: self.check_quorum,
            max_clock_offset: Duration::from_millis(self.max_clock_offset_ms),
            append_entries_max: self.append_entries_max,
            append_bytes_max: self.append_bytes_max,
            inflight_messages_max: self.inflight_messages_max,
            inflight_bytes_max: self.inflight_bytes_max,
            proposals_pending_max: self.proposals_pending_max,
            reads_pending_max: self.reads_pending_max,
            forward_proposals: self.forward_proposals,
            snapshot_threshold_entries: self.snapshot_threshold_entries,
            snapshot_keep_entries: self.snapshot_keep_entries,
            snapshot_chunk_bytes: self.snapshot_chunk_bytes,
            snapshot_chunks_inflight_max: self.snapshot_chunks_inflight_max,
            ..RaftConfig::default()
        };
        config.validate().map_err(|error| match error {
            RaftError::InvalidConfig(invalid) => {
                // RaftConfig names durations without their unit; the file's
                // names end in `_ms`.
                let field = match invalid.parameter {
                    "election_timeout_min"
                    | "election_timeout_max"
                    | "heartbeat_interval"
                    | "max_clock_offset" => format!("raft.{}_ms", invalid.parameter),
                    other => format!("raft.{other}"),
                };
                ConfigError::new(field, invalid.reason)
            }
            other => ConfigError::new("raft", other),
        })?;
        Ok(config)
    }
}

/// Multi-Paxos's tuning, in the units a configuration file uses
/// (milliseconds); see [`MultiPaxosConfig`] for what each value means.
///
/// Slots travel in accept, promise and catch-up messages of at most
/// `transport.message_bytes_max` (less room for the framing), counting
/// each command by the application's `command_bytes`; a single command
/// larger than that still goes, alone, and the transport refuses it.
///
/// # Examples
///
/// ```
/// use tessera_net::PaxosSettings;
///
/// let mut settings = PaxosSettings::default();
/// let config = settings.to_paxos_config(1, vec![1, 2, 3])?;
/// assert!(config.lease.is_some());
///
/// settings.heartbeat_interval_ms = 1_000;
/// let error = settings.to_paxos_config(1, vec![1, 2, 3]).unwrap_err();
/// assert_eq!(error.field, "paxos.election_timeout_ms");
/// # Ok::<(), tessera_net::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaxosSettings {
    /// The leader's heartbeat (and lease renewal) period.
    pub heartbeat_interval_ms: u64,
    /// A follower that hears no leader for a random time in
    /// `[election_timeout, 2 · election_timeout)` starts phase one.
    pub election_timeout_ms: u64,
    /// Unanswered accepts, prepares and catch-up requests are re-sent
    /// after this long.
    pub retransmit_timeout_ms: u64,
    /// The leader lease's length; 0 turns leases off (every read then
    /// waits for a barrier slot).
    pub lease_ms: u64,
    /// The bound on the difference between any two nodes' clocks that
    /// leases rest on.
    pub max_clock_offset_ms: u64,
    /// The most commands in one slot.
    pub batch_max: usize,
    /// The most slots in flight at once.
    pub window: usize,
    /// The most commands and reads waiting at the leader.
    pub queue_max: usize,
    /// A snapshot is taken, and the log compacted, every this many
    /// applied slots.
    pub snapshot_interval: u64,
    /// The largest snapshot a node accepts from a peer, in bytes.
    pub snapshot_bytes_max: u64,
}

impl Default for PaxosSettings {
    /// tessera-paxos's LAN defaults (50 ms heartbeats, 300 ms election
    /// timeout), a 500 ms lease with clocks up to 50 ms apart, batches of
    /// up to 64 commands, 32 slots in flight.
    fn default() -> Self {
        PaxosSettings {
            heartbeat_interval_ms: 50,
            election_timeout_ms: 300,
            retransmit_timeout_ms: 60,
            lease_ms: 500,
            max_clock_offset_ms: 50,
            batch_max: 64,
            window: 32,
            queue_max: 16_384,
            snapshot_interval: 10_000,
            snapshot_bytes_max: 1 << 30,
        }
    }
}

impl PaxosSettings {
    /// The [`MultiPaxosConfig`] of node `id` in a cluster of `members`
    /// (majority quorums).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field (`paxos.<field>`) that
    /// [`MultiPaxosConfig::validate`] refuses, or `peers` if the members
    /// do not form quorums.
    pub fn to_paxos_config(
        &self,
        id: NodeId,
        members: Vec<NodeId>,
    ) -> Result<MultiPaxosConfig, ConfigError> {
        let refused = |error: PaxosError| match error {
            PaxosError::InvalidParameter(invalid) => {
                let field = match invalid.parameter {
                    "heartbeat_interval" | "election_timeout" | "retransmit_timeout" => {
                        format!("paxos.{}_ms", invalid.parameter)
                    }
                    other => format!("paxos.{other}"),
                };
                ConfigError::new(field, invalid.reason)
            }
            other => ConfigError::new("peers", other),
        };
        let initial = Configuration::initial(QuorumSpec::Majority(members));
        let mut config = MultiPaxosConfig::new(id, initial).map_err(refused)?;
        config.heartbeat_interval = Duration::from_millis(self.heartbeat_interval_ms);
        config.election_timeout = Duration::from_millis(self.election_timeout_ms);
        config.retransmit_timeout = Duration::from_millis(self.retransmit_timeout_ms);
        config.lease = (self.lease_ms > 0).then(|| LeaseConfig {
            duration: Duration::from_millis(self.lease_ms),
            max_clock_offset: Duration::from_millis(self.max_clock_offset_ms),
        });
        config.batch_max = self.batch_max;
        config.window = self.window;
        config.queue_max = self.queue_max;
        config.snapshot_interval = self.snapshot_interval;
        config.snapshot_bytes_max = self.snapshot_bytes_max;
        config.validate().map_err(|error| match error {
            // The lease check names the heartbeat; the file's lease
            // setting is what usually needs changing.
            PaxosError::InvalidParameter(invalid)
                if invalid.parameter == "heartbeat_interval"
                    && invalid.reason.contains("lease") =>
            {
                ConfigError::new("paxos.lease_ms", invalid.reason)
            }
            other => refused(other),
        })?;
        Ok(config)
    }
}

/// PBFT's tuning and keys, in the units a configuration file uses
/// (milliseconds); see [`PbftConfig`] for what each value means.
///
/// PBFT needs `n = 3f + 1 ≥ 4` nodes: a cluster of fewer tolerates no
/// Byzantine fault, and a node refuses to start PBFT with one.
/// `gateway_clients` must be the same at every node: each replica knows
/// every node's gateway identities (and the key files hold their keys).
///
/// # Examples
///
/// ```
/// use tessera_net::PbftSettings;
///
/// let mut settings = PbftSettings::default();
/// let config = settings.to_pbft_config(vec![1, 2, 3, 4], 8 << 20)?;
/// assert_eq!(config.faults(), 1);
///
/// settings.checkpoint_interval = 0;
/// let error = settings.to_pbft_config(vec![1, 2, 3, 4], 8 << 20).unwrap_err();
/// assert_eq!(error.field, "pbft.checkpoint_interval");
/// let error = PbftSettings::default().to_pbft_config(vec![1, 2, 3], 8 << 20).unwrap_err();
/// assert_eq!(error.field, "peers");
/// # Ok::<(), tessera_net::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PbftSettings {
    /// This node's key file (written by `tessera-node init --protocol
    /// pbft` or [`write_pbft_keys`](crate::write_pbft_keys)); a relative
    /// path is taken relative to the configuration file. Required to run
    /// PBFT.
    pub keys: Option<PathBuf>,
    /// A checkpoint every this many sequence numbers; the watermark
    /// window is twice it.
    pub checkpoint_interval: u64,
    /// Requests per batch at most.
    pub batch_size_max: usize,
    /// Batches the primary has ordered but not executed, at most.
    pub batches_in_flight_max: usize,
    /// How long a backup waits for a request before it suspects the
    /// primary (doubled at each view change that does not complete).
    pub view_change_timeout_ms: u64,
    /// The view-change timeout never grows beyond this.
    pub view_change_timeout_max_ms: u64,
    /// How often a replica that waits for something tells its peers where
    /// it stands. Three intervals without an answer from `2f` peers and
    /// the replica counts itself cut off (it waits rather than start a
    /// view change): three intervals must be shorter than
    /// `view_change_timeout_ms`.
    pub status_interval_ms: u64,
    /// Client identities each node hosts as its clients' gateway: as many
    /// operations in flight at once through one node.
    pub gateway_clients: usize,
    /// Operations waiting at a node for a free gateway identity, at most;
    /// beyond, refused.
    pub gateway_queue_max: usize,
    /// An operation unanswered this long is answered "outcome unknown" and
    /// its identity reused.
    pub gateway_timeout_ms: u64,
}

impl Default for PbftSettings {
    /// tessera-pbft's defaults (checkpoints every 64, batches of 64, 500 ms
    /// view-change timeout), 32 gateway identities, 4096 queued, 10 s.
    fn default() -> Self {
        PbftSettings {
            keys: None,
            checkpoint_interval: 64,
            batch_size_max: 64,
            batches_in_flight_max: 4,
            view_change_timeout_ms: 500,
            view_change_timeout_max_ms: 30_000,
            status_interval_ms: 100,
            gateway_clients: 32,
            gateway_queue_max: 4096,
            gateway_timeout_ms: 10_000,
        }
    }
}

impl PbftSettings {
    /// The [`PbftConfig`] of a cluster of `members`, its messages at most
    /// `transport_bytes_max` on the wire (a checkpoint's state travels in
    /// one message, so it is bounded by that too).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field (`pbft.<field>`) that is wrong,
    /// or `peers` for fewer than four members.
    pub fn to_pbft_config(
        &self,
        members: Vec<NodeId>,
        transport_bytes_max: usize,
    ) -> Result<PbftConfig, ConfigError> {
        self.validate()?;
        let refused = |error: PbftError| match error {
            PbftError::InvalidParameter(invalid) => {
                let field = match invalid.parameter {
                    "replicas" => "peers".to_string(),
                    "view_change_timeout" | "view_change_timeout_max" | "status_interval" => {
                        format!("pbft.{}_ms", invalid.parameter)
                    }
                    other => format!("pbft.{other}"),
                };
                ConfigError::new(field, invalid.reason)
            }
            other => ConfigError::new("peers", other),
        };
        let mut config = PbftConfig::new(members).map_err(refused)?;
        config.checkpoint_interval = self.checkpoint_interval;
        config.watermark_window = self.checkpoint_interval.saturating_mul(2);
        config.batch_size_max = self.batch_size_max;
        config.batches_in_flight_max = self.batches_in_flight_max;
        config.view_change_timeout = Duration::from_millis(self.view_change_timeout_ms);
        config.view_change_timeout_max = Duration::from_millis(self.view_change_timeout_max_ms);
        config.status_interval = Duration::from_millis(self.status_interval_ms);
        // Three status rounds without an answer: the replica is cut off.
        // Below the view-change timeout (checked below), so that a cut-off
        // replica knows it before its timer fires and does not start a
        // view change it could not complete.
        config.peer_silence_timeout = config.status_interval * 3;
        if config.peer_silence_timeout >= config.view_change_timeout {
            return Err(ConfigError::new(
                "pbft.status_interval_ms",
                format!(
                    "three status rounds ({} ms) must be shorter than pbft.view_change_timeout_ms ({}): a replica cut off from the others must know it before it suspects the primary",
                    self.status_interval_ms.saturating_mul(3),
                    self.view_change_timeout_ms
                ),
            ));
        }
        config.message_bytes_max = transport_bytes_max
            .saturating_sub(ENVELOPE_OVERHEAD_BYTES)
            .max(1);
        config.state_bytes_max = config.state_bytes_max.min(
            config
                .message_bytes_max
                .saturating_sub(ENVELOPE_OVERHEAD_BYTES)
                .max(1),
        );
        config.validate().map_err(refused)?;
        Ok(config)
    }

    /// The gateway's options.
    pub fn gateway_options(&self) -> GatewayOptions {
        GatewayOptions {
            queue_max: self.gateway_queue_max,
            timeout: Duration::from_millis(self.gateway_timeout_ms),
        }
    }

    /// Checks the values that do not depend on the cluster.
    fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("checkpoint_interval", self.checkpoint_interval),
            ("view_change_timeout_ms", self.view_change_timeout_ms),
            (
                "view_change_timeout_max_ms",
                self.view_change_timeout_max_ms,
            ),
            ("status_interval_ms", self.status_interval_ms),
            ("gateway_timeout_ms", self.gateway_timeout_ms),
            ("batch_size_max", self.batch_size_max as u64),
            ("batches_in_flight_max", self.batches_in_flight_max as u64),
            ("gateway_queue_max", self.gateway_queue_max as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::new(format!("pbft.{name}"), "must be positive"));
            }
        }
        if self.checkpoint_interval > 1 << 19 {
            return Err(ConfigError::new(
                "pbft.checkpoint_interval",
                "must be at most 2^19 (the watermark window, twice it, at most 2^20)",
            ));
        }
        if self.gateway_clients == 0 || self.gateway_clients > GATEWAY_CLIENTS_MAX {
            return Err(ConfigError::new(
                "pbft.gateway_clients",
                format!(
                    "must be between 1 and {GATEWAY_CLIENTS_MAX}, got {}",
                    self.gateway_clients
                ),
            ));
        }
        if self
            .keys
            .as_ref()
            .is_some_and(|keys| keys.as_os_str().is_empty())
        {
            return Err(ConfigError::new("pbft.keys", "must not be empty"));
        }
        Ok(())
    }
}

/// A node's whole configuration.
///
/// # Examples
///
/// ```
/// use tessera_net::NodeConfig;
///
/// let config = NodeConfig::from_toml_str(r#"
///     cluster_id = "demo"
///     node_id = 1
///     data_dir = "data/node1"
///     listen_peer = "127.0.0.1:7001"
///     listen_client = "127.0.0.1:8001"
///
///     [[peers]]
///     id = 1
///     peer_address = "127.0.0.1:7001"
///     client_address = "127.0.0.1:8001"
///
///     [[peers]]
///     id = 1
///     peer_address = "127.0.0.1:7002"
///     client_address = "127.0.0.1:8002"
/// "#, None);
/// let error = config.unwrap_err();
/// assert_eq!(error.field, "peers[1].id");
/// assert!(error.reason.contains("duplicate node id 1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The cluster's name: a DNS label (`a-z`, `0-9`, `-`), part of every
    /// certificate's identity.
    pub cluster_id: String,
    /// This node's id; must be among `peers`.
    pub node_id: NodeId,
    /// Where the node keeps its log, hard state and snapshots.
    pub data_dir: PathBuf,
    /// Where to listen for other nodes (`host:port`; port 0 picks one).
    pub listen_peer: String,
    /// Where to listen for clients (`host:port`; port 0 picks one).
    pub listen_client: String,
    /// Where to serve Prometheus metrics over HTTP, if anywhere.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// Every member of the cluster, this node included.
    pub peers: Vec<PeerConfig>,
    /// TLS; without it, nodes talk in plain text and trust each other's
    /// claimed ids (for development only).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Transport tuning.
    #[serde(default)]
    pub transport: TransportConfig,
    /// The client port.
    #[serde(default)]
    pub client: ClientConfig,
    /// Raft's tuning.
    #[serde(default)]
    pub raft: RaftSettings,
    /// Multi-Paxos's tuning (used by a node running Multi-Paxos).
    #[serde(default)]
    pub paxos: PaxosSettings,
    /// PBFT's tuning and this node's key file (used by a node running
    /// PBFT).
    #[serde(default)]
    pub pbft: PbftSettings,
}

impl NodeConfig {
    /// Every member's client address, in the order of `peers`.
    pub fn client_addresses(&self) -> Vec<String> {
        self.peers
            .iter()
            .map(|peer| peer.client_address.clone())
            .collect()
    }

    /// A configuration for node `node_id` of `peers`, with defaults for
    /// everything else and no TLS.
    pub fn new(
        cluster_id: impl Into<String>,
        node_id: NodeId,
        data_dir: impl Into<PathBuf>,
        peers: Vec<PeerConfig>,
    ) -> Self {
        let own = peers.iter().find(|peer| peer.id == node_id);
        NodeConfig {
            cluster_id: cluster_id.into(),
            node_id,
            data_dir: data_dir.into(),
            listen_peer: own.map_or_else(String::new, |peer| peer.peer_address.clone()),
            listen_client: own.map_or_else(String::new, |peer| peer.client_address.clone()),
            metrics_listen: None,
            peers,
            tls: None,
            transport: TransportConfig::default(),
            client: ClientConfig::default(),
            raft: RaftSettings::default(),
            paxos: PaxosSettings::default(),
            pbft: PbftSettings::default(),
        }
    }

    /// Parses and validates a configuration. Relative paths are taken
    /// relative to `base` if given (the configuration file's directory).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field that does not parse or is wrong.
    pub fn from_toml_str(text: &str, base: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config: NodeConfig = toml::from_str(text).map_err(|error| {
            let field = error
                .span()
                .map(|span| field_at(text, span.start))
                .unwrap_or_default();
            ConfigError::new(field, error.message())
        })?;
        if let Some(base) = base {
            config.resolve_paths(base);
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a configuration file; relative paths in
    /// it are relative to the file's directory.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] (the field `config` if the file cannot be read).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError::new("config", format!("{}: {error}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml_str(&text, Some(base))
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        // Every field is a string, number, bool, path, table or array of
        // tables: serialization cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        resolve(&mut self.data_dir);
        if let Some(tls) = &mut self.tls {
            resolve(&mut tls.ca_cert);
            resolve(&mut tls.cert);
            resolve(&mut tls.key);
        }
        if let Some(keys) = &mut self.pbft.keys {
            resolve(keys);
        }
    }

    /// Sets a field from a command-line flag: `node_id`, `data_dir`,
    /// `listen_peer`, `listen_client` or `metrics_listen`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the flag if it is unknown or its value does
    /// not parse.
    pub fn set(&mut self, field: &str, value: &str) -> Result<(), ConfigError> {
        match field {
            "node_id" => {
                self.node_id = value
                    .parse()
                    .map_err(|error| ConfigError::new(field, format!("`{value}`: {error}")))?;
            }
            "data_dir" => self.data_dir = PathBuf::from(value),
            "listen_peer" => self.listen_peer = value.to_string(),
            "listen_client" => self.listen_client = value.to_string(),
            "metrics_listen" => self.metrics_listen = Some(value.to_string()),
            _ => {
                return Err(ConfigError::new(
                    field,
                    "not a field that can be set by a flag",
                ));
            }
        }
        Ok(())
    }

    /// This node's entry in `peers`.
    pub fn own_peer(&self) -> Option<&PeerConfig> {
        self.peers.iter().find(|peer| peer.id == self.node_id)
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.client.request_timeout_ms)
    }

    /// The Raft configuration.
    ///
    /// # Errors
    ///
    /// As [`RaftSettings::to_raft_config`].
    pub fn raft_config(&self) -> Result<RaftConfig, ConfigError> {
        self.raft.to_raft_config()
    }

    /// This node's Multi-Paxos configuration: majority quorums of every
    /// peer, and slots in messages the transport can carry
    /// (`transport.message_bytes_max` less room for the framing).
    ///
    /// # Errors
    ///
    /// As [`PaxosSettings::to_paxos_config`].
    pub fn paxos_config(&self) -> Result<MultiPaxosConfig, ConfigError> {
        let members = self.peers.iter().map(|peer| peer.id).collect();
        let mut config = self.paxos.to_paxos_config(self.node_id, members)?;
        // Slots travel in messages the transport must carry.
        config.message_bytes_max = self
            .transport
            .message_bytes_max
            .saturating_sub(ENVELOPE_OVERHEAD_BYTES)
            .max(1);
        Ok(config)
    }

    /// This node's PBFT configuration: every peer a replica, messages the
    /// transport can carry.
    ///
    /// # Errors
    ///
    /// As [`PbftSettings::to_pbft_config`].
    pub fn pbft_config(&self) -> Result<PbftConfig, ConfigError> {
        let members = self.peers.iter().map(|peer| peer.id).collect();
        self.pbft
            .to_pbft_config(members, self.transport.message_bytes_max)
    }

    /// Checks every value that can be checked without touching the disk
    /// or the network. (Certificate files are checked when the node
    /// starts, addresses when it binds and resolves them.)
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first wrong field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_cluster_id(&self.cluster_id)?;
        if self.node_id == 0 {
            return Err(ConfigError::new("node_id", "must be at least 1"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("data_dir", "must not be empty"));
        }
        check_address("listen_peer", &self.listen_peer)?;
        check_address("listen_client", &self.listen_client)?;
        if let Some(metrics) = &self.metrics_listen {
            check_address("metrics_listen", metrics)?;
            if metrics.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::new(
                    "metrics_listen",
                    format!("`{metrics}` must be an IP address and port"),
                ));
            }
        }
        if self.peers.is_empty() {
            return Err(ConfigError::new(
                "peers",
                "must list every member, this node included",
            ));
        }
        let mut ids: BTreeMap<NodeId, usize> = BTreeMap::new();
        let mut addresses: BTreeMap<&str, String> = BTreeMap::new();
        for (at, peer) in self.peers.iter().enumerate() {
            let field = |name: &str| format!("peers[{at}].{name}");
            if peer.id == 0 {
                return Err(ConfigError::new(field("id"), "must be at least 1"));
            }
            if let Some(first) = ids.insert(peer.id, at) {
                return Err(ConfigError::new(
                    field("id"),
                    format!("duplicate node id {} (also peers[{first}].id)", peer.id),
                ));
            }
            for (name, address) in [
                ("peer_address", peer.peer_address.as_str()),
                ("client_address", peer.client_address.as_str()),
            ] {
                check_address(&field(name), address)?;
                if let Some(other) = addresses.insert(address, field(name)) {
                    return Err(ConfigError::new(
                        field(name),
                        format!("{address} is also {other}"),
                    ));
                }
            }
        }
        if !ids.contains_key(&self.node_id) {
            let known: Vec<String> = ids.keys().map(u64::to_string).collect();
            return Err(ConfigError::new(
                "node_id",
                format!(
                    "{} is not among the peers ({})",
                    self.node_id,
                    known.join(", ")
                ),
            ));
        }
        self.transport.validate()?;
        self.client.validate()?;
        self.pbft.validate()?;
        let raft = self.raft_config()?;
        let needed = raft
            .append_bytes_max
            .max(raft.snapshot_chunk_bytes)
            .saturating_add(ENVELOPE_OVERHEAD_BYTES);
        if self.transport.message_bytes_max < needed {
            return Err(ConfigError::new(
                "transport.message_bytes_max",
                format!(
                    "{} cannot carry an append of raft.append_bytes_max or a snapshot chunk \
                     of raft.snapshot_chunk_bytes; it must be at least {needed}",
                    self.transport.message_bytes_max
                ),
            ));
        }
        Ok(())
    }
}

/// Room for the envelope and the protocol's framing around a maximal
/// append or snapshot chunk.
const ENVELOPE_OVERHEAD_BYTES: usize = 64 << 10;

impl TransportConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("backoff_initial_ms", self.backoff_initial_ms),
            ("keepalive_interval_ms", self.keepalive_interval_ms),
            ("keepalive_timeout_ms", self.keepalive_timeout_ms),
            ("handshake_timeout_ms", self.handshake_timeout_ms),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::new(
                    format!("transport.{name}"),
                    "must be positive",
                ));
            }
        }
        let counts = [
            ("peer_queue_messages_max", self.peer_queue_messages_max),
            ("peer_queue_bytes_max", self.peer_queue_bytes_max),
            ("message_bytes_max", self.message_bytes_max),
            ("envelope_messages_max", self.envelope_messages_max),
            ("inbound_batches_max", self.inbound_batches_max),
        ];
        for (name, value) in counts {
            if value == 0 {
                return Err(ConfigError::new(
                    format!("transport.{name}"),
                    "must be at least 1",
                ));
            }
        }
        if self.backoff_max_ms < self.backoff_initial_ms {
            return Err(ConfigError::new(
                "transport.backoff_max_ms",
                format!(
                    "{} is shorter than transport.backoff_initial_ms ({})",
                    self.backoff_max_ms, self.backoff_initial_ms
                ),
            ));
        }
        if u32::try_from(self.message_bytes_max).is_err() {
            return Err(ConfigError::new(
                "transport.message_bytes_max",
                "must fit in 32 bits (at most 4 GiB)",
            ));
        }
        Ok(())
    }

    /// The connection timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
}

impl ClientConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::new(
                "client.request_timeout_ms",
                "must be positive",
            ));
        }
        if self.requests_pending_max == 0 {
            return Err(ConfigError::new(
                "client.requests_pending_max",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Checks a cluster id: a DNS label, since it is part of certificate names.
///
/// # Errors
///
/// A [`ConfigError`] for the field `cluster_id`.
pub(crate) fn check_cluster_id(cluster_id: &str) -> Result<(), ConfigError> {
    let valid = !cluster_id.is_empty()
        && cluster_id.len() <= 63
        && !cluster_id.starts_with('-')
        && !cluster_id.ends_with('-')
        && cluster_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            "cluster_id",
            format!(
                "`{cluster_id}` must be 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'"
            ),
        ))
    }
}

/// Checks that `address` looks like `host:port`.
fn check_address(field: &str, address: &str) -> Result<(), ConfigError> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(ConfigError::new(
            field,
            format!("`{address}` is not host:port"),
        ));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(ConfigError::new(field, format!("`{address}` has no host")));
    }
    if port.parse::<u16>().is_err() {
        return Err(ConfigError::new(
            field,
            format!("`{address}`: `{port}` is not a port number"),
        ));
    }
    Ok(())
}

/// The dotted path of the TOML key at byte `offset` of `text`, as well as
/// can be told from the text before it: the innermost table header and the
/// key on the line.
fn field_at(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let mut table = String::new();
    let mut array_counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in before.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let name = name.trim().to_string();
            let count = array_counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{count}]");
            *count += 1;
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.trim().to_string();
        }
    }
    let line = before.rsplit('\n').next().unwrap_or("");
    let key = line
        .split('=')
        .next()
        .map(str::trim)
        .filter(|key| !key.is_empty() && !key.starts_with('['))
        .unwrap_or("");
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_nodes() -> NodeConfig {
        let peers = (1..=3)
            .map(|id| PeerConfig {
                id,
                peer_address: format!("127.0.0.1:{}", 7000 + id),
                client_address: format!("127.0.0.1:{}", 8000 + id),
            })
            .collect();
        NodeConfig::new("demo", 1, "/tmp/x", peers)
    }

    #[test]
    fn a_valid_configuration_round_trips_through_toml() {
        let config = three_nodes();
        config.validate().unwrap();
        let parsed = NodeConfig::from_toml_str(&config.to_toml(), None).unwrap();
        assert_eq!(parsed, config);
    }

    #[test]
    fn multi_paxos_messages_fit_the_transport() {
        let mut config = three_nodes();
        config.transport.message_bytes_max = 2 << 20;
        let paxos = config.paxos_config().unwrap();
        assert_eq!(paxos.message_bytes_max, (2 << 20) - ENVELOPE_OVERHEAD_BYTES);
    }

    #[test]
    fn every_wrong_field_is_named() {
        type Mutation = Box<dyn Fn(&mut NodeConfig)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|c| c.cluster_id = "Demo!".into()), "cluster_id"),
            (Box::new(|c| c.node_id = 0), "node_id"),
            (Box::new(|c| c.node_id = 9), "node_id"),
            (
                Box::new(|c| c.listen_peer = "nowhere".into()),
                "listen_peer",
            ),
            (
                Box::new(|c| c.listen_client = "host:99999".into()),
                "listen_client",
            ),
            (Box::new(|c| c.peers[2].id = 2), "peers[2].id"),
            (
                Box::new(|c| c.peers[1].client_address = "127.0.0.1:8001".into()),
                "peers[1].client_address",
            ),
            (Box::new(|c| c.peers.clear()), "peers"),
            (
                Box::new(|c| c.transport.backoff_max_ms = 1),
                "transport.backoff_max_ms",
            ),
            (
                Box::new(|c| c.transport.peer_queue_messages_max = 0),
                "transport.peer_queue_messages_max",
            ),
            (
                Box::new(|c| c.transport.message_bytes_max = 1024),
                "transport.message_bytes_max",
            ),
            (
                Box::new(|c| c.client.request_timeout_ms = 0),
                "client.request_timeout_ms",
            ),
            (
                Box::new(|c| c.raft.heartbeat_interval_ms = 10_000),
                "raft.heartbeat_interval_ms",
            ),
            (
                Box::new(|c| c.raft.election_timeout_max_ms = 1),
                "raft.election_timeout_max_ms",
            ),
            (
                Box::new(|c| c.raft.append_entries_max = 0),
                "raft.append_entries_max",
            ),
            (
                Box::new(|c| c.metrics_listen = Some("localhost:9000".into())),
                "metrics_listen",
            ),
        ];
        for (mutate, field) in cases {
            let mut config = three_nodes();
            mutate(&mut config);
            let error = config.validate().unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
    }

    #[test]
    fn parse_errors_name_the_field() {
        let text = "cluster_id = \"demo\"\nnode_id = \"one\"\n";
        let error = NodeConfig::from_toml_str(text, None).unwrap_err();
        assert_eq!(error.field, "node_id", "{error}");

        let text = "cluster_id = \"demo\"\nnode_id = 1\ndata_dir = \"d\"\nlisten_peer = \"a:1\"\n\
                    listen_client = \"a:2\"\npeers = []\n[transport]\nbackoff_max_ms = -3\n";
        let error = NodeConfig::from_toml_str(text, None).unwrap_err();
        assert_eq!(error.field, "transport.backoff_max_ms", "{error}");

        let text = "cluster_id = \"demo\"\nnode_id = 1\ncolour = \"blue\"\n";
        let error = NodeConfig::from_toml_str(text, None).unwrap_err();
        assert!(error.reason.contains("colour"), "{error}");
    }

    #[test]
    fn relative_paths_are_taken_from_the_file_directory() {
        let mut config = three_nodes();
        config.data_dir = "data/node1".into();
        config.tls = Some(TlsConfig {
            ca_cert: "certs/ca.pem".into(),
            cert: "/abs/node.pem".into(),
            key: "certs/node.key".into(),
            client_auth: ClientAuth::Required,
        });
        let parsed =
            NodeConfig::from_toml_str(&config.to_toml(), Some(Path::new("/etc/t"))).unwrap();
        assert_eq!(parsed.data_dir, Path::new("/etc/t/data/node1"));
        let tls = parsed.tls.unwrap();
        assert_eq!(tls.ca_cert, Path::new("/etc/t/certs/ca.pem"));
        assert_eq!(tls.cert, Path::new("/abs/node.pem"));
    }

    #[test]
    fn flags_override_fields_and_unknown_flags_are_named() {
        let mut config = three_nodes();
        config.set("node_id", "2").unwrap();
        assert_eq!(config.node_id, 2);
        assert_eq!(config.set("node_id", "two").unwrap_err().field, "node_id");
        assert_eq!(config.set("colour", "blue").unwrap_err().field, "colour");
    }
}

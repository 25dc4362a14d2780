//! Metrics through the `metrics` facade: the names, and the handles a node
//! keeps so that updating them costs no lookups.
//!
//! Every metric carries the label `node` (the node's id), so several nodes
//! in one process (tests, benchmarks) stay apart. Install any `metrics`
//! recorder to collect them, or set `metrics_listen` in the configuration
//! for the built-in Prometheus endpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use tessera_core::NodeId;

use crate::{FollowerReport, NodeStatus};

/// Gauge: the node's term (view, ballot round).
pub const METRIC_TERM: &str = "tessera_node_term";
/// Gauge: 1 for the node's current mode (label `mode`), 0 for the others.
pub const METRIC_MODE: &str = "tessera_node_mode";
/// Gauge: 1 while the node leads.
pub const METRIC_IS_LEADER: &str = "tessera_node_is_leader";
/// Gauge: the highest index known committed.
pub const METRIC_COMMIT_INDEX: &str = "tessera_node_commit_index";
/// Gauge: the last index applied to the state machine.
pub const METRIC_APPLIED_INDEX: &str = "tessera_node_applied_index";
/// Gauge: committed entries not yet applied (`commit_index − applied_index`).
pub const METRIC_APPLY_LAG: &str = "tessera_node_apply_lag";
/// Gauge: the last index in the node's log.
pub const METRIC_LAST_LOG_INDEX: &str = "tessera_node_last_log_index";
/// Gauge, at the leader: how many entries a follower (label `follower`)
/// lags behind the leader's log.
pub const METRIC_REPLICATION_LAG: &str = "tessera_replication_lag_entries";
/// Histogram: seconds from a proposal's arrival at the node to its commit
/// and application.
pub const METRIC_COMMIT_LATENCY: &str = "tessera_commit_latency_seconds";
/// Counter: client requests answered, by `kind` and `outcome`.
pub const METRIC_CLIENT_REQUESTS: &str = "tessera_client_requests_total";
/// Counter: messages from peers handed to the node.
pub const METRIC_MESSAGES_RECEIVED: &str = "tessera_peer_messages_received_total";
/// Counter: messages sent to a peer (labels `peer`, `lane`).
pub const METRIC_MESSAGES_SENT: &str = "tessera_peer_messages_sent_total";
/// Counter: messages for a peer dropped (labels `peer`, `lane`, `reason`:
/// `queue_full`, `unreachable`, `unknown_peer`).
pub const METRIC_MESSAGES_DROPPED: &str = "tessera_peer_messages_dropped_total";
/// Counter: connections made to a peer (label `peer`).
pub const METRIC_PEER_CONNECTS: &str = "tessera_peer_connects_total";
/// Counter: connection attempts to a peer that failed (label `peer`).
pub const METRIC_PEER_CONNECT_FAILURES: &str = "tessera_peer_connect_failures_total";
/// Counter: peers refused (label `reason`: see [`Refusal::label`](crate::Refusal::label),
/// plus `handshake` for failed TLS handshakes).
pub const METRIC_PEER_REFUSALS: &str = "tessera_peer_refusals_total";
/// Counter: writes made durable.
pub const METRIC_WRITES: &str = "tessera_storage_writes_total";
/// Counter: batches of writes handed to the disk thread.
pub const METRIC_WRITE_BATCHES: &str = "tessera_storage_write_batches_total";

/// Every metric name, for documentation and tests.
pub const METRIC_NAMES: &[&str] = &[
    METRIC_TERM,
    METRIC_MODE,
    METRIC_IS_LEADER,
    METRIC_COMMIT_INDEX,
    METRIC_APPLIED_INDEX,
    METRIC_APPLY_LAG,
    METRIC_LAST_LOG_INDEX,
    METRIC_REPLICATION_LAG,
    METRIC_COMMIT_LATENCY,
    METRIC_CLIENT_REQUESTS,
    METRIC_MESSAGES_RECEIVED,
    METRIC_MESSAGES_SENT,
    METRIC_MESSAGES_DROPPED,
    METRIC_PEER_CONNECTS,
    METRIC_PEER_CONNECT_FAILURES,
    METRIC_PEER_REFUSALS,
    METRIC_WRITES,
    METRIC_WRITE_BATCHES,
];

/// The metric handles of one node's runtime.
pub(crate) struct NodeMetrics {
    node: String,
    term: Gauge,
    is_leader: Gauge,
    commit_index: Gauge,
    applied_index: Gauge,
    apply_lag: Gauge,
    last_log_index: Gauge,
    mode: Option<(&'static str, Gauge)>,
    commit_latency: Histogram,
    pub(crate) messages_received: Counter,
    pub(crate) writes: Counter,
    pub(crate) write_batches: Counter,
    replication_lag: BTreeMap<NodeId, Gauge>,
}

impl NodeMetrics {
    pub(crate) fn new(node: NodeId) -> Self {
        let node = node.to_string();
        NodeMetrics {
            term: gauge!(METRIC_TERM, "node" => node.clone()),
            is_leader: gauge!(METRIC_IS_LEADER, "node" => node.clone()),
            commit_index: gauge!(METRIC_COMMIT_INDEX, "node" => node.clone()),
            applied_index: gauge!(METRIC_APPLIED_INDEX, "node" => node.clone()),
            apply_lag: gauge!(METRIC_APPLY_LAG, "node" => node.clone()),
            last_log_index: gauge!(METRIC_LAST_LOG_INDEX, "node" => node.clone()),
            mode: None,
            commit_latency: histogram!(METRIC_COMMIT_LATENCY, "node" => node.clone()),
            messages_received: counter!(METRIC_MESSAGES_RECEIVED, "node" => node.clone()),
            writes: counter!(METRIC_WRITES, "node" => node.clone()),
            write_batches: counter!(METRIC_WRITE_BATCHES, "node" => node.clone()),
            replication_lag: BTreeMap::new(),
            node,
        }
    }

    pub(crate) fn status(&mut self, status: &NodeStatus) {
        self.term.set(status.term as f64);
        self.is_leader
            .set(if status.is_leader() { 1.0 } else { 0.0 });
        self.commit_index.set(status.commit_index as f64);
        self.applied_index.set(status.applied_index as f64);
        self.apply_lag
            .set(status.commit_index.saturating_sub(status.applied_index) as f64);
        self.last_log_index.set(status.last_log_index as f64);
        if self.mode.as_ref().map(|(name, _)| *name) != Some(status.mode) {
            if let Some((_, previous)) = self.mode.take() {
                previous.set(0.0);
            }
            let current = gauge!(METRIC_MODE, "node" => self.node.clone(), "mode" => status.mode);
            current.set(1.0);
            self.mode = Some((status.mode, current));
        }
    }

    pub(crate) fn followers(&mut self, followers: &[FollowerReport]) {
        // Followers no longer reported (this node stopped leading, or one
        // was removed) read 0 rather than a stale lag.
        for (id, gauge) in &self.replication_lag {
            if !followers.iter().any(|f| f.id == *id) {
                gauge.set(0.0);
            }
        }
        for follower in followers {
            let node = &self.node;
            self.replication_lag
                .entry(follower.id)
                .or_insert_with(|| {
                    gauge!(METRIC_REPLICATION_LAG, "node" => node.clone(), "follower" => follower.id.to_string())
                })
                .set(follower.lag as f64);
        }
    }

    pub(crate) fn commit_latency(&self, latency: Duration) {
        self.commit_latency.record(latency.as_secs_f64());
    }

    pub(crate) fn dropped(
        &self,
        peer: NodeId,
        lane: &'static str,
        reason: &'static str,
        count: u64,
    ) {
        counter!(
            METRIC_MESSAGES_DROPPED,
            "node" => self.node.clone(),
            "peer" => peer.to_string(),
            "lane" => lane,
            "reason" => reason
        )
        .increment(count);
    }
}

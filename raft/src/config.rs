//! Tuning: timeouts, the clock-drift bound, and the bound on every queue.

use std::time::Duration;

use tessera_core::InvalidParameter;

use crate::RaftError;

/// A deliberate bug, for tests that prove the invariants and the
/// linearizability checker catch what they claim to. Never set it outside
/// such tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flaw {
    /// No bug.
    #[default]
    None,
    /// Votes are granted before the vote is durable: a crash lets a node
    /// vote twice in one term.
    VoteBeforePersist,
    /// Appends are acknowledged before they are durable: a crash loses
    /// entries a quorum "had".
    AckBeforePersist,
    /// Entries of earlier terms are committed by counting replicas
    /// (the bug of the Raft paper's Figure 8).
    CommitByCountingOldTerms,
    /// Followers grant votes while they heard from a leader within the
    /// election timeout, so a deposed leader's lease can overlap its
    /// successor's.
    VoteDuringLease,
    /// The leader drops its last uncommitted entry at every heartbeat
    /// (breaks Leader Append-Only).
    LeaderTruncates,
}

/// How a node behaves. Every node of a cluster should use the same values
/// for the timeouts, the clock bound and the message limits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_raft::RaftConfig;
///
/// let mut config = RaftConfig::default();
/// config.election_timeout_min = Duration::from_millis(500);
/// config.election_timeout_max = Duration::from_millis(1_000);
/// assert!(config.validate().is_ok());
///
/// // A lease shorter than the clock bound would be useless.
/// config.max_clock_offset = Duration::from_millis(600);
/// assert!(config.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// The shortest election timeout. A follower that hears nothing from a
    /// leader for a random time in `[min, max)` campaigns; it also refuses
    /// to vote for anyone else for `min` after hearing from its leader
    /// (check-quorum's leader stickiness), which is what leader leases rest
    /// on.
    pub election_timeout_min: Duration,
    /// The longest election timeout (exclusive).
    pub election_timeout_max: Duration,
    /// How often a leader sends heartbeats (and starts a new round).
    pub heartbeat_interval: Duration,
    /// Campaign with a pre-vote first (dissertation §9.6): a node that
    /// could not win does not bump its term and disrupt the cluster.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within the shortest
    /// election timeout steps down, and followers refuse votes while they
    /// hear from their leader (dissertation §6.2). Lease reads need it.
    pub check_quorum: bool,
    /// The **clock-drift bound**: the most that two nodes' clocks may
    /// disagree about the length of one election timeout (drift, steps and
    /// slews together). A leader's lease, started when it sent a round a
    /// quorum acknowledged, lasts `election_timeout_min` and the leader
    /// uses it only until `max_clock_offset` before it ends. If the clocks
    /// break this bound, lease reads may be stale; ReadIndex reads never are.
    pub max_clock_offset: Duration,
    /// At most this many entries per append message; a larger batch from a
    /// peer is refused.
    pub append_entries_max: usize,
    /// At most about this many bytes of commands per append message (one
    /// larger entry is still sent alone).
    pub append_bytes_max: usize,
    /// At most this many append messages in flight to one follower.
    pub inflight_messages_max: usize,
    /// Bytes of entries in flight to one follower: the leader sends another
    /// append only while fewer than this many are unacknowledged, so the
    /// last append sent may go past the bound by at most one append
    /// (`append_bytes_max`, or one larger entry).
    pub inflight_bytes_max: usize,
    /// At most this many proposals waiting to be applied at a node; more are
    /// refused with [`RaftError::Overloaded`].
    pub proposals_pending_max: usize,
    /// At most this many reads waiting at the leader.
    pub reads_pending_max: usize,
    /// Followers forward proposals to the leader instead of answering "not
    /// leader".
    pub forward_proposals: bool,
    /// At most this many forwarded proposals waiting for the leader's answer.
    pub forwards_pending_max: usize,
    /// A forwarded proposal the leader has not answered within this time is
    /// answered [`Response::Unknown`](crate::Response::Unknown).
    pub forward_timeout: Duration,
    /// Take a snapshot and compact the log once this many entries were
    /// applied since the last snapshot; 0 never compacts.
    pub snapshot_threshold_entries: u64,
    /// Keep this many applied entries after a snapshot, so that a follower
    /// slightly behind gets entries rather than the whole snapshot.
    pub snapshot_keep_entries: u64,
    /// Snapshots move in chunks of this many bytes, in messages and to
    /// disk; a chunk from a peer larger than four times this is refused.
    pub snapshot_chunk_bytes: usize,
    /// At most this many snapshot chunks in flight to one follower (and to
    /// the node's own disk).
    pub snapshot_chunks_inflight_max: usize,
    /// A learner more than this many entries behind the leader's log is not
    /// promoted (the promotion is refused, to keep commits flowing).
    pub promote_lag_max: u64,
    /// A deliberate bug, for tests only.
    #[doc(hidden)]
    pub flaw: Flaw,
}

impl Default for RaftConfig {
    /// A LAN cluster: elections after 150–300 ms of silence, heartbeats
    /// every 50 ms, clocks trusted to 50 ms, pre-vote and check-quorum on.
    fn default() -> Self {
        RaftConfig {
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            heartbeat_interval: Duration::from_millis(50),
            pre_vote: true,
            check_quorum: true,
            max_clock_offset: Duration::from_millis(50),
            append_entries_max: 1_024,
            append_bytes_max: 1 << 20,
            inflight_messages_max: 64,
            inflight_bytes_max: 16 << 20,
            proposals_pending_max: 16_384,
            reads_pending_max: 16_384,
            forward_proposals: false,
            forwards_pending_max: 4_096,
            forward_timeout: Duration::from_secs(2),
            snapshot_threshold_entries: 100_000,
            snapshot_keep_entries: 1_000,
            snapshot_chunk_bytes: 64 << 10,
            snapshot_chunks_inflight_max: 4,
            promote_lag_max: 1_000,
            flaw: Flaw::None,
        }
    }
}

impl RaftConfig {
    /// Checks every value.
    ///
    /// # Errors
    ///
    /// [`RaftError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), RaftError> {
        let bad = |field: &'static str, reason: String| -> Result<(), RaftError> {
            Err(InvalidParameter::new(field, reason).into())
        };
        if self.election_timeout_min.is_zero() {
            return bad("election_timeout_min", "must be positive".into());
        }
        if self.election_timeout_max <= self.election_timeout_min {
            return bad(
                "election_timeout_max",
                format!(
                    "must exceed election_timeout_min ({:?}), got {:?}",
                    self.election_timeout_min, self.election_timeout_max
                ),
            );
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.election_timeout_min
        {
            return bad(
                "heartbeat_interval",
                format!(
                    "must be positive and shorter than election_timeout_min ({:?}), got {:?}",
                    self.election_timeout_min, self.heartbeat_interval
                ),
            );
        }
        if self.max_clock_offset >= self.election_timeout_min {
            return bad(
                "max_clock_offset",
                format!(
                    "must be shorter than election_timeout_min ({:?}) or no lease is usable, got {:?}",
                    self.election_timeout_min, self.max_clock_offset
                ),
            );
        }
        let positive = [
            ("append_entries_max", self.append_entries_max),
            ("append_bytes_max", self.append_bytes_max),
            ("inflight_messages_max", self.inflight_messages_max),
            ("inflight_bytes_max", self.inflight_bytes_max),
            ("proposals_pending_max", self.proposals_pending_max),
            ("reads_pending_max", self.reads_pending_max),
            ("forwards_pending_max", self.forwards_pending_max),
            ("snapshot_chunk_bytes", self.snapshot_chunk_bytes),
            (
                "snapshot_chunks_inflight_max",
                self.snapshot_chunks_inflight_max,
            ),
        ];
        for (field, value) in positive {
            if value == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        if self.forward_timeout.is_zero() {
            return bad("forward_timeout", "must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_named() {
        type Mutation = Box<dyn Fn(&mut RaftConfig)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|c| c.election_timeout_min = Duration::ZERO),
                "election_timeout_min",
            ),
            (
                Box::new(|c| c.election_timeout_max = c.election_timeout_min),
                "election_timeout_max",
            ),
            (
                Box::new(|c| c.heartbeat_interval = Duration::from_secs(1)),
                "heartbeat_interval",
            ),
            (
                Box::new(|c| c.max_clock_offset = Duration::from_secs(1)),
                "max_clock_offset",
            ),
            (Box::new(|c| c.append_entries_max = 0), "append_entries_max"),
            (
                Box::new(|c| c.snapshot_chunk_bytes = 0),
                "snapshot_chunk_bytes",
            ),
            (
                Box::new(|c| c.forward_timeout = Duration::ZERO),
                "forward_timeout",
            ),
        ];
        for (mutate, field) in cases {
            let mut config = RaftConfig::default();
            mutate(&mut config);
            let error = config.validate().unwrap_err();
            assert!(
                error.to_string().contains(field),
                "{error} should name {field}"
            );
        }
        assert!(RaftConfig::default().validate().is_ok());
    }
}

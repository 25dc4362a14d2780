//! How a Multi-Paxos node is set up.

use std::time::Duration;

use tessera_core::{InvalidParameter, NodeId};

use crate::PaxosError;
use crate::multi::Configuration;

/// The most entries one `Promise` reports; the rest is asked for again.
pub const PROMISE_ENTRIES_MAX: usize = 1024;
/// The most slots one `Accept` carries.
pub const ACCEPT_SLOTS_MAX: usize = 1024;
/// The most entries one `CatchUp` carries.
pub const CATCH_UP_ENTRIES_MAX: usize = 512;
/// The most bytes one snapshot chunk carries.
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = 1 << 20;
/// The most commands one batch may hold, in any message.
pub const BATCH_COMMANDS_LIMIT: usize = 65_536;

/// Leader leases: a leader whose heartbeats a phase-two quorum granted
/// answers reads locally, without a round trip.
///
/// The lease rests on one assumption, stated here: **no two clocks differ
/// by more than `max_clock_offset`** (counting drift over a lease and any
/// step a clock may take). The leader stops using its lease
/// `max_clock_offset` before it expires on its clock; acceptors that
/// granted it refuse every other ballot until `max_clock_offset` after it
/// expires on theirs, and a restarted acceptor refuses every ballot for a
/// whole lease plus twice the offset, since it forgot what it granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How long a granted lease lasts from the heartbeat that offered it.
    pub duration: Duration,
    /// The bound on the difference between any two nodes' clocks.
    pub max_clock_offset: Duration,
}

/// Configuration of one [`MultiPaxos`](crate::multi::MultiPaxos) node.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_paxos::multi::{Configuration, LeaseConfig, MultiPaxosConfig, QuorumSpec};
///
/// let initial = Configuration::initial(QuorumSpec::Majority(vec![1, 2, 3]));
/// let mut config = MultiPaxosConfig::new(1, initial)?;
/// config.lease = Some(LeaseConfig {
///     duration: Duration::from_millis(400),
///     max_clock_offset: Duration::from_millis(50),
/// });
/// assert!(config.validate().is_ok());
///
/// // A heartbeat slower than the lease could never renew it.
/// config.heartbeat_interval = Duration::from_millis(500);
/// assert!(config.validate().is_err());
/// # Ok::<(), tessera_paxos::PaxosError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiPaxosConfig {
    /// This node.
    pub id: NodeId,
    /// The configuration the log starts in (a node restarted after a
    /// reconfiguration finds the current one on its disk). `None` for a
    /// node joining a later configuration: it waits for a snapshot.
    pub initial: Option<Configuration>,
    /// The leader's heartbeat period (also its lease renewal period).
    pub heartbeat_interval: Duration,
    /// A follower that hears no leader for a random time in
    /// `[election_timeout, 2 · election_timeout)` starts phase one.
    pub election_timeout: Duration,
    /// Unanswered accepts, prepares and catch-up requests are re-sent
    /// after this long.
    pub retransmit_timeout: Duration,
    /// Leases, or `None` for none (every read then takes a barrier).
    pub lease: Option<LeaseConfig>,
    /// The most commands in one slot.
    pub batch_max: usize,
    /// The most bytes of slots ([`SlotValue::bytes`](crate::multi::SlotValue::bytes),
    /// counting each command by
    /// [`StateMachine::command_bytes`](crate::multi::StateMachine::command_bytes))
    /// in one slot and in one `Accept`, `Promise` or `CatchUp` message; a
    /// single larger command still goes, alone. A transport with a message
    /// size limit needs this below it (with room for the framing).
    pub message_bytes_max: usize,
    /// The most slots in flight (proposed, not yet chosen) at once: the
    /// pipeline's depth. Commands arriving while it is full wait and are
    /// batched together.
    pub window: usize,
    /// The most commands and reads waiting at the leader; more are
    /// answered [`Overloaded`](crate::multi::Response::Overloaded).
    pub queue_max: usize,
    /// A snapshot is taken, and the log compacted, every this many applied
    /// slots.
    pub snapshot_interval: u64,
    /// The largest snapshot a node accepts from a peer, in bytes.
    pub snapshot_bytes_max: u64,
    /// How many decisions and proposals to record for the invariants
    /// ([`Audit`](crate::Audit)); 0 records nothing.
    pub audit_capacity: usize,
}

impl MultiPaxosConfig {
    /// Defaults for a LAN for node `id`, starting in `initial`: 50 ms
    /// heartbeats, 300 ms election timeout, no lease, batches of up to
    /// 1024 commands, 1 MiB of slots per message, 32 slots in flight.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn new(id: NodeId, initial: Configuration) -> Result<Self, PaxosError> {
        let config = MultiPaxosConfig {
            id,
            initial: Some(initial),
            heartbeat_interval: Duration::from_millis(50),
            election_timeout: Duration::from_millis(300),
            retransmit_timeout: Duration::from_millis(60),
            lease: None,
            batch_max: 1024,
            message_bytes_max: 1 << 20,
            window: 32,
            queue_max: 100_000,
            snapshot_interval: 10_000,
            snapshot_bytes_max: 1 << 30,
            audit_capacity: 0,
        };
        config.validate()?;
        Ok(config)
    }

    /// A node that joins a later configuration: it has no configuration
    /// until a member sends it a snapshot.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn joining(id: NodeId) -> Result<Self, PaxosError> {
        let mut config = MultiPaxosConfig::new(
            id,
            Configuration::initial(crate::multi::QuorumSpec::Majority(vec![id])),
        )?;
        config.initial = None;
        Ok(config)
    }

    /// Checks every value.
    ///
    /// # Errors
    ///
    /// [`PaxosError::InvalidParameter`] naming the first bad value, or the
    /// initial configuration's quorum error.
    pub fn validate(&self) -> Result<(), PaxosError> {
        if let Some(initial) = &self.initial {
            let quorums = initial.quorums.build()?;
            crate::quorums::check_members(self.id, quorums.members())?;
        }
        let positive = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("election_timeout", self.election_timeout),
            ("retransmit_timeout", self.retransmit_timeout),
        ];
        for (name, value) in positive {
            if value.is_zero() {
                return Err(InvalidParameter::new(name, "must be positive").into());
            }
        }
        if self.election_timeout <= self.heartbeat_interval * 2 {
            return Err(InvalidParameter::new(
                "election_timeout",
                format!(
                    "must exceed two heartbeat intervals ({:?}), got {:?}",
                    self.heartbeat_interval * 2,
                    self.election_timeout
                ),
            )
            .into());
        }
        if let Some(lease) = &self.lease {
            let usable = lease.duration.saturating_sub(lease.max_clock_offset * 2);
            if usable <= self.heartbeat_interval * 2 {
                return Err(InvalidParameter::new(
                    "heartbeat_interval",
                    format!(
                        "a lease of {:?} with clocks up to {:?} apart is usable for {:?}; \
                         heartbeats every {:?} could not renew it in time \
                         (need lease − 2·offset > 2·heartbeat)",
                        lease.duration, lease.max_clock_offset, usable, self.heartbeat_interval
                    ),
                )
                .into());
            }
        }
        let bounded = [
            ("batch_max", self.batch_max, BATCH_COMMANDS_LIMIT),
            ("window", self.window, ACCEPT_SLOTS_MAX),
            ("queue_max", self.queue_max, usize::MAX),
            ("message_bytes_max", self.message_bytes_max, usize::MAX),
        ];
        for (name, value, max) in bounded {
            if value == 0 || value > max {
                return Err(InvalidParameter::new(
                    name,
                    format!("must be within 1..={max}, got {value}"),
                )
                .into());
            }
        }
        if self.snapshot_interval == 0 {
            return Err(InvalidParameter::new("snapshot_interval", "must be at least 1").into());
        }
        Ok(())
    }

    /// Every how long the leader retransmits and ticks.
    pub(crate) fn lease_hold_after_restart(&self) -> Duration {
        self.lease
            .map_or(Duration::ZERO, |l| l.duration + l.max_clock_offset * 2)
    }
}

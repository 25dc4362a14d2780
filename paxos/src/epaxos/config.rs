//! How an EPaxos replica is set up.

use std::time::Duration;

use tessera_core::{InvalidParameter, NodeId};

use crate::PaxosError;

/// The most requests one replica keeps in flight as command leader; more
/// are answered [`Overloaded`](crate::epaxos::EpaxosResponse::Overloaded).
pub const LEADING_MAX_DEFAULT: usize = 10_000;

/// The most instances a replica keeps in memory; beyond it, new proposals
/// are refused until execution and garbage collection catch up.
pub const INSTANCES_MAX_DEFAULT: usize = 4_000_000;

/// Configuration of one [`Epaxos`](crate::epaxos::Epaxos) replica.
///
/// # Examples
///
/// ```
/// use tessera_paxos::epaxos::EpaxosConfig;
///
/// let config = EpaxosConfig::new(1, vec![1, 2, 3, 4, 5])?;
/// assert_eq!(config.fast_quorum_size(), 4);
/// assert_eq!(config.slow_quorum_size(), 3);
/// assert!(EpaxosConfig::new(1, vec![1, 2, 3, 4]).is_err(), "an even count wastes a replica");
/// # Ok::<(), tessera_paxos::PaxosError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpaxosConfig {
    /// This replica.
    pub id: NodeId,
    /// Every replica, `2F + 1` of them.
    pub members: Vec<NodeId>,
    /// A command leader re-sends unanswered pre-accepts and accepts after
    /// this long, and goes to the slow path if the fast quorum has not
    /// answered.
    pub retry_timeout: Duration,
    /// Execution blocked on an instance that is not committed for a random
    /// time in `[recovery_timeout, 2 · recovery_timeout)` starts explicit
    /// prepare for it.
    pub recovery_timeout: Duration,
    /// Every this long, a replica tells its peers how far it has committed
    /// each replica's instances, and they send it the commits it lacks.
    pub sync_interval: Duration,
    /// The most instances a replica is sent commits for per peer, per
    /// frontier message.
    pub sync_batch_max: usize,
    /// The most requests in flight as command leader.
    pub leading_max: usize,
    /// The most instances kept in memory.
    pub instances_max: usize,
    /// How many decisions and proposals to record for the invariants
    /// ([`Audit`](crate::Audit)); 0 records nothing.
    pub audit_capacity: usize,
}

impl EpaxosConfig {
    /// Defaults for a LAN.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn new(id: NodeId, members: Vec<NodeId>) -> Result<Self, PaxosError> {
        let mut members = members;
        members.sort_unstable();
        members.dedup();
        let config = EpaxosConfig {
            id,
            members,
            retry_timeout: Duration::from_millis(50),
            recovery_timeout: Duration::from_millis(200),
            sync_interval: Duration::from_millis(100),
            sync_batch_max: 256,
            leading_max: LEADING_MAX_DEFAULT,
            instances_max: INSTANCES_MAX_DEFAULT,
            audit_capacity: 0,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every value.
    ///
    /// # Errors
    ///
    /// [`PaxosError::InvalidParameter`] naming the first bad value.
    pub fn validate(&self) -> Result<(), PaxosError> {
        crate::quorums::check_members(self.id, &self.members)?;
        if self.members.len().is_multiple_of(2) || self.members.len() > tessera_quorum::MEMBERS_MAX
        {
            return Err(InvalidParameter::new(
                "members",
                format!(
                    "EPaxos needs an odd number of replicas, 2F + 1, at most {}; got {}",
                    tessera_quorum::MEMBERS_MAX,
                    self.members.len()
                ),
            )
            .into());
        }
        if self.retry_timeout.is_zero()
            || self.recovery_timeout.is_zero()
            || self.sync_interval.is_zero()
        {
            return Err(InvalidParameter::new("retry_timeout", "timeouts must be positive").into());
        }
        if self.leading_max == 0 || self.instances_max == 0 || self.sync_batch_max == 0 {
            return Err(InvalidParameter::new("leading_max", "bounds must be at least 1").into());
        }
        Ok(())
    }

    /// `F`: how many replicas may fail.
    pub fn faults(&self) -> usize {
        (self.members.len() - 1) / 2
    }

    /// The fast quorum, command leader included: `N − 1 = 2F` (see the
    /// module documentation for why not the optimized `F + ⌊(F+1)/2⌋`).
    pub fn fast_quorum_size(&self) -> usize {
        (self.members.len() - 1).max(1)
    }

    /// The slow-path and recovery quorum: a majority, `F + 1`.
    pub fn slow_quorum_size(&self) -> usize {
        self.faults() + 1
    }
}

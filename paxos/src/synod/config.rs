//! How a Synod node is set up.

use std::time::Duration;

use tessera_core::{InvalidParameter, NodeId};

use crate::quorums::check_members;
use crate::{PaxosError, PaxosQuorums};

/// The most client requests one Synod node keeps waiting for the decision;
/// more are answered [`Overloaded`](crate::synod::SynodResponse::Overloaded).
pub const SYNOD_WAITING_MAX_DEFAULT: usize = 1024;

/// The most ballots a Synod learner counts accepts for at once; the lowest
/// is forgotten first (a higher ballot supersedes it).
pub const SYNOD_LEARNING_BALLOTS_MAX: usize = 16;

/// Configuration of one [`Synod`](crate::synod::Synod) node.
///
/// # Examples
///
/// ```
/// use tessera_paxos::PaxosQuorums;
/// use tessera_paxos::synod::SynodConfig;
///
/// let config = SynodConfig::new(1, PaxosQuorums::majority([1, 2, 3])?)?;
/// assert!(SynodConfig::new(4, PaxosQuorums::majority([1, 2, 3])?).is_err());
/// # Ok::<(), tessera_paxos::PaxosError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynodConfig {
    /// This node.
    pub id: NodeId,
    /// The acceptors' quorums. Every member is proposer, acceptor and
    /// learner.
    pub quorums: PaxosQuorums,
    /// A proposer that has not seen its value chosen after this long
    /// starts again with a higher ballot (lost messages, a crashed
    /// acceptor).
    pub retry_timeout: Duration,
    /// A preempted proposer waits a random time up to this long before it
    /// tries again, so that dueling proposers stop dueling.
    pub backoff_max: Duration,
    /// The most requests kept waiting for the decision.
    pub waiting_max: usize,
    /// How many decisions and proposals to record for the invariants
    /// ([`Audit`](crate::Audit)); 0 records nothing.
    pub audit_capacity: usize,
}

impl SynodConfig {
    /// A configuration with default timings for node `id`.
    ///
    /// # Errors
    ///
    /// [`PaxosError::InvalidParameter`] if `id` is not a member or a member
    /// id exceeds [`NODE_ID_MAX`](crate::NODE_ID_MAX).
    pub fn new(id: NodeId, quorums: PaxosQuorums) -> Result<Self, PaxosError> {
        let config = SynodConfig {
            id,
            quorums,
            retry_timeout: Duration::from_millis(100),
            backoff_max: Duration::from_millis(40),
            waiting_max: SYNOD_WAITING_MAX_DEFAULT,
            audit_capacity: 0,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every value.
    ///
    /// # Errors
    ///
    /// [`PaxosError::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<(), PaxosError> {
        check_members(self.id, self.quorums.members())?;
        if self.retry_timeout.is_zero() {
            return Err(InvalidParameter::new("retry_timeout", "must be positive").into());
        }
        if self.waiting_max == 0 {
            return Err(InvalidParameter::new("waiting_max", "must be at least 1").into());
        }
        Ok(())
    }
}

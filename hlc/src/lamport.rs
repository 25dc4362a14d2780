//! Lamport's logical clock, lock-free.

use std::fmt;

use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant, NodeId};

use crate::HlcError;
use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// A Lamport clock (Lamport 1978, "Time, Clocks, and the Ordering of Events
/// in a Distributed System", rules IR1 and IR2): a counter that ticks on
/// every local event and jumps past every timestamp it receives, so that if
/// event *a* happened before *b*, then `C(a) < C(b)`.
///
/// It is a single atomic: [`tick`](Self::tick) and
/// [`observe`](Self::observe) are lock-free and safe from many threads, and
/// every call returns a value no other call on this clock returns. With the
/// node id ([`LamportTimestamp`]) values are unique across a cluster and
/// totally ordered — the Floor mode of the clock matrix: causality without
/// physical time.
///
/// The counter never wraps: at `u64::MAX` it refuses to advance
/// ([`HlcError::LamportExhausted`]) rather than restart at zero.
///
/// # Examples
///
/// ```
/// use tessera_hlc::LamportClock;
///
/// let a = LamportClock::new(1);
/// let b = LamportClock::new(2);
/// let sent = a.tick()?;                 // a sends a message stamped 1
/// let received = b.observe(sent.time)?; // b receives it
/// assert!(received > sent);
/// # Ok::<(), tessera_hlc::HlcError>(())
/// ```
pub struct LamportClock {
    node: NodeId,
    counter: AtomicU64,
}

impl LamportClock {
    /// A clock at zero for `node`.
    pub fn new(node: NodeId) -> Self {
        Self::starting_at(node, 0)
    }

    /// A clock for `node` whose next tick is above `value` (a restart from a
    /// persisted value).
    pub fn starting_at(node: NodeId, value: u64) -> Self {
        LamportClock {
            node,
            counter: AtomicU64::new(value),
        }
    }

    /// The node this clock stamps events for.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The latest value issued or observed, without issuing a new one.
    pub fn current(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    /// A local event (IR1): the counter plus one.
    ///
    /// # Errors
    ///
    /// [`HlcError::LamportExhausted`] if the counter is at `u64::MAX`.
    pub fn tick(&self) -> Result<LamportTimestamp, HlcError> {
        self.advance(None)
    }

    /// Receipt of a message stamped `remote` (IR2): the counter moves past
    /// both its own value and `remote`, and the returned value is greater
    /// than both.
    ///
    /// # Errors
    ///
    /// [`HlcError::LamportExhausted`] if `remote` or the counter is at
    /// `u64::MAX`; the clock is left unchanged.
    pub fn observe(&self, remote: u64) -> Result<LamportTimestamp, HlcError> {
        self.advance(Some(remote))
    }

    fn advance(&self, remote: Option<u64>) -> Result<LamportTimestamp, HlcError> {
        // Relaxed suffices: every promise of the clock concerns this one
        // atomic, whose read-modify-writes form a single total order in any
        // memory ordering (coherence), so no two calls see the same value
        // and a call that happens after another sees its result or later.
        let mut current = self.counter.load(Ordering::Relaxed);
        loop {
            let base = current.max(remote.unwrap_or(0));
            let next = base
                .checked_add(1)
                .ok_or(HlcError::LamportExhausted { current, remote })?;
            match self.counter.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Ok(LamportTimestamp {
                        time: next,
                        node: self.node,
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }
}

impl fmt::Debug for LamportClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LamportClock")
            .field("node", &self.node)
            .field("counter", &self.current())
            .finish()
    }
}

/// A Lamport time and the node that issued it, ordered by time then node: a
/// total order that extends happened-before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LamportTimestamp {
    /// The counter value; compared first.
    pub time: u64,
    /// The issuing node; breaks ties.
    pub node: NodeId,
}

impl fmt::Display for LamportTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.time, self.node)
    }
}

impl Evidence for LamportTimestamp {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Timestamp
    }

    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Node(self.node)
    }

    /// Logical time says nothing about physical time.
    fn issued_at(&self) -> Option<Instant> {
        None
    }

    fn expires_at(&self) -> Option<Instant> {
        None
    }

    /// Zero is the clock's initial value, never issued.
    fn validate(&self) -> Result<(), EvidenceError> {
        if self.time == 0 {
            return Err(EvidenceError::Inconsistent(
                "a Lamport clock never issues 0".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use tessera_core::EvidenceState;

    #[test]
    fn ticks_increase_by_one() {
        // IR1: each local event increments the clock.
        let clock = LamportClock::new(3);
        assert_eq!(clock.tick().unwrap().time, 1);
        assert_eq!(clock.tick().unwrap().time, 2);
        assert_eq!(clock.current(), 2);
    }

    #[test]
    fn observing_jumps_past_the_remote_and_the_local_value() {
        // IR2: on receipt the clock moves past the message's timestamp.
        let clock = LamportClock::starting_at(1, 10);
        assert_eq!(clock.observe(40).unwrap().time, 41);
        // An older remote still advances past the local value.
        assert_eq!(clock.observe(5).unwrap().time, 42);
    }

    #[test]
    fn the_counter_refuses_to_wrap() {
        let clock = LamportClock::starting_at(1, u64::MAX - 1);
        assert_eq!(clock.tick().unwrap().time, u64::MAX);
        assert_eq!(
            clock.tick(),
            Err(HlcError::LamportExhausted {
                current: u64::MAX,
                remote: None
            })
        );
        assert_eq!(clock.current(), u64::MAX);
        let fresh = LamportClock::new(2);
        assert!(fresh.observe(u64::MAX).is_err());
        assert_eq!(
            fresh.current(),
            0,
            "a refused observe leaves the clock unchanged"
        );
    }

    #[test]
    fn timestamps_order_by_time_then_node_and_zero_is_not_evidence() {
        let a = LamportTimestamp { time: 5, node: 2 };
        let b = LamportTimestamp { time: 5, node: 3 };
        assert!(a < b && b < LamportTimestamp { time: 6, node: 0 });
        assert_eq!(a.state_at(Instant::ZERO), EvidenceState::Active);
        let zero = LamportTimestamp { time: 0, node: 2 };
        assert_eq!(zero.state_at(Instant::ZERO), EvidenceState::Generated);
    }
}

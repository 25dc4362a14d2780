//! BOUNDED DIVERGENCE, checked over simultaneous clock readings.

use std::time::Duration;

use tessera_core::{Invariant, NodeId, Violation};

use crate::{BOUNDED_DIVERGENCE, Timestamp};

/// Checks that readings of every node's clock taken at the same true
/// instant (as a simulator can) lie within the maximum offset of each
/// other.
///
/// Source: the assumption behind CockroachDB's `--max-offset` and
/// Spanner's TrueTime ε; with it, uncertainty intervals, commit wait and
/// leases are safe.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::Invariant;
/// use tessera_hlc::{BoundedDivergence, Timestamp};
///
/// let mut invariant = BoundedDivergence::new(Duration::from_millis(5));
/// let close = [(1, Timestamp::from_micros(1_000)), (2, Timestamp::from_micros(5_000))];
/// let far = [(1, Timestamp::from_micros(1_000)), (2, Timestamp::from_micros(7_000))];
/// assert!(invariant.check(&close[..]).is_ok());
/// assert!(invariant.check(&far[..]).is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BoundedDivergence {
    max_offset: Duration,
}

impl BoundedDivergence {
    /// Checks against `max_offset`.
    pub fn new(max_offset: Duration) -> Self {
        BoundedDivergence { max_offset }
    }
}

impl Invariant<[(NodeId, Timestamp)]> for BoundedDivergence {
    fn name(&self) -> &'static str {
        BOUNDED_DIVERGENCE
    }

    fn source(&self) -> &'static str {
        "CockroachDB's maximum clock offset; Corbett et al. 2012, Spanner, §3 (TrueTime)"
    }

    fn check(&mut self, readings: &[(NodeId, Timestamp)]) -> Result<(), Violation> {
        let earliest = readings.iter().min_by_key(|(_, time)| *time);
        let latest = readings.iter().max_by_key(|(_, time)| *time);
        if let (Some(&(early_node, early)), Some(&(late_node, late))) = (earliest, latest) {
            let divergence = late.duration_since(early);
            if divergence > self.max_offset {
                return Err(Violation::new(
                    BOUNDED_DIVERGENCE,
                    "two clocks are further apart than the maximum offset",
                )
                .with("behind", (early_node, early))
                .with("ahead", (late_node, late))
                .with("divergence", divergence)
                .with("max_offset", self.max_offset));
            }
        }
        Ok(())
    }
}

//! MONOTONICITY, checked over the timestamps each node issues.

use std::collections::HashMap;

use tessera_core::{Invariant, NodeId, Violation};

use crate::{MONOTONICITY, NodeTimestamp};

/// Checks that each node's timestamps strictly increase, fed one issued
/// timestamp at a time (in the order each node issued them).
///
/// Source: Kulkarni et al. 2014, HLC property "l.e < l.f for e → f"
/// restricted to the events of one process; Lamport 1978, IR1.
///
/// # Examples
///
/// ```
/// use tessera_core::Invariant;
/// use tessera_hlc::{Monotonicity, NodeTimestamp, Timestamp};
///
/// let mut invariant = Monotonicity::default();
/// let t = Timestamp::from_micros(10);
/// assert!(invariant.check(&NodeTimestamp::new(t, 1)).is_ok());
/// assert!(invariant.check(&NodeTimestamp::new(t, 2)).is_ok());
/// assert!(invariant.check(&NodeTimestamp::new(t, 1)).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Monotonicity {
    last: HashMap<NodeId, NodeTimestamp>,
}

impl Invariant<NodeTimestamp> for Monotonicity {
    fn name(&self) -> &'static str {
        MONOTONICITY
    }

    fn source(&self) -> &'static str {
        "Kulkarni et al. 2014, Logical Physical Clocks, §3; Lamport 1978, IR1"
    }

    fn check(&mut self, issued: &NodeTimestamp) -> Result<(), Violation> {
        if let Some(previous) = self.last.get(&issued.node)
            && issued.time <= previous.time
        {
            return Err(Violation::new(
                MONOTONICITY,
                "a clock issued a timestamp not above its previous one",
            )
            .on_node(issued.node)
            .with("previous", previous.time)
            .with("issued", issued.time));
        }
        self.last.insert(issued.node, *issued);
        Ok(())
    }
}

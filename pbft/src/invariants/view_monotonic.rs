//! VIEW MONOTONIC: a replica's durable view never goes back.

use std::collections::BTreeMap;

use tessera_core::{Invariant, NodeId, Violation};

use super::SafetyProbe;

/// The invariant's name.
pub const VIEW_MONOTONIC: &str = "VIEW MONOTONIC";

/// A correct replica's durable view never decreases, across crashes and
/// restarts (Castro and Liskov, OSDI 1999, §4.4: a replica that sent a view
/// change for v + 1 accepts no message of view v again; forgetting that in
/// a crash would let it prepare in a view it promised to leave).
#[derive(Debug, Default)]
pub struct ViewMonotonic {
    views: BTreeMap<NodeId, u64>,
}

impl<'a, R: SafetyProbe> Invariant<[&'a R]> for ViewMonotonic {
    fn name(&self) -> &'static str {
        VIEW_MONOTONIC
    }

    fn source(&self) -> &'static str {
        "Castro and Liskov, Practical Byzantine Fault Tolerance, OSDI 1999, §4.4"
    }

    fn check(&mut self, replicas: &[&'a R]) -> Result<(), Violation> {
        for replica in replicas {
            let id = replica.replica_id();
            let view = replica.durable_view();
            let before = self.views.insert(id, view).unwrap_or(0);
            if view < before {
                return Err(
                    Violation::new(VIEW_MONOTONIC, "a replica's durable view went back")
                        .on_node(id)
                        .with("before", before)
                        .with("after", view),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::probe::FakeReplica;

    #[test]
    fn catches_a_view_lost_in_a_crash() {
        let mut invariant = ViewMonotonic::default();
        let mut a = FakeReplica::new(1);
        a.durable_view = 3;
        invariant.check(&[&a][..]).unwrap();
        a.durable_view = 2;
        assert_eq!(
            invariant.check(&[&a][..]).unwrap_err().invariant,
            VIEW_MONOTONIC
        );
    }
}

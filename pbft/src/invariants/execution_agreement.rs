//! EXECUTION AGREEMENT: no two correct replicas execute different batches
//! at the same sequence number.

use std::collections::BTreeMap;

use tessera_core::{Invariant, NodeId, Violation};

use super::{AgreedDigests, SafetyProbe};
use crate::Digest;

/// The invariant's name.
pub const EXECUTION_AGREEMENT: &str = "EXECUTION AGREEMENT";

/// No two correct replicas execute different batches at one sequence
/// number — PBFT's safety property (Castro and Liskov, OSDI 1999, §4 and
/// §4.5.1: correct replicas agree on the sequence numbers of requests that
/// commit locally, even across view changes).
///
/// It remembers every execution it has seen (the last
/// [`SEQUENCES_REMEMBERED_MAX`]), so replicas executing the same sequence
/// number at different times, or after a restart, are compared too.
///
/// # Examples
///
/// See the invariant's tests; in a simulation it is registered with
/// `add_invariant` over the correct replicas.
#[derive(Debug, Default)]
pub struct ExecutionAgreement {
    agreed: AgreedDigests,
    seen: BTreeMap<NodeId, u64>,
}

impl<'a, R: SafetyProbe> Invariant<[&'a R]> for ExecutionAgreement {
    fn name(&self) -> &'static str {
        EXECUTION_AGREEMENT
    }

    fn source(&self) -> &'static str {
        "Castro and Liskov, Practical Byzantine Fault Tolerance, OSDI 1999, §4.5.1"
    }

    fn check(&mut self, replicas: &[&'a R]) -> Result<(), Violation> {
        for replica in replicas {
            let id = replica.replica_id();
            let total = replica.executions_total();
            let seen = self.seen.get(&id).copied().unwrap_or(0);
            // A restarted replica counts from zero again: look at all it
            // remembers.
            let new = if total < seen { total } else { total - seen };
            let mut fresh: Vec<(u64, Digest)> = replica
                .executions()
                .rev()
                .take(usize::try_from(new).unwrap_or(usize::MAX))
                .collect();
            fresh.reverse();
            for (seq, digest) in fresh {
                if let Err((agreed, by)) = self.agreed.observe(seq, digest, id) {
                    return Err(Violation::new(
                        EXECUTION_AGREEMENT,
                        "two correct replicas executed different batches at one sequence number",
                    )
                    .on_node(id)
                    .with("seq", seq)
                    .with("digest", digest)
                    .with("other_replica", by)
                    .with("other_digest", agreed));
                }
            }
            self.seen.insert(id, total);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::probe::FakeReplica;

    #[test]
    fn catches_two_replicas_executing_different_batches_even_at_different_times() {
        let mut invariant = ExecutionAgreement::default();
        let mut a = FakeReplica::new(1);
        let mut b = FakeReplica::new(2);
        a.execute(1, "x");
        invariant.check(&[&a, &b][..]).unwrap();
        b.execute(1, "x");
        a.execute(2, "y");
        invariant.check(&[&a, &b][..]).unwrap();
        // Replica 2 executes something else at 2, a step later.
        b.execute(2, "z");
        let violation = invariant.check(&[&a, &b][..]).unwrap_err();
        assert_eq!(violation.invariant, EXECUTION_AGREEMENT);
        assert_eq!(violation.node, Some(2));
    }

    #[test]
    fn a_restarted_replica_is_checked_again() {
        let mut invariant = ExecutionAgreement::default();
        let mut a = FakeReplica::new(1);
        a.execute(1, "x");
        a.execute(2, "y");
        invariant.check(&[&a][..]).unwrap();
        let mut restarted = FakeReplica::new(1);
        restarted.execute(1, "w");
        assert!(invariant.check(&[&restarted][..]).is_err());
    }
}

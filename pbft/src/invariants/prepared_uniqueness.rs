//! PREPARED UNIQUENESS: correct replicas never prepare different batches
//! at one sequence number in one view.

use tessera_core::{Invariant, NodeId, Violation};

use super::SafetyProbe;
use crate::Digest;

/// The invariant's name.
pub const PREPARED_UNIQUENESS: &str = "PREPARED UNIQUENESS";

/// If `prepared(m, v, n, i)` and `prepared(m', v, n, j)` hold at correct
/// replicas i and j, then `D(m) = D(m')` (Castro and Liskov, OSDI 1999,
/// §4.2): the prepare quorums of `2f + 1` intersect in a correct replica,
/// which accepts one pre-prepare per view and sequence number.
#[derive(Debug, Default)]
pub struct PreparedUniqueness;

impl<'a, R: SafetyProbe> Invariant<[&'a R]> for PreparedUniqueness {
    fn name(&self) -> &'static str {
        PREPARED_UNIQUENESS
    }

    fn source(&self) -> &'static str {
        "Castro and Liskov, Practical Byzantine Fault Tolerance, OSDI 1999, §4.2"
    }

    fn check(&mut self, replicas: &[&'a R]) -> Result<(), Violation> {
        let mut prepared: Vec<(u64, u64, Digest, NodeId)> = replicas
            .iter()
            .flat_map(|replica| {
                let id = replica.replica_id();
                replica
                    .prepared()
                    .map(move |claim| (claim.view, claim.seq, claim.digest, id))
            })
            .collect();
        prepared.sort_unstable();
        for pair in prepared.windows(2) {
            let ((view, seq, digest, by), (other_view, other_seq, other_digest, id)) =
                (pair[0], pair[1]);
            if (view, seq) == (other_view, other_seq) && digest != other_digest {
                return Err(Violation::new(
                    PREPARED_UNIQUENESS,
                    "two correct replicas prepared different batches at one sequence number in one view",
                )
                .on_node(id)
                .with("view", view)
                .with("seq", seq)
                .with("digest", other_digest)
                .with("other_replica", by)
                .with("other_digest", digest));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Claim;
    use crate::invariants::probe::FakeReplica;

    #[test]
    fn catches_different_digests_prepared_in_one_view() {
        let claim = |digest: &str, view| Claim {
            seq: 4,
            digest: Digest::of(digest.as_bytes()),
            view,
        };
        let mut a = FakeReplica::new(1);
        let mut b = FakeReplica::new(2);
        a.prepared.push(claim("x", 1));
        b.prepared.push(claim("y", 2));
        // Different views: allowed (a view change may re-propose).
        assert!(PreparedUniqueness.check(&[&a, &b][..]).is_ok());
        b.prepared[0] = claim("y", 1);
        let violation = PreparedUniqueness.check(&[&a, &b][..]).unwrap_err();
        assert_eq!(violation.invariant, PREPARED_UNIQUENESS);
    }
}

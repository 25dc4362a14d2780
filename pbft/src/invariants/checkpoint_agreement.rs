//! CHECKPOINT AGREEMENT: correct replicas' states agree at every
//! checkpoint.

use tessera_core::{Invariant, Violation};

use super::{AgreedDigests, SafetyProbe};

/// The invariant's name.
pub const CHECKPOINT_AGREEMENT: &str = "CHECKPOINT AGREEMENT";

/// Correct replicas that checkpoint at the same sequence number have the
/// same state digest (Castro and Liskov, OSDI 1999, §4.3: a checkpoint is
/// the state produced by executing the same requests in the same order, so
/// `2f + 1` matching checkpoint messages prove it). A difference means a
/// replica executed something else, or the application is not
/// deterministic.
#[derive(Debug, Default)]
pub struct CheckpointAgreement {
    agreed: AgreedDigests,
}

impl<'a, R: SafetyProbe> Invariant<[&'a R]> for CheckpointAgreement {
    fn name(&self) -> &'static str {
        CHECKPOINT_AGREEMENT
    }

    fn source(&self) -> &'static str {
        "Castro and Liskov, Practical Byzantine Fault Tolerance, OSDI 1999, §4.3"
    }

    fn check(&mut self, replicas: &[&'a R]) -> Result<(), Violation> {
        for replica in replicas {
            let id = replica.replica_id();
            for (seq, digest) in replica.checkpoint_digests() {
                if let Err((agreed, by)) = self.agreed.observe(seq, digest, id) {
                    return Err(Violation::new(
                        CHECKPOINT_AGREEMENT,
                        "two correct replicas' states differ at one checkpoint",
                    )
                    .on_node(id)
                    .with("seq", seq)
                    .with("digest", digest)
                    .with("other_replica", by)
                    .with("other_digest", agreed));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;
    use crate::invariants::probe::FakeReplica;

    #[test]
    fn catches_diverging_states_at_a_checkpoint() {
        let mut invariant = CheckpointAgreement::default();
        let mut a = FakeReplica::new(1);
        let mut b = FakeReplica::new(2);
        a.checkpoints.push((8, Digest::of(b"s")));
        invariant.check(&[&a, &b][..]).unwrap();
        // The first replica moved on (its checkpoint at 8 collected); the
        // second reaches 8 later, with another state.
        a.checkpoints.clear();
        b.checkpoints.push((8, Digest::of(b"t")));
        assert!(invariant.check(&[&a, &b][..]).is_err());
    }
}

//! PBFT's safety properties as tessera-core invariants, one per file, each
//! citing where it is stated. They check the correct replicas of a cluster
//! — a slice of [`SafetyProbe`]s — and the simulator checks them after
//! every step.

use std::collections::BTreeMap;

use tessera_core::NodeId;

use crate::{Claim, Digest, Replica, StateMachine};

mod checkpoint_agreement;
mod execution_agreement;
mod prepared_uniqueness;
mod view_monotonic;
mod watermarks;

pub use checkpoint_agreement::{CHECKPOINT_AGREEMENT, CheckpointAgreement};
pub use execution_agreement::{EXECUTION_AGREEMENT, ExecutionAgreement};
pub use prepared_uniqueness::{PREPARED_UNIQUENESS, PreparedUniqueness};
pub use view_monotonic::{VIEW_MONOTONIC, ViewMonotonic};
pub use watermarks::{WATERMARKS, Watermarks};

/// Sequence numbers an invariant with memory remembers, at most; the
/// oldest are forgotten first.
pub const SEQUENCES_REMEMBERED_MAX: usize = 1 << 20;

/// The digest agreed at each sequence number so far, and who first had
/// it: the memory of [`ExecutionAgreement`] and [`CheckpointAgreement`].
#[derive(Debug, Default)]
pub(crate) struct AgreedDigests {
    agreed: BTreeMap<u64, (Digest, NodeId)>,
}

impl AgreedDigests {
    /// Records that `replica` has `digest` at `seq`, or returns the other
    /// replica and digest it disagrees with.
    pub(crate) fn observe(
        &mut self,
        seq: u64,
        digest: Digest,
        replica: NodeId,
    ) -> Result<(), (Digest, NodeId)> {
        match self.agreed.get(&seq) {
            Some(&(agreed, by)) if agreed != digest => Err((agreed, by)),
            Some(_) => Ok(()),
            None => {
                self.agreed.insert(seq, (digest, replica));
                if self.agreed.len() > SEQUENCES_REMEMBERED_MAX {
                    self.agreed.pop_first();
                }
                Ok(())
            }
        }
    }
}

/// What the invariants read from a replica. [`Replica`] implements it; a
/// test can implement it on a hand-made state to show an invariant catches
/// what it should.
pub trait SafetyProbe {
    /// The replica's id.
    fn replica_id(&self) -> NodeId;
    /// Executions since this incarnation started.
    fn executions_total(&self) -> u64;
    /// The latest executions, `(sequence number, batch digest)`, oldest
    /// first.
    fn executions(&self) -> impl DoubleEndedIterator<Item = (u64, Digest)> + '_;
    /// For each sequence number, the latest view it prepared a batch in.
    fn prepared(&self) -> impl Iterator<Item = Claim> + '_;
    /// Its checkpoints, `(sequence number, state digest)`.
    fn checkpoint_digests(&self) -> impl Iterator<Item = (u64, Digest)> + '_;
    /// The highest view known durable.
    fn durable_view(&self) -> u64;
    /// Its own bookkeeping checks.
    ///
    /// # Errors
    ///
    /// The first inconsistency.
    fn check_watermarks(&self) -> Result<(), String>;
}

impl<S: StateMachine> SafetyProbe for Replica<S> {
    fn replica_id(&self) -> NodeId {
        tessera_core::Protocol::id(self)
    }

    fn executions_total(&self) -> u64 {
        Replica::executions_total(self)
    }

    fn executions(&self) -> impl DoubleEndedIterator<Item = (u64, Digest)> + '_ {
        Replica::executions(self)
    }

    fn prepared(&self) -> impl Iterator<Item = Claim> + '_ {
        self.prepared_claims()
    }

    fn checkpoint_digests(&self) -> impl Iterator<Item = (u64, Digest)> + '_ {
        self.checkpoints()
    }

    fn durable_view(&self) -> u64 {
        Replica::durable_view(self)
    }

    fn check_watermarks(&self) -> Result<(), String> {
        self.validate()
    }
}

#[cfg(test)]
pub(crate) mod probe {
    //! A hand-made replica state for the invariants' own tests.

    use super::*;

    #[derive(Debug, Clone, Default)]
    pub(crate) struct FakeReplica {
        pub(crate) id: NodeId,
        pub(crate) executions: Vec<(u64, Digest)>,
        pub(crate) total: u64,
        pub(crate) prepared: Vec<Claim>,
        pub(crate) checkpoints: Vec<(u64, Digest)>,
        pub(crate) durable_view: u64,
        pub(crate) broken: Option<String>,
    }

    impl FakeReplica {
        pub(crate) fn new(id: NodeId) -> Self {
            FakeReplica {
                id,
                ..FakeReplica::default()
            }
        }

        pub(crate) fn execute(&mut self, seq: u64, digest: &str) {
            self.executions.push((seq, Digest::of(digest.as_bytes())));
            self.total += 1;
        }
    }

    impl SafetyProbe for FakeReplica {
        fn replica_id(&self) -> NodeId {
            self.id
        }
        fn executions_total(&self) -> u64 {
            self.total
        }
        fn executions(&self) -> impl DoubleEndedIterator<Item = (u64, Digest)> + '_ {
            self.executions.iter().copied()
        }
        fn prepared(&self) -> impl Iterator<Item = Claim> + '_ {
            self.prepared.iter().copied()
        }
        fn checkpoint_digests(&self) -> impl Iterator<Item = (u64, Digest)> + '_ {
            self.checkpoints.iter().copied()
        }
        fn durable_view(&self) -> u64 {
            self.durable_view
        }
        fn check_watermarks(&self) -> Result<(), String> {
            self.broken.clone().map_or(Ok(()), Err)
        }
    }
}

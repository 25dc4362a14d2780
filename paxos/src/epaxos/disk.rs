//! What an EPaxos replica keeps on stable storage.

use std::collections::BTreeMap;

use tessera_core::DurableState;

use crate::epaxos::{InstanceId, InstanceRecord};
use crate::{AUDIT_MAX, Audit};

/// One write of an EPaxos replica: an instance's record, replaced
/// atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EpaxosWrite<C> {
    /// The instance.
    pub instance: InstanceId,
    /// Its new record.
    pub record: InstanceRecord<C>,
}

/// An EPaxos replica's stable storage: every instance record it wrote. The
/// simulator's disk image, and what a restarted replica boots from.
///
/// It records every record it makes durable in an [`Audit`] (the last
/// [`AUDIT_MAX`]) for the EPaxos invariants.
#[derive(Debug, Clone)]
pub struct EpaxosDisk<C> {
    /// The records, by instance.
    pub instances: BTreeMap<InstanceId, InstanceRecord<C>>,
    writes: Audit<EpaxosWrite<C>>,
}

impl<C> Default for EpaxosDisk<C> {
    fn default() -> Self {
        EpaxosDisk {
            instances: BTreeMap::new(),
            writes: Audit::new(AUDIT_MAX),
        }
    }
}

impl<C> EpaxosDisk<C> {
    /// A disk that records nothing for the invariants (a benchmark's).
    pub fn without_audit() -> Self {
        EpaxosDisk {
            instances: BTreeMap::new(),
            writes: Audit::new(0),
        }
    }

    /// Every record made durable, recent ones kept.
    pub fn writes(&self) -> &Audit<EpaxosWrite<C>> {
        &self.writes
    }
}

impl<C: Clone> DurableState<EpaxosWrite<C>> for EpaxosDisk<C> {
    fn apply(&mut self, write: EpaxosWrite<C>) {
        self.writes.record_with(|| write.clone());
        self.instances.insert(write.instance, write.record);
    }
}

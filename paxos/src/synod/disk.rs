//! What a Synod acceptor keeps on stable storage.

use tessera_core::DurableState;

use crate::invariants::{Acceptance, ObservedAcceptor};
use crate::{AUDIT_MAX, Audit, Ballot};

/// One write of a Synod acceptor: its whole state, replaced atomically
/// (a few bytes and a value: one record).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SynodWrite<V> {
    /// The highest ballot promised.
    pub promised: Ballot,
    /// The last acceptance: its ballot and value.
    pub accepted: Option<(Ballot, V)>,
}

/// A Synod acceptor's stable storage: the simulator's disk image, and what
/// a restarted node boots from.
///
/// It also records every acceptance it makes durable in an [`Audit`] (the
/// last [`AUDIT_MAX`]), for the [`Uniqueness`](crate::invariants::Uniqueness)
/// checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynodDisk<V> {
    /// The highest ballot promised.
    pub promised: Ballot,
    /// The last acceptance.
    pub accepted: Option<(Ballot, V)>,
    acceptances: Audit<Acceptance<V>>,
}

impl<V> Default for SynodDisk<V> {
    fn default() -> Self {
        SynodDisk {
            promised: Ballot::ZERO,
            accepted: None,
            acceptances: Audit::new(AUDIT_MAX),
        }
    }
}

impl<V: Clone + PartialEq> DurableState<SynodWrite<V>> for SynodDisk<V> {
    fn apply(&mut self, write: SynodWrite<V>) {
        if let Some((ballot, value)) = &write.accepted
            && self.accepted.as_ref() != Some(&(*ballot, value.clone()))
        {
            self.acceptances.record(Acceptance {
                instance: 0,
                ballot: *ballot,
                value: value.clone(),
            });
        }
        self.promised = write.promised;
        self.accepted = write.accepted;
    }
}

impl<V> ObservedAcceptor for SynodDisk<V> {
    type Value = V;

    fn acceptances(&self) -> &Audit<Acceptance<V>> {
        &self.acceptances
    }
}

//! What a Multi-Paxos node writes to stable storage, and the simulator's
//! image of it.

use std::sync::Arc;

use tessera_core::DurableState;
use tessera_storage::{
    LogPosition, LogStore, LogWrite, MemLog, MemSnapshots, SnapshotStore, SnapshotWriter,
};

use crate::invariants::{Acceptance, ObservedAcceptor};
use crate::multi::{Configuration, SlotEntry, SlotValue};
use crate::{AUDIT_MAX, Audit, Ballot};

/// A rewrite of the log from slot `from` on, recorded in the hard state
/// before it is performed (an intent record), so that a crash between the
/// truncation and the append it needs is repaired at restart instead of
/// losing acceptances.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Overwrite<C> {
    /// The first slot rewritten.
    pub from: u64,
    /// The new suffix of the log, from `from`.
    pub entries: Vec<SlotEntry<C>>,
}

/// The hard state of a Multi-Paxos node (the `H` of its
/// [`LogStore`]): its promise, how far it knows the log chosen, its
/// configuration, and a rewrite in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PaxosHardState<C> {
    /// The highest ballot promised.
    pub promised: Ballot,
    /// Every slot up to here is known chosen (written opportunistically:
    /// it may lag).
    pub committed: u64,
    /// The configuration in force, once it changed from the initial one.
    pub configuration: Option<Configuration>,
    /// A rewrite of the log's suffix that may not be complete.
    pub overwrite: Option<Overwrite<C>>,
}

/// One write of a Multi-Paxos node, performed in order and each atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PaxosWrite<C> {
    /// A write to the log store.
    Log(LogWrite<SlotEntry<C>, PaxosHardState<C>>),
    /// Store a snapshot of the state machine covering every slot up to
    /// `last` (then the log is purged with a [`LogWrite::PurgeTo`]).
    Snapshot {
        /// The last slot it covers and that slot's ballot epoch.
        last: LogPosition,
        /// The configuration at `last`, encoded.
        configuration: Vec<u8>,
        /// The state machine's bytes.
        data: Arc<Vec<u8>>,
    },
}

/// A Multi-Paxos node's stable storage in memory: a [`MemLog`] of slots
/// with the [`PaxosHardState`], and a [`MemSnapshots`] store. It is the
/// simulator's disk image — a [`DurableState`] of [`PaxosWrite`]s — and
/// what a restarted node boots from.
///
/// It records every acceptance it makes durable in an [`Audit`] (the last
/// [`AUDIT_MAX`]) for the [`Uniqueness`](crate::invariants::Uniqueness)
/// checker.
///
/// A real driver keeps the log in a
/// [`DurableLog`](tessera_storage::DurableLog) and the snapshots in a
/// [`SnapshotDir`](tessera_storage::SnapshotDir), performing the same
/// writes.
#[derive(Debug, Clone)]
pub struct PaxosDisk<C> {
    /// The log and hard state.
    pub log: MemLog<SlotEntry<C>, PaxosHardState<C>>,
    /// The snapshots.
    pub snapshots: MemSnapshots,
    acceptances: Audit<Acceptance<SlotValue<C>>>,
}

impl<C> Default for PaxosDisk<C> {
    fn default() -> Self {
        PaxosDisk {
            log: MemLog::default(),
            snapshots: MemSnapshots::default(),
            acceptances: Audit::new(AUDIT_MAX),
        }
    }
}

impl<C> PaxosDisk<C> {
    /// A disk that records no acceptances for the invariants: the
    /// in-memory store of a benchmark or an embedded single-process
    /// cluster.
    pub fn without_audit() -> Self {
        PaxosDisk {
            acceptances: Audit::new(0),
            ..PaxosDisk::default()
        }
    }
}

impl<C: Clone> PaxosDisk<C> {
    /// The latest snapshot and its bytes, if any.
    pub fn latest_snapshot(&self) -> Option<(tessera_storage::SnapshotMeta, Arc<Vec<u8>>)> {
        let meta = self.snapshots.latest()?;
        let data = self.snapshots.data(meta.last)?;
        Some((meta, data))
    }

    fn record(&mut self, entries: &[SlotEntry<C>]) {
        if !self.acceptances.is_enabled() {
            // Nothing is kept: no clone of every value written.
            return;
        }
        for entry in entries {
            if !entry.value.is_vacant() {
                self.acceptances.record(Acceptance {
                    instance: entry.slot,
                    ballot: entry.ballot,
                    value: entry.value.clone(),
                });
            }
        }
    }
}

impl<C: Clone> DurableState<PaxosWrite<C>> for PaxosDisk<C> {
    /// Performs one write.
    ///
    /// # Panics
    ///
    /// If the write does not fit the log (a gap, a truncation below the
    /// base): the node that emitted it has a bug, and the simulation
    /// reports it where it happened.
    fn apply(&mut self, write: PaxosWrite<C>) {
        match write {
            PaxosWrite::Log(write) => {
                if let LogWrite::Append(entries) = &write {
                    self.record(entries);
                }
                if let Err(error) = LogStore::apply(&mut self.log, write) {
                    panic!("a Multi-Paxos node emitted a write that does not fit its log: {error}");
                }
            }
            PaxosWrite::Snapshot {
                last,
                configuration,
                data,
            } => {
                let stored = self
                    .snapshots
                    .create(last, configuration)
                    .and_then(|mut writer| {
                        writer.write_chunk(&data)?;
                        self.snapshots.commit(writer)
                    });
                if let Err(error) = stored {
                    panic!("the in-memory snapshot store refused a snapshot: {error}");
                }
            }
        }
    }
}

impl<C> ObservedAcceptor for PaxosDisk<C> {
    type Value = SlotValue<C>;

    fn acceptances(&self) -> &Audit<Acceptance<SlotValue<C>>> {
        &self.acceptances
    }
}

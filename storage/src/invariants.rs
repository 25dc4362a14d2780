//! The durability invariant as a checkable [`Invariant`].

use std::collections::BTreeMap;

use tessera_core::{Invariant, Violation};

use crate::Wal;
use crate::mode::ACKNOWLEDGED_WRITES_SURVIVE;

/// ACKNOWLEDGED WRITES SURVIVE: every record a [`Wal`] reported durable is
/// still there after any crash and recovery, at its lsn, byte for byte —
/// unless the application itself truncated or purged it since.
///
/// Record each acknowledgement as it arrives; after reopening the log,
/// [`check`](Invariant::check) it. The crash tests do exactly this after
/// every `kill -9`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tessera_core::Invariant;
/// use tessera_storage::{AcknowledgedWritesSurvive, CrashKind, SimFs, Wal, WalOptions};
///
/// let fs = SimFs::new();
/// let (wal, _) = Wal::open(Arc::new(fs.clone()), "/log", WalOptions::default())?;
/// let mut invariant = AcknowledgedWritesSurvive::new();
/// let (lsn, ticket) = wal.append(1, b"durable")?;
/// ticket.wait()?;
/// invariant.acknowledge(lsn, b"durable".to_vec());
///
/// // Power fails: only what was synced survives.
/// let rebooted = fs.crash(CrashKind::SyncedOnly);
/// let (wal, _) = Wal::open(Arc::new(rebooted), "/log", WalOptions::default())?;
/// invariant.check(&wal)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct AcknowledgedWritesSurvive {
    acknowledged: BTreeMap<u64, Vec<u8>>,
}

impl AcknowledgedWritesSurvive {
    /// Nothing acknowledged yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the record at `lsn` with `payload` was reported durable.
    pub fn acknowledge(&mut self, lsn: u64, payload: Vec<u8>) {
        self.acknowledged.insert(lsn, payload);
    }

    /// Forgets acknowledgements from `lsn` on: the application truncated
    /// them.
    pub fn truncated_from(&mut self, lsn: u64) {
        self.acknowledged.split_off(&lsn);
    }

    /// How many acknowledgements are being checked.
    pub fn len(&self) -> usize {
        self.acknowledged.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.acknowledged.is_empty()
    }
}

impl Invariant<Wal> for AcknowledgedWritesSurvive {
    fn name(&self) -> &'static str {
        ACKNOWLEDGED_WRITES_SURVIVE
    }

    fn source(&self) -> &'static str {
        "the seed: must sync to disk before acknowledging; decision chosen ≠ decision persisted"
    }

    fn check(&mut self, wal: &Wal) -> Result<(), Violation> {
        let base = wal.base().index;
        // Purged acknowledgements are covered by a snapshot now.
        self.acknowledged = self.acknowledged.split_off(&(base + 1));
        for (lsn, payload) in &self.acknowledged {
            match wal.read(*lsn) {
                Ok(record) if record.payload == *payload => {}
                Ok(record) => {
                    return Err(Violation::new(self.name(), "a durable record changed")
                        .with("lsn", lsn)
                        .with("acknowledged_bytes", payload.len())
                        .with("found_bytes", record.payload.len()));
                }
                Err(error) => {
                    return Err(Violation::new(self.name(), "a durable record is lost")
                        .with("lsn", lsn)
                        .with("error", error.to_string()));
                }
            }
        }
        Ok(())
    }
}

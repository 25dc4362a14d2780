//! PBFT's persistence adapter: a gateway's writes ([`GatewayWrite`]) onto
//! a `DurableLog` (the replica's journal and view), a `SnapshotDir` (its
//! checkpoints) and a small file holding the timestamps its gateway
//! reserved; and the state a restarting node recovers from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_pbft::{
    CHECKPOINTS_KEPT, GatewayWrite, JournalEntry, PbftHardState, PbftWrite, Recovered, apply_write,
};
use tessera_storage::{
    DurableLog, DurableTicket, FileSystem, RecoveryReport, SnapshotDir, StorageError, WalOptions,
};

use crate::DurableStore;

/// The file holding the last reserved timestamp.
const RESERVATION_FILE: &str = "pbft-timestamps";
/// Where a new reservation is written before it replaces the old one.
const RESERVATION_TEMP: &str = "pbft-timestamps.tmp";
/// The reservation file: the timestamp (8 bytes, little-endian), then the
/// CRC32C of those 8 bytes (4 bytes, little-endian).
const RESERVATION_BYTES: usize = 12;

/// A PBFT node's stable storage: the replica's journal and view in a
/// [`DurableLog`] under `<dir>/journal`, its checkpoints in a
/// [`SnapshotDir`] under `<dir>/checkpoints`, and the gateway's last
/// reserved timestamp in `<dir>/pbft-timestamps`.
///
/// Nothing is acknowledged before it is durable: a timestamp reservation
/// is written to a temporary file, synced, renamed over the old one and
/// the directory synced before [`write`](DurableStore::write) returns; a
/// checkpoint is written only after every earlier journal write is
/// durable (so whatever prefix of the writes a crash keeps, the node can
/// recover from it); the durability ticket covers the journal.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tessera_net::{DurableStore, PbftStore};
/// use tessera_pbft::GatewayWrite;
/// use tessera_storage::StdFs;
///
/// let dir = tempfile::tempdir()?;
/// let (mut store, _, reserved) = PbftStore::open(Arc::new(StdFs), dir.path())?;
/// assert_eq!(reserved, 0);
/// store.write(GatewayWrite::ReserveTimestamps { through: 1024 })?;
/// store.durable_ticket().wait()?;
/// drop(store);
///
/// let (_store, recovered, reserved) = PbftStore::open(Arc::new(StdFs), dir.path())?;
/// assert_eq!(reserved, 1024);
/// assert!(recovered.records.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PbftStore {
    log: DurableLog<JournalEntry, PbftHardState>,
    snapshots: SnapshotDir,
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    report: RecoveryReport,
}

impl fmt::Debug for PbftStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PbftStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io(operation: &'static str, file: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        operation,
        file: file.to_path_buf(),
        offset: None,
        source,
    }
}

impl PbftStore {
    /// Opens (creating if needed) the storage in `dir` and reads back what
    /// a restarting node recovers from: the replica's durable state and
    /// the last timestamp its gateway reserved (0 if none).
    ///
    /// # Errors
    ///
    /// The storage's error: I/O, or corruption of synced data (named by
    /// file and offset).
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
    ) -> Result<(Self, Recovered, u64), StorageError> {
        let dir = dir.as_ref().to_path_buf();
        fs.create_dir_all(&dir)
            .map_err(|error| io("create_dir_all", &dir, error))?;
        let (log, report) = DurableLog::<JournalEntry, PbftHardState>::open(
            Arc::clone(&fs),
            dir.join("journal"),
            WalOptions::default(),
        )?;
        let snapshots =
            SnapshotDir::open(Arc::clone(&fs), dir.join("checkpoints"), CHECKPOINTS_KEPT)?;
        let recovered = Recovered::read(&log, &snapshots)?;
        let store = PbftStore {
            log,
            snapshots,
            fs,
            dir,
            report,
        };
        let reserved = store.read_reservation()?;
        Ok((store, recovered, reserved))
    }

    /// What opening the journal found and repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    fn read_reservation(&self) -> Result<u64, StorageError> {
        let path = self.dir.join(RESERVATION_FILE);
        let names = self
            .fs
            .list(&self.dir)
            .map_err(|error| io("list", &self.dir, error))?;
        if !names.iter().any(|name| name == RESERVATION_FILE) {
            return Ok(0);
        }
        let file = self
            .fs
            .open(&path)
            .map_err(|error| io("open", &path, error))?;
        let mut bytes = [0u8; RESERVATION_BYTES];
        let mut read = 0;
        while read < RESERVATION_BYTES {
            let n = file
                .read_at(&mut bytes[read..], read as u64)
                .map_err(|error| io("read", &path, error))?;
            if n == 0 {
                break;
            }
            read += n;
        }
        let corrupt = |reason: String| StorageError::Corruption {
            file: path.clone(),
            offset: 0,
            reason,
        };
        if read != RESERVATION_BYTES || file.len().ok() != Some(RESERVATION_BYTES as u64) {
            return Err(corrupt(format!(
                "a timestamp reservation of {RESERVATION_BYTES} bytes expected"
            )));
        }
        let (value, checksum) = bytes.split_at(8);
        let value: [u8; 8] = value.try_into().map_err(|_| corrupt("length".into()))?;
        let checksum: [u8; 4] = checksum.try_into().map_err(|_| corrupt("length".into()))?;
        if crc32c::crc32c(&value) != u32::from_le_bytes(checksum) {
            return Err(corrupt("checksum mismatch".into()));
        }
        Ok(u64::from_le_bytes(value))
    }

    /// Replaces the reservation atomically and durably.
    fn write_reservation(&mut self, through: u64) -> Result<(), StorageError> {
        let temp = self.dir.join(RESERVATION_TEMP);
        let path = self.dir.join(RESERVATION_FILE);
        let mut bytes = Vec::with_capacity(RESERVATION_BYTES);
        bytes.extend_from_slice(&through.to_le_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&through.to_le_bytes()).to_le_bytes());
        let file = self
            .fs
            .create(&temp)
            .map_err(|error| io("create", &temp, error))?;
        let mut written = 0;
        while written < bytes.len() {
            let n = file
                .write_at(&bytes[written..], written as u64)
                .map_err(|error| io("write", &temp, error))?;
            if n == 0 {
                return Err(io(
                    "write",
                    &temp,
                    std::io::Error::from(std::io::ErrorKind::WriteZero),
                ));
            }
            written += n;
        }
        file.sync_data()
            .map_err(|error| io("fdatasync", &temp, error))?;
        drop(file);
        self.fs
            .rename(&temp, &path)
            .map_err(|error| io("rename", &temp, error))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|error| io("fsync", &self.dir, error))
    }
}

impl DurableStore<GatewayWrite> for PbftStore {
    fn write(&mut self, write: GatewayWrite) -> Result<(), StorageError> {
        match write {
            GatewayWrite::Replica(write @ PbftWrite::Checkpoint { .. }) => {
                // A crash must keep a prefix of the writes: the journal
                // writes before this checkpoint become durable first.
                self.log.durable_ticket().wait()?;
                apply_write(&mut self.log, &mut self.snapshots, write)
            }
            GatewayWrite::Replica(write) => apply_write(&mut self.log, &mut self.snapshots, write),
            GatewayWrite::ReserveTimestamps { through } => self.write_reservation(through),
        }
    }

    fn durable_ticket(&mut self) -> DurableTicket {
        self.log.durable_ticket()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_pbft::{Digest, JournalRecord};
    use tessera_storage::{LogWrite, StdFs};

    #[test]
    fn journal_checkpoints_and_reservations_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (mut store, recovered, reserved) =
            PbftStore::open(Arc::new(StdFs), dir.path()).expect("opens");
        assert_eq!((recovered, reserved), (Recovered::default(), 0));
        let record = JournalRecord::Committed {
            view: 0,
            seq: 1,
            digest: Digest::of(b"batch"),
            voters: vec![1, 2, 3],
        };
        let writes = [
            GatewayWrite::Replica(PbftWrite::Journal(LogWrite::Append(vec![JournalEntry {
                index: 1,
                record: record.clone(),
            }]))),
            GatewayWrite::ReserveTimestamps { through: 1024 },
            GatewayWrite::Replica(PbftWrite::Journal(LogWrite::HardState(PbftHardState {
                view: 3,
                view_active: false,
            }))),
            GatewayWrite::Replica(PbftWrite::Checkpoint {
                seq: 64,
                state: Arc::new(b"state".to_vec()),
            }),
            GatewayWrite::ReserveTimestamps { through: 2048 },
        ];
        for write in writes {
            store.write(write).expect("written");
        }
        store.durable_ticket().wait().expect("durable");
        drop(store);
        let (_store, recovered, reserved) =
            PbftStore::open(Arc::new(StdFs), dir.path()).expect("reopens");
        assert_eq!(reserved, 2048);
        assert_eq!(recovered.records, vec![record]);
        assert_eq!(recovered.hard_state.view, 3);
        assert_eq!(recovered.snapshot, Some((64, Arc::new(b"state".to_vec()))));

        // A damaged reservation is an error, not a silent zero.
        std::fs::write(dir.path().join(RESERVATION_FILE), [0u8; 12]).expect("overwrite");
        let error = PbftStore::open(Arc::new(StdFs), dir.path()).expect_err("refused");
        assert!(error.to_string().contains("checksum"), "{error}");
    }
}

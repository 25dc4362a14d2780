//! Multi-Paxos's persistence adapter: [`PaxosWrite`]s onto a `DurableLog`
//! and a `SnapshotDir`, and the disk image a restarting node boots from.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tessera_paxos::Ballot;
use tessera_paxos::multi::{
    Configuration, Overwrite, PaxosDisk, PaxosHardState, PaxosWrite, SlotEntry, SlotValue,
};
use tessera_storage::{
    Codec, CodecReader, DurableLog, DurableTicket, FileSystem, LogEntry, LogPosition, LogStore,
    LogWrite, RecoveryReport, SnapshotDir, SnapshotStore, SnapshotWriter, StorageError, WalOptions,
    encode_prefixed,
};

use crate::{DurableStore, SNAPSHOTS_KEPT};

/// The most entries a stored log rewrite (an intent record in the hard
/// state) may hold when read back: a rewrite never exceeds one `Accept`
/// or one catch-up, both far smaller.
const OVERWRITE_ENTRIES_MAX: u32 = 1 << 20;

/// A Multi-Paxos slot as the durable log stores it (its [`Codec`]
/// encoding; the log's index is the slot, its term the ballot's epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredSlot<C>(SlotEntry<C>);

/// A Multi-Paxos hard state as the durable log stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredHardState<C>(PaxosHardState<C>);

const VALUE_VACANT: u8 = 0;
const VALUE_NO_OP: u8 = 1;
const VALUE_BATCH: u8 = 2;
const VALUE_STOP_SIGN: u8 = 3;

fn encode_ballot(out: &mut Vec<u8>, ballot: Ballot) {
    out.extend_from_slice(&ballot.round.to_le_bytes());
    out.extend_from_slice(&ballot.node.to_le_bytes());
}

fn decode_ballot(reader: &mut CodecReader<'_>) -> Result<Ballot, String> {
    Ok(Ballot::new(reader.u64()?, reader.u64()?))
}

fn encode_codec<T: Codec>(out: &mut Vec<u8>, value: &T) {
    let mut bytes = Vec::new();
    value.encode(&mut bytes);
    encode_prefixed(out, &bytes);
}

fn encode_entry<C: Codec>(out: &mut Vec<u8>, entry: &SlotEntry<C>) {
    out.extend_from_slice(&entry.slot.to_le_bytes());
    encode_ballot(out, entry.ballot);
    match &entry.value {
        SlotValue::Vacant => out.push(VALUE_VACANT),
        SlotValue::NoOp => out.push(VALUE_NO_OP),
        SlotValue::Batch(commands) => {
            out.push(VALUE_BATCH);
            out.extend_from_slice(&(commands.len() as u32).to_le_bytes());
            for command in commands {
                encode_codec(out, command);
            }
        }
        SlotValue::StopSign(configuration) => {
            out.push(VALUE_STOP_SIGN);
            encode_codec(out, configuration);
        }
    }
}

fn decode_entry<C: Codec>(reader: &mut CodecReader<'_>) -> Result<SlotEntry<C>, String> {
    let slot = reader.u64()?;
    let ballot = decode_ballot(reader)?;
    let value = match reader.u8()? {
        VALUE_VACANT => SlotValue::Vacant,
        VALUE_NO_OP => SlotValue::NoOp,
        VALUE_BATCH => {
            let count = reader.u32()?;
            // Grown as commands decode, not sized by the count: a corrupt
            // count fails at the first missing command, allocating nothing.
            let mut commands = Vec::new();
            for _ in 0..count {
                commands.push(C::decode(reader.prefixed_bytes()?)?);
            }
            SlotValue::Batch(commands)
        }
        VALUE_STOP_SIGN => SlotValue::StopSign(Configuration::decode(reader.prefixed_bytes()?)?),
        tag => return Err(format!("unknown slot value kind {tag}")),
    };
    Ok(SlotEntry {
        slot,
        ballot,
        value,
    })
}

impl<C: Codec + Clone> LogEntry for StoredSlot<C> {
    fn index(&self) -> u64 {
        self.0.slot
    }

    fn term(&self) -> u64 {
        self.0.ballot.epoch()
    }
}

impl<C: Codec> Codec for StoredSlot<C> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_entry(out, &self.0);
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let entry = decode_entry(&mut reader)?;
        reader.finish()?;
        Ok(StoredSlot(entry))
    }
}

impl<C: Codec> Codec for StoredHardState<C> {
    fn encode(&self, out: &mut Vec<u8>) {
        let state = &self.0;
        encode_ballot(out, state.promised);
        out.extend_from_slice(&state.committed.to_le_bytes());
        match &state.configuration {
            None => out.push(0),
            Some(configuration) => {
                out.push(1);
                encode_codec(out, configuration);
            }
        }
        match &state.overwrite {
            None => out.push(0),
            Some(overwrite) => {
                out.push(1);
                out.extend_from_slice(&overwrite.from.to_le_bytes());
                out.extend_from_slice(&(overwrite.entries.len() as u32).to_le_bytes());
                for entry in &overwrite.entries {
                    encode_entry(out, entry);
                }
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let promised = decode_ballot(&mut reader)?;
        let committed = reader.u64()?;
        let configuration = match reader.u8()? {
            0 => None,
            1 => Some(Configuration::decode(reader.prefixed_bytes()?)?),
            tag => return Err(format!("bad configuration tag {tag}")),
        };
        let overwrite = match reader.u8()? {
            0 => None,
            1 => {
                let from = reader.u64()?;
                let count = reader.u32()?;
                if count > OVERWRITE_ENTRIES_MAX {
                    return Err(format!(
                        "a rewrite of {count} entries, at most {OVERWRITE_ENTRIES_MAX}"
                    ));
                }
                let mut entries = Vec::new();
                for _ in 0..count {
                    entries.push(decode_entry(&mut reader)?);
                }
                Some(Overwrite { from, entries })
            }
            tag => return Err(format!("bad rewrite tag {tag}")),
        };
        reader.finish()?;
        Ok(StoredHardState(PaxosHardState {
            promised,
            committed,
            configuration,
            overwrite,
        }))
    }
}

fn stored_write<C>(
    write: LogWrite<SlotEntry<C>, PaxosHardState<C>>,
) -> LogWrite<StoredSlot<C>, StoredHardState<C>> {
    match write {
        LogWrite::Append(entries) => {
            LogWrite::Append(entries.into_iter().map(StoredSlot).collect())
        }
        LogWrite::TruncateFrom(index) => LogWrite::TruncateFrom(index),
        LogWrite::PurgeTo(upto) => LogWrite::PurgeTo(upto),
        LogWrite::HardState(state) => LogWrite::HardState(StoredHardState(state)),
    }
}

/// A Multi-Paxos node's stable storage: its acceptor log (one entry per
/// slot, vacant placeholders included) and hard state (promise, commit
/// index, configuration, a log rewrite in progress) in a [`DurableLog`]
/// under `<dir>/log`, its snapshots in a [`SnapshotDir`] under
/// `<dir>/snapshots`.
///
/// Writes keep their order across the two: before a snapshot is stored,
/// every earlier log write is made durable, and the node purges the log
/// only after the snapshot (a later write), so whatever prefix of the
/// writes a crash keeps is one the node boots from.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tessera_net::{DurableStore, MapCommand, PaxosStore};
/// use tessera_paxos::Ballot;
/// use tessera_paxos::multi::{PaxosWrite, SlotEntry, SlotValue};
/// use tessera_storage::{LogStore, LogWrite, StdFs};
///
/// let dir = tempfile::tempdir()?;
/// let put = MapCommand::Put { key: b"k".to_vec(), value: b"v".to_vec() };
/// let slot = SlotEntry { slot: 1, ballot: Ballot::new(1, 2), value: SlotValue::Batch(vec![put]) };
/// let (mut store, disk) = PaxosStore::<MapCommand>::open(Arc::new(StdFs), dir.path())?;
/// assert!(disk.log.is_empty());
/// store.write(PaxosWrite::Log(LogWrite::Append(vec![slot.clone()])))?;
/// store.durable_ticket().wait()?;
/// drop(store);
///
/// let (_store, disk) = PaxosStore::<MapCommand>::open(Arc::new(StdFs), dir.path())?;
/// assert_eq!(disk.log.get(1), Some(&slot));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PaxosStore<C> {
    log: DurableLog<StoredSlot<C>, StoredHardState<C>>,
    snapshots: SnapshotDir,
    report: RecoveryReport,
}

impl<C> fmt::Debug for PaxosStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaxosStore")
            .field("snapshots", &self.snapshots.dir())
            .finish_non_exhaustive()
    }
}

impl<C: Codec + Clone> PaxosStore<C> {
    /// Opens (creating if needed) the storage in `dir` and reads back what
    /// a restarting node boots from, as the in-memory image
    /// [`MultiPaxos::boot`](tessera_paxos::multi::MultiPaxos::boot) takes
    /// (empty on a first start).
    ///
    /// # Errors
    ///
    /// The storage's error: I/O, or corruption of synced data (named by
    /// file and offset).
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
    ) -> Result<(Self, PaxosDisk<C>), StorageError> {
        let dir = dir.as_ref();
        let (log, report) = DurableLog::<StoredSlot<C>, StoredHardState<C>>::open(
            Arc::clone(&fs),
            dir.join("log"),
            WalOptions::default(),
        )?;
        let snapshots = SnapshotDir::open(fs, dir.join("snapshots"), SNAPSHOTS_KEPT)?;
        let mut disk = PaxosDisk::without_audit();
        let base = log.base();
        if base != LogPosition::ZERO {
            disk.log.purge_to(base)?;
        }
        if log.last_index() > base.index {
            let entries = log.entries(base.index + 1..log.last_index() + 1)?;
            disk.log
                .append(entries.into_iter().map(|stored| stored.0).collect())?;
        }
        if let Some(state) = log.hard_state() {
            disk.log.save_hard_state(state.0.clone())?;
        }
        if let Some(meta) = snapshots.latest() {
            let size = usize::try_from(meta.size_bytes).map_err(|_| StorageError::Corruption {
                file: snapshots.dir().to_path_buf(),
                offset: 0,
                reason: format!(
                    "a snapshot of {} bytes does not fit in memory",
                    meta.size_bytes
                ),
            })?;
            let data = snapshots.read_chunk(meta.last, 0, size)?;
            let mut writer = disk.snapshots.create(meta.last, meta.configuration)?;
            writer.write_chunk(&data)?;
            disk.snapshots.commit(writer)?;
        }
        Ok((
            PaxosStore {
                log,
                snapshots,
                report,
            },
            disk,
        ))
    }

    /// What opening the log found and repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }
}

impl<C: Codec + Clone + Send + 'static> DurableStore<PaxosWrite<C>> for PaxosStore<C> {
    fn write(&mut self, write: PaxosWrite<C>) -> Result<(), StorageError> {
        match write {
            PaxosWrite::Log(write) => self.log.apply(stored_write(write)),
            PaxosWrite::Snapshot {
                last,
                configuration,
                data,
            } => {
                // A crash must keep a prefix of the writes: the log writes
                // before this snapshot become durable first. Committing the
                // snapshot syncs it.
                self.log.durable_ticket().wait()?;
                let mut writer = self.snapshots.create(last, configuration)?;
                writer.write_chunk(&data)?;
                self.snapshots.commit(writer).map(|_| ())
            }
        }
    }

    fn durable_ticket(&mut self) -> DurableTicket {
        self.log.durable_ticket()
    }
}

impl<C: Clone + Send + 'static> DurableStore<PaxosWrite<C>> for PaxosDisk<C> {
    /// The in-memory disk: durable as soon as written (the simulator's
    /// model of a disk; nothing survives the process).
    fn write(&mut self, write: PaxosWrite<C>) -> Result<(), StorageError> {
        match write {
            PaxosWrite::Log(write) => LogStore::apply(&mut self.log, write),
            PaxosWrite::Snapshot {
                last,
                configuration,
                data,
            } => {
                let mut writer = self.snapshots.create(last, configuration)?;
                writer.write_chunk(&data)?;
                self.snapshots.commit(writer).map(|_| ())
            }
        }
    }

    fn durable_ticket(&mut self) -> DurableTicket {
        DurableTicket::ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapCommand;

    fn entries() -> Vec<SlotEntry<MapCommand>> {
        vec![
            SlotEntry::vacant(1),
            SlotEntry {
                slot: 2,
                ballot: Ballot::new(3, 1),
                value: SlotValue::NoOp,
            },
            SlotEntry {
                slot: 3,
                ballot: Ballot::new(3, 1),
                value: SlotValue::Batch(vec![
                    MapCommand::Put {
                        key: b"a".to_vec(),
                        value: b"1".to_vec(),
                    },
                    MapCommand::Delete { key: b"b".to_vec() },
                ]),
            },
            SlotEntry {
                slot: 4,
                ballot: Ballot::new(4, 2),
                value: SlotValue::StopSign(Configuration {
                    epoch: 1,
                    start_slot: 5,
                    quorums: tessera_paxos::multi::QuorumSpec::Majority(vec![1, 2, 3, 4]),
                }),
            },
        ]
    }

    #[test]
    fn slots_and_hard_states_round_trip_and_garbage_is_an_error() {
        for entry in entries() {
            let mut bytes = Vec::new();
            StoredSlot(entry.clone()).encode(&mut bytes);
            assert_eq!(
                StoredSlot::<MapCommand>::decode(&bytes),
                Ok(StoredSlot(entry))
            );
            for cut in 0..bytes.len() {
                assert!(StoredSlot::<MapCommand>::decode(&bytes[..cut]).is_err());
            }
        }
        let state = PaxosHardState {
            promised: Ballot::new(7, 3),
            committed: 41,
            configuration: Some(Configuration::initial(
                tessera_paxos::multi::QuorumSpec::Majority(vec![1, 2, 3]),
            )),
            overwrite: Some(Overwrite {
                from: 2,
                entries: entries()[1..].to_vec(),
            }),
        };
        let mut bytes = Vec::new();
        StoredHardState(state.clone()).encode(&mut bytes);
        assert_eq!(
            StoredHardState::<MapCommand>::decode(&bytes),
            Ok(StoredHardState(state))
        );
        for cut in 0..bytes.len() {
            assert!(StoredHardState::<MapCommand>::decode(&bytes[..cut]).is_err());
        }
        assert!(StoredSlot::<MapCommand>::decode(&[0xff; 40]).is_err());
        assert!(StoredHardState::<MapCommand>::decode(&[0xff; 40]).is_err());
    }

    #[test]
    fn a_reopened_store_holds_the_log_hard_state_and_snapshot_it_was_given() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let fs: Arc<dyn FileSystem> = Arc::new(tessera_storage::StdFs);
        let (mut store, disk) =
            PaxosStore::<MapCommand>::open(Arc::clone(&fs), dir.path()).expect("open");
        assert!(disk.log.is_empty() && disk.log.hard_state().is_none());
        let state = PaxosHardState {
            promised: Ballot::new(3, 1),
            committed: 3,
            configuration: None,
            overwrite: None,
        };
        let writes = [
            PaxosWrite::Log(LogWrite::Append(entries())),
            PaxosWrite::Log(LogWrite::HardState(state.clone())),
            PaxosWrite::Snapshot {
                last: LogPosition::new(2, Ballot::new(3, 1).epoch()),
                configuration: b"config".to_vec(),
                data: Arc::new(b"machine".to_vec()),
            },
            PaxosWrite::Log(LogWrite::PurgeTo(LogPosition::new(
                2,
                Ballot::new(3, 1).epoch(),
            ))),
            // Terms need not grow along the log: a placeholder (term 0),
            // then a slot accepted in a lower ballot than the one before.
            PaxosWrite::Log(LogWrite::Append(vec![
                SlotEntry::vacant(5),
                SlotEntry {
                    slot: 6,
                    ballot: Ballot::new(2, 3),
                    value: SlotValue::NoOp,
                },
                SlotEntry {
                    slot: 7,
                    ballot: Ballot::new(1, 2),
                    value: SlotValue::NoOp,
                },
            ])),
            PaxosWrite::Log(LogWrite::TruncateFrom(7)),
        ];
        let mut expected = PaxosDisk::without_audit();
        for write in writes {
            expected.write(write.clone()).expect("in memory");
            store.write(write).expect("on disk");
        }
        store.durable_ticket().wait().expect("durable");
        drop(store);
        let (_store, disk) = PaxosStore::<MapCommand>::open(fs, dir.path()).expect("reopen");
        assert_eq!(disk.log.base(), expected.log.base());
        assert_eq!(
            disk.log.iter().collect::<Vec<_>>(),
            expected.log.iter().collect::<Vec<_>>()
        );
        assert_eq!(disk.log.get(3), Some(&entries()[2]));
        assert_eq!(disk.log.last_index(), 6);
        assert_eq!(disk.log.term_at(6).ok(), Some(Ballot::new(2, 3).epoch()));
        assert_eq!(disk.log.hard_state(), Some(&state));
        let (meta, data) = disk.latest_snapshot().expect("the snapshot");
        assert_eq!(meta.configuration, b"config");
        assert_eq!(*data, b"machine".to_vec());
    }
}

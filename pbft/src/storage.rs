//! What a replica keeps on stable storage, through tessera-storage.
//!
//! A replica persists, before it sends anything that depends on it:
//!
//! - every batch it accepts in a pre-prepare (before its prepare, or the
//!   primary's pre-prepare), every batch it prepared (before its commit),
//!   every batch committed, every stable checkpoint proof — as
//!   [`JournalRecord`]s appended to a [`LogStore`] (an append-only journal:
//!   the log index is the record's position, not a sequence number);
//! - its view, and whether it is changing view — as the log's hard state
//!   ([`PbftHardState`]), before a view-change message goes out;
//! - each checkpoint's state — in a [`SnapshotStore`], before its
//!   checkpoint message goes out.
//!
//! When a checkpoint becomes stable the journal is compacted: everything is
//! purged and the records still needed (the proof, and what concerns
//! sequence numbers above the checkpoint) are appended again.
//!
//! [`PbftDisk`] is the in-memory image the simulator keeps (a
//! [`MemLog`] and [`MemSnapshots`]); a real driver applies the same
//! [`PbftWrite`]s to a `DurableLog` and a `SnapshotDir` with
//! [`apply_write`], and reads them back with [`Recovered::read`].

use std::sync::Arc;

use tessera_core::DurableState;
use tessera_storage::{
    Codec, LogEntry, LogPosition, LogStore, LogWrite, MemLog, MemSnapshots, SnapshotStore,
    SnapshotWriter, StorageError,
};

use tessera_core::NodeId;

use crate::message::{
    Limits, decode_batch, decode_envelope, decode_proof, encode_batch, encode_envelope,
    encode_proof,
};
use crate::wire::{Reader, Sink, malformed};
use crate::{Batch, CheckpointProof, Digest, Envelope, PbftError};

/// One durable fact about a sequence number or checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalRecord {
    /// A pre-prepare accepted (or, at the primary, sent) for `digest` at
    /// `seq` in `view`; the batch if known (a new view may assign a digest
    /// whose batch is fetched later).
    Accepted {
        /// The view.
        view: u64,
        /// The sequence number.
        seq: u64,
        /// The batch digest.
        digest: Digest,
        /// The batch, if known.
        batch: Option<Arc<Batch>>,
    },
    /// The batch for `seq`, fetched after its digest was accepted.
    BatchKnown {
        /// The sequence number.
        seq: u64,
        /// The batch.
        batch: Arc<Batch>,
    },
    /// `digest` prepared at `seq` in `view`.
    Prepared {
        /// The view.
        view: u64,
        /// The sequence number.
        seq: u64,
        /// The batch digest.
        digest: Digest,
    },
    /// `digest` committed at `seq`: the commits of `voters` in `view`.
    Committed {
        /// The view of the commits.
        view: u64,
        /// The sequence number.
        seq: u64,
        /// The batch digest.
        digest: Digest,
        /// The replicas whose commits formed the quorum.
        voters: Vec<NodeId>,
    },
    /// A stable checkpoint's proof.
    Stable(CheckpointProof),
    /// The new-view message that started the current view, to relay to
    /// replicas that missed it.
    NewView(Envelope),
}

/// A journal record at its position in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The position, from 1.
    pub index: u64,
    /// The record.
    pub record: JournalRecord,
}

impl LogEntry for JournalEntry {
    fn index(&self) -> u64 {
        self.index
    }

    /// Journal positions have no term: the journal is never truncated.
    fn term(&self) -> u64 {
        0
    }
}

impl Codec for JournalEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.index);
        match &self.record {
            JournalRecord::Accepted {
                view,
                seq,
                digest,
                batch,
            } => {
                out.put_u8(1);
                out.put_u64(*view);
                out.put_u64(*seq);
                out.put_digest(digest);
                match batch {
                    None => out.put_u8(0),
                    Some(batch) => {
                        out.put_u8(1);
                        encode_batch(out, batch);
                    }
                }
            }
            JournalRecord::BatchKnown { seq, batch } => {
                out.put_u8(2);
                out.put_u64(*seq);
                encode_batch(out, batch);
            }
            JournalRecord::Prepared { view, seq, digest } => {
                out.put_u8(3);
                out.put_u64(*view);
                out.put_u64(*seq);
                out.put_digest(digest);
            }
            JournalRecord::Committed {
                view,
                seq,
                digest,
                voters,
            } => {
                out.put_u8(4);
                out.put_u64(*view);
                out.put_u64(*seq);
                out.put_digest(digest);
                out.put_len(voters.len());
                for voter in voters {
                    out.put_u64(*voter);
                }
            }
            JournalRecord::Stable(proof) => {
                out.put_u8(5);
                encode_proof(out, proof);
            }
            JournalRecord::NewView(envelope) => {
                out.put_u8(6);
                encode_envelope(out, envelope);
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let decode = || -> Result<JournalEntry, PbftError> {
            let mut reader = Reader::new(bytes);
            let index = reader.u64()?;
            let limits = Limits::UNBOUNDED;
            let record = match reader.u8()? {
                1 => JournalRecord::Accepted {
                    view: reader.u64()?,
                    seq: reader.u64()?,
                    digest: reader.digest()?,
                    batch: match reader.u8()? {
                        0 => None,
                        1 => Some(Arc::new(decode_batch(&mut reader, &limits)?)),
                        other => return Err(malformed(format!("batch tag {other}"))),
                    },
                },
                2 => JournalRecord::BatchKnown {
                    seq: reader.u64()?,
                    batch: Arc::new(decode_batch(&mut reader, &limits)?),
                },
                3 => JournalRecord::Prepared {
                    view: reader.u64()?,
                    seq: reader.u64()?,
                    digest: reader.digest()?,
                },
                4 => {
                    let view = reader.u64()?;
                    let seq = reader.u64()?;
                    let digest = reader.digest()?;
                    let count = reader.count("voters", 8, usize::MAX)?;
                    let mut voters = Vec::with_capacity(count);
                    for _ in 0..count {
                        voters.push(reader.u64()?);
                    }
                    JournalRecord::Committed {
                        view,
                        seq,
                        digest,
                        voters,
                    }
                }
                5 => JournalRecord::Stable(decode_proof(&mut reader, &limits)?),
                6 => JournalRecord::NewView(decode_envelope(&mut reader, &limits, Some(8))?),
                other => return Err(malformed(format!("journal record tag {other}"))),
            };
            reader.finish()?;
            Ok(JournalEntry { index, record })
        };
        decode().map_err(|error| error.to_string())
    }
}

/// A replica's view, kept as the journal's hard state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PbftHardState {
    /// The view.
    pub view: u64,
    /// Whether the view is active: `false` once the replica asked to leave
    /// it for the next and until a new view arrives.
    pub view_active: bool,
}

impl Default for PbftHardState {
    /// View 0, active: where every replica starts.
    fn default() -> Self {
        PbftHardState {
            view: 0,
            view_active: true,
        }
    }
}

impl Codec for PbftHardState {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.view);
        out.put_u8(u8::from(self.view_active));
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = Reader::new(bytes);
        let decode = |reader: &mut Reader<'_>| -> Result<PbftHardState, PbftError> {
            let view = reader.u64()?;
            let view_active = match reader.u8()? {
                0 => false,
                1 => true,
                other => return Err(malformed(format!("{other} is not a boolean"))),
            };
            reader.finish()?;
            Ok(PbftHardState { view, view_active })
        };
        decode(&mut reader).map_err(|error| error.to_string())
    }
}

/// One write a replica asks its driver to make durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PbftWrite {
    /// A change to the journal or its hard state.
    Journal(LogWrite<JournalEntry, PbftHardState>),
    /// A checkpoint's state, to keep in the snapshot store.
    Checkpoint {
        /// The checkpoint's sequence number.
        seq: u64,
        /// The encoded state.
        state: Arc<Vec<u8>>,
    },
}

/// Checkpoints kept in a snapshot store: the stable one and a newer one.
pub const CHECKPOINTS_KEPT: usize = 2;

/// Performs `write` on a journal and a snapshot store.
///
/// # Errors
///
/// The store's error; the driver then stops the replica.
pub fn apply_write<L, S>(
    log: &mut L,
    snapshots: &mut S,
    write: PbftWrite,
) -> Result<(), StorageError>
where
    L: LogStore<Entry = JournalEntry, HardState = PbftHardState>,
    S: SnapshotStore,
{
    match write {
        PbftWrite::Journal(write) => log.apply(write),
        PbftWrite::Checkpoint { seq, state } => {
            let mut writer = snapshots.create(LogPosition::new(seq, 0), Vec::new())?;
            writer.write_chunk(&state)?;
            snapshots.commit(writer).map(|_| ())
        }
    }
}

/// A replica's durable state in memory: the simulator's disk image, and
/// the store of in-process runs and benchmarks.
#[derive(Debug)]
pub struct PbftDisk {
    log: MemLog<JournalEntry, PbftHardState>,
    snapshots: MemSnapshots,
}

impl Default for PbftDisk {
    fn default() -> Self {
        PbftDisk {
            log: MemLog::new(),
            snapshots: MemSnapshots::new(CHECKPOINTS_KEPT)
                .expect("keeping two snapshots is a valid setting"),
        }
    }
}

impl PbftDisk {
    /// The journal.
    pub fn log(&self) -> &MemLog<JournalEntry, PbftHardState> {
        &self.log
    }

    /// The checkpoint snapshots.
    pub fn snapshots(&self) -> &MemSnapshots {
        &self.snapshots
    }

    /// What a replica restarting from this disk finds.
    pub fn recovered(&self) -> Recovered {
        let snapshot = self.snapshots.latest().and_then(|meta| {
            self.snapshots
                .data(meta.last)
                .map(|data| (meta.last.index, data))
        });
        Recovered {
            hard_state: self.log.hard_state().copied().unwrap_or_default(),
            records: self.log.iter().map(|entry| entry.record.clone()).collect(),
            journal_last: self.log.last_index(),
            snapshot,
        }
    }
}

impl DurableState<PbftWrite> for PbftDisk {
    /// # Panics
    ///
    /// If the write does not fit (a gap in the journal): the replica that
    /// emitted it has a bug.
    fn apply(&mut self, write: PbftWrite) {
        if let Err(error) = apply_write(&mut self.log, &mut self.snapshots, write) {
            panic!("a replica persisted a write its disk cannot take: {error}");
        }
    }
}

/// What a replica restarts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The view.
    pub hard_state: PbftHardState,
    /// The journal, oldest first.
    pub records: Vec<JournalRecord>,
    /// The journal's last position.
    pub journal_last: u64,
    /// The newest checkpoint's sequence number and state.
    pub snapshot: Option<(u64, Arc<Vec<u8>>)>,
}

impl Recovered {
    /// Reads a replica's durable state from any journal and snapshot store.
    ///
    /// # Errors
    ///
    /// The stores' read errors.
    pub fn read<L, S>(log: &L, snapshots: &S) -> Result<Recovered, StorageError>
    where
        L: LogStore<Entry = JournalEntry, HardState = PbftHardState>,
        S: SnapshotStore,
    {
        let records = log
            .entries(log.first_index()..log.last_index() + 1)?
            .into_iter()
            .map(|entry| entry.record)
            .collect();
        let snapshot = match snapshots.latest() {
            None => None,
            Some(meta) => {
                let mut state = Vec::with_capacity(meta.size_bytes as usize);
                while (state.len() as u64) < meta.size_bytes {
                    let chunk = snapshots.read_chunk(meta.last, state.len() as u64, 1 << 20)?;
                    if chunk.is_empty() {
                        break;
                    }
                    state.extend_from_slice(&chunk);
                }
                Some((meta.last.index, Arc::new(state)))
            }
        };
        Ok(Recovered {
            hard_state: log.hard_state().copied().unwrap_or_default(),
            records,
            journal_last: log.last_index(),
            snapshot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Authenticator, ClientRequest, Payload};

    #[test]
    fn journal_records_round_trip_through_the_codec() {
        let batch = Arc::new(Batch::new(vec![ClientRequest {
            client: 100,
            timestamp: 3,
            operation: b"op".to_vec(),
            authenticator: Authenticator::MacVector(vec![[1; 16], [2; 16]]),
        }]));
        let proof = CheckpointProof {
            seq: 8,
            digest: Digest::of(b"s"),
            messages: vec![Envelope {
                sender: 1,
                payload: Payload::Checkpoint(crate::Checkpoint {
                    seq: 8,
                    digest: Digest::of(b"s"),
                }),
                authenticator: Authenticator::Signature(Box::new([5; 64])),
            }],
        };
        let records = [
            JournalRecord::Accepted {
                view: 1,
                seq: 2,
                digest: batch.digest(),
                batch: Some(batch.clone()),
            },
            JournalRecord::Accepted {
                view: 1,
                seq: 3,
                digest: Digest::of(b"d"),
                batch: None,
            },
            JournalRecord::BatchKnown { seq: 3, batch },
            JournalRecord::Prepared {
                view: 1,
                seq: 2,
                digest: Digest::of(b"d"),
            },
            JournalRecord::Committed {
                view: 1,
                seq: 2,
                digest: Digest::of(b"d"),
                voters: vec![1, 2, 3],
            },
            JournalRecord::Stable(proof),
        ];
        for (index, record) in records.into_iter().enumerate() {
            let entry = JournalEntry {
                index: index as u64 + 1,
                record,
            };
            let mut bytes = Vec::new();
            entry.encode(&mut bytes);
            assert_eq!(JournalEntry::decode(&bytes), Ok(entry));
            assert!(JournalEntry::decode(&bytes[..bytes.len() - 1]).is_err());
        }
        let state = PbftHardState {
            view: 7,
            view_active: false,
        };
        let mut bytes = Vec::new();
        state.encode(&mut bytes);
        assert_eq!(PbftHardState::decode(&bytes), Ok(state));
    }

    #[test]
    fn the_disk_image_reads_back_what_was_written() {
        let mut disk = PbftDisk::default();
        DurableState::apply(
            &mut disk,
            PbftWrite::Journal(LogWrite::Append(vec![JournalEntry {
                index: 1,
                record: JournalRecord::Committed {
                    view: 0,
                    seq: 1,
                    digest: Digest::of(b"d"),
                    voters: vec![1, 2, 3],
                },
            }])),
        );
        DurableState::apply(
            &mut disk,
            PbftWrite::Journal(LogWrite::HardState(PbftHardState {
                view: 2,
                view_active: true,
            })),
        );
        DurableState::apply(
            &mut disk,
            PbftWrite::Checkpoint {
                seq: 4,
                state: Arc::new(b"state".to_vec()),
            },
        );
        let recovered = disk.recovered();
        assert_eq!(recovered.hard_state.view, 2);
        assert_eq!(recovered.records.len(), 1);
        assert_eq!(recovered.snapshot, Some((4, Arc::new(b"state".to_vec()))));
        assert_eq!(
            Recovered::read(disk.log(), disk.snapshots()).unwrap(),
            recovered
        );
    }
}

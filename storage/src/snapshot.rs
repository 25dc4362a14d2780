//! Snapshots: written in chunks, committed atomically, read back in chunks
//! to stream to a follower, the newest few kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant};

use crate::error::invalid;
use crate::fs::{FileSystem, FsFile, read_exact_at, write_all_at};
use crate::log_store::encode_prefixed;
use crate::segment::{FORMAT_VERSION, TEMP_SUFFIX, u32_at};
use crate::{CodecReader, LogPosition, StorageError};

/// What a snapshot covers and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SnapshotMeta {
    /// The last log position the snapshot includes.
    pub last: LogPosition,
    /// The membership configuration at `last`, encoded by the consensus
    /// crate.
    pub configuration: Vec<u8>,
    /// The snapshot's size in bytes.
    pub size_bytes: u64,
    /// crc32c of the whole snapshot, for a receiver to check what it was
    /// streamed.
    pub checksum: u32,
}

/// A snapshot's metadata is evidence of what state it includes: everything
/// up to its last position, in that position's term.
impl Evidence for SnapshotMeta {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::SnapshotMeta
    }

    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Instance {
            epoch: self.last.term,
            index: self.last.index,
        }
    }

    fn issued_at(&self) -> Option<Instant> {
        None
    }

    fn expires_at(&self) -> Option<Instant> {
        None
    }

    fn validate(&self) -> Result<(), EvidenceError> {
        if self.last.index == 0 && self.last.term != 0 {
            return Err(EvidenceError::Inconsistent(
                "a snapshot of an empty log has a term".to_string(),
            ));
        }
        Ok(())
    }
}

/// Receives a snapshot chunk by chunk. Dropping it without committing
/// abandons the snapshot.
pub trait SnapshotWriter {
    /// Appends the next chunk.
    ///
    /// # Errors
    ///
    /// A write error.
    fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), StorageError>;

    /// Bytes written so far.
    fn written_bytes(&self) -> u64;
}

/// Where snapshots are kept.
///
/// A snapshot is created, written in chunks of any size (so a snapshot of
/// hundreds of megabytes never sits in memory at once), then committed: from
/// then on it survives crashes and is the latest if it covers the most of
/// the log. The store keeps the newest few and removes older ones. Chunks
/// are read back by offset, to stream to a follower.
///
/// [`SnapshotDir`] keeps them in files; [`MemSnapshots`] in memory, for the
/// simulator. Both pass the same tests (`tests/snapshots.rs`).
pub trait SnapshotStore {
    /// The writer [`create`](Self::create) returns.
    type Writer: SnapshotWriter;

    /// Starts a snapshot of the log up to `last`.
    ///
    /// # Errors
    ///
    /// A write error.
    fn create(
        &mut self,
        last: LogPosition,
        configuration: Vec<u8>,
    ) -> Result<Self::Writer, StorageError>;

    /// Makes the written snapshot durable and visible, atomically, then
    /// removes the snapshots beyond the newest ones kept.
    ///
    /// # Errors
    ///
    /// A write or sync error: the snapshot is then not committed.
    fn commit(&mut self, writer: Self::Writer) -> Result<SnapshotMeta, StorageError>;

    /// The committed snapshots, oldest (lowest last index) first.
    fn list(&self) -> Vec<SnapshotMeta>;

    /// The newest committed snapshot.
    fn latest(&self) -> Option<SnapshotMeta> {
        self.list().pop()
    }

    /// Up to `len` bytes of the snapshot at `last`, from `offset`; fewer at
    /// the end, none past it.
    ///
    /// # Errors
    ///
    /// [`StorageError::NoSuchSnapshot`], [`StorageError::Corruption`] if the
    /// bytes read back do not verify, or a read error.
    fn read_chunk(
        &self,
        last: LogPosition,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, StorageError>;
}

fn no_such(last: LogPosition) -> StorageError {
    StorageError::NoSuchSnapshot {
        index: last.index,
        term: last.term,
    }
}

fn check_keep(keep: usize) -> Result<(), StorageError> {
    if keep == 0 {
        return Err(invalid("keep", "at least one snapshot must be kept"));
    }
    Ok(())
}

/// Snapshots in memory: the simulator's snapshot store.
///
/// # Examples
///
/// ```
/// use tessera_storage::{LogPosition, MemSnapshots, SnapshotStore, SnapshotWriter};
///
/// let mut store = MemSnapshots::new(2)?;
/// let mut writer = store.create(LogPosition::new(10, 2), vec![])?;
/// writer.write_chunk(b"state ")?;
/// writer.write_chunk(b"machine")?;
/// let meta = store.commit(writer)?;
/// assert_eq!(meta.size_bytes, 13);
/// assert_eq!(store.read_chunk(meta.last, 6, 100)?, b"machine");
/// # Ok::<(), tessera_storage::StorageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemSnapshots {
    keep: usize,
    snapshots: BTreeMap<LogPosition, (SnapshotMeta, Arc<Vec<u8>>)>,
}

impl Default for MemSnapshots {
    /// A store keeping the newest two snapshots.
    fn default() -> Self {
        MemSnapshots {
            keep: 2,
            snapshots: BTreeMap::new(),
        }
    }
}

impl MemSnapshots {
    /// A store keeping the newest `keep` snapshots.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidParameter`] if `keep` is 0.
    pub fn new(keep: usize) -> Result<Self, StorageError> {
        check_keep(keep)?;
        Ok(MemSnapshots {
            keep,
            snapshots: BTreeMap::new(),
        })
    }

    /// The whole snapshot at `last`.
    pub fn data(&self, last: LogPosition) -> Option<Arc<Vec<u8>>> {
        self.snapshots.get(&last).map(|(_, data)| Arc::clone(data))
    }
}

/// The writer of a [`MemSnapshots`].
#[derive(Debug)]
pub struct MemSnapshotWriter {
    last: LogPosition,
    configuration: Vec<u8>,
    data: Vec<u8>,
}

impl SnapshotWriter for MemSnapshotWriter {
    fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), StorageError> {
        self.data.extend_from_slice(chunk);
        Ok(())
    }

    fn written_bytes(&self) -> u64 {
        self.data.len() as u64
    }
}

impl SnapshotStore for MemSnapshots {
    type Writer = MemSnapshotWriter;

    fn create(
        &mut self,
        last: LogPosition,
        configuration: Vec<u8>,
    ) -> Result<MemSnapshotWriter, StorageError> {
        Ok(MemSnapshotWriter {
            last,
            configuration,
            data: Vec::new(),
        })
    }

    fn commit(&mut self, writer: MemSnapshotWriter) -> Result<SnapshotMeta, StorageError> {
        let meta = SnapshotMeta {
            last: writer.last,
            configuration: writer.configuration,
            size_bytes: writer.data.len() as u64,
            checksum: crc32c::crc32c(&writer.data),
        };
        self.snapshots
            .insert(meta.last, (meta.clone(), Arc::new(writer.data)));
        while self.snapshots.len() > self.keep {
            self.snapshots.pop_first();
        }
        Ok(meta)
    }

    fn list(&self) -> Vec<SnapshotMeta> {
        self.snapshots
            .values()
            .map(|(meta, _)| meta.clone())
            .collect()
    }

    fn read_chunk(
        &self,
        last: LogPosition,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, StorageError> {
        let (_, data) = self.snapshots.get(&last).ok_or_else(|| no_such(last))?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(len).min(data.len());
        Ok(data[start..end].to_vec())
    }
}

/// The magic number of a snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"TESSSNAP";
const SNAPSHOT_END_MAGIC: [u8; 8] = *b"SNAPEND\x1a";
const SNAPSHOT_HEADER_BYTES: u64 = 32;
const SNAPSHOT_TRAILER_BYTES: u64 = 16;
/// The block size of snapshot files: each block carries its own checksum,
/// so every chunk read back is verified.
pub const SNAPSHOT_BLOCK_BYTES: u32 = 64 << 10;

fn snapshot_name(last: LogPosition) -> String {
    format!("snapshot-{:020}-{:020}.snap", last.index, last.term)
}

fn parse_snapshot_name(name: &str) -> Option<LogPosition> {
    let rest = name.strip_prefix("snapshot-")?.strip_suffix(".snap")?;
    let (index, term) = rest.split_once('-')?;
    if index.len() != 20 || term.len() != 20 {
        return None;
    }
    Some(LogPosition::new(index.parse().ok()?, term.parse().ok()?))
}

/// Snapshots in files, one per snapshot, in a directory.
///
/// ```text
/// snapshot-<index:020>-<term:020>.snap
///   header   32 bytes: magic "TESSSNAP", version, block size, crc32c
///   blocks   the data in blocks of 64 KiB (the last shorter), each
///            followed by its crc32c
///   footer   last index, last term, size, crc32c of the data,
///            configuration (length-prefixed)
///   trailer  16 bytes: footer length, crc32c of the footer, "SNAPEND\x1a"
/// ```
///
/// A snapshot is written under a temporary name, synced, renamed and the
/// directory synced: a crash leaves it committed or absent, never partial.
#[derive(Debug)]
pub struct SnapshotDir {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    keep: usize,
    snapshots: BTreeMap<LogPosition, SnapshotMeta>,
}

impl SnapshotDir {
    /// Opens the snapshots in `dir` (creating it if needed), verifying each
    /// one's footer and removing leftovers of interrupted writes. Keeps the
    /// newest `keep` snapshots.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidParameter`] if `keep` is 0,
    /// [`StorageError::Corruption`] if a snapshot's footer does not verify,
    /// or an I/O error.
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
        keep: usize,
    ) -> Result<Self, StorageError> {
        check_keep(keep)?;
        let dir = dir.as_ref().to_path_buf();
        fs.create_dir_all(&dir)
            .map_err(|e| StorageError::io("create directory", &dir, None, e))?;
        let names = fs
            .list(&dir)
            .map_err(|e| StorageError::io("list", &dir, None, e))?;
        let mut snapshots = BTreeMap::new();
        for name in names {
            let path = dir.join(&name);
            if name.starts_with("snapshot-") && name.ends_with(&format!(".snap{TEMP_SUFFIX}")) {
                fs.remove_file(&path)
                    .map_err(|e| StorageError::io("remove", &path, None, e))?;
                continue;
            }
            let Some(last) = parse_snapshot_name(&name) else {
                continue;
            };
            let file = fs
                .open(&path)
                .map_err(|e| StorageError::io("open", &path, None, e))?;
            let meta = read_footer(&*file, &path)?;
            if meta.last != last {
                return Err(StorageError::corruption(
                    &path,
                    0,
                    format!(
                        "footer says index {} term {}, the name says otherwise",
                        meta.last.index, meta.last.term
                    ),
                ));
            }
            snapshots.insert(last, meta);
        }
        Ok(SnapshotDir {
            fs,
            dir,
            keep,
            snapshots,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, last: LogPosition) -> PathBuf {
        self.dir.join(snapshot_name(last))
    }
}

fn read_footer(file: &dyn FsFile, path: &Path) -> Result<SnapshotMeta, StorageError> {
    let corrupt = |offset: u64, reason: &str| StorageError::corruption(path, offset, reason);
    let io = |offset: u64| move |e: std::io::Error| StorageError::io("read", path, Some(offset), e);
    let len = file
        .len()
        .map_err(|e| StorageError::io("stat", path, None, e))?;
    if len < SNAPSHOT_HEADER_BYTES + SNAPSHOT_TRAILER_BYTES {
        return Err(corrupt(0, "snapshot file truncated"));
    }
    let mut header = [0; SNAPSHOT_HEADER_BYTES as usize];
    read_exact_at(file, &mut header, 0).map_err(io(0))?;
    if header[0..8] != SNAPSHOT_MAGIC {
        return Err(corrupt(0, "not a snapshot: bad magic number"));
    }
    if crc32c::crc32c(&header[0..28]) != u32_at(&header, 28) {
        return Err(corrupt(0, "snapshot header checksum mismatch"));
    }
    if u16::from_le_bytes([header[8], header[9]]) != FORMAT_VERSION
        || u32_at(&header, 12) != SNAPSHOT_BLOCK_BYTES
    {
        return Err(corrupt(8, "unsupported snapshot format"));
    }
    let trailer_at = len - SNAPSHOT_TRAILER_BYTES;
    let mut trailer = [0; SNAPSHOT_TRAILER_BYTES as usize];
    read_exact_at(file, &mut trailer, trailer_at).map_err(io(trailer_at))?;
    if trailer[8..16] != SNAPSHOT_END_MAGIC {
        return Err(corrupt(trailer_at, "snapshot trailer missing: truncated?"));
    }
    let footer_len = u64::from(u32_at(&trailer, 0));
    if footer_len > trailer_at - SNAPSHOT_HEADER_BYTES {
        return Err(corrupt(trailer_at, "snapshot footer length out of range"));
    }
    let footer_at = trailer_at - footer_len;
    let mut footer = vec![0; footer_len as usize];
    read_exact_at(file, &mut footer, footer_at).map_err(io(footer_at))?;
    let computed = crc32c::crc32c_append(crc32c::crc32c(&footer), &trailer[0..4]);
    if computed != u32_at(&trailer, 4) {
        return Err(corrupt(footer_at, "snapshot footer checksum mismatch"));
    }
    let mut reader = CodecReader::new(&footer);
    let parsed = (|| -> Result<SnapshotMeta, String> {
        let index = reader.u64()?;
        let term = reader.u64()?;
        let size_bytes = reader.u64()?;
        let checksum = reader.u32()?;
        let configuration = reader.prefixed_bytes()?.to_vec();
        reader.finish()?;
        Ok(SnapshotMeta {
            last: LogPosition::new(index, term),
            configuration,
            size_bytes,
            checksum,
        })
    })();
    let meta = parsed.map_err(|reason| corrupt(footer_at, &reason))?;
    if data_end(meta.size_bytes) != footer_at {
        return Err(corrupt(
            footer_at,
            "snapshot blocks do not match its size: truncated or extended",
        ));
    }
    Ok(meta)
}

/// Where the blocks of a snapshot of `size` bytes end.
fn data_end(size: u64) -> u64 {
    let blocks = size.div_ceil(u64::from(SNAPSHOT_BLOCK_BYTES));
    SNAPSHOT_HEADER_BYTES + size + 4 * blocks
}

/// The writer of a [`SnapshotDir`]: blocks go to a temporary file as they
/// fill.
#[derive(Debug)]
pub struct SnapshotFileWriter {
    fs: Arc<dyn FileSystem>,
    temp: PathBuf,
    file: Arc<dyn FsFile>,
    last: LogPosition,
    configuration: Vec<u8>,
    block: Vec<u8>,
    file_len: u64,
    size: u64,
    checksum: u32,
    committed: bool,
}

impl SnapshotFileWriter {
    fn write_block(&mut self) -> Result<(), StorageError> {
        if self.block.is_empty() {
            return Ok(());
        }
        let crc = crc32c::crc32c(&self.block);
        self.block.extend_from_slice(&crc.to_le_bytes());
        write_all_at(&*self.file, &self.block, self.file_len)
            .map_err(|e| StorageError::io("write", &self.temp, Some(self.file_len), e))?;
        self.file_len += self.block.len() as u64;
        self.block.clear();
        Ok(())
    }
}

impl SnapshotWriter for SnapshotFileWriter {
    fn write_chunk(&mut self, mut chunk: &[u8]) -> Result<(), StorageError> {
        self.checksum = crc32c::crc32c_append(self.checksum, chunk);
        self.size += chunk.len() as u64;
        while !chunk.is_empty() {
            let room = SNAPSHOT_BLOCK_BYTES as usize - self.block.len();
            let take = room.min(chunk.len());
            self.block.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.block.len() == SNAPSHOT_BLOCK_BYTES as usize {
                self.write_block()?;
            }
        }
        Ok(())
    }

    fn written_bytes(&self) -> u64 {
        self.size
    }
}

impl Drop for SnapshotFileWriter {
    fn drop(&mut self) {
        if !self.committed {
            // An abandoned snapshot: its temporary file is removed now, or
            // at the next open if this fails.
            let _ = self.fs.remove_file(&self.temp);
        }
    }
}

impl SnapshotStore for SnapshotDir {
    type Writer = SnapshotFileWriter;

    fn create(
        &mut self,
        last: LogPosition,
        configuration: Vec<u8>,
    ) -> Result<SnapshotFileWriter, StorageError> {
        let temp = self
            .dir
            .join(format!("{}{TEMP_SUFFIX}", snapshot_name(last)));
        let file = self
            .fs
            .create(&temp)
            .map_err(|e| StorageError::io("create", &temp, None, e))?;
        let mut header = [0; SNAPSHOT_HEADER_BYTES as usize];
        header[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        header[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&SNAPSHOT_BLOCK_BYTES.to_le_bytes());
        let crc = crc32c::crc32c(&header[0..28]);
        header[28..32].copy_from_slice(&crc.to_le_bytes());
        write_all_at(&*file, &header, 0)
            .map_err(|e| StorageError::io("write", &temp, Some(0), e))?;
        Ok(SnapshotFileWriter {
            fs: Arc::clone(&self.fs),
            temp,
            file,
            last,
            configuration,
            block: Vec::with_capacity(SNAPSHOT_BLOCK_BYTES as usize + 4),
            file_len: SNAPSHOT_HEADER_BYTES,
            size: 0,
            checksum: 0,
            committed: false,
        })
    }

    fn commit(&mut self, mut writer: SnapshotFileWriter) -> Result<SnapshotMeta, StorageError> {
        writer.write_block()?;
        let meta = SnapshotMeta {
            last: writer.last,
            configuration: std::mem::take(&mut writer.configuration),
            size_bytes: writer.size,
            checksum: writer.checksum,
        };
        let mut footer = Vec::new();
        footer.extend_from_slice(&meta.last.index.to_le_bytes());
        footer.extend_from_slice(&meta.last.term.to_le_bytes());
        footer.extend_from_slice(&meta.size_bytes.to_le_bytes());
        footer.extend_from_slice(&meta.checksum.to_le_bytes());
        encode_prefixed(&mut footer, &meta.configuration);
        let footer_len = (footer.len() as u32).to_le_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&footer), &footer_len);
        footer.extend_from_slice(&footer_len);
        footer.extend_from_slice(&crc.to_le_bytes());
        footer.extend_from_slice(&SNAPSHOT_END_MAGIC);
        let temp = writer.temp.clone();
        write_all_at(&*writer.file, &footer, writer.file_len)
            .map_err(|e| StorageError::io("write", &temp, Some(writer.file_len), e))?;
        writer
            .file
            .sync_data()
            .map_err(|e| StorageError::io("fdatasync", &temp, None, e))?;
        let path = self.path_of(meta.last);
        self.fs
            .rename(&temp, &path)
            .map_err(|e| StorageError::io("rename", &temp, None, e))?;
        writer.committed = true;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| StorageError::io("sync directory", &self.dir, None, e))?;
        self.snapshots.insert(meta.last, meta.clone());
        let mut removed = false;
        while self.snapshots.len() > self.keep {
            if let Some((old, _)) = self.snapshots.pop_first() {
                let old_path = self.path_of(old);
                self.fs
                    .remove_file(&old_path)
                    .map_err(|e| StorageError::io("remove", &old_path, None, e))?;
                removed = true;
            }
        }
        if removed {
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| StorageError::io("sync directory", &self.dir, None, e))?;
        }
        Ok(meta)
    }

    fn list(&self) -> Vec<SnapshotMeta> {
        self.snapshots.values().cloned().collect()
    }

    fn read_chunk(
        &self,
        last: LogPosition,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, StorageError> {
        let meta = self.snapshots.get(&last).ok_or_else(|| no_such(last))?;
        let path = self.path_of(last);
        let end = offset.saturating_add(len as u64).min(meta.size_bytes);
        if offset >= end {
            return Ok(Vec::new());
        }
        let file = self
            .fs
            .open(&path)
            .map_err(|e| StorageError::io("open", &path, None, e))?;
        let block_bytes = u64::from(SNAPSHOT_BLOCK_BYTES);
        let mut out = Vec::with_capacity((end - offset) as usize);
        let mut block = offset / block_bytes;
        while block * block_bytes < end {
            let block_start = block * block_bytes;
            let block_len = block_bytes.min(meta.size_bytes - block_start);
            let at = SNAPSHOT_HEADER_BYTES + block * (block_bytes + 4);
            let mut bytes = vec![0; (block_len + 4) as usize];
            read_exact_at(&*file, &mut bytes, at)
                .map_err(|e| StorageError::io("read", &path, Some(at), e))?;
            let stored = u32_at(&bytes, block_len as usize);
            let data = &bytes[..block_len as usize];
            if crc32c::crc32c(data) != stored {
                return Err(StorageError::corruption(
                    &path,
                    at,
                    format!("snapshot block {block} checksum mismatch"),
                ));
            }
            let from = offset.max(block_start) - block_start;
            let to = end.min(block_start + block_len) - block_start;
            out.extend_from_slice(&data[from as usize..to as usize]);
            block += 1;
        }
        Ok(out)
    }
}

/// Reads the whole snapshot at `last` in chunks of `chunk_bytes` and checks
/// it against its metadata's checksum: what a receiver does after
/// streaming.
///
/// # Errors
///
/// As [`SnapshotStore::read_chunk`], and [`StorageError::Corruption`] if the
/// checksum differs.
pub fn verify_snapshot<S: SnapshotStore + ?Sized>(
    store: &S,
    meta: &SnapshotMeta,
    chunk_bytes: usize,
) -> Result<(), StorageError> {
    let mut offset = 0;
    let mut checksum = 0;
    loop {
        let chunk = store.read_chunk(meta.last, offset, chunk_bytes.max(1))?;
        if chunk.is_empty() {
            break;
        }
        checksum = crc32c::crc32c_append(checksum, &chunk);
        offset += chunk.len() as u64;
    }
    if offset != meta.size_bytes || checksum != meta.checksum {
        return Err(StorageError::corruption(
            snapshot_name(meta.last),
            offset,
            format!(
                "snapshot has {offset} bytes with crc32c {checksum:#010x}, its metadata says {} bytes with {:#010x}",
                meta.size_bytes, meta.checksum
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CrashKind, SimFs};

    #[test]
    fn names_round_trip() {
        let last = LogPosition::new(12, 3);
        assert_eq!(parse_snapshot_name(&snapshot_name(last)), Some(last));
        assert_eq!(parse_snapshot_name("snapshot-1-2.snap"), None);
    }

    // Rule: a committed snapshot survives a crash; one not committed leaves
    // nothing behind.
    #[test]
    fn commit_is_atomic() {
        let fs = SimFs::new();
        let mut store = SnapshotDir::open(Arc::new(fs.clone()), "/snap", 2).unwrap();
        let mut writer = store
            .create(LogPosition::new(5, 1), b"cfg".to_vec())
            .unwrap();
        writer.write_chunk(&vec![9; 100_000]).unwrap();
        let after = fs.crash(CrashKind::SyncedOnly);
        let reopened = SnapshotDir::open(Arc::new(after), "/snap", 2).unwrap();
        assert!(reopened.list().is_empty());
        let meta = store.commit(writer).unwrap();
        let after = fs.crash(CrashKind::SyncedOnly);
        let reopened = SnapshotDir::open(Arc::new(after), "/snap", 2).unwrap();
        assert_eq!(reopened.latest(), Some(meta.clone()));
        verify_snapshot(&reopened, &meta, 7000).unwrap();
    }
}

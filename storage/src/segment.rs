//! Segment files and the small state files beside them: names, headers and
//! their checks.
//!
//! A log directory holds:
//!
//! ```text
//! segment-00000000000000000001.wal   segments, numbered from 1
//! segment-00000000000000000002.wal
//! wal.meta                           generation and purged prefix (atomic file)
//! hard-state                         the consensus hard state (atomic file)
//! *.tmp                              leftovers of an interrupted atomic write
//! ```

use std::path::{Path, PathBuf};

use crate::StorageError;
use crate::fs::{FileSystem, FsFile, read_exact_at, read_to_end, write_all_at};
use crate::log_store::LogPosition;

/// Identifies a segment file's format: "TESSWAL" and a byte that catches
/// text-mode transfers, as PNG's header does.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TESSWAL\x1a";
/// The on-disk format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes in a segment header.
pub const SEGMENT_HEADER_BYTES: usize = 64;

const FLAG_HAS_PREVIOUS: u32 = 1;

/// The magic number of the log's metadata file.
pub(crate) const META_MAGIC: [u8; 8] = *b"TESSMETA";
/// The magic number of the hard-state file.
pub(crate) const HARD_STATE_MAGIC: [u8; 8] = *b"TESSHARD";
pub(crate) const META_FILE: &str = "wal.meta";
pub(crate) const HARD_STATE_FILE: &str = "hard-state";
pub(crate) const TEMP_SUFFIX: &str = ".tmp";
const STATE_HEADER_BYTES: usize = 20;

/// The header at the start of every segment file.
///
/// ```text
///  offset  size  field
///   0       8    magic "TESSWAL\x1a"
///   8       2    format version (1)
///  10       2    header length (64)
///  12       4    reserved, zero
///  16       8    segment id (its file's number)
///  24       8    generation (raised each time the whole log is replaced)
///  32       8    lsn of the segment's first record
///  40       8    length of the previous segment when this one was created
///  48       4    flags: bit 0 = there was a previous segment
///  52       8    reserved, zero
///  60       4    crc32c of bytes 0..60
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) id: u64,
    pub(crate) generation: u64,
    pub(crate) first_lsn: u64,
    /// The previous segment's final length, if there was one: it lets
    /// recovery detect a truncated sealed segment.
    pub(crate) previous_len: Option<u64>,
}

impl SegmentHeader {
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut bytes = [0; SEGMENT_HEADER_BYTES];
        bytes[0..8].copy_from_slice(&SEGMENT_MAGIC);
        bytes[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[10..12].copy_from_slice(&(SEGMENT_HEADER_BYTES as u16).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.id.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.generation.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.first_lsn.to_le_bytes());
        let (flags, previous) = match self.previous_len {
            Some(len) => (FLAG_HAS_PREVIOUS, len),
            None => (0, 0),
        };
        bytes[40..48].copy_from_slice(&previous.to_le_bytes());
        bytes[48..52].copy_from_slice(&flags.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[0..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Checks and decodes a header. `Err` holds the reason.
    pub(crate) fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        if bytes.len() < SEGMENT_HEADER_BYTES {
            return Err(format!(
                "segment header truncated: {} of {SEGMENT_HEADER_BYTES} bytes",
                bytes.len()
            ));
        }
        if bytes[0..8] != SEGMENT_MAGIC {
            return Err("not a segment: bad magic number".to_string());
        }
        let stored = u32_at(bytes, 60);
        let computed = crc32c::crc32c(&bytes[0..60]);
        if stored != computed {
            return Err(format!(
                "segment header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(format!(
                "unsupported format version {version} (this build reads version {FORMAT_VERSION})"
            ));
        }
        let header_len = u16::from_le_bytes([bytes[10], bytes[11]]);
        let flags = u32_at(bytes, 48);
        if usize::from(header_len) != SEGMENT_HEADER_BYTES
            || flags & !FLAG_HAS_PREVIOUS != 0
            || bytes[12..16] != [0; 4]
            || bytes[52..60] != [0; 8]
        {
            return Err("segment header has unknown fields set".to_string());
        }
        let first_lsn = u64_at(bytes, 32);
        if first_lsn == 0 {
            return Err("segment header names lsn 0".to_string());
        }
        Ok(SegmentHeader {
            id: u64_at(bytes, 16),
            generation: u64_at(bytes, 24),
            first_lsn,
            previous_len: (flags & FLAG_HAS_PREVIOUS != 0).then(|| u64_at(bytes, 40)),
        })
    }
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The file name of segment `id`.
pub(crate) fn segment_name(id: u64) -> String {
    format!("segment-{id:020}.wal")
}

/// The id in a segment file name, if `name` is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("segment-")?.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn io_error(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::io(operation, path, None, source)
}

/// Creates segment `header.id` in `dir` with its header, durably: written
/// under a temporary name, synced, renamed, and the directory synced — so a
/// segment file with its final name always has a complete header.
pub(crate) fn create_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    header: &SegmentHeader,
) -> Result<(PathBuf, std::sync::Arc<dyn FsFile>), StorageError> {
    let path = dir.join(segment_name(header.id));
    let temp = dir.join(format!("{}{TEMP_SUFFIX}", segment_name(header.id)));
    let file = fs.create(&temp).map_err(io_error("create", &temp))?;
    write_all_at(&*file, &header.encode(), 0)
        .map_err(|e| StorageError::io("write", &temp, Some(0), e))?;
    file.sync_data().map_err(io_error("fdatasync", &temp))?;
    fs.rename(&temp, &path).map_err(io_error("rename", &temp))?;
    fs.sync_dir(dir).map_err(io_error("sync directory", dir))?;
    Ok((path, file))
}

/// Reads and checks the header of the segment at `path`.
pub(crate) fn read_segment_header(
    file: &dyn FsFile,
    path: &Path,
) -> Result<SegmentHeader, StorageError> {
    let mut bytes = [0; SEGMENT_HEADER_BYTES];
    match read_exact_at(file, &mut bytes, 0) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(StorageError::corruption(
                path,
                0,
                "segment header truncated",
            ));
        }
        Err(error) => return Err(StorageError::io("read", path, Some(0), error)),
    }
    SegmentHeader::decode(&bytes).map_err(|reason| StorageError::corruption(path, 0, reason))
}

/// Replaces the state file `name` in `dir` atomically: temporary file,
/// fdatasync, rename, directory sync. A crash leaves either the old or the
/// new contents, never a mix.
///
/// ```text
///  offset  size  field
///   0       8    magic
///   8       2    format version (1)
///  10       2    reserved, zero
///  12       4    payload length
///  16       4    crc32c of bytes 0..16 followed by the payload
///  20       len  payload
/// ```
pub(crate) fn write_state_file(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    magic: [u8; 8],
    payload: &[u8],
) -> Result<(), StorageError> {
    let path = dir.join(name);
    let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let len = u32::try_from(payload.len()).map_err(|_| StorageError::RecordTooLarge {
        len: payload.len() as u64,
        max: u64::from(u32::MAX),
    })?;
    let mut bytes = Vec::with_capacity(STATE_HEADER_BYTES + payload.len());
    bytes.extend_from_slice(&magic);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&[0; 2]);
    bytes.extend_from_slice(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[0..16]), payload);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(payload);
    let file = fs.create(&temp).map_err(io_error("create", &temp))?;
    write_all_at(&*file, &bytes, 0).map_err(|e| StorageError::io("write", &temp, Some(0), e))?;
    file.sync_data().map_err(io_error("fdatasync", &temp))?;
    fs.rename(&temp, &path).map_err(io_error("rename", &temp))?;
    fs.sync_dir(dir).map_err(io_error("sync directory", dir))?;
    Ok(())
}

/// Reads the state file `name` in `dir`, checking every byte: `None` if it
/// does not exist.
pub(crate) fn read_state_file(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    magic: [u8; 8],
    payload_max: u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    let path = dir.join(name);
    let file = match fs.open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("open", &path, None, error)),
    };
    let bytes = read_to_end(&*file, payload_max + STATE_HEADER_BYTES as u64 + 1)
        .map_err(io_error("read", &path))?;
    decode_state_file(&bytes, magic)
        .map(Some)
        .map_err(|(offset, reason)| StorageError::corruption(&path, offset, reason))
}

/// Checks and decodes a state file; `Err` holds the offset and the reason.
pub(crate) fn decode_state_file(bytes: &[u8], magic: [u8; 8]) -> Result<Vec<u8>, (u64, String)> {
    if bytes.len() < STATE_HEADER_BYTES {
        return Err((0, format!("state file truncated: {} bytes", bytes.len())));
    }
    if bytes[0..8] != magic {
        return Err((0, "bad magic number".to_string()));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION || bytes[10..12] != [0; 2] {
        return Err((8, format!("unsupported format version {version}")));
    }
    let len = u32_at(bytes, 12) as usize;
    if bytes.len() != STATE_HEADER_BYTES + len {
        return Err((
            12,
            format!(
                "length says {} bytes, the file has {}",
                STATE_HEADER_BYTES + len,
                bytes.len()
            ),
        ));
    }
    let payload = &bytes[STATE_HEADER_BYTES..];
    let stored = u32_at(bytes, 16);
    let computed = crc32c::crc32c_append(crc32c::crc32c(&bytes[0..16]), payload);
    if stored != computed {
        return Err((
            16,
            format!("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"),
        ));
    }
    Ok(payload.to_vec())
}

/// The log's metadata: which generation of segments is current and where
/// the purged prefix ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct WalMeta {
    pub(crate) generation: u64,
    pub(crate) base: LogPosition,
}

impl WalMeta {
    pub(crate) fn encode(&self) -> [u8; 24] {
        let mut bytes = [0; 24];
        bytes[0..8].copy_from_slice(&self.generation.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.base.index.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.base.term.to_le_bytes());
        bytes
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<WalMeta> {
        if bytes.len() != 24 {
            return None;
        }
        Some(WalMeta {
            generation: u64_at(bytes, 0),
            base: LogPosition {
                index: u64_at(bytes, 8),
                term: u64_at(bytes, 16),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimFs;

    #[test]
    fn header_round_trip_and_every_bit_flip_is_caught() {
        let header = SegmentHeader {
            id: 7,
            generation: 2,
            first_lsn: 100,
            previous_len: Some(4096),
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        for bit in 0..SEGMENT_HEADER_BYTES * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(SegmentHeader::decode(&flipped).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("segment-42.wal"), None);
        assert_eq!(
            parse_segment_name("segment-00000000000000000042.wal.tmp"),
            None
        );
        assert_eq!(parse_segment_name("notes.txt"), None);
    }

    #[test]
    fn state_files_are_atomic_and_checked() {
        let fs = SimFs::new();
        let dir = Path::new("/log");
        fs.create_dir_all(dir).unwrap();
        assert_eq!(
            read_state_file(&fs, dir, "s", META_MAGIC, 100).unwrap(),
            None
        );
        write_state_file(&fs, dir, "s", META_MAGIC, b"one").unwrap();
        write_state_file(&fs, dir, "s", META_MAGIC, b"two").unwrap();
        assert_eq!(
            read_state_file(&fs, dir, "s", META_MAGIC, 100).unwrap(),
            Some(b"two".to_vec())
        );
        // Survives a crash that keeps only synced state.
        let after = fs.crash(crate::CrashKind::SyncedOnly);
        assert_eq!(
            read_state_file(&after, dir, "s", META_MAGIC, 100).unwrap(),
            Some(b"two".to_vec())
        );
        // Every bit flip and every truncation is corruption.
        let bytes = fs.read_file(&dir.join("s")).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode_state_file(&flipped, META_MAGIC).is_err(),
                "bit {bit}"
            );
        }
        for cut in 0..bytes.len() {
            assert!(decode_state_file(&bytes[..cut], META_MAGIC).is_err());
        }
        // The wrong kind of state file is not accepted.
        assert!(read_state_file(&fs, dir, "s", HARD_STATE_MAGIC, 100).is_err());
    }
}

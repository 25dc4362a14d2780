//! Reading a log directory without changing it: what the `tessera-wal`
//! tool prints, and what an operator reads before deciding how to repair a
//! damaged log.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::fs::{FileSystem, read_to_end};
use crate::record::{RECORD_PAYLOAD_MAX, decode_frame};
use crate::segment::{
    HARD_STATE_FILE, HARD_STATE_MAGIC, META_FILE, META_MAGIC, SEGMENT_HEADER_BYTES, SegmentHeader,
    WalMeta, decode_state_file, parse_segment_name,
};
use crate::{LogPosition, StorageError};

/// One record as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedRecord {
    /// Its offset in the segment.
    pub offset: u64,
    /// Its lsn.
    pub lsn: u64,
    /// Its term.
    pub term: u64,
    /// Its durability stamp.
    pub durable_through: u64,
    /// Its payload length.
    pub payload_len: usize,
}

/// One segment file as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedSegment {
    /// The file.
    pub file: PathBuf,
    /// Its length in bytes.
    pub len: u64,
    /// Its generation, if the header verifies.
    pub generation: Option<u64>,
    /// Its first lsn, if the header verifies.
    pub first_lsn: Option<u64>,
    /// The previous segment's length recorded in its header.
    pub previous_len: Option<u64>,
    /// How many valid records it holds before the first defect.
    pub record_count: u64,
    /// Its records, if asked for.
    pub records: Vec<InspectedRecord>,
    /// The first defect: offset and description.
    pub defect: Option<(u64, String)>,
}

/// A log directory as found on disk, read-only: [`inspect_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInspection {
    /// The directory.
    pub dir: PathBuf,
    /// The generation and purged prefix, if `wal.meta` exists and verifies.
    pub meta: Option<(u64, LogPosition)>,
    /// The hard state's size, if the file exists and verifies.
    pub hard_state_bytes: Option<usize>,
    /// The segments, in order.
    pub segments: Vec<InspectedSegment>,
    /// Everything found wrong, each naming a file and offset.
    pub problems: Vec<String>,
}

/// Inspects the log in `dir` without changing anything. Unlike
/// [`Wal::open`](crate::Wal::open) it does not stop at the first problem:
/// it lists them all. A defect in the last segment may be a torn tail that
/// opening the log would cut (see `docs/durability.md`).
///
/// # Errors
///
/// Only I/O errors; damage is reported in [`LogInspection::problems`].
pub fn inspect_log(
    fs: &dyn FileSystem,
    dir: &Path,
    with_records: bool,
) -> Result<LogInspection, StorageError> {
    let mut names = fs
        .list(dir)
        .map_err(|e| StorageError::io("list", dir, None, e))?;
    names.sort();
    let mut problems = Vec::new();
    let mut state_file = |name: &str, magic: [u8; 8]| -> Result<Option<Vec<u8>>, StorageError> {
        let path = dir.join(name);
        match fs.open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io("open", &path, None, e)),
            Ok(file) => {
                let bytes = read_to_end(&*file, 1 << 30)
                    .map_err(|e| StorageError::io("read", &path, None, e))?;
                match decode_state_file(&bytes, magic) {
                    Ok(payload) => Ok(Some(payload)),
                    Err((offset, reason)) => {
                        problems.push(format!("{}: offset {offset}: {reason}", path.display()));
                        Ok(None)
                    }
                }
            }
        }
    };
    let meta = state_file(META_FILE, META_MAGIC)?
        .and_then(|bytes| WalMeta::decode(&bytes))
        .map(|meta| (meta.generation, meta.base));
    let hard_state_bytes = state_file(HARD_STATE_FILE, HARD_STATE_MAGIC)?.map(|bytes| bytes.len());
    let mut segments = Vec::new();
    for name in &names {
        if parse_segment_name(name).is_none() {
            continue;
        }
        let path = dir.join(name);
        let file = fs
            .open(&path)
            .map_err(|e| StorageError::io("open", &path, None, e))?;
        let bytes =
            read_to_end(&*file, u64::MAX).map_err(|e| StorageError::io("read", &path, None, e))?;
        segments.push(inspect_segment(path, &bytes, with_records));
    }
    for (position, segment) in segments.iter().enumerate() {
        if let Some((offset, reason)) = &segment.defect {
            let hint = if position + 1 == segments.len() {
                " (last segment: a torn tail if these records were never synced)"
            } else {
                ""
            };
            problems.push(format!(
                "{}: offset {offset}: {reason}{hint}",
                segment.file.display()
            ));
        }
        if let (Some(previous), Some(expected)) = (
            position.checked_sub(1).map(|p| &segments[p]),
            segment.previous_len,
        ) && previous.len != expected
        {
            problems.push(format!(
                "{}: is {} bytes, {expected} when it was sealed",
                previous.file.display(),
                previous.len
            ));
        }
    }
    Ok(LogInspection {
        dir: dir.to_path_buf(),
        meta,
        hard_state_bytes,
        segments,
        problems,
    })
}

fn inspect_segment(file: PathBuf, bytes: &[u8], with_records: bool) -> InspectedSegment {
    let mut segment = InspectedSegment {
        file,
        len: bytes.len() as u64,
        generation: None,
        first_lsn: None,
        previous_len: None,
        record_count: 0,
        records: Vec::new(),
        defect: None,
    };
    let header = match SegmentHeader::decode(bytes) {
        Ok(header) => header,
        Err(reason) => {
            segment.defect = Some((0, reason));
            return segment;
        }
    };
    segment.generation = Some(header.generation);
    segment.first_lsn = Some(header.first_lsn);
    segment.previous_len = header.previous_len;
    let mut position = SEGMENT_HEADER_BYTES;
    let mut expected = header.first_lsn;
    while position < bytes.len() {
        match decode_frame(&bytes[position..], RECORD_PAYLOAD_MAX) {
            Ok(frame) => {
                if frame.lsn != expected {
                    segment.defect = Some((
                        position as u64,
                        format!("record has lsn {}, lsn {expected} expected", frame.lsn),
                    ));
                    return segment;
                }
                if with_records {
                    segment.records.push(InspectedRecord {
                        offset: position as u64,
                        lsn: frame.lsn,
                        term: frame.term,
                        durable_through: frame.durable_through,
                        payload_len: frame.payload.len(),
                    });
                }
                segment.record_count += 1;
                position += frame.encoded_len();
                expected += 1;
            }
            Err(defect) => {
                segment.defect = Some((position as u64, defect.to_string()));
                return segment;
            }
        }
    }
    segment
}

impl fmt::Display for LogInspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "log {}", self.dir.display())?;
        match self.meta {
            Some((generation, base)) => writeln!(
                f,
                "  meta: generation {generation}, purged through lsn {} (term {})",
                base.index, base.term
            )?,
            None => writeln!(f, "  meta: none (generation 0, nothing purged)")?,
        }
        match self.hard_state_bytes {
            Some(bytes) => writeln!(f, "  hard state: {bytes} bytes")?,
            None => writeln!(f, "  hard state: none")?,
        }
        for segment in &self.segments {
            let name = segment
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            write!(f, "  {name}: {} bytes", segment.len)?;
            if let (Some(generation), Some(first)) = (segment.generation, segment.first_lsn) {
                write!(f, ", generation {generation}, ")?;
                match segment.record_count {
                    0 => write!(f, "empty (next lsn {first})")?,
                    1 => write!(f, "lsn {first} (1 record)")?,
                    count => write!(f, "lsn {first}..={} ({count} records)", first + count - 1)?,
                }
            }
            writeln!(f)?;
            for record in &segment.records {
                writeln!(
                    f,
                    "    @{:<10} lsn {:<10} term {:<6} durable_through {:<10} {} bytes",
                    record.offset,
                    record.lsn,
                    record.term,
                    record.durable_through,
                    record.payload_len
                )?;
            }
        }
        if self.problems.is_empty() {
            writeln!(f, "  no problems found")?;
        } else {
            for problem in &self.problems {
                writeln!(f, "  PROBLEM: {problem}")?;
            }
        }
        Ok(())
    }
}

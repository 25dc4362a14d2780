//! Opening a log directory: verify every segment, cut a torn tail, rebuild
//! the index — in one pass over the data.
//!
//! The procedure, in order (`docs/durability.md` explains each step):
//!
//! 1. remove leftover `*.tmp` files of interrupted atomic writes;
//! 2. read `wal.meta` (generation, purged prefix) and `hard-state`;
//! 3. remove segments of an older generation (a reset that crashed before
//!    removing them) and segments wholly inside the purged prefix;
//! 4. check the remaining segments are consecutive, each starting where the
//!    previous ended, each sealed segment exactly as long as its successor's
//!    header says;
//! 5. scan sealed segments strictly: any defect is corruption;
//! 6. scan the last segment leniently: at its first defect, look further
//!    for a valid record whose `durable_through` covers the damaged one — if
//!    there is one, the damage hit synced data: corruption; if not, it is a
//!    torn tail: cut it off;
//! 7. sync the last segment, so records that were only in the page cache
//!    are durable before anything is acknowledged after them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::{FileSystem, FsFile, read_to_end};
use crate::index::{IndexedSegment, SegmentIndex, TermRuns};
use crate::record::{RECORD_HEADER_BYTES, decode_frame, plausible_header};
use crate::segment::{
    HARD_STATE_FILE, HARD_STATE_MAGIC, META_FILE, META_MAGIC, SEGMENT_HEADER_BYTES, SegmentHeader,
    TEMP_SUFFIX, WalMeta, create_segment, parse_segment_name, read_segment_header, read_state_file,
};
use crate::{LogPosition, StorageError};

/// Something recovery changed on disk to bring the log back to a
/// consistent state. None of them loses a record that was reported
/// durable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Repair {
    /// The last segment ended in a torn write (records never synced, cut
    /// short by a crash): it was cut back to its last valid record.
    TornTail {
        /// The segment.
        file: PathBuf,
        /// Where the valid records end, now the file's length.
        offset: u64,
        /// Bytes cut off.
        bytes_dropped: u64,
        /// What was wrong at `offset`.
        defect: String,
    },
    /// A temporary file of an interrupted atomic write was removed.
    RemovedTempFile {
        /// The file.
        file: PathBuf,
    },
    /// A segment the log no longer needs was removed: from before a reset
    /// (an older generation), or wholly inside the purged prefix.
    RemovedSegment {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The directory held no segment of the current generation: a fresh
    /// one was created.
    CreatedSegment {
        /// The file.
        file: PathBuf,
    },
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repair::TornTail {
                file,
                offset,
                bytes_dropped,
                defect,
            } => write!(
                f,
                "cut a torn tail of {bytes_dropped} bytes at offset {offset} of {} ({defect})",
                file.display()
            ),
            Repair::RemovedTempFile { file } => {
                write!(f, "removed temporary file {}", file.display())
            }
            Repair::RemovedSegment { file, reason } => {
                write!(f, "removed {} ({reason})", file.display())
            }
            Repair::CreatedSegment { file } => write!(f, "created {}", file.display()),
        }
    }
}

/// What [`Wal::open`](crate::Wal::open) found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files in the log.
    pub segments: usize,
    /// Records after the purged prefix.
    pub records: u64,
    /// Bytes in the segment files.
    pub bytes: u64,
    /// The purged prefix.
    pub base: LogPosition,
    /// The last lsn (the base's if the log is empty).
    pub last_lsn: u64,
    /// Whether the log was closed cleanly (its last segment held no record).
    pub clean: bool,
    /// What recovery changed on disk.
    pub repairs: Vec<Repair>,
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recovered {} records ({}..={}) in {} segments, {} bytes, {}",
            self.records,
            self.base.index + 1,
            self.last_lsn,
            self.segments,
            self.bytes,
            if self.clean {
                "closed cleanly"
            } else {
                "after a crash"
            }
        )?;
        for repair in &self.repairs {
            write!(f, "; {repair}")?;
        }
        Ok(())
    }
}

/// The recovered log, ready for appending.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) meta: WalMeta,
    pub(crate) index: SegmentIndex,
    pub(crate) hard_state: Option<Vec<u8>>,
    pub(crate) report: RecoveryReport,
}

struct Found {
    id: u64,
    path: PathBuf,
    file: Arc<dyn FsFile>,
    header: SegmentHeader,
}

fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::io(operation, path, None, source)
}

/// Recovers the log in `dir`. See the module documentation.
pub(crate) fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    payload_max: u32,
) -> Result<Recovered, StorageError> {
    fs.create_dir_all(dir)
        .map_err(io("create directory", dir))?;
    let mut names = fs.list(dir).map_err(io("list", dir))?;
    names.sort();
    let mut repairs = Vec::new();

    // 1. Leftovers of interrupted atomic writes.
    let temps: Vec<&String> = names.iter().filter(|n| n.ends_with(TEMP_SUFFIX)).collect();
    for name in &temps {
        let path = dir.join(name);
        fs.remove_file(&path).map_err(io("remove", &path))?;
        repairs.push(Repair::RemovedTempFile { file: path });
    }
    if !temps.is_empty() {
        fs.sync_dir(dir).map_err(io("sync directory", dir))?;
    }

    // 2. The state files.
    let meta = match read_state_file(fs, dir, META_FILE, META_MAGIC, 1024)? {
        None => WalMeta::default(),
        Some(bytes) => WalMeta::decode(&bytes).ok_or_else(|| {
            StorageError::corruption(dir.join(META_FILE), 20, "metadata has the wrong length")
        })?,
    };
    let hard_state = read_state_file(
        fs,
        dir,
        HARD_STATE_FILE,
        HARD_STATE_MAGIC,
        u64::from(crate::RECORD_PAYLOAD_MAX),
    )?;

    // 3. The segments, their headers, and the ones no longer needed.
    let mut found = Vec::new();
    let mut highest_id = 0;
    for name in &names {
        let Some(id) = parse_segment_name(name) else {
            continue;
        };
        let path = dir.join(name);
        let file = fs.open(&path).map_err(io("open", &path))?;
        let header = read_segment_header(&*file, &path)?;
        if header.id != id {
            return Err(StorageError::corruption(
                &path,
                16,
                format!("header names segment {}, the file name {id}", header.id),
            ));
        }
        highest_id = highest_id.max(id);
        found.push(Found {
            id,
            path,
            file,
            header,
        });
    }
    let mut removed = false;
    let mut remove = |segment: Found, reason: &'static str| -> Result<(), StorageError> {
        fs.remove_file(&segment.path)
            .map_err(io("remove", &segment.path))?;
        repairs.push(Repair::RemovedSegment {
            file: segment.path,
            reason,
        });
        removed = true;
        Ok(())
    };
    let mut current = Vec::new();
    for segment in found {
        if segment.header.generation < meta.generation {
            remove(segment, "older generation: the log was reset")?;
        } else if segment.header.generation > meta.generation {
            return Err(StorageError::corruption(
                &segment.path,
                24,
                format!(
                    "segment of generation {} but the metadata says {}: the metadata is stale or lost",
                    segment.header.generation, meta.generation
                ),
            ));
        } else {
            current.push(segment);
        }
    }
    let base_next = meta.base.index + 1;
    if let Some(first) = current.first() {
        let Some(keep_from) = current
            .iter()
            .rposition(|segment| segment.header.first_lsn <= base_next)
        else {
            return Err(StorageError::corruption(
                &first.path,
                32,
                format!(
                    "the log starts at lsn {} but only lsns up to {} were purged: records are missing",
                    first.header.first_lsn, meta.base.index
                ),
            ));
        };
        for segment in current.drain(..keep_from) {
            remove(segment, "wholly inside the purged prefix")?;
        }
    }
    if removed {
        fs.sync_dir(dir).map_err(io("sync directory", dir))?;
    }

    // 4-6. Check the chain and scan every segment.
    let mut index = SegmentIndex::default();
    let count = current.len();
    // The previous segment's id, path, length and end lsn.
    let mut previous: Option<(u64, PathBuf, u64, u64)> = None;
    for (position, segment) in current.into_iter().enumerate() {
        let last = position + 1 == count;
        if let Some((previous_id, previous_path, previous_len, previous_end)) = &previous {
            if segment.id != previous_id + 1 {
                return Err(StorageError::corruption(
                    &segment.path,
                    0,
                    format!("segment {} is missing before this one", previous_id + 1),
                ));
            }
            match segment.header.previous_len {
                Some(expected) if expected == *previous_len => {}
                Some(expected) => {
                    return Err(StorageError::corruption(
                        previous_path,
                        expected.min(*previous_len),
                        format!(
                            "segment is {previous_len} bytes but was {expected} when it was sealed: truncated or extended"
                        ),
                    ));
                }
                None => {
                    return Err(StorageError::corruption(
                        &segment.path,
                        48,
                        "segment claims no predecessor but follows another",
                    ));
                }
            }
            if segment.header.first_lsn != *previous_end {
                return Err(StorageError::corruption(
                    &segment.path,
                    32,
                    format!(
                        "segment starts at lsn {}, the previous one ends before lsn {previous_end}",
                        segment.header.first_lsn
                    ),
                ));
            }
        }
        let bytes = read_to_end(&*segment.file, u64::MAX).map_err(io("read", &segment.path))?;
        if bytes.len() as u64 > u64::from(u32::MAX) {
            return Err(StorageError::corruption(
                &segment.path,
                u64::from(u32::MAX),
                "segment longer than the format allows (4 GiB)",
            ));
        }
        let scan = scan_segment(
            &bytes,
            &segment.path,
            segment.header.first_lsn,
            !last,
            payload_max,
            &mut index.terms,
        )?;
        if let Some((offset, defect)) = &scan.torn {
            segment
                .file
                .set_len(*offset)
                .map_err(io("truncate", &segment.path))?;
            repairs.push(Repair::TornTail {
                file: segment.path.clone(),
                offset: *offset,
                bytes_dropped: bytes.len() as u64 - offset,
                defect: defect.clone(),
            });
        }
        let end_lsn = segment.header.first_lsn + scan.offsets.len() as u64;
        previous = Some((segment.id, segment.path.clone(), scan.end, end_lsn));
        index.segments.push_back(IndexedSegment {
            id: segment.id,
            path: segment.path,
            file: segment.file,
            first_lsn: segment.header.first_lsn,
            offsets: scan.offsets,
            len: scan.end,
        });
    }

    // 7. Make what was read durable, or start a fresh segment.
    let clean = index
        .segments
        .back()
        .is_none_or(|segment| segment.offsets.is_empty());
    match index.segments.back() {
        Some(segment) => segment
            .file
            .sync_data()
            .map_err(io("fdatasync", &segment.path))?,
        None => {
            let header = SegmentHeader {
                id: highest_id + 1,
                generation: meta.generation,
                first_lsn: base_next,
                previous_len: None,
            };
            let (path, file) = create_segment(fs, dir, &header)?;
            repairs.push(Repair::CreatedSegment { file: path.clone() });
            index.segments.push_back(IndexedSegment {
                id: header.id,
                path,
                file,
                first_lsn: base_next,
                offsets: Vec::new(),
                len: SEGMENT_HEADER_BYTES as u64,
            });
        }
    }
    fs.sync_dir(dir).map_err(io("sync directory", dir))?;

    // The purged position must lie within the log, with the term the
    // metadata remembers.
    let end_lsn = index.end_lsn().unwrap_or(base_next);
    if end_lsn < base_next {
        return Err(StorageError::corruption(
            dir.join(META_FILE),
            28,
            format!(
                "the purged prefix ends at lsn {} beyond the log's last lsn {}",
                meta.base.index,
                end_lsn - 1
            ),
        ));
    }
    if let Some(first) = index.segments.front()
        && meta.base.index >= first.first_lsn
        && index.terms.term_at(meta.base.index) != Some(meta.base.term)
    {
        return Err(StorageError::corruption(
            dir.join(META_FILE),
            28,
            format!(
                "the record at the purged lsn {} has term {:?}, the metadata says {}",
                meta.base.index,
                index.terms.term_at(meta.base.index),
                meta.base.term
            ),
        ));
    }

    let report = RecoveryReport {
        segments: index.segments.len(),
        records: end_lsn - base_next,
        bytes: index.bytes(),
        base: meta.base,
        last_lsn: end_lsn - 1,
        clean,
        repairs,
    };
    Ok(Recovered {
        meta,
        index,
        hard_state,
        report,
    })
}

/// The records of one segment.
pub(crate) struct Scan {
    pub(crate) offsets: Vec<u32>,
    /// Where the valid records end.
    pub(crate) end: u64,
    /// A torn tail: where it starts and what is wrong there.
    pub(crate) torn: Option<(u64, String)>,
}

/// Scans the frames of a segment whose header was checked. `strict`: any
/// defect is corruption (a sealed segment); otherwise a torn tail is
/// tolerated unless a later valid record proves the damaged one was synced.
pub(crate) fn scan_segment(
    bytes: &[u8],
    path: &Path,
    first_lsn: u64,
    strict: bool,
    payload_max: u32,
    terms: &mut TermRuns,
) -> Result<Scan, StorageError> {
    let mut offsets = Vec::new();
    let mut position = SEGMENT_HEADER_BYTES;
    let mut expected = first_lsn;
    while position < bytes.len() {
        match decode_frame(&bytes[position..], payload_max) {
            Ok(frame) if frame.lsn == expected => {
                offsets.push(position as u32);
                terms.push(frame.lsn, frame.term);
                position += frame.encoded_len();
                expected += 1;
            }
            Ok(frame) => {
                // A valid record in the wrong place was written by someone,
                // not torn by a crash.
                return Err(StorageError::corruption(
                    path,
                    position as u64,
                    format!("record has lsn {}, lsn {expected} expected", frame.lsn),
                ));
            }
            Err(defect) => {
                if strict {
                    return Err(StorageError::corruption(
                        path,
                        position as u64,
                        format!("{defect} (in a sealed segment)"),
                    ));
                }
                if let Some((proof_offset, proof_lsn)) =
                    find_durability_proof(bytes, position + 1, expected, payload_max)
                {
                    return Err(StorageError::corruption(
                        path,
                        position as u64,
                        format!(
                            "{defect}: record {expected} was synced (record {proof_lsn} at offset {proof_offset} says so)"
                        ),
                    ));
                }
                return Ok(Scan {
                    offsets,
                    end: position as u64,
                    torn: Some((position as u64, defect.to_string())),
                });
            }
        }
    }
    Ok(Scan {
        offsets,
        end: position as u64,
        torn: None,
    })
}

/// Looks past a damaged record (lsn `damaged`) for a valid one that says
/// `damaged` was durable when it was written. Linear in the bytes: each
/// offset is first checked by its header alone, and only plausible headers
/// (right kind, zero reserved bytes, an lsn in the possible range) are
/// checksummed.
fn find_durability_proof(
    bytes: &[u8],
    from: usize,
    damaged: u64,
    payload_max: u32,
) -> Option<(usize, u64)> {
    let remaining_records = (bytes.len().saturating_sub(from) / RECORD_HEADER_BYTES) as u64;
    let lsn_high = damaged.saturating_add(remaining_records + 1);
    let mut offset = from;
    while offset + RECORD_HEADER_BYTES <= bytes.len() {
        if plausible_header(&bytes[offset..], damaged, lsn_high, payload_max)
            && let Ok(frame) = decode_frame(&bytes[offset..], payload_max)
        {
            if frame.durable_through >= damaged {
                return Some((offset, frame.lsn));
            }
            offset += frame.encoded_len();
            continue;
        }
        offset += 1;
    }
    None
}

/// The property the `segment_recovery` fuzz target checks, kept here so the
/// regression corpus is replayed by an ordinary test: whatever bytes follow
/// valid segment headers, recovery never panics, and what it accepts reads
/// back.
///
/// The first byte of `data` chooses one segment (even) or two (odd); the
/// rest is cut in two, the first part becoming the body of a sealed segment.
#[doc(hidden)]
pub fn fuzz_segment_recovery(data: &[u8]) {
    use crate::segment::{create_segment, segment_name};
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let fs = crate::SimFs::new();
    let dir = Path::new("/fuzz");
    let mut header = SegmentHeader {
        id: 1,
        generation: 0,
        first_lsn: 1,
        previous_len: None,
    };
    let bodies: Vec<&[u8]> = if selector % 2 == 1 {
        let cut = usize::from(selector / 2) * rest.len() / 128;
        let (first, second) = rest.split_at(cut.min(rest.len()));
        vec![first, second]
    } else {
        vec![rest]
    };
    if fs.create_dir_all(dir).is_err() {
        return;
    }
    let mut previous_len = None;
    for body in bodies {
        header.previous_len = previous_len;
        if create_segment(&fs, dir, &header).is_err() {
            return;
        }
        let path = dir.join(segment_name(header.id));
        let mut bytes = header.encode().to_vec();
        bytes.extend_from_slice(body);
        fs.overwrite_file(&path, &bytes);
        previous_len = Some(bytes.len() as u64);
        header.id += 1;
        // A plausible first lsn for the next segment: count the records
        // that decode in this one.
        let mut terms = TermRuns::default();
        header.first_lsn +=
            scan_segment(&bytes, &path, header.first_lsn, false, 1 << 16, &mut terms)
                .map(|scan| scan.offsets.len() as u64)
                .unwrap_or(0);
    }
    if let Ok(recovered) = recover(&fs, dir, 1 << 16) {
        for segment in &recovered.index.segments {
            for lsn in segment.first_lsn..segment.end_lsn() {
                let Some((offset, len)) = segment.frame(lsn) else {
                    panic!("indexed lsn {lsn} has no frame");
                };
                let mut bytes = vec![0; len as usize];
                crate::fs::read_exact_at(&*segment.file, &mut bytes, offset)
                    .unwrap_or_else(|error| panic!("indexed lsn {lsn} unreadable: {error}"));
                let frame = decode_frame(&bytes, 1 << 16)
                    .unwrap_or_else(|defect| panic!("indexed lsn {lsn} does not decode: {defect}"));
                assert_eq!(frame.lsn, lsn, "indexed record has the wrong lsn");
            }
        }
    }
}

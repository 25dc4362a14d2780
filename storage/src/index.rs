//! The in-memory index of written records: where each lsn's frame is, and
//! the term of every lsn, rebuilt by recovery in one pass.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use crate::fs::FsFile;

/// One segment file and the offsets of its frames.
#[derive(Debug, Clone)]
pub(crate) struct IndexedSegment {
    pub(crate) id: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn FsFile>,
    pub(crate) first_lsn: u64,
    /// The offset of each frame: `offsets[i]` holds lsn `first_lsn + i`.
    /// Segments never exceed 4 GiB (the options cap them far below).
    pub(crate) offsets: Vec<u32>,
    /// The end of the last frame: the segment's length.
    pub(crate) len: u64,
}

impl IndexedSegment {
    /// One past the segment's last lsn.
    pub(crate) fn end_lsn(&self) -> u64 {
        self.first_lsn + self.offsets.len() as u64
    }

    /// The offset and length of the frame of `lsn`, if it is here.
    pub(crate) fn frame(&self, lsn: u64) -> Option<(u64, u64)> {
        let position = usize::try_from(lsn.checked_sub(self.first_lsn)?).ok()?;
        let start = u64::from(*self.offsets.get(position)?);
        let end = self
            .offsets
            .get(position + 1)
            .map_or(self.len, |next| u64::from(*next));
        Some((start, end - start))
    }
}

/// Terms as runs: `(first lsn, term)`, each run lasting until the next.
/// Terms change rarely, so this stays small however long the log.
#[derive(Debug, Clone, Default)]
pub(crate) struct TermRuns {
    runs: Vec<(u64, u64)>,
}

impl TermRuns {
    /// Records that `lsn` (the next lsn after every one recorded) has
    /// `term`.
    pub(crate) fn push(&mut self, lsn: u64, term: u64) {
        if self.runs.last().is_none_or(|(_, last)| *last != term) {
            self.runs.push((lsn, term));
        }
    }

    /// The term of `lsn`, assuming it was recorded.
    pub(crate) fn term_at(&self, lsn: u64) -> Option<u64> {
        let after = self.runs.partition_point(|(start, _)| *start <= lsn);
        after.checked_sub(1).map(|run| self.runs[run].1)
    }

    /// Forgets `lsn` and everything after it.
    pub(crate) fn truncate_from(&mut self, lsn: u64) {
        let keep = self.runs.partition_point(|(start, _)| *start < lsn);
        self.runs.truncate(keep);
    }

    /// Forgets the runs that end before `lsn`.
    pub(crate) fn forget_before(&mut self, lsn: u64) {
        let covering = self.runs.partition_point(|(start, _)| *start <= lsn);
        if covering > 1 {
            self.runs.drain(..covering - 1);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.runs.clear();
    }
}

/// Every written segment, oldest first, contiguous in lsn.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegmentIndex {
    pub(crate) segments: VecDeque<IndexedSegment>,
    pub(crate) terms: TermRuns,
}

impl SegmentIndex {
    /// One past the last written lsn.
    pub(crate) fn end_lsn(&self) -> Option<u64> {
        self.segments.back().map(IndexedSegment::end_lsn)
    }

    /// The position in `segments` of the segment holding `lsn`.
    pub(crate) fn position_of(&self, lsn: u64) -> Option<usize> {
        let after = self
            .segments
            .partition_point(|segment| segment.first_lsn <= lsn);
        let position = after.checked_sub(1)?;
        (lsn < self.segments[position].end_lsn()).then_some(position)
    }

    /// The segment holding `lsn`, with the offset and length of its frame.
    pub(crate) fn locate(&self, lsn: u64) -> Option<(&IndexedSegment, u64, u64)> {
        let segment = &self.segments[self.position_of(lsn)?];
        let (offset, len) = segment.frame(lsn)?;
        Some((segment, offset, len))
    }

    /// Bytes in every segment file.
    pub(crate) fn bytes(&self) -> u64 {
        self.segments.iter().map(|segment| segment.len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_runs() {
        let mut terms = TermRuns::default();
        for (lsn, term) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 1), (6, 3)] {
            terms.push(lsn, term);
        }
        assert_eq!(terms.runs.len(), 4);
        assert_eq!(terms.term_at(2), Some(1));
        assert_eq!(terms.term_at(4), Some(2));
        assert_eq!(terms.term_at(5), Some(1));
        assert_eq!(terms.term_at(0), None);
        terms.truncate_from(4);
        assert_eq!(terms.term_at(3), Some(2));
        terms.push(4, 5);
        assert_eq!(terms.term_at(4), Some(5));
        terms.forget_before(4);
        assert_eq!(terms.term_at(4), Some(5));
        assert_eq!(terms.runs.len(), 1);
    }
}

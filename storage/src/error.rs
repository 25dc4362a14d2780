//! The one error type of tessera-storage.
//!
//! Errors say whose fault they are:
//!
//! - the **data's**: [`StorageError::Corruption`] — bytes on disk fail
//!   verification (a checksum, a magic number, a length, a sequence);
//! - the **disk's or the operating system's**: [`StorageError::Io`], and
//!   [`StorageError::Poisoned`] for every write refused after one failed;
//! - the **caller's**: every other variant — an append that does not
//!   continue the log, a read outside it, a parameter out of range.
//!
//! [`StorageError::fault`] sorts any error into one of the three.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use tessera_core::InvalidParameter;

/// Whose fault an error is. See [`StorageError::fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The bytes on disk are damaged: operator attention needed.
    Corruption,
    /// The disk or the operating system failed.
    Io,
    /// The caller asked for something the log cannot do.
    Misuse,
}

/// What went wrong in tessera-storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Data on disk fails verification. The log does not open on damaged
    /// data: an operator decides (restore from a replica or a backup, or cut
    /// the log at `offset` with the inspection tool).
    #[error("corruption in {}: offset {offset}: {reason}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// The byte offset in `file` where the damage starts.
        offset: u64,
        /// What is wrong, in words.
        reason: String,
    },

    /// An operation on the file system failed.
    #[error("I/O error: {operation} {}{}: {source}", file.display(), offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
    Io {
        /// What was being done: "write", "fdatasync", "rename", ...
        operation: &'static str,
        /// The file or directory involved.
        file: PathBuf,
        /// The byte offset, where one applies.
        offset: Option<u64>,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// An earlier write or sync failed, so the log no longer knows what is on
    /// disk; it refuses every write until it is reopened (and recovered).
    /// Reads of durable data still work.
    #[error("the log is read-only after a failed write: {cause}")]
    Poisoned {
        /// The failure that poisoned the log.
        cause: Arc<StorageError>,
    },

    /// An append does not continue the log: entries must be contiguous and
    /// start right after the last one.
    #[error("append must continue the log at index {expected}, got index {got}")]
    NotContiguous {
        /// The index the next entry must have.
        expected: u64,
        /// The index it has.
        got: u64,
    },

    /// The index lies at or below the purged prefix: the entry was compacted
    /// into a snapshot.
    #[error("index {index} is compacted: the log starts at {first_index}")]
    Compacted {
        /// The index asked for.
        index: u64,
        /// The first index the log still holds.
        first_index: u64,
    },

    /// The index lies beyond the end of the log.
    #[error("index {index} is beyond the end of the log at {last_index}")]
    BeyondEnd {
        /// The index asked for.
        index: u64,
        /// The last index of the log.
        last_index: u64,
    },

    /// A record is larger than the configured maximum.
    #[error("record of {len} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// The record's length.
        len: u64,
        /// The configured maximum.
        max: u64,
    },

    /// The log holds its configured maximum of bytes: purge a prefix (after
    /// a snapshot) before appending more.
    #[error("the log is full: {bytes} bytes, the limit is {max} bytes")]
    LogFull {
        /// Bytes on disk and queued.
        bytes: u64,
        /// The configured limit.
        max: u64,
    },

    /// No snapshot with this position exists.
    #[error("no snapshot at index {index} term {term}")]
    NoSuchSnapshot {
        /// Its last included index.
        index: u64,
        /// Its last included term.
        term: u64,
    },

    /// The log or store was closed.
    #[error("the log is closed")]
    Closed,

    /// A parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),
}

impl StorageError {
    /// Whose fault the error is.
    ///
    /// # Examples
    ///
    /// ```
    /// use tessera_storage::{Fault, StorageError};
    ///
    /// let error = StorageError::NotContiguous { expected: 5, got: 7 };
    /// assert_eq!(error.fault(), Fault::Misuse);
    /// ```
    pub fn fault(&self) -> Fault {
        match self {
            StorageError::Corruption { .. } => Fault::Corruption,
            StorageError::Io { .. } => Fault::Io,
            StorageError::Poisoned { cause } => match cause.fault() {
                Fault::Corruption => Fault::Corruption,
                Fault::Io | Fault::Misuse => Fault::Io,
            },
            StorageError::NotContiguous { .. }
            | StorageError::Compacted { .. }
            | StorageError::BeyondEnd { .. }
            | StorageError::RecordTooLarge { .. }
            | StorageError::LogFull { .. }
            | StorageError::NoSuchSnapshot { .. }
            | StorageError::Closed
            | StorageError::InvalidParameter(_) => Fault::Misuse,
        }
    }

    /// Whether this is (or was poisoned by) corruption on disk.
    pub fn is_corruption(&self) -> bool {
        self.fault() == Fault::Corruption
    }

    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl fmt::Display,
    ) -> Self {
        StorageError::Corruption {
            file: file.into(),
            offset,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(
        operation: &'static str,
        file: impl Into<PathBuf>,
        offset: Option<u64>,
        source: io::Error,
    ) -> Self {
        StorageError::Io {
            operation,
            file: file.into(),
            offset,
            source,
        }
    }

    /// A copy of this error to hand to another waiter: the same error if it
    /// is already shared, otherwise a [`StorageError::Poisoned`] around it.
    pub(crate) fn share(self: &Arc<Self>) -> StorageError {
        match &**self {
            StorageError::Poisoned { cause } => StorageError::Poisoned {
                cause: Arc::clone(cause),
            },
            _ => StorageError::Poisoned {
                cause: Arc::clone(self),
            },
        }
    }
}

/// Converts a parameter check into the crate's error.
pub(crate) fn invalid(parameter: &'static str, reason: impl Into<String>) -> StorageError {
    StorageError::InvalidParameter(InvalidParameter::new(parameter, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_and_offset() {
        let error = StorageError::corruption("/log/segment-1.wal", 4096, "checksum mismatch");
        assert_eq!(
            error.to_string(),
            "corruption in /log/segment-1.wal: offset 4096: checksum mismatch"
        );
        let error = StorageError::io(
            "fdatasync",
            "/log/segment-1.wal",
            None,
            io::Error::other("EIO"),
        );
        assert_eq!(
            error.to_string(),
            "I/O error: fdatasync /log/segment-1.wal: EIO"
        );
    }

    // Rule: corruption, I/O failure and misuse are kept apart, and a
    // poisoned log keeps the fault of what poisoned it.
    #[test]
    fn faults_are_kept_apart() {
        let corrupt = Arc::new(StorageError::corruption("f", 0, "bad"));
        let io = Arc::new(StorageError::io(
            "write",
            "f",
            Some(0),
            io::Error::other("x"),
        ));
        assert_eq!(corrupt.fault(), Fault::Corruption);
        assert_eq!(io.fault(), Fault::Io);
        assert_eq!(corrupt.share().fault(), Fault::Corruption);
        assert_eq!(io.share().fault(), Fault::Io);
        assert_eq!(StorageError::Closed.fault(), Fault::Misuse);
        // Sharing a poisoned error does not nest it.
        let shared = Arc::new(io.share());
        let StorageError::Poisoned { cause } = shared.share() else {
            panic!("expected poisoned")
        };
        assert!(Arc::ptr_eq(&cause, &io));
    }
}

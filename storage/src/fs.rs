//! The file-system abstraction: the few operations the log needs, small
//! enough that tests can replace them.
//!
//! [`StdFs`] is the operating system's file system. [`SimFs`](crate::SimFs)
//! keeps files in memory and forgets what was not synced when it "crashes";
//! [`FaultyFs`](crate::FaultyFs) wraps either and injects short writes,
//! failed syncs and a full disk.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A file opened for positional reads and writes.
///
/// Every method takes `&self`: one handle is shared by the thread that
/// writes and the threads that read.
pub trait FsFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (0 at the end of the file).
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Writes up to `buf.len()` bytes at `offset`; returns how many were
    /// written, which may be fewer (a short write).
    ///
    /// # Errors
    ///
    /// The operating system's error (`ENOSPC` when the disk is full).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;

    /// Makes the file's data, and the metadata needed to read it back (its
    /// length), durable: `fdatasync`.
    ///
    /// # Errors
    ///
    /// The operating system's error. After a failed sync the state of the
    /// file on disk is unknown.
    fn sync_data(&self) -> io::Result<()>;

    /// Sets the file's length, cutting or zero-extending it.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// The file's current length.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn len(&self) -> io::Result<u64>;

    /// Whether the file is empty.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// The directory and file operations the log needs.
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// Creates `dir` and its parents if missing.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// The names of the files in `dir` (not its subdirectories).
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// Opens an existing file for reading and writing.
    ///
    /// # Errors
    ///
    /// `NotFound` if it does not exist, or the operating system's error.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;

    /// Creates a file, or empties it if it exists, for reading and writing.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;

    /// Renames `from` to `to`, replacing `to` atomically if it exists.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes a file.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Makes the directory's entries (creations, renames, removals) durable.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile(File);

impl FsFile for StdFile {
    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, offset)
    }

    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(&self.0, buf, offset)
    }

    #[cfg(unix)]
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::write_at(&self.0, buf, offset)
    }

    #[cfg(windows)]
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_write(&self.0, buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl FileSystem for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                // Names that are not UTF-8 are not ours: skip them.
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(StdFile(file)))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Arc::new(StdFile(file)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    #[cfg(unix)]
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    #[cfg(not(unix))]
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        // Directory entries cannot be synced through std outside Unix; NTFS
        // journals its metadata.
        Ok(())
    }
}

/// Writes all of `buf` at `offset`, continuing after short writes.
pub(crate) fn write_all_at(file: &dyn FsFile, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the file accepted no bytes",
                ));
            }
            Ok(written) => {
                buf = &buf[written.min(buf.len())..];
                offset += written as u64;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes at `offset`, or fails with
/// `UnexpectedEof` if the file ends first.
pub(crate) fn read_exact_at(
    file: &dyn FsFile,
    mut buf: &mut [u8],
    mut offset: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ends before the data",
                ));
            }
            Ok(read) => {
                let read = read.min(buf.len());
                buf = &mut buf[read..];
                offset += read as u64;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Reads the whole file, at most `limit` bytes of it.
pub(crate) fn read_to_end(file: &dyn FsFile, limit: u64) -> io::Result<Vec<u8>> {
    let len = file.len()?.min(limit);
    let len = usize::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "file too large to read"))?;
    let mut buf = vec![0; len];
    read_exact_at(file, &mut buf, 0)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_fs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs;
        let path = dir.path().join("a");
        let file = fs.create(&path).unwrap();
        write_all_at(&*file, b"hello world", 0).unwrap();
        file.sync_data().unwrap();
        fs.sync_dir(dir.path()).unwrap();
        assert_eq!(file.len().unwrap(), 11);
        let mut buf = [0; 5];
        read_exact_at(&*file, &mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        let error = read_exact_at(&*file, &mut buf, 8).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        fs.rename(&path, &dir.path().join("b")).unwrap();
        assert_eq!(fs.list(dir.path()).unwrap(), vec!["b".to_string()]);
        let file = fs.open(&dir.path().join("b")).unwrap();
        file.set_len(5).unwrap();
        assert_eq!(read_to_end(&*file, u64::MAX).unwrap(), b"hello");
        fs.remove_file(&dir.path().join("b")).unwrap();
        assert!(fs.list(dir.path()).unwrap().is_empty());
    }
}

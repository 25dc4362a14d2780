//! Fault injection for any [`FileSystem`]: short writes, failed syncs and a
//! full disk, switched on and off while the log runs.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::fs::{FileSystem, FsFile};

#[derive(Debug, Default)]
struct FaultState {
    /// Syncs (of files or directories) still allowed to succeed; `None`
    /// means no limit.
    syncs_left: Option<u64>,
    /// Bytes still allowed to be written; `None` means no limit.
    bytes_left: Option<u64>,
    short_writes: bool,
    injected: u64,
}

/// The faults a [`FaultyFs`] injects. Clones share the same settings, so a
/// test keeps one and changes it while the log runs.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use tessera_storage::{FaultyFs, Faults, FileSystem, SimFs};
///
/// let faults = Faults::new();
/// let fs = FaultyFs::new(SimFs::new(), faults.clone());
/// fs.create_dir_all(Path::new("/d")).unwrap();
/// let file = fs.create(Path::new("/d/f")).unwrap();
/// faults.fail_syncs_after(0);
/// assert!(file.sync_data().is_err());
/// faults.heal();
/// assert!(file.sync_data().is_ok());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

impl Faults {
    /// No faults yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After `successes` more successful syncs, every `sync_data` and
    /// directory sync fails with `EIO`.
    pub fn fail_syncs_after(&self, successes: u64) {
        self.lock().syncs_left = Some(successes);
    }

    /// After `bytes` more bytes are written, the disk is full: the write
    /// that crosses the limit is short and every later one fails with
    /// `ENOSPC`.
    pub fn disk_full_after(&self, bytes: u64) {
        self.lock().bytes_left = Some(bytes);
    }

    /// Makes every write short: at most half the bytes asked for (at least
    /// one), as a signal or a full pipe would.
    pub fn short_writes(&self, enabled: bool) {
        self.lock().short_writes = enabled;
    }

    /// Switches every fault off.
    pub fn heal(&self) {
        let mut state = self.lock();
        state.syncs_left = None;
        state.bytes_left = None;
        state.short_writes = false;
    }

    /// How many faults were injected so far (failed syncs, failed writes
    /// and short writes).
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    fn before_sync(&self) -> io::Result<()> {
        let mut state = self.lock();
        match state.syncs_left {
            Some(0) => {
                state.injected += 1;
                Err(io::Error::other("EIO (injected sync failure)"))
            }
            Some(left) => {
                state.syncs_left = Some(left - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// How many of `wanted` bytes the next write may write.
    fn before_write(&self, wanted: usize) -> io::Result<usize> {
        let mut state = self.lock();
        let mut allowed = wanted;
        if state.short_writes && wanted > 1 {
            allowed = wanted / 2;
            state.injected += 1;
        }
        if let Some(left) = state.bytes_left {
            if left == 0 && wanted > 0 {
                state.injected += 1;
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "ENOSPC (injected full disk)",
                ));
            }
            allowed = allowed.min(usize::try_from(left).unwrap_or(usize::MAX));
            state.bytes_left = Some(left - allowed as u64);
        }
        Ok(allowed)
    }
}

/// A [`FileSystem`] that injects the faults a [`Faults`] asks for into the
/// one it wraps.
#[derive(Debug, Clone)]
pub struct FaultyFs<F> {
    inner: F,
    faults: Faults,
}

impl<F: FileSystem> FaultyFs<F> {
    /// Wraps `inner`, injecting what `faults` asks for.
    pub fn new(inner: F, faults: Faults) -> Self {
        FaultyFs { inner, faults }
    }

    /// The wrapped file system.
    pub fn inner(&self) -> &F {
        &self.inner
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn FsFile>,
    faults: Faults,
}

impl FsFile for FaultyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let allowed = self.faults.before_write(buf.len())?;
        self.inner.write_at(&buf[..allowed], offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.faults.before_sync()?;
        self.inner.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl<F: FileSystem> FileSystem for FaultyFs<F> {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(FaultyFile {
            inner: self.inner.open(path)?,
            faults: self.faults.clone(),
        }))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(FaultyFile {
            inner: self.inner.create(path)?,
            faults: self.faults.clone(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.faults.before_sync()?;
        self.inner.sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimFs;
    use crate::fs::write_all_at;

    fn setup() -> (Faults, Arc<dyn FsFile>) {
        let faults = Faults::new();
        let fs = FaultyFs::new(SimFs::new(), faults.clone());
        fs.create_dir_all(Path::new("/d")).unwrap();
        let file = fs.create(Path::new("/d/f")).unwrap();
        (faults, file)
    }

    #[test]
    fn short_writes_are_completed_by_write_all() {
        let (faults, file) = setup();
        faults.short_writes(true);
        assert_eq!(file.write_at(b"abcd", 0).unwrap(), 2);
        write_all_at(&*file, b"hello world", 0).unwrap();
        let mut buf = [0; 11];
        crate::fs::read_exact_at(&*file, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"hello world");
        assert!(faults.injected() > 1);
    }

    #[test]
    fn full_disk_cuts_the_crossing_write_and_fails_the_next() {
        let (faults, file) = setup();
        faults.disk_full_after(3);
        assert_eq!(file.write_at(b"abcdef", 0).unwrap(), 3);
        let error = file.write_at(b"def", 3).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        let error = write_all_at(&*file, b"xyz", 3).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    }

    #[test]
    fn syncs_fail_after_the_allowed_number() {
        let (faults, file) = setup();
        faults.fail_syncs_after(2);
        assert!(file.sync_data().is_ok());
        assert!(file.sync_data().is_ok());
        assert!(file.sync_data().is_err());
        assert!(file.sync_data().is_err());
        faults.heal();
        assert!(file.sync_data().is_ok());
    }
}

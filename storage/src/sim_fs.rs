//! An in-memory file system that remembers what was synced, so a test can
//! "crash" it and see exactly what a real disk could have kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tessera_core::SeededRng;

use crate::fs::{FileSystem, FsFile};

/// The size of a disk sector: the unit a power loss tears writes at.
pub const SECTOR_BYTES: usize = 512;

/// What survives a [`SimFs::crash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashKind {
    /// Only what was synced: file data after its last `sync_data`, directory
    /// entries after their directory's last sync.
    SyncedOnly,
    /// A process crash (`kill -9`): the operating system's page cache
    /// survives, so every write that returned is kept — but directory
    /// entries still need no sync to survive, as on a real kernel.
    ProcessCrash,
    /// A power loss: synced state, plus a random subset of the unsynced
    /// writes, each possibly torn at sector boundaries, in any order, and
    /// extensions that kept their new length but not their data (zeros).
    PowerLoss {
        /// The seed choosing what survives.
        seed: u64,
    },
}

#[derive(Debug, Clone)]
enum Change {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    /// What reads see now.
    data: Vec<u8>,
    /// What survived the last `sync_data`.
    durable: Vec<u8>,
    /// Changes since the last `sync_data`, in order.
    unsynced: Vec<Change>,
}

#[derive(Debug, Default)]
struct SimState {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    /// The directory entries as they are now.
    names: BTreeMap<PathBuf, u64>,
    /// The directory entries that survive a crash.
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    syncs: u64,
}

/// An in-memory [`FileSystem`] with the durability semantics of a real disk,
/// for deterministic crash tests.
///
/// Clones share the same files. [`crash`](Self::crash) returns a new file
/// system holding what a crash would have left; handles into the old one
/// keep working on the old files, so a log still running on them cannot
/// disturb the "rebooted" one.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use tessera_storage::{CrashKind, FileSystem, SimFs};
///
/// let fs = SimFs::new();
/// fs.create_dir_all(Path::new("/d")).unwrap();
/// let file = fs.create(Path::new("/d/f")).unwrap();
/// file.write_at(b"synced", 0).unwrap();
/// file.sync_data().unwrap();
/// fs.sync_dir(Path::new("/d")).unwrap();
/// file.write_at(b" lost", 6).unwrap();
///
/// let rebooted = fs.crash(CrashKind::SyncedOnly);
/// assert_eq!(rebooted.read_file(Path::new("/d/f")).unwrap(), b"synced");
/// ```
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<SimState>>,
}

#[derive(Debug)]
struct SimFile {
    state: Arc<Mutex<SimState>>,
    inode: u64,
}

fn lock(state: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    // A test thread that panicked while holding the lock leaves consistent
    // data behind (every update is a single assignment); keep going.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    )
}

fn apply(data: &mut Vec<u8>, change: &Change) {
    match change {
        Change::Write { offset, bytes } => write_into(data, *offset, bytes),
        Change::SetLen(len) => data.resize(usize::try_from(*len).unwrap_or(usize::MAX), 0),
    }
}

fn write_into(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let end = start.saturating_add(bytes.len());
    if data.len() < end {
        data.resize(end, 0);
    }
    data[start..end].copy_from_slice(bytes);
}

impl SimFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// The file system a crash of kind `kind` would leave behind.
    pub fn crash(&self, kind: CrashKind) -> SimFs {
        let state = lock(&self.state);
        let mut rng = match kind {
            CrashKind::PowerLoss { seed } => Some(SeededRng::new(seed)),
            _ => None,
        };
        let names = match kind {
            CrashKind::ProcessCrash => state.names.clone(),
            CrashKind::SyncedOnly | CrashKind::PowerLoss { .. } => state.durable_names.clone(),
        };
        let mut inodes = HashMap::new();
        for inode_id in names.values() {
            if inodes.contains_key(inode_id) {
                continue;
            }
            let Some(inode) = state.inodes.get(inode_id) else {
                continue;
            };
            let data = match (&kind, rng.as_mut()) {
                (CrashKind::ProcessCrash, _) => inode.data.clone(),
                (_, Some(rng)) => torn(inode, rng),
                _ => inode.durable.clone(),
            };
            inodes.insert(
                *inode_id,
                Inode {
                    durable: data.clone(),
                    data,
                    unsynced: Vec::new(),
                },
            );
        }
        SimFs {
            state: Arc::new(Mutex::new(SimState {
                inodes,
                next_inode: state.next_inode,
                durable_names: names.clone(),
                names,
                dirs: state.dirs.clone(),
                syncs: 0,
            })),
        }
    }

    /// The current contents of the file at `path`, if it exists.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let state = lock(&self.state);
        let inode = state.names.get(path)?;
        state.inodes.get(inode).map(|inode| inode.data.clone())
    }

    /// Replaces the contents of the file at `path`, durably, as damage from
    /// outside would: for corruption tests. Creates the file if missing.
    pub fn overwrite_file(&self, path: &Path, bytes: &[u8]) {
        let mut state = lock(&self.state);
        let inode_id = match state.names.get(path) {
            Some(id) => *id,
            None => {
                let id = state.next_inode;
                state.next_inode += 1;
                state.names.insert(path.to_path_buf(), id);
                state.durable_names.insert(path.to_path_buf(), id);
                id
            }
        };
        let inode = state.inodes.entry(inode_id).or_default();
        inode.data = bytes.to_vec();
        inode.durable = bytes.to_vec();
        inode.unsynced.clear();
    }

    /// The paths of every file, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        lock(&self.state).names.keys().cloned().collect()
    }

    /// How many `sync_data` calls succeeded so far.
    pub fn syncs(&self) -> u64 {
        lock(&self.state).syncs
    }
}

/// Synced data plus a random selection of the unsynced changes, each
/// possibly torn at sector boundaries or zero-filled.
fn torn(inode: &Inode, rng: &mut SeededRng) -> Vec<u8> {
    let mut data = inode.durable.clone();
    for change in &inode.unsynced {
        match change {
            Change::SetLen(_) => {
                if rng.chance(0.5) {
                    apply(&mut data, change);
                }
            }
            Change::Write { offset, bytes } => match rng.below(4) {
                // Lost entirely.
                0 => {}
                // Kept entirely.
                1 => write_into(&mut data, *offset, bytes),
                // The length reached the disk but the data did not.
                2 => write_into(&mut data, *offset, &vec![0; bytes.len()]),
                // Torn: each sector independently kept or lost.
                _ => {
                    let mut start = 0;
                    while start < bytes.len() {
                        let sector_end = (((*offset as usize + start) / SECTOR_BYTES) + 1)
                            * SECTOR_BYTES
                            - *offset as usize;
                        let end = sector_end.min(bytes.len());
                        if rng.chance(0.5) {
                            write_into(&mut data, *offset + start as u64, &bytes[start..end]);
                        } else if data.len() < *offset as usize + end {
                            data.resize(*offset as usize + end, 0);
                        }
                        start = end;
                    }
                }
            },
        }
    }
    data
}

impl FsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let state = lock(&self.state);
        let inode = state
            .inodes
            .get(&self.inode)
            .ok_or_else(|| io::Error::other("stale file handle"))?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= inode.data.len() {
            return Ok(0);
        }
        let count = buf.len().min(inode.data.len() - start);
        buf[..count].copy_from_slice(&inode.data[start..start + count]);
        Ok(count)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let mut state = lock(&self.state);
        let inode = state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::other("stale file handle"))?;
        write_into(&mut inode.data, offset, buf);
        inode.unsynced.push(Change::Write {
            offset,
            bytes: buf.to_vec(),
        });
        Ok(buf.len())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = lock(&self.state);
        let inode = state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::other("stale file handle"))?;
        let changes = std::mem::take(&mut inode.unsynced);
        for change in &changes {
            apply(&mut inode.durable, change);
        }
        state.syncs += 1;
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = lock(&self.state);
        let inode = state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::other("stale file handle"))?;
        let change = Change::SetLen(len);
        apply(&mut inode.data, &change);
        inode.unsynced.push(change);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let state = lock(&self.state);
        let inode = state
            .inodes
            .get(&self.inode)
            .ok_or_else(|| io::Error::other("stale file handle"))?;
        Ok(inode.data.len() as u64)
    }
}

impl FileSystem for SimFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = lock(&self.state);
        for ancestor in dir.ancestors() {
            state.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = lock(&self.state);
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(state
            .names
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let state = lock(&self.state);
        let inode = *state.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(Arc::new(SimFile {
            state: Arc::clone(&self.state),
            inode,
        }))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let mut state = lock(&self.state);
        let parent = path.parent().unwrap_or(Path::new(""));
        if !state.dirs.contains(parent) {
            return Err(not_found(parent));
        }
        let inode = match state.names.get(path) {
            Some(inode) => {
                let inode = *inode;
                if let Some(data) = state.inodes.get_mut(&inode) {
                    let change = Change::SetLen(0);
                    apply(&mut data.data, &change);
                    data.unsynced.push(change);
                }
                inode
            }
            None => {
                let inode = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(inode, Inode::default());
                state.names.insert(path.to_path_buf(), inode);
                inode
            }
        };
        Ok(Arc::new(SimFile {
            state: Arc::clone(&self.state),
            inode,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = lock(&self.state);
        let inode = state.names.remove(from).ok_or_else(|| not_found(from))?;
        state.names.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = lock(&self.state);
        state.names.remove(path).ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        state
            .durable_names
            .retain(|path, _| path.parent() != Some(dir));
        for (path, inode) in &state.names {
            if path.parent() == Some(dir) {
                state.durable_names.insert(path.clone(), *inode);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (SimFs, Arc<dyn FsFile>) {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let file = fs.create(Path::new("/d/f")).unwrap();
        (fs, file)
    }

    // Rule: what was not synced does not survive a crash; what was, does.
    #[test]
    fn unsynced_data_and_names_are_lost() {
        let (fs, file) = setup();
        file.write_at(b"abc", 0).unwrap();
        // Not synced at all: neither the name nor the data survive.
        assert!(
            fs.crash(CrashKind::SyncedOnly)
                .read_file(Path::new("/d/f"))
                .is_none()
        );
        file.sync_data().unwrap();
        fs.sync_dir(Path::new("/d")).unwrap();
        file.write_at(b"def", 3).unwrap();
        let after = fs.crash(CrashKind::SyncedOnly);
        assert_eq!(after.read_file(Path::new("/d/f")).unwrap(), b"abc");
        // A process crash keeps the page cache.
        let after = fs.crash(CrashKind::ProcessCrash);
        assert_eq!(after.read_file(Path::new("/d/f")).unwrap(), b"abcdef");
    }

    // Rule: a rename is durable only after its directory is synced.
    #[test]
    fn renames_need_a_directory_sync() {
        let (fs, file) = setup();
        file.sync_data().unwrap();
        fs.sync_dir(Path::new("/d")).unwrap();
        fs.rename(Path::new("/d/f"), Path::new("/d/g")).unwrap();
        let after = fs.crash(CrashKind::SyncedOnly);
        assert_eq!(after.paths(), vec![PathBuf::from("/d/f")]);
        fs.sync_dir(Path::new("/d")).unwrap();
        let after = fs.crash(CrashKind::SyncedOnly);
        assert_eq!(after.paths(), vec![PathBuf::from("/d/g")]);
    }

    #[test]
    fn power_loss_keeps_synced_data_and_tears_the_rest() {
        let (fs, file) = setup();
        file.write_at(&[1; 1000], 0).unwrap();
        file.sync_data().unwrap();
        fs.sync_dir(Path::new("/d")).unwrap();
        file.write_at(&[2; 3000], 1000).unwrap();
        let mut lengths = BTreeSet::new();
        for seed in 0..64 {
            let after = fs.crash(CrashKind::PowerLoss { seed });
            let data = after.read_file(Path::new("/d/f")).unwrap();
            assert_eq!(&data[..1000], &[1; 1000][..], "seed {seed}");
            assert!(data[1000..].iter().all(|b| *b == 0 || *b == 2));
            lengths.insert(data.len());
        }
        assert!(lengths.len() > 1, "power loss should vary what survives");
    }
}

//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tessera_storage::{FileSystem, FsFile, SimFs};

/// A file system whose `sync_data` calls wait until the test opens the
/// gate: so a test can look at the log while a sync is in flight.
#[derive(Debug, Clone)]
pub struct GatedFs {
    inner: SimFs,
    gate: Arc<Gate>,
}

#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    /// Syncs waiting at the gate.
    waiting: usize,
    /// Syncs allowed through while closed.
    passes: usize,
}

impl GatedFs {
    pub fn new(inner: SimFs) -> Self {
        GatedFs {
            inner,
            gate: Arc::new(Gate::default()),
        }
    }

    pub fn sim(&self) -> &SimFs {
        &self.inner
    }

    /// From now on syncs wait.
    pub fn close_gate(&self) {
        self.gate.state.lock().expect("gate lock").closed = true;
    }

    /// Lets every waiting and future sync through.
    pub fn open_gate(&self) {
        self.gate.state.lock().expect("gate lock").closed = false;
        self.gate.changed.notify_all();
    }

    /// Lets exactly one sync through (waiting or future).
    pub fn pass_one(&self) {
        self.gate.state.lock().expect("gate lock").passes += 1;
        self.gate.changed.notify_all();
    }

    /// Blocks until `count` syncs wait at the gate.
    pub fn wait_for_waiters(&self, count: usize) {
        let mut state = self.gate.state.lock().expect("gate lock");
        while state.waiting < count {
            state = self.gate.changed.wait(state).expect("gate lock");
        }
    }

    fn pass(&self) {
        let mut state = self.gate.state.lock().expect("gate lock");
        state.waiting += 1;
        self.gate.changed.notify_all();
        while state.closed && state.passes == 0 {
            state = self.gate.changed.wait(state).expect("gate lock");
        }
        if state.closed {
            state.passes -= 1;
        }
        state.waiting -= 1;
        self.gate.changed.notify_all();
    }
}

#[derive(Debug)]
struct GatedFile {
    inner: Arc<dyn FsFile>,
    fs: GatedFs,
}

impl FsFile for GatedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.inner.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.fs.pass();
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl FileSystem for GatedFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(GatedFile {
            inner: self.inner.open(path)?,
            fs: self.clone(),
        }))
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(GatedFile {
            inner: self.inner.create(path)?,
            fs: self.clone(),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
}

/// Polls a future to completion on this thread, parking between polls: the
/// smallest executor, enough to show a ticket works without a runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

//! `WalSync`: the store's fsync thread, which never needs the GIL.
//!
//! Theory of operation (the Python side is `web4.store.group_commit`): the store commits
//! on the event loop with `synchronous=NORMAL`, so a `COMMIT` only writes the `-wal` file;
//! `commit()` counts it. A `durable()` asks for everything counted so far (`request`).
//! This object's thread fdatasyncs the `-wal` file on demand (someone asked, the store
//! closes, or the oldest commit nobody asked for is `idle_sync_s` old), one fsync for
//! every commit counted before it started, then publishes the new `synced` number and,
//! when someone asked, writes one byte to a wake fd (`web4_net::wake::Waker`) that the
//! event loop watches with `add_reader`; the loop's callback settles its futures. The
//! thread holds no GIL at any point: a Python thread doing the same waited 0.5-0.9 ms
//! per fsync to take the GIL back from the busy loop thread (bench_e2e).
//!
//! A failed fsync fails closed: the thread stops and `request` reports the failure
//! from then on. The `-wal` file replaced by SQLite (a new inode) is reopened and its
//! directory fsynced. The thread never opens the database or its `-shm` file: closing
//! any descriptor of a file drops the process's POSIX locks on it, SQLite's included.
//! Checkpoints stay in Python, on their own thread and connection, between two fsyncs
//! (`wait_checkpoint`: the `-wal` file passed `checkpoint_bytes` at a group's fsync; the
//! group's waiters are woken after it).
//!
//! Tests may pass `fsync`, a Python callable given the fd: the thread then takes the
//! GIL around that call only (a gate in a test). The product passes none.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use web4_net::wake::Waker;

/// `request`: everything counted so far is durable.
const DURABLE: i64 = -1;
/// `request`: the journal could not be fsynced (see `failure`); nothing is durable now.
const FAILED: i64 = -2;
/// `request`: the store is closing and these commits were not made durable.
const CLOSING: i64 = -3;
/// The longest the thread waits for a checkpoint (SQLite's busy timeout is 5 s).
const CHECKPOINT_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct State {
    committed: u64,
    synced: u64,
    /// The highest commit a `request` waits for.
    wanted: u64,
    /// When the oldest commit not yet synced was counted.
    pending_since: Option<Instant>,
    stopping: bool,
    finished: bool,
    error: Option<String>,
    fsyncs: u64,
    /// The `-wal` file passed `checkpoint_bytes` at an fsync: the checkpoint thread is
    /// asked to run one (`wait_checkpoint`), and does (`checkpoint_running`).
    checkpoint_due: bool,
    checkpoint_running: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The thread waits here for work.
    work: Condvar,
    /// `close` and `wait_checkpoint` wait here.
    changed: Condvar,
    waker: Waker,
    wal: PathBuf,
    idle: Duration,
    checkpoint_bytes: u64,
    /// Tests: called (with the GIL) instead of fdatasync.
    hook: Option<Py<PyAny>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `-wal` file's fsync thread of one store (see the module docs).
#[pyclass(frozen, module = "web4._core")]
#[derive(Debug)]
pub struct WalSync {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The last `synced` seen by the thread, for a lock-free read.
    synced: Arc<AtomicU64>,
}

#[pymethods]
impl WalSync {
    /// Start the thread for the `-wal` file at `wal_path`.
    ///
    /// Errors: `OSError` when the wake fd or the thread cannot be created.
    #[new]
    #[pyo3(signature = (wal_path, idle_sync_s, checkpoint_bytes, fsync=None))]
    fn new(
        wal_path: PathBuf,
        idle_sync_s: f64,
        checkpoint_bytes: u64,
        fsync: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let idle = Duration::try_from_secs_f64(idle_sync_s.max(0.0)).unwrap_or(Duration::MAX);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            changed: Condvar::new(),
            waker: Waker::new(1)?,
            wal: wal_path,
            idle,
            checkpoint_bytes,
            hook: fsync,
        });
        let synced = Arc::new(AtomicU64::new(0));
        let (sh, sy) = (Arc::clone(&shared), Arc::clone(&synced));
        let thread = std::thread::Builder::new()
            .name("web4-store-sync".into())
            .spawn(move || {
                // a bug (a panic) must fail closed like an fsync error, not leave every
                // durable() waiting on a thread that is gone
                let run = std::panic::AssertUnwindSafe(|| run(&sh, &sy));
                if std::panic::catch_unwind(run).is_err() {
                    let mut st = sh.lock();
                    st.error
                        .get_or_insert_with(|| "the store's fsync thread failed (a bug)".into());
                    st.finished = true;
                    drop(st);
                    sh.changed.notify_all();
                    sh.waker.wake();
                }
            })?;
        Ok(WalSync {
            shared,
            thread: Mutex::new(Some(thread)),
            synced,
        })
    }

    /// Count one commit (already written to the `-wal` file). Cheap: a mutex, and a
    /// notify for the first commit of a group (the thread starts its idle clock).
    fn commit(&self) {
        let mut st = self.shared.lock();
        if st.committed <= st.synced {
            st.pending_since = Some(Instant::now());
            self.shared.work.notify_one();
        }
        st.committed += 1;
    }

    /// Ask for every commit counted so far to be made durable. Returns `-1` (durable
    /// already), `-2` (the journal could not be fsynced: fail closed), `-3` (closing),
    /// or the commit number to wait for: the wake fd becomes readable once `synced`
    /// reaches it (or the thread fails or stops).
    fn request(&self) -> i64 {
        let mut st = self.shared.lock();
        if st.error.is_some() {
            return FAILED;
        }
        let target = st.committed;
        if st.synced >= target {
            return DURABLE;
        }
        if st.stopping || st.finished {
            return CLOSING;
        }
        if target > st.wanted {
            st.wanted = target;
            self.shared.work.notify_one();
        }
        i64::try_from(target).unwrap_or(i64::MAX)
    }

    /// Every commit up to this number is on disk.
    #[getter]
    fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// How many fsyncs covered the commits so far (diagnostics, tests).
    #[getter]
    fn fsyncs(&self) -> u64 {
        self.shared.lock().fsyncs
    }

    /// Why the journal could not be fsynced, once it could not (then for good).
    #[getter]
    fn failure(&self) -> Option<String> {
        self.shared.lock().error.clone()
    }

    /// The thread has stopped (closed, or failed).
    #[getter]
    fn finished(&self) -> bool {
        self.shared.lock().finished
    }

    /// The fd the event loop watches for readability; then `clear_wake`, then read
    /// `synced` and `failure`.
    fn wake_fd(&self) -> i32 {
        self.shared.waker.fd()
    }

    fn clear_wake(&self) {
        self.shared.waker.clear();
    }

    /// The checkpoint thread: its previous checkpoint (if any) is done; block (GIL
    /// released) until the `-wal` file has passed `checkpoint_bytes` at an fsync (True:
    /// run one, then call again), or the store is closing (False).
    fn wait_checkpoint(&self, py: Python<'_>) -> bool {
        py.detach(|| {
            let mut st = self.shared.lock();
            st.checkpoint_running = false;
            self.shared.changed.notify_all();
            loop {
                if st.stopping || st.finished {
                    return false;
                }
                if st.checkpoint_due {
                    st.checkpoint_due = false;
                    st.checkpoint_running = true;
                    return true;
                }
                st = self
                    .shared
                    .changed
                    .wait(st)
                    .unwrap_or_else(|e| e.into_inner());
            }
        })
    }

    /// Make every counted commit durable and stop the thread; wait up to `timeout`
    /// seconds (GIL released). Returns whether the thread has stopped.
    fn close(&self, py: Python<'_>, timeout: f64) -> bool {
        let limit = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        let stopped = py.detach(|| {
            let mut st = self.shared.lock();
            st.stopping = true;
            self.shared.work.notify_one();
            self.shared.changed.notify_all();
            let deadline = Instant::now().checked_add(limit);
            while !st.finished {
                let left = match deadline {
                    Some(d) => d.saturating_duration_since(Instant::now()),
                    None => Duration::from_secs(3600),
                };
                if left.is_zero() {
                    return false;
                }
                st = self
                    .shared
                    .changed
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            true
        });
        if stopped {
            let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(handle) = handle {
                // it has finished: this join returns at once
                py.detach(|| {
                    let _ = handle.join();
                });
            }
        }
        stopped
    }
}

impl Drop for WalSync {
    /// A store dropped unclosed: the thread makes what was counted durable and stops
    /// (not waited for).
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.stopping = true;
        self.shared.work.notify_one();
        self.shared.changed.notify_all();
    }
}

/// The thread: wait for work, fsync, publish, wake; until stopped or failed.
fn run(sh: &Shared, synced: &AtomicU64) {
    let mut wal: Option<(File, u64)> = None;
    loop {
        let (target, started) = {
            let mut st = sh.lock();
            loop {
                if st.stopping || st.wanted > st.synced {
                    break;
                }
                if st.committed <= st.synced {
                    st = sh.work.wait(st).unwrap_or_else(|e| e.into_inner());
                    continue;
                }
                // an idle_sync_s past Instant's range (inf): synced on demand only (a
                // plain `+` panicked and left every waiter hanging)
                let left = match st
                    .pending_since
                    .unwrap_or_else(Instant::now)
                    .checked_add(sh.idle)
                {
                    Some(due) => due.saturating_duration_since(Instant::now()),
                    None => Duration::MAX,
                };
                if left.is_zero() {
                    break;
                }
                st = sh
                    .work
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if st.committed <= st.synced {
                break; // stopping, nothing left
            }
            (st.committed, Instant::now())
        };
        match sync(sh, &mut wal) {
            Ok(size) => {
                let mut st = sh.lock();
                let asked = st.wanted > st.synced;
                st.synced = target;
                synced.store(target, Ordering::Release);
                st.fsyncs += 1;
                // commits counted during the fsync: their age counts from its start
                st.pending_since = Some(started);
                drop(st);
                // the checkpoint before the wake: the loop, its sends waiting for this
                // group, commits nothing meanwhile, so the checkpoint copies every frame
                // and the WAL is reset (woken first, the loop committed during nearly
                // every checkpoint: the WAL was never reset, a checkpoint before each
                // fsync). `synced` is out already: a durable() asking now returns at once.
                if size >= sh.checkpoint_bytes {
                    checkpoint(sh);
                }
                if asked {
                    sh.waker.wake();
                }
            }
            Err(e) => {
                sh.lock().error = Some(format!("the store could not fsync its journal: {e}"));
                break;
            }
        }
    }
    drop(wal);
    sh.lock().finished = true;
    sh.changed.notify_all();
    sh.waker.wake(); // the loop settles what is left (failed, or closed)
}

/// Have the checkpoint thread run one and wait for it (the waiters of the group are
/// woken after it): between two fsyncs, as a single writer thread would. A checkpoint
/// overlapped by commits leaves frames behind, and SQLite resets the `-wal` file (its
/// size the backlog again) only when a commit starts with every frame checkpointed;
/// commits racing a free-running checkpoint thread kept it from resetting (a checkpoint
/// after nearly every group again). Bounded: a checkpoint thread that does not answer
/// is not waited for past `CHECKPOINT_WAIT`, nor once the store is closing.
fn checkpoint(sh: &Shared) {
    let deadline = Instant::now() + CHECKPOINT_WAIT;
    let mut st = sh.lock();
    if st.checkpoint_due || st.checkpoint_running {
        return; // the last one is not done past CHECKPOINT_WAIT: no second wait
    }
    st.checkpoint_due = true;
    sh.changed.notify_all();
    while (st.checkpoint_due || st.checkpoint_running) && !st.stopping {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        st = sh
            .changed
            .wait_timeout(st, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// fsync the `-wal` file as it is now (a new one after SQLite replaced it: then its
/// directory entry too, as SQLite does for a new journal). Returns its size (the
/// backlog: the store runs with `journal_size_limit=0`, see `group_commit.py`).
fn sync(sh: &Shared, wal: &mut Option<(File, u64)>) -> std::io::Result<u64> {
    let meta = match std::fs::metadata(&sh.wal) {
        Ok(m) => m,
        // no WAL: the last checkpoint wrote everything to the database, synced
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if wal.as_ref().map(|(_, ino)| *ino) != Some(meta.ino()) {
        *wal = None;
        let file = File::open(&sh.wal)?;
        let ino = file.metadata()?.ino();
        *wal = Some((file, ino));
        let dir = sh.wal.parent().filter(|p| !p.as_os_str().is_empty());
        File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
    }
    let Some((file, _)) = wal.as_ref() else {
        return Ok(meta.len());
    };
    match &sh.hook {
        None => file.sync_data()?,
        Some(hook) => {
            use std::os::fd::AsRawFd;
            Python::attach(|py| hook.call1(py, (file.as_raw_fd(),)).map(drop))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
    }
    Ok(meta.len())
}

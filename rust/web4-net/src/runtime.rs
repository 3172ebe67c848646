//! Where a node's IO runs: one tokio runtime shared by every node of the process (the
//! default), or a runtime of the node's own.
//!
//! Theory of operation: a message between two nodes crosses threads at every hand-off,
//! and each cross-CPU wake of a parked thread costs tens of microseconds here. With one
//! IO thread per process, two nodes of one process talk without crossing threads at all
//! (the bytes one writes are read by the same thread), and the process has one thread
//! less to wake and to schedule on a small machine. The shared runtime has one worker
//! (`web4-rtt`), is built on first use and lives as long as the process; a process that
//! forks gets a fresh one in the child (a runtime's threads do not survive `fork`). A
//! node on the shared runtime stops by stopping its own tasks (`Node::shutdown`); a node
//! with its own runtime (`Config::own_runtime`, the earlier design, kept to measure
//! against) shuts the runtime down. Every runtime runs one [`IoSpin`] task.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use crate::spin::{mark_io_thread, IoSpin};
use crate::NetError;

/// A runtime to run a node's IO on.
#[derive(Debug)]
pub(crate) struct Io {
    pub(crate) handle: Handle,
    pub(crate) spin: Arc<IoSpin>,
    /// The node's own runtime (`None`: the process's shared one).
    pub(crate) own: Option<Runtime>,
}

/// The shared runtime, with the process id that built it.
struct SharedIo {
    pid: u32,
    handle: Handle,
    spin: Arc<IoSpin>,
}

static SHARED: Mutex<Option<SharedIo>> = Mutex::new(None);

fn build(spin: &Arc<IoSpin>) -> Result<Runtime, NetError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("web4-rtt")
        .on_thread_start(mark_io_thread)
        .enable_all()
        .build()
        .map_err(|e| NetError::Transport(format!("cannot start the runtime: {e}")))?;
    rt.spawn(spin.clone().run());
    Ok(rt)
}

impl Io {
    /// The process's shared runtime (built on first use), or a new one of the node's own.
    /// `spin_max` bounds the IO thread's spin; the shared runtime keeps the bound of the
    /// node that built it.
    ///
    /// Errors: `Transport` when the runtime cannot be built.
    pub(crate) fn get(own: bool, spin_max: Duration) -> Result<Io, NetError> {
        if own {
            let spin = IoSpin::new(spin_max);
            let rt = build(&spin)?;
            return Ok(Io {
                handle: rt.handle().clone(),
                spin,
                own: Some(rt),
            });
        }
        let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        if let Some(s) = g.as_ref().filter(|s| s.pid == pid) {
            return Ok(Io {
                handle: s.handle.clone(),
                spin: s.spin.clone(),
                own: None,
            });
        }
        let spin = IoSpin::new(spin_max);
        let rt = build(&spin)?;
        let handle = rt.handle().clone();
        // Lives as long as the process (its worker parks when there is nothing to do).
        std::mem::forget(rt);
        *g = Some(SharedIo {
            pid,
            handle: handle.clone(),
            spin: spin.clone(),
        });
        Ok(Io {
            handle,
            spin,
            own: None,
        })
    }
}

//! State shared by the driver task, the IO tasks and the application threads.
//!
//! Theory of operation: one `Shared` per node holds the session table (by id and by
//! peer), the accept queue, pending operations (listen, dial) with a condvar for blocking
//! waiters, node-wide counters and the command queue into the driver. Every collection in it is bounded by the number of live sessions or by an
//! explicit bound (accepts: 256; the command queue: 1024).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;
use web4_proto::session::{CloseReason, Role, Session as ProtoSession, SplitMix64};

use crate::config::Config;
use crate::driver::Command;
use crate::pump;
use crate::session::Session;
use crate::wake::Waker;
use crate::NetError;

pub(crate) type OpResult = Result<u64, NetError>;

/// State shared by the driver, the IO tasks and the application threads.
pub struct Shared {
    pub(crate) cfg: Config,
    pub(crate) waker: Arc<Waker>,
    pub(crate) cmd: mpsc::Sender<Command>,
    pub(crate) origin: Instant,
    pub(crate) rng: Mutex<SplitMix64>,
    pub(crate) sessions: Mutex<HashMap<u64, Arc<Session>>>,
    pub(crate) by_peer: Mutex<HashMap<PeerId, u64>>,
    pub(crate) accepted: Mutex<VecDeque<u64>>,
    /// Dial operations waiting for their session's OPEN to complete (several when the
    /// application dials the same peer again before the first dial finished).
    pub(crate) dial_ops: Mutex<HashMap<u64, Vec<u64>>>,
    pub(crate) ops: Mutex<HashMap<u64, Option<OpResult>>>,
    pub(crate) ops_cond: Condvar,
    pub(crate) next_id: AtomicU64,
    pub(crate) listen_addrs: Mutex<Vec<Multiaddr>>,
    /// Established connections: libp2p connection id -> (peer, the connection's number
    /// in its session). Written by the driver, and by a connection handler that hands
    /// its connection to a fresh listener session (in the connection's own task, so the
    /// driver sees the new number before it can see that connection close).
    pub(crate) conns: Mutex<HashMap<libp2p::swarm::ConnectionId, (PeerId, u64)>>,
    pub(crate) frames_rejected: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

const MAX_PENDING_ACCEPTS: usize = 256;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Send `c` to the driver from code that cannot wait (a connection handler): at
    /// once if the queue has room, else from a task, so that nothing is lost.
    pub fn command(&self, c: Command) {
        if let Err(mpsc::error::TrySendError::Full(c)) = self.cmd.try_send(c) {
            let cmd = self.cmd.clone();
            tokio::spawn(async move {
                let _ = cmd.send(c).await;
            });
        }
    }

    pub fn new_op(&self) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.ops).insert(id, None);
        id
    }

    pub fn finish_op(&self, op: u64, result: OpResult) {
        if let Some(slot) = lock(&self.ops).get_mut(&op) {
            *slot = Some(result);
        }
        self.ops_cond.notify_all();
        self.waker.wake();
    }

    /// The live session with `peer`, if any.
    pub fn session_of(&self, peer: &PeerId) -> Option<Arc<Session>> {
        let id = *lock(&self.by_peer).get(peer)?;
        self.session(id).filter(|s| !s.is_closed())
    }

    pub fn session(&self, id: u64) -> Option<Arc<Session>> {
        lock(&self.sessions).get(&id).cloned()
    }

    /// Create a session (dialler or listener), register it and start its pump.
    pub fn add_session(self: &Arc<Self>, peer: PeerId, role: Role) -> Arc<Session> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let now = self.origin.elapsed();
        let proto = {
            let mut rng = lock(&self.rng);
            match role {
                Role::Dialer => ProtoSession::new_dialer(self.cfg.session.clone(), now, &mut *rng),
                Role::Listener => {
                    ProtoSession::new_listener(self.cfg.session.clone(), now, &mut *rng)
                }
            }
        };
        let s = Arc::new(Session::new(
            id,
            peer,
            proto,
            self.origin,
            self.waker.clone(),
        ));
        lock(&self.sessions).insert(id, s.clone());
        let old = lock(&self.by_peer).insert(peer, id);
        if let Some(o) = old.filter(|o| *o != id).and_then(|o| self.session(o)) {
            o.close(CloseReason::PeerRestarted, "replaced by a new session");
        }
        tokio::spawn(pump::pump(self.clone(), s.clone()));
        s
    }

    /// The dialler restarted: replace listener session `old` by a fresh one on the
    /// same connection and return it.
    pub fn restart_listener(self: &Arc<Self>, old: &Arc<Session>) -> (Arc<Session>, u64) {
        let fresh = self.add_session(old.peer, Role::Listener);
        let conn = fresh.on_connected();
        (fresh, conn)
    }

    pub fn on_session_open(&self, s: &Arc<Session>) {
        let ops = lock(&self.dial_ops).remove(&s.id).unwrap_or_default();
        if s.dialer || !ops.is_empty() {
            // A dialler's session, or a listener that answered our own simultaneous dial
            // (`driver.rs`): it belongs to whoever dialled, not to the accept queue.
            for op in ops {
                self.finish_op(op, Ok(s.id));
            }
        } else {
            let mut q = lock(&self.accepted);
            if q.len() < MAX_PENDING_ACCEPTS {
                q.push_back(s.id);
            } else {
                drop(q);
                s.close(CloseReason::Shutdown, "accept queue full");
            }
            self.ops_cond.notify_all();
            self.waker.wake();
        }
    }

    pub fn on_session_close(&self, s: &Arc<Session>, reason: &str) {
        let ops = lock(&self.dial_ops).remove(&s.id).unwrap_or_default();
        if ops.is_empty() {
            return;
        }
        let err = if reason == "shutdown" {
            NetError::Transport("the transport shut down".into())
        } else {
            NetError::Transport(format!("session closed before it opened: {reason}"))
        };
        for op in ops {
            self.finish_op(op, Err(err.clone()));
        }
    }

    /// Make `op` finish when `session` opens (or fails to).
    pub fn add_dial_op(&self, session: u64, op: u64) {
        lock(&self.dial_ops).entry(session).or_default().push(op);
    }

    /// Take the dial operations waiting for `session` (to move them to another).
    pub fn take_dial_ops(&self, session: u64) -> Vec<u64> {
        lock(&self.dial_ops).remove(&session).unwrap_or_default()
    }

    /// True while a dial operation waits for `session` to open.
    pub fn dial_pending(&self, session: u64) -> bool {
        lock(&self.dial_ops).contains_key(&session)
    }

    /// Fail the dial operations of `session`, if still pending; true if there were any.
    pub fn fail_dial(&self, session: u64, err: NetError) -> bool {
        let ops = lock(&self.dial_ops).remove(&session).unwrap_or_default();
        for op in &ops {
            self.finish_op(*op, Err(err.clone()));
        }
        !ops.is_empty()
    }

    /// A closed session no longer answers for its peer and leaves the session table
    /// (the application's handles keep it alive for stats and unacked messages).
    pub fn forget_session(&self, s: &Session) {
        {
            let mut bp = lock(&self.by_peer);
            if bp.get(&s.peer) == Some(&s.id) {
                bp.remove(&s.peer);
            }
        }
        lock(&self.sessions).remove(&s.id);
    }

    pub fn all_sessions(&self) -> Vec<Arc<Session>> {
        lock(&self.sessions).values().cloned().collect()
    }
}

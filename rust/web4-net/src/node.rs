//! The node: a tokio runtime, the swarm task, and the application-facing calls.
//!
//! Theory of operation: [`Node::new`] builds a two-worker tokio runtime and the swarm,
//! registers the three channel protocols and spawns the driver task (`driver.rs`).
//! Application calls never block a tokio thread: they either enqueue a command for the
//! driver (listen, dial, disconnect) and get an *operation id* back, or touch the shared
//! session queues directly. Operations finish in [`Shared::ops`]; callers poll them
//! (`poll_op`, used by asyncio after a wake-up) or wait on them (`wait_op`, blocking).
//! [`Node::shutdown`] closes every session, stops the driver and the runtime.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::driver::{self, Command};
use crate::keys;
use crate::session::Session;
use crate::wake::Waker;
use crate::NetError;

/// Node-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub frames_rejected: u64,
    pub handshake_failures: u64,
    pub events_dropped: u64,
    pub sessions: u64,
}

type OpResult = Result<u64, NetError>;

/// State shared by the driver, the IO tasks and the application threads.
#[derive(Debug)]
pub struct Shared {
    pub cfg: Config,
    pub waker: Arc<Waker>,
    sessions: Mutex<HashMap<u64, Arc<Session>>>,
    by_peer: Mutex<HashMap<PeerId, u64>>,
    accepted: Mutex<VecDeque<u64>>,
    ops: Mutex<HashMap<u64, Option<OpResult>>>,
    ops_cond: Condvar,
    next_id: AtomicU64,
    create_lock: Mutex<()>,
    pub listen_addrs: Mutex<Vec<Multiaddr>>,
    pub frames_rejected: AtomicU64,
    pub handshake_failures: AtomicU64,
}

const MAX_PENDING_ACCEPTS: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn new(cfg: Config, waker: Arc<Waker>) -> Self {
        Shared {
            cfg,
            waker,
            sessions: Mutex::default(),
            by_peer: Mutex::default(),
            accepted: Mutex::default(),
            ops: Mutex::default(),
            ops_cond: Condvar::new(),
            next_id: AtomicU64::new(1),
            create_lock: Mutex::new(()),
            listen_addrs: Mutex::default(),
            frames_rejected: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
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

    /// The open session with `peer`, if any.
    pub fn session_of(&self, peer: &PeerId) -> Option<Arc<Session>> {
        let id = *lock(&self.by_peer).get(peer)?;
        self.session(id).filter(|s| !s.is_closed())
    }

    pub fn session(&self, id: u64) -> Option<Arc<Session>> {
        lock(&self.sessions).get(&id).cloned()
    }

    /// The open session with `peer`, or a new listener-side one (then `true`).
    pub fn session_or_accept(&self, peer: PeerId) -> (Arc<Session>, bool) {
        let _guard = lock(&self.create_lock);
        match self.session_of(&peer) {
            Some(s) => (s, false),
            None => (self.add_session(peer, false), true),
        }
    }

    /// Register a new session with `peer`; the listener side queues it for `accept`.
    pub fn add_session(&self, peer: PeerId, dialer: bool) -> Arc<Session> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let s = Arc::new(Session::new(
            id,
            peer,
            dialer,
            &self.cfg,
            self.waker.clone(),
        ));
        lock(&self.sessions).insert(id, s.clone());
        let old = lock(&self.by_peer).insert(peer, id);
        if let Some(o) = old.and_then(|old| self.session(old)) {
            o.close("peer_restarted");
        }
        if !dialer {
            let mut q = lock(&self.accepted);
            if q.len() < MAX_PENDING_ACCEPTS {
                q.push_back(id);
            } else {
                s.close("accept_queue_full");
            }
        }
        self.waker.emit(
            "session_open",
            vec![("session", id.to_string()), ("peer", peer.to_base58())],
        );
        s
    }

    /// Forget a closed session.
    pub fn remove_session(&self, id: u64) {
        if let Some(s) = lock(&self.sessions).remove(&id) {
            let mut bp = lock(&self.by_peer);
            if bp.get(&s.peer) == Some(&id) {
                bp.remove(&s.peer);
            }
        }
    }

    pub fn all_sessions(&self) -> Vec<Arc<Session>> {
        lock(&self.sessions).values().cloned().collect()
    }
}

/// An RTT node endpoint.
#[derive(Debug)]
pub struct Node {
    runtime: Option<tokio::runtime::Runtime>,
    cmd: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    peer_id: PeerId,
}

impl Node {
    /// Build a node from a 32-byte Ed25519 seed.
    ///
    /// Errors: `Config` for a bad seed or configuration; `Transport` when the runtime
    /// or the swarm cannot be built.
    pub fn new(seed: &[u8], cfg: Config) -> Result<Node, NetError> {
        cfg.validate()?;
        let keypair = keys::keypair_from_seed(seed)?;
        let peer_id = keypair.public().to_peer_id();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("web4-rtt")
            .enable_all()
            .build()
            .map_err(|e| NetError::Transport(format!("cannot start the runtime: {e}")))?;
        let waker = Arc::new(
            Waker::new(cfg.max_events)
                .map_err(|e| NetError::Transport(format!("cannot create the wake fd: {e}")))?,
        );
        let shared = Arc::new(Shared::new(cfg, waker));
        let (tx, rx) = mpsc::channel(256);
        driver::start(&runtime, keypair, shared.clone(), rx, tx.clone())?;
        Ok(Node {
            runtime: Some(runtime),
            cmd: tx,
            shared,
            peer_id,
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn command(&self, c: Command) -> Result<(), NetError> {
        self.cmd
            .try_send(c)
            .map_err(|_| NetError::Transport("the transport is shut down or overloaded".into()))
    }

    /// Start listening; returns an operation id that finishes with 0 once bound.
    ///
    /// Errors: `Config` for an unparsable multiaddr; `Transport` after shutdown.
    pub fn listen(&self, addr: &str) -> Result<u64, NetError> {
        let addr: Multiaddr = addr
            .parse()
            .map_err(|e| NetError::Config(format!("bad multiaddr {addr:?}: {e}")))?;
        let op = self.shared.new_op();
        self.command(Command::Listen(addr, op))?;
        Ok(op)
    }

    /// Dial `/ip4/…/tcp/…/p2p/<peer-id>`; the operation finishes with the session id.
    ///
    /// Errors: `Config` for an unparsable address or one without `/p2p/<peer-id>`;
    /// `Transport` after shutdown. The operation itself fails with `Handshake` when the
    /// peer's key does not match, `Transport` when the peer is unreachable.
    pub fn dial(&self, addr: &str) -> Result<u64, NetError> {
        let addr: Multiaddr = addr
            .parse()
            .map_err(|e| NetError::Config(format!("bad multiaddr {addr:?}: {e}")))?;
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            return Err(NetError::Config(format!(
                "{addr} does not end with /p2p/<peer-id>; the peer's key must be known"
            )));
        };
        if peer == self.peer_id {
            return Err(NetError::Config("refusing to dial ourselves".into()));
        }
        let op = self.shared.new_op();
        self.command(Command::Dial(peer, addr, op))?;
        Ok(op)
    }

    /// The result of an operation if it has finished (then it is forgotten).
    ///
    /// Errors: the operation's own error; `Config` for an unknown id.
    pub fn poll_op(&self, op: u64) -> Result<Option<u64>, NetError> {
        let mut ops = lock(&self.shared.ops);
        match ops.get(&op) {
            None => Err(NetError::Config(format!("unknown operation {op}"))),
            Some(None) => Ok(None),
            Some(Some(_)) => match ops.remove(&op).flatten() {
                Some(r) => r.map(Some),
                None => Ok(None),
            },
        }
    }

    /// Wait up to `timeout` for an operation.
    ///
    /// Errors: the operation's own error; `Timeout` when it does not finish in time.
    pub fn wait_op(&self, op: u64, timeout: Duration) -> Result<u64, NetError> {
        let deadline = Instant::now() + timeout;
        let mut ops = lock(&self.shared.ops);
        loop {
            match ops.get(&op) {
                None => return Err(NetError::Config(format!("unknown operation {op}"))),
                Some(Some(_)) => {
                    return ops.remove(&op).flatten().unwrap_or(Ok(0));
                }
                Some(None) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                ops.remove(&op);
                return Err(NetError::Timeout(format!(
                    "operation did not finish in {timeout:?}"
                )));
            }
            ops = self
                .shared
                .ops_cond
                .wait_timeout(ops, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Drop interest in an unfinished operation.
    pub fn cancel_op(&self, op: u64) {
        lock(&self.shared.ops).remove(&op);
    }

    /// The next session a peer opened to us, if any.
    pub fn try_accept(&self) -> Option<u64> {
        lock(&self.shared.accepted).pop_front()
    }

    /// Errors: `Transport` for an unknown or forgotten session id.
    pub fn session(&self, id: u64) -> Result<Arc<Session>, NetError> {
        self.shared
            .session(id)
            .ok_or_else(|| NetError::Transport(format!("no session {id}")))
    }

    /// Close a session: the peer's connection is dropped and the session forgotten.
    pub fn close_session(&self, id: u64, reason: &str) {
        if let Some(s) = self.shared.session(id) {
            s.close(reason);
            let _ = self.command(Command::Disconnect(s.peer));
            self.shared.waker.emit(
                "session_close",
                vec![("session", id.to_string()), ("reason", reason.to_string())],
            );
            self.shared.remove_session(id);
        }
    }

    /// Listening addresses, each ending with `/p2p/<our peer id>`.
    pub fn listen_addrs(&self) -> Vec<String> {
        lock(&self.shared.listen_addrs)
            .iter()
            .map(|a| a.clone().with(Protocol::P2p(self.peer_id)).to_string())
            .collect()
    }

    pub fn stats(&self) -> NodeStats {
        NodeStats {
            frames_rejected: self.shared.frames_rejected.load(Ordering::Relaxed),
            handshake_failures: self.shared.handshake_failures.load(Ordering::Relaxed),
            events_dropped: self.shared.waker.events_dropped(),
            sessions: lock(&self.shared.sessions).len() as u64,
        }
    }

    /// Close every session, stop the swarm and the runtime (bounded by one second).
    pub fn shutdown(&mut self) {
        let Some(rt) = self.runtime.take() else {
            return;
        };
        for s in self.shared.all_sessions() {
            s.close("shutdown");
        }
        let _ = self.cmd.try_send(Command::Shutdown);
        rt.shutdown_timeout(Duration::from_secs(1));
        self.shared.waker.wake();
    }

    pub fn is_shut_down(&self) -> bool {
        self.runtime.is_none()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

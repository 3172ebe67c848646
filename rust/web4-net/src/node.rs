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

use web4_proto::session::{CloseReason, Role, Session as ProtoSession, SplitMix64};

use crate::config::Config;
use crate::driver::{self, Command};
use crate::keys;
use crate::session::Session;
use crate::streams;
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
pub struct Shared {
    pub cfg: Config,
    pub waker: Arc<Waker>,
    pub(crate) cmd: mpsc::Sender<Command>,
    pub(crate) control: libp2p_stream::Control,
    origin: Instant,
    rng: Mutex<SplitMix64>,
    sessions: Mutex<HashMap<u64, Arc<Session>>>,
    by_peer: Mutex<HashMap<PeerId, u64>>,
    accepted: Mutex<VecDeque<u64>>,
    /// Dial operations waiting for their session's OPEN to complete.
    dial_ops: Mutex<HashMap<u64, u64>>,
    ops: Mutex<HashMap<u64, Option<OpResult>>>,
    ops_cond: Condvar,
    next_id: AtomicU64,
    pub listen_addrs: Mutex<Vec<Multiaddr>>,
    pub frames_rejected: AtomicU64,
    pub handshake_failures: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

const MAX_PENDING_ACCEPTS: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
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

    /// Emit an event about session `s`.
    pub fn emit(&self, s: &Session, name: &'static str, mut fields: Vec<(&'static str, String)>) {
        fields.insert(0, ("session", s.id.to_string()));
        fields.insert(1, ("peer", s.peer.to_base58()));
        self.waker.emit(name, fields);
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
        tokio::spawn(streams::pump(self.clone(), s.clone()));
        s
    }

    /// The dialler restarted: replace listener session `old` by a fresh one on the
    /// same connection and return it.
    pub fn restart_listener(self: &Arc<Self>, old: &Arc<Session>) -> (Arc<Session>, u64) {
        let fresh = self.add_session(old.peer, Role::Listener);
        let conn = fresh.on_connected();
        streams::spawn_writers(self, &fresh, conn);
        (fresh, conn)
    }

    pub fn on_session_open(&self, s: &Arc<Session>) {
        if s.dialer {
            if let Some(op) = lock(&self.dial_ops).remove(&s.id) {
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
        if let Some(op) = lock(&self.dial_ops).remove(&s.id) {
            let err = if reason == "shutdown" {
                NetError::Transport("the transport shut down".into())
            } else {
                NetError::Transport(format!("session closed before it opened: {reason}"))
            };
            self.finish_op(op, Err(err));
        }
    }

    pub fn set_dial_op(&self, session: u64, op: u64) {
        lock(&self.dial_ops).insert(session, op);
    }

    /// Fail the dial operation of `session`, if still pending; true if there was one.
    pub fn fail_dial(&self, session: u64, err: NetError) -> bool {
        match lock(&self.dial_ops).remove(&session) {
            Some(op) => {
                self.finish_op(op, Err(err));
                true
            }
            None => false,
        }
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

/// An RTT node endpoint.
#[derive(Debug)]
pub struct Node {
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
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
        let (tx, rx) = mpsc::channel(1024);
        let swarm = driver::build_swarm(&runtime, keypair, &cfg)?;
        let control = swarm.behaviour().control();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()) << 32;
        let shared = Arc::new(Shared {
            cfg,
            waker,
            cmd: tx.clone(),
            control,
            origin: Instant::now(),
            rng: Mutex::new(SplitMix64::new(seed)),
            sessions: Mutex::default(),
            by_peer: Mutex::default(),
            accepted: Mutex::default(),
            dial_ops: Mutex::default(),
            ops: Mutex::default(),
            ops_cond: Condvar::new(),
            next_id: AtomicU64::new(1),
            listen_addrs: Mutex::default(),
            frames_rejected: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
        });
        driver::start(&runtime, swarm, shared.clone(), rx)?;
        Ok(Node {
            runtime: Mutex::new(Some(runtime)),
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
        let mut q = lock(&self.shared.accepted);
        // Skip sessions that closed before the application took them.
        while let Some(id) = q.pop_front() {
            if self.shared.session(id).is_some() {
                return Some(id);
            }
        }
        None
    }

    /// Wait up to `timeout` for a session a peer opened to us.
    pub fn accept_wait(&self, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.try_accept() {
                return Some(id);
            }
            let now = Instant::now();
            if now >= deadline || self.is_shut_down() {
                return None;
            }
            // Accepts notify `ops_cond` too; wake at least every 50 ms regardless.
            let ops = lock(&self.shared.ops);
            let wait = (deadline - now).min(Duration::from_millis(50));
            let _ = self.shared.ops_cond.wait_timeout(ops, wait);
        }
    }

    /// Errors: `Transport` for an unknown or forgotten session id.
    pub fn session(&self, id: u64) -> Result<Arc<Session>, NetError> {
        self.shared
            .session(id)
            .ok_or_else(|| NetError::Transport(format!("no session {id}")))
    }

    /// Close a session (CLOSE goes to the peer, then the connection is dropped) and
    /// forget it. Unknown ids are ignored.
    pub fn close_session(&self, id: u64) {
        if let Some(s) = lock(&self.shared.sessions).remove(&id) {
            s.close(CloseReason::Normal, "closed by the application");
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
    pub fn shutdown(&self) {
        let Some(rt) = lock(&self.runtime).take() else {
            return;
        };
        let sessions = self.shared.all_sessions();
        for s in &sessions {
            s.close(CloseReason::Shutdown, "the transport shut down");
        }
        if !sessions.is_empty() {
            // Let the writers put CLOSE on the wire (bounded).
            std::thread::sleep(Duration::from_millis(50));
        }
        lock(&self.shared.sessions).clear();
        let _ = self.cmd.try_send(Command::Shutdown);
        rt.shutdown_timeout(Duration::from_secs(1));
        self.shared.waker.wake();
    }

    pub fn is_shut_down(&self) -> bool {
        lock(&self.runtime).is_none()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

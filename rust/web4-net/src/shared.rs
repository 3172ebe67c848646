//! State shared by the driver task, the session pumps and the application threads.
//!
//! Theory of operation: one `Shared` per node holds the [`Endpoint`] (every session of
//! the node and every decision across sessions and connections: `web4_proto`), the
//! pending operations (listen, dial) with a condvar for blocking waiters, node-wide
//! counters and the command queue into the driver. Connection tasks never touch it:
//! their handlers talk to the driver only through libp2p events (`handler.rs`). Lock
//! order: the endpoint before a session, never the other way round. Every collection is
//! bounded by the number of live sessions or by an explicit bound (accepts: 256, in the
//! endpoint; the command queue: 1024).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;
use web4_proto::session::{
    ChannelKind, CloseReason, ConnNumber, Endpoint, EndpointEvent, EndpointSession, OpId, Role,
    SessionError, SessionHandle,
};

use crate::config::Config;
use crate::discovery::Book;
use crate::driver::Command;
use crate::pump;
use crate::session::Session;
use crate::wake::Waker;
use crate::NetError;

pub(crate) type OpResult = Result<u64, NetError>;

/// The node's endpoint: peers by PeerId, connections by libp2p's id.
pub(crate) type NodeEndpoint = Endpoint<PeerId, ConnectionId, SessionRef>;

/// A session as the endpoint owns it: shared with the application and IO tasks.
#[derive(Debug, Clone)]
pub(crate) struct SessionRef(pub(crate) Arc<Session>);

impl std::ops::Deref for SessionRef {
    type Target = Arc<Session>;

    fn deref(&self) -> &Arc<Session> {
        &self.0
    }
}

/// What the driver's swarm must do after an endpoint call (the rest, finishing
/// operations and starting pumps, `Shared::carry_out` does itself).
#[derive(Debug)]
pub(crate) enum SwarmAction {
    Attach {
        conn: ConnectionId,
        session: Arc<Session>,
        number: ConnNumber,
    },
    Close(ConnectionId),
}

/// State shared by the driver, the session pumps and the application threads.
pub struct Shared {
    pub(crate) cfg: Config,
    pub(crate) waker: Arc<Waker>,
    pub(crate) cmd: mpsc::Sender<Command>,
    pub(crate) origin: Instant,
    pub(crate) endpoint: Mutex<NodeEndpoint>,
    pub(crate) ops: Mutex<HashMap<OpId, Option<OpResult>>>,
    pub(crate) ops_cond: Condvar,
    pub(crate) next_op: AtomicU64,
    pub(crate) listen_addrs: Mutex<Vec<Multiaddr>>,
    /// The addresses peers told us (identify) they see us at, newest last, distinct.
    pub(crate) observed_addrs: Mutex<VecDeque<Multiaddr>>,
    pub(crate) frames_rejected: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    /// Connections refused by the connection caps (`limits.rs`).
    pub(crate) connections_denied: Arc<crate::limits::Denials>,
    pub(crate) gossip: crate::gossip::GossipState,
    /// Discovered peers (mDNS, Kademlia), bounded (`discovery.rs`).
    pub(crate) book: Mutex<Book>,
    /// Times libp2p-mdns's own table passed its cap and was rebuilt empty.
    pub(crate) mdns_resets: AtomicU64,
    /// Relay policy and counters (`relay.rs`).
    pub(crate) relay: Arc<crate::relay::RelayState>,
    /// Whether each session's current connection is relayed, by session id.
    pub(crate) paths: Mutex<HashMap<u64, bool>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Observed addresses kept (a NAT or a multi-homed host shows a few).
const MAX_OBSERVED_ADDRS: usize = 8;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EndpointSession for SessionRef {
    fn role(&self) -> Role {
        if self.dialer {
            Role::Dialer
        } else {
            Role::Listener
        }
    }
    fn is_closed(&self) -> bool {
        Session::is_closed(self)
    }
    fn is_opened(&self) -> bool {
        self.lock().proto.is_opened()
    }
    fn restarted_by_open(&self) -> bool {
        self.lock().proto.restarted_by_open()
    }
    fn on_connected(&mut self, _now: Duration) -> ConnNumber {
        Session::on_connected(self)
    }
    fn on_connection_lost(&mut self, conn: ConnNumber, _now: Duration) {
        Session::on_connection_lost(self, conn);
    }
    fn on_dial_failed(&mut self, _now: Duration) {
        Session::on_dial_failed(self);
    }
    fn close(&mut self, reason: CloseReason, text: &str) {
        Session::close(self, reason, text);
    }
    fn handle_frame(
        &mut self,
        conn: ConnNumber,
        kind: ChannelKind,
        frame: &Bytes,
        _now: Duration,
    ) -> Result<(), SessionError> {
        Session::handle_frame(self, conn, kind, frame).map(|_| ())
    }
}

impl Shared {
    /// A new endpoint whose sessions report to `waker` (the clock is `origin`).
    pub(crate) fn endpoint(
        local: PeerId,
        cfg: &Config,
        seed: u64,
        origin: Instant,
        waker: Arc<Waker>,
    ) -> NodeEndpoint {
        Endpoint::new(local, cfg.session.clone(), seed, move |h, peer, proto| {
            SessionRef(Arc::new(Session::new(
                h,
                *peer,
                proto,
                origin,
                waker.clone(),
            )))
        })
    }

    /// Send `c` to the driver from code that cannot wait.
    ///
    /// Errors: `Backpressure` when the driver's queue (1024 commands) is full, and
    /// `Transport` when the driver is gone (shutting down). Nothing is queued elsewhere.
    pub fn command(&self, c: Command) -> Result<(), NetError> {
        self.cmd.try_send(c).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => NetError::Backpressure(
                "the transport's command queue is full (1024 commands): try again".into(),
            ),
            mpsc::error::TrySendError::Closed(_) => {
                NetError::Transport("the transport shut down".into())
            }
        })
    }

    pub fn new_op(&self) -> OpId {
        let id = OpId(self.next_op.fetch_add(1, Ordering::Relaxed));
        lock(&self.ops).insert(id, None);
        id
    }

    pub fn finish_op(&self, op: OpId, result: OpResult) {
        if let Some(slot) = lock(&self.ops).get_mut(&op) {
            *slot = Some(result);
        }
        self.ops_cond.notify_all();
        self.waker.wake();
    }

    /// A peer sees us at `addr` (identify): keep the last few distinct ones.
    pub(crate) fn observed(&self, addr: Multiaddr) {
        let mut seen = lock(&self.observed_addrs);
        seen.retain(|a| *a != addr);
        seen.push_back(addr);
        while seen.len() > MAX_OBSERVED_ADDRS {
            seen.pop_front();
        }
    }

    pub(crate) fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Run `f` on the endpoint, then carry out its events: operations finish, new
    /// sessions get their pump, accepts wake waiters. Returns `f`'s result and what the
    /// swarm must do (only the driver task asks for calls that produce those).
    pub(crate) fn with_endpoint<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut NodeEndpoint, Duration) -> R,
    ) -> (R, Vec<SwarmAction>) {
        let now = self.now();
        let mut ep = lock(&self.endpoint);
        let r = f(&mut ep, now);
        let mut events = Vec::new();
        while let Some(e) = ep.poll_event() {
            let session = |h: SessionHandle| ep.session(h).map(|s| s.0.clone());
            events.push(match e {
                EndpointEvent::Created(h) => (e, session(h)),
                EndpointEvent::Attach { session: h, .. } => (e, session(h)),
                other => (other, None),
            });
        }
        drop(ep);
        let mut actions = Vec::new();
        for (e, s) in events {
            match e {
                EndpointEvent::Created(_) => {
                    if let Some(s) = s {
                        tokio::spawn(pump::pump(self.clone(), s));
                    }
                }
                EndpointEvent::Attach { conn, number, .. } => {
                    if let Some(session) = s {
                        actions.push(SwarmAction::Attach {
                            conn,
                            session,
                            number,
                        });
                    }
                }
                EndpointEvent::CloseConnection(c) => actions.push(SwarmAction::Close(c)),
                EndpointEvent::OpDone { op, result } => self.finish_op(
                    op,
                    result
                        .map(|h| h.0)
                        .map_err(|f| NetError::Transport(f.to_string())),
                ),
                EndpointEvent::Accepted(_) => {
                    self.ops_cond.notify_all();
                    self.waker.wake();
                }
            }
        }
        (r, actions)
    }

    /// The live session with `peer`, if any.
    pub fn session_of(&self, peer: &PeerId) -> Option<Arc<Session>> {
        let ep = lock(&self.endpoint);
        ep.session_of(peer)
            .and_then(|h| ep.session(h).map(|s| s.0.clone()))
    }

    pub fn session(&self, id: u64) -> Option<Arc<Session>> {
        lock(&self.endpoint)
            .session(SessionHandle(id))
            .map(|s| s.0.clone())
    }

    /// The next session a peer opened to us that is still there.
    pub fn accept(&self) -> Option<u64> {
        let mut ep = lock(&self.endpoint);
        while let Some(h) = ep.accept() {
            if ep.session(h).is_some() {
                return Some(h.0);
            }
        }
        None
    }

    /// Session `s` opened: its dial operations finish, or it joins the accept queue.
    pub(crate) fn on_session_open(self: &Arc<Self>, s: &Session) {
        let _ = self.with_endpoint(|ep, _| ep.session_opened(s.handle()));
    }

    /// Session `s` ended: dial operations still waiting for it fail.
    pub(crate) fn on_session_close(self: &Arc<Self>, s: &Session, reason: CloseReason) {
        let _ = self.with_endpoint(|ep, _| ep.session_closed(s.handle(), reason));
    }

    /// A closed session leaves the endpoint (the application's handles keep it alive
    /// for stats and unacked messages).
    pub(crate) fn forget_session(self: &Arc<Self>, s: &Session) {
        let _ = self.with_endpoint(|ep, _| ep.forget(s.handle()));
        lock(&self.paths).remove(&s.id);
    }

    /// Session `s` is now carried by a relayed (`true`) or direct connection: recorded,
    /// and reported (`connection_path`) when a relay is involved: the session starts
    /// relayed, or changes path (a session direct from the start, the common case, says
    /// nothing).
    pub(crate) fn set_path(&self, s: &Session, relayed: bool) {
        let before = lock(&self.paths).insert(s.id, relayed);
        if before != Some(relayed) && (relayed || before.is_some()) {
            s.emit(
                "connection_path",
                vec![("path", if relayed { "relayed" } else { "direct" }.into())],
            );
        }
    }

    /// Whether session `id`'s current connection is relayed (`None`: never connected).
    pub fn relayed(&self, id: u64) -> Option<bool> {
        lock(&self.paths).get(&id).copied()
    }

    pub fn all_sessions(&self) -> Vec<Arc<Session>> {
        lock(&self.endpoint)
            .sessions()
            .map(|(_, s)| s.0.clone())
            .collect()
    }

    /// Sessions the endpoint still has.
    pub fn session_count(&self) -> usize {
        lock(&self.endpoint).sessions().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(capacity: usize) -> (Shared, mpsc::Receiver<Command>) {
        let cfg = Config::default();
        let waker = Arc::new(Waker::new(16).unwrap());
        let (tx, rx) = mpsc::channel(capacity);
        let origin = Instant::now();
        let local = PeerId::random();
        let endpoint = Shared::endpoint(local, &cfg, 1, origin, waker.clone());
        let gossip = crate::gossip::GossipState::new(&cfg.gossip);
        let s = Shared {
            gossip,
            cfg,
            waker,
            cmd: tx,
            origin,
            endpoint: Mutex::new(endpoint),
            ops: Mutex::default(),
            ops_cond: Condvar::new(),
            next_op: AtomicU64::new(1),
            listen_addrs: Mutex::default(),
            observed_addrs: Mutex::default(),
            frames_rejected: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
            connections_denied: Arc::default(),
            book: Mutex::new(Book::new(&Default::default())),
            mdns_resets: AtomicU64::new(0),
            relay: Arc::new(crate::relay::RelayState::new(&Default::default())),
            paths: Mutex::default(),
        };
        (s, rx)
    }

    #[test]
    fn a_full_command_queue_is_backpressure_and_a_closed_one_is_shutdown() {
        let (s, rx) = shared(1);
        let peer = PeerId::random();
        assert!(s.command(Command::Disconnect(peer)).is_ok());
        assert!(matches!(
            s.command(Command::Disconnect(peer)),
            Err(NetError::Backpressure(_))
        ));
        drop(rx);
        assert!(matches!(
            s.command(Command::Disconnect(peer)),
            Err(NetError::Transport(_))
        ));
    }

    #[test]
    fn observed_addresses_are_distinct_and_bounded() {
        let (s, _rx) = shared(1);
        for port in [1, 2, 1, 3, 4, 5, 6, 7, 8, 9, 10] {
            s.observed(format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap());
        }
        let seen: Vec<String> = lock(&s.observed_addrs)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(seen.len(), MAX_OBSERVED_ADDRS);
        assert_eq!(seen.last().unwrap(), "/ip4/127.0.0.1/tcp/10");
        assert!(!seen.contains(&"/ip4/127.0.0.1/tcp/2".to_string()));
    }
}

//! The RTT endpoint: every session of one node, and every decision that involves more
//! than one session or connection, sans-IO.
//!
//! Theory of operation (in the style of quinn-proto's `Endpoint`): a [`Session`] decides
//! everything about one peer on one connection at a time; the [`Endpoint`] decides which
//! session and which connection. It owns the per-peer sessions (the live one per peer,
//! by [`SessionHandle`]), routes established connections to them, and makes the
//! decisions the IO layer used to make on its own:
//!
//! - **which connection is current**: a new connection to a peer supersedes the older
//!   ones (they are closed), and is announced to the session (`on_connected`);
//! - **simultaneous dial** (both nodes dialled each other and neither session opened):
//!   the node with the smaller peer id keeps its dial and refuses the inbound
//!   connection; the other gives its dial up, answers the peer's as listener, and its
//!   dial operations finish with that listener session once it opens;
//! - **listener restart** (RTT_SPEC §5.5): a listener closed by the dialler's OPEN of a
//!   new session is replaced, on the same connection, by a fresh listener that answers
//!   that same OPEN;
//! - **dial and accept operations**: who gets a session once it opens (the dialler's
//!   operations, or the bounded accept queue), and which error a session that ended
//!   before opening gives them ([`OpFailure`]);
//! - **error classes**: what the reader of a stream does after a frame the session
//!   refused ([`ReadAction`]).
//!
//! Inputs are method calls with the time passed in; outputs are return values and
//! [`EndpointEvent`]s ([`Endpoint::poll_event`]) that the driver carries out (attach a
//! connection to a session, close a connection, finish an operation). The endpoint
//! never touches a socket, a clock or a thread. `P` is the peer identity (ordered, for
//! the tie-break), `C` the IO layer's connection id, `S` the session as the driver
//! holds it: the sans-IO [`Session`] itself, or a wrapper that shares it with
//! application threads ([`EndpointSession`]). A factory given to [`Endpoint::new`] wraps
//! every session the endpoint creates.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use super::{
    ChannelKind, CloseReason, ConnNumber, OpId, Role, Session, SessionConfig, SessionError,
    SessionHandle, SplitMix64,
};

/// Listener sessions that opened and wait for the application to accept them.
pub const MAX_PENDING_ACCEPTS: usize = 256;

/// What the endpoint needs of a session it owns. Implemented by [`Session`]; a driver
/// that shares sessions with application threads implements it for its wrapper.
pub trait EndpointSession {
    /// Dialer or listener.
    fn role(&self) -> Role;
    /// True once the session ended.
    fn is_closed(&self) -> bool;
    /// True once the session opened (its OPEN was answered).
    fn is_opened(&self) -> bool;
    /// True when a listener closed because the dialler opened a new session.
    fn restarted_by_open(&self) -> bool;
    /// A new connection carries the session; returns its number.
    fn on_connected(&mut self, now: Duration) -> ConnNumber;
    /// Connection `conn` is gone.
    fn on_connection_lost(&mut self, conn: ConnNumber, now: Duration);
    /// A re-dial failed.
    fn on_dial_failed(&mut self, now: Duration);
    /// End the session.
    fn close(&mut self, reason: CloseReason, text: &str);
    /// Feed one inbound frame of connection `conn` from stream `kind`.
    ///
    /// Errors: the session's [`SessionError`].
    fn handle_frame(
        &mut self,
        conn: ConnNumber,
        kind: ChannelKind,
        frame: &Bytes,
        now: Duration,
    ) -> Result<(), SessionError>;
}

impl EndpointSession for Session {
    fn role(&self) -> Role {
        Session::role(self)
    }
    fn is_closed(&self) -> bool {
        Session::is_closed(self)
    }
    fn is_opened(&self) -> bool {
        Session::is_opened(self)
    }
    fn restarted_by_open(&self) -> bool {
        Session::restarted_by_open(self)
    }
    fn on_connected(&mut self, now: Duration) -> ConnNumber {
        Session::on_connected(self, now)
    }
    fn on_connection_lost(&mut self, conn: ConnNumber, now: Duration) {
        Session::on_connection_lost(self, conn, now);
    }
    fn on_dial_failed(&mut self, now: Duration) {
        Session::on_dial_failed(self, now);
    }
    fn close(&mut self, reason: CloseReason, text: &str) {
        Session::close(self, reason, text);
    }
    fn handle_frame(
        &mut self,
        conn: ConnNumber,
        kind: ChannelKind,
        frame: &Bytes,
        now: Duration,
    ) -> Result<(), SessionError> {
        Session::handle_frame_shared(self, conn, kind, frame, now)
    }
}

/// Why an operation waiting for a session failed (the driver adds its own dial errors:
/// [`Endpoint::dial_failed`] returns the operations to fail with them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpFailure {
    /// The node shut down.
    Shutdown,
    /// The session ended before it opened.
    ClosedBeforeOpen(CloseReason),
}

impl fmt::Display for OpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shutdown => f.write_str("the transport shut down"),
            Self::ClosedBeforeOpen(r) => {
                write!(f, "session closed before it opened: {}", r.as_str())
            }
        }
    }
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent<C> {
    /// A session was created (start its timers).
    Created(SessionHandle),
    /// Connection `conn` carries session `session` from now on, as its connection
    /// `number` (give it to the connection's IO task).
    Attach {
        conn: C,
        session: SessionHandle,
        number: ConnNumber,
    },
    /// Close connection `conn` (superseded, refused, or given up by its session).
    CloseConnection(C),
    /// Operation `op` finished with an open session, or failed.
    OpDone {
        op: OpId,
        result: Result<SessionHandle, OpFailure>,
    },
    /// A listener session opened for nobody's dial: [`Endpoint::accept`] returns it.
    Accepted(SessionHandle),
}

/// What a dial request turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialAction {
    /// A new dialler session: dial the peer now, then call [`Endpoint::dial_started`].
    Dial(SessionHandle),
    /// The peer's session is open already: the operation finished (an `OpDone` event).
    Ready(SessionHandle),
    /// A dial to this peer (ours or the peer's) is under way: the operation finishes
    /// when that session opens or fails.
    Joined(SessionHandle),
}

/// What a failed outgoing dial means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialFailed {
    /// Not a dial of a live session (given up, or unknown): nothing to do.
    Ignored,
    /// A re-dial failed: the session backs off and asks again later.
    Retry(SessionHandle),
    /// The first dial failed: the session is closed; fail these operations with the
    /// dial's error.
    Abandoned {
        session: SessionHandle,
        ops: Vec<OpId>,
    },
}

/// What the reader of a stream does after a frame (the error class of the frame's
/// result, [`ReadAction::after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAction {
    /// Keep reading.
    Continue,
    /// Stop reading this stream: the session ended.
    StopStream,
    /// A malformed or misplaced frame: reset this stream; the session already dropped
    /// the connection (`Event::DropConnection`) and resumes on the next one.
    DropConnection,
    /// The session that read this frame was replaced by a fresh listener answering it
    /// (a listener restart): keep the streams for the fresh session.
    Restarted,
}

impl ReadAction {
    /// The reader's action after `result` of feeding a frame to a session
    /// (`restarted`: that session then reported [`EndpointSession::restarted_by_open`]).
    pub fn after(result: &Result<(), SessionError>, restarted: bool) -> Self {
        match result {
            Ok(()) if restarted => Self::Restarted,
            Ok(()) => Self::Continue,
            Err(SessionError::Closed(_)) => Self::StopStream,
            Err(e) if e.is_connection_fatal() => Self::DropConnection,
            // Replays are dropped and counted by the session; a frame past the receive
            // window is retransmitted after the next resume.
            Err(_) => Self::Continue,
        }
    }
}

struct Entry<P, S> {
    peer: P,
    session: S,
}

/// Where an established connection goes.
#[derive(Debug, Clone)]
struct Route<P> {
    peer: P,
    session: SessionHandle,
    number: ConnNumber,
}

type Factory<P, S> = Box<dyn FnMut(SessionHandle, &P, Session) -> S + Send>;

/// Every session of one node (see the module documentation).
pub struct Endpoint<P, C, S> {
    local: P,
    cfg: SessionConfig,
    rng: SplitMix64,
    next_handle: u64,
    factory: Factory<P, S>,
    sessions: BTreeMap<SessionHandle, Entry<P, S>>,
    by_peer: BTreeMap<P, SessionHandle>,
    conns: BTreeMap<C, Route<P>>,
    dials: BTreeMap<C, SessionHandle>,
    dial_ops: BTreeMap<SessionHandle, Vec<OpId>>,
    accepted: VecDeque<SessionHandle>,
    events: VecDeque<EndpointEvent<C>>,
}

impl<P: fmt::Debug, C: fmt::Debug, S> fmt::Debug for Endpoint<P, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("local", &self.local)
            .field("sessions", &self.sessions.len())
            .field("conns", &self.conns.len())
            .field("dials", &self.dials.len())
            .finish_non_exhaustive()
    }
}

impl<P, C, S> Endpoint<P, C, S>
where
    P: Clone + Ord + fmt::Debug,
    C: Copy + Ord + fmt::Debug,
    S: EndpointSession,
{
    /// An endpoint for the node `local`, whose sessions use `cfg` and draw their
    /// randomness from `seed`; `factory` wraps each new sans-IO session as the driver
    /// holds it.
    pub fn new(
        local: P,
        cfg: SessionConfig,
        seed: u64,
        factory: impl FnMut(SessionHandle, &P, Session) -> S + Send + 'static,
    ) -> Self {
        Self {
            local,
            cfg,
            rng: SplitMix64::new(seed),
            next_handle: 1,
            factory: Box::new(factory),
            sessions: BTreeMap::new(),
            by_peer: BTreeMap::new(),
            conns: BTreeMap::new(),
            dials: BTreeMap::new(),
            dial_ops: BTreeMap::new(),
            accepted: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// This node's identity.
    pub fn local(&self) -> &P {
        &self.local
    }

    /// The session configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The next thing the driver must do, oldest first.
    pub fn poll_event(&mut self) -> Option<EndpointEvent<C>> {
        self.events.pop_front()
    }

    /// Session `h`, if the endpoint still has it (closed sessions stay until
    /// [`Endpoint::forget`]).
    pub fn session(&self, h: SessionHandle) -> Option<&S> {
        self.sessions.get(&h).map(|e| &e.session)
    }

    /// Session `h`, mutably.
    pub fn session_mut(&mut self, h: SessionHandle) -> Option<&mut S> {
        self.sessions.get_mut(&h).map(|e| &mut e.session)
    }

    /// The live (not closed) session with `peer`, if any.
    pub fn session_of(&self, peer: &P) -> Option<SessionHandle> {
        let h = *self.by_peer.get(peer)?;
        self.session(h).filter(|s| !s.is_closed()).map(|_| h)
    }

    /// Every session the endpoint has.
    pub fn sessions(&self) -> impl Iterator<Item = (SessionHandle, &S)> {
        self.sessions.iter().map(|(h, e)| (*h, &e.session))
    }

    /// The session and connection number connection `conn` carries, if established.
    pub fn route(&self, conn: C) -> Option<(SessionHandle, ConnNumber)> {
        self.conns.get(&conn).map(|r| (r.session, r.number))
    }

    /// The established connections (`conn`, peer, session, number).
    pub fn connections(&self) -> impl Iterator<Item = (C, &P, SessionHandle, ConnNumber)> {
        self.conns
            .iter()
            .map(|(c, r)| (*c, &r.peer, r.session, r.number))
    }

    /// True while a dial operation waits for session `h` to open.
    pub fn dial_pending(&self, h: SessionHandle) -> bool {
        self.dial_ops.contains_key(&h)
    }

    /// The next listener session the application has not accepted yet.
    pub fn accept(&mut self) -> Option<SessionHandle> {
        self.accepted.pop_front()
    }

    fn create(&mut self, peer: P, role: Role, now: Duration) -> SessionHandle {
        let h = SessionHandle(self.next_handle);
        self.next_handle += 1;
        let proto = match role {
            Role::Dialer => Session::new_dialer(self.cfg.clone(), now, &mut self.rng),
            Role::Listener => Session::new_listener(self.cfg.clone(), now, &mut self.rng),
        };
        let session = (self.factory)(h, &peer, proto);
        self.sessions.insert(
            h,
            Entry {
                peer: peer.clone(),
                session,
            },
        );
        self.events.push_back(EndpointEvent::Created(h));
        // The peer's previous session is over: it restarted (or we re-dial it anew).
        if let Some(old) = self.by_peer.insert(peer, h).filter(|o| *o != h) {
            if let Some(e) = self.sessions.get_mut(&old) {
                e.session
                    .close(CloseReason::PeerRestarted, "replaced by a new session");
            }
        }
        h
    }

    /// The application asks for a session with `peer` (operation `op`).
    pub fn dial(&mut self, peer: P, op: OpId, now: Duration) -> DialAction {
        if let Some(h) = self.session_of(&peer) {
            let opened = self.session(h).is_some_and(|s| s.is_opened());
            // A dial to this peer still in progress, or the peer's own dial not answered
            // yet: finish when that session opens (or fails), so every caller gets an
            // open session or the same error.
            if self.dial_pending(h) || !opened {
                self.dial_ops.entry(h).or_default().push(op);
                return DialAction::Joined(h);
            }
            self.events
                .push_back(EndpointEvent::OpDone { op, result: Ok(h) });
            return DialAction::Ready(h);
        }
        let h = self.create(peer, Role::Dialer, now);
        self.dial_ops.entry(h).or_default().push(op);
        DialAction::Dial(h)
    }

    /// The driver started dialling for session `h` as connection `conn`.
    pub fn dial_started(&mut self, conn: C, h: SessionHandle) {
        self.dials.insert(conn, h);
    }

    /// Session `h` asks to be dialled again (`Event::ReconnectAttempt`): the peer to
    /// dial, or `None` when the session is gone.
    pub fn redial(&self, h: SessionHandle) -> Option<&P> {
        let e = self.sessions.get(&h)?;
        (!e.session.is_closed() && e.session.role() == Role::Dialer).then_some(&e.peer)
    }

    /// A dial for session `h` could not even start (the driver's own error).
    pub fn dial_not_started(&mut self, h: SessionHandle, now: Duration) -> DialFailed {
        self.fail_dial(h, now)
    }

    /// Outgoing dial `conn` failed.
    pub fn dial_failed(&mut self, conn: C, now: Duration) -> DialFailed {
        match self.dials.remove(&conn) {
            Some(h) => self.fail_dial(h, now),
            None => DialFailed::Ignored,
        }
    }

    fn fail_dial(&mut self, h: SessionHandle, now: Duration) -> DialFailed {
        let Some(e) = self.sessions.get_mut(&h) else {
            return DialFailed::Ignored;
        };
        if e.session.is_closed() {
            return DialFailed::Ignored;
        }
        match self.dial_ops.remove(&h) {
            Some(ops) if !e.session.is_opened() => {
                // The first dial failed: there is no session to keep.
                e.session.close(CloseReason::Normal, "dial failed");
                self.dials.retain(|_, d| *d != h);
                DialFailed::Abandoned { session: h, ops }
            }
            ops => {
                if let Some(ops) = ops {
                    self.dial_ops.insert(h, ops);
                }
                e.session.on_dial_failed(now);
                DialFailed::Retry(h)
            }
        }
    }

    /// A connection with `peer` is up (`outbound`: this node dialled it). Decides the
    /// simultaneous dial, supersedes older connections and attaches the connection to
    /// the peer's session (events `CloseConnection` and `Attach`). Returns the session
    /// and connection number, or `None` when the connection was refused.
    pub fn connection_established(
        &mut self,
        peer: P,
        conn: C,
        outbound: bool,
        now: Duration,
    ) -> Option<(SessionHandle, ConnNumber)> {
        let ours = self.dials.remove(&conn);
        if outbound && ours.is_none() {
            // A dial we gave up (simultaneous dial): keep the session's connection.
            self.events.push_back(EndpointEvent::CloseConnection(conn));
            return None;
        }
        if !outbound && !self.simultaneous_dial(&peer, conn, now) {
            return None;
        }
        // Older connections to this peer are stale (e.g. the peer re-dialled after a cut
        // we have not noticed yet): close them so that only the new one carries frames.
        self.close_connections_of(&peer);
        let h = match self.session_of(&peer) {
            Some(h) => h,
            None if !outbound => self.create(peer.clone(), Role::Listener, now),
            None => {
                // A connection we did not ask for (no session): do not keep it.
                self.events.push_back(EndpointEvent::CloseConnection(conn));
                return None;
            }
        };
        Some(self.attach(peer, conn, h, now))
    }

    /// A better connection to `peer` is up that nobody dialled for a session: a direct
    /// connection hole-punched next to a relayed one (DCUtR). The session's dialler
    /// moves its session onto it (supersedes the older connections and resumes there,
    /// as after any reconnect); the listener side takes it once the dialler's first
    /// stream arrives on it (`connection_established`, as for any inbound connection).
    /// Returns the session and connection number, or `None` when nothing moves: no live
    /// session, not its dialler, or the connection is already the session's.
    pub fn connection_upgraded(
        &mut self,
        peer: P,
        conn: C,
        now: Duration,
    ) -> Option<(SessionHandle, ConnNumber)> {
        if self.conns.contains_key(&conn) {
            return None;
        }
        let h = self.session_of(&peer)?;
        let s = self.session(h)?;
        // A dial still pending makes its own connection; a listener waits for the
        // dialler to choose.
        if s.role() != Role::Dialer || !s.is_opened() || self.dial_pending(h) {
            return None;
        }
        self.close_connections_of(&peer);
        Some(self.attach(peer, conn, h, now))
    }

    /// Forget and close every connection to `peer` (a newer one takes over).
    fn close_connections_of(&mut self, peer: &P) {
        let stale: Vec<C> = self
            .conns
            .iter()
            .filter(|(_, r)| r.peer == *peer)
            .map(|(c, _)| *c)
            .collect();
        for c in stale {
            self.conns.remove(&c);
            self.events.push_back(EndpointEvent::CloseConnection(c));
        }
    }

    fn attach(
        &mut self,
        peer: P,
        conn: C,
        h: SessionHandle,
        now: Duration,
    ) -> (SessionHandle, ConnNumber) {
        let number = match self.sessions.get_mut(&h) {
            Some(e) => e.session.on_connected(now),
            None => ConnNumber::default(),
        };
        self.conns.insert(
            conn,
            Route {
                peer,
                session: h,
                number,
            },
        );
        self.events.push_back(EndpointEvent::Attach {
            conn,
            session: h,
            number,
        });
        (h, number)
    }

    /// An inbound connection from `peer` while our own dial to it is pending: the
    /// smaller peer id keeps its dial. Returns whether to go on with the connection.
    fn simultaneous_dial(&mut self, peer: &P, conn: C, now: Duration) -> bool {
        let Some(h) = self.session_of(peer) else {
            return true;
        };
        let dialer = self.session(h).is_some_and(|s| s.role() == Role::Dialer);
        if !dialer || !self.dial_pending(h) {
            return true;
        }
        if self.local < *peer {
            self.events.push_back(EndpointEvent::CloseConnection(conn));
            return false;
        }
        let ops = self.dial_ops.remove(&h).unwrap_or_default();
        // Our dial, when it completes, is no longer ours: it will be refused.
        self.dials.retain(|_, d| *d != h);
        // Replacing the session in the peer table closes ours (it never opened).
        let listener = self.create(peer.clone(), Role::Listener, now);
        if !ops.is_empty() {
            self.dial_ops.insert(listener, ops);
        }
        true
    }

    /// Connection `conn` closed: its session (if it is still the current one for it)
    /// counts it as lost.
    pub fn connection_closed(&mut self, conn: C, now: Duration) {
        self.dials.remove(&conn);
        let Some(r) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(e) = self.sessions.get_mut(&r.session) {
            e.session.on_connection_lost(r.number, now);
        }
    }

    /// Session `h` gave up on its connection `number` (`Event::DropConnection`, a
    /// rekey, a failed write): close the connection that carries it.
    pub fn close_connection(&mut self, h: SessionHandle, number: ConnNumber) {
        let ids: Vec<C> = self
            .conns
            .iter()
            .filter(|(_, r)| r.session == h && r.number == number)
            .map(|(c, _)| *c)
            .collect();
        for c in ids {
            self.events.push_back(EndpointEvent::CloseConnection(c));
        }
    }

    /// Feed one frame read from stream `kind` of connection `conn` to the session it
    /// carries; restarts a listener when the frame was the dialler's new OPEN. Returns
    /// what the reader does next (nothing is routed for an unknown connection:
    /// `StopStream`).
    pub fn handle_frame(
        &mut self,
        conn: C,
        kind: ChannelKind,
        frame: &Bytes,
        now: Duration,
    ) -> ReadAction {
        let Some(r) = self.conns.get(&conn).cloned() else {
            return ReadAction::StopStream;
        };
        let Some(e) = self.sessions.get_mut(&r.session) else {
            return ReadAction::StopStream;
        };
        let result = e.session.handle_frame(r.number, kind, frame, now);
        let action = ReadAction::after(&result, e.session.restarted_by_open());
        if action == ReadAction::Restarted {
            self.restart_listener(conn, frame, now);
        }
        action
    }

    /// The listener session on connection `conn` closed because `open`, the frame it
    /// just read, was the dialler's OPEN of a new session (RTT_SPEC §5.5): a fresh
    /// listener takes the connection over and answers that OPEN. Returns the fresh
    /// session and its connection number (an `Attach` event), or `None` when the
    /// connection's session did not restart (nothing changes).
    pub fn restart_listener(
        &mut self,
        conn: C,
        open: &Bytes,
        now: Duration,
    ) -> Option<(SessionHandle, ConnNumber)> {
        let r = self.conns.get(&conn)?.clone();
        let old = &self.sessions.get(&r.session)?.session;
        if old.role() != Role::Listener || !old.restarted_by_open() {
            return None;
        }
        // Only the connection's current session restarts, once.
        if self.by_peer.get(&r.peer) != Some(&r.session) {
            return None;
        }
        let fresh = self.create(r.peer.clone(), Role::Listener, now);
        let (h, number) = self.attach(r.peer, conn, fresh, now);
        if let Some(e) = self.sessions.get_mut(&h) {
            let _ = e
                .session
                .handle_frame(number, ChannelKind::Control, open, now);
        }
        Some((h, number))
    }

    /// Session `h` opened (`Event::SessionOpen`): its waiting dial operations finish
    /// with it, or, for a listener nobody dialled, it joins the accept queue (bounded:
    /// beyond [`MAX_PENDING_ACCEPTS`] it is closed).
    pub fn session_opened(&mut self, h: SessionHandle) {
        let ops = self.dial_ops.remove(&h).unwrap_or_default();
        let Some(e) = self.sessions.get_mut(&h) else {
            return;
        };
        if e.session.role() == Role::Dialer || !ops.is_empty() {
            // A dialler's session, or a listener that answered our own simultaneous dial:
            // it belongs to whoever dialled, not to the accept queue.
            for op in ops {
                self.events
                    .push_back(EndpointEvent::OpDone { op, result: Ok(h) });
            }
        } else if self.accepted.len() < MAX_PENDING_ACCEPTS {
            self.accepted.push_back(h);
            self.events.push_back(EndpointEvent::Accepted(h));
        } else {
            e.session.close(CloseReason::Shutdown, "accept queue full");
        }
    }

    /// Session `h` ended with `reason`: dial operations still waiting for it fail.
    pub fn session_closed(&mut self, h: SessionHandle, reason: CloseReason) {
        let ops = self.dial_ops.remove(&h).unwrap_or_default();
        let failure = match reason {
            CloseReason::Shutdown => OpFailure::Shutdown,
            other => OpFailure::ClosedBeforeOpen(other),
        };
        for op in ops {
            self.events.push_back(EndpointEvent::OpDone {
                op,
                result: Err(failure.clone()),
            });
        }
    }

    /// A closed session leaves the endpoint (the driver's handles may keep it alive for
    /// stats and unacked messages); returns it.
    pub fn forget(&mut self, h: SessionHandle) -> Option<S> {
        let e = self.sessions.remove(&h)?;
        if self.by_peer.get(&e.peer) == Some(&h) {
            self.by_peer.remove(&e.peer);
        }
        self.accepted.retain(|a| *a != h);
        self.dials.retain(|_, d| *d != h);
        Some(e.session)
    }
}

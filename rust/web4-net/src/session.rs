//! A session as the driver sees it: the sans-IO `web4_proto` session behind a mutex,
//! plus the wake-ups that connect it to IO tasks, blocking callers and asyncio.
//!
//! Theory of operation: every protocol decision (sequence numbers, acks, resume,
//! retransmit, replay, heartbeat, backoff, queue policies) is made by
//! [`web4_proto::session::Session`]. This wrapper only moves bytes and time in and out:
//! the application calls [`Session::try_send`] / [`Session::try_recv`] (`session_app.rs`; blocking
//! variants waiting on one condvar), which turn the session's transmits into per-stream
//! byte buffers at once; the current connection's handler (`handler.rs`) feeds inbound
//! frames to [`Session::handle_frame`] and writes those buffers
//! ([`Session::take_pending`]); the session's pump task (`pump.rs`) runs timers and acts
//! on events.
//! Those buffers are bounded by the session's in-flight window, so no queue here is
//! unbounded. Time is a `Duration` since the node started (monotonic).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker as TaskWaker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libp2p::PeerId;
use tokio::sync::Notify;
use web4_proto::session::{
    self as proto, ChannelKind, CloseReason, ConnNumber, ErrorClass, Event, ReadAction,
    SessionError, SessionHandle, SessionState, Unacked,
};

use crate::wake::{Field, Waker};
use crate::NetError;

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) proto: proto::Session,
    /// Framed bytes waiting for the writer of each stream, for connection `conn`.
    pub(crate) pending: [Vec<u8>; 3],
    pub(crate) conn: ConnNumber,
    pub(crate) chan_open: [bool; 3],
    /// Why the session ended, and the text that came with it.
    pub(crate) closed: Option<(CloseReason, String)>,
    pub(crate) unacked: Vec<Unacked>,
    /// Events taken from the session outside the pump, for the pump to act on.
    pub(crate) stash: Vec<Event>,
    /// The deadline the pump currently sleeps until.
    pub(crate) pump_deadline: Option<Duration>,
    /// The session opened (its `session_open` left the session layer).
    pub(crate) opened: bool,
}

/// What [`Session::transmit`] found, for [`Session::after_transmit`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transmitted {
    /// Streams with bytes to write.
    pub(crate) ready: [bool; 3],
    /// A queue became readable or writable.
    pub(crate) changed: bool,
    /// The pump must run.
    pub(crate) kick: bool,
}

/// One session with one peer; it outlives connections.
#[derive(Debug)]
pub struct Session {
    /// The session's handle in its node's endpoint, as a plain number (Python's id).
    pub id: u64,
    pub peer: PeerId,
    pub dialer: bool,
    origin: Instant,
    inner: Mutex<Inner>,
    pub(crate) cond: Condvar,
    /// Callers blocked on `cond` (no futex syscall per message when there are none).
    pub(crate) waiters: AtomicUsize,
    /// Wakes the pump task (timers, transmit, events).
    pub kick: Notify,
    /// Wakes the connection handler of the current connection: bytes to write, room to
    /// read, or a change of connection or state (`handler.rs`).
    io_waker: Mutex<Option<TaskWaker>>,
    pub(crate) waker: Arc<Waker>,
}

/// Map a session-layer error to the transport's error kinds.
pub fn session_err(e: SessionError) -> NetError {
    match (e.class(), &e) {
        (ErrorClass::Backpressure, SessionError::WouldBlock(k) | SessionError::QueueFull(k)) => {
            NetError::Backpressure(format!("send queue of channel {} is full", k.as_str()))
        }
        (ErrorClass::Backpressure, _) => NetError::Backpressure(e.to_string()),
        (ErrorClass::Replay, _) => NetError::Replay(e.to_string()),
        (ErrorClass::Transport, _) => NetError::Transport(e.to_string()),
    }
}

impl Session {
    pub fn new(
        handle: SessionHandle,
        peer: PeerId,
        proto: proto::Session,
        origin: Instant,
        waker: Arc<Waker>,
    ) -> Self {
        Session {
            id: handle.0,
            peer,
            dialer: proto.role() == proto::Role::Dialer,
            origin,
            inner: Mutex::new(Inner {
                proto,
                pending: Default::default(),
                conn: ConnNumber::default(),
                chan_open: [false; 3],
                closed: None,
                unacked: Vec::new(),
                stash: Vec::new(),
                pump_deadline: None,
                opened: false,
            }),
            cond: Condvar::new(),
            waiters: AtomicUsize::new(0),
            kick: Notify::new(),
            io_waker: Mutex::new(None),
            waker,
        }
    }

    /// The session's handle in its node's endpoint.
    pub fn handle(&self) -> SessionHandle {
        SessionHandle(self.id)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Queue an observable event about this session (wakes asyncio).
    pub(crate) fn emit(&self, name: &'static str, mut fields: Vec<(&'static str, Field)>) {
        fields.insert(0, ("session", self.id.into()));
        fields.insert(1, ("peer", self.peer.to_base58().into()));
        self.waker.emit(name, fields);
    }

    /// Wake blocked callers and asyncio. (A blocked caller counts itself in `waiters`
    /// under the session lock before it waits, and every change is made under that
    /// lock before this runs, so skipping the notify when there are none loses none.)
    pub fn changed(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.cond.notify_all();
        }
        self.waker.wake();
    }

    /// Wait on `cond` until notified or `timeout`, counted in `waiters`.
    pub(crate) fn wait<'a>(
        &self,
        g: MutexGuard<'a, Inner>,
        timeout: Duration,
    ) -> MutexGuard<'a, Inner> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let g = self
            .cond
            .wait_timeout(g, timeout)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        g
    }

    pub fn state(&self) -> SessionState {
        self.lock().proto.state()
    }

    pub fn is_closed(&self) -> bool {
        let g = self.lock();
        g.closed.is_some() || g.proto.is_closed()
    }

    /// True once the session's end has been taken out of the session layer (its
    /// `session_close` event, and its final frames already in the stream buffers): the
    /// handler may half-close its streams once those buffers are written.
    pub fn finished(&self) -> bool {
        self.lock().closed.is_some()
    }

    /// Why the session ended (`reason` or `reason: text`), once it has.
    pub fn close_reason(&self) -> Option<String> {
        self.lock().closed.as_ref().map(|(reason, text)| {
            if text.is_empty() {
                reason.as_str().to_string()
            } else {
                format!("{}: {text}", reason.as_str())
            }
        })
    }

    /// Why the session ended, once it has.
    pub fn close_code(&self) -> Option<CloseReason> {
        self.lock().closed.as_ref().map(|(r, _)| *r)
    }

    /// True once the session has opened (it may be resuming now).
    pub fn opened(&self) -> bool {
        self.lock().opened
    }

    /// Bytes written into the stream buffers and not yet taken by the handler.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.lock().pending.iter().map(Vec::len).sum()
    }

    pub fn conn(&self) -> ConnNumber {
        self.lock().conn
    }

    /// A new connection carries the session from now on; returns its number. IO tasks
    /// of the previous connection stop.
    pub fn on_connected(&self) -> ConnNumber {
        let now = self.now();
        let mut g = self.lock();
        let conn = g.proto.on_connected(now);
        g.conn = conn;
        g.pending = Default::default();
        drop(g);
        self.restart_io();
        conn
    }

    /// Connection `conn` is gone.
    pub fn on_connection_lost(&self, conn: ConnNumber) {
        let now = self.now();
        self.lock().proto.on_connection_lost(conn, now);
        self.restart_io();
    }

    /// A re-dial failed.
    pub fn on_dial_failed(&self) {
        let now = self.now();
        self.lock().proto.on_dial_failed(now);
        self.kick.notify_one();
    }

    /// The connection handler polls with `waker`: wake it on progress from now on.
    pub(crate) fn set_io_waker(&self, waker: &TaskWaker) {
        let mut w = self.io_waker.lock().unwrap_or_else(|e| e.into_inner());
        if !w.as_ref().is_some_and(|old| old.will_wake(waker)) {
            *w = Some(waker.clone());
        }
    }

    /// Wake the connection handler (cheap when it is already scheduled).
    pub(crate) fn wake_io(&self) {
        self.waker.kicked_io();
        if let Some(w) = self
            .io_waker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            w.wake_by_ref();
        }
    }

    fn restart_io(&self) {
        self.wake_io();
        self.kick.notify_one();
        self.changed();
    }

    /// Feed one inbound message from stream `kind` of connection `conn` (frames of an
    /// older connection are ignored by the session layer; a DATA payload is kept as a
    /// slice of `bytes`, not copied). Returns whether `kind` now has a message to read.
    ///
    /// Errors: the session layer's error (replays and malformed frames are already
    /// counted and reported as events by the session layer).
    pub fn handle_frame(
        &self,
        conn: ConnNumber,
        kind: ChannelKind,
        bytes: &Bytes,
    ) -> Result<bool, SessionError> {
        let now = self.now();
        let mut g = self.lock();
        let r = g.proto.handle_frame_shared(conn, kind, bytes, now);
        let readable = g.proto.recv_len(kind) > 0;
        let t = self.transmit(&mut g, now);
        drop(g);
        self.after_transmit(t);
        r.map(|()| readable)
    }

    /// Like [`Session::handle_frame`], for the connection handler: what its reader does
    /// next (the error class of the result, or a listener restart, decided with the
    /// session layer's state under the same lock) and whether `kind` has a message to
    /// read.
    pub(crate) fn read_frame(
        &self,
        conn: ConnNumber,
        kind: ChannelKind,
        bytes: &Bytes,
    ) -> (ReadAction, bool) {
        let now = self.now();
        let mut g = self.lock();
        let r = g.proto.handle_frame_shared(conn, kind, bytes, now);
        let action = ReadAction::after(&r, g.proto.restarted_by_open());
        let readable = g.proto.recv_len(kind) > 0;
        let t = self.transmit(&mut g, now);
        drop(g);
        self.after_transmit(t);
        (action, readable)
    }

    /// True while the reader of stream `kind` may read another frame.
    pub fn recv_window_open(&self, kind: ChannelKind) -> bool {
        self.lock().proto.recv_window_open(kind)
    }

    /// Move the session's transmits into the stream buffers and its events into the
    /// stash, under the lock. Returns which streams got bytes, whether waiters must look
    /// again (a queue became readable or writable: handled here, with no pump run per
    /// message) and whether the pump must run (events to act on, or a timer earlier
    /// than the one the pump sleeps on).
    pub(crate) fn transmit(&self, g: &mut Inner, now: Duration) -> Transmitted {
        let mut ready = [false; 3];
        let mut changed = false;
        // Frames go straight into the stream buffers, already length-prefixed (one copy
        // of each payload on the way out). They are always for the current connection:
        // the session layer numbers connections exactly as `on_connected` records them,
        // and `on_connected` empties the buffers of the previous one.
        let Inner { proto, pending, .. } = g;
        while let Some(t) = proto.poll_transmit_framed(now, pending) {
            ready[t.stream.index()] = true;
        }
        while let Some(e) = g.proto.poll_event() {
            // The close reason and the unacked messages are recorded here, under the
            // same lock as the state change, so `state` and `close_reason` agree.
            if let Event::SessionClose {
                reason,
                text,
                unacked,
            } = &e
            {
                g.closed = Some((*reason, text.clone()));
                g.unacked.extend(unacked.iter().cloned());
            }
            if e == Event::SessionOpen {
                g.opened = true;
            }
            if let Some((name, fields)) = crate::pump::describe(&e) {
                self.emit(name, fields);
            }
            if matches!(e, Event::Writable(_) | Event::Readable(_)) {
                changed = true;
                continue;
            }
            g.stash.push(e);
        }
        if g.closed.is_none() {
            // A listener session that never opened ends without a SessionClose event.
            if let SessionState::Closed(r) = g.proto.state() {
                g.closed = Some((r, String::new()));
            }
        }
        let earlier = match (g.proto.poll_timeout(), g.pump_deadline) {
            (Some(t), Some(p)) => t < p,
            (Some(_), None) => true,
            (None, _) => false,
        };
        Transmitted {
            ready,
            changed,
            kick: !g.stash.is_empty() || earlier,
        }
    }

    /// Outside the lock: wake the writer, the waiters and the pump as `t` says.
    pub(crate) fn after_transmit(&self, t: Transmitted) {
        if t.ready.iter().any(|r| *r) {
            self.wake_io();
        }
        if t.changed {
            self.changed();
        }
        if t.kick {
            self.kick.notify_one();
        }
    }

    /// Pump step: run due timers, move transmits into the stream buffers, collect events.
    /// Returns the events and the next deadline.
    pub fn pump(&self, events: &mut Vec<Event>) -> Option<Duration> {
        let now = self.now();
        let mut g = self.lock();
        if g.proto.poll_timeout().is_some_and(|t| t <= now) {
            g.proto.handle_timeout(now);
        }
        let t = self.transmit(&mut g, now);
        events.append(&mut g.stash);
        let deadline = g.proto.poll_timeout();
        g.pump_deadline = deadline;
        drop(g);
        self.after_transmit(Transmitted { kick: false, ..t });
        deadline
    }

    /// Which streams of connection `conn` have bytes waiting (by `ChannelKind::index`):
    /// a writer asks for its stream only then.
    pub(crate) fn waiting_streams(&self, conn: ConnNumber) -> [bool; 3] {
        let g = self.lock();
        if g.conn != conn {
            return [false; 3];
        }
        g.pending.each_ref().map(|p| !p.is_empty())
    }

    /// Writer side: the bytes waiting for stream `kind`, if `conn` is still current.
    /// `None`: this connection is over (or the session closed and flushed).
    pub fn take_pending(&self, conn: ConnNumber, kind: ChannelKind, out: &mut Vec<u8>) -> bool {
        let mut g = self.lock();
        if g.conn != conn {
            return false;
        }
        std::mem::swap(out, &mut g.pending[kind.index()]);
        true
    }
}

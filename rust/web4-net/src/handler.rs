//! The RTT connection handler: a connection's channel streams, read and written inside
//! that connection's own task.
//!
//! Theory of operation: libp2p runs one task per connection and polls its handler
//! there. [`RttBehaviour`] gives every connection an [`RttHandler`]; once the driver has
//! given the connection to a session (`on_connected`), it sends the handler an
//! [`Attach`] with the session and the connection's number. The handler then opens one
//! outbound stream per channel kind (`/web4/rtt/<kind>/1.0.0`, written only) and reads
//! every inbound stream its peer opened (read only): streams stay unidirectional, so no
//! stream is shared between reading and writing (rust-libp2p #5410 cannot bite), and an
//! inbound stream is always attributed to the connection it came on, even when it
//! arrives before the attach (it waits, bounded). Application threads and the session's
//! pump wake the handler through the session's IO waker when there are bytes to write
//! or room to read: a message goes from `send` to the socket with one task wake-up and
//! no other task in between. Writing swaps the session's per-stream buffer out and
//! writes it whole (batching for free). Reading happens only while the session's
//! receive window for that stream is open (a closed window stalls yamux, which stalls
//! the remote writer); frames are cut out of the read buffer without copying, and a
//! length prefix over the limit or malformed resets that stream only (counted and
//! reported).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use futures::{AsyncRead, AsyncWrite};
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, InboundUpgrade, OutboundUpgrade, UpgradeInfo};
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, NotifyHandler, Stream, StreamProtocol, SubstreamProtocol, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use web4_proto::session::{ChannelKind, CloseReason, Frame, SessionError, SessionState};

use crate::config::protocol;
use crate::driver::Command;
use crate::framing::decode_prefix;
use crate::session::Session;
use crate::shared::{lock, Shared};

/// Bytes asked of an inbound stream per read.
const READ_CHUNK: usize = 64 * 1024;
/// Inbound streams one connection may have open (a well-behaved peer opens three).
const MAX_INBOUND_STREAMS: usize = 6;
/// Read/write rounds per poll before yielding to the rest of the runtime.
const ROUNDS_PER_POLL: usize = 32;

/// The stream protocols of the RTT channels: all three inbound, one per outbound stream.
#[derive(Debug, Clone)]
pub(crate) struct Channels(Vec<StreamProtocol>);

impl UpgradeInfo for Channels {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Channels {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, info: StreamProtocol) -> Self::Future {
        ready(Ok((stream, info)))
    }
}

impl OutboundUpgrade<Stream> for Channels {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_outbound(self, stream: Stream, info: StreamProtocol) -> Self::Future {
        ready(Ok((stream, info)))
    }
}

fn kind_of(p: &StreamProtocol) -> Option<ChannelKind> {
    ChannelKind::ALL.into_iter().find(|k| protocol(*k) == *p)
}

/// The driver gives a connection to a session: from now on the handler carries that
/// session's bytes, as its connection number `conn`.
#[derive(Debug)]
pub(crate) struct Attach {
    pub(crate) session: Arc<Session>,
    pub(crate) conn: u64,
}

/// Creates a handler per connection and delivers the driver's [`Attach`] messages.
pub(crate) struct RttBehaviour {
    shared: Arc<Shared>,
    pending: VecDeque<ToSwarm<Infallible, Attach>>,
    waker: Option<Waker>,
}

impl std::fmt::Debug for RttBehaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RttBehaviour")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl RttBehaviour {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            pending: VecDeque::new(),
            waker: None,
        }
    }

    /// Give connection `id` to `session` as its connection number `conn`.
    pub(crate) fn attach(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        session: Arc<Session>,
        conn: u64,
    ) {
        self.pending.push_back(ToSwarm::NotifyHandler {
            peer_id: peer,
            handler: NotifyHandler::One(id),
            event: Attach { session, conn },
        });
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl NetworkBehaviour for RttBehaviour {
    type ConnectionHandler = RttHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(RttHandler::new(id, self.shared.clone()))
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(RttHandler::new(id, self.shared.clone()))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        ev: THandlerOutEvent<Self>,
    ) {
        match ev {}
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some(ev) = self.pending.pop_front() {
            return Poll::Ready(ev);
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// One outbound (written) stream.
enum Out {
    /// Not asked for yet.
    Idle,
    /// Asked for; negotiation under way.
    Requested,
    Open(Box<Writer>),
    /// Finished, failed, or its connection is no longer current.
    Done,
}

struct Writer {
    stream: Stream,
    buf: Vec<u8>,
    pos: usize,
    /// Written since the last flush.
    dirty: bool,
    closing: bool,
}

/// One inbound (read) stream.
struct Reader {
    kind: ChannelKind,
    stream: Stream,
    /// `buf[..filled]` are bytes read and not yet cut into frames; the rest is space.
    buf: BytesMut,
    filled: usize,
}

/// What a read step did to its stream.
enum ReadOutcome {
    /// Keep the stream; `true` if bytes moved.
    Keep(bool),
    /// Drop the stream (ended, failed, rejected, or no longer ours to read).
    Drop,
}

/// A connection's RTT streams (see the module documentation).
pub(crate) struct RttHandler {
    id: ConnectionId,
    shared: Arc<Shared>,
    /// Most bytes the session's stream buffers may hold before reading pauses.
    pending_cap: usize,
    attached: Option<(Arc<Session>, u64)>,
    out: [Out; 3],
    inbound: Vec<Reader>,
}

/// The state of a listener session whose dialler started a new session (RTT_SPEC §5.5).
const PEER_RESTARTED: SessionState = SessionState::Closed(CloseReason::PeerRestarted);

impl RttHandler {
    /// Replace listener session `old` (closed by the dialler's new OPEN, `frame`) on
    /// this connection with a fresh one, and give it that OPEN.
    fn restart_listener(
        &mut self,
        cx: &Context<'_>,
        old: &Arc<Session>,
        kind: ChannelKind,
        frame: &bytes::Bytes,
    ) {
        let (fresh, conn) = self.shared.restart_listener(old);
        // The driver must know this connection by the fresh session's number.
        if let Some(entry) = lock(&self.shared.conns).get_mut(&self.id) {
            *entry = (fresh.peer, conn);
        }
        fresh.set_io_waker(cx.waker());
        self.attached = Some((fresh.clone(), conn));
        let _ = fresh.handle_frame(conn, kind, frame);
    }

    fn new(id: ConnectionId, shared: Arc<Shared>) -> Self {
        // Everything the in-flight windows allow (payloads plus framing), plus 1 MiB of
        // control frames.
        let pending_cap = shared
            .cfg
            .session
            .channels
            .iter()
            .map(|c| c.inflight_bytes + c.inflight_msgs * 64)
            .sum::<usize>()
            + (1 << 20);
        Self {
            id,
            shared,
            pending_cap,
            attached: None,
            out: [Out::Idle, Out::Idle, Out::Idle],
            inbound: Vec::new(),
        }
    }

    /// The connection can no longer carry everything the session counts as sent: have
    /// it dropped, so the resume exchange of the next one retransmits.
    fn drop_connection(&self, s: &Session, conn: u64) {
        if s.conn() == conn && !s.is_closed() {
            self.shared.command(Command::CloseConn(s.peer, conn));
        }
    }

    /// Write what the session has for stream `i`. Returns whether bytes moved.
    fn write_step(&mut self, cx: &mut Context<'_>, i: usize, s: &Arc<Session>, conn: u64) -> bool {
        let Out::Open(w) = &mut self.out[i] else {
            return false;
        };
        let kind = ChannelKind::ALL[i];
        let mut progress = false;
        let mut failed = false;
        loop {
            if w.pos == w.buf.len() {
                w.buf.clear();
                w.pos = 0;
                if !s.take_pending(conn, kind, &mut w.buf) {
                    self.out[i] = Out::Done; // a newer connection took over: reset
                    return progress;
                }
                if w.buf.is_empty() {
                    break;
                }
            }
            match Pin::new(&mut w.stream).poll_write(cx, &w.buf[w.pos..]) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    w.pos += n;
                    w.dirty = true;
                    progress = true;
                }
                Poll::Ready(_) => {
                    failed = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if !failed && w.dirty && w.pos == w.buf.len() {
            match Pin::new(&mut w.stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => w.dirty = false,
                Poll::Ready(Err(_)) => failed = true,
                Poll::Pending => {}
            }
        }
        if !failed && !w.dirty && w.buf.is_empty() && (w.closing || s.finished()) {
            // The session ended and its last frames are out: half-close the stream.
            w.closing = true;
            match Pin::new(&mut w.stream).poll_close(cx) {
                Poll::Ready(_) => self.out[i] = Out::Done,
                Poll::Pending => {}
            }
            return progress;
        }
        if failed {
            self.out[i] = Out::Done;
            self.drop_connection(s, conn);
        }
        progress
    }

    /// Read and deliver the frames of inbound stream `r`.
    fn read_step(&mut self, cx: &mut Context<'_>, r: &mut Reader) -> ReadOutcome {
        let max = self.shared.cfg.max_frame();
        let mut progress = false;
        loop {
            let Some((s, conn)) = self.attached.clone() else {
                return ReadOutcome::Keep(progress);
            };
            if s.is_closed() || s.conn() != conn {
                return ReadOutcome::Drop;
            }
            if !s.recv_window_open(r.kind) {
                s.kick.notify_one(); // let acks for what was delivered go out
                return ReadOutcome::Keep(progress);
            }
            if s.pending_bytes() > self.pending_cap {
                // Our answers (acks, heartbeat acks) pile up because the peer does not
                // read what we write: stop reading until the writer drains them (its
                // progress polls this handler again). Data is bounded by the in-flight
                // window already; this bounds the control frames.
                return ReadOutcome::Keep(progress);
            }
            match decode_prefix(&r.buf[..r.filled], max) {
                Ok(Some((prefix, len))) if prefix + len <= r.filled => {
                    let mut frame = r.buf.split_to(prefix + len);
                    r.filled -= prefix + len;
                    frame.advance(prefix);
                    let body = frame.freeze();
                    progress = true;
                    match s.handle_frame(conn, r.kind, &body) {
                        Ok(readable) => {
                            if readable {
                                s.changed();
                            }
                            // (OPEN travels on `control`: other frames skip the check.)
                            if r.kind == ChannelKind::Control
                                && !s.dialer
                                && s.state() == PEER_RESTARTED
                                && matches!(
                                    Frame::decode(&body, usize::MAX),
                                    Ok(Frame::Open { .. })
                                )
                            {
                                // This frame was the dialler's OPEN of a new session: ours
                                // closed; a fresh one answers it on this connection.
                                self.restart_listener(cx, &s, r.kind, &body);
                            }
                        }
                        Err(SessionError::Closed(_)) => return ReadOutcome::Drop,
                        Err(SessionError::Frame(_) | SessionError::Protocol(_)) => {
                            s.kick.notify_one();
                            return ReadOutcome::Drop; // the session drops the connection
                        }
                        Err(_) => {} // replays: dropped and counted by the session layer
                    }
                    continue;
                }
                Ok(_) => {} // the frame is not complete yet
                Err(e) => {
                    self.shared.frames_rejected.fetch_add(1, Ordering::Relaxed);
                    s.emit(
                        "frame_rejected",
                        vec![
                            ("channel", r.kind.as_str().into()),
                            ("error", e.to_string()),
                        ],
                    );
                    return ReadOutcome::Drop; // dropping the open stream resets it
                }
            }
            if r.buf.len() - r.filled < READ_CHUNK / 4 {
                // Space for the next read; only newly added bytes are zeroed.
                r.buf.resize(r.filled + READ_CHUNK, 0);
            }
            match Pin::new(&mut r.stream).poll_read(cx, &mut r.buf[r.filled..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return ReadOutcome::Drop,
                Poll::Ready(Ok(n)) => {
                    r.filled += n;
                    progress = true;
                }
                Poll::Pending => return ReadOutcome::Keep(progress),
            }
        }
    }
}

impl ConnectionHandler for RttHandler {
    type FromBehaviour = Attach;
    type ToBehaviour = Infallible;
    type InboundProtocol = Channels;
    type OutboundProtocol = Channels;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ChannelKind;

    fn listen_protocol(&self) -> SubstreamProtocol<Channels, ()> {
        SubstreamProtocol::new(Channels(ChannelKind::ALL.map(protocol).to_vec()), ())
    }

    fn connection_keep_alive(&self) -> bool {
        // Connections are closed explicitly (session over, superseded, or failed).
        true
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Channels, ChannelKind, Infallible>> {
        let Some((s, conn)) = self.attached.clone() else {
            return Poll::Pending; // on_behaviour_event(Attach) comes with a poll
        };
        if s.conn() != conn {
            // Superseded by a newer connection: nothing more to do here.
            self.out = [Out::Done, Out::Done, Out::Done];
            self.inbound.clear();
            return Poll::Pending;
        }
        // Registered before looking at the session, so no wake-up can fall in between.
        s.set_io_waker(cx.waker());
        for (i, o) in self.out.iter_mut().enumerate() {
            // Even for a finished session: its CLOSE may be waiting in the buffers.
            if matches!(o, Out::Idle) {
                *o = Out::Requested;
                let kind = ChannelKind::ALL[i];
                let upgrade = Channels(vec![protocol(kind)]);
                return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                    protocol: SubstreamProtocol::new(upgrade, kind)
                        .with_timeout(self.shared.cfg.connect_timeout),
                });
            }
        }
        for _ in 0..ROUNDS_PER_POLL {
            let mut progress = false;
            for i in 0..3 {
                progress |= self.write_step(cx, i, &s, conn);
            }
            let mut readers = std::mem::take(&mut self.inbound);
            readers.retain_mut(|r| match self.read_step(cx, r) {
                ReadOutcome::Keep(p) => {
                    progress |= p;
                    true
                }
                ReadOutcome::Drop => false,
            });
            readers.append(&mut self.inbound);
            self.inbound = readers;
            if !progress {
                return Poll::Pending;
            }
            // A listener restart may have attached a fresh session.
            if self
                .attached
                .as_ref()
                .is_some_and(|(a, _)| !Arc::ptr_eq(a, &s))
            {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        // Still busy: let the connection itself and other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, ev: Attach) {
        self.attached = Some((ev.session, ev.conn));
    }

    fn on_connection_event(&mut self, ev: ConnectionEvent<Channels, Channels, (), ChannelKind>) {
        match ev {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: (stream, proto),
                ..
            }) => {
                let Some(kind) = kind_of(&proto) else {
                    return;
                };
                if self.inbound.len() >= MAX_INBOUND_STREAMS {
                    // More streams than a peer needs: drop (reset) and count.
                    self.shared.frames_rejected.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                self.inbound.push(Reader {
                    kind,
                    stream,
                    buf: BytesMut::new(),
                    filled: 0,
                });
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: (stream, _),
                info: kind,
            }) => {
                self.out[kind.index()] = Out::Open(Box::new(Writer {
                    stream,
                    buf: Vec::new(),
                    pos: 0,
                    dirty: false,
                    closing: false,
                }));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: kind, error }) => {
                self.out[kind.index()] = Out::Done;
                if let Some((s, conn)) = self.attached.clone() {
                    s.emit(
                        "stream_error",
                        vec![
                            ("channel", kind.as_str().into()),
                            ("error", error.to_string()),
                        ],
                    );
                    self.drop_connection(&s, conn);
                }
            }
            _ => {}
        }
    }
}

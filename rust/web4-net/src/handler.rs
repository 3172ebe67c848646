//! The RTT connection handler: a connection's channel streams, read and written inside
//! that connection's own task.
//!
//! Theory of operation: libp2p runs one task per connection and polls its handler
//! there. [`RttBehaviour`] gives every connection an [`RttHandler`]; once the node's
//! endpoint has given the connection to a session (`web4_proto::session::Endpoint`), the
//! driver sends the handler an [`Attach`] with the session and the connection's number.
//! Like libp2p's ping handler, the handler talks to the rest of the node only through
//! events: [`Attach`] in, [`HandlerEvent`] out (a failed stream: the behaviour closes the
//! connection with `ToSwarm::CloseConnection`; a rejected frame: counted; a listener
//! restart: the endpoint decides and attaches the fresh session). It shares no lock with
//! the driver; the only state it shares is its session (the data path). The handler then opens one
//! outbound stream per channel kind (`/web4/rtt/<kind>/1.0.0`, written only), when the
//! session first has a frame for it, and reads
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
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::{AsyncRead, AsyncWrite};
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, InboundUpgrade, OutboundUpgrade, UpgradeInfo};
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
};
use libp2p::swarm::{
    CloseConnection, ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId,
    FromSwarm, NetworkBehaviour, NotifyHandler, Stream, StreamProtocol, SubstreamProtocol,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use web4_proto::session::{ChannelKind, ConnNumber, ReadAction};

use crate::config::{protocol, Config};
use crate::framing::decode_prefix;
use crate::session::Session;

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
    pub(crate) conn: ConnNumber,
}

/// What a connection's handler reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HandlerEvent {
    /// The connection can no longer carry everything its session counts as sent (a
    /// stream failed): close it, so that the next connection's resume retransmits.
    Failed,
    /// A malformed frame or a stream too many was rejected (a node-wide counter).
    Rejected,
    /// The listener session on this connection closed because the dialler opened a new
    /// session with `open`: the endpoint restarts it (a new [`Attach`] follows) or the
    /// connection closes. Reading and writing pause meanwhile.
    Restart { open: Bytes },
    /// The first RTT stream arrived on an inbound connection not yet given to a
    /// session: now it is the endpoint's (a connection that never opens one, such as
    /// a peer's Kademlia queries, makes no session).
    Opened,
}

/// What the behaviour reports to the driver: a handler's event, with its connection.
#[derive(Debug)]
pub(crate) struct RttEvent {
    pub(crate) conn: ConnectionId,
    pub(crate) event: HandlerEvent,
}

/// What every handler needs to know of the node's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandlerConfig {
    /// Most bytes the session's stream buffers may hold before reading pauses.
    pending_cap: usize,
    max_frame: usize,
    upgrade_timeout: Duration,
}

impl HandlerConfig {
    pub(crate) fn new(cfg: &Config) -> Self {
        // Everything the in-flight windows allow (payloads plus framing), plus 1 MiB of
        // control frames.
        let pending_cap = cfg
            .session
            .channels
            .iter()
            .map(|c| c.inflight_bytes + c.inflight_msgs * 64)
            .sum::<usize>()
            + (1 << 20);
        Self {
            pending_cap,
            max_frame: cfg.max_frame(),
            upgrade_timeout: cfg.connect_timeout,
        }
    }
}

/// Creates a handler per connection, delivers the driver's [`Attach`] messages, and
/// turns the handlers' events into swarm actions (close a connection) or driver events.
pub(crate) struct RttBehaviour {
    cfg: HandlerConfig,
    pending: VecDeque<ToSwarm<RttEvent, Attach>>,
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
    pub(crate) fn new(cfg: HandlerConfig) -> Self {
        Self {
            cfg,
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
        conn: ConnNumber,
    ) {
        self.push(ToSwarm::NotifyHandler {
            peer_id: peer,
            handler: NotifyHandler::One(id),
            event: Attach { session, conn },
        });
    }

    fn push(&mut self, ev: ToSwarm<RttEvent, Attach>) {
        self.pending.push_back(ev);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl NetworkBehaviour for RttBehaviour {
    type ConnectionHandler = RttHandler;
    type ToSwarm = RttEvent;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(RttHandler::new(self.cfg, true))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // Announced too: an outbound connection nobody dialled for a session (a
        // hole-punched one, DCUtR) becomes a session's when the peer's streams arrive.
        Ok(RttHandler::new(self.cfg, true))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        conn: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            HandlerEvent::Failed => self.push(ToSwarm::CloseConnection {
                peer_id: peer,
                connection: CloseConnection::One(conn),
            }),
            event => self.push(ToSwarm::GenerateEvent(RttEvent { conn, event })),
        }
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
    /// Not asked for yet: nothing was written on it.
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
    cfg: HandlerConfig,
    attached: Option<(Arc<Session>, ConnNumber)>,
    /// A listener restart was asked for: nothing moves until the next [`Attach`].
    restarting: bool,
    /// An inbound connection whose first RTT stream is not reported yet
    /// ([`HandlerEvent::Opened`]).
    unannounced: bool,
    /// Events for the behaviour, oldest first.
    events: VecDeque<HandlerEvent>,
    out: [Out; 3],
    inbound: Vec<Reader>,
}

impl RttHandler {
    fn new(cfg: HandlerConfig, inbound: bool) -> Self {
        Self {
            cfg,
            attached: None,
            restarting: false,
            unannounced: inbound,
            events: VecDeque::new(),
            out: [Out::Idle, Out::Idle, Out::Idle],
            inbound: Vec::new(),
        }
    }

    /// The connection can no longer carry everything the session counts as sent: have
    /// it dropped, so the resume exchange of the next one retransmits.
    fn drop_connection(&mut self, s: &Session, conn: ConnNumber) {
        if s.conn() == conn && !s.is_closed() && !self.events.contains(&HandlerEvent::Failed) {
            self.events.push_back(HandlerEvent::Failed);
        }
    }

    /// Write what the session has for stream `i`. Returns whether bytes moved.
    fn write_step(
        &mut self,
        cx: &mut Context<'_>,
        i: usize,
        s: &Arc<Session>,
        conn: ConnNumber,
    ) -> bool {
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
        let max = self.cfg.max_frame;
        let mut progress = false;
        loop {
            let Some((s, conn)) = self.attached.clone() else {
                return ReadOutcome::Keep(progress);
            };
            if self.restarting {
                return ReadOutcome::Keep(progress);
            }
            if s.is_closed() || s.conn() != conn {
                return ReadOutcome::Drop;
            }
            if !s.recv_window_open(r.kind) {
                s.kick.notify_one(); // let acks for what was delivered go out
                return ReadOutcome::Keep(progress);
            }
            if s.pending_bytes() > self.cfg.pending_cap {
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
                    // A message for the application wakes its waiters inside
                    // `read_frame` (the session layer's `Readable`).
                    let (action, _) = s.read_frame(conn, r.kind, &body);
                    match action {
                        ReadAction::Continue => {}
                        ReadAction::StopStream => return ReadOutcome::Drop,
                        ReadAction::DropConnection => {
                            s.kick.notify_one();
                            return ReadOutcome::Drop; // the session drops the connection
                        }
                        ReadAction::Restarted => {
                            // The dialler's OPEN of a new session closed ours: the endpoint
                            // gives this connection to a fresh listener that answers it.
                            self.restarting = true;
                            self.events.push_back(HandlerEvent::Restart { open: body });
                            return ReadOutcome::Keep(true);
                        }
                    }
                    continue;
                }
                Ok(_) => {} // the frame is not complete yet
                Err(e) => {
                    self.events.push_back(HandlerEvent::Rejected);
                    s.emit(
                        "frame_rejected",
                        vec![
                            ("channel", r.kind.as_str().into()),
                            ("error", e.to_string().into()),
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
    type ToBehaviour = HandlerEvent;
    type InboundProtocol = Channels;
    type OutboundProtocol = Channels;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ChannelKind;

    fn listen_protocol(&self) -> SubstreamProtocol<Channels, ()> {
        SubstreamProtocol::new(Channels(ChannelKind::ALL.map(protocol).to_vec()), ())
    }

    fn connection_keep_alive(&self) -> bool {
        // A session's connections are closed explicitly (session over, superseded, or
        // failed); one without RTT streams (Kademlia's) is left to the idle timeout.
        self.attached.is_some() || !self.inbound.is_empty()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Channels, ChannelKind, HandlerEvent>> {
        if let Some(ev) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(ev));
        }
        let Some((s, conn)) = self.attached.clone() else {
            return Poll::Pending; // on_behaviour_event(Attach) comes with a poll
        };
        if self.restarting {
            return Poll::Pending; // the endpoint's answer (Attach) comes with a poll
        }
        if s.conn() != conn {
            // Superseded by a newer connection: nothing more to do here.
            self.out = [Out::Done, Out::Done, Out::Done];
            self.inbound.clear();
            return Poll::Pending;
        }
        // Registered before looking at the session, so no wake-up can fall in between.
        s.set_io_waker(cx.waker());
        // A stream is asked for when its first frame is waiting (a session's CLOSE
        // too), not before: with lazy negotiation the peer sees it only with that frame
        // anyway (§3), and a setup asks for one stream per side, not three (issue 13).
        let waiting = if self.out.iter().any(|o| matches!(o, Out::Idle)) {
            s.waiting_streams(conn)
        } else {
            [false; 3]
        };
        for (i, o) in self.out.iter_mut().enumerate() {
            if matches!(o, Out::Idle) && waiting[i] {
                *o = Out::Requested;
                let kind = ChannelKind::ALL[i];
                let upgrade = Channels(vec![protocol(kind)]);
                return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                    protocol: SubstreamProtocol::new(upgrade, kind)
                        .with_timeout(self.cfg.upgrade_timeout),
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
            if let Some(ev) = self.events.pop_front() {
                // A failed stream, a rejected frame or a listener restart: tell the
                // behaviour now (a restart pauses everything until it answers).
                return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(ev));
            }
            if !progress {
                return Poll::Pending;
            }
        }
        // Still busy: let the connection itself and other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, ev: Attach) {
        self.attached = Some((ev.session, ev.conn));
        self.restarting = false;
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
                    self.events.push_back(HandlerEvent::Rejected);
                    return;
                }
                self.inbound.push(Reader {
                    kind,
                    stream,
                    buf: BytesMut::new(),
                    filled: 0,
                });
                if self.unannounced {
                    self.unannounced = false;
                    self.events.push_back(HandlerEvent::Opened);
                }
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
                            ("error", error.to_string().into()),
                        ],
                    );
                    self.drop_connection(&s, conn);
                }
            }
            _ => {}
        }
    }
}

//! The per-peer session state machine.
//!
//! Theory of operation (see also the module summary in `session/mod.rs`):
//!
//! ```text
//!  dialler:  Connecting --on_connected--> Handshaking --RESUME_OK--> Established
//!  listener: Disconnected --on_connected--> Handshaking --OPEN/RESUME--> Established
//!  Established --lost / heartbeat timeout / protocol error / rekey--> Disconnected
//!  Disconnected --(dialler) backoff elapsed: Event::ReconnectAttempt--> Connecting
//!  any --close / CLOSE / RESUME_REJECT / expiry--> Closed (Event::SessionClose + unacked)
//! ```
//!
//! Every connection gets a number from `on_connected`; frames and losses reported for
//! any other number are ignored, so a late frame of a dead connection cannot disturb
//! the current one. A newer connection always supersedes the current one.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use super::channel::Channel;
pub use super::channel::SendOutcome;
use super::heartbeat::Heartbeat;
use super::stats::RttWindow;
use super::{
    Backoff, ChannelKind, CloseReason, ConnNumber, Event, Frame, LossCause, SessionConfig,
    SessionError, SessionId, SessionRng, SessionStats, SplitMix64, Unacked,
};

/// Which end of the connection this session dialled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Picks the session id, sends OPEN / RESUME, re-dials after a loss.
    Dialer,
    /// Answers OPEN / RESUME, waits for the dialler after a loss.
    Listener,
}

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Dialler: a dial is in progress.
    Connecting,
    /// Connected; OPEN/RESUME not yet answered.
    Handshaking,
    /// Connected and resumed: data flows.
    Established,
    /// No connection (listener: waiting for the dialler; dialler: backing off).
    Disconnected,
    /// Ended; only a queued CLOSE may still be transmitted.
    Closed(CloseReason),
}

/// A frame to write: `poll_transmit` appended its bytes to the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The connection it belongs to (as numbered by `on_connected`).
    pub conn: ConnNumber,
    /// The channel stream to write it on (as one varint-length-prefixed message).
    pub stream: ChannelKind,
}

const MAX_CONTROL_QUEUE: usize = 64;

/// One RTT session with one peer. See the module docs for the driver recipe.
#[derive(Debug)]
pub struct Session {
    role: Role,
    cfg: SessionConfig,
    id: Option<SessionId>,
    state: SessionState,
    opened: bool,
    /// A listener closed by the dialler's OPEN of a new session (RTT_SPEC §5.5).
    restart_by_open: bool,
    rng: SplitMix64,
    channels: [Channel; 3],
    conn: ConnNumber,
    conn_since: Duration,
    conn_bytes: u64,
    rekey_pending: bool,
    rekey_signalled: bool,
    handshake_deadline: Option<Duration>,
    lost_at: Option<Duration>,
    redial_at: Option<Duration>,
    last_delay: Duration,
    backoff: Backoff,
    heartbeat: Option<Heartbeat>,
    rtt: RttWindow,
    out: VecDeque<(ChannelKind, Vec<u8>)>,
    events: VecDeque<Event>,
    rr: usize,
    stats: SessionStats,
}

impl Session {
    /// A dialler session with a fresh random id, in `Connecting`: the driver dials, then
    /// calls `on_connected` (or `on_dial_failed`).
    pub fn new_dialer(cfg: SessionConfig, now: Duration, rng: &mut dyn SessionRng) -> Self {
        let mut s = Self::new(Role::Dialer, cfg, now, rng);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        s.id = Some(id);
        s.state = SessionState::Connecting;
        s
    }

    /// A listener session, `Disconnected` with no id yet: call `on_connected` for the
    /// inbound connection; the id comes with the dialler's OPEN.
    pub fn new_listener(cfg: SessionConfig, now: Duration, rng: &mut dyn SessionRng) -> Self {
        Self::new(Role::Listener, cfg, now, rng)
    }

    fn new(role: Role, cfg: SessionConfig, now: Duration, rng: &mut dyn SessionRng) -> Self {
        let channels = ChannelKind::ALL.map(|k| Channel::new(k, cfg.channel(k).clone()));
        Self {
            role,
            backoff: Backoff::new(cfg.backoff.clone()),
            handshake_deadline: Some(now + cfg.handshake_timeout),
            cfg,
            id: None,
            state: SessionState::Disconnected,
            opened: false,
            restart_by_open: false,
            rng: SplitMix64::new(rng.next_u64()),
            channels,
            conn: ConnNumber::default(),
            conn_since: now,
            conn_bytes: 0,
            rekey_pending: false,
            rekey_signalled: false,
            lost_at: None,
            redial_at: None,
            last_delay: Duration::ZERO,
            heartbeat: None,
            rtt: RttWindow::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            rr: 0,
            stats: SessionStats::default(),
        }
    }

    /// This session's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The session id (a listener has none before OPEN).
    pub fn id(&self) -> Option<SessionId> {
        self.id
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// True once the session opened (OPEN answered); it may be resuming now.
    pub fn is_opened(&self) -> bool {
        self.opened
    }

    /// True when this listener session closed because the dialler opened a new session
    /// (`PeerRestarted` after an OPEN): a fresh listener must answer that same OPEN on
    /// the same connection (the [`Endpoint`](crate::session::Endpoint) does).
    pub fn restarted_by_open(&self) -> bool {
        self.restart_by_open
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, SessionState::Closed(_))
    }

    /// The number of the current connection (0 before the first).
    pub fn connection(&self) -> ConnNumber {
        self.conn
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Queue `payload` on `kind` (a `Vec<u8>` or shared `Bytes`; never copied here).
    /// Errors: `Closed`, `PayloadTooLarge`, and per policy `WouldBlock` (block) or
    /// `QueueFull` (error).
    pub fn send(
        &mut self,
        kind: ChannelKind,
        payload: impl Into<Bytes>,
    ) -> Result<SendOutcome, SessionError> {
        let payload = payload.into();
        if let SessionState::Closed(r) = self.state {
            return Err(SessionError::Closed(r));
        }
        if payload.len() > self.cfg.max_payload {
            return Err(SessionError::PayloadTooLarge {
                len: payload.len(),
                max: self.cfg.max_payload,
            });
        }
        let outcome = self.channels[kind.index()].push(payload)?;
        match outcome {
            SendOutcome::QueuedDroppedOldest(n) if n > 0 => self.events.push_back(Event::Dropped {
                channel: kind,
                count: n,
            }),
            SendOutcome::Dropped => self.events.push_back(Event::Dropped {
                channel: kind,
                count: 1,
            }),
            _ => {}
        }
        Ok(outcome)
    }

    /// True if a `len`-byte message fits in the send queue of `kind` now.
    pub fn can_send(&self, kind: ChannelKind, len: usize) -> bool {
        !self.is_closed() && self.channels[kind.index()].can_queue(len)
    }

    /// The next received message on `kind`, if any.
    pub fn recv(&mut self, kind: ChannelKind) -> Option<Bytes> {
        self.channels[kind.index()].recv()
    }

    /// Messages waiting to be read on `kind`.
    pub fn recv_len(&self, kind: ChannelKind) -> usize {
        self.channels[kind.index()].recv_len()
    }

    /// True while the driver may read another DATA frame from stream `kind`.
    pub fn recv_window_open(&self, kind: ChannelKind) -> bool {
        self.channels[kind.index()].recv_window_open()
    }

    /// True when every message sent was acknowledged and nothing waits to be sent.
    pub fn all_acked(&self) -> bool {
        self.channels.iter().all(Channel::all_acked)
    }

    /// Count a handshake or envelope verification failure seen by the driver.
    pub fn record_verification_failure(&mut self) {
        self.stats.verification_failures += 1;
    }

    /// A snapshot of the telemetry.
    pub fn stats(&self) -> SessionStats {
        let mut s = self.stats.clone();
        s.channels = [0, 1, 2].map(|i| self.channels[i].snapshot());
        s.rtt_p50_us = self.rtt.percentile(50);
        s.rtt_p95_us = self.rtt.percentile(95);
        s
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A new connection to the peer is up; returns its number. Supersedes any current
    /// connection (the driver closes the old one). The dialler sends OPEN or RESUME.
    pub fn on_connected(&mut self, now: Duration) -> ConnNumber {
        self.conn.0 += 1;
        if self.is_closed() {
            return self.conn;
        }
        if self.state == SessionState::Established {
            self.lost_at.get_or_insert(now);
        }
        self.out.clear();
        self.state = SessionState::Handshaking;
        self.handshake_deadline = Some(now + self.cfg.handshake_timeout);
        self.heartbeat = None;
        self.redial_at = None;
        if let (Role::Dialer, Some(session)) = (self.role, self.id) {
            let delivered = self.delivered();
            let frame = if self.opened {
                Frame::Resume { session, delivered }
            } else {
                Frame::Open { session, delivered }
            };
            self.out.push_back((ChannelKind::Control, frame.to_vec()));
        }
        self.conn
    }

    /// Connection `conn` is gone (ignored if it is not the current one).
    pub fn on_connection_lost(&mut self, conn: ConnNumber, now: Duration) {
        if conn == self.conn
            && matches!(
                self.state,
                SessionState::Handshaking | SessionState::Established
            )
        {
            self.lose_connection(now, LossCause::ConnectionClosed);
        }
    }

    /// Dialler: the dial asked for by `ReconnectAttempt` failed; back off again.
    pub fn on_dial_failed(&mut self, now: Duration) {
        if self.state == SessionState::Connecting {
            self.lose_connection(now, LossCause::ConnectionClosed);
        }
    }

    /// Close the session: queue CLOSE (if connected) and report `SessionClose` with
    /// everything never acknowledged. Closing twice does nothing.
    pub fn close(&mut self, reason: CloseReason, text: &str) {
        if self.is_closed() {
            return;
        }
        let connected = matches!(
            self.state,
            SessionState::Handshaking | SessionState::Established
        );
        self.out.clear();
        if connected && (self.opened || self.role == Role::Dialer) {
            self.out
                .push_back((ChannelKind::Control, Frame::Close { reason, text }.to_vec()));
        }
        self.finish(reason, text);
    }

    fn delivered(&self) -> [u64; 3] {
        [0, 1, 2].map(|i| self.channels[i].delivered)
    }

    fn finish(&mut self, reason: CloseReason, text: &str) {
        self.state = SessionState::Closed(reason);
        let mut unacked: Vec<Unacked> = Vec::new();
        for ch in &mut self.channels {
            ch.take_unacked(&mut unacked);
        }
        if self.opened || self.role == Role::Dialer {
            self.events.push_back(Event::SessionClose {
                reason,
                text: text.to_owned(),
                unacked,
            });
        }
    }

    /// The current connection is gone for `cause`. An established session reports
    /// `Disconnected` at once (once per loss: a resume attempt that fails again before
    /// it is established reports nothing more; nor does a rekey, which re-dials at once).
    fn lose_connection(&mut self, now: Duration, cause: LossCause) {
        let was_connected = self.state == SessionState::Established;
        self.out.clear();
        self.heartbeat = None;
        self.handshake_deadline = None;
        self.state = SessionState::Disconnected;
        if self.opened {
            let lost_at = *self.lost_at.get_or_insert(now);
            if was_connected && !self.rekey_pending {
                let expires_in = (lost_at + self.cfg.expiry).saturating_sub(now);
                self.events
                    .push_back(Event::Disconnected { cause, expires_in });
            }
        } else if self.role == Role::Listener {
            self.finish(CloseReason::ProtocolError, "connection lost before OPEN");
            return;
        } else {
            self.lost_at.get_or_insert(now);
        }
        if self.role == Role::Dialer {
            self.last_delay = if std::mem::take(&mut self.rekey_pending) {
                Duration::ZERO
            } else {
                self.backoff.next_delay(&mut self.rng)
            };
            self.redial_at = Some(now + self.last_delay);
        }
    }
}

mod io;
mod timers;

//! Events a session reports to its driver: lifecycle, replays, rekey, dial requests.
//!
//! Theory of operation: events are frozen data, queued in the order they happen and
//! drained with `Session::poll_event`. Lifecycle order is fixed: `SessionOpen` first and
//! once; for every lost connection of an opened session `HeartbeatTimeout` (if that was
//! the cause), `Disconnected` (at once, whatever the cause), then one `ReconnectAttempt`
//! per dial (dialler), then `SessionResumed`; `SessionClose` last and
//! once, after which the session reports nothing more. A listener session whose peer
//! never completed OPEN closes without events.

use std::time::Duration;

use super::{ChannelKind, CloseReason, ConnNumber};

/// A message that was never acknowledged by the peer, handed back when a session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unacked {
    /// Its channel.
    pub channel: ChannelKind,
    /// Its sequence number, or `None` if it never left the send queue.
    pub seq: Option<u64>,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Why an opened session lost its connection (`Event::Disconnected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossCause {
    /// The driver reported the connection closed (the peer process died, the peer
    /// closed it, a reset).
    ConnectionClosed,
    /// Nothing arrived from the peer for the heartbeat timeout.
    HeartbeatTimeout,
    /// A reliable frame got no ACK for the ack timeout while the link seemed up.
    AckTimeout,
    /// A new connection's OPEN/RESUME exchange did not finish in time.
    HandshakeTimeout,
    /// The peer sent a malformed or protocol-breaking frame.
    ProtocolError,
}

impl LossCause {
    /// The cause's name in the observability contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionClosed => "connection_closed",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::AckTimeout => "ack_timeout",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::ProtocolError => "protocol_error",
        }
    }
}

/// Something the driver must know or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The first handshake completed (`session_open`).
    SessionOpen,
    /// A later handshake completed and retransmission started (`session_resumed`).
    SessionResumed {
        /// How many frames are being retransmitted.
        retransmitted: u64,
    },
    /// Nothing came from the peer for the heartbeat timeout (`heartbeat_timeout`). The
    /// session now counts as disconnected: the driver closes the connection.
    HeartbeatTimeout,
    /// An opened session lost its connection (`disconnected`): data waits, the resume
    /// window (`expires_in`) is open; the dialler re-dials, the listener waits. Not
    /// reported for a rekey (the dialler drops the connection on purpose and re-dials
    /// at once).
    Disconnected {
        cause: LossCause,
        /// Time left before the session expires unless a connection resumes it.
        expires_in: Duration,
    },
    /// Dialler only: dial the peer now (`reconnect_attempt`). Answer with
    /// `on_connected` or `on_dial_failed`.
    ReconnectAttempt {
        /// 1 for the first re-dial after a loss, 2 for the next, ...
        attempt: u32,
        /// The backoff delay that preceded this attempt.
        delay: Duration,
    },
    /// The session ended (`session_close(reason)`); everything never acknowledged.
    SessionClose {
        reason: CloseReason,
        text: String,
        unacked: Vec<Unacked>,
    },
    /// A replayed or stale frame was dropped (counted in the stats; `RTTReplayError`).
    ReplayRejected {
        channel: ChannelKind,
        seq: u64,
        stale_session: bool,
    },
    /// Dialler only: the connection is due for a rekey. Close it, then call
    /// `on_connection_lost`; the session re-dials at once and resumes.
    RekeyDue,
    /// The session gave up on connection `conn` (heartbeat or handshake timeout, bad
    /// frame): the driver closes it. No `on_connection_lost` is needed for it.
    DropConnection { conn: ConnNumber },
    /// The send queue of this channel has room again (after a `WouldBlock`).
    Writable(ChannelKind),
    /// The receive queue of this channel has a message for `recv`.
    Readable(ChannelKind),
    /// A policy dropped messages on this channel (send side or state conflation).
    Dropped { channel: ChannelKind, count: u64 },
}

impl Event {
    /// The event's name in the observability contract, e.g. `session_open`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SessionOpen => "session_open",
            Self::SessionResumed { .. } => "session_resumed",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::Disconnected { .. } => "disconnected",
            Self::ReconnectAttempt { .. } => "reconnect_attempt",
            Self::SessionClose { .. } => "session_close",
            Self::ReplayRejected { .. } => "replay_rejected",
            Self::RekeyDue => "rekey_due",
            Self::DropConnection { .. } => "drop_connection",
            Self::Writable(_) => "writable",
            Self::Readable(_) => "readable",
            Self::Dropped { .. } => "dropped",
        }
    }
}

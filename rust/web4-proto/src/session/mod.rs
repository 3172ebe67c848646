//! RTT session layer, sans-IO: sequence numbers, acks, resumption, replay rejection,
//! heartbeat, backoff and bounded queues for one peer, with no sockets and no clock.
//!
//! # Theory of operation
//! A [`Session`] lives per peer and outlives connections. The driver (`web4-net`) owns
//! the libp2p connection and one stream per [`ChannelKind`]; it feeds the session what
//! happens and carries out what the session asks, in the style of `quinn-proto`:
//!
//! - inputs: [`Session::on_connected`], [`Session::on_connection_lost`],
//!   [`Session::on_dial_failed`], [`Session::handle_frame`] (one decoded varint message
//!   from a stream), [`Session::handle_timeout`], [`Session::send`], [`Session::recv`],
//!   [`Session::close`];
//! - outputs: [`Session::poll_transmit`] (frame bytes plus the stream they go on; or
//!   [`Session::poll_transmit_framed`], already varint-prefixed, per stream buffer),
//!   [`Session::poll_event`] ([`Event`]s: lifecycle, replays, rekey, dial requests,
//!   connections to drop, writable/readable channels),
//!   [`Session::poll_timeout`] (when to call `handle_timeout` next), [`Session::stats`].
//!
//! Time is a `Duration` since any fixed origin the driver picks (a monotonic clock);
//! randomness comes from a [`SessionRng`] passed at construction. Same inputs, same
//! outputs, byte for byte.
//!
//! Streams: DATA for channel `k` travels on stream `k`. OPEN / RESUME / RESUME_OK /
//! RESUME_REJECT / CLOSE travel on `control`. ACK (for any channel), HEARTBEAT and
//! HEARTBEAT_ACK travel on `state`, whose reader never stops (state conflates), so a
//! slow consumer of `knowledge` or `control` never looks like a dead link.
//!
//! The dialler picks the session id and sends OPEN on its first connection and RESUME
//! on every later one; the listener answers RESUME_OK (its delivered seqs) or
//! RESUME_REJECT. Both sides then retransmit what the other has not delivered. Only the
//! dialler re-dials (exponential backoff with jitter, see [`Backoff`]); a listener
//! session waits, disconnected, until the expiry.
//!
//! Ack timeout: if a reliable channel's frames sent on the current connection get no
//! ACK for [`SessionConfig::ack_timeout`] (a frame lost while the link stays up), the
//! session drops the connection and the resume exchange retransmits them; a receiver
//! with a closed receive window repeats its ACK with each heartbeat so that a slow
//! reader never trips it.
//!
//! Driver recipe:
//! 1. dialler: `Session::new_dialer(cfg, now, &mut rng)`, dial, then `on_connected`;
//!    listener: on an inbound connection from a peer with no live session,
//!    `Session::new_listener(cfg, now, &mut rng)` (already connected).
//! 2. loop: feed every inbound message to `handle_frame(stream, bytes, now)`; drain
//!    `poll_transmit` into the streams; drain `poll_event`; sleep until
//!    `poll_timeout()` or IO, then `handle_timeout(now)`.
//! 3. read stream `k` only while `recv_window_open(k)` (that is receive backpressure).
//! 4. `Event::ReconnectAttempt` means dial now (dialler only); then `on_connected` or
//!    `on_dial_failed`. `Event::DropConnection { conn }` means close that connection
//!    (the session already counts it as lost). `Event::RekeyDue` means: close the
//!    connection, then `on_connection_lost(conn, now)`; the session asks for a dial at
//!    once. The driver calls `on_connection_lost` whenever libp2p reports a closed
//!    connection; numbers of old connections are ignored.
//! 5. `send` returning `Err(WouldBlock)` (policy block): wait for `Event::Writable` or
//!    `can_send` with a deadline, then raise `RTTBackpressureError`
//!    ([`SessionError::class`] says which Python class every error maps to).
//! 6. graceful close: wait (with a deadline) for `all_acked()`, then `close(..)`, drain
//!    `poll_transmit` (the CLOSE frame), then close the connection.
//! 7. a listener session that closes with [`CloseReason::PeerRestarted`] after an OPEN:
//!    make a new listener session, `on_connected`, and feed it the same OPEN bytes.
//!
//! Allocation note: the layer copies a payload once on send (into the caller's frame
//! buffer) and once on receive (into the receive queue); with 64 KiB messages the
//! allocator's page faults dominate its cost, so the driver should reuse buffers.

mod backoff;
mod channel;
mod config;
mod endpoint;
mod error;
mod event;
pub mod frame;
mod heartbeat;
mod ids;
mod machine;
mod rng;
mod stats;
mod wire;

pub use backoff::{Backoff, BackoffConfig};
pub use config::{ChannelConfig, QueuePolicy, SessionConfig};
pub use endpoint::{
    DialAction, DialFailed, Endpoint, EndpointEvent, EndpointSession, OpFailure, ReadAction,
    MAX_PENDING_ACCEPTS,
};
pub use error::{ErrorClass, SessionError};
pub use event::{Event, LossCause, Unacked};
pub use frame::{CloseReason, Frame, FrameError, FrameType, SessionId};
pub use heartbeat::HeartbeatConfig;
pub use ids::{ConnNumber, OpId, SessionHandle};
pub use machine::{Role, SendOutcome, Session, SessionState, Transmit};
pub use rng::{SessionRng, SplitMix64};
pub use stats::{ChannelStats, SessionStats};
pub use wire::{get_varint, put_varint};

/// The three RTT channel kinds. Wire codes: state 0, knowledge 1, control 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelKind {
    /// Presence, load and trust updates; may conflate to the latest value.
    State,
    /// Facts, decisions, DMP traces; exactly once, in order.
    Knowledge,
    /// Handshake, errors, metrics; exactly once, in order.
    Control,
}

impl ChannelKind {
    /// All kinds, in wire-code order (the order of per-channel arrays).
    pub const ALL: [ChannelKind; 3] = [
        ChannelKind::State,
        ChannelKind::Knowledge,
        ChannelKind::Control,
    ];

    /// The wire code, also the index into per-channel arrays.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Index into per-channel arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind for a wire code. Errors: [`FrameError::UnknownChannel`].
    pub fn from_code(code: u8) -> Result<Self, FrameError> {
        match code {
            0 => Ok(Self::State),
            1 => Ok(Self::Knowledge),
            2 => Ok(Self::Control),
            other => Err(FrameError::UnknownChannel(other)),
        }
    }

    /// `state`, `knowledge` or `control`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Knowledge => "knowledge",
            Self::Control => "control",
        }
    }

    /// The kind named `name`, or `None`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The libp2p protocol id of this channel, e.g. `/web4/rtt/knowledge/1.0.0`.
    pub fn protocol_id(self) -> &'static str {
        match self {
            Self::State => "/web4/rtt/state/1.0.0",
            Self::Knowledge => "/web4/rtt/knowledge/1.0.0",
            Self::Control => "/web4/rtt/control/1.0.0",
        }
    }

    /// True for `knowledge` and `control`: exactly once, in order, retransmitted.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::State)
    }
}

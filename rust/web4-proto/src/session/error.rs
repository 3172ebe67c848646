//! The session layer's error enum and the Python class each variant maps to.
//!
//! Theory of operation: one enum for everything a session call can refuse. Each variant
//! says whose fault it is, and [`SessionError::class`] tells the binding which
//! `web4.errors` class to raise, so the mapping lives next to the variants.

use thiserror::Error;

use super::{ChannelKind, CloseReason, FrameError};

/// Which `web4.errors` class a [`SessionError`] becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// `RTTTransportError`
    Transport,
    /// `RTTBackpressureError`
    Backpressure,
    /// `RTTReplayError`
    Replay,
}

/// Why a session call failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// Remote: a frame is malformed. The driver resets that stream and counts it.
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
    /// Remote: a well-formed frame breaks the protocol (wrong stream, wrong state, a gap
    /// in a reliable channel, a resume answer for another session). The driver closes
    /// the connection; the session resumes on the next one.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Remote: a frame at or below the last delivered seq, or from a stale session. It
    /// was dropped and counted; the session and the connection are kept.
    #[error("replayed frame on {channel:?} (seq {seq}, stale session: {stale_session})")]
    Replay {
        channel: ChannelKind,
        seq: u64,
        stale_session: bool,
    },
    /// Local: the send queue of `channel` is full under policy `block`. Wait for
    /// `Event::Writable(channel)` (with a deadline) and try again.
    #[error("send queue of {0:?} is full (would block)")]
    WouldBlock(ChannelKind),
    /// Local: the send queue of `channel` is full under policy `error`.
    #[error("send queue of {0:?} is full")]
    QueueFull(ChannelKind),
    /// Local: the driver fed a DATA frame while `recv_window_open` was false. The frame
    /// was not accepted (it is retransmitted after the next resume).
    #[error("receive queue of {0:?} is full")]
    ReceiveFull(ChannelKind),
    /// Local: a payload larger than `max_payload`.
    #[error("payload of {len} bytes is over the limit of {max}")]
    PayloadTooLarge { len: usize, max: usize },
    /// Local: the session is closed.
    #[error("session closed ({})", .0.as_str())]
    Closed(CloseReason),
}

impl SessionError {
    /// The Python class this error becomes.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Replay { .. } => ErrorClass::Replay,
            Self::WouldBlock(_) | Self::QueueFull(_) => ErrorClass::Backpressure,
            _ => ErrorClass::Transport,
        }
    }

    /// True when the session gave up on the current connection (it also reported
    /// `Event::DropConnection`); the driver closes it, the session survives.
    pub fn is_connection_fatal(&self) -> bool {
        matches!(self, Self::Frame(_) | Self::Protocol(_))
    }
}

//! Session configuration: queue bounds and policies per channel, heartbeat, backoff,
//! expiry, rekey thresholds and acknowledgement pacing.
//!
//! Theory of operation: plain data with documented defaults; the session reads it and
//! never changes it. Every queue has two bounds, messages and bytes, and a message is
//! refused by a bound only when the queue is non-empty, so one message larger than the
//! byte bound still passes alone (it is already bounded by `max_payload`).

use std::time::Duration;

use super::{BackoffConfig, ChannelKind, HeartbeatConfig};

/// What `send` does when a channel's send queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueuePolicy {
    /// Refuse with [`SessionError::WouldBlock`](super::SessionError::WouldBlock); the
    /// driver waits for [`Event::Writable`](super::Event::Writable) up to a timeout, then
    /// raises `RTTBackpressureError`.
    Block,
    /// Refuse with [`SessionError::QueueFull`](super::SessionError::QueueFull).
    Error,
    /// Queue the new message and drop the oldest queued ones until it fits (counted).
    DropOldest,
    /// Drop the new message (counted); `send` returns [`SendOutcome::Dropped`](super::SendOutcome::Dropped).
    DropNewest,
}

impl QueuePolicy {
    /// `block`, `error`, `drop_oldest` or `drop_newest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Error => "error",
            Self::DropOldest => "drop_oldest",
            Self::DropNewest => "drop_newest",
        }
    }

    /// The policy named `name`, or `None`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Block, Self::Error, Self::DropOldest, Self::DropNewest]
            .into_iter()
            .find(|p| p.as_str() == name)
    }
}

/// Bounds and policy of one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    /// Send queue bound (messages not yet on the wire), in messages.
    pub send_queue_msgs: usize,
    /// Send queue bound, in payload bytes.
    pub send_queue_bytes: usize,
    /// What `send` does when the send queue is full.
    pub policy: QueuePolicy,
    /// Retransmit buffer bound (sent, not yet acknowledged), in messages. When it is
    /// full, queued messages wait: this is the session-level send window.
    pub inflight_msgs: usize,
    /// Retransmit buffer bound, in payload bytes.
    pub inflight_bytes: usize,
    /// Receive queue bound (delivered to the session, not yet read by the app), messages.
    pub recv_queue_msgs: usize,
    /// Receive queue bound, in payload bytes.
    pub recv_queue_bytes: usize,
}

impl ChannelConfig {
    /// Defaults for `kind`: knowledge and control block with 1024 messages / 8 MiB per
    /// queue; state drops the oldest with 64 messages / 1 MiB.
    pub fn default_for(kind: ChannelKind) -> Self {
        match kind {
            ChannelKind::State => Self {
                send_queue_msgs: 64,
                send_queue_bytes: 1 << 20,
                policy: QueuePolicy::DropOldest,
                inflight_msgs: 64,
                inflight_bytes: 1 << 20,
                recv_queue_msgs: 64,
                recv_queue_bytes: 1 << 20,
            },
            ChannelKind::Knowledge | ChannelKind::Control => Self {
                send_queue_msgs: 1024,
                send_queue_bytes: 8 << 20,
                policy: QueuePolicy::Block,
                inflight_msgs: 4096,
                inflight_bytes: 16 << 20,
                recv_queue_msgs: 1024,
                recv_queue_bytes: 8 << 20,
            },
        }
    }
}

/// Everything a [`Session`](super::Session) is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// Per-channel bounds, indexed by [`ChannelKind::index`].
    pub channels: [ChannelConfig; 3],
    /// Largest payload of one message (default 1 MiB). Larger sends are refused.
    pub max_payload: usize,
    /// How long a disconnected session waits to be resumed before it closes with
    /// [`CloseReason::Expired`](super::CloseReason::Expired) (default 300 s).
    pub expiry: Duration,
    /// Heartbeat interval and timeout.
    pub heartbeat: HeartbeatConfig,
    /// Re-dial backoff (dialler only).
    pub backoff: BackoffConfig,
    /// How long a handshake (OPEN/RESUME to RESUME_OK) may take before the connection
    /// counts as lost (default 10 s).
    pub handshake_timeout: Duration,
    /// Ask for a rekey after a connection lived this long (default 1 h; `None`: never).
    pub rekey_after_time: Option<Duration>,
    /// Ask for a rekey after this many payload bytes in both directions on one
    /// connection (default 1 GiB; `None`: never).
    pub rekey_after_bytes: Option<u64>,
    /// Acknowledge after this many unacknowledged received messages (default 64) ...
    pub ack_every_msgs: u64,
    /// ... or this many bytes (default 1 MiB) ...
    pub ack_every_bytes: u64,
    /// ... or this long after the first unacknowledged one (default 5 ms).
    pub ack_delay: Duration,
    /// Ack-timeout safety net (default 3 s, the default heartbeat timeout): when a DATA
    /// frame of a reliable channel sent on the current connection has waited this long
    /// with no ACK at all for that channel, the session drops the connection
    /// ([`Event::DropConnection`](super::Event::DropConnection), counted in
    /// `ack_timeouts`) and the resume exchange of the next connection retransmits
    /// everything unacknowledged. It recovers a frame the transport lost while the
    /// connection stayed up (heartbeats flowing, no later DATA revealing a gap).
    ///
    /// Safe against spurious drops: a receiver acks within `ack_delay` (5 ms),
    /// `ack_every_msgs` (64) or `ack_every_bytes` (1 MiB) of receiving, and every ACK
    /// restarts the timer; a receiver whose receive window is closed (slow application)
    /// repeats its last ACK with every heartbeat it sends. The effective timeout is
    /// `max(ack_timeout, 2 * heartbeat.interval)`, so at least one heartbeat interval of
    /// margin is left for those repeated ACKs.
    pub ack_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            channels: ChannelKind::ALL.map(ChannelConfig::default_for),
            max_payload: 1 << 20,
            expiry: Duration::from_secs(300),
            heartbeat: HeartbeatConfig::default(),
            backoff: BackoffConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            rekey_after_time: Some(Duration::from_secs(3600)),
            rekey_after_bytes: Some(1 << 30),
            ack_every_msgs: 64,
            ack_every_bytes: 1 << 20,
            ack_delay: Duration::from_millis(5),
            ack_timeout: Duration::from_secs(3),
        }
    }
}

impl SessionConfig {
    /// The ack timeout in force: `max(ack_timeout, 2 * heartbeat.interval)`.
    pub fn effective_ack_timeout(&self) -> Duration {
        self.ack_timeout
            .max(self.heartbeat.interval.saturating_mul(2))
    }

    /// The bounds of `kind`.
    pub fn channel(&self, kind: ChannelKind) -> &ChannelConfig {
        &self.channels[kind.index()]
    }
}

//! Heartbeat timing: when to send the next HEARTBEAT and when the link counts as dead.
//!
//! Theory of operation: while connected, each side sends HEARTBEAT{nonce, ts} every
//! `interval` and answers each HEARTBEAT with HEARTBEAT_ACK echoing both fields. Any
//! frame from the peer proves the link alive; if nothing arrives for `timeout` (default
//! three intervals) the link is dead. An ack whose nonce matches the last heartbeat
//! sent yields a round-trip sample; others are ignored (a peer cannot forge samples
//! for heartbeats we never sent).

use std::time::Duration;

/// Heartbeat parameters. Defaults: interval 1 s, timeout 3 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Time between heartbeats.
    pub interval: Duration,
    /// Silence after which the link counts as dead.
    pub timeout: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
        }
    }
}

/// Per-connection heartbeat state.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    config: HeartbeatConfig,
    next_send: Duration,
    last_heard: Duration,
    outstanding: Option<(u64, Duration)>,
}

impl Heartbeat {
    /// Start timing a connection that came up at `now`.
    pub(crate) fn new(config: HeartbeatConfig, now: Duration) -> Self {
        Self {
            next_send: now + config.interval,
            last_heard: now,
            outstanding: None,
            config,
        }
    }

    /// Anything arrived from the peer.
    pub(crate) fn heard(&mut self, now: Duration) {
        self.last_heard = self.last_heard.max(now);
    }

    /// When the next heartbeat is due, or the link times out, whichever is first.
    pub(crate) fn deadline(&self) -> Duration {
        self.next_send.min(self.last_heard + self.config.timeout)
    }

    /// True when nothing was heard for the timeout.
    pub(crate) fn timed_out(&self, now: Duration) -> bool {
        now >= self.last_heard + self.config.timeout
    }

    /// If a heartbeat is due at `now`, record it as outstanding with `nonce` and return
    /// true (the caller sends it).
    pub(crate) fn due(&mut self, now: Duration, nonce: u64) -> bool {
        if now < self.next_send {
            return false;
        }
        self.outstanding = Some((nonce, now));
        self.next_send = now + self.config.interval;
        true
    }

    /// An ack for `nonce` arrived at `now`: the round trip, if it answers the
    /// outstanding heartbeat.
    pub(crate) fn acked(&mut self, nonce: u64, now: Duration) -> Option<Duration> {
        match self.outstanding {
            Some((n, sent)) if n == nonce => {
                self.outstanding = None;
                Some(now.saturating_sub(sent))
            }
            _ => None,
        }
    }
}

//! One channel of a session: send queue, retransmit buffer, receive queue, acks.
//!
//! Theory of operation: `send` puts a payload in the bounded send queue (policy on
//! overflow). When the session transmits, the front of the queue gets the next sequence
//! number (from 1, so 0 means "nothing yet") and moves to the bounded retransmit buffer,
//! where it stays until a cumulative ACK (or a resume's "delivered") covers it. Sequence
//! numbers are assigned on first transmission, so queue-policy drops never leave gaps.
//! `sent_upto` is the highest seq put on the current connection; a resume resets it to
//! what the peer delivered, which makes everything above go out again (reliable
//! channels), or only the newest frame (state, which conflates).
//!
//! Receive side: reliable channels accept exactly `delivered + 1`; at or below is a
//! replay, above is a gap (protocol violation: frames on one stream arrive in order).
//! State accepts anything above `delivered` and conflates its bounded queue by dropping
//! the oldest. Acks are cumulative and paced (count, bytes or delay).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use super::{ChannelConfig, ChannelKind, ChannelStats, QueuePolicy, SessionError, Unacked};

/// What `send` did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued.
    Queued,
    /// Queued, after dropping this many older queued messages (policy drop_oldest).
    QueuedDroppedOldest(u64),
    /// Not queued: the queue was full and the policy is drop_newest (counted).
    Dropped,
}

#[derive(Debug)]
pub(crate) struct Channel {
    kind: ChannelKind,
    cfg: ChannelConfig,
    queue: VecDeque<Bytes>,
    queue_bytes: usize,
    next_seq: u64,
    inflight: VecDeque<(u64, Bytes)>,
    inflight_bytes: usize,
    sent_upto: u64,
    pub(crate) blocked: bool,
    pub(crate) delivered: u64,
    recv: VecDeque<Bytes>,
    recv_bytes: usize,
    unacked_msgs: u64,
    unacked_bytes: u64,
    ack_since: Option<Duration>,
    /// Reliable channels: since when the oldest frame sent on this connection has been
    /// waiting for an ack (reset whenever an ACK arrives); `None` when nothing sent on
    /// this connection is unacknowledged.
    ack_wait_since: Option<Duration>,
    pub(crate) stats: ChannelStats,
}

/// Whether a queue holding `msgs`/`bytes` can take `len` more bytes (a lone message
/// always fits).
fn fits(msgs: usize, bytes: usize, len: usize, max_msgs: usize, max_bytes: usize) -> bool {
    msgs == 0 || (msgs < max_msgs && bytes.saturating_add(len) <= max_bytes)
}

impl Channel {
    pub(crate) fn new(kind: ChannelKind, cfg: ChannelConfig) -> Self {
        Self {
            kind,
            cfg,
            queue: VecDeque::new(),
            queue_bytes: 0,
            next_seq: 1,
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            sent_upto: 0,
            blocked: false,
            delivered: 0,
            recv: VecDeque::new(),
            recv_bytes: 0,
            unacked_msgs: 0,
            unacked_bytes: 0,
            ack_since: None,
            ack_wait_since: None,
            stats: ChannelStats::default(),
        }
    }

    pub(crate) fn can_queue(&self, len: usize) -> bool {
        let c = &self.cfg;
        fits(
            self.queue.len(),
            self.queue_bytes,
            len,
            c.send_queue_msgs,
            c.send_queue_bytes,
        )
    }

    /// Queue `payload` under the channel's policy. Errors: `WouldBlock`, `QueueFull`.
    pub(crate) fn push(&mut self, payload: Bytes) -> Result<SendOutcome, SessionError> {
        let mut outcome = SendOutcome::Queued;
        if !self.can_queue(payload.len()) {
            match self.cfg.policy {
                QueuePolicy::Block => {
                    self.blocked = true;
                    self.stats.refused += 1;
                    return Err(SessionError::WouldBlock(self.kind));
                }
                QueuePolicy::Error => {
                    self.stats.refused += 1;
                    return Err(SessionError::QueueFull(self.kind));
                }
                QueuePolicy::DropNewest => {
                    self.stats.dropped_by_policy += 1;
                    return Ok(SendOutcome::Dropped);
                }
                QueuePolicy::DropOldest => {
                    let mut dropped = 0;
                    while !self.can_queue(payload.len()) {
                        let Some(old) = self.queue.pop_front() else {
                            break;
                        };
                        self.queue_bytes -= old.len();
                        dropped += 1;
                    }
                    self.stats.dropped_by_policy += dropped;
                    outcome = SendOutcome::QueuedDroppedOldest(dropped);
                }
            }
        }
        self.queue_bytes += payload.len();
        self.queue.push_back(payload);
        let s = &mut self.stats;
        s.queue_high_water_msgs = s.queue_high_water_msgs.max(self.queue.len() as u64);
        s.queue_high_water_bytes = s.queue_high_water_bytes.max(self.queue_bytes as u64);
        Ok(outcome)
    }

    /// The next frame to put on the wire: `(seq, payload)`. Retransmissions first, then
    /// the queue front if the retransmit buffer has room. `now` starts the ack timer.
    pub(crate) fn next_transmit(&mut self, now: Duration) -> Option<(u64, &[u8])> {
        if self.kind.is_reliable() && self.ack_wait_since.is_none() && self.has_sendable() {
            self.ack_wait_since = Some(now);
        }
        if let Some(&(first, _)) = self.inflight.front() {
            let last = first + self.inflight.len() as u64 - 1;
            if self.sent_upto < last {
                let seq = self.sent_upto.max(first - 1) + 1;
                self.sent_upto = seq;
                self.stats.retransmits += 1;
                let (_, payload) = &self.inflight[(seq - first) as usize];
                return Some((seq, payload));
            }
        }
        let len = self.queue.front()?.len();
        let c = &self.cfg;
        if !fits(
            self.inflight.len(),
            self.inflight_bytes,
            len,
            c.inflight_msgs,
            c.inflight_bytes,
        ) {
            return None;
        }
        let payload = self.queue.pop_front()?;
        self.queue_bytes -= len;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.sent_upto = seq;
        self.stats.sent_msgs += 1;
        self.stats.sent_bytes += len as u64;
        self.inflight_bytes += len;
        self.inflight.push_back((seq, payload));
        self.inflight.back().map(|(s, p)| (*s, &p[..]))
    }

    /// True if `next_transmit` would return a frame.
    fn has_sendable(&self) -> bool {
        if let Some(&(first, _)) = self.inflight.front() {
            if self.sent_upto < first + self.inflight.len() as u64 - 1 {
                return true;
            }
        }
        self.queue.front().is_some_and(|p| {
            fits(
                self.inflight.len(),
                self.inflight_bytes,
                p.len(),
                self.cfg.inflight_msgs,
                self.cfg.inflight_bytes,
            )
        })
    }

    /// When the ack timer of this channel expires, given the effective `timeout`.
    pub(crate) fn ack_timeout_at(&self, timeout: Duration) -> Option<Duration> {
        self.ack_wait_since.map(|s| s + timeout)
    }

    /// Highest seq ever assigned (0: none).
    pub(crate) fn highest_sent(&self) -> u64 {
        self.next_seq - 1
    }

    /// The peer delivered everything up to `seq` (heard at `now`). Errors: `Protocol`
    /// if `seq` was never sent. Any ACK, progressing or not, restarts the ack timer: a
    /// receiver whose window is closed repeats its last ACK to say it is alive.
    pub(crate) fn on_ack(&mut self, seq: u64, now: Duration) -> Result<(), SessionError> {
        if seq > self.highest_sent() {
            return Err(SessionError::Protocol(format!(
                "ack {seq} on {} beyond the highest seq sent {}",
                self.kind.as_str(),
                self.highest_sent()
            )));
        }
        while let Some(&(s, _)) = self.inflight.front() {
            if s > seq {
                break;
            }
            if let Some((_, p)) = self.inflight.pop_front() {
                self.inflight_bytes -= p.len();
            }
        }
        let waiting = self
            .inflight
            .front()
            .is_some_and(|&(first, _)| self.sent_upto >= first);
        self.ack_wait_since = (waiting && self.kind.is_reliable()).then_some(now);
        Ok(())
    }

    /// A new connection resumed and the peer delivered up to `peer_delivered`: prune,
    /// then arrange retransmission. Errors: `Protocol` if that was never sent.
    pub(crate) fn on_resume(
        &mut self,
        peer_delivered: u64,
        now: Duration,
    ) -> Result<u64, SessionError> {
        self.on_ack(peer_delivered, now)?;
        self.sent_upto = peer_delivered;
        self.ack_wait_since = None;
        if !self.kind.is_reliable() {
            while self.inflight.len() > 1 {
                if let Some((_, p)) = self.inflight.pop_front() {
                    self.inflight_bytes -= p.len();
                }
            }
        }
        // The pending receive-side ack is kept: a dialler may get DATA on the new
        // connection before RESUME_OK, and its RESUME did not cover those frames (an
        // ack the resume exchange already covers is harmless).
        Ok(self.inflight.len() as u64)
    }

    /// True while a DATA frame can be accepted (the driver reads the stream only then).
    pub(crate) fn recv_window_open(&self) -> bool {
        !self.kind.is_reliable()
            || fits(
                self.recv.len(),
                self.recv_bytes,
                0,
                self.cfg.recv_queue_msgs,
                self.cfg.recv_queue_bytes,
            )
    }

    /// Accept DATA `seq` (the payload is shared, not copied). Returns
    /// `(became_readable, conflated)`. Errors: `Replay`, `Protocol` (gap), `ReceiveFull`.
    pub(crate) fn on_data(
        &mut self,
        seq: u64,
        payload: Bytes,
        now: Duration,
    ) -> Result<(bool, u64), SessionError> {
        if seq <= self.delivered {
            self.stats.replays_rejected += 1;
            return Err(SessionError::Replay {
                channel: self.kind,
                seq,
                stale_session: false,
            });
        }
        let mut conflated = 0;
        if self.kind.is_reliable() {
            if seq != self.delivered + 1 {
                return Err(SessionError::Protocol(format!(
                    "gap on {}: got seq {seq} after {}",
                    self.kind.as_str(),
                    self.delivered
                )));
            }
            if !self.recv_window_open() {
                return Err(SessionError::ReceiveFull(self.kind));
            }
        } else {
            let c = &self.cfg;
            while !fits(
                self.recv.len(),
                self.recv_bytes,
                payload.len(),
                c.recv_queue_msgs,
                c.recv_queue_bytes,
            ) {
                let Some(old) = self.recv.pop_front() else {
                    break;
                };
                self.recv_bytes -= old.len();
                conflated += 1;
            }
            self.stats.dropped_by_policy += conflated;
        }
        let was_empty = self.recv.is_empty();
        self.delivered = seq;
        let len = payload.len();
        self.recv_bytes += len;
        self.recv.push_back(payload);
        self.stats.received_msgs += 1;
        self.stats.received_bytes += len as u64;
        self.unacked_msgs += 1;
        self.unacked_bytes += len as u64;
        self.ack_since.get_or_insert(now);
        Ok((was_empty, conflated))
    }

    /// Take the next received message.
    pub(crate) fn recv(&mut self) -> Option<Bytes> {
        let p = self.recv.pop_front()?;
        self.recv_bytes -= p.len();
        Some(p)
    }

    /// The counters with the current queue sizes filled in.
    pub(crate) fn snapshot(&self) -> ChannelStats {
        let mut s = self.stats.clone();
        s.send_queued_msgs = self.queue.len() as u64;
        s.send_queued_bytes = self.queue_bytes as u64;
        s.inflight_msgs = self.inflight.len() as u64;
        s.inflight_bytes = self.inflight_bytes as u64;
        s.recv_queued_msgs = self.recv.len() as u64;
        s.recv_queued_bytes = self.recv_bytes as u64;
        s
    }

    /// Messages waiting in the receive queue.
    pub(crate) fn recv_len(&self) -> usize {
        self.recv.len()
    }

    /// The cumulative ack to send now, if one is due at `now`.
    pub(crate) fn ack_due(
        &mut self,
        now: Duration,
        every_msgs: u64,
        every_bytes: u64,
        delay: Duration,
    ) -> Option<u64> {
        let since = self.ack_since?;
        if self.unacked_msgs >= every_msgs
            || self.unacked_bytes >= every_bytes
            || now >= since + delay
        {
            self.unacked_msgs = 0;
            self.unacked_bytes = 0;
            self.ack_since = None;
            return Some(self.delivered);
        }
        None
    }

    /// When the pending ack becomes due by delay.
    pub(crate) fn ack_deadline(&self, delay: Duration) -> Option<Duration> {
        self.ack_since.map(|s| s + delay)
    }

    /// The cumulative ack to repeat while the receive window is closed (reliable
    /// channels only): it tells the sender that its unacknowledged frames are waiting
    /// in the stream for the application to read, not lost.
    pub(crate) fn window_closed_ack(&self) -> Option<u64> {
        (self.kind.is_reliable() && !self.recv_window_open()).then_some(self.delivered)
    }

    /// True when nothing sent is unacknowledged and nothing waits to be sent.
    pub(crate) fn all_acked(&self) -> bool {
        self.inflight.is_empty() && self.queue.is_empty()
    }

    /// Everything never acknowledged, oldest first; empties both buffers.
    pub(crate) fn take_unacked(&mut self, out: &mut Vec<Unacked>) {
        let kind = self.kind;
        out.extend(self.inflight.drain(..).map(|(s, p)| Unacked {
            channel: kind,
            seq: Some(s),
            payload: p.to_vec(),
        }));
        out.extend(self.queue.drain(..).map(|p| Unacked {
            channel: kind,
            seq: None,
            payload: p.to_vec(),
        }));
        self.inflight_bytes = 0;
        self.queue_bytes = 0;
    }
}

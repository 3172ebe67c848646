//! Telemetry of a session and its channels, plus the round-trip sample window.
//!
//! Theory of operation: counters only grow (gauges, named so, give current sizes); the session bumps them as it works and
//! [`Session::stats`](super::Session::stats) returns a copy (a snapshot). Heartbeat
//! round trips go into a fixed ring of the last [`RTT_WINDOW`] samples, from which p50
//! and p95 are computed on demand (nearest-rank), so memory stays bounded.

use std::time::Duration;

/// How many heartbeat round-trip samples are kept.
pub const RTT_WINDOW: usize = 256;

/// Counters of one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Messages put on the wire for the first time.
    pub sent_msgs: u64,
    /// Payload bytes of those messages.
    pub sent_bytes: u64,
    /// Messages delivered to the receive queue (replays excluded).
    pub received_msgs: u64,
    /// Payload bytes of those messages.
    pub received_bytes: u64,
    /// Messages a queue policy dropped (drop_oldest / drop_newest / state conflation).
    pub dropped_by_policy: u64,
    /// Sends refused by a full queue (policies block and error).
    pub refused: u64,
    /// Highest send-queue length seen, in messages.
    pub queue_high_water_msgs: u64,
    /// Highest send-queue length seen, in bytes.
    pub queue_high_water_bytes: u64,
    /// Frames sent again after a resume.
    pub retransmits: u64,
    /// Frames dropped as replays or as coming from a stale session.
    pub replays_rejected: u64,
    /// Gauge: messages in the send queue now.
    pub send_queued_msgs: u64,
    /// Gauge: payload bytes in the send queue now.
    pub send_queued_bytes: u64,
    /// Gauge: messages sent and not yet acknowledged now (the retransmit buffer).
    pub inflight_msgs: u64,
    /// Gauge: payload bytes in the retransmit buffer now.
    pub inflight_bytes: u64,
    /// Gauge: messages received and not yet read now.
    pub recv_queued_msgs: u64,
    /// Gauge: payload bytes in the receive queue now.
    pub recv_queued_bytes: u64,
}

/// A snapshot of a session's telemetry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Per channel, indexed by [`ChannelKind::index`](super::ChannelKind::index).
    pub channels: [ChannelStats; 3],
    /// Successful resumptions (each one follows a lost or rekeyed connection).
    pub reconnects: u64,
    /// Dials the session asked for after a loss.
    pub reconnect_attempts: u64,
    /// Heartbeat timeouts.
    pub heartbeat_timeouts: u64,
    /// Connections dropped because a reliable channel's oldest unacknowledged DATA
    /// frame waited longer than the ack timeout.
    pub ack_timeouts: u64,
    /// Planned reconnects for rekeying.
    pub rekeys: u64,
    /// Replays on all channels plus stale session frames outside channels.
    pub replays_rejected: u64,
    /// Malformed frames and protocol violations seen from the peer.
    pub frames_rejected: u64,
    /// Handshake / verification failures; the driver bumps this
    /// ([`Session::record_verification_failure`](super::Session::record_verification_failure)).
    pub verification_failures: u64,
    /// Heartbeat round trip, median of the recent window, in microseconds.
    pub rtt_p50_us: Option<u64>,
    /// Heartbeat round trip, 95th percentile of the recent window, in microseconds.
    pub rtt_p95_us: Option<u64>,
}

/// A bounded window of round-trip samples.
#[derive(Debug, Clone, Default)]
pub(crate) struct RttWindow {
    samples: Vec<u64>,
    next: usize,
}

impl RttWindow {
    pub(crate) fn push(&mut self, rtt: Duration) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        if self.samples.len() < RTT_WINDOW {
            self.samples.push(us);
        } else {
            self.samples[self.next] = us;
        }
        self.next = (self.next + 1) % RTT_WINDOW;
    }

    /// Nearest-rank percentile `p` in (0, 100], or `None` without samples.
    pub(crate) fn percentile(&self, p: u32) -> Option<u64> {
        if self.samples.is_empty() {
            return None;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let n = sorted.len();
        let rank = (u64::from(p.clamp(1, 100)) * n as u64).div_ceil(100) as usize;
        Some(sorted[rank.clamp(1, n) - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank_over_the_window() {
        let mut w = RttWindow::default();
        assert_eq!(w.percentile(50), None);
        for us in 1..=100u64 {
            w.push(Duration::from_micros(us));
        }
        assert_eq!(w.percentile(50), Some(50));
        assert_eq!(w.percentile(95), Some(95));
        for _ in 0..RTT_WINDOW {
            w.push(Duration::from_micros(7));
        }
        assert_eq!(w.percentile(95), Some(7), "old samples leave the window");
    }
}

//! The session's timers: handshake, heartbeat, acks, rekey, expiry, re-dial backoff.
//!
//! Theory of operation: `poll_timeout` is the minimum of every armed deadline for the
//! current state; `handle_timeout(now)` fires whatever is due, in a fixed order: expiry
//! first (it ends the session), then the state's own timers, then the dialler's re-dial.
//! Due acks are not fired here: `poll_transmit` emits them when their delay has passed.
//! The ack timeout (see [`SessionConfig::ack_timeout`](super::super::SessionConfig)) is:
//! a reliable channel whose oldest frame sent on this connection got no ACK for that
//! long drops the connection, so the resume exchange retransmits it. With every
//! heartbeat, a reliable channel whose receive window is closed repeats its last ACK,
//! which keeps the peer's ack timer from firing on a merely slow reader.

use std::time::Duration;

use super::super::heartbeat::Heartbeat;
use super::super::{ChannelKind, CloseReason, Event, Frame, LossCause, SessionRng};
use super::{Role, Session, SessionState, MAX_CONTROL_QUEUE};

impl Session {
    /// The next instant `handle_timeout` has work, if any.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let mut t: Option<Duration> = None;
        let mut at = |d: Option<Duration>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |x| x.min(d)));
            }
        };
        match self.state {
            SessionState::Closed(_) => return None,
            SessionState::Established => {
                at(self.heartbeat.as_ref().map(Heartbeat::deadline));
                let delay = self.cfg.ack_delay;
                self.channels
                    .iter()
                    .for_each(|ch| at(ch.ack_deadline(delay)));
                let ack_timeout = self.cfg.effective_ack_timeout();
                self.channels
                    .iter()
                    .for_each(|ch| at(ch.ack_timeout_at(ack_timeout)));
                if self.role == Role::Dialer && !self.rekey_signalled {
                    at(self.cfg.rekey_after_time.map(|r| self.conn_since + r));
                }
            }
            SessionState::Handshaking => at(self.handshake_deadline),
            SessionState::Disconnected => {
                at(self.redial_at);
                at(self
                    .handshake_deadline
                    .filter(|_| !self.opened && self.role == Role::Listener));
            }
            SessionState::Connecting => {}
        }
        at(self.lost_at.map(|l| l + self.cfg.expiry));
        t
    }

    /// Run the timers due at `now`: expiry, handshake and heartbeat timeouts, heartbeats
    /// to send, rekey, and (dialler) the next re-dial.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.is_closed() {
            return;
        }
        if self.lost_at.is_some_and(|l| now >= l + self.cfg.expiry) {
            self.finish(CloseReason::Expired, "session expired while disconnected");
            return;
        }
        match self.state {
            SessionState::Handshaking if self.handshake_deadline.is_some_and(|d| now >= d) => {
                self.events
                    .push_back(Event::DropConnection { conn: self.conn });
                self.lose_connection(now, LossCause::HandshakeTimeout);
            }
            SessionState::Disconnected
                if self.role == Role::Listener
                    && !self.opened
                    && self.handshake_deadline.is_some_and(|d| now >= d) =>
            {
                self.finish(CloseReason::ProtocolError, "no connection");
            }
            SessionState::Established => self.established_timers(now),
            _ => {}
        }
        if self.state == SessionState::Disconnected && self.redial_at.is_some_and(|r| now >= r) {
            self.redial_at = None;
            self.state = SessionState::Connecting;
            self.stats.reconnect_attempts += 1;
            let attempt = self.backoff.attempt().max(1);
            self.events.push_back(Event::ReconnectAttempt {
                attempt,
                delay: self.last_delay,
            });
        }
    }

    fn established_timers(&mut self, now: Duration) {
        let timed_out = self.heartbeat.as_ref().is_some_and(|h| h.timed_out(now));
        if timed_out {
            self.stats.heartbeat_timeouts += 1;
            self.events.push_back(Event::HeartbeatTimeout);
            self.events
                .push_back(Event::DropConnection { conn: self.conn });
            self.lose_connection(now, LossCause::HeartbeatTimeout);
            return;
        }
        let ack_timeout = self.cfg.effective_ack_timeout();
        if self
            .channels
            .iter()
            .any(|ch| ch.ack_timeout_at(ack_timeout).is_some_and(|t| now >= t))
        {
            self.stats.ack_timeouts += 1;
            self.events
                .push_back(Event::DropConnection { conn: self.conn });
            self.lose_connection(now, LossCause::AckTimeout);
            return;
        }
        let nonce = self.rng.next_u64();
        if self.heartbeat.as_mut().is_some_and(|h| h.due(now, nonce))
            && self.out.len() < MAX_CONTROL_QUEUE
        {
            let ts_us = u64::try_from(now.as_micros()).unwrap_or(u64::MAX);
            self.out.push_back((
                ChannelKind::State,
                Frame::Heartbeat { nonce, ts_us }.to_vec(),
            ));
            if let Some(session) = self.id {
                for ch in ChannelKind::ALL {
                    let Some(seq) = self.channels[ch.index()].window_closed_ack() else {
                        continue;
                    };
                    if self.out.len() < MAX_CONTROL_QUEUE {
                        let ack = Frame::Ack {
                            channel: ch,
                            session,
                            seq,
                        };
                        self.out.push_back((ChannelKind::State, ack.to_vec()));
                    }
                }
            }
        }
        if self.role == Role::Dialer && !self.rekey_signalled {
            let by_time = self
                .cfg
                .rekey_after_time
                .is_some_and(|r| now >= self.conn_since + r);
            let by_bytes = self
                .cfg
                .rekey_after_bytes
                .is_some_and(|b| self.conn_bytes >= b);
            if by_time || by_bytes {
                self.rekey_signalled = true;
                self.rekey_pending = true;
                self.stats.rekeys += 1;
                self.events.push_back(Event::RekeyDue);
            }
        }
    }
}

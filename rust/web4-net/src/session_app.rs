//! The application side of a session: channels, sends, receives, close, telemetry.
//!
//! Theory of operation: these calls run on application threads (Python, with or without
//! the GIL). The non-blocking ones take the session lock once, ask the session layer,
//! and run its transmits inline so the writer is woken directly (no pump hop on the hot
//! path); the blocking ones loop over them and wait on the session's condvar with a
//! deadline. Policies and bounds are the session layer's; errors map onto `NetError`.

use std::time::{Duration, Instant};

use bytes::Bytes;

use web4_proto::session::{ChannelKind, CloseReason, SessionError, SessionStats, Unacked};

use crate::session::{session_err, Session, Transmitted};
use crate::NetError;

impl Session {
    fn closed_error(&self) -> NetError {
        let why = self.close_reason().unwrap_or_default();
        NetError::Transport(format!("session closed: {why}"))
    }

    pub fn open_channel(&self, kind: ChannelKind) -> Result<(), NetError> {
        let mut g = self.lock();
        if g.closed.is_some() {
            drop(g);
            return Err(self.closed_error());
        }
        g.chan_open[kind.index()] = true;
        Ok(())
    }

    pub fn close_channel(&self, kind: ChannelKind) {
        self.lock().chan_open[kind.index()] = false;
        self.changed();
    }

    /// Queue one message. `Ok(false)`: the `block` policy says wait and retry.
    ///
    /// Errors: `Transport` (session closed, channel not open, message over the limit),
    /// `Backpressure` (queue full under the `error` policy).
    pub fn try_send(&self, kind: ChannelKind, msg: impl Into<Bytes>) -> Result<bool, NetError> {
        let mut g = self.lock();
        if !g.chan_open[kind.index()] {
            return Err(NetError::Transport(format!(
                "channel {} is not open",
                kind.as_str()
            )));
        }
        match g.proto.send(kind, msg) {
            Ok(_) => {
                let t = self.transmit(&mut g, self.now());
                drop(g);
                self.after_transmit(t);
                Ok(true)
            }
            Err(SessionError::WouldBlock(_)) => Ok(false),
            Err(e) => Err(session_err(e)),
        }
    }

    /// Queue messages in order until one would block; returns how many were queued.
    ///
    /// Errors: as [`Session::try_send`] for the first message that fails otherwise.
    pub fn try_send_many<M: Into<Bytes>>(
        &self,
        kind: ChannelKind,
        msgs: impl IntoIterator<Item = M>,
    ) -> Result<usize, NetError> {
        let mut g = self.lock();
        if !g.chan_open[kind.index()] {
            return Err(NetError::Transport(format!(
                "channel {} is not open",
                kind.as_str()
            )));
        }
        let mut n = 0;
        let mut result = Ok(());
        for m in msgs {
            match g.proto.send(kind, m) {
                Ok(_) => n += 1,
                Err(SessionError::WouldBlock(_)) => break,
                Err(e) => {
                    result = Err(session_err(e));
                    break;
                }
            }
        }
        let t = self.transmit(&mut g, self.now());
        drop(g);
        self.after_transmit(t);
        match result {
            Err(e) if n == 0 => Err(e),
            _ => Ok(n),
        }
    }

    /// Queue one message, waiting up to `timeout` for space under the `block` policy.
    ///
    /// Errors: as [`Session::try_send`], plus `Backpressure` when the wait times out.
    pub fn send_blocking(
        &self,
        kind: ChannelKind,
        msg: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<(), NetError> {
        let msg: Bytes = msg.into();
        let deadline = Instant::now() + timeout;
        loop {
            if self.try_send(kind, msg.clone())? {
                return Ok(());
            }
            let g = self.lock();
            if g.proto.can_send(kind, msg.len()) || g.closed.is_some() {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(NetError::Backpressure(format!(
                    "send queue of channel {} stayed full for {timeout:?}",
                    kind.as_str()
                )));
            }
            drop(self.wait(g, deadline - now));
        }
    }

    /// Take up to `max` received messages without waiting.
    ///
    /// Errors: `Transport` when the channel is not open, or the session is closed and
    /// nothing is left to read.
    pub fn try_recv(&self, kind: ChannelKind, max: usize) -> Result<Vec<Bytes>, NetError> {
        let mut g = self.lock();
        if !g.chan_open[kind.index()] {
            return Err(NetError::Transport(format!(
                "channel {} is not open",
                kind.as_str()
            )));
        }
        let was_open = g.proto.recv_window_open(kind);
        let mut out = Vec::new();
        while out.len() < max {
            match g.proto.recv(kind) {
                Some(m) => out.push(m),
                None => break,
            }
        }
        if out.is_empty() {
            if g.closed.is_some() {
                drop(g);
                return Err(self.closed_error());
            }
            return Ok(out);
        }
        let reopened = !was_open && g.proto.recv_window_open(kind);
        drop(g);
        if reopened {
            self.wake_io();
        }
        Ok(out)
    }

    /// Take one message, waiting up to `timeout`. `Ok(None)` on timeout.
    ///
    /// Errors: as [`Session::try_recv`].
    pub fn recv_blocking(
        &self,
        kind: ChannelKind,
        timeout: Duration,
    ) -> Result<Option<Bytes>, NetError> {
        let deadline = Instant::now() + timeout;
        let mut spun = false;
        loop {
            let seen = self.waker.wakes();
            if let Some(m) = self.try_recv(kind, 1)?.pop() {
                return Ok(Some(m));
            }
            if !spun {
                // Once per call: watch for the IO thread's wake-up (bounded, adaptive)
                // rather than sleep through it.
                spun = true;
                if self.waker.spin_until_woken(seen) {
                    continue;
                }
            }
            let g = self.lock();
            if g.proto.recv_len(kind) > 0 || g.closed.is_some() {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            drop(self.wait(g, deadline - now));
        }
    }

    /// Close the session (CLOSE goes out if connected).
    pub fn close(&self, reason: CloseReason, text: &str) {
        let mut g = self.lock();
        g.proto.close(reason, text);
        let t = self.transmit(&mut g, self.now());
        drop(g);
        self.after_transmit(Transmitted { kick: true, ..t });
        self.changed();
    }

    /// Messages never acknowledged by the peer, known once the session closed.
    pub fn take_unacked(&self) -> Vec<Unacked> {
        std::mem::take(&mut self.lock().unacked)
    }

    pub fn stats(&self) -> SessionStats {
        self.lock().proto.stats()
    }
}

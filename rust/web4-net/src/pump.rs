//! A session's pump task: timers, transmits and events, until the session closes.
//!
//! Theory of operation: the pump runs the session layer's timers (heartbeat, acks,
//! backoff, expiry, rekey), moves transmits the timers produced into the per-stream
//! buffers (waking the connection handler), and turns the session's events into driver
//! commands (re-dial, drop a connection). Observable events are emitted earlier, under
//! the session lock as they leave the session layer (`Session::transmit`), so that a
//! caller who sees a state change can already drain its event. Application calls and
//! the handler run the hot path themselves; the pump only wakes for timers and events.

use std::sync::Arc;
use std::time::Duration;

use web4_proto::session::{CloseReason, Event};

use crate::driver::Command;
use crate::session::Session;
use crate::shared::Shared;
use crate::wake::Field;

/// The session's pump: timers, transmits and events, until the session closes.
pub(crate) async fn pump(shared: Arc<Shared>, s: Arc<Session>) {
    let mut events = Vec::new();
    loop {
        let kicked = s.kick.notified();
        let deadline = s.pump(&mut events);
        let mut cmds = Vec::new();
        for e in events.drain(..) {
            on_event(&shared, &s, e, &mut cmds);
        }
        for c in cmds {
            // Bounded queue: wait for room rather than lose a re-dial or a close.
            if shared.cmd.send(c).await.is_err() {
                return; // the driver is gone: shutting down
            }
        }
        if s.finished() {
            // A listener that never opened ends without a session_close event: dial
            // operations moved to it (simultaneous dial) must fail now, not hang.
            shared.on_session_close(&s, s.close_code().unwrap_or(CloseReason::Normal));
            s.changed(); // blocked senders and receivers see the close now
            s.wake_io(); // the handler flushes CLOSE and half-closes its streams
            shared.forget_session(&s);
            let cmd = shared.cmd.clone();
            let peer = s.peer;
            tokio::spawn(async move {
                // Give the writers a moment to put CLOSE on the wire.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = cmd.send(Command::Disconnect(peer)).await;
            });
            return;
        }
        match deadline {
            Some(d) => {
                let wait = d.saturating_sub(s.now());
                let _ = tokio::time::timeout(wait, kicked).await;
            }
            None => kicked.await,
        }
    }
}

/// What the driver does about event `e` (re-dial, drop a connection, settle dial and
/// accept operations). Its observable form was emitted already, in order, when it left
/// the session layer ([`describe`]).
fn on_event(shared: &Arc<Shared>, s: &Arc<Session>, e: Event, cmds: &mut Vec<Command>) {
    match &e {
        Event::SessionOpen => shared.on_session_open(s),
        Event::ReconnectAttempt { .. } => cmds.push(Command::Redial(s.handle())),
        Event::SessionClose { reason, .. } => shared.on_session_close(s, *reason),
        Event::RekeyDue => {
            let conn = s.conn();
            cmds.push(Command::DropConn(s.handle(), conn));
            s.on_connection_lost(conn);
        }
        Event::DropConnection { conn } => {
            cmds.push(Command::DropConn(s.handle(), *conn));
        }
        // Blocked callers and asyncio see the state change (and the event) at once.
        Event::Writable(_) | Event::Readable(_) | Event::Disconnected { .. } => s.changed(),
        Event::SessionResumed { .. }
        | Event::HeartbeatTimeout
        | Event::ReplayRejected { .. }
        | Event::Dropped { .. } => {}
    }
}

/// The observable event for `e` (name and fields, RTT_SPEC §9), if it has one.
pub(crate) fn describe(e: &Event) -> Option<(&'static str, Vec<(&'static str, Field)>)> {
    let mut fields = Vec::new();
    match e {
        Event::SessionOpen | Event::HeartbeatTimeout | Event::RekeyDue => {}
        Event::SessionResumed { retransmitted } => {
            fields.push(("retransmitted", (*retransmitted).into()));
        }
        Event::Disconnected { cause, expires_in } => {
            fields.push(("cause", cause.as_str().into()));
            fields.push(("expires_in_ms", (*expires_in).into()));
        }
        Event::ReconnectAttempt { attempt, delay } => {
            fields.push(("attempt", (*attempt).into()));
            fields.push(("delay_ms", (*delay).into()));
        }
        Event::SessionClose {
            reason,
            text,
            unacked,
        } => {
            fields.push(("reason", reason.as_str().into()));
            fields.push(("text", text.as_str().into()));
            fields.push(("unacked", unacked.len().into()));
        }
        Event::ReplayRejected {
            channel,
            seq,
            stale_session,
        } => {
            fields.push(("channel", channel.as_str().into()));
            fields.push(("seq", (*seq).into()));
            fields.push(("stale_session", (*stale_session).into()));
            fields.push(("error", "RTTReplayError".into()));
        }
        Event::DropConnection { conn } => fields.push(("conn", conn.0.into())),
        Event::Writable(_) | Event::Readable(_) => return None,
        Event::Dropped { channel, count } => {
            fields.push(("channel", channel.as_str().into()));
            fields.push(("count", (*count).into()));
        }
    }
    Some((e.name(), fields))
}

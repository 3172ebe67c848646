//! The IO tasks: a pump per session, a writer per (connection, channel), a reader per
//! inbound stream, an accept loop per channel protocol.
//!
//! Theory of operation: streams are unidirectional. Each side writes only the three
//! streams it opened on the current connection and reads only the three its peer opened,
//! so no stream is ever shared between a reading and a writing task (the split-stream
//! pattern behind the libp2p-stream/yamux lost-wake-up deadlock, rust-libp2p #5410).
//! The pump runs the session's timers and turns its transmits into per-stream buffers
//! and its events into driver commands and observable events. A writer swaps out its
//! buffer and writes it in one go (batching for free). A reader waits while the
//! session's receive window for that stream is closed (that stalls yamux, which stalls
//! the remote writer), decodes frames with a hard size limit and feeds them to the
//! session. An oversize or malformed length prefix resets that stream (dropping an open
//! yamux stream sends RST), is counted and reported; nothing else is affected.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::io::BufReader;
use futures::{AsyncWriteExt, StreamExt};
use libp2p::Stream;
use web4_proto::session::{ChannelKind, CloseReason, Event, SessionError};

use crate::config::protocol;
use crate::driver::Command;
use crate::framing::{read_frame, FrameError};
use crate::session::Session;
use crate::shared::Shared;

/// Start the writers of connection `conn` of session `s`.
pub(crate) fn spawn_writers(shared: &Arc<Shared>, s: &Arc<Session>, conn: u64) {
    for kind in ChannelKind::ALL {
        tokio::spawn(writer(shared.clone(), s.clone(), kind, conn));
    }
}

async fn writer(shared: Arc<Shared>, s: Arc<Session>, kind: ChannelKind, conn: u64) {
    writer_loop(&shared, &s, kind, conn).await;
    // A writer that stops while its connection is still the session's current one lost
    // bytes the session counts as sent: drop the connection so the resume exchange
    // retransmits them on the next one.
    if s.conn() == conn && !s.is_closed() {
        let _ = shared.cmd.send(Command::CloseConn(s.peer, conn)).await;
    }
}

async fn writer_loop(shared: &Arc<Shared>, s: &Arc<Session>, kind: ChannelKind, conn: u64) {
    let mut control = shared.control.clone();
    let opened = tokio::time::timeout(
        shared.cfg.connect_timeout,
        control.open_stream(s.peer, protocol(kind)),
    )
    .await;
    let mut stream = match opened {
        Ok(Ok(st)) => st,
        Ok(Err(e)) => {
            shared.emit(
                s,
                "stream_error",
                vec![("channel", kind.as_str().into()), ("error", e.to_string())],
            );
            return;
        }
        Err(_) => return,
    };
    let mut buf = Vec::new();
    loop {
        let notified = s.out_ready[kind.index()].notified();
        buf.clear();
        if !s.take_pending(conn, kind, &mut buf) {
            return; // a newer connection took over; dropping the stream resets it
        }
        if buf.is_empty() {
            if s.finished() {
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.close()).await;
                return;
            }
            notified.await;
            continue;
        }
        if stream.write_all(&buf).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// Route inbound streams of one protocol to reader tasks until shutdown.
pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    kind: ChannelKind,
    mut incoming: libp2p_stream::IncomingStreams,
) {
    while let Some((peer, stream)) = incoming.next().await {
        if shared
            .cmd
            .send(Command::Inbound(kind, peer, stream))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Read the frames of one inbound stream of connection `conn` into session `s`.
pub(crate) async fn reader(
    shared: Arc<Shared>,
    mut s: Arc<Session>,
    mut conn: u64,
    kind: ChannelKind,
    stream: Stream,
) {
    let max = shared.cfg.max_frame();
    let mut stream = BufReader::with_capacity(64 * 1024, stream);
    loop {
        loop {
            let space = s.recv_space[kind.index()].notified();
            if s.is_closed() || s.conn() != conn {
                return;
            }
            if s.recv_window_open(kind) {
                break;
            }
            s.kick.notify_one(); // let acks for what was delivered go out
            space.await;
        }
        let body = match read_frame(&mut stream, max).await {
            Ok(Some(b)) => Bytes::from(b),
            Ok(None) | Err(FrameError::Io(_)) => return,
            Err(e) => {
                shared.frames_rejected.fetch_add(1, Ordering::Relaxed);
                shared.emit(
                    &s,
                    "frame_rejected",
                    vec![("channel", kind.as_str().into()), ("error", e.to_string())],
                );
                return; // dropping the open stream resets it (RST)
            }
        };
        match s.handle_frame(conn, kind, &body) {
            Ok(readable) => {
                if readable {
                    s.changed();
                }
            }
            Err(SessionError::Closed(CloseReason::PeerRestarted)) if !s.dialer => {
                // The dialler started a new session: replace ours and replay the OPEN.
                (s, conn) = shared.restart_listener(&s);
                let _ = s.handle_frame(conn, kind, &body);
            }
            Err(SessionError::Closed(_)) => return,
            Err(SessionError::Frame(_) | SessionError::Protocol(_)) => {
                s.kick.notify_one();
                return; // the session asked for the connection to be dropped
            }
            Err(_) => {} // replays: dropped and counted by the session layer
        }
    }
}

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
            s.changed(); // blocked senders and receivers see the close now
            for n in &s.out_ready {
                n.notify_one();
            }
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

fn on_event(shared: &Arc<Shared>, s: &Arc<Session>, e: Event, cmds: &mut Vec<Command>) {
    let name = e.name();
    let mut fields = Vec::new();
    match &e {
        Event::SessionOpen => shared.on_session_open(s),
        Event::SessionResumed { retransmitted } => {
            fields.push(("retransmitted", retransmitted.to_string()));
        }
        Event::HeartbeatTimeout => {}
        Event::ReconnectAttempt { attempt, delay } => {
            fields.push(("attempt", attempt.to_string()));
            fields.push(("delay_ms", delay.as_millis().to_string()));
            cmds.push(Command::Redial(s.id));
        }
        Event::SessionClose {
            reason,
            text,
            unacked,
        } => {
            fields.push(("reason", reason.as_str().to_string()));
            fields.push(("text", text.clone()));
            fields.push(("unacked", unacked.len().to_string()));
            shared.on_session_close(s, reason.as_str());
        }
        Event::ReplayRejected {
            channel,
            seq,
            stale_session,
        } => {
            fields.push(("channel", channel.as_str().to_string()));
            fields.push(("seq", seq.to_string()));
            fields.push(("stale_session", stale_session.to_string()));
            fields.push(("error", "RTTReplayError".to_string()));
        }
        Event::RekeyDue => {
            let conn = s.conn();
            cmds.push(Command::CloseConn(s.peer, conn));
            s.on_connection_lost(conn);
        }
        Event::DropConnection { conn } => {
            cmds.push(Command::CloseConn(s.peer, *conn));
            fields.push(("conn", conn.to_string()));
        }
        Event::Writable(_) | Event::Readable(_) => {
            s.changed();
            return;
        }
        Event::Dropped { channel, count } => {
            fields.push(("channel", channel.as_str().to_string()));
            fields.push(("count", count.to_string()));
        }
    }
    shared.emit(s, name, fields);
}

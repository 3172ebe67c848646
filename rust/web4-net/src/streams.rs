//! The IO tasks: one writer per (session, channel, connection), one reader per inbound
//! stream, one accept loop per channel protocol.
//!
//! Theory of operation: streams are unidirectional. A writer opens its stream with
//! `libp2p-stream`, then repeatedly takes a batch from the channel's send queue, frames
//! it into one buffer and writes and flushes it; it exits when the session's connection
//! generation changes. A reader decodes frames with a hard size limit and pushes them
//! into the bounded receive queue; while that queue is full it stops reading, so yamux's
//! window stops the remote writer. An oversize or malformed frame resets that stream
//! (dropping an open yamux stream sends RST), is counted and reported, and nothing else
//! is affected. The first inbound stream from a peer without a session opens one on the
//! listening side, so a dial that fails authentication never surfaces as a session.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::{AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream};

use crate::config::ChannelKind;
use crate::framing::{encode_frame, read_frame, FrameError};
use crate::node::Shared;
use crate::session::Session;

/// Bytes a writer gathers into one write.
const BATCH_BYTES: usize = 256 * 1024;

/// Start one writer task per channel kind on the session's current connection.
pub(crate) fn spawn_writers(
    shared: &Arc<Shared>,
    control: &libp2p_stream::Control,
    s: &Arc<Session>,
) {
    let generation = s.generation.load(Ordering::Acquire);
    for kind in ChannelKind::ALL {
        tokio::spawn(writer(
            shared.clone(),
            control.clone(),
            s.clone(),
            kind,
            generation,
        ));
    }
}

async fn writer(
    shared: Arc<Shared>,
    mut control: libp2p_stream::Control,
    s: Arc<Session>,
    kind: ChannelKind,
    generation: u64,
) {
    let live = |s: &Session| s.generation.load(Ordering::Acquire) == generation && !s.is_closed();
    let opened = tokio::time::timeout(
        shared.cfg.handshake_timeout,
        control.open_stream(s.peer, kind.protocol()),
    )
    .await;
    let mut stream = match opened {
        Ok(Ok(st)) => st,
        Ok(Err(e)) => {
            shared.waker.emit(
                "stream_error",
                vec![
                    ("session", s.id.to_string()),
                    ("channel", kind.name().into()),
                    ("error", e.to_string()),
                ],
            );
            return;
        }
        Err(_) => return,
    };
    let mut batch = Vec::new();
    let mut buf = Vec::with_capacity(BATCH_BYTES + 16);
    loop {
        if !live(&s) {
            let _ = stream.close().await;
            return;
        }
        let notified = s.send_ready[kind as usize].notified();
        s.take_batch(kind, BATCH_BYTES, &mut batch);
        if batch.is_empty() {
            notified.await;
            continue;
        }
        buf.clear();
        for m in batch.drain(..) {
            encode_frame(&m, &mut buf);
        }
        if stream.write_all(&buf).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// Route inbound streams of one protocol to reader tasks, forever (until shutdown).
pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    control: libp2p_stream::Control,
    kind: ChannelKind,
    mut incoming: libp2p_stream::IncomingStreams,
) {
    while let Some((peer, stream)) = incoming.next().await {
        tokio::spawn(reader(shared.clone(), control.clone(), peer, kind, stream));
    }
}

async fn reader(
    shared: Arc<Shared>,
    control: libp2p_stream::Control,
    peer: PeerId,
    kind: ChannelKind,
    mut stream: Stream,
) {
    let s = match shared.session_of(&peer) {
        Some(s) => s,
        None => {
            let (s, created) = shared.session_or_accept(peer);
            if created {
                s.new_connection();
                spawn_writers(&shared, &control, &s);
            }
            s
        }
    };
    let max = shared.cfg.max_message_size;
    loop {
        let frame = read_frame(&mut stream, max).await;
        let mut body = match frame {
            Ok(Some(b)) => b,
            Ok(None) | Err(FrameError::Io(_)) => return,
            Err(e) => {
                shared.frames_rejected.fetch_add(1, Ordering::Relaxed);
                shared.waker.emit(
                    "frame_rejected",
                    vec![
                        ("session", s.id.to_string()),
                        ("channel", kind.name().into()),
                        ("error", e.to_string()),
                    ],
                );
                drop(stream); // an open yamux stream dropped = RST to the peer
                return;
            }
        };
        loop {
            let space = s.recv_space[kind as usize].notified();
            match s.deliver(kind, body) {
                Ok(()) => break,
                Err(back) => {
                    if s.is_closed() {
                        return;
                    }
                    body = back;
                    space.await;
                }
            }
        }
    }
}

//! The session's inputs from the wire and the clock, and its outputs to the wire.
//!
//! Theory of operation: `handle_frame` decodes one message, checks that it came on the
//! stream its type belongs to and fits the current state, then updates channels, acks
//! and heartbeat. `poll_transmit` drains, in order: handshake / heartbeat / close
//! frames, due acks, then DATA round-robin over the channels. `handle_timeout` runs the
//! timers (in `timers.rs`).

use std::time::Duration;

use bytes::Bytes;

use super::super::heartbeat::Heartbeat;
use super::super::{
    put_varint, ChannelKind, CloseReason, ConnNumber, Event, Frame, FrameType, LossCause,
    SessionError,
};
use super::{Role, Session, SessionState, Transmit, MAX_CONTROL_QUEUE};

impl Session {
    /// Handle one inbound message `bytes` that arrived on stream `stream` of connection
    /// `conn` at `now`. Messages of an old connection are ignored.
    ///
    /// Errors: `Frame` (malformed) and `Protocol` (misplaced or inconsistent frame): the
    /// session drops the connection (`Event::DropConnection`) and resumes on the next;
    /// `Replay` (dropped and counted, nothing else changes); `ReceiveFull` (the driver
    /// read past `recv_window_open`; frame not accepted); `Closed`.
    pub fn handle_frame(
        &mut self,
        conn: ConnNumber,
        stream: ChannelKind,
        bytes: &[u8],
        now: Duration,
    ) -> Result<(), SessionError> {
        self.handle_frame_from(conn, stream, bytes, None, now)
    }

    /// Like [`Session::handle_frame`], for a message the driver already owns as `Bytes`:
    /// a DATA payload is kept as a slice of `frame` instead of being copied.
    pub fn handle_frame_shared(
        &mut self,
        conn: ConnNumber,
        stream: ChannelKind,
        frame: &Bytes,
        now: Duration,
    ) -> Result<(), SessionError> {
        self.handle_frame_from(conn, stream, frame, Some(frame), now)
    }

    fn handle_frame_from(
        &mut self,
        conn: ConnNumber,
        stream: ChannelKind,
        bytes: &[u8],
        owner: Option<&Bytes>,
        now: Duration,
    ) -> Result<(), SessionError> {
        if let SessionState::Closed(r) = self.state {
            return Err(SessionError::Closed(r));
        }
        if conn != self.conn
            || !matches!(
                self.state,
                SessionState::Handshaking | SessionState::Established
            )
        {
            return Ok(());
        }
        let result = Frame::decode(bytes, self.cfg.max_payload)
            .map_err(SessionError::from)
            .and_then(|frame| self.dispatch(stream, frame, owner, now));
        if let Err(e) = &result {
            match e {
                SessionError::Frame(_) | SessionError::Protocol(_) => {
                    self.stats.frames_rejected += 1;
                    self.events.push_back(Event::DropConnection { conn });
                    self.lose_connection(now, LossCause::ProtocolError);
                }
                SessionError::Replay {
                    channel,
                    seq,
                    stale_session,
                } => {
                    self.stats.replays_rejected += 1;
                    let (channel, seq, stale_session) = (*channel, *seq, *stale_session);
                    self.events.push_back(Event::ReplayRejected {
                        channel,
                        seq,
                        stale_session,
                    });
                }
                _ => {}
            }
        }
        result
    }

    fn dispatch(
        &mut self,
        stream: ChannelKind,
        frame: Frame<'_>,
        owner: Option<&Bytes>,
        now: Duration,
    ) -> Result<(), SessionError> {
        let ty = frame.frame_type();
        let expect = |want: ChannelKind| -> Result<(), SessionError> {
            if stream == want {
                Ok(())
            } else {
                Err(SessionError::Protocol(format!(
                    "{} on the {} stream",
                    ty.as_str(),
                    stream.as_str()
                )))
            }
        };
        let established = self.state == SessionState::Established;
        let handshaking_dialer =
            self.state == SessionState::Handshaking && self.role == Role::Dialer;
        match frame {
            Frame::Data {
                channel,
                session,
                seq,
                payload,
            } => {
                expect(channel)?;
                self.check_flowing(established || handshaking_dialer)?;
                if Some(session) != self.id {
                    self.channels[channel.index()].stats.replays_rejected += 1;
                    return Err(SessionError::Replay {
                        channel,
                        seq,
                        stale_session: true,
                    });
                }
                self.heard(now);
                self.conn_bytes += payload.len() as u64;
                let payload = match owner {
                    Some(frame) => frame.slice_ref(payload),
                    None => Bytes::copy_from_slice(payload),
                };
                let (readable, conflated) =
                    self.channels[channel.index()].on_data(seq, payload, now)?;
                if readable {
                    self.events.push_back(Event::Readable(channel));
                }
                if conflated > 0 {
                    self.events.push_back(Event::Dropped {
                        channel,
                        count: conflated,
                    });
                }
            }
            Frame::Ack {
                channel,
                session,
                seq,
            } => {
                expect(ChannelKind::State)?;
                self.check_flowing(established || handshaking_dialer)?;
                if Some(session) != self.id {
                    return Err(SessionError::Replay {
                        channel,
                        seq,
                        stale_session: true,
                    });
                }
                self.heard(now);
                self.channels[channel.index()].on_ack(seq, now)?;
            }
            Frame::Heartbeat { nonce, ts_us } => {
                expect(ChannelKind::State)?;
                self.check_flowing(established || handshaking_dialer)?;
                self.heard(now);
                if self.out.len() < MAX_CONTROL_QUEUE {
                    self.out.push_back((
                        ChannelKind::State,
                        Frame::HeartbeatAck { nonce, ts_us }.to_vec(),
                    ));
                }
            }
            Frame::HeartbeatAck { nonce, .. } => {
                expect(ChannelKind::State)?;
                self.heard(now);
                if let Some(rtt) = self.heartbeat.as_mut().and_then(|h| h.acked(nonce, now)) {
                    self.rtt.push(rtt);
                }
            }
            Frame::Close { reason, text } => {
                expect(ChannelKind::Control)?;
                self.finish(reason, text);
            }
            Frame::Open { session, delivered } | Frame::Resume { session, delivered } => {
                expect(ChannelKind::Control)?;
                self.check_listener_handshake()?;
                let is_open = ty == FrameType::Open;
                let known = self.opened && Some(session) == self.id;
                if !known && (self.opened || !is_open) {
                    if !is_open {
                        let reject = Frame::ResumeReject {
                            reason: CloseReason::UnknownSession,
                            text: "unknown session",
                        };
                        self.out.push_back((ChannelKind::Control, reject.to_vec()));
                    }
                    let text = "the peer started or resumed a session this side does not know";
                    self.restart_by_open = is_open;
                    self.finish(CloseReason::PeerRestarted, text);
                    return Ok(());
                }
                self.check_delivered(delivered)?;
                let resumed = self.opened;
                self.id = Some(session);
                self.opened = true;
                let mine = self.delivered();
                let ok = Frame::ResumeOk {
                    session,
                    delivered: mine,
                };
                self.out.push_back((ChannelKind::Control, ok.to_vec()));
                self.establish(now, delivered, resumed)?;
            }
            Frame::ResumeOk { session, delivered } => {
                expect(ChannelKind::Control)?;
                if !handshaking_dialer || Some(session) != self.id {
                    return Err(SessionError::Protocol("unexpected RESUME_OK".into()));
                }
                self.check_delivered(delivered)?;
                let resumed = self.opened;
                self.opened = true;
                self.establish(now, delivered, resumed)?;
            }
            Frame::ResumeReject { reason, text } => {
                expect(ChannelKind::Control)?;
                if !handshaking_dialer {
                    return Err(SessionError::Protocol("unexpected RESUME_REJECT".into()));
                }
                self.finish(reason, text);
            }
        }
        Ok(())
    }

    fn check_flowing(&self, ok: bool) -> Result<(), SessionError> {
        if ok {
            Ok(())
        } else {
            Err(SessionError::Protocol(
                "data before the resume exchange".into(),
            ))
        }
    }

    fn check_listener_handshake(&self) -> Result<(), SessionError> {
        if self.role == Role::Listener && self.state == SessionState::Handshaking {
            Ok(())
        } else {
            Err(SessionError::Protocol(
                "OPEN/RESUME outside a listener's handshake".into(),
            ))
        }
    }

    /// The peer cannot have delivered more than this side ever sent.
    fn check_delivered(&self, delivered: [u64; 3]) -> Result<(), SessionError> {
        for (ch, d) in self.channels.iter().zip(delivered) {
            if d > ch.highest_sent() {
                let sent = ch.highest_sent();
                return Err(SessionError::Protocol(format!(
                    "peer claims delivery of seq {d}, only {sent} were sent"
                )));
            }
        }
        Ok(())
    }

    fn heard(&mut self, now: Duration) {
        if let Some(h) = self.heartbeat.as_mut() {
            h.heard(now);
        }
    }

    fn establish(
        &mut self,
        now: Duration,
        peer_delivered: [u64; 3],
        resumed: bool,
    ) -> Result<(), SessionError> {
        let mut retransmitted = 0;
        for (ch, d) in self.channels.iter_mut().zip(peer_delivered) {
            retransmitted += ch.on_resume(d, now)?;
        }
        self.state = SessionState::Established;
        self.handshake_deadline = None;
        self.lost_at = None;
        self.conn_since = now;
        self.conn_bytes = 0;
        self.rekey_signalled = false;
        self.heartbeat = Some(Heartbeat::new(self.cfg.heartbeat.clone(), now));
        self.backoff.reset();
        if resumed {
            self.stats.reconnects += 1;
            self.events
                .push_back(Event::SessionResumed { retransmitted });
        } else {
            self.events.push_back(Event::SessionOpen);
        }
        Ok(())
    }

    /// Append the next frame to write to `buf` and say where it goes; `None` when there
    /// is nothing to send now. The driver adds the varint length prefix.
    pub fn poll_transmit(&mut self, now: Duration, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.transmit_to(now, Target::One(buf))
    }

    /// Like [`Session::poll_transmit`], but appends the frame already prefixed with its
    /// varint length to `bufs[stream.index()]`, so the driver can hand each buffer to its
    /// stream writer without another copy.
    pub fn poll_transmit_framed(
        &mut self,
        now: Duration,
        bufs: &mut [Vec<u8>; 3],
    ) -> Option<Transmit> {
        self.transmit_to(now, Target::Framed(bufs))
    }

    fn transmit_to(&mut self, now: Duration, mut target: Target<'_>) -> Option<Transmit> {
        let conn = self.conn;
        if let Some((stream, bytes)) = self.out.pop_front() {
            let (buf, framed) = target.buf(stream);
            if framed {
                put_varint(buf, bytes.len() as u64);
            }
            buf.extend_from_slice(&bytes);
            return Some(Transmit { conn, stream });
        }
        if self.state != SessionState::Established {
            return None;
        }
        let session = self.id?;
        let c = &self.cfg;
        let (every_msgs, every_bytes, delay) = (c.ack_every_msgs, c.ack_every_bytes, c.ack_delay);
        for ch in ChannelKind::ALL {
            if let Some(seq) =
                self.channels[ch.index()].ack_due(now, every_msgs, every_bytes, delay)
            {
                let stream = ChannelKind::State;
                target.emit(
                    stream,
                    &Frame::Ack {
                        channel: ch,
                        session,
                        seq,
                    },
                );
                return Some(Transmit { conn, stream });
            }
        }
        for i in 0..3 {
            let kind = ChannelKind::ALL[(self.rr + i) % 3];
            let ch = &mut self.channels[kind.index()];
            if let Some((seq, payload)) = ch.next_transmit(now) {
                self.conn_bytes += payload.len() as u64;
                target.emit(
                    kind,
                    &Frame::Data {
                        channel: kind,
                        session,
                        seq,
                        payload,
                    },
                );
                if ch.blocked && ch.can_queue(0) {
                    ch.blocked = false;
                    self.events.push_back(Event::Writable(kind));
                }
                self.rr = (self.rr + i + 1) % 3;
                return Some(Transmit { conn, stream: kind });
            }
        }
        None
    }
}

/// Where `transmit_to` writes: one plain buffer, or one length-prefixed buffer per stream.
enum Target<'a> {
    One(&'a mut Vec<u8>),
    Framed(&'a mut [Vec<u8>; 3]),
}

impl Target<'_> {
    fn buf(&mut self, stream: ChannelKind) -> (&mut Vec<u8>, bool) {
        match self {
            Target::One(b) => (b, false),
            Target::Framed(bufs) => (&mut bufs[stream.index()], true),
        }
    }

    fn emit(&mut self, stream: ChannelKind, frame: &Frame<'_>) {
        let (buf, framed) = self.buf(stream);
        if framed {
            put_varint(buf, frame.encoded_len() as u64);
        }
        frame.encode(buf);
    }
}

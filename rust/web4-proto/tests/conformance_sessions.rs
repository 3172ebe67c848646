//! `docs/conformance/rtt_sessions.json`: RTT session transcripts (frames in, frames
//! out) recorded from the real session machine on a virtual clock.
//!
//! Theory of operation: one `Session` (the node under test) is driven the way the
//! driver in `web4-net` drives it (RTT_SPEC §5, the recipe in `session/mod.rs`), by a
//! script of inputs: a new connection, a lost connection, a frame arriving on a stream,
//! the clock moving on, the application sending or closing. After each input the
//! harness runs the timers that fell due, collects every frame the session writes (with
//! the time and stream), the events, the messages delivered to the application and the
//! state. The peer's frames are written here by hand, as another implementation would
//! send them. With `WEB4_WRITE_VECTORS=1` the test writes the file; otherwise the
//! committed file must equal the recording byte for byte, and every transcript is then
//! replayed from the file's inputs alone and must give the same outputs.

mod conformance_common;

use std::time::Duration;

use conformance_common::{check_or_write, hex, unhex};
use serde_json::{json, Value};
use web4_proto::session::{
    ChannelKind, CloseReason, ConnNumber, Event, Frame, Session, SessionConfig, SessionError,
    SessionState, SplitMix64,
};

/// The session id the scripted dialler picks, and another one for stale frames.
const P: [u8; 16] = [0x5a; 16];
const Q: [u8; 16] = [0x3c; 16];

/// One input to the node under test.
#[derive(Debug, Clone)]
enum Step {
    Connect,
    Lost,
    Receive(ChannelKind, Vec<u8>),
    AdvanceMs(u64),
    Send(ChannelKind, Vec<u8>),
    Close(CloseReason, String),
}

fn kind(name: &str) -> ChannelKind {
    ChannelKind::parse(name).unwrap_or_else(|| panic!("channel {name}"))
}

fn reason(name: &str) -> CloseReason {
    (0..=5u8)
        .map(|c| CloseReason::from_code(c).unwrap())
        .find(|r| r.as_str() == name)
        .unwrap_or_else(|| panic!("reason {name}"))
}

/// A one-line reading of a frame for people; the bytes are normative.
fn summary(bytes: &[u8]) -> String {
    let Ok(f) = Frame::decode(bytes, 1 << 20) else {
        return "(malformed)".into();
    };
    let sid = |s: &[u8; 16]| format!("{}..", &hex(s)[..4]);
    match f {
        Frame::Data {
            channel,
            session,
            seq,
            payload,
        } => format!(
            "DATA {} sid={} seq={seq} payload={:?}",
            channel.as_str(),
            sid(&session),
            String::from_utf8_lossy(payload)
        ),
        Frame::Ack {
            channel,
            session,
            seq,
        } => format!("ACK {} sid={} seq={seq}", channel.as_str(), sid(&session)),
        Frame::Open { session, delivered }
        | Frame::Resume { session, delivered }
        | Frame::ResumeOk { session, delivered } => {
            format!("{} sid={} delivered={delivered:?}", f.name(), sid(&session))
        }
        Frame::ResumeReject { reason, text } | Frame::Close { reason, text } => {
            format!("{} {} {text:?}", f.name(), reason.as_str())
        }
        Frame::Heartbeat { nonce, ts_us } | Frame::HeartbeatAck { nonce, ts_us } => {
            format!("{} nonce={nonce} ts_us={ts_us}", f.name())
        }
    }
}

fn state_name(s: SessionState) -> String {
    match s {
        SessionState::Connecting => "connecting".into(),
        SessionState::Handshaking => "handshaking".into(),
        SessionState::Established => "established".into(),
        SessionState::Disconnected => "disconnected".into(),
        SessionState::Closed(r) => format!("closed:{}", r.as_str()),
    }
}

/// The events a peer can observe the consequences of; the driver-internal ones
/// (readable, writable, reconnect_attempt, rekey_due) are left out.
fn event_json(e: &Event) -> Option<Value> {
    Some(match e {
        Event::SessionOpen | Event::HeartbeatTimeout => json!({"kind": e.name()}),
        Event::SessionResumed { retransmitted } => {
            json!({"kind": e.name(), "retransmitted": retransmitted})
        }
        Event::Disconnected { cause, .. } => json!({"kind": e.name(), "cause": cause.as_str()}),
        Event::SessionClose {
            reason,
            text,
            unacked,
        } => json!({
            "kind": e.name(),
            "reason": reason.as_str(),
            "text": text,
            "unacked": unacked.iter().map(|u| json!({
                "channel": u.channel.as_str(),
                "seq": u.seq,
                "payload_hex": hex(&u.payload),
            })).collect::<Vec<_>>(),
        }),
        Event::ReplayRejected {
            channel,
            seq,
            stale_session,
        } => json!({"kind": e.name(), "channel": channel.as_str(), "seq": seq,
                    "stale_session": stale_session}),
        Event::DropConnection { .. } => json!({"kind": e.name()}),
        Event::Dropped { channel, count } => {
            json!({"kind": e.name(), "channel": channel.as_str(), "count": count})
        }
        Event::ReconnectAttempt { .. }
        | Event::RekeyDue
        | Event::Writable(_)
        | Event::Readable(_) => return None,
    })
}

fn verdict(r: &Result<(), SessionError>) -> (&'static str, Option<String>) {
    match r {
        Ok(()) => ("accepted", None),
        Err(e @ SessionError::Replay { .. }) => ("replay", Some(e.to_string())),
        Err(e @ SessionError::Frame(_)) => ("malformed", Some(e.to_string())),
        Err(e @ SessionError::Protocol(_)) => ("protocol_violation", Some(e.to_string())),
        Err(e @ SessionError::Closed(_)) => ("ignored_closed", Some(e.to_string())),
        Err(e) => ("error", Some(e.to_string())),
    }
}

/// The node under test, driven like `web4-net` drives a session.
struct Harness {
    cfg: SessionConfig,
    rng: SplitMix64,
    s: Session,
    conn: Option<ConnNumber>,
    now: Duration,
    start: Duration,
}

impl Harness {
    fn new(dialler: bool, seed: u64) -> Self {
        let cfg = SessionConfig::default();
        let mut rng = SplitMix64::new(seed);
        let start = Duration::from_secs(1);
        let s = if dialler {
            Session::new_dialer(cfg.clone(), start, &mut rng)
        } else {
            Session::new_listener(cfg.clone(), start, &mut rng)
        };
        Harness {
            cfg,
            rng,
            s,
            conn: None,
            now: start,
            start,
        }
    }

    fn t_us(&self) -> u64 {
        (self.now - self.start).as_micros() as u64
    }

    /// Drain frames (only those of the current connection reach the wire) and events.
    fn collect(&mut self, out: &mut Vec<Value>, events: &mut Vec<Value>) {
        loop {
            let mut buf = Vec::new();
            let Some(t) = self.s.poll_transmit(self.now, &mut buf) else {
                break;
            };
            if Some(t.conn) == self.conn {
                out.push(json!({
                    "t_us": self.t_us(),
                    "stream": t.stream.as_str(),
                    "hex": hex(&buf),
                    "frame": summary(&buf),
                }));
            }
        }
        while let Some(e) = self.s.poll_event() {
            if let Event::DropConnection { conn } = e {
                if Some(conn) == self.conn {
                    self.conn = None;
                }
            }
            events.extend(event_json(&e));
        }
    }

    fn step(&mut self, step: &Step) -> Value {
        let mut out = Vec::new();
        let mut events = Vec::new();
        let mut rec = serde_json::Map::new();
        rec.insert("t_us".into(), json!(self.t_us()));
        match step {
            Step::Connect => {
                // A connection from a peer with no live session gets a new listener.
                if self.s.is_closed() && self.s.role() == web4_proto::session::Role::Listener {
                    self.s = Session::new_listener(self.cfg.clone(), self.now, &mut self.rng);
                }
                self.conn = Some(self.s.on_connected(self.now));
                rec.insert("do".into(), json!("connect"));
            }
            Step::Lost => {
                if let Some(c) = self.conn.take() {
                    self.s.on_connection_lost(c, self.now);
                }
                rec.insert("do".into(), json!("connection_lost"));
            }
            Step::Receive(stream, bytes) => {
                rec.insert("do".into(), json!("receive"));
                rec.insert("stream".into(), json!(stream.as_str()));
                rec.insert("hex".into(), json!(hex(bytes)));
                rec.insert("frame".into(), json!(summary(bytes)));
                let conn = self.conn.expect("receive needs a connection");
                let r = self.s.handle_frame(conn, *stream, bytes, self.now);
                // Driver recipe 7: an OPEN that closed the old session (peer restarted)
                // is answered by a new listener session on the same connection.
                if matches!(
                    self.s.state(),
                    SessionState::Closed(CloseReason::PeerRestarted)
                ) && self.s.role() == web4_proto::session::Role::Listener
                    && matches!(Frame::decode(bytes, 1 << 20), Ok(Frame::Open { .. }))
                {
                    self.collect(&mut out, &mut events);
                    self.s = Session::new_listener(self.cfg.clone(), self.now, &mut self.rng);
                    self.conn = Some(self.s.on_connected(self.now));
                    let again = self
                        .s
                        .handle_frame(self.conn.unwrap(), *stream, bytes, self.now);
                    assert!(again.is_ok(), "{again:?}");
                    rec.insert("new_session".into(), json!(true));
                }
                let (v, detail) = verdict(&r);
                rec.insert("verdict".into(), json!(v));
                if let Some(d) = detail {
                    rec.insert("detail".into(), json!(d));
                }
            }
            Step::AdvanceMs(ms) => {
                rec.insert("do".into(), json!("advance"));
                rec.insert("ms".into(), json!(ms));
                let target = self.now + Duration::from_millis(*ms);
                // Fire every deadline on the way, at its own time, as a driver would.
                while let Some(t) = self.s.poll_timeout() {
                    if t > target {
                        break;
                    }
                    self.now = t.max(self.now);
                    self.s.handle_timeout(self.now);
                    self.collect(&mut out, &mut events);
                    if self.s.poll_timeout() == Some(t) {
                        break;
                    }
                }
                self.now = target;
                self.s.handle_timeout(self.now);
            }
            Step::Send(channel, payload) => {
                rec.insert("do".into(), json!("app_send"));
                rec.insert("channel".into(), json!(channel.as_str()));
                rec.insert("payload_hex".into(), json!(hex(payload)));
                self.s.send(*channel, payload.clone()).expect("send");
            }
            Step::Close(reason, text) => {
                rec.insert("do".into(), json!("app_close"));
                rec.insert("reason".into(), json!(reason.as_str()));
                rec.insert("text".into(), json!(text));
                self.s.close(*reason, text);
            }
        }
        self.collect(&mut out, &mut events);
        let mut delivered = Vec::new();
        for k in ChannelKind::ALL {
            while let Some(m) = self.s.recv(k) {
                delivered.push(json!({"channel": k.as_str(), "payload_hex": hex(&m)}));
            }
        }
        rec.insert("out".into(), json!(out));
        rec.insert("events".into(), json!(events));
        rec.insert("delivered".into(), json!(delivered));
        rec.insert("state".into(), json!(state_name(self.s.state())));
        rec.insert("connected".into(), json!(self.conn.is_some()));
        Value::Object(rec)
    }
}

/// The script of one transcript back from its JSON steps (the inputs only).
fn parse_steps(steps: &[Value]) -> Vec<Step> {
    steps
        .iter()
        .map(|s| {
            let str_of = |k: &str| s[k].as_str().unwrap_or_else(|| panic!("{k} in {s}"));
            match str_of("do") {
                "connect" => Step::Connect,
                "connection_lost" => Step::Lost,
                "receive" => Step::Receive(kind(str_of("stream")), unhex(str_of("hex"))),
                "advance" => Step::AdvanceMs(s["ms"].as_u64().unwrap()),
                "app_send" => Step::Send(kind(str_of("channel")), unhex(str_of("payload_hex"))),
                "app_close" => Step::Close(reason(str_of("reason")), str_of("text").into()),
                other => panic!("unknown step {other}"),
            }
        })
        .collect()
}

fn run(dialler: bool, seed: u64, steps: &[Step]) -> Vec<Value> {
    let mut h = Harness::new(dialler, seed);
    steps.iter().map(|s| h.step(s)).collect()
}

// --- the peer's frames, written by hand ------------------------------------------------

fn data(ch: ChannelKind, sid: [u8; 16], seq: u64, payload: &[u8]) -> Step {
    Step::Receive(
        ch,
        Frame::Data {
            channel: ch,
            session: sid,
            seq,
            payload,
        }
        .to_vec(),
    )
}

fn knowledge(seq: u64, payload: &[u8]) -> Step {
    data(ChannelKind::Knowledge, P, seq, payload)
}

fn ack(ch: ChannelKind, sid: [u8; 16], seq: u64) -> Step {
    let f = Frame::Ack {
        channel: ch,
        session: sid,
        seq,
    };
    Step::Receive(ChannelKind::State, f.to_vec())
}

fn control(f: Frame<'_>) -> Step {
    Step::Receive(ChannelKind::Control, f.to_vec())
}

fn open(sid: [u8; 16]) -> Step {
    control(Frame::Open {
        session: sid,
        delivered: [0, 0, 0],
    })
}

fn resume(sid: [u8; 16], delivered: [u64; 3]) -> Step {
    control(Frame::Resume {
        session: sid,
        delivered,
    })
}

fn send(payload: &[u8]) -> Step {
    Step::Send(ChannelKind::Knowledge, payload.to_vec())
}

/// (name, description, node role is dialler, rng seed, script).
type Script = (&'static str, &'static str, bool, u64, Vec<Step>);

fn scripts() -> Vec<Script> {
    use ChannelKind::{Control, Knowledge, State};
    let hb =
        |nonce: u64, ts_us: u64| Step::Receive(State, Frame::Heartbeat { nonce, ts_us }.to_vec());
    vec![
        (
            "listener_open_and_exchange",
            "The node listens. OPEN is answered by RESUME_OK with the node's delivered counts (§5.5). \
             DATA is delivered and acknowledged cumulatively 5 ms later on the state stream (§5.4). \
             The node's own DATA starts at seq 1. A HEARTBEAT is echoed at once (§6).",
            false,
            1,
            vec![
                Step::Connect,
                open(P),
                knowledge(1, b"one"),
                knowledge(2, b"two"),
                Step::AdvanceMs(5),
                send(b"hi"),
                ack(Knowledge, P, 1),
                hb(7, 123_456),
                data(Control, P, 1, b"c1"),
                Step::AdvanceMs(5),
            ],
        ),
        (
            "listener_resume_with_counts",
            "After a connection loss the dialler resumes with the counts it delivered. The node answers \
             with its own counts, drops what the peer has and retransmits the rest in order \
             (§5.5 step 3): the peer delivered knowledge 1 of 2, so DATA 2 is sent again.",
            false,
            2,
            vec![
                Step::Connect,
                open(P),
                knowledge(1, b"a"),
                knowledge(2, b"b"),
                knowledge(3, b"c"),
                Step::AdvanceMs(5),
                send(b"x"),
                send(b"y"),
                Step::Lost,
                Step::Connect,
                resume(P, [0, 1, 0]),
                knowledge(4, b"d"),
                Step::AdvanceMs(5),
                ack(Knowledge, P, 2),
            ],
        ),
        (
            "listener_replay",
            "DATA at or below the delivered seq, or DATA/ACK with another session id, is a replay \
             (§5.7): dropped and counted, and the connection is kept. The next DATA in order is \
             still delivered.",
            false,
            3,
            vec![
                Step::Connect,
                open(P),
                knowledge(1, b"a"),
                knowledge(2, b"b"),
                knowledge(2, b"b"),
                knowledge(1, b"a"),
                data(Knowledge, Q, 3, b"stale"),
                ack(Knowledge, Q, 0),
                knowledge(3, b"c"),
                Step::AdvanceMs(5),
            ],
        ),
        (
            "listener_gap",
            "A gap on a reliable channel (seq 3 after 1) is a protocol violation: the node drops the \
             connection and keeps the session (§5.7). The resume tells the peer that 1 was \
             delivered, so it sends 2 and 3 again. On state, gaps are allowed (§5.4).",
            false,
            4,
            vec![
                Step::Connect,
                open(P),
                knowledge(1, b"a"),
                knowledge(3, b"c"),
                Step::Connect,
                resume(P, [0, 0, 0]),
                knowledge(2, b"b"),
                knowledge(3, b"c"),
                data(State, P, 1, b"s1"),
                data(State, P, 5, b"s5"),
                Step::AdvanceMs(5),
            ],
        ),
        (
            "listener_close_by_peer",
            "CLOSE from the peer ends the session with the peer's reason and text. The node answers \
             nothing (§5.6) and ignores frames after it.",
            false,
            5,
            vec![
                Step::Connect,
                open(P),
                knowledge(1, b"a"),
                control(Frame::Close {
                    reason: CloseReason::Normal,
                    text: "bye",
                }),
                knowledge(2, b"late"),
            ],
        ),
        (
            "listener_close_by_node",
            "The node's application closes. CLOSE{normal} goes out on control. The session ends at \
             once; its close event lists the DATA the peer never acknowledged (§5.6).",
            false,
            6,
            vec![
                Step::Connect,
                open(P),
                send(b"unacked"),
                Step::Close(CloseReason::Normal, "done".into()),
            ],
        ),
        (
            "listener_frames_before_open",
            "Before OPEN/RESUME, a listener accepts only OPEN, RESUME, CLOSE and HEARTBEAT_ACK. A \
             HEARTBEAT (or DATA or ACK) first is a protocol violation and the connection is dropped \
             (§5.5 step 1). The next connection gets a new listener session.",
            false,
            7,
            vec![
                Step::Connect,
                Step::Receive(State, Frame::HeartbeatAck { nonce: 1, ts_us: 2 }.to_vec()),
                hb(1, 2),
                Step::Connect,
                knowledge(1, b"early"),
                Step::Connect,
                Step::Receive(
                    State,
                    Frame::Open {
                        session: P,
                        delivered: [0, 0, 0],
                    }
                    .to_vec(),
                ),
                Step::Connect,
                open(P),
            ],
        ),
        (
            "listener_unknown_resume",
            "RESUME for a session id the node does not hold is answered by \
             RESUME_REJECT{unknown_session} (§5.5 step 2).",
            false,
            8,
            vec![Step::Connect, resume(P, [0, 0, 0])],
        ),
        (
            "listener_peer_restarted",
            "OPEN with a new session id while a session is open: the peer restarted. The old session \
             closes with peer_restarted (with its unacknowledged DATA), and a new session answers the \
             OPEN (§5.5 step 2).",
            false,
            9,
            vec![
                Step::Connect,
                open(P),
                send(b"lost"),
                Step::Connect,
                open(Q),
            ],
        ),
        (
            "listener_protocol_violations",
            "Each of these drops the connection and keeps the session, which the next RESUME picks up \
             (§5.7): an ACK above the highest seq sent, a RESUME claiming more delivered than was \
             sent (§5.5 step 4), a malformed frame (unknown type), and DATA on the wrong stream.",
            false,
            10,
            vec![
                Step::Connect,
                open(P),
                ack(Knowledge, P, 5),
                Step::Connect,
                resume(P, [0, 9, 0]),
                Step::Connect,
                Step::Receive(Control, vec![0x01, 0xff]),
                Step::Connect,
                resume(P, [0, 0, 0]),
                on(Control, data(Knowledge, P, 1, b"x")),
                Step::Connect,
                resume(P, [0, 0, 0]),
            ],
        ),
        (
            "listener_handshake_timeout",
            "No OPEN within handshake_timeout (10 s) after the connection: the connection is dropped \
             (§5.5 step 5).",
            false,
            11,
            vec![Step::Connect, Step::AdvanceMs(9_999), Step::AdvanceMs(1)],
        ),
        (
            "dialler_open",
            "The node dials. It sends OPEN with the session id it picked (random; here from a seeded \
             generator) and delivered [0, 0, 0], then nothing else until RESUME_OK. After it, the \
             queued DATA goes out.",
            true,
            12,
            vec![
                Step::Connect,
                send(b"queued"),
                resume_ok_to_dialler([0, 0, 0]),
                Step::AdvanceMs(5),
            ],
        ),
        (
            "dialler_early_frames",
            "Frames the listener sends right after its RESUME_OK may arrive before it (§5.5 step 3). \
             The node as dialler delivers early DATA and answers an early HEARTBEAT at once. It sends \
             its ACK only after RESUME_OK.",
            true,
            13,
            vec![
                Step::Connect,
                data_to_dialler(1, b"early"),
                hb(42, 1_000),
                Step::AdvanceMs(5),
                resume_ok_to_dialler([0, 0, 0]),
            ],
        ),
        (
            "dialler_resume_and_reject",
            "The node as dialler resumes after a loss with RESUME and its delivered counts. The \
             listener had delivered 1 of the 2 DATA, so DATA 2 is sent again. After another loss, \
             RESUME_REJECT{unknown_session} ends the session.",
            true,
            14,
            vec![
                Step::Connect,
                resume_ok_to_dialler([0, 0, 0]),
                data_to_dialler(1, b"in"),
                send(b"one"),
                send(b"two"),
                Step::AdvanceMs(5),
                Step::Lost,
                Step::Connect,
                resume_ok_to_dialler([0, 1, 0]),
                Step::Lost,
                Step::Connect,
                control(Frame::ResumeReject {
                    reason: CloseReason::UnknownSession,
                    text: "unknown session",
                }),
            ],
        ),
    ]
}

/// Marker bytes replaced by the dialler's session id (which only the session knows,
/// from its rng) before the script runs: see `fill_dialler_sid`.
const SID_MARK: [u8; 16] = [0xee; 16];

fn resume_ok_to_dialler(delivered: [u64; 3]) -> Step {
    control(Frame::ResumeOk {
        session: SID_MARK,
        delivered,
    })
}

fn data_to_dialler(seq: u64, payload: &[u8]) -> Step {
    data(ChannelKind::Knowledge, SID_MARK, seq, payload)
}

/// The same frame, arriving on another stream.
fn on(stream: ChannelKind, step: Step) -> Step {
    match step {
        Step::Receive(_, b) => Step::Receive(stream, b),
        other => other,
    }
}

/// Put the dialler's session id where a script used `SID_MARK`.
fn fill_dialler_sid(steps: Vec<Step>, sid: [u8; 16]) -> Vec<Step> {
    steps
        .into_iter()
        .map(|s| match s {
            Step::Receive(k, mut b) => {
                if let Some(i) = b.windows(16).position(|w| w == SID_MARK) {
                    b[i..i + 16].copy_from_slice(&sid);
                }
                Step::Receive(k, b)
            }
            other => other,
        })
        .collect()
}

fn sessions_document() -> Value {
    let cfg = SessionConfig::default();
    let transcripts: Vec<Value> = scripts()
        .into_iter()
        .map(|(name, description, dialler, seed, steps)| {
            let steps = if dialler {
                let probe = Harness::new(true, seed);
                fill_dialler_sid(steps, probe.s.id().expect("dialler id"))
            } else {
                steps
            };
            json!({
                "name": name,
                "description": description,
                "node_role": if dialler { "dialler" } else { "listener" },
                "rng_seed": seed,
                "steps": run(dialler, seed, &steps),
            })
        })
        .collect();
    json!({
        "format": "web4-conformance/rtt-sessions/1",
        "description": "RTT session transcripts (docs/RTT_SPEC.md §5, §6): one node under test, \
            the inputs it gets (a connection, a lost connection, a frame on a stream, time passing, \
            its application sending or closing), and after each input the frames it writes \
            (`out`, each with its stream and time), its events, the messages it delivers to its \
            application, and its state. Frames are hex as in rtt_frames.json; `frame` is a \
            reading for people. Recorded from rust/web4-proto's session machine on a virtual \
            clock by rust/web4-proto/tests/conformance_sessions.rs (WEB4_WRITE_VECTORS=1).",
        "config": {
            "ack_delay_ms": cfg.ack_delay.as_millis() as u64,
            "ack_every_msgs": cfg.ack_every_msgs,
            "heartbeat_interval_ms": cfg.heartbeat.interval.as_millis() as u64,
            "heartbeat_timeout_ms": cfg.heartbeat.timeout.as_millis() as u64,
            "handshake_timeout_ms": cfg.handshake_timeout.as_millis() as u64,
            "session_expiry_ms": cfg.expiry.as_millis() as u64,
            "max_payload": cfg.max_payload,
        },
        "transcripts": transcripts,
    })
}

#[test]
fn rtt_sessions_json_matches_the_session_machine() {
    let doc = check_or_write(
        "rtt_sessions.json",
        &sessions_document(),
        "conformance_sessions",
    );
    let transcripts = doc["transcripts"].as_array().unwrap();
    assert!(transcripts.len() >= 10);
    for t in transcripts {
        let name = t["name"].as_str().unwrap();
        let steps = t["steps"].as_array().unwrap();
        let dialler = t["node_role"] == "dialler";
        let replayed = run(
            dialler,
            t["rng_seed"].as_u64().unwrap(),
            &parse_steps(steps),
        );
        for (i, (got, want)) in replayed.iter().zip(steps).enumerate() {
            assert_eq!(got, want, "{name}: step {i}");
        }
        assert_eq!(replayed.len(), steps.len(), "{name}");
    }
}

#[test]
fn transcripts_show_what_they_claim() {
    let doc = sessions_document();
    let find = |name: &str| -> Vec<Value> {
        doc["transcripts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))["steps"]
            .as_array()
            .unwrap()
            .clone()
    };
    let outs = |s: &Value| -> Vec<String> {
        s["out"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["frame"].as_str().unwrap().to_owned())
            .collect()
    };
    // OPEN is answered by RESUME_OK, never by an OPEN_OK.
    let open = find("listener_open_and_exchange");
    assert_eq!(outs(&open[1]), ["RESUME_OK sid=5a5a.. delivered=[0, 0, 0]"]);
    assert_eq!(outs(&open[4]), ["ACK knowledge sid=5a5a.. seq=2"]);
    // Resume with counts: the node's counts, then only DATA 2 again.
    let resume = find("listener_resume_with_counts");
    assert_eq!(
        outs(&resume[10]),
        [
            "RESUME_OK sid=5a5a.. delivered=[0, 3, 0]",
            "DATA knowledge sid=5a5a.. seq=2 payload=\"y\""
        ]
    );
    // Replays keep the connection; a gap drops it.
    let replay = find("listener_replay");
    assert!(replay[4..8]
        .iter()
        .all(|s| s["verdict"] == "replay" && s["connected"] == true));
    let gap = find("listener_gap");
    assert_eq!(gap[3]["verdict"], "protocol_violation");
    assert_eq!(gap[3]["connected"], false);
    // The receiver of CLOSE answers nothing.
    let close = find("listener_close_by_peer");
    assert!(outs(&close[3]).is_empty());
    assert_eq!(close[3]["state"], "closed:normal");
}

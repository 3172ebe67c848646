//! `docs/conformance/rtt_frames.json`: RTT frame vectors for other implementations,
//! generated from this crate's frame codec and kept true by it.
//!
//! Theory of operation: the cases are listed here (frames to encode, byte strings that
//! must be refused, length prefixes); every expected byte string and error comes from
//! the real codec (`Frame::encode` / `Frame::decode`), never from a hand-written copy.
//! With `WEB4_WRITE_VECTORS=1` the test writes the file; otherwise it requires the
//! committed file to equal what the codec produces now, byte for byte, and then reads
//! the file back as another implementation would (hex and fields only) and checks every
//! case against the codec again, so neither the file nor the codec can drift. The
//! length-prefix cases (RTT_SPEC §4) belong to the stream reader in `web4-net`; their
//! expectations are stated here and checked against that reader by
//! `rust/web4-net/tests/conformance_framing.rs`.

mod conformance_common;

use conformance_common::{check_or_write, hex, unhex, varint};
use serde_json::{json, Value};
use web4_proto::session::frame::{DATA_OVERHEAD, MAX_REASON_LEN, SESSION_ID_LEN};
use web4_proto::session::{ChannelKind, CloseReason, Frame, FrameError};

/// The default `max_message_size` (RTT_SPEC §4): the largest DATA payload.
const MAX_PAYLOAD: usize = 1 << 20;
const SID: [u8; SESSION_ID_LEN] = [0xaa; SESSION_ID_LEN];

/// Bytes of a case: `hex`, then `fill.count` copies of `fill.byte` (large payloads).
fn case_bytes(case: &Value) -> Vec<u8> {
    let mut b = unhex(case["hex"].as_str().expect("hex"));
    if let Some(fill) = case.get("fill") {
        let byte = unhex(fill["byte"].as_str().expect("fill byte"))[0];
        let count = fill["count"].as_u64().expect("fill count") as usize;
        b.resize(b.len() + count, byte);
    }
    b
}

/// Split long bytes into a hex head and a fill of one repeated trailing byte, so a
/// 1 MiB payload is a line of JSON, not two megabytes of hex.
fn with_fill(case: &mut serde_json::Map<String, Value>, bytes: &[u8], fill_len: usize) {
    let head = &bytes[..bytes.len() - fill_len];
    case.insert("hex".into(), json!(hex(head)));
    if fill_len > 0 {
        let byte = bytes[bytes.len() - 1];
        assert!(bytes[bytes.len() - fill_len..].iter().all(|b| *b == byte));
        case.insert(
            "fill".into(),
            json!({"byte": hex(&[byte]), "count": fill_len}),
        );
    }
}

fn u64s(v: u64) -> Value {
    json!(v.to_string())
}

/// The language-neutral fields of a frame (u64 values as decimal strings).
fn fields(f: &Frame<'_>, payload_fill: bool) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), json!(f.name()));
    match f {
        Frame::Data {
            channel,
            session,
            seq,
            payload,
        } => {
            m.insert("channel".into(), json!(channel.as_str()));
            m.insert("session".into(), json!(hex(session)));
            m.insert("seq".into(), u64s(*seq));
            if payload_fill {
                m.insert(
                    "payload_fill".into(),
                    json!({"byte": hex(&payload[..1]), "count": payload.len()}),
                );
            } else {
                m.insert("payload_hex".into(), json!(hex(payload)));
            }
        }
        Frame::Ack {
            channel,
            session,
            seq,
        } => {
            m.insert("channel".into(), json!(channel.as_str()));
            m.insert("session".into(), json!(hex(session)));
            m.insert("seq".into(), u64s(*seq));
        }
        Frame::Open { session, delivered }
        | Frame::Resume { session, delivered }
        | Frame::ResumeOk { session, delivered } => {
            m.insert("session".into(), json!(hex(session)));
            m.insert(
                "delivered".into(),
                json!(delivered.iter().map(|d| d.to_string()).collect::<Vec<_>>()),
            );
        }
        Frame::ResumeReject { reason, text } | Frame::Close { reason, text } => {
            m.insert("reason".into(), json!(reason.as_str()));
            m.insert("text".into(), json!(text));
        }
        Frame::Heartbeat { nonce, ts_us } | Frame::HeartbeatAck { nonce, ts_us } => {
            m.insert("nonce".into(), u64s(*nonce));
            m.insert("ts_us".into(), u64s(*ts_us));
        }
    }
    Value::Object(m)
}

/// The error a conforming receiver reports, as a name and (where the codec says) the
/// field it was reading.
fn error_of(e: &FrameError) -> Value {
    let (name, field): (&str, Option<&str>) = match e {
        FrameError::Empty => ("empty", None),
        FrameError::UnsupportedVersion(_) => ("unsupported_version", None),
        FrameError::UnknownType(_) => ("unknown_type", None),
        FrameError::Truncated(w) => ("truncated", Some(w)),
        FrameError::TooLong { what, .. } => ("too_long", Some(what)),
        FrameError::BadVarint(w) => ("bad_varint", Some(w)),
        FrameError::UnknownChannel(_) => ("unknown_channel", None),
        FrameError::UnknownReason(_) => ("unknown_reason", None),
        FrameError::BadUtf8 => ("bad_utf8", None),
        FrameError::TrailingBytes(_) => ("trailing_bytes", None),
    };
    let mut m = serde_json::Map::new();
    m.insert("error".into(), json!(name));
    if let Some(f) = field {
        m.insert("field".into(), json!(f));
    }
    m.insert("message".into(), json!(e.to_string()));
    Value::Object(m)
}

fn reason_text_max() -> String {
    // 256 bytes of UTF-8 that end on a 3-byte character: the longest text allowed.
    let mut s = "é".repeat(126);
    s.push_str("z✓");
    assert_eq!(s.len(), MAX_REASON_LEN);
    s
}

/// (name, description, frame) for the valid cases small enough to write out in hex.
fn valid_frames() -> Vec<(&'static str, &'static str, Frame<'static>)> {
    let mut v = vec![
        (
            "data_spec_example",
            "DATA on knowledge, seq 300 (a two-byte varint), payload \"xy\": the example of RTT_SPEC §5.3",
            Frame::Data {
                channel: ChannelKind::Knowledge,
                session: SID,
                seq: 300,
                payload: b"xy",
            },
        ),
        (
            "data_empty_payload",
            "DATA on state with a zero-length payload (the frame ends after the seq varint)",
            Frame::Data {
                channel: ChannelKind::State,
                session: SID,
                seq: 1,
                payload: b"",
            },
        ),
        (
            "data_control_max_seq",
            "DATA on control with seq 2^64-1: the longest varint (10 bytes, last byte 0x01)",
            Frame::Data {
                channel: ChannelKind::Control,
                session: SID,
                seq: u64::MAX,
                payload: b"\x00",
            },
        ),
        (
            "data_seq_127",
            "DATA with seq 127: the largest one-byte varint",
            Frame::Data {
                channel: ChannelKind::Knowledge,
                session: SID,
                seq: 127,
                payload: b"z",
            },
        ),
        (
            "data_seq_128",
            "DATA with seq 128: the smallest two-byte varint (0x80 0x01)",
            Frame::Data {
                channel: ChannelKind::Knowledge,
                session: SID,
                seq: 128,
                payload: b"z",
            },
        ),
    ];
    for (name, channel, seq, desc) in [
        (
            "ack_state_0",
            ChannelKind::State,
            0,
            "ACK for state with seq 0 (nothing delivered yet)",
        ),
        (
            "ack_knowledge_16384",
            ChannelKind::Knowledge,
            16_384,
            "ACK for knowledge, seq 16384 (a three-byte varint)",
        ),
        (
            "ack_control_max",
            ChannelKind::Control,
            u64::MAX,
            "ACK for control with seq 2^64-1",
        ),
    ] {
        v.push((
            name,
            desc,
            Frame::Ack {
                channel,
                session: SID,
                seq,
            },
        ));
    }
    v.extend([
        (
            "open",
            "OPEN as a dialler sends it on a new session: delivered [0, 0, 0]",
            Frame::Open {
                session: SID,
                delivered: [0, 0, 0],
            },
        ),
        (
            "resume_with_counts",
            "RESUME with delivered state 1, knowledge 128, control 16384",
            Frame::Resume {
                session: SID,
                delivered: [1, 128, 16_384],
            },
        ),
        (
            "resume_ok",
            "RESUME_OK answering OPEN: delivered [0, 0, 0]",
            Frame::ResumeOk {
                session: SID,
                delivered: [0, 0, 0],
            },
        ),
        (
            "resume_ok_max_counts",
            "RESUME_OK with delivered [2^63, 0, 2^64-1]",
            Frame::ResumeOk {
                session: [0x01; SESSION_ID_LEN],
                delivered: [1 << 63, 0, u64::MAX],
            },
        ),
        (
            "resume_reject_unknown_session",
            "RESUME_REJECT as this node sends it for a session it does not hold",
            Frame::ResumeReject {
                reason: CloseReason::UnknownSession,
                text: "unknown session",
            },
        ),
        (
            "resume_reject_empty_text",
            "RESUME_REJECT with reason expired and a zero-length text",
            Frame::ResumeReject {
                reason: CloseReason::Expired,
                text: "",
            },
        ),
        (
            "heartbeat",
            "HEARTBEAT: nonce and timestamp are 8 bytes little-endian each",
            Frame::Heartbeat {
                nonce: 0x0102_0304_0506_0708,
                ts_us: 1_000_000,
            },
        ),
        (
            "heartbeat_ack",
            "HEARTBEAT_ACK echoing nonce 2^64-1 and timestamp 0",
            Frame::HeartbeatAck {
                nonce: u64::MAX,
                ts_us: 0,
            },
        ),
    ]);
    for (name, reason, text, desc) in [
        (
            "close_normal_empty",
            CloseReason::Normal,
            "",
            "CLOSE normal with a zero-length text",
        ),
        (
            "close_unknown_session",
            CloseReason::UnknownSession,
            "x",
            "CLOSE with reason code 1",
        ),
        (
            "close_expired",
            CloseReason::Expired,
            "x",
            "CLOSE with reason code 2",
        ),
        (
            "close_peer_restarted",
            CloseReason::PeerRestarted,
            "x",
            "CLOSE with reason code 3",
        ),
        (
            "close_protocol_error",
            CloseReason::ProtocolError,
            "bye ✓",
            "CLOSE with reason code 4 and a multi-byte UTF-8 text (7 bytes)",
        ),
        (
            "close_shutdown",
            CloseReason::Shutdown,
            "x",
            "CLOSE with reason code 5",
        ),
    ] {
        v.push((name, desc, Frame::Close { reason, text }));
    }
    v
}

fn frames_document() -> Value {
    let big = vec![0xabu8; MAX_PAYLOAD];
    let text_max = reason_text_max();
    let mut valid: Vec<Value> = Vec::new();
    let mut push_valid = |name: &str, desc: &str, f: &Frame<'_>, fill: usize| {
        let bytes = f.to_vec();
        assert_eq!(Frame::decode(&bytes, MAX_PAYLOAD).as_ref(), Ok(f), "{name}");
        let mut c = serde_json::Map::new();
        c.insert("name".into(), json!(name));
        c.insert("description".into(), json!(desc));
        c.insert("frame".into(), fields(f, fill > 0));
        with_fill(&mut c, &bytes, fill);
        c.insert("length".into(), json!(bytes.len()));
        c.insert("prefix_hex".into(), json!(hex(&varint(bytes.len() as u64))));
        valid.push(Value::Object(c));
    };
    for (name, desc, f) in valid_frames() {
        push_valid(name, desc, &f, 0);
    }
    push_valid(
        "data_max_payload",
        "DATA with the largest payload, 1048576 bytes (max_message_size): the frame is \
         1048596 bytes; a DATA frame adds at most 29 (DATA_OVERHEAD) with a 10-byte seq",
        &Frame::Data {
            channel: ChannelKind::Knowledge,
            session: SID,
            seq: 1,
            payload: &big,
        },
        MAX_PAYLOAD,
    );
    push_valid(
        "close_max_text",
        "CLOSE with a 256-byte reason text (the maximum), ending in a 3-byte character",
        &Frame::Close {
            reason: CloseReason::Normal,
            text: &text_max,
        },
        0,
    );
    push_valid(
        "resume_reject_max_text",
        "RESUME_REJECT with a 256-byte reason text (the maximum)",
        &Frame::ResumeReject {
            reason: CloseReason::UnknownSession,
            text: &text_max,
        },
        0,
    );

    let sid = hex(&SID);
    let data_head = |ch: &str| format!("0101{ch}{sid}");
    let over = {
        let mut b = unhex(&data_head("01"));
        b.push(0x01);
        b.resize(b.len() + MAX_PAYLOAD + 1, 0xab);
        b
    };
    let long_text = {
        let mut b = vec![0x01, 0x09, 0x00];
        b.extend(varint(257));
        b.resize(b.len() + 257, b'x');
        b
    };
    let invalid_hex: Vec<(&str, &str, String)> = vec![
        ("empty", "no bytes at all", String::new()),
        ("version_0", "version byte 0x00", format!("0003{sid}000000")),
        (
            "version_2",
            "version byte 0x02 (a future version): refused, not guessed at",
            format!("0203{sid}000000"),
        ),
        (
            "version_only",
            "a version byte and nothing else",
            "01".into(),
        ),
        ("type_0", "frame type 0x00", "0100".into()),
        ("type_10", "frame type 0x0a (one past CLOSE)", "010a".into()),
        ("type_ff", "frame type 0xff", "01ff".into()),
        (
            "data_channel_3",
            "DATA for channel code 3 (only 0, 1, 2 exist)",
            format!("010103{sid}0178"),
        ),
        (
            "ack_channel_ff",
            "ACK for channel code 255",
            format!("0102ff{sid}01"),
        ),
        (
            "data_session_cut",
            "DATA whose session id is 15 bytes",
            format!("010101{}", &sid[..30]),
        ),
        (
            "data_no_seq",
            "DATA that ends after the session id",
            data_head("01"),
        ),
        (
            "data_seq_non_minimal",
            "DATA with seq 0 written as 0x80 0x00 (non-minimal varint)",
            format!("{}800078", data_head("01")),
        ),
        (
            "ack_seq_non_minimal",
            "ACK with seq 1 written as 0x81 0x00 (non-minimal varint)",
            format!("010200{sid}8100"),
        ),
        (
            "ack_seq_non_minimal_long",
            "ACK with seq 1 written in three bytes, 0x81 0x80 0x00",
            format!("010200{sid}818000"),
        ),
        (
            "open_delivered_non_minimal",
            "OPEN whose third delivered count is 0x80 0x00",
            format!("0103{sid}00008000"),
        ),
        (
            "ack_seq_overflow",
            "ACK whose seq varint is ten bytes with a last byte of 0x02 (more than 64 bits)",
            format!("010200{sid}ffffffffffffffffff02"),
        ),
        (
            "ack_seq_eleven_bytes",
            "ACK whose seq varint goes on past ten bytes",
            format!("010200{sid}8080808080808080808001"),
        ),
        (
            "ack_seq_cut",
            "ACK whose seq varint ends with a continuation bit (0x80) at the end of the frame",
            format!("010200{sid}80"),
        ),
        (
            "open_two_counts",
            "OPEN with two delivered counts instead of three",
            format!("0103{sid}0000"),
        ),
        (
            "resume_ok_no_counts",
            "RESUME_OK that ends after the session id",
            format!("0105{sid}"),
        ),
        (
            "heartbeat_short",
            "HEARTBEAT of 15 bytes after the header",
            format!("0107{}", "00".repeat(15)),
        ),
        (
            "heartbeat_ack_no_ts",
            "HEARTBEAT_ACK with a nonce and no timestamp",
            format!("0108{}", "00".repeat(8)),
        ),
        (
            "close_no_reason",
            "CLOSE that ends after the type byte",
            "0109".into(),
        ),
        (
            "close_no_length",
            "CLOSE that ends after the reason code",
            "010900".into(),
        ),
        (
            "close_text_cut",
            "CLOSE announcing 3 bytes of text and carrying 2",
            "010900036279".into(),
        ),
        (
            "close_reason_6",
            "CLOSE with reason code 6 (only 0 to 5 exist)",
            "01090600".into(),
        ),
        (
            "resume_reject_reason_ff",
            "RESUME_REJECT with reason code 255",
            "0106ff00".into(),
        ),
        (
            "close_length_non_minimal",
            "CLOSE whose text length 0 is written as 0x80 0x00",
            "0109008000".into(),
        ),
        (
            "close_length_huge",
            "CLOSE announcing 2^40 bytes of text: refused from the length alone",
            "01090080808080802078".into(),
        ),
        (
            "close_bad_utf8",
            "CLOSE whose text is the byte 0xff",
            "01090001ff".into(),
        ),
        (
            "close_overlong_utf8",
            "CLOSE whose text is an overlong encoding of NUL (0xc0 0x80)",
            "01090002c080".into(),
        ),
        (
            "close_surrogate_utf8",
            "CLOSE whose text is a UTF-16 surrogate encoded in UTF-8 (0xed 0xa0 0x80)",
            "01090003eda080".into(),
        ),
        (
            "resume_reject_cut_utf8",
            "RESUME_REJECT whose text ends inside a two-byte character",
            "01060101c3".into(),
        ),
        (
            "ack_trailing",
            "ACK followed by one more byte",
            format!("010200{sid}0100"),
        ),
        (
            "open_trailing",
            "OPEN followed by one more byte",
            format!("0103{sid}00000000"),
        ),
        (
            "heartbeat_trailing",
            "HEARTBEAT followed by one more byte",
            format!("0107{}", "00".repeat(17)),
        ),
        (
            "close_trailing",
            "CLOSE announcing 1 byte of text followed by 2",
            "010900017878".into(),
        ),
    ];
    let mut invalid: Vec<Value> = Vec::new();
    let mut push_invalid = |name: &str, desc: &str, bytes: &[u8], fill: usize| {
        let err = Frame::decode(bytes, MAX_PAYLOAD).expect_err(name);
        let mut c = serde_json::Map::new();
        c.insert("name".into(), json!(name));
        c.insert("description".into(), json!(desc));
        with_fill(&mut c, bytes, fill);
        c.insert("expect".into(), error_of(&err));
        invalid.push(Value::Object(c));
    };
    for (name, desc, h) in &invalid_hex {
        push_invalid(name, desc, &unhex(h), 0);
    }
    push_invalid(
        "close_text_257",
        "CLOSE with a 257-byte text (one over the maximum)",
        &long_text,
        257,
    );
    push_invalid(
        "data_payload_over_max",
        "DATA with a 1048577-byte payload (one over max_message_size)",
        &over,
        MAX_PAYLOAD + 1,
    );

    let max_body = MAX_PAYLOAD + DATA_OVERHEAD;
    let prefix = |name: &str, desc: &str, bytes: Vec<u8>, expect: Value| json!({"name": name, "description": desc, "hex": hex(&bytes), "expect": expect});
    let accept = |len: u64| json!({"result": "accept", "length": len});
    let refuse = |e: &str| json!({"result": "refuse", "error": e});
    let prefixes = vec![
        prefix(
            "zero",
            "length 0: a well-formed prefix; the empty body is then a malformed frame (`empty`)",
            varint(0),
            accept(0),
        ),
        prefix(
            "largest",
            "length 1048605, the largest body a reader accepts (max_message_size + 29)",
            varint(max_body as u64),
            accept(max_body as u64),
        ),
        prefix(
            "one_over",
            "length 1048606: one byte over the largest body",
            varint(max_body as u64 + 1),
            refuse("oversize"),
        ),
        prefix(
            "two_to_the_40",
            "length 2^40 in six bytes: refused after at most three prefix bytes, before any body",
            varint(1 << 40),
            refuse("oversize"),
        ),
        prefix(
            "u64_max",
            "length 2^64-1",
            varint(u64::MAX),
            refuse("oversize"),
        ),
        prefix(
            "non_minimal_zero",
            "length 0 written as 0x80 0x00",
            vec![0x80, 0x00],
            refuse("non_minimal"),
        ),
        prefix(
            "non_minimal_one",
            "length 1 written as 0x81 0x00",
            vec![0x81, 0x00],
            refuse("non_minimal"),
        ),
        prefix(
            "non_minimal_three_bytes",
            "length 5 written as 0x85 0x80 0x00",
            vec![0x85, 0x80, 0x00],
            refuse("non_minimal"),
        ),
    ];

    json!({
        "format": "web4-conformance/rtt-frames/1",
        "description": "RTT session frames (docs/RTT_SPEC.md §5.3) and stream length prefixes (§4). \
            `valid`: decode `hex` (then `fill`, if given) and get `frame`; encode `frame` and get \
            the bytes. `invalid`: decoding must fail with `expect.error`; a receiver then drops the \
            connection, counts it in frames_rejected and keeps the session (§5.7). `prefixes`: the \
            uvarint length prefix at the start of a stream message; a refused prefix resets that \
            stream only (§4). Generated from rust/web4-proto's codec by \
            rust/web4-proto/tests/conformance_vectors.rs (WEB4_WRITE_VECTORS=1).",
        "max_payload": MAX_PAYLOAD,
        "max_body": max_body,
        "session_id_length": SESSION_ID_LEN,
        "max_reason_length": MAX_REASON_LEN,
        "frame_types": {"DATA": 1, "ACK": 2, "OPEN": 3, "RESUME": 4, "RESUME_OK": 5,
            "RESUME_REJECT": 6, "HEARTBEAT": 7, "HEARTBEAT_ACK": 8, "CLOSE": 9},
        "channels": {"state": 0, "knowledge": 1, "control": 2},
        "reasons": {"normal": 0, "unknown_session": 1, "expired": 2, "peer_restarted": 3,
            "protocol_error": 4, "shutdown": 5},
        "errors": {
            "empty": "no bytes",
            "unsupported_version": "the version byte is not 0x01",
            "unknown_type": "the type byte is not 0x01..0x09",
            "truncated": "the frame ends inside `field`",
            "too_long": "`field` (payload or reason text) is longer than its maximum",
            "bad_varint": "`field` is a non-minimal varint, longer than 10 bytes, or over 2^64-1",
            "unknown_channel": "the channel code is not 0, 1 or 2",
            "unknown_reason": "the reason code is not 0..5",
            "bad_utf8": "the reason text is not UTF-8",
            "trailing_bytes": "bytes are left after the last field",
            "oversize": "(prefix) the announced length is over max_body",
            "non_minimal": "(prefix) the varint has a final 0x00 group"
        },
        "valid": valid,
        "invalid": invalid,
        "prefixes": prefixes,
    })
}

/// A frame from its JSON fields, as a reader of the file would build it.
fn frame_from(f: &Value, payload: &[u8]) -> (Vec<u8>, String) {
    let s = |k: &str| f[k].as_str().unwrap_or_else(|| panic!("{k} in {f}"));
    let n = |k: &str| s(k).parse::<u64>().expect("u64 string");
    let sid = || -> [u8; 16] { unhex(s("session")).try_into().expect("16-byte sid") };
    let channel = || ChannelKind::parse(s("channel")).expect("channel");
    let reason = || {
        (0..=5u8)
            .map(|c| CloseReason::from_code(c).unwrap())
            .find(|r| r.as_str() == s("reason"))
            .expect("reason")
    };
    let delivered = || -> [u64; 3] {
        let d: Vec<u64> = f["delivered"]
            .as_array()
            .expect("delivered")
            .iter()
            .map(|x| x.as_str().unwrap().parse().unwrap())
            .collect();
        d.try_into().expect("three counts")
    };
    let frame = match s("type") {
        "DATA" => Frame::Data {
            channel: channel(),
            session: sid(),
            seq: n("seq"),
            payload,
        },
        "ACK" => Frame::Ack {
            channel: channel(),
            session: sid(),
            seq: n("seq"),
        },
        "OPEN" => Frame::Open {
            session: sid(),
            delivered: delivered(),
        },
        "RESUME" => Frame::Resume {
            session: sid(),
            delivered: delivered(),
        },
        "RESUME_OK" => Frame::ResumeOk {
            session: sid(),
            delivered: delivered(),
        },
        "RESUME_REJECT" => Frame::ResumeReject {
            reason: reason(),
            text: s("text"),
        },
        "CLOSE" => Frame::Close {
            reason: reason(),
            text: s("text"),
        },
        "HEARTBEAT" => Frame::Heartbeat {
            nonce: n("nonce"),
            ts_us: n("ts_us"),
        },
        "HEARTBEAT_ACK" => Frame::HeartbeatAck {
            nonce: n("nonce"),
            ts_us: n("ts_us"),
        },
        other => panic!("unknown type {other}"),
    };
    (frame.to_vec(), frame.name().to_owned())
}

#[test]
fn rtt_frames_json_matches_the_codec() {
    let doc = check_or_write("rtt_frames.json", &frames_document(), "conformance_vectors");
    let max = doc["max_payload"].as_u64().unwrap() as usize;
    let valid = doc["valid"].as_array().unwrap();
    let invalid = doc["invalid"].as_array().unwrap();
    // Every frame type, every channel and every reason code has a valid case.
    let types: std::collections::BTreeSet<&str> = valid
        .iter()
        .map(|c| c["frame"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 9, "{types:?}");
    for key in ["channel", "reason"] {
        let seen: std::collections::BTreeSet<&str> = valid
            .iter()
            .filter_map(|c| c["frame"][key].as_str())
            .collect();
        let all = doc[format!("{key}s")].as_object().unwrap().len();
        assert_eq!(seen.len(), all, "{key}: {seen:?}");
    }
    for case in valid {
        let name = case["name"].as_str().unwrap();
        let bytes = case_bytes(case);
        assert_eq!(
            bytes.len() as u64,
            case["length"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            case["prefix_hex"].as_str().unwrap(),
            hex(&varint(bytes.len() as u64))
        );
        let f = &case["frame"];
        let payload = match (f.get("payload_hex"), f.get("payload_fill")) {
            (Some(h), _) => unhex(h.as_str().unwrap()),
            (None, Some(fill)) => {
                let b = unhex(fill["byte"].as_str().unwrap())[0];
                vec![b; fill["count"].as_u64().unwrap() as usize]
            }
            (None, None) => Vec::new(),
        };
        let (encoded, type_name) = frame_from(f, &payload);
        assert!(encoded == bytes, "{name}: encoding differs");
        let decoded = Frame::decode(&bytes, max).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded.name(), type_name, "{name}");
        assert_eq!(decoded.to_vec(), bytes, "{name}");
    }
    for case in invalid {
        let name = case["name"].as_str().unwrap();
        let err = Frame::decode(&case_bytes(case), max).expect_err(name);
        assert_eq!(error_of(&err), case["expect"], "{name}");
    }
    let errors = doc["errors"].as_object().unwrap();
    for case in invalid {
        assert!(errors.contains_key(case["expect"]["error"].as_str().unwrap()));
    }
    // Every decoder error has at least one case.
    let seen: std::collections::BTreeSet<&str> = invalid
        .iter()
        .map(|c| c["expect"]["error"].as_str().unwrap())
        .collect();
    assert_eq!(seen.len(), 10, "{seen:?}");
}

//! The session frame codec: round trips, every malformed shape rejected with its typed
//! error, and random or mutated bytes never panic the decoder.

use web4_proto::session::frame::{MAX_REASON_LEN, VERSION};
use web4_proto::session::{
    get_varint, put_varint, ChannelKind, CloseReason, Frame, FrameError, SessionRng, SplitMix64,
};

const MAX: usize = 1 << 20;

fn samples() -> Vec<Frame<'static>> {
    let id = [7u8; 16];
    vec![
        Frame::Data {
            channel: ChannelKind::Knowledge,
            session: id,
            seq: 1,
            payload: b"hello",
        },
        Frame::Data {
            channel: ChannelKind::State,
            session: id,
            seq: u64::MAX,
            payload: b"",
        },
        Frame::Ack {
            channel: ChannelKind::Control,
            session: id,
            seq: 300,
        },
        Frame::Open {
            session: id,
            delivered: [0, 0, 0],
        },
        Frame::Resume {
            session: id,
            delivered: [1, 1 << 40, 127],
        },
        Frame::ResumeOk {
            session: id,
            delivered: [128, 0, u64::MAX],
        },
        Frame::ResumeReject {
            reason: CloseReason::UnknownSession,
            text: "unknown session",
        },
        Frame::Heartbeat {
            nonce: 42,
            ts_us: 1_000_000,
        },
        Frame::HeartbeatAck {
            nonce: u64::MAX,
            ts_us: 0,
        },
        Frame::Close {
            reason: CloseReason::Normal,
            text: "bye ✓",
        },
    ]
}

#[test]
fn every_frame_type_round_trips() {
    for f in samples() {
        let bytes = f.to_vec();
        assert_eq!(bytes[0], VERSION);
        assert_eq!(Frame::decode(&bytes, MAX).unwrap(), f, "{}", f.name());
    }
}

#[test]
fn encoded_len_is_exact() {
    let long = "ü".repeat(300);
    let mut all = samples();
    all.push(Frame::Close {
        reason: CloseReason::Shutdown,
        text: &long,
    });
    for v in [0u64, 127, 128, 16_383, 16_384, u64::MAX] {
        all.push(Frame::Ack {
            channel: ChannelKind::State,
            session: [0; 16],
            seq: v,
        });
    }
    for f in all {
        assert_eq!(f.encoded_len(), f.to_vec().len(), "{f:?}");
    }
}

#[test]
fn data_frame_layout_is_pinned() {
    let f = Frame::Data {
        channel: ChannelKind::Knowledge,
        session: [0xaa; 16],
        seq: 300,
        payload: b"xy",
    };
    let mut want = vec![1, 0x01, 1];
    want.extend_from_slice(&[0xaa; 16]);
    want.extend_from_slice(&[0xac, 0x02, b'x', b'y']);
    assert_eq!(f.to_vec(), want);
    let hb = Frame::Heartbeat { nonce: 1, ts_us: 2 }.to_vec();
    assert_eq!(
        hb,
        [1, 0x07, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn every_truncation_is_rejected() {
    for f in samples() {
        let bytes = f.to_vec();
        // DATA's payload is "the rest", so a DATA frame cut inside the payload is a
        // shorter valid payload; cut only inside the fixed header for DATA.
        let fixed = if matches!(f, Frame::Data { .. }) {
            bytes.len() - data_payload_len(&f)
        } else {
            bytes.len()
        };
        for cut in 0..fixed {
            let r = Frame::decode(&bytes[..cut], MAX);
            assert!(r.is_err(), "{} cut at {cut} decoded as {r:?}", f.name());
        }
    }
}

fn data_payload_len(f: &Frame<'_>) -> usize {
    match f {
        Frame::Data { payload, .. } => payload.len(),
        _ => 0,
    }
}

#[test]
fn malformed_headers_have_typed_errors() {
    assert_eq!(Frame::decode(&[], MAX), Err(FrameError::Empty));
    assert_eq!(
        Frame::decode(&[2, 1], MAX),
        Err(FrameError::UnsupportedVersion(2))
    );
    assert_eq!(
        Frame::decode(&[1, 0x7f], MAX),
        Err(FrameError::UnknownType(0x7f))
    );
    assert_eq!(
        Frame::decode(&[1, 0x00], MAX),
        Err(FrameError::UnknownType(0))
    );
    let mut data = vec![1, 0x01, 9];
    data.extend_from_slice(&[0; 17]);
    assert_eq!(
        Frame::decode(&data, MAX),
        Err(FrameError::UnknownChannel(9))
    );
    let mut trailing = Frame::Ack {
        channel: ChannelKind::State,
        session: [0; 16],
        seq: 1,
    }
    .to_vec();
    trailing.push(0);
    assert_eq!(
        Frame::decode(&trailing, MAX),
        Err(FrameError::TrailingBytes(1))
    );
    assert_eq!(
        Frame::decode(&[1, 0x09, 99, 0], MAX),
        Err(FrameError::UnknownReason(99))
    );
    assert_eq!(
        Frame::decode(&[1, 0x09, 0, 2, 0xff, 0xfe], MAX),
        Err(FrameError::BadUtf8)
    );
}

#[test]
fn oversized_lengths_are_rejected_before_reading() {
    let big = vec![0u8; 101];
    let f = Frame::Data {
        channel: ChannelKind::Knowledge,
        session: [1; 16],
        seq: 1,
        payload: &big,
    };
    assert_eq!(
        Frame::decode(&f.to_vec(), 100),
        Err(FrameError::TooLong {
            what: "payload",
            len: 101,
            max: 100
        })
    );
    // A reason length of 2^60 must fail on the bound, not try to read or allocate.
    let mut close = vec![1, 0x09, 0];
    put_varint(&mut close, 1 << 60);
    assert!(matches!(
        Frame::decode(&close, MAX),
        Err(FrameError::TooLong {
            what: "reason text",
            ..
        })
    ));
    let mut close = vec![1, 0x09, 0];
    put_varint(&mut close, (MAX_REASON_LEN + 1) as u64);
    close.extend(std::iter::repeat_n(b'a', MAX_REASON_LEN + 1));
    assert!(matches!(
        Frame::decode(&close, MAX),
        Err(FrameError::TooLong { .. })
    ));
    // Encoding cuts an over-long reason so that the result still decodes.
    let long = "é".repeat(200);
    let bytes = Frame::Close {
        reason: CloseReason::Normal,
        text: &long,
    }
    .to_vec();
    match Frame::decode(&bytes, MAX).unwrap() {
        Frame::Close { text, .. } => {
            assert!(text.len() <= MAX_REASON_LEN && long.starts_with(text))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn varints_are_minimal_and_bounded() {
    for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        assert_eq!(get_varint(&b, "t"), Ok((v, b.len())));
    }
    assert_eq!(
        get_varint(&[0x80, 0x00], "t"),
        Err(FrameError::BadVarint("t")),
        "non-minimal"
    );
    assert_eq!(get_varint(&[0x80], "t"), Err(FrameError::Truncated("t")));
    let eleven = [0xffu8; 11];
    assert_eq!(
        get_varint(&eleven, "t"),
        Err(FrameError::BadVarint("t")),
        "too long"
    );
    let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    assert_eq!(
        get_varint(&overflow, "t"),
        Err(FrameError::BadVarint("t")),
        "over 64 bits"
    );
}

#[test]
fn random_bytes_never_panic_and_valid_decodes_re_encode_identically() {
    let mut rng = SplitMix64::new(0x5eed);
    let mut accepted = 0;
    for i in 0..200_000u32 {
        let len = (rng.next_u64() % 48) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Bias half of the inputs towards a valid header so the decoder goes deep.
        if i.is_multiple_of(2) && len >= 2 {
            bytes[0] = VERSION;
            bytes[1] = 1 + (rng.next_u64() % 9) as u8;
        }
        if let Ok(f) = Frame::decode(&bytes, 32) {
            accepted += 1;
            assert_eq!(
                f.to_vec(),
                bytes,
                "decode/encode must be a bijection on valid frames"
            );
        }
    }
    assert!(
        accepted > 1000,
        "the fuzz never reached valid frames ({accepted})"
    );
}

#[test]
fn mutated_valid_frames_never_panic() {
    let mut rng = SplitMix64::new(99);
    for f in samples() {
        let base = f.to_vec();
        for _ in 0..5_000 {
            let mut b = base.clone();
            let flips = 1 + rng.next_u64() % 3;
            for _ in 0..flips {
                let at = (rng.next_u64() % b.len() as u64) as usize;
                b[at] ^= 1 << (rng.next_u64() % 8);
            }
            if rng.next_u64().is_multiple_of(4) {
                b.truncate((rng.next_u64() % (b.len() as u64 + 1)) as usize);
            }
            let _ = Frame::decode(&b, MAX);
        }
    }
}

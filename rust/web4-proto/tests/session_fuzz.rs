//! The session state machine under random input: random operations, random well-formed
//! frames (with the right and wrong session ids, seqs, streams) and random bytes, on
//! both roles. It must never panic, and the lifecycle contract must hold: at most one
//! `session_open`, first among lifecycle events; at most one `session_close`, last of
//! all events.

mod session_helpers;

use std::time::Duration;

use session_helpers::Pair;

use web4_proto::session::{
    ChannelKind, CloseReason, ConnNumber, Event, Frame, Session, SessionConfig, SessionRng,
    SplitMix64,
};

fn random_frame(rng: &mut SplitMix64, id: [u8; 16], s: &Session) -> Vec<u8> {
    let ch = ChannelKind::ALL[(rng.next_u64() % 3) as usize];
    let next = s.stats().channels[ch.index()].received_msgs + 1;
    let sid = if rng.next_u64().is_multiple_of(4) {
        [9; 16]
    } else {
        id
    };
    let seq = match rng.next_u64() % 6 {
        0 => 0,
        4 | 5 => next,
        1 => 1 + rng.next_u64() % 4,
        2 => u64::MAX - rng.next_u64() % 2,
        _ => rng.next_u64() % 100,
    };
    let d = if rng.next_u64().is_multiple_of(2) {
        [0; 3]
    } else {
        [seq, rng.next_u64() % 8, rng.next_u64() % 8]
    };
    let reason = CloseReason::from_code((rng.next_u64() % 6) as u8).unwrap_or(CloseReason::Normal);
    let frame = match rng.next_u64() % 10 {
        0 | 1 => Frame::Data {
            channel: ch,
            session: sid,
            seq,
            payload: b"p",
        },
        2 => Frame::Ack {
            channel: ch,
            session: sid,
            seq,
        },
        3 => Frame::Open {
            session: sid,
            delivered: d,
        },
        4 => Frame::Resume {
            session: sid,
            delivered: d,
        },
        5 => Frame::ResumeOk {
            session: sid,
            delivered: d,
        },
        6 => Frame::ResumeReject { reason, text: "r" },
        7 => Frame::Heartbeat {
            nonce: seq,
            ts_us: seq,
        },
        8 => Frame::HeartbeatAck {
            nonce: seq,
            ts_us: seq,
        },
        _ => Frame::Close { reason, text: "c" },
    };
    let mut bytes = frame.to_vec();
    if rng.next_u64().is_multiple_of(10) {
        let at = (rng.next_u64() % bytes.len() as u64) as usize;
        bytes[at] ^= 0x40;
    }
    bytes
}

fn check_lifecycle(events: &[Event]) {
    let life: Vec<&str> = events
        .iter()
        .map(Event::name)
        .filter(|n| {
            matches!(
                *n,
                "session_open"
                    | "session_resumed"
                    | "heartbeat_timeout"
                    | "reconnect_attempt"
                    | "session_close"
            )
        })
        .collect();
    assert!(
        life.iter().filter(|n| **n == "session_open").count() <= 1,
        "{life:?}"
    );
    if let Some(i) = life.iter().position(|n| *n == "session_open") {
        assert!(
            life[..i]
                .iter()
                .all(|n| *n == "reconnect_attempt" || *n == "heartbeat_timeout"),
            "{life:?}"
        );
    }
    let closes = events
        .iter()
        .filter(|e| matches!(e, Event::SessionClose { .. }))
        .count();
    assert!(closes <= 1, "{life:?}");
    if closes == 1 {
        assert_eq!(
            events.last().map(Event::name),
            Some("session_close"),
            "close must be last"
        );
    }
}

#[test]
fn random_inputs_to_a_fresh_session_never_panic() {
    for seed in 0..300u64 {
        let mut rng = SplitMix64::new(seed);
        let mut now = Duration::from_secs(1);
        let cfg = SessionConfig::default();
        let mut s = if seed.is_multiple_of(2) {
            Session::new_dialer(cfg, now, &mut rng)
        } else {
            Session::new_listener(cfg, now, &mut rng)
        };
        let mut conn = s.on_connected(now);
        let mut events = Vec::new();
        let mut buf = Vec::new();
        for _ in 0..200 {
            let id = s.id().unwrap_or([3; 16]);
            match rng.next_u64() % 12 {
                0 => {
                    let _ = s.send(ChannelKind::ALL[(rng.next_u64() % 3) as usize], vec![1; 10]);
                }
                1 => conn = s.on_connected(now),
                2 => s.on_connection_lost(conn, now),
                3 => s.on_dial_failed(now),
                4 => now += Duration::from_millis(rng.next_u64() % 5_000),
                5 => {
                    let junk: Vec<u8> = (0..rng.next_u64() % 40)
                        .map(|_| rng.next_u64() as u8)
                        .collect();
                    let _ = s.handle_frame(
                        conn,
                        ChannelKind::ALL[(rng.next_u64() % 3) as usize],
                        &junk,
                        now,
                    );
                }
                6 if rng.next_u64().is_multiple_of(20) => s.close(CloseReason::Normal, "bye"),
                _ => inject(&mut s, &mut rng, id, conn, now),
            }
            s.handle_timeout(now);
            buf.clear();
            while s.poll_transmit(now, &mut buf).is_some() {
                buf.clear();
            }
            let _ = s.recv(ChannelKind::ALL[(rng.next_u64() % 3) as usize]);
            events.extend(std::iter::from_fn(|| s.poll_event()));
            let _ = (s.stats(), s.poll_timeout());
        }
        check_lifecycle(&events);
    }
}

fn inject(s: &mut Session, rng: &mut SplitMix64, id: [u8; 16], conn: ConnNumber, now: Duration) {
    let f = random_frame(rng, id, s);
    let stream = match (f.get(1), f.get(2)) {
        // Mostly the right stream, sometimes a wrong one.
        (Some(1), Some(&c)) if !rng.next_u64().is_multiple_of(8) => {
            ChannelKind::from_code(c).unwrap_or(ChannelKind::State)
        }
        (Some(2 | 7 | 8), _) if !rng.next_u64().is_multiple_of(8) => ChannelKind::State,
        (Some(3..=6 | 9), _) if !rng.next_u64().is_multiple_of(8) => ChannelKind::Control,
        _ => ChannelKind::ALL[(rng.next_u64() % 3) as usize],
    };
    let _ = s.handle_frame(conn, stream, &f, now);
}

/// Two live sessions exchanging traffic on the harness link, with random frames
/// injected into both: no panic, the contract holds, and real traffic got through.
#[test]
fn random_frames_injected_into_live_sessions_never_panic() {
    let (mut delivered, mut rounds) = (0u64, 0u64);
    for seed in 0..100u64 {
        let mut p = Pair::new(session_helpers::fast(), seed);
        let mut rng = SplitMix64::new(seed ^ 0xfeed);
        for round in 0..300u32 {
            for k in ChannelKind::ALL {
                let _ = p.a.send(k, round.to_be_bytes().to_vec());
                let _ = p.b.send(k, round.to_be_bytes().to_vec());
            }
            if rng.next_u64().is_multiple_of(3) {
                let side = rng.next_u64().is_multiple_of(2);
                let conn = p
                    .link
                    .as_ref()
                    .map(|l| if side { l.conn_a } else { l.conn_b });
                let s = if side { &mut p.a } else { &mut p.b };
                let id = s.id().unwrap_or([3; 16]);
                inject(s, &mut rng, id, conn.unwrap_or_default(), p.now);
                p.handle_events();
            }
            p.step_lossy(Duration::from_millis(20), 2_000);
            for k in ChannelKind::ALL {
                delivered += std::iter::from_fn(|| p.a.recv(k)).count() as u64;
                delivered += std::iter::from_fn(|| p.b.recv(k)).count() as u64;
            }
            rounds += 1;
            if p.a.is_closed() || p.b.is_closed() {
                break;
            }
        }
        check_lifecycle(&p.events_a);
        if !p.b.is_closed() {
            check_lifecycle(&p.events_b);
        }
    }
    eprintln!("fuzz: {delivered} messages delivered, {rounds} rounds");
    assert!(
        delivered > 10_000,
        "the fuzz must keep real traffic flowing ({delivered})"
    );
}

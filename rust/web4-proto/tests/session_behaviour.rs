//! Session behaviour on the simulated link: replays, stale sessions, resume rejected,
//! expiry, close, rekey, heartbeat timeout and round trips, stale connections.

mod session_helpers;

use std::time::Duration;

use session_helpers::{drain, established, fast, number_of, numbered, Pair};
use web4_proto::session::{
    ChannelKind, CloseReason, ConnNumber, ErrorClass, Event, Frame, Session, SessionError,
    SessionState, SplitMix64, Unacked,
};

const K: ChannelKind = ChannelKind::Knowledge;

/// Next DATA frame a would send, captured instead of delivered.
fn capture_data(p: &mut Pair) -> Vec<u8> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let t = p.a.poll_transmit(p.now, &mut buf).expect("a frame to send");
        if t.stream == K {
            return buf;
        }
    }
}

#[test]
fn a_reinjected_data_frame_is_a_counted_replay_and_the_session_is_kept() {
    let mut p = established(fast(), 1);
    p.a.send(K, numbered(0, 16)).unwrap();
    let frame = capture_data(&mut p);
    let conn = p.link.as_ref().unwrap().conn_b;
    p.b.handle_frame(conn, K, &frame, p.now).unwrap();
    let err = p.b.handle_frame(conn, K, &frame, p.now).unwrap_err();
    assert_eq!(
        err,
        SessionError::Replay {
            channel: K,
            seq: 1,
            stale_session: false
        }
    );
    assert_eq!(err.class(), ErrorClass::Replay);
    assert!(!err.is_connection_fatal());
    assert_eq!(drain(&mut p.b, K), vec![0], "delivered once");
    let s = p.b.stats();
    assert_eq!(
        (s.replays_rejected, s.channels[K.index()].replays_rejected),
        (1, 1)
    );
    assert!(p.b.poll_event().is_some_and(|e| e == Event::Readable(K)));
    assert_eq!(
        p.b.poll_event(),
        Some(Event::ReplayRejected {
            channel: K,
            seq: 1,
            stale_session: false
        })
    );
    // The session and the connection are kept: more data flows.
    p.a.send(K, numbered(1, 16)).unwrap();
    p.run_until(100, |p| p.b.recv_len(K) == 1);
    assert_eq!(drain(&mut p.b, K), vec![1]);
    assert_eq!(p.b.state(), SessionState::Established);
}

#[test]
fn a_frame_from_a_stale_session_id_is_a_counted_replay() {
    let mut p = established(fast(), 2);
    let conn = p.link.as_ref().unwrap().conn_b;
    let stale = Frame::Data {
        channel: K,
        session: [0x55; 16],
        seq: 1,
        payload: b"old",
    }
    .to_vec();
    let err = p.b.handle_frame(conn, K, &stale, p.now).unwrap_err();
    assert_eq!(
        err,
        SessionError::Replay {
            channel: K,
            seq: 1,
            stale_session: true
        }
    );
    let stale_ack = Frame::Ack {
        channel: K,
        session: [0x55; 16],
        seq: 0,
    }
    .to_vec();
    assert!(matches!(
        p.b.handle_frame(conn, ChannelKind::State, &stale_ack, p.now),
        Err(SessionError::Replay {
            stale_session: true,
            ..
        })
    ));
    assert_eq!(p.b.stats().replays_rejected, 2);
    assert_eq!(p.b.recv_len(K), 0, "nothing delivered");
    assert_eq!(p.b.state(), SessionState::Established);
    // The real session still delivers seq 1.
    p.a.send(K, numbered(9, 8)).unwrap();
    p.run_until(100, |p| p.b.recv_len(K) == 1);
    assert_eq!(drain(&mut p.b, K), vec![9]);
}

/// Deliver up to `n` frames queued on the link in direction `dir` on stream `k`.
fn deliver_on(p: &mut Pair, dir: usize, k: ChannelKind, n: usize) {
    for _ in 0..n {
        let link = p.link.as_mut().unwrap();
        let Some(frame) = link.queues[dir][k.index()].pop_front() else {
            break;
        };
        let (rx, conn) = if dir == 0 {
            (&mut p.b, link.conn_b)
        } else {
            (&mut p.a, link.conn_a)
        };
        rx.handle_frame(conn, k, &frame, p.now).unwrap();
    }
    p.handle_events();
}

#[test]
fn resume_rejected_returns_exactly_the_unacknowledged_messages() {
    let mut cfg = fast();
    cfg.ack_every_msgs = 10;
    cfg.ack_delay = Duration::from_secs(100); // only count-paced acks
    let mut p = established(cfg, 3);
    for i in 0..25 {
        p.a.send(K, numbered(i, 8)).unwrap();
    }
    p.transmit();
    deliver_on(&mut p, 0, K, 20);
    p.transmit(); // b acknowledges 20 (count-paced)
    deliver_on(&mut p, 1, ChannelKind::State, usize::MAX);
    deliver_on(&mut p, 0, K, 5); // 20..24 delivered, below the ack pace: unacked
    assert_eq!(p.b.recv_len(K), 25);
    p.transmit();
    p.cut(0);
    // The peer restarts: its session is gone. Then the app queues 3 more.
    p.b = Session::new_listener(p.cfg.clone(), p.now, &mut SplitMix64::new(77));
    for i in 25..28 {
        p.a.send(K, numbered(i, 8)).unwrap();
    }
    p.run_until(1000, |p| p.a.is_closed());
    let close = p.events_a.iter().find_map(|e| match e {
        Event::SessionClose {
            reason, unacked, ..
        } => Some((*reason, unacked.clone())),
        _ => None,
    });
    let (reason, unacked) = close.expect("session_close");
    assert_eq!(reason, CloseReason::UnknownSession);
    let want: Vec<Unacked> = (20..28)
        .map(|i| Unacked {
            channel: K,
            seq: (i < 25).then_some(u64::from(i) + 1),
            payload: numbered(i, 8),
        })
        .collect();
    assert_eq!(unacked, want);
    assert_eq!(
        p.a.send(K, vec![1]),
        Err(SessionError::Closed(CloseReason::UnknownSession))
    );
    assert_eq!(
        p.events_a.last().map(Event::name),
        Some("session_close"),
        "close is the last event"
    );
}

#[test]
fn close_reaches_the_peer_and_both_report_it() {
    let mut p = established(fast(), 8);
    p.b.send(K, numbered(5, 8)).unwrap();
    p.a.close(CloseReason::Normal, "done");
    assert!(p.a.is_closed());
    p.run_until(100, |p| p.b.is_closed());
    assert!(matches!(
        p.events_b.last(),
        Some(Event::SessionClose { reason: CloseReason::Normal, text, unacked }) if text == "done" && unacked.len() == 1
    ));
    assert!(matches!(
        p.b.handle_frame(ConnNumber(0), K, &[], p.now),
        Err(SessionError::Closed(_))
    ));
    p.a.close(CloseReason::Normal, "again");
    assert_eq!(
        p.events_a
            .iter()
            .filter(|e| matches!(e, Event::SessionClose { .. }))
            .count(),
        1
    );
}

#[test]
fn a_new_open_from_a_restarted_dialler_closes_the_old_listener_session() {
    let mut p = established(fast(), 9);
    p.b.send(K, numbered(3, 8)).unwrap();
    p.cut(0);
    p.a = Session::new_dialer(p.cfg.clone(), p.now, &mut SplitMix64::new(1234));
    p.connect();
    p.run_until(100, |p| p.b.is_closed());
    match p.events_b.last() {
        Some(Event::SessionClose {
            reason: CloseReason::PeerRestarted,
            unacked,
            ..
        }) => {
            assert_eq!(unacked.len(), 1);
            assert_eq!(number_of(&unacked[0].payload), 3);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn frames_of_an_old_connection_are_ignored() {
    let mut p = established(fast(), 10);
    p.a.send(K, numbered(0, 8)).unwrap();
    let old = capture_data(&mut p);
    let old_conn = p.link.as_ref().unwrap().conn_b;
    p.cut(0);
    p.run_until(1000, |p| p.b.recv_len(K) == 1);
    assert_ne!(p.b.connection(), old_conn);
    assert_eq!(p.b.handle_frame(old_conn, K, &old, p.now), Ok(()));
    assert_eq!(drain(&mut p.b, K), vec![0], "exactly once");
    assert_eq!(p.b.stats().replays_rejected, 0);
}

#[test]
fn misplaced_or_malformed_frames_drop_the_connection_not_the_session() {
    let mut p = established(fast(), 11);
    let conn = p.link.as_ref().unwrap().conn_b;
    let err = p.b.handle_frame(conn, K, &[1, 0x42], p.now).unwrap_err();
    assert!(
        matches!(err, SessionError::Frame(_))
            && err.is_connection_fatal()
            && err.class() == ErrorClass::Transport
    );
    assert_eq!(p.b.state(), SessionState::Disconnected);
    assert!(p.events_b.is_empty() || !p.b.is_closed());
    assert!(p
        .b
        .poll_event()
        .is_some_and(|e| e == Event::DropConnection { conn }));
    p.a.send(K, numbered(1, 8)).unwrap();
    p.cut(1);
    assert!(p.run_until(1000, |p| p.b.recv_len(K) == 1));
    let conn = p.link.as_ref().unwrap().conn_b;
    // DATA of the knowledge channel on the control stream is a protocol violation.
    let wrong = Frame::Data {
        channel: K,
        session: p.b.id().unwrap(),
        seq: 2,
        payload: b"",
    }
    .to_vec();
    assert!(matches!(
        p.b.handle_frame(conn, ChannelKind::Control, &wrong, p.now),
        Err(SessionError::Protocol(_))
    ));
    // A gap on a reliable channel is one too.
    p.run_until(1000, |p| p.b.state() == SessionState::Established);
    let conn = p.link.as_ref().unwrap().conn_b;
    let gap = Frame::Data {
        channel: K,
        session: p.b.id().unwrap(),
        seq: 5,
        payload: b"",
    }
    .to_vec();
    assert!(matches!(
        p.b.handle_frame(conn, K, &gap, p.now),
        Err(SessionError::Protocol(_))
    ));
    assert!(p.b.stats().frames_rejected >= 3);
    assert!(!p.b.is_closed());
}

#[test]
fn framed_transmit_writes_length_prefixed_frames_per_stream() {
    let mut plain = established(fast(), 12);
    let mut framed = established(fast(), 12);
    for p in [&mut plain, &mut framed] {
        for i in 0..5 {
            p.a.send(K, numbered(i, 300)).unwrap();
        }
        p.a.send(ChannelKind::Control, vec![7; 3]).unwrap();
    }
    let mut want: [Vec<u8>; 3] = Default::default();
    let mut buf = Vec::new();
    while let Some(t) = plain.a.poll_transmit(plain.now, &mut buf) {
        web4_proto::session::put_varint(&mut want[t.stream.index()], buf.len() as u64);
        want[t.stream.index()].extend_from_slice(&buf);
        buf.clear();
    }
    let mut got: [Vec<u8>; 3] = Default::default();
    while framed
        .a
        .poll_transmit_framed(framed.now, &mut got)
        .is_some()
    {}
    assert_eq!(got, want);
    assert!(!got[K.index()].is_empty() && !got[ChannelKind::Control.index()].is_empty());
}

//! Bounded queues and their policies, state conflation, receive backpressure, and the
//! backoff calculator.

mod session_helpers;

use std::time::Duration;

use session_helpers::{number_of, numbered, Pair};
use web4_proto::session::{
    Backoff, BackoffConfig, ChannelKind, ErrorClass, Event, QueuePolicy, SendOutcome, Session,
    SessionConfig, SessionError, SessionState, SplitMix64,
};

const K: ChannelKind = ChannelKind::Knowledge;
const S: ChannelKind = ChannelKind::State;

fn with_policy(kind: ChannelKind, policy: QueuePolicy, msgs: usize, bytes: usize) -> SessionConfig {
    let mut cfg = SessionConfig::default();
    let c = &mut cfg.channels[kind.index()];
    c.policy = policy;
    c.send_queue_msgs = msgs;
    c.send_queue_bytes = bytes;
    cfg
}

/// A dialler that is not connected: nothing leaves the send queue.
fn offline(cfg: SessionConfig) -> Session {
    Session::new_dialer(cfg, Duration::ZERO, &mut SplitMix64::new(1))
}

#[test]
fn policy_error_refuses_at_the_message_bound_and_the_byte_bound() {
    let mut s = offline(with_policy(K, QueuePolicy::Error, 4, 1000));
    for i in 0..4 {
        assert_eq!(s.send(K, numbered(i, 10)), Ok(SendOutcome::Queued));
    }
    let err = s.send(K, numbered(4, 10)).unwrap_err();
    assert_eq!(err, SessionError::QueueFull(K));
    assert_eq!(err.class(), ErrorClass::Backpressure);
    let mut s = offline(with_policy(K, QueuePolicy::Error, 100, 1000));
    assert!(s.send(K, vec![0; 600]).is_ok());
    assert_eq!(
        s.send(K, vec![0; 401]),
        Err(SessionError::QueueFull(K)),
        "bytes bound"
    );
    assert!(s.send(K, vec![0; 400]).is_ok());
    let st = s.stats().channels[K.index()].clone();
    assert_eq!(
        (
            st.refused,
            st.queue_high_water_msgs,
            st.queue_high_water_bytes
        ),
        (1, 2, 1000)
    );
}

#[test]
fn a_single_message_larger_than_the_byte_bound_still_passes_alone() {
    let mut s = offline(with_policy(K, QueuePolicy::Error, 4, 100));
    assert!(s.send(K, vec![0; 500]).is_ok());
    assert!(s.send(K, vec![0; 1]).is_err());
}

#[test]
fn payloads_over_the_limit_are_refused() {
    let cfg = SessionConfig {
        max_payload: 64,
        ..SessionConfig::default()
    };
    let mut s = offline(cfg);
    let err = s.send(K, vec![0; 65]).unwrap_err();
    assert_eq!(err, SessionError::PayloadTooLarge { len: 65, max: 64 });
    assert_eq!(err.class(), ErrorClass::Transport);
}

#[test]
fn policy_drop_oldest_keeps_the_newest_and_counts() {
    let mut s = offline(with_policy(K, QueuePolicy::DropOldest, 3, 1 << 20));
    for i in 0..3 {
        s.send(K, numbered(i, 8)).unwrap();
    }
    assert_eq!(
        s.send(K, numbered(3, 8)),
        Ok(SendOutcome::QueuedDroppedOldest(1))
    );
    assert_eq!(
        s.send(K, numbered(4, 8)),
        Ok(SendOutcome::QueuedDroppedOldest(1))
    );
    assert_eq!(s.stats().channels[K.index()].dropped_by_policy, 2);
    assert_eq!(
        s.poll_event(),
        Some(Event::Dropped {
            channel: K,
            count: 1
        })
    );
    s.close(web4_proto::session::CloseReason::Normal, "");
    let Some(Event::SessionClose { unacked, .. }) = std::iter::from_fn(|| s.poll_event()).last()
    else {
        panic!("no close")
    };
    let kept: Vec<u32> = unacked.iter().map(|u| number_of(&u.payload)).collect();
    assert_eq!(kept, vec![2, 3, 4]);
}

#[test]
fn policy_drop_newest_discards_the_new_message_and_counts() {
    let mut s = offline(with_policy(K, QueuePolicy::DropNewest, 2, 1 << 20));
    s.send(K, numbered(0, 8)).unwrap();
    s.send(K, numbered(1, 8)).unwrap();
    assert_eq!(s.send(K, numbered(2, 8)), Ok(SendOutcome::Dropped));
    assert_eq!(s.stats().channels[K.index()].dropped_by_policy, 1);
}

#[test]
fn policy_block_would_block_then_reports_writable_when_the_queue_drains() {
    let mut cfg = with_policy(K, QueuePolicy::Block, 8, 1 << 20);
    cfg.channels[K.index()].inflight_msgs = 8;
    let mut p = Pair::new(cfg, 3);
    p.run_until(100, |p| p.a.state() == SessionState::Established);
    let mut sent = 0;
    let blocked = loop {
        match p.a.send(K, numbered(sent, 8)) {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(blocked, SessionError::WouldBlock(K));
    assert!(!p.a.can_send(K, 8));
    // The driver waits for Writable; the link drains the queue.
    assert!(p.run_until(100, |p| p.events_a.contains(&Event::Writable(K))));
    assert!(p.a.can_send(K, 8));
    assert!(p.a.send(K, numbered(sent, 8)).is_ok());
}

#[test]
fn a_receiver_that_does_not_read_stops_the_sender() {
    let mut cfg = SessionConfig::default();
    let c = &mut cfg.channels[K.index()];
    (c.recv_queue_msgs, c.inflight_msgs, c.send_queue_msgs) = (16, 32, 64);
    let mut p = Pair::new(cfg, 4);
    let mut sent = 0u32;
    for _ in 0..200 {
        while p.a.send(K, numbered(sent, 8)).is_ok() {
            sent += 1;
        }
        p.step(Duration::from_millis(5));
    }
    // Bounded everywhere: 16 received, 32 in flight, 64 queued; then WouldBlock.
    assert_eq!(p.b.recv_len(K), 16);
    assert!(!p.b.recv_window_open(K));
    assert_eq!(sent, 16 + 32 + 64);
    let (tx, rx) = (
        p.a.stats().channels[K.index()].clone(),
        p.b.stats().channels[K.index()].clone(),
    );
    assert_eq!(
        (tx.send_queued_msgs, tx.inflight_msgs, rx.recv_queued_msgs),
        (64, 32, 16)
    );
    assert_eq!(
        (
            tx.send_queued_bytes,
            tx.inflight_bytes,
            rx.recv_queued_bytes
        ),
        (64 * 8, 32 * 8, 16 * 8)
    );
    // The driver must not feed past the window; if it does, the frame is refused.
    let conn = p.link.as_ref().unwrap().conn_b;
    let id = p.b.id().unwrap();
    let f = web4_proto::session::Frame::Data {
        channel: K,
        session: id,
        seq: 17,
        payload: b"x",
    }
    .to_vec();
    assert_eq!(
        p.b.handle_frame(conn, K, &f, p.now),
        Err(SessionError::ReceiveFull(K))
    );
    // Reading resumes the flow, in order.
    let mut got = Vec::new();
    p.run_until(10_000, |p| {
        got.extend(std::iter::from_fn(|| p.b.recv(K)).map(|m| number_of(&m)));
        got.len() == sent as usize
    });
    assert_eq!(got, (0..sent).collect::<Vec<u32>>());
}

#[test]
fn state_conflates_to_the_latest_values() {
    let mut cfg = SessionConfig::default();
    cfg.channels[S.index()].send_queue_msgs = 4;
    cfg.channels[S.index()].recv_queue_msgs = 2;
    let mut p = Pair::new(cfg, 5);
    p.run_until(100, |p| p.a.state() == SessionState::Established);
    p.cut(0);
    // While disconnected, 100 updates: the default state policy drops the oldest.
    for i in 0..100 {
        assert!(p.a.send(S, numbered(i, 8)).is_ok());
    }
    assert_eq!(p.a.stats().channels[S.index()].dropped_by_policy, 96);
    p.run_until(10_000, |p| {
        p.a.state() == SessionState::Established && p.b.recv_len(S) == 2
    });
    for _ in 0..5 {
        p.step(Duration::from_millis(1));
    }
    let got: Vec<u32> = std::iter::from_fn(|| p.b.recv(S))
        .map(|m| number_of(&m))
        .collect();
    assert_eq!(
        got,
        vec![98, 99],
        "the receive queue conflated to the newest two"
    );
    assert_eq!(p.b.stats().channels[S.index()].dropped_by_policy, 2);
}

#[test]
fn state_resends_only_its_newest_unacked_value_after_a_resume() {
    let cfg = SessionConfig {
        ack_delay: Duration::from_secs(100),
        ack_every_msgs: 1000,
        ..SessionConfig::default()
    };
    let mut p = Pair::new(cfg, 6);
    p.run_until(100, |p| p.a.state() == SessionState::Established);
    for i in 0..10 {
        p.a.send(S, numbered(i, 8)).unwrap();
    }
    p.transmit(); // on the wire, then lost
    p.cut(0);
    p.run_until(10_000, |p| p.b.recv_len(S) >= 1);
    for _ in 0..5 {
        p.step(Duration::from_millis(1));
    }
    let got: Vec<u32> = std::iter::from_fn(|| p.b.recv(S))
        .map(|m| number_of(&m))
        .collect();
    assert_eq!(got, vec![9]);
    assert_eq!(p.a.stats().channels[S.index()].retransmits, 1);
}

#[test]
fn backoff_grows_caps_and_jitters_deterministically() {
    let cfg = BackoffConfig {
        base: Duration::from_millis(100),
        factor: 2.0,
        cap: Duration::from_secs(3),
        jitter: 0.5,
    };
    let b = Backoff::new(cfg.clone());
    let ceilings: Vec<u128> = (0..8).map(|n| b.ceiling(n).as_millis()).collect();
    assert_eq!(ceilings, vec![100, 200, 400, 800, 1600, 3000, 3000, 3000]);
    assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(3), "no overflow");
    let run = |seed| {
        let mut b = Backoff::new(cfg.clone());
        let mut rng = SplitMix64::new(seed);
        (0..20).map(|_| b.next_delay(&mut rng)).collect::<Vec<_>>()
    };
    let (one, again, other) = (run(1), run(1), run(2));
    assert_eq!(one, again, "same seed, same delays");
    assert_ne!(one, other, "jitter depends on the rng");
    let b = Backoff::new(cfg.clone());
    for (n, d) in one.iter().enumerate() {
        let ceiling = b.ceiling(n as u32);
        assert!(
            *d <= ceiling && *d >= ceiling / 2,
            "attempt {n}: {d:?} vs {ceiling:?}"
        );
    }
    let mut b = Backoff::new(BackoffConfig { jitter: 0.0, ..cfg });
    let mut rng = SplitMix64::new(3);
    assert_eq!(b.next_delay(&mut rng), Duration::from_millis(100));
    assert_eq!(b.next_delay(&mut rng), Duration::from_millis(200));
    b.reset();
    assert_eq!(
        (b.attempt(), b.next_delay(&mut rng)),
        (0, Duration::from_millis(100))
    );
}

#[test]
fn policy_and_channel_names_parse() {
    for p in [
        QueuePolicy::Block,
        QueuePolicy::Error,
        QueuePolicy::DropOldest,
        QueuePolicy::DropNewest,
    ] {
        assert_eq!(QueuePolicy::parse(p.as_str()), Some(p));
    }
    assert_eq!(QueuePolicy::parse("nope"), None);
    for k in ChannelKind::ALL {
        assert_eq!(ChannelKind::parse(k.as_str()), Some(k));
        assert_eq!(ChannelKind::from_code(k.code()), Ok(k));
        assert_eq!(k.protocol_id(), format!("/web4/rtt/{}/1.0.0", k.as_str()));
    }
    let d = SessionConfig::default();
    assert_eq!(d.channel(K).policy, QueuePolicy::Block);
    assert_eq!(d.channel(ChannelKind::Control).policy, QueuePolicy::Block);
    assert_eq!(d.channel(S).policy, QueuePolicy::DropOldest);
}

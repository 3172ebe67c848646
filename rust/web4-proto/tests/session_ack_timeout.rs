//! The ack-timeout safety net: a reliable DATA frame the transport loses while the
//! connection stays up (heartbeats flowing, no later DATA revealing a gap) is recovered
//! by dropping the connection after `ack_timeout`, so the resume exchange retransmits
//! it; with acks flowing normally, or a receiver that is merely slow to read, the timer
//! never fires.

mod session_helpers;

use std::time::Duration;

use session_helpers::{drain, established, fast, numbered, Pair};
use web4_proto::session::{ChannelKind, Event, SessionConfig, SessionRng, SessionState};

const K: ChannelKind = ChannelKind::Knowledge;

fn cfg(ack_timeout: Duration) -> SessionConfig {
    let mut cfg = fast();
    cfg.ack_timeout = ack_timeout;
    cfg
}

fn drops(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::DropConnection { .. }))
        .count()
}

/// Send `msgs` on `K` from a (`a_sends`) or b, put them on the link and silently lose
/// the last DATA frame put on the knowledge stream.
fn send_and_lose_last(p: &mut Pair, a_sends: bool, msgs: std::ops::Range<u32>) {
    for i in msgs {
        let s = if a_sends { &mut p.a } else { &mut p.b };
        s.send(K, numbered(i, 16)).unwrap();
    }
    p.transmit();
    let dir = if a_sends { 0 } else { 1 };
    let link = p.link.as_mut().expect("connected");
    assert!(link.queues[dir][K.index()].pop_back().is_some());
}

#[test]
fn a_lost_frame_is_delivered_after_the_ack_timeout_exactly_once_in_order() {
    let ack_timeout = Duration::from_secs(1);
    let mut p = established(cfg(ack_timeout), 7);
    for i in 0..3 {
        p.a.send(K, numbered(i, 16)).unwrap();
    }
    assert!(p.run_until(100, |p| p.b.recv_len(K) == 3));
    assert_eq!(drain(&mut p.b, K), vec![0, 1, 2]);

    send_and_lose_last(&mut p, true, 3..4);
    let lost_at = p.now;
    // The link stays up and heartbeats keep flowing: nothing reveals the loss.
    let rtt_samples_before = p.a.stats().rtt_p50_us;
    while p.now < lost_at + ack_timeout - Duration::from_millis(50) {
        p.step(Duration::from_millis(20));
    }
    assert_eq!(p.b.recv_len(K), 0);
    assert_eq!(p.a.state(), SessionState::Established);
    assert_eq!(p.a.stats().ack_timeouts, 0);
    assert_eq!(p.a.stats().heartbeat_timeouts, 0);
    assert!(p.a.stats().rtt_p50_us.is_some() || rtt_samples_before.is_some());
    assert_eq!(drops(&p.events_a), 0);

    assert!(p.run_until(1000, |p| p.b.recv_len(K) == 1));
    assert!(p.now >= lost_at + ack_timeout);
    assert_eq!(drain(&mut p.b, K), vec![3]);
    let sa = p.a.stats();
    assert_eq!(sa.ack_timeouts, 1);
    assert_eq!(sa.reconnects, 1);
    assert_eq!(drops(&p.events_a), 1);
    assert!(p
        .events_a
        .iter()
        .any(|e| matches!(e, Event::SessionResumed { retransmitted: 1 })));

    // Later traffic still flows, in order, with no duplicate of the lost frame.
    for i in 4..10 {
        p.a.send(K, numbered(i, 16)).unwrap();
    }
    assert!(p.run_until(1000, |p| p.b.recv_len(K) == 6 && p.a.all_acked()));
    assert_eq!(drain(&mut p.b, K), (4..10).collect::<Vec<_>>());
    for _ in 0..200 {
        p.step(Duration::from_millis(50));
    }
    assert_eq!(p.b.recv_len(K), 0);
    assert_eq!(p.a.stats().ack_timeouts, 1);
    assert_eq!(p.b.stats().channels[K.index()].received_msgs, 10);
}

#[test]
fn a_frame_lost_by_the_listener_is_recovered_when_the_dialler_resumes() {
    let ack_timeout = Duration::from_millis(800);
    let mut p = established(cfg(ack_timeout), 11);
    send_and_lose_last(&mut p, false, 0..5);
    // Frames 0..=3 arrive and are acked; 4 is lost with no later DATA to reveal it.
    assert!(p.run_until(1000, |p| p.a.recv_len(K) == 4));
    assert!(p.run_until(1000, |p| p.a.recv_len(K) == 5));
    assert_eq!(drain(&mut p.a, K), vec![0, 1, 2, 3, 4]);
    assert_eq!(p.b.stats().ack_timeouts, 1);
    assert_eq!(drops(&p.events_b), 1);
    // The dialler found the connection gone, re-dialled and resumed.
    assert!(
        p.run_until(1000, |p| p.a.state() == SessionState::Established
            && p.b.state() == SessionState::Established
            && p.b.all_acked())
    );
    assert_eq!(p.a.stats().reconnects, 1);
    assert_eq!(p.a.stats().channels[K.index()].received_msgs, 5);
}

#[test]
fn no_ack_timeout_under_steady_traffic_for_a_long_virtual_time() {
    // A short timeout (the floor is two heartbeat intervals, 200 ms) makes any
    // spurious firing likely to show.
    let mut p = established(cfg(Duration::from_millis(250)), 3);
    let (mut next_a, mut next_b) = (0u32, 0u32);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let end = p.now + Duration::from_secs(120);
    while p.now < end {
        for _ in 0..(p.rng.next_u64() % 4) {
            if p.a.can_send(K, 64) {
                p.a.send(K, numbered(next_a, 64)).unwrap();
                next_a += 1;
            }
        }
        if p.rng.next_u64().is_multiple_of(3) && p.b.can_send(ChannelKind::Control, 32) {
            p.b.send(ChannelKind::Control, numbered(next_b, 32))
                .unwrap();
            next_b += 1;
        }
        let t = p.now;
        p.step(Duration::from_millis(7));
        p.now = p.now.max(t + Duration::from_millis(5));
        got_b.extend(drain(&mut p.b, K));
        got_a.extend(drain(&mut p.a, ChannelKind::Control));
    }
    assert!(p.run_until(1000, |p| p.a.all_acked() && p.b.all_acked()));
    got_b.extend(drain(&mut p.b, K));
    got_a.extend(drain(&mut p.a, ChannelKind::Control));
    assert!(next_a > 10_000, "steady traffic: {next_a} messages");
    assert_eq!(got_b, (0..next_a).collect::<Vec<_>>());
    assert_eq!(got_a, (0..next_b).collect::<Vec<_>>());
    assert_eq!(p.a.stats().ack_timeouts, 0);
    assert_eq!(p.b.stats().ack_timeouts, 0);
    assert_eq!(drops(&p.events_a) + drops(&p.events_b), 0);
    assert_eq!(p.cuts, 0);
    assert_eq!(p.a.stats().reconnects, 0);
}

#[test]
fn a_slow_reader_with_a_closed_window_does_not_trip_the_ack_timeout() {
    let mut c = cfg(Duration::from_millis(250));
    c.channels[K.index()].recv_queue_msgs = 8;
    let mut p = established(c, 5);
    for i in 0..50 {
        p.a.send(K, numbered(i, 16)).unwrap();
    }
    // b never reads for a long while: its window closes with frames waiting unread.
    let end = p.now + Duration::from_secs(30);
    while p.now < end {
        p.step(Duration::from_millis(50));
    }
    assert_eq!(p.b.recv_len(K), 8);
    assert!(!p.a.all_acked());
    assert_eq!(p.a.stats().ack_timeouts, 0);
    assert_eq!(p.cuts, 0);
    let mut got = Vec::new();
    assert!(p.run_until(10_000, |p| {
        got.extend(drain(&mut p.b, K));
        got.len() == 50 && p.a.all_acked()
    }));
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    assert_eq!(p.a.stats().ack_timeouts, 0);
    assert_eq!(p.cuts, 0);
}

#[test]
fn no_ack_timer_while_disconnected() {
    let mut p = established(cfg(Duration::from_millis(300)), 9);
    p.unreachable = true;
    p.cut(0);
    p.a.send(K, numbered(0, 16)).unwrap();
    for _ in 0..100 {
        p.step(Duration::from_millis(100));
    }
    assert_eq!(p.a.stats().ack_timeouts, 0);
    assert_eq!(p.b.stats().ack_timeouts, 0);
    p.unreachable = false;
    assert!(p.run_until(1000, |p| p.b.recv_len(K) == 1 && p.a.all_acked()));
    assert_eq!(drain(&mut p.b, K), vec![0]);
    assert_eq!(p.a.stats().ack_timeouts, 0);
}

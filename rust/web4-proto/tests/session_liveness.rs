//! Liveness on the simulated link: heartbeat timeout and resume, round-trip samples,
//! backoff while the peer is unreachable, expiry, and rekeying without loss.

mod session_helpers;

use std::time::Duration;

use session_helpers::{drain, established, fast, numbered};
use web4_proto::session::{ChannelKind, CloseReason, Event, LossCause};

const K: ChannelKind = ChannelKind::Knowledge;

#[test]
fn an_unreachable_peer_gets_backed_off_redials_then_expiry_with_the_unacked_list() {
    let mut p = established(fast(), 4);
    p.a.send(K, numbered(1, 8)).unwrap();
    p.transmit();
    p.cut(0);
    p.unreachable = true;
    p.a.send(K, numbered(2, 8)).unwrap();
    p.run_until(100_000, |p| p.a.is_closed());
    let delays: Vec<Duration> = p
        .events_a
        .iter()
        .filter_map(|e| match e {
            Event::ReconnectAttempt { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert!(delays.len() >= 10, "{delays:?}");
    assert!(delays[3] > delays[0], "delays grow: {delays:?}");
    assert!(
        delays.iter().all(|d| *d <= Duration::from_secs(2)),
        "capped: {delays:?}"
    );
    match p.events_a.last() {
        Some(Event::SessionClose {
            reason: CloseReason::Expired,
            unacked,
            ..
        }) => {
            let seqs: Vec<Option<u64>> = unacked.iter().map(|u| u.seq).collect();
            assert_eq!(seqs, vec![Some(1), None]);
        }
        other => panic!("{other:?}"),
    }
    // The listener expires too and reports what it had not had acknowledged (nothing).
    assert!(p.run_until(1000, |p| p.b.is_closed()));
    assert!(p.events_b.iter().any(|e| matches!(
        e,
        Event::SessionClose {
            reason: CloseReason::Expired,
            ..
        }
    )));
}

#[test]
fn a_silent_peer_is_detected_within_the_heartbeat_timeout_and_the_session_resumes() {
    let mut p = established(fast(), 5);
    for _ in 0..20 {
        p.step(Duration::from_millis(10));
    }
    // "SIGSTOP": the link stays up but the peer stops reading and answering.
    let stopped_at = p.now;
    let frozen = p.link.take();
    p.unreachable = true;
    p.run_until(10_000, |p| p.events_a.contains(&Event::HeartbeatTimeout));
    let waited = p.now - stopped_at;
    assert!(
        waited <= Duration::from_millis(300) + Duration::from_millis(1),
        "{waited:?}"
    );
    let i = p
        .events_a
        .iter()
        .position(|e| *e == Event::HeartbeatTimeout)
        .unwrap();
    assert!(matches!(p.events_a[i + 1], Event::DropConnection { .. }));
    p.run_until(10_000, |p| p.a.stats().reconnect_attempts >= 3);
    // "SIGCONT": the peer is back; the session resumes and data flows.
    drop(frozen);
    p.unreachable = false;
    p.a.send(K, numbered(42, 8)).unwrap();
    assert!(p.run_until(10_000, |p| p.b.recv_len(K) == 1));
    assert_eq!(drain(&mut p.b, K), vec![42]);
    assert!(p
        .events_a
        .iter()
        .any(|e| matches!(e, Event::SessionResumed { .. })));
    assert_eq!(p.a.stats().heartbeat_timeouts, 1);
}

#[test]
fn heartbeats_measure_round_trips() {
    let mut p = established(fast(), 6);
    for _ in 0..400 {
        p.step(Duration::from_millis(10));
    }
    let s = p.a.stats();
    let (p50, p95) = (s.rtt_p50_us.expect("p50"), s.rtt_p95_us.expect("p95"));
    assert!(p50 <= p95, "{p50} {p95}");
    assert!(
        p95 < 10_000,
        "the simulated link answers within a step: {p95}"
    );
    assert_eq!(s.heartbeat_timeouts, 0);
}

#[test]
fn rekey_is_a_planned_reconnect_that_loses_nothing() {
    let mut cfg = fast();
    cfg.rekey_after_bytes = Some(4_000);
    let mut p = established(cfg, 7);
    let mut got = Vec::new();
    for i in 0..1000 {
        while p.a.send(K, numbered(i, 100)).is_err() {
            p.step(Duration::from_millis(10));
            got.extend(drain(&mut p.b, K));
        }
        if i % 7 == 0 {
            p.step(Duration::from_millis(10));
            got.extend(drain(&mut p.b, K));
        }
    }
    p.run_until(10_000, |p| {
        got.extend(drain(&mut p.b, K));
        got.len() == 1000
    });
    assert_eq!(got, (0..1000).collect::<Vec<u32>>());
    let s = p.a.stats();
    assert!(s.rekeys >= 10, "rekeys {}", s.rekeys);
    assert_eq!(s.reconnects, s.rekeys, "every rekey resumed");
    let rekey = p
        .events_a
        .iter()
        .position(|e| *e == Event::RekeyDue)
        .unwrap();
    assert!(matches!(
        p.events_a[rekey + 1],
        Event::ReconnectAttempt {
            delay: Duration::ZERO,
            ..
        }
    ));
}

fn disconnections(events: &[Event]) -> Vec<(LossCause, Duration)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Disconnected { cause, expires_in } => Some((*cause, *expires_in)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_closed_connection_is_reported_at_once_on_both_sides_with_the_resume_window() {
    let mut p = established(fast(), 7);
    p.cut(0);
    p.handle_events();
    let expiry = fast().expiry;
    assert_eq!(
        disconnections(&p.events_a),
        vec![(LossCause::ConnectionClosed, expiry)]
    );
    assert_eq!(
        disconnections(&p.events_b),
        vec![(LossCause::ConnectionClosed, expiry)]
    );
    // The dialler's failing re-dials report nothing more; the resume reports itself.
    p.unreachable = true;
    p.run_until(10_000, |p| p.a.stats().reconnect_attempts >= 3);
    assert_eq!(disconnections(&p.events_a).len(), 1);
    p.unreachable = false;
    assert!(p.run_until(10_000, |p| p
        .events_a
        .iter()
        .any(|e| matches!(e, Event::SessionResumed { .. }))));
    assert_eq!(disconnections(&p.events_b).len(), 1);
}

#[test]
fn a_silent_peer_is_reported_disconnected_right_after_its_heartbeat_timeout() {
    let mut p = established(fast(), 8);
    p.cut(3); // nobody is told: only the heartbeat can find out
    p.unreachable = true;
    let cut_at = p.now;
    p.run_until(10_000, |p| {
        p.events_b
            .iter()
            .any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert!(p.now - cut_at <= fast().heartbeat.timeout + Duration::from_millis(1));
    let i = p
        .events_b
        .iter()
        .position(|e| *e == Event::HeartbeatTimeout)
        .unwrap();
    assert!(matches!(
        p.events_b[i + 2],
        Event::Disconnected {
            cause: LossCause::HeartbeatTimeout,
            ..
        }
    ));
}

//! Two sessions on a simulated lossy link with virtual time: the link is cut at random
//! points (frames in flight lost, sometimes only one side told) while 10,000 numbered
//! messages flow on `knowledge`; the receiver must get exactly 0..9999 in order.

mod session_helpers;

use std::time::Duration;

use session_helpers::{number_of, numbered, Pair};
use web4_proto::session::{ChannelKind, Event, SessionConfig, SessionError, SessionRng};

const N: u32 = 10_000;

/// Push messages from a to b on knowledge, cutting the link at random; returns the pair.
fn run_lossy(seed: u64, cfg: SessionConfig, cut_per_million: u64) -> (Pair, Vec<u32>) {
    let mut p = Pair::new(cfg, seed);
    let mut next = 0u32;
    let mut got: Vec<u32> = Vec::with_capacity(N as usize);
    let mut steps = 0u64;
    while got.len() < N as usize {
        steps += 1;
        assert!(
            steps < 2_000_000,
            "seed {seed}: no progress (got {})",
            got.len()
        );
        // The app pushes a random burst until the queue pushes back.
        let burst = p.rng.next_u64() % 64;
        for _ in 0..burst {
            if next == N {
                break;
            }
            match p.a.send(ChannelKind::Knowledge, numbered(next, 8)) {
                Ok(_) => next += 1,
                Err(SessionError::WouldBlock(_)) => break,
                Err(e) => panic!("seed {seed}: send failed: {e}"),
            }
        }
        // The app reads a random amount, so receive backpressure also happens.
        let reads = p.rng.next_u64() % 96;
        for _ in 0..reads {
            match p.b.recv(ChannelKind::Knowledge) {
                Some(m) => got.push(number_of(&m)),
                None => break,
            }
        }
        p.step_lossy(Duration::from_millis(200), cut_per_million);
        // Memory stays within the configured bounds at every step.
        for (s, side) in [(&p.a, "a"), (&p.b, "b")] {
            for (c, bound) in s.stats().channels.iter().zip(&s.config().channels) {
                assert!(c.send_queued_msgs <= bound.send_queue_msgs as u64, "{side}");
                assert!(c.inflight_msgs <= bound.inflight_msgs as u64, "{side}");
                assert!(c.recv_queued_msgs <= bound.recv_queue_msgs as u64, "{side}");
                assert!(c.inflight_bytes <= bound.inflight_bytes as u64, "{side}");
            }
        }
    }
    (p, got)
}

fn assert_exact(seed: u64, got: &[u32]) {
    assert_eq!(got.len(), N as usize, "seed {seed}");
    for (i, &v) in got.iter().enumerate() {
        assert_eq!(v, i as u32, "seed {seed}: position {i}");
    }
}

fn small_windows() -> SessionConfig {
    let mut cfg = SessionConfig::default();
    for ch in &mut cfg.channels {
        ch.send_queue_msgs = 128;
        ch.inflight_msgs = 256;
        ch.recv_queue_msgs = 64;
    }
    cfg.ack_every_msgs = 16;
    cfg.heartbeat.interval = Duration::from_millis(100);
    cfg.heartbeat.timeout = Duration::from_millis(300);
    cfg.backoff.base = Duration::from_millis(10);
    cfg.backoff.cap = Duration::from_millis(200);
    cfg
}

#[test]
fn ten_thousand_messages_survive_random_cuts_for_many_seeds() {
    for seed in 0..100u64 {
        let (p, got) = run_lossy(seed, small_windows(), 4_000);
        assert_exact(seed, &got);
        assert!(
            p.cuts >= 20,
            "seed {seed}: only {} cuts, the test is too gentle",
            p.cuts
        );
        let stats = p.b.stats();
        assert_eq!(
            stats.channels[ChannelKind::Knowledge.index()].received_msgs,
            u64::from(N)
        );
        // Every loss on the dialler's side ends in a resume (or is still pending).
        let resumed = p
            .events_a
            .iter()
            .filter(|e| matches!(e, Event::SessionResumed { .. }))
            .count();
        assert_eq!(resumed as u64, p.a.stats().reconnects, "seed {seed}");
        assert!(
            !p.a.is_closed() && !p.b.is_closed(),
            "seed {seed}: the session must survive"
        );
        // An honest lossy link never makes the receiver see a replay.
        assert_eq!(stats.replays_rejected, 0, "seed {seed}");
        if seed == 0 {
            let sa = p.a.stats();
            eprintln!(
                "seed 0: cuts {} dials {} reconnects {} hb timeouts {} retransmits {} t={:?}",
                p.cuts,
                p.dials,
                sa.reconnects,
                sa.heartbeat_timeouts + stats.heartbeat_timeouts,
                sa.channels[1].retransmits,
                p.now
            );
        }
    }
}

#[test]
fn heavy_loss_with_default_config_still_delivers_exactly_once() {
    for seed in 100..110u64 {
        let (p, got) = run_lossy(seed, SessionConfig::default(), 20_000);
        assert_exact(seed, &got);
        assert!(p.cuts >= 50, "seed {seed}: {} cuts", p.cuts);
        assert!(p.a.stats().channels[ChannelKind::Knowledge.index()].retransmits > 0);
    }
}

#[test]
fn lifecycle_events_come_in_the_documented_order() {
    let (p, _) = run_lossy(7, small_windows(), 4_000);
    let names: Vec<&str> = p
        .events_a
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
    assert_eq!(names.first(), Some(&"session_open"));
    assert_eq!(names.iter().filter(|n| **n == "session_open").count(), 1);
    // After the open: each loss is (heartbeat_timeout)? reconnect_attempt+ session_resumed.
    let mut i = 1;
    while i < names.len() {
        if names[i] == "heartbeat_timeout" {
            i += 1;
        }
        let start = i;
        while i < names.len() && names[i] == "reconnect_attempt" {
            i += 1;
        }
        assert!(
            i > start,
            "a reconnect_attempt must follow a loss: {:?}",
            &names[start..]
        );
        if i < names.len() {
            assert_eq!(
                names[i],
                "session_resumed",
                "at {i}: {:?}",
                &names[start..=i]
            );
            i += 1;
        }
    }
}

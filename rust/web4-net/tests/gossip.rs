//! Gossip between real nodes on loopback (RTT_SPEC §15), without Python: a message is
//! held until the application judges it and forwarded only when accepted, the same
//! bytes are one message however often published, a rejected forwarder falls below zero
//! and out of the mesh, and a publish nobody follows is an outcome, not an error.

use std::time::{Duration, Instant};

use web4_net::gossip::{message_id, Verdict, NO_SUBSCRIBER, PUBLISHED};
use web4_net::{Config, Node};

mod common;

const T: Duration = Duration::from_secs(20);
const TOPIC: &str = "/web4/cip/1.0/knowledge/test";

fn node(seed: u8) -> (Node, String) {
    let n = Node::new(&[seed; 32], Config::default()).unwrap();
    let addr = common::listen_loopback(&n, T);
    (n, addr)
}

fn wait_for<R>(what: &str, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + T;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Publish until a peer is known to follow the topic; the message id.
fn publish(n: &Node, data: &[u8]) -> String {
    wait_for("a subscriber", || {
        let op = n.gossip_publish(TOPIC, data.to_vec()).unwrap();
        match n.wait_op(op, T).unwrap() {
            PUBLISHED => Some(message_id(data)),
            NO_SUBSCRIBER => {
                std::thread::sleep(Duration::from_millis(50));
                None
            }
            other => panic!("publish finished with {other}"),
        }
    })
}

#[test]
fn held_until_judged_forwarded_only_when_accepted_and_a_rejecter_is_pruned() {
    // a - b - c in a line: c hears a's messages only through b
    let (a, _) = node(1);
    let (b, b_addr) = node(2);
    let (c, _) = node(3);
    for n in [&a, &b, &c] {
        n.gossip_subscribe(TOPIC).unwrap();
    }
    a.wait_op(a.dial(&b_addr).unwrap(), T).unwrap();
    c.wait_op(c.dial(&b_addr).unwrap(), T).unwrap();
    let c_id = c.peer_id();

    // a publish nobody follows yet is an outcome
    let (lone, _) = node(4);
    lone.gossip_subscribe(TOPIC).unwrap();
    let op = lone.gossip_publish(TOPIC, b"nobody".to_vec()).unwrap();
    assert_eq!(lone.wait_op(op, T).unwrap(), NO_SUBSCRIBER);

    // accepted at b: forwarded to c
    let id = publish(&a, b"good");
    let got = wait_for("b gets it", || b.gossip_take(8).pop());
    assert_eq!((got.id.as_str(), got.source), (id.as_str(), a.peer_id()));
    assert!(c.gossip_take(8).is_empty(), "forwarded before b judged it");
    b.gossip_report(&got.id, &got.source.to_base58(), Verdict::Accept)
        .unwrap();
    let fwd = wait_for("c gets it from b", || c.gossip_take(8).pop());
    assert_eq!(
        (fwd.id, fwd.source, fwd.data),
        (id, b.peer_id(), b"good".to_vec())
    );

    // the same bytes again are the same message: gossipsub drops the copy
    let op = a.gossip_publish(TOPIC, b"good".to_vec()).unwrap();
    assert!(a.wait_op(op, T).is_err(), "a duplicate publish is refused");

    // rejected at b: not forwarded, and a falls below zero and out of b's mesh
    for i in 0..3u8 {
        publish(&a, &[b'x', i]);
        let bad = wait_for("b gets the bad one", || b.gossip_take(8).pop());
        b.gossip_report(&bad.id, &bad.source.to_base58(), Verdict::Reject)
            .unwrap();
    }
    wait_for("a scored below zero and pruned at b", || {
        let v = b.gossip_view();
        let score = v.scores.iter().find(|(p, _)| *p == a.peer_id())?.1;
        let in_mesh = v.mesh.iter().any(|(_, ps)| ps.contains(&a.peer_id()));
        (score < 0.0 && !in_mesh).then_some(())
    });
    let v = b.gossip_view();
    assert!(v.mesh.iter().any(|(_, ps)| ps.contains(&c_id)), "c stays");
    assert!(c.gossip_take(8).is_empty(), "a rejected message reached c");
    let s = b.gossip_stats();
    assert_eq!((s.received, s.accepted, s.rejected), (4, 1, 3));
    assert_eq!(c.gossip_stats().received, 1);
}

#[test]
fn bad_topics_ids_and_verdicts_are_config_errors() {
    let (n, _) = node(9);
    assert!(n.gossip_subscribe("/other/topic").is_err());
    assert!(n
        .gossip_subscribe(&format!("/web4/{}", "x".repeat(300)))
        .is_err());
    assert!(n.gossip_publish("/other", b"x".to_vec()).is_err());
    assert!(n
        .gossip_publish(TOPIC, vec![0; Config::default().gossip.max_message + 1])
        .is_err());
    let peer = n.peer_id().to_base58();
    assert!(n.gossip_report("nothex", &peer, Verdict::Accept).is_err());
    assert!(n
        .gossip_report(&message_id(b"x"), "not a peer", Verdict::Ignore)
        .is_err());
    assert!(n.gossip_app_score(&peer, f64::NAN).is_err());
    assert!(Verdict::parse("maybe").is_err());
}

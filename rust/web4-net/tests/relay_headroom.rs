//! A relay keeps circuits for the peers its operator trusts (RTT_SPEC §17): keys are
//! free, and libp2p-relay bounds circuits per requesting peer, not per destination, so
//! fresh keys from one host could hold every circuit and the relay would refuse
//! everyone else; strangers get at most 3/4 of `max_circuits`, the rest is kept for
//! admitted (trusted) peers.

use std::time::Duration;

use web4_net::{Config, Node, RelayConfig, RelayServerConfig};

mod common;

const T: Duration = Duration::from_secs(20);

fn fast() -> Config {
    let mut cfg = Config::default();
    cfg.session.backoff.base = Duration::from_millis(50);
    cfg.session.backoff.cap = Duration::from_millis(500);
    cfg
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + T;
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fresh_keys_cannot_take_the_circuits_kept_for_trusted_peers() {
    let mut cfg = fast();
    cfg.relay = RelayConfig {
        server: Some(RelayServerConfig {
            max_circuits: 4,
            max_circuits_per_peer: 4,
            circuits_per_peer_per_min: 1000,
            circuits_per_ip_per_min: 1000,
            ..RelayServerConfig::default()
        }),
        ..RelayConfig::default()
    };
    let r = Node::new(&[80; 32], cfg).unwrap();
    let raddr = common::listen_loopback(&r, T);
    // b is reachable through the relay; strangers and a trusted peer want it
    let b = Node::new(&[81; 32], fast()).unwrap();
    b.wait_op(b.listen(&format!("{raddr}/p2p-circuit")).unwrap(), T)
        .unwrap();
    let target = b
        .listen_addrs()
        .into_iter()
        .find(|a| a.contains("/p2p-circuit"))
        .unwrap();
    let mut strangers = Vec::new();
    for i in 0..4u8 {
        let f = Node::new(&[90 + i; 32], fast()).unwrap();
        if f.wait_op(f.dial(&target).unwrap(), T).is_err() {
            f.shutdown(); // refused: stop its session's redials
            continue;
        }
        strangers.push(f); // keeps its circuit open
                           // Loopback punches fail here (nobody listens directly): each session closes its
                           // relayed connection and comes back on a new circuit 3 times (RTT_SPEC §17);
                           // one stranger at a time, until b has seen all four punches fail.
        let n = 4 * strangers.len() as u64;
        wait_until("the punches and their retries", || {
            b.relay_stats().hole_punch_failed >= n
        });
    }
    let s = r.relay_stats();
    assert_eq!(s.circuits_accepted - s.circuits_closed, 3, "{s:?}");
    assert_eq!(strangers.len(), 3, "{s:?}");
    // a peer the operator trusts (the node's RelayGate allows it) still gets one
    let t = Node::new(&[99; 32], fast()).unwrap();
    r.relay_access(&t.peer_id().to_string(), Some(true))
        .unwrap();
    let st = t.wait_op(t.dial(&target).unwrap(), T);
    assert!(st.is_ok(), "{st:?} {:?}", r.relay_stats());
    assert_eq!(t.relayed(st.unwrap()), Some(true));
    for n in strangers.iter().chain([&t, &b, &r]) {
        n.shutdown();
    }
}

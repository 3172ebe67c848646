//! Circuit relay v2 and DCUtR on loopback, with real nodes: a relay refuses
//! reservations past its limit, a circuit past its byte limit is closed and the RTT
//! session resumes over a new one, and a session moves from a relayed connection to a
//! direct one (hole punch) by resuming, not by starting again.

use std::time::{Duration, Instant};

use web4_net::{ChannelKind, Config, Node, RelayConfig, RelayServerConfig};

mod common;

const T: Duration = Duration::from_secs(20);

fn fast() -> Config {
    let mut cfg = Config::default();
    cfg.session.backoff.base = Duration::from_millis(20);
    cfg.session.backoff.cap = Duration::from_millis(200);
    cfg
}

fn relay_node(seed: u8, server: RelayServerConfig) -> (Node, String) {
    let mut cfg = fast();
    cfg.relay = RelayConfig {
        server: Some(server),
        ..RelayConfig::default()
    };
    let r = Node::new(&[seed; 32], cfg).unwrap();
    let addr = common::listen_loopback(&r, T);
    (r, addr)
}

fn accept(n: &Node) -> u64 {
    common::accept(n, T)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The circuit address of `b` through the relay at `relay`.
fn circuit_addr(b: &Node) -> String {
    b.listen_addrs()
        .into_iter()
        .find(|a| a.contains("/p2p-circuit"))
        .expect("a relayed listen address")
}

#[test]
fn reservations_past_the_limit_are_refused() {
    let (r, raddr) = relay_node(
        10,
        RelayServerConfig {
            max_reservations: 1,
            ..RelayServerConfig::default()
        },
    );
    let b1 = Node::new(&[11; 32], fast()).unwrap();
    let b2 = Node::new(&[12; 32], fast()).unwrap();
    let circuit = format!("{raddr}/p2p-circuit");
    b1.wait_op(b1.listen(&circuit).unwrap(), T).unwrap();
    assert!(circuit_addr(&b1).ends_with(&format!("/p2p/{}", b1.peer_id())));
    let err = b2.wait_op(b2.listen(&circuit).unwrap(), T).unwrap_err();
    assert!(err.to_string().contains("listener closed"), "{err}");
    let s = r.relay_stats();
    assert_eq!(s.reservations_accepted, 1);
    assert!(s.reservations_denied >= 1, "{s:?}");
    // The relay keeps serving: the first reservation still carries a session.
    let a = Node::new(&[13; 32], fast()).unwrap();
    let sa = a.wait_op(a.dial(&circuit_addr(&b1)).unwrap(), T).unwrap();
    let sb = accept(&b1);
    assert_eq!(a.relayed(sa), Some(true));
    assert_eq!(b1.relayed(sb), Some(true));
}

#[test]
fn a_denied_peer_cannot_reserve() {
    let (r, raddr) = relay_node(20, RelayServerConfig::default());
    let b = Node::new(&[21; 32], fast()).unwrap();
    r.relay_access(&b.peer_id().to_string(), Some(false))
        .unwrap();
    let circuit = format!("{raddr}/p2p-circuit");
    assert!(b.wait_op(b.listen(&circuit).unwrap(), T).is_err());
    assert_eq!(r.relay_stats().reservations_accepted, 0);
    // Trusted-only relay: a stranger is refused, an allowed peer is served.
    let (r2, raddr2) = relay_node(
        22,
        RelayServerConfig {
            trusted_only: true,
            ..RelayServerConfig::default()
        },
    );
    let circuit2 = format!("{raddr2}/p2p-circuit");
    assert!(b.wait_op(b.listen(&circuit2).unwrap(), T).is_err());
    r2.relay_access(&b.peer_id().to_string(), Some(true))
        .unwrap();
    b.wait_op(b.listen(&circuit2).unwrap(), T).unwrap();
    // (the refused listener is retried in the background too: at least one)
    assert!(r2.relay_stats().reservations_accepted >= 1);
}

#[test]
fn a_circuit_past_its_byte_limit_closes_and_the_session_resumes_on_a_new_one() {
    let (r, raddr) = relay_node(
        30,
        RelayServerConfig {
            max_circuit_bytes: 64 * 1024,
            circuits_per_peer_per_min: 1000,
            ..RelayServerConfig::default()
        },
    );
    // Neither end listens on TCP: no hole punch can succeed, every byte goes through
    // the relay.
    let b = Node::new(&[31; 32], fast()).unwrap();
    b.wait_op(b.listen(&format!("{raddr}/p2p-circuit")).unwrap(), T)
        .unwrap();
    // At most 16 KiB unacknowledged: what one circuit's resume retransmits fits in it.
    let mut acfg = fast();
    acfg.session.channels[ChannelKind::Knowledge.index()].inflight_bytes = 16 * 1024;
    let a = Node::new(&[32; 32], acfg).unwrap();
    let sa = a.wait_op(a.dial(&circuit_addr(&b)).unwrap(), T).unwrap();
    let sb = accept(&b);
    let (sa_s, sb_s) = (a.session(sa).unwrap(), b.session(sb).unwrap());
    sa_s.open_channel(ChannelKind::Knowledge).unwrap();
    sb_s.open_channel(ChannelKind::Knowledge).unwrap();
    let n = 256u32; // 256 KiB: four times the circuit's byte limit
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < n as usize {
            match sb_s.recv_blocking(ChannelKind::Knowledge, T).unwrap() {
                Some(m) => got.push(u32::from_be_bytes(m[..4].try_into().unwrap())),
                None => break,
            }
        }
        got
    });
    for i in 0..n {
        let mut m = i.to_be_bytes().to_vec();
        m.resize(1024, 7);
        sa_s.send_blocking(ChannelKind::Knowledge, m, T).unwrap();
    }
    let got = reader.join().unwrap();
    if got.len() < n as usize {
        for e in a.drain_events(4096) {
            eprintln!("A {} {:?}", e.name, e.fields);
        }
        for e in b.drain_events(4096) {
            eprintln!("B {} {:?}", e.name, e.fields);
        }
        for e in r.drain_events(4096) {
            eprintln!("R {} {:?}", e.name, e.fields);
        }
        eprintln!("{:?} {:?}", r.relay_stats(), a.relay_stats());
    }
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "in order, exactly once");
    let s = r.relay_stats();
    assert!(s.circuits_closed >= 1, "{s:?}");
    assert!(s.circuits_accepted >= 2, "{s:?}");
    assert!(sa_s.stats().reconnects >= 1, "resumed over a new circuit");
    assert_eq!(b.try_accept(), None, "the same session, not a new one");
    assert_eq!(a.relayed(sa), Some(true));
}

#[test]
fn a_session_moves_from_the_relay_to_a_direct_connection_and_resumes() {
    let (_r, raddr) = relay_node(40, RelayServerConfig::default());
    // Both listen on TCP (the connections to the relay leave from those ports, so the
    // relay sees and reports dialable addresses): the hole punch can succeed.
    let b = Node::new(&[41; 32], fast()).unwrap();
    b.wait_op(b.listen("/ip4/127.0.0.1/tcp/0").unwrap(), T)
        .unwrap();
    b.wait_op(b.listen(&format!("{raddr}/p2p-circuit")).unwrap(), T)
        .unwrap();
    let a = Node::new(&[42; 32], fast()).unwrap();
    a.wait_op(a.listen("/ip4/127.0.0.1/tcp/0").unwrap(), T)
        .unwrap();
    let sa = a.wait_op(a.dial(&circuit_addr(&b)).unwrap(), T).unwrap();
    let sb = accept(&b);
    let (sa_s, sb_s) = (a.session(sa).unwrap(), b.session(sb).unwrap());
    sa_s.open_channel(ChannelKind::Knowledge).unwrap();
    sb_s.open_channel(ChannelKind::Knowledge).unwrap();
    let mut sent = 0u32;
    let mut send = |k: u32| {
        for i in sent..sent + k {
            sa_s.send_blocking(ChannelKind::Knowledge, i.to_be_bytes().to_vec(), T)
                .unwrap();
        }
        sent += k;
    };
    send(50);
    wait_for("the direct connection", || {
        a.relayed(sa) == Some(false) && b.relayed(sb) == Some(false)
    });
    send(50);
    let mut got = Vec::new();
    while got.len() < 100 {
        let m = sb_s
            .recv_blocking(ChannelKind::Knowledge, T)
            .unwrap()
            .expect("message");
        got.push(u32::from_be_bytes(m[..4].try_into().unwrap()));
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>(), "in order, exactly once");
    let rs = a.relay_stats();
    assert!(rs.upgrades >= 1, "{rs:?}");
    assert!(rs.hole_punch_ok + b.relay_stats().hole_punch_ok >= 1);
    assert!(sa_s.stats().reconnects >= 1, "a resume");
    assert_eq!(b.try_accept(), None, "no second session");
    assert!(!sa_s.is_closed() && !sb_s.is_closed());
    let names: Vec<&str> = a.drain_events(4096).iter().map(|e| e.name).collect();
    assert!(names.contains(&"connection_path"), "{names:?}");
    assert!(names.contains(&"session_resumed"), "{names:?}");
    assert!(!names.contains(&"session_close"), "{names:?}");
}

#[test]
fn fresh_keys_from_one_address_get_only_the_per_ip_rate_of_reservations() {
    // Keys are free: twelve fresh ones from one IP ask at once; the relay's per-IP rate
    // (8 a minute by default) admits eight, refuses the rest, and goes on serving.
    let (r, raddr) = relay_node(50, RelayServerConfig::default());
    let circuit = format!("{raddr}/p2p-circuit");
    let keys: Vec<Node> = (0..12u8)
        .map(|i| Node::new(&[60 + i; 32], fast()).unwrap())
        .collect();
    let ops: Vec<u64> = keys.iter().map(|k| k.listen(&circuit).unwrap()).collect();
    let ok = keys
        .iter()
        .zip(ops)
        .filter(|(k, op)| k.wait_op(*op, T).is_ok())
        .count();
    assert_eq!(ok, 8);
    let s = r.relay_stats();
    assert_eq!(s.reservations_accepted, 8, "{s:?}");
    assert!(s.reservations_denied >= 4, "{s:?}");
    // Still serving: a reserved key is reachable through it.
    let reserved = keys
        .iter()
        .find(|k| k.listen_addrs().iter().any(|a| a.contains("/p2p-circuit")))
        .unwrap();
    let a = Node::new(&[90; 32], fast()).unwrap();
    let sa = a
        .wait_op(a.dial(&circuit_addr(reserved)).unwrap(), T)
        .unwrap();
    assert_eq!(a.relayed(sa), Some(true));
}

#[test]
fn fresh_keys_refused_by_the_thousand_do_not_flush_a_pinned_refusal() {
    // The node pins the refusal of a key with standing (blacklisted by the operator, or
    // fallen from trusted); keys are free, so thousands of fresh keys can get
    // themselves refused: that pushes out only unpinned refusals.
    let (r, raddr) = relay_node(70, RelayServerConfig::default());
    let circuit = format!("{raddr}/p2p-circuit");
    let bad = Node::new(&[71; 32], fast()).unwrap();
    let churned = Node::new(&[72; 32], fast()).unwrap();
    r.relay_access_pinned(&bad.peer_id().to_string(), Some(false), true)
        .unwrap();
    r.relay_access(&churned.peer_id().to_string(), Some(false))
        .unwrap();
    for _ in 0..web4_net::relay::MAX_POLICY_PEERS + 16 {
        let fresh = libp2p::PeerId::random().to_string();
        r.relay_access(&fresh, Some(false)).unwrap();
    }
    assert!(bad.wait_op(bad.listen(&circuit).unwrap(), T).is_err());
    churned
        .wait_op(churned.listen(&circuit).unwrap(), T)
        .unwrap();
    let s = r.relay_stats();
    assert_eq!(s.reservations_accepted, 1, "{s:?}");
    assert!(s.reservations_denied >= 1, "{s:?}");
}

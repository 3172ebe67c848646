//! Connection caps (`LimitsConfig`, RTT_SPEC §16 "Connections"): a flood of connections
//! still in their handshake and of fresh keys' connections is refused beyond the caps,
//! while a configured (protected) peer keeps its session and can still connect, and a
//! peer protected at run time (a trusted one) gets in too.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use web4_net::{ChannelKind, Config, LimitsConfig, Node};

const T: Duration = Duration::from_secs(30);

fn port_of(addr: &str) -> u16 {
    addr.split('/').nth(4).unwrap().parse().unwrap()
}

fn wait(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Is this raw socket closed by the other end (EOF or reset), without blocking?
fn closed(s: &TcpStream) -> bool {
    let mut b = [0u8; 64];
    s.set_nonblocking(true).unwrap();
    let mut r = s;
    loop {
        match r.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue, // the listener's Noise/multistream bytes
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn floods_are_refused_beyond_the_caps_and_a_configured_peer_still_connects() {
    let c = Node::new(&[71u8; 32], Config::default()).unwrap();
    let d = Node::new(&[72u8; 32], Config::default()).unwrap();
    let cfg = Config {
        // Handshakes in flight stay in flight for the whole test: only the caps close them.
        connect_timeout: Duration::from_secs(120),
        limits: LimitsConfig {
            pending_incoming: 4,
            pending_outgoing: 4,
            established_incoming: 6,
            established_per_peer: 8,
            established_total: 8,
            protected: vec![c.peer_id(), d.peer_id()],
        },
        ..Config::default()
    };
    let v = Node::new(&[70u8; 32], cfg).unwrap();
    v.wait_op(v.listen("/ip4/127.0.0.1/tcp/0").unwrap(), T)
        .unwrap();
    let addr = v.listen_addrs()[0].clone();

    // The configured peer's session, before the flood.
    let sc = c
        .session(c.wait_op(c.dial(&addr).unwrap(), T).unwrap())
        .unwrap();
    let sv = v.session(v.accept_wait(T).expect("c's session")).unwrap();
    sc.open_channel(ChannelKind::Knowledge).unwrap();
    sv.open_channel(ChannelKind::Knowledge).unwrap();

    // 1. Twenty TCP connections that never finish the handshake: four are held, the
    //    other sixteen closed at once (no key needed to cost the node a socket).
    let raw: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", port_of(&addr))).unwrap())
        .collect();
    wait("16 pending connections refused", || {
        v.stats().connections_denied >= 16
    });
    wait("the refused sockets closed", || {
        raw.iter().filter(|s| closed(s)).count() >= 16
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        raw.iter().filter(|s| closed(s)).count(),
        16,
        "exactly the pending cap is held"
    );
    assert_eq!(v.stats().connections_denied, 16);
    // ... each under the cap that refused it (what an operator's metrics show)
    let by = v.stats().connections_denied_by;
    assert_eq!((by.pending_incoming, by.total()), (16, 16), "{by:?}");
    drop(raw);
    wait("the held handshakes failed", || {
        v.stats().handshake_failures >= 4
    });

    // 2. Sixteen fresh keys connect with full handshakes: with c's connection, the
    //    incoming cap (6) lets exactly five in; the others are refused.
    let fresh: Vec<Node> = (0..16u8)
        .map(|i| Node::new(&[100 + i; 32], Config::default()).unwrap())
        .collect();
    let denied_before = v.stats().connections_denied;
    let mut accepted = 0;
    for f in &fresh {
        // One after the other: this part is about the established caps, not the
        // pending one (sixteen handshakes at once would meet that first). A refused
        // key's session keeps redialling (and is refused again): counted, not waited on.
        let (denied, sessions) = (v.stats().connections_denied, v.stats().sessions);
        let _ = f.dial(&addr).unwrap();
        wait("the fresh key accepted or refused", || {
            let now = v.stats();
            now.connections_denied > denied || now.sessions > sessions
        });
    }
    wait("five fresh sessions", || {
        accepted += usize::from(v.try_accept().is_some());
        accepted >= 5
    });
    assert!(v.stats().connections_denied >= denied_before + 11);
    let by = v.stats().connections_denied_by;
    assert!(by.established_incoming >= 11, "{by:?}");
    // (refused keys redial: one may meet the pending cap while others handshake)
    assert_eq!(by.established_per_peer + by.established_total, 0, "{by:?}");
    assert!(
        v.accept_wait(Duration::from_secs(1)).is_none(),
        "a sixth fresh session past an incoming cap of 6"
    );

    // 3. The configured peer's session still carries messages both ways.
    for i in 0..100u32 {
        sc.send_blocking(ChannelKind::Knowledge, i.to_be_bytes().to_vec(), T)
            .unwrap();
    }
    for i in 0..100u32 {
        let m = sv
            .recv_blocking(ChannelKind::Knowledge, T)
            .unwrap()
            .unwrap();
        assert_eq!(m[..], i.to_be_bytes());
    }
    sv.send_blocking(ChannelKind::Knowledge, b"still here".to_vec(), T)
        .unwrap();
    assert_eq!(
        &sc.recv_blocking(ChannelKind::Knowledge, T)
            .unwrap()
            .unwrap()[..],
        b"still here"
    );

    // 4. Another configured peer connects while the caps are full: protected peers skip
    //    the incoming and total caps.
    let sd = d
        .session(d.wait_op(d.dial(&addr).unwrap(), T).unwrap())
        .unwrap();
    let id = v.accept_wait(T).expect("d's session despite the full caps");
    let svd = v.session(id).unwrap();
    sd.open_channel(ChannelKind::Control).unwrap();
    svd.open_channel(ChannelKind::Control).unwrap();
    sd.send_blocking(ChannelKind::Control, b"hi".to_vec(), T)
        .unwrap();
    assert_eq!(
        &svd.recv_blocking(ChannelKind::Control, T).unwrap().unwrap()[..],
        b"hi"
    );

    // 5. A peer the node protects at run time (the Python node: the peers its operator
    //    trusts): refused while the caps are full, admitted once protected.
    let e = Node::new(&[73u8; 32], Config::default()).unwrap();
    let denied = v.stats().connections_denied_by.established_incoming;
    let _ = e.dial(&addr).unwrap();
    wait("e refused by the full incoming cap", || {
        v.stats().connections_denied_by.established_incoming > denied
    });
    assert!(v.try_accept().is_none());
    v.protect_peer(&e.peer_id().to_string(), true).unwrap();
    let id = v.accept_wait(T).expect("e's session once protected");
    assert_eq!(v.session(id).unwrap().peer, e.peer_id());
    for n in fresh.iter().chain([&c, &d, &e, &v]) {
        n.shutdown();
    }
}

//! Connection caps do not drift (`LimitsConfig`, RTT_SPEC §16 Connection caps): every
//! connection the caps count is released however it ends (closed before a byte, junk
//! instead of Noise, timed out in its handshake, refused by a cap before or after Noise,
//! established then closed, an outbound dial refused, timed out, to a wrong key or a
//! closed port). A leak would fill a cap a little more with each failure until it
//! refuses everyone for good; here, after all of that, the caps admit exactly as many
//! as when the node started.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use web4_net::{Config, LimitsConfig, Node};

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
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// A TCP listener on loopback that holds every connection (silent) or closes it at once;
/// returns its port and how many it accepted.
fn sink(hold: bool) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let n = Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            if hold {
                held.push(s);
            }
        }
    });
    (port, n)
}

/// Open `n` half-open sockets to `port`: true if the node holds at least one of them.
fn holds_any(port: u16, n: usize) -> (bool, Vec<TcpStream>) {
    let socks: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    (!socks.iter().all(closed), socks)
}

/// Hold `n` half-open sockets to `port`: true if the node keeps all of them open.
fn holds(port: u16, n: usize) -> (bool, Vec<TcpStream>) {
    let socks: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    (!socks.iter().any(closed), socks)
}

#[test]
fn every_way_a_connection_ends_releases_its_place_under_the_caps() {
    let other = Node::new(&[91u8; 32], Config::default()).unwrap();
    other
        .wait_op(other.listen("/ip4/127.0.0.1/tcp/0").unwrap(), T)
        .unwrap();
    let mut cfg = Config {
        // short, so that handshakes held by silent sockets time out within the test
        connect_timeout: Duration::from_secs(4),
        limits: LimitsConfig {
            pending_incoming: 4,
            pending_outgoing: 2,
            established_incoming: 3,
            established_per_peer: 8,
            established_total: 4,
            protected: Vec::new(),
        },
        ..Config::default()
    };
    cfg.discovery.dht = true;
    let v = Node::new(&[90u8; 32], cfg).unwrap();
    v.wait_op(v.listen("/ip4/127.0.0.1/tcp/0").unwrap(), T)
        .unwrap();
    let addr = v.listen_addrs()[0].clone();
    let port = port_of(&addr);

    for _round in 0..2 {
        // Inbound, before Noise ends: closed at once, junk, and some over the pending
        // cap; then sockets held silent until the handshake times out.
        for _ in 0..30 {
            drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
        }
        for _ in 0..10 {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let _ = s.write_all(b"\x13/not-multistream/1\nGET / HTTP/1.1\r\n\r\n");
        }
        // (once the cap has room again: the sockets above are still being torn down)
        let deadline = Instant::now() + T;
        let silent = loop {
            std::thread::sleep(Duration::from_millis(200));
            let (some_held, socks) = holds_any(port, 8);
            if some_held {
                break socks;
            }
            assert!(Instant::now() < deadline, "no handshake slot ever free");
        };
        let failures = v.stats().handshake_failures;
        wait("the silent handshakes timed out or refused", || {
            silent.iter().all(closed)
        });
        assert!(
            v.stats().handshake_failures > failures,
            "a handshake timed out"
        );
        drop(silent);

        // Inbound with Noise: fresh keys, three fill the incoming cap, five are refused
        // after their handshake; then all of them go away (established, then closed).
        let fresh: Vec<Node> = (0..8u8)
            .map(|i| Node::new(&[150 + i; 32], Config::default()).unwrap())
            .collect();
        for f in &fresh {
            let (denied, sessions) = (v.stats().connections_denied, v.stats().sessions);
            let _ = f.dial(&addr).unwrap();
            wait("the fresh key accepted or refused", || {
                let now = v.stats();
                now.connections_denied > denied || now.sessions > sessions
            });
        }
        while let Some(id) = v.try_accept() {
            v.close_session(id);
        }
        for f in &fresh {
            f.shutdown();
        }

        // Outbound RTT dials that fail: a closed port, a socket closed at once, a
        // silent one (the handshake times out), a live node under another key.
        let closed_port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (drop_port, _) = sink(false);
        let (silent_port, _) = sink(true);
        let someone = libp2p::PeerId::random();
        let live = port_of(&other.listen_addrs()[0]);
        let ops: Vec<u64> = [closed_port, drop_port, silent_port, live]
            .iter()
            .map(|p| {
                v.dial(&format!("/ip4/127.0.0.1/tcp/{p}/p2p/{someone}"))
                    .unwrap()
            })
            .collect();
        for op in ops {
            assert!(v.wait_op(op, T).is_err(), "a dial that cannot succeed");
        }

        // Outbound dials that are not RTT's (Kademlia's bootstrap, up to 3 at once) past
        // the outbound handshake cap (2): refused, or failed. (Sockets closed at once:
        // Kademlia keeps a peer's last address however it failed, and re-dials it at
        // each bootstrap; silent ones would hold the cap legitimately for 4 s a time.)
        for _ in 0..4 {
            let (p, _) = sink(false);
            let fake = libp2p::PeerId::random();
            let _ = v.add_bootstrap(&format!("/ip4/127.0.0.1/tcp/{p}/p2p/{fake}"));
        }
    }
    let failures = v.stats();
    assert!(
        failures.connections_denied_by.pending_incoming > 0,
        "{failures:?}"
    );
    assert!(
        failures.connections_denied_by.established_incoming > 0,
        "{failures:?}"
    );

    // Now the caps admit exactly what they admitted at the start. The pending cap: four
    // half-open sockets held (once the last handshakes have timed out), a fifth refused.
    let deadline = Instant::now() + T;
    let held = loop {
        let (ok, socks) = holds(port, 4);
        if ok {
            break socks;
        }
        drop(socks);
        assert!(
            Instant::now() < deadline,
            "the incoming handshake cap never admits four again: it leaked"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let before = v.stats().connections_denied_by.pending_incoming;
    let fifth = TcpStream::connect(("127.0.0.1", port)).unwrap();
    wait("the fifth half-open socket refused", || closed(&fifth));
    assert_eq!(v.stats().connections_denied_by.pending_incoming, before + 1);
    drop(held);

    // The incoming cap: three fresh keys get in, a fourth is refused.
    let fresh: Vec<Node> = (0..4u8)
        .map(|i| Node::new(&[200 + i; 32], Config::default()).unwrap())
        .collect();
    let mut accepted = 0;
    let denied = v.stats().connections_denied_by.established_incoming;
    for f in &fresh[..3] {
        let _ = f.dial(&addr).unwrap();
        assert!(
            v.accept_wait(T).is_some(),
            "a fresh key under the incoming cap refused: it leaked"
        );
        accepted += 1;
    }
    assert_eq!(accepted, 3);
    let _ = fresh[3].dial(&addr).unwrap();
    wait("the fourth fresh key refused", || {
        v.stats().connections_denied_by.established_incoming > denied
    });
    for f in &fresh {
        f.shutdown();
    }

    // The outbound handshake cap: a Kademlia dial still goes out (a leak of two would
    // refuse every one of them for good).
    let (p, dialled) = sink(true);
    let fake = libp2p::PeerId::random();
    let target = format!("/ip4/127.0.0.1/tcp/{p}/p2p/{fake}");
    wait("a Kademlia dial reaches the new sink", || {
        let _ = v.add_bootstrap(&target);
        std::thread::sleep(Duration::from_millis(200));
        dialled.load(Ordering::SeqCst) > 0
    });
    for n in [&v, &other] {
        n.shutdown();
    }
}

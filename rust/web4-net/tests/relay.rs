//! Resume across connection cuts: a TCP relay the test controls sits between two nodes.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use web4_net::{ChannelKind, Config, Node};

mod common;

const T: Duration = Duration::from_secs(20);

/// Forwards every accepted connection to `upstream`; `cut` kills all live ones.
struct Relay {
    port: u16,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let live2 = live.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { return };
                let Ok(u) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = c.set_nodelay(true);
                let _ = u.set_nodelay(true);
                live2
                    .lock()
                    .unwrap()
                    .extend([c.try_clone().unwrap(), u.try_clone().unwrap()]);
                for (mut a, mut b) in [(c.try_clone().unwrap(), u.try_clone().unwrap()), (u, c)] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 65536];
                        while let Ok(n) = a.read(&mut buf) {
                            if n == 0 || b.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = a.shutdown(Shutdown::Both);
                        let _ = b.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, live }
    }

    fn cut(&self) {
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

#[test]
fn knowledge_is_exactly_once_in_order_across_cuts() {
    let mut cfg = Config::default();
    cfg.session.backoff.base = Duration::from_millis(10);
    cfg.session.backoff.cap = Duration::from_millis(100);
    let a = Node::new(&[11u8; 32], cfg.clone()).unwrap();
    let b = Node::new(&[12u8; 32], cfg).unwrap();
    let addr = common::listen_loopback(&b, T);
    let port: u16 = addr.split('/').nth(4).unwrap().parse().unwrap();
    let relay = Relay::start(port);
    let via = addr.replace(&format!("/tcp/{port}/"), &format!("/tcp/{}/", relay.port));
    let sa = a
        .session(a.wait_op(a.dial(&via).unwrap(), T).unwrap())
        .unwrap();
    let sb = b.session(common::accept(&b, T)).unwrap();
    sa.open_channel(ChannelKind::Knowledge).unwrap();
    sb.open_channel(ChannelKind::Knowledge).unwrap();
    const N: u32 = 20_000;
    const CUTS: u32 = 20;
    let sa2 = sa.clone();
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            sa2.send_blocking(ChannelKind::Knowledge, i.to_be_bytes().to_vec(), T)
                .unwrap();
        }
    });
    let mut next = 0u32;
    let mut cuts = 0;
    while next < N {
        let m = sb
            .recv_blocking(ChannelKind::Knowledge, T)
            .unwrap()
            .expect("stalled");
        assert_eq!(u32::from_be_bytes(m[..].try_into().unwrap()), next);
        next += 1;
        if cuts < CUTS && next.is_multiple_of(N / (CUTS + 1)) {
            relay.cut();
            cuts += 1;
            // The next cut only after this one was noticed and the session resumed.
            let until = Instant::now() + T;
            while sa.stats().reconnects < u64::from(cuts) {
                assert!(Instant::now() < until, "no resume after cut {cuts}");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    sender.join().unwrap();
    assert_eq!(cuts, CUTS);
    assert_eq!(
        sb.recv_blocking(ChannelKind::Knowledge, Duration::from_millis(50))
            .unwrap(),
        None
    );
    let stats = sa.stats();
    assert_eq!(stats.reconnects, u64::from(CUTS), "{stats:?}");
    assert_eq!(sb.stats().channels[1].received_msgs, u64::from(N));
}

/// The dialler restarts (same key, new session) while the listener's session is still
/// live: the listener replaces its session on the new connection. A later cut of that
/// connection must reach the replacement at once (not only after a heartbeat timeout):
/// the driver knows the connection under the replacement's connection number.
#[test]
fn a_replaced_listener_session_learns_of_its_connection_loss() {
    let mut cfg = Config::default();
    cfg.session.heartbeat.interval = Duration::from_secs(10);
    cfg.session.heartbeat.timeout = Duration::from_secs(60);
    let b = Node::new(&[31u8; 32], cfg.clone()).unwrap();
    let baddr = common::listen_loopback(&b, T);
    let bport: u16 = baddr.split('/').nth(4).unwrap().parse().unwrap();
    let relay = Relay::start(bport);
    let via = baddr.replace(&format!("/tcp/{bport}/"), &format!("/tcp/{}/", relay.port));
    let accept = |n: &Node| n.session(common::accept(n, T)).unwrap();
    // The first dialler must not re-dial during the test once b drops its connection.
    let mut quiet = cfg.clone();
    quiet.session.backoff.base = Duration::from_secs(60);
    quiet.session.backoff.cap = Duration::from_secs(60);
    let a1 = Node::new(&[30u8; 32], quiet).unwrap();
    let op = a1.dial(&via).unwrap();
    a1.wait_op(op, T).unwrap();
    let first = accept(&b);
    // The "restarted" dialler: same key, a new node, while the first is still connected.
    let a2 = Node::new(&[30u8; 32], cfg).unwrap();
    let op = a2.dial(&via).unwrap();
    a2.wait_op(op, T).unwrap();
    let second = accept(&b);
    assert_ne!(first.id, second.id);
    assert_eq!(second.state(), web4_net::SessionState::Established);
    assert_eq!(
        first.state(),
        web4_net::SessionState::Closed(web4_net::CloseReason::PeerRestarted)
    );
    relay.cut();
    let deadline = Instant::now() + Duration::from_secs(5);
    while second.state() == web4_net::SessionState::Established {
        assert!(
            Instant::now() < deadline,
            "the replacement session never learned that its connection was cut"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(a1);
}

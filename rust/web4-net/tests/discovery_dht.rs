//! Kademlia on real nodes (loopback, so `allow_loopback`): a node that knows only a
//! bootstrap peer finds a third node's addresses by its peer id and opens a session;
//! a peer that came only for the DHT makes no session.

use std::time::{Duration, Instant};

use web4_net::{Config, Node};

const T: Duration = Duration::from_secs(15);

fn dht_config() -> Config {
    let mut c = Config::default();
    c.discovery.dht = true;
    c.discovery.allow_loopback = true;
    c.discovery.lookup_timeout = Duration::from_secs(5);
    c
}

fn listening(seed: u8) -> Node {
    let n = Node::new(&[seed; 32], dht_config()).unwrap();
    let op = n.listen("/ip4/127.0.0.1/tcp/0").unwrap();
    n.wait_op(op, T).unwrap();
    n
}

/// Retry `f` until it returns Some (bounded by `T`).
fn eventually<R>(mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + T;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_peer_id_is_resolved_through_a_bootstrap_peer_and_dialled() {
    let a = listening(11);
    let b = listening(12);
    let c = listening(13);
    let b_addr = b.listen_addrs()[0].clone();
    // A and C know B only; A's identify tells B where A listens.
    a.wait_op(a.add_bootstrap(&b_addr).unwrap(), T).unwrap();
    c.wait_op(c.add_bootstrap(&b_addr).unwrap(), T).unwrap();
    let a_id = a.peer_id().to_base58();
    let found = eventually(|| {
        let op = c.lookup(&a_id).unwrap();
        c.wait_op(op, T).ok()
    });
    assert!(found >= 1);
    let addrs = c.addrs_of(&a_id).unwrap();
    assert!(
        addrs.iter().any(|x| a.listen_addrs().contains(x)),
        "{addrs:?} vs {:?}",
        a.listen_addrs()
    );
    let op = c.dial(&addrs[0]).unwrap();
    let session = c.wait_op(op, T).unwrap();
    assert_eq!(c.session(session).unwrap().peer, a.peer_id());
    // B served the DHT to A and C without a single RTT session.
    assert_eq!(b.stats().sessions, 0);
    let discovered = c.discovered();
    assert!(discovered
        .iter()
        .any(|(p, _, s)| *p == a_id && s.as_str() == "dht"));
}

#[test]
fn lookups_fail_cleanly_without_the_dht_or_an_answer() {
    let plain = Node::new(&[21; 32], Config::default()).unwrap();
    let op = plain.lookup(
        &Node::new(&[22; 32], Config::default())
            .unwrap()
            .peer_id()
            .to_base58(),
    );
    assert!(plain.wait_op(op.unwrap(), T).is_err());
    assert!(plain.lookup("not-a-peer-id").is_err());
    // A DHT with nobody in it: the lookup ends (no address), within the timeout.
    let lonely = listening(23);
    let other = Node::new(&[24; 32], Config::default()).unwrap();
    let op = lonely.lookup(&other.peer_id().to_base58()).unwrap();
    assert!(lonely.wait_op(op, T).is_err());
}

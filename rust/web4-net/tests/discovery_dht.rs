//! Kademlia on real nodes (loopback, so `allow_loopback`): a node that knows only a
//! bootstrap peer finds a third node's addresses by its peer id and opens a session;
//! a peer that came only for the DHT makes no session; a DHT peer that knows 3000 bogus
//! peers (fresh ids) costs a lookup at most one answer's worth of dials (k = 20), a
//! bootstrap one answer per bucket it refreshes, no book entry and no session.

use std::time::{Duration, Instant};

use web4_net::{Config, Node};

mod common;

const T: Duration = Duration::from_secs(15);

fn dht_config() -> Config {
    let mut c = Config::default();
    c.discovery.dht = true;
    c.discovery.allow_loopback = true;
    c.discovery.lookup_timeout = Duration::from_secs(5);
    c
}

fn listening(seed: u8) -> Node {
    listening_with(seed, dht_config())
}

fn listening_with(seed: u8, cfg: Config) -> Node {
    let n = Node::new(&[seed; 32], cfg).unwrap();
    common::listen_loopback(&n, T);
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
fn nodes_listening_on_loopback_only_find_each_other_without_allow_loopback() {
    // Reachable from this machine only, they may be sent to this machine's own nodes.
    let mut cfg = dht_config();
    cfg.discovery.allow_loopback = false;
    let (a, b, c) = (
        listening_with(41, cfg.clone()),
        listening_with(42, cfg.clone()),
        listening_with(43, cfg),
    );
    let b_addr = b.listen_addrs()[0].clone();
    a.wait_op(a.add_bootstrap(&b_addr).unwrap(), T).unwrap();
    c.wait_op(c.add_bootstrap(&b_addr).unwrap(), T).unwrap();
    let a_id = a.peer_id().to_base58();
    eventually(|| c.wait_op(c.lookup(&a_id).unwrap(), T).ok());
    assert!(c
        .addrs_of(&a_id)
        .unwrap()
        .iter()
        .any(|x| a.listen_addrs().contains(x)));
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

/// Denies every outbound dial of the swarm it is part of (the bogus DHT: only the
/// victim's dials reach the sink).
struct NoDial;

impl libp2p::swarm::NetworkBehaviour for NoDial {
    type ConnectionHandler = libp2p::swarm::dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: libp2p::swarm::ConnectionId,
        _: libp2p::PeerId,
        _: &libp2p::Multiaddr,
        _: &libp2p::Multiaddr,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        Ok(libp2p::swarm::dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: libp2p::swarm::ConnectionId,
        _: Option<libp2p::PeerId>,
        _: &[libp2p::Multiaddr],
        _: libp2p::core::Endpoint,
    ) -> Result<Vec<libp2p::Multiaddr>, libp2p::swarm::ConnectionDenied> {
        Err(libp2p::swarm::ConnectionDenied::new(
            "the bogus DHT never dials",
        ))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: libp2p::swarm::ConnectionId,
        _: libp2p::PeerId,
        _: &libp2p::Multiaddr,
        _: libp2p::core::Endpoint,
        _: libp2p::core::transport::PortUse,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        Ok(libp2p::swarm::dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: libp2p::swarm::FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: libp2p::PeerId,
        _: libp2p::swarm::ConnectionId,
        e: libp2p::swarm::THandlerOutEvent<Self>,
    ) {
        match e {}
    }

    fn poll(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<libp2p::swarm::ToSwarm<Self::ToSwarm, libp2p::swarm::THandlerInEvent<Self>>>
    {
        std::task::Poll::Pending
    }
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct Bogus {
    kad: libp2p::kad::Behaviour<libp2p::kad::store::MemoryStore>,
    no_dial: NoDial,
}

/// A Kademlia server that knows `fakes` peers, all "at" `sink` (a TCP port the test
/// counts connections on), and answers every FIND_NODE with the closest 20 of them;
/// also the count of FIND_NODE requests it answered.
fn bogus_dht(
    fakes: usize,
    sink: u16,
) -> (
    tokio::runtime::Runtime,
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use futures::StreamExt;
    use libp2p::{kad, Multiaddr, PeerId, StreamProtocol};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = served.clone();
    rt.spawn(async move {
        let mut swarm = common::raw_swarm(|key| {
            let mut c = kad::Config::new(StreamProtocol::new(web4_net::KAD_PROTOCOL));
            c.set_kbucket_size(std::num::NonZeroUsize::new(4096).unwrap());
            let id = key.public().to_peer_id();
            let mut k = kad::Behaviour::with_config(id, kad::store::MemoryStore::new(id), c);
            k.set_mode(Some(kad::Mode::Server));
            Bogus {
                kad: k,
                no_dial: NoDial,
            }
        });
        for _ in 0..fakes {
            let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{sink}").parse().unwrap();
            swarm
                .behaviour_mut()
                .kad
                .add_address(&PeerId::random(), addr);
        }
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        let me = *swarm.local_peer_id();
        loop {
            match swarm.select_next_some().await {
                libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } => {
                    let _ = tx.send(format!("{address}/p2p/{me}"));
                }
                libp2p::swarm::SwarmEvent::Behaviour(BogusEvent::Kad(
                    kad::Event::InboundRequest {
                        request: kad::InboundRequest::FindNode { .. },
                    },
                )) => {
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
    let addr = rx.recv_timeout(T).unwrap();
    (rt, addr, served)
}

/// A TCP listener on loopback counting the connections made to it.
fn sink() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let sink = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sink.local_addr().unwrap().port();
    let dials = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = dials.clone();
    std::thread::spawn(move || {
        for c in sink.incoming() {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(c);
        }
    });
    (port, dials)
}

#[test]
fn a_dht_answer_cannot_send_kademlia_to_addresses_the_node_would_not_dial() {
    // The victim does not listen (a DHT client), so loopback is out of its scope: the
    // bogus peers "at" the sink on loopback must not be dialled by Kademlia's queries,
    // while the operator's bootstrap address (loopback too) is.
    let (sink_port, dials) = sink();
    let (_rt, attacker, served) = bogus_dht(200, sink_port);
    let mut cfg = dht_config();
    cfg.discovery.allow_loopback = false;
    let victim = Node::new(&[33; 32], cfg).unwrap();
    victim
        .wait_op(victim.add_bootstrap(&attacker).unwrap(), T)
        .unwrap();
    let target = Node::new(&[34; 32], Config::default()).unwrap();
    let op = victim.lookup(&target.peer_id().to_base58()).unwrap();
    assert!(victim.wait_op(op, T).is_err());
    let used = served.load(std::sync::atomic::Ordering::Relaxed);
    assert!(used >= 1, "the bootstrap peer was never asked");
    std::thread::sleep(Duration::from_millis(500));
    let n = dials.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        n, 0,
        "{n} dials to loopback addresses out of the node's scope"
    );
    assert_eq!(victim.stats().sessions, 0);
}

#[test]
fn a_peer_feeding_bogus_records_costs_bounded_dials_memory_and_no_session() {
    // Every fake peer's address is this listener: each dial the victim makes to one
    // of them is one accepted connection (closed at once: not a libp2p peer).
    let (sink_port, dials) = sink();
    let (_rt, attacker, _) = bogus_dht(3000, sink_port);
    let victim = listening(31);
    victim
        .wait_op(victim.add_bootstrap(&attacker).unwrap(), T)
        .unwrap();
    let count = || dials.load(std::sync::atomic::Ordering::Relaxed);
    // The bootstrap (a lookup of our own id, then one per bucket to refresh, each
    // answered with 20 bogus peers): wait until it is over (no new dial for 1.5 s).
    let deadline = Instant::now() + T;
    let mut last = (count(), Instant::now());
    while last.1.elapsed() < Duration::from_millis(1500) {
        assert!(Instant::now() < deadline, "the bootstrap never settled");
        std::thread::sleep(Duration::from_millis(100));
        if count() != last.0 {
            last = (count(), Instant::now());
        }
    }
    let boot = count();
    assert!(boot <= 20 * 32, "{boot} dials for one bootstrap");
    let lookups = 5;
    for _ in 0..lookups {
        let target = Node::new(&[32; 32], Config::default()).unwrap();
        let started = Instant::now();
        let op = victim.lookup(&target.peer_id().to_base58()).unwrap();
        assert!(victim.wait_op(op, T).is_err()); // nobody knows it
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    }
    let s = victim.stats();
    // A FIND_NODE answer names at most k = 20 peers, each dialled once by the lookup.
    let n = count() - boot;
    assert!(n >= 20, "the bogus records were never tried: {n} dials");
    assert!(n <= 20 * lookups, "{n} dials for {lookups} lookups");
    assert!(s.discovered <= 256);
    assert_eq!(s.sessions, 0);
    assert!(victim
        .discovered()
        .iter()
        .all(|(_, addrs, _)| addrs.len() <= 8));
}

//! DCUtR's hole-punch dials pass the node's address rules (RTT_SPEC §17): a stranger
//! holding a relayed connection sends "its" addresses in the DCUtR CONNECT message, and
//! libp2p-dcutr alone would dial every one of them. Here a raw libp2p peer reserves on a
//! web4 relay, a web4 node dials it through the relay, and the peer's CONNECT carries
//! sink addresses: loopback ports the test watches, link-local (the cloud metadata
//! service) and private ones. The node dials none that its scope forbids, and at most
//! `PUNCH_ADDRS` of those it allows.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::{dummy, NetworkBehaviour, ToSwarm};
use libp2p::{dcutr, noise, relay, tcp, yamux, Multiaddr};
use web4_net::relay::PUNCH_ADDRS;
use web4_net::{Config, Node, RelayConfig, RelayServerConfig};

mod common;

const T: Duration = Duration::from_secs(20);

/// Announces `addrs` as this peer's external address candidates (what DCUtR sends).
struct Claim(VecDeque<Multiaddr>);

impl NetworkBehaviour for Claim {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: libp2p::swarm::ConnectionId,
        _: libp2p::PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: libp2p::swarm::ConnectionId,
        _: libp2p::PeerId,
        _: &Multiaddr,
        _: libp2p::core::Endpoint,
        _: libp2p::core::transport::PortUse,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
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
        _: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, libp2p::swarm::THandlerInEvent<Self>>> {
        match self.0.pop_front() {
            Some(a) => Poll::Ready(ToSwarm::NewExternalAddrCandidate(a)),
            None => Poll::Pending,
        }
    }
}

#[derive(NetworkBehaviour)]
struct Liar {
    claim: Claim,
    relay: relay::client::Behaviour,
    dcutr: dcutr::Behaviour,
}

/// Loopback listeners that count the connections they get (and drop them at once, so
/// that a dialler moves on to its next address).
fn sinks(n: usize) -> (Vec<Multiaddr>, Arc<Vec<AtomicUsize>>) {
    let hits: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let mut addrs = Vec::new();
    for i in 0..n {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        addrs.push(
            format!("/ip4/127.0.0.1/tcp/{}", l.local_addr().unwrap().port())
                .parse()
                .unwrap(),
        );
        let hits = hits.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                hits[i].fetch_add(1, Ordering::Relaxed);
                drop(c);
            }
        });
    }
    (addrs, hits)
}

/// The liar reserves on the relay and waits for connections; returns its circuit
/// address (`…/p2p-circuit/p2p/LIAR`). Its swarm runs on `rt` until the test ends.
fn liar(rt: &tokio::runtime::Runtime, relay: &str, claims: Vec<Multiaddr>) -> String {
    let _g = rt.enter();
    let mut s = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|k, relay| Liar {
            claim: Claim(claims.into()),
            relay,
            dcutr: dcutr::Behaviour::new(k.public().to_peer_id()),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let me = *s.local_peer_id();
    let circuit: Multiaddr = format!("{relay}/p2p-circuit").parse().unwrap();
    s.listen_on(circuit).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let mut told = false;
        loop {
            if let libp2p::swarm::SwarmEvent::NewListenAddr { .. } = s.select_next_some().await {
                if !told {
                    told = true;
                    let _ = tx.send(());
                }
            }
        }
    });
    rx.recv_timeout(T).expect("the liar's reservation");
    format!("{relay}/p2p-circuit/p2p/{me}")
}

fn relay_node() -> (Node, String) {
    let cfg = Config {
        relay: RelayConfig {
            server: Some(RelayServerConfig::default()),
            ..RelayConfig::default()
        },
        ..Config::default()
    };
    let r = Node::new(&[80; 32], cfg).unwrap();
    let addr = common::listen_loopback(&r, T);
    (r, addr)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connect `v` to the relay first and wait for identify's observed address: DCUtR has
/// nothing to answer the liar's CONNECT with (and dials nothing) without a candidate.
fn observed_by_relay(v: &Node, relay: &str) {
    v.wait_op(v.dial(relay).unwrap(), T).unwrap();
    wait_for("the relay's identify", || !v.observed_addrs().is_empty());
}

fn hit(hits: &[AtomicUsize]) -> usize {
    hits.iter()
        .filter(|h| h.load(Ordering::Relaxed) > 0)
        .count()
}

#[test]
fn a_relayed_peer_cannot_send_the_node_to_sinks_outside_its_scope() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_r, raddr) = relay_node();
    let (mut claims, hits) = sinks(4);
    // (Not listening on TCP, the node's scope has neither loopback nor private hosts.)
    for a in [
        "/ip4/169.254.169.254/tcp/80",
        "/ip6/fe80::1/tcp/80",
        "/ip4/10.9.9.9/tcp/22",
        "/ip4/192.168.1.1/tcp/80",
    ] {
        claims.push(a.parse().unwrap());
    }
    let circuit = liar(&rt, &raddr, claims);
    let v = Node::new(&[81; 32], Config::default()).unwrap();
    observed_by_relay(&v, &raddr);
    let _ = v.dial(&circuit).unwrap();
    wait_for("the punch addresses refused, or a sink dialled", || {
        v.relay_stats().punch_addrs_refused >= 8 || hit(&hits) > 0
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(hit(&hits), 0, "a loopback sink was dialled");
    assert!(v.relay_stats().punch_addrs_refused >= 8);
    v.shutdown();
}

#[test]
fn one_punch_dials_at_most_its_cap_of_the_addresses_it_may_dial() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_r, raddr) = relay_node();
    // (libp2p-dcutr sends at most 20 candidates: its own table's size.)
    let (claims, hits) = sinks(2 * PUNCH_ADDRS);
    let circuit = liar(&rt, &raddr, claims);
    // Listening on loopback only: loopback addresses are in its scope.
    let v = Node::new(&[82; 32], Config::default()).unwrap();
    common::listen_loopback(&v, T);
    observed_by_relay(&v, &raddr);
    let _ = v.dial(&circuit).unwrap();
    wait_for("a sink dialled", || hit(&hits) > 0);
    std::thread::sleep(Duration::from_secs(2));
    let n = hit(&hits);
    assert!(n <= PUNCH_ADDRS, "{n} sinks dialled, cap {PUNCH_ADDRS}");
    assert!(v.relay_stats().punch_addrs_refused >= PUNCH_ADDRS as u64);
    v.shutdown();
}

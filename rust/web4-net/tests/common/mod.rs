//! What the loopback integration tests share. Each file under `tests/` is a crate of its
//! own and takes this in with `mod common;`; none uses all of it, hence the allow.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use libp2p::swarm::NetworkBehaviour;
use libp2p::{identity::Keypair, noise, tcp, yamux, Swarm};
use web4_net::Node;

/// Listen on an ephemeral loopback port; the node's first address (with `/p2p/`).
pub fn listen_loopback(n: &Node, timeout: Duration) -> String {
    n.wait_op(n.listen("/ip4/127.0.0.1/tcp/0").unwrap(), timeout)
        .unwrap();
    n.listen_addrs()[0].clone()
}

/// The next session `n` accepts; panics when none comes within `timeout`.
pub fn accept(n: &Node, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = n.try_accept() {
            return s;
        }
        assert!(Instant::now() < deadline, "no session accepted");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A bare libp2p swarm with a fresh identity (TCP + Noise XX + yamux, as a web4 node
/// speaks) around `behaviour`: a peer that is not a web4 node. Build it inside a tokio
/// runtime.
pub fn raw_swarm<B: NetworkBehaviour>(behaviour: impl FnOnce(&Keypair) -> B) -> Swarm<B> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(behaviour)
        .unwrap()
        .build()
}

//! The floor under RTT's setup figure (issue 13 "Speed"): what TCP + Noise XX + yamux
//! alone cost on this machine, with no behaviour, no streams and no Python, both ends
//! on one tokio thread (as RTT's shared IO thread runs them).
//!
//! Usage: `cargo run --release -p web4-net --example setup_floor -- [rounds]` (default
//! 200). Prints the p50 of a plain TCP connect, of a libp2p dial until the connection
//! is established (TCP, multistream-select, Noise XX, yamux), and of RTT's whole setup
//! through `web4_net::Node` without Python (dial, session OPEN, accept, first message).

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::{dummy, SwarmEvent};
use libp2p::{identity::Keypair, noise, tcp, yamux, Multiaddr, Swarm, SwarmBuilder};
use web4_net::{ChannelKind, Config, Node};

fn swarm() -> Swarm<dummy::Behaviour> {
    SwarmBuilder::with_existing_identity(Keypair::generate_ed25519())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| dummy::Behaviour)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

fn p50(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e6
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut b = swarm();
        b.listen_on("/ip4/127.0.0.1/tcp/0".parse::<Multiaddr>().expect("addr"))
            .expect("listen");
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = b.select_next_some().await {
                break address;
            }
        };
        let tcp_addr = match addr.iter().nth(1) {
            Some(libp2p::multiaddr::Protocol::Tcp(p)) => p,
            _ => unreachable!("a tcp listen address"),
        };
        // The listener runs as its own task on this thread.
        tokio::spawn(async move {
            loop {
                b.select_next_some().await;
            }
        });
        let mut a = swarm();
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t0 = Instant::now();
            a.dial(addr.clone()).expect("dial");
            let peer = loop {
                match a.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => break peer_id,
                    SwarmEvent::OutgoingConnectionError { error, .. } => panic!("{error}"),
                    _ => {}
                }
            };
            times.push(t0.elapsed());
            let _ = a.disconnect_peer_id(peer);
            loop {
                if let SwarmEvent::ConnectionClosed { .. } = a.select_next_some().await {
                    break;
                }
            }
        }
        let mut tcp = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t0 = Instant::now();
            let s = tokio::net::TcpStream::connect(("127.0.0.1", tcp_addr))
                .await
                .expect("connect");
            tcp.push(t0.elapsed());
            drop(s);
        }
        println!(
            "rounds={rounds} tcp_connect_p50_us={:.0} tcp_noise_yamux_p50_us={:.0}",
            p50(tcp),
            p50(times)
        );
    });
    drop(rt);
    println!("rtt_node_setup_p50_us={:.0}", p50(node_setup(rounds)));
}

/// RTT's setup through the Rust API: a fresh dialler each round (as `make bench`).
fn node_setup(rounds: usize) -> Vec<Duration> {
    const T: Duration = Duration::from_secs(10);
    const K: ChannelKind = ChannelKind::Knowledge;
    let b = Node::new(&[2u8; 32], Config::default()).expect("node");
    b.wait_op(b.listen("/ip4/127.0.0.1/tcp/0").expect("listen"), T)
        .expect("listen");
    let addr = b.listen_addrs()[0].clone();
    let mut out = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let a = Node::new(&[10 + (i % 200) as u8; 32], Config::default()).expect("node");
        let t0 = Instant::now();
        let sa = a.session(a.wait_op(a.dial(&addr).expect("dial"), T).expect("dial"));
        let sb = b
            .session(b.accept_wait(T).expect("accept"))
            .expect("session");
        let sa = sa.expect("session");
        sa.open_channel(K).expect("open");
        sb.open_channel(K).expect("open");
        sa.send_blocking(K, &b"hello"[..], T).expect("send");
        sb.recv_blocking(K, T).expect("recv").expect("a message");
        out.push(t0.elapsed());
        a.shutdown();
        b.close_session(sb.id);
    }
    b.shutdown();
    out
}

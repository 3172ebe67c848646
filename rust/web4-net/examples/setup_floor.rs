//! The floor under RTT's setup figure (issue 13 "Speed"): what TCP + Noise XX + yamux
//! alone cost on this machine, with no behaviour, no streams and no Python, both ends
//! on one tokio thread (as RTT's shared IO thread runs them).
//!
//! Usage: `cargo run --release -p web4-net --example setup_floor -- [rounds]` (default
//! 200). Prints the p50 of a plain TCP connect, of a libp2p dial until the connection
//! is established (TCP, multistream-select, Noise XX, yamux) at the dialler and at both
//! ends (the floor under a protocol whose first frame is answered), and of RTT's whole setup
//! through `web4_net::Node` without Python (dial, session OPEN, accept, first message).

use std::time::{Duration, Instant};

use web4_net::{floor, ChannelKind, Config, Node};

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
    let tcp = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        });
        let mut tcp = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t0 = Instant::now();
            let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            tcp.push(t0.elapsed());
            drop(s);
        }
        tcp
    });
    drop(rt);
    let (stack, both) = floor::stack_setups_both(rounds).expect("bare dials");
    println!(
        "rounds={rounds} tcp_connect_p50_us={:.0} tcp_noise_yamux_p50_us={:.0} \
         tcp_noise_yamux_both_ends_p50_us={:.0}",
        p50(tcp),
        p50(stack),
        p50(both)
    );
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

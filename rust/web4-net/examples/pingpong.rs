//! Ping-pong latency of two RTT nodes in one process, without Python: what the Rust
//! transport costs by itself under one IO design (issue 13 "Speed").
//!
//! Usage: `cargo run --release -p web4-net --example pingpong -- [rounds] [spin_us]
//! [shared|own]` (defaults 5000, 50, shared). `spin_us` is `Config::spin_max` (0: park
//! at once); `own` gives each node its own runtime thread (the earlier design) instead
//! of the process's shared IO thread. Prints p50 and p99 round-trip microseconds, the
//! spin outcomes, and the bare thread hand-off floor.

use std::time::{Duration, Instant};

use bytes::Bytes;
use web4_net::{floor, ChannelKind, Config, Node};

const T: Duration = Duration::from_secs(10);
const K: ChannelKind = ChannelKind::Knowledge;

fn pct(sorted: &[Duration], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let spin_us: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let own = args.get(2).is_some_and(|a| a == "own");
    let cfg = Config {
        own_runtime: own,
        spin_max: Duration::from_micros(spin_us),
        ..Config::default()
    };
    let a = Node::new(&[1u8; 32], cfg.clone()).expect("node a");
    let b = Node::new(&[2u8; 32], cfg).expect("node b");
    let op = b.listen("/ip4/127.0.0.1/tcp/0").expect("listen");
    b.wait_op(op, T).expect("listen");
    let op = a.dial(&b.listen_addrs()[0]).expect("dial");
    let sa = a.session(a.wait_op(op, T).expect("dial")).expect("session");
    let sb = loop {
        if let Some(id) = b.accept_wait(T) {
            break b.session(id).expect("session");
        }
    };
    sa.open_channel(K).expect("open");
    sb.open_channel(K).expect("open");
    let echo = {
        let sb = sb.clone();
        std::thread::spawn(move || {
            for _ in 0..rounds + 200 {
                let m = sb.recv_blocking(K, T).expect("recv").expect("no timeout");
                sb.send_blocking(K, m, T).expect("send");
            }
        })
    };
    let payload = Bytes::from(vec![0xab; 64]);
    let mut lat = Vec::with_capacity(rounds);
    for i in 0..rounds + 200 {
        let t0 = Instant::now();
        sa.send_blocking(K, payload.clone(), T).expect("send");
        sa.recv_blocking(K, T).expect("recv").expect("no timeout");
        if i >= 200 {
            lat.push(t0.elapsed()); // the first 200 warm up
        }
    }
    echo.join().expect("echo");
    lat.sort();
    println!(
        "design={} spin_us={spin_us} rounds={rounds} p50_us={:.1} p99_us={:.1} \
         spins(app a, io a, app b, io b; hit/miss)={:?} {:?}",
        if own { "own" } else { "shared" },
        pct(&lat, 50),
        pct(&lat, 99),
        a.spin_outcomes(),
        b.spin_outcomes(),
    );
    let hand = floor::handoff_round_trips(2000);
    println!("thread_handoff_rt_p50_us={:.1}", pct(&hand, 50));
    a.shutdown();
    b.shutdown();
}

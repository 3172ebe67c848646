//! Ping-pong latency of two RTT nodes in one process, without Python: what the Rust
//! transport costs by itself, and what a bounded spin before parking the waiting side
//! saves (issue 13 "Speed": ideas measured, not shipped).
//!
//! Usage: `cargo run --release -p web4-net --example pingpong -- [rounds] [spin_us...]`
//! (default 5000 rounds; spin 0 = park at once on the session's condvar). Prints p50 and
//! p99 round-trip microseconds per spin budget, and the bare thread hand-off floor.

use std::time::{Duration, Instant};

use bytes::Bytes;
use web4_net::{floor, ChannelKind, Config, Node, Session};

const T: Duration = Duration::from_secs(10);
const K: ChannelKind = ChannelKind::Knowledge;

/// Receive one message: spin on `try_recv` for up to `spin`, then park.
fn recv(s: &Session, spin: Duration) -> Bytes {
    if !spin.is_zero() {
        let until = Instant::now() + spin;
        while Instant::now() < until {
            if let Some(m) = s.try_recv(K, 1).expect("recv").pop() {
                return m;
            }
            std::hint::spin_loop();
        }
    }
    s.recv_blocking(K, T).expect("recv").expect("no timeout")
}

fn pct(sorted: &[Duration], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let spins: Vec<u64> = if args.len() > 1 {
        args[1..].iter().filter_map(|a| a.parse().ok()).collect()
    } else {
        vec![0, 20, 50, 200]
    };
    let a = Node::new(&[1u8; 32], Config::default()).expect("node a");
    let b = Node::new(&[2u8; 32], Config::default()).expect("node b");
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
    for spin_us in spins {
        let spin = Duration::from_micros(spin_us);
        let echo = {
            let sb = sb.clone();
            std::thread::spawn(move || {
                for _ in 0..rounds + 200 {
                    let m = recv(&sb, spin);
                    sb.send_blocking(K, m, T).expect("send");
                }
            })
        };
        let payload = Bytes::from(vec![0xab; 64]);
        let mut lat = Vec::with_capacity(rounds);
        for i in 0..rounds + 200 {
            let t0 = Instant::now();
            sa.send_blocking(K, payload.clone(), T).expect("send");
            recv(&sa, spin);
            if i >= 200 {
                lat.push(t0.elapsed()); // the first 200 warm up
            }
        }
        echo.join().expect("echo");
        lat.sort();
        println!(
            "spin_us={spin_us} rounds={rounds} p50_us={:.1} p99_us={:.1}",
            pct(&lat, 50),
            pct(&lat, 99)
        );
    }
    let hand = floor::handoff_round_trips(2000);
    println!("thread_handoff_rt_p50_us={:.1}", pct(&hand, 50));
    a.shutdown();
    b.shutdown();
}

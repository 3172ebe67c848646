//! The cost of the session layer itself: two sessions joined directly (no harness
//! randomness), 256-byte and 64 KiB messages one way. It checks exactly-once delivery
//! and prints the rate (`cargo test --release --test session_throughput -- --nocapture`);
//! it asserts no timing, so it cannot flake.

use std::time::{Duration, Instant};

use web4_proto::session::{get_varint, ChannelKind, Session, SessionConfig, SplitMix64};

const K: ChannelKind = ChannelKind::Knowledge;

fn pump(size: usize, count: u32) -> f64 {
    let mut rng = SplitMix64::new(1);
    let now = Duration::from_secs(1);
    let cfg = SessionConfig::default();
    let mut a = Session::new_dialer(cfg.clone(), now, &mut rng);
    let mut b = Session::new_listener(cfg, now, &mut rng);
    let cb = {
        a.on_connected(now);
        b.on_connected(now)
    };
    let ca = a.connection();
    let mut buf = Vec::with_capacity(size + 64);
    let mut framed: [Vec<u8>; 3] = Default::default();
    let start = Instant::now();
    let (mut sent, mut got) = (0u32, 0u32);
    while got < count {
        while sent < count {
            let mut m = vec![0u8; size];
            m[..4].copy_from_slice(&sent.to_be_bytes());
            if a.send(K, m).is_err() {
                break;
            }
            sent += 1;
        }
        // The driver's path: length-prefixed buffers per stream, then split them.
        while let Some(t) = a.poll_transmit_framed(now, &mut framed) {
            assert_eq!(t.conn, ca);
        }
        for (k, stream) in framed.iter_mut().enumerate() {
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let (len, used) = get_varint(rest, "len").expect("prefix");
                let (frame, tail) = rest[used..].split_at(len as usize);
                b.handle_frame(cb, ChannelKind::ALL[k], frame, now)
                    .expect("a to b");
                rest = tail;
            }
            stream.clear();
        }
        while let Some(m) = b.recv(K) {
            assert_eq!(m[..4], got.to_be_bytes());
            got += 1;
        }
        loop {
            buf.clear();
            let Some(t) = b.poll_transmit(now, &mut buf) else {
                break;
            };
            a.handle_frame(ca, t.stream, &buf, now).expect("b to a");
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(a.all_acked() || sent == count);
    f64::from(count) / secs
}

#[test]
fn session_layer_throughput() {
    let small = pump(256, 100_000);
    let big = pump(64 * 1024, 2_000);
    eprintln!(
        "session layer alone: 256 B {:.0} msg/s; 64 KiB {:.0} MB/s",
        small,
        big * 65536.0 / 1e6
    );
}

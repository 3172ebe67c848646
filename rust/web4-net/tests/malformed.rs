//! A raw libp2p peer sends an oversize length prefix on a real channel stream: that
//! stream is reset and counted, and another live session on the same node keeps working.

use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol};
use web4_net::{ChannelKind, Config, Node};

mod common;

const T: Duration = Duration::from_secs(10);

async fn attack(addr: Multiaddr, prefix: Vec<u8>) -> std::io::Result<usize> {
    let mut swarm = common::raw_swarm(|_| libp2p_stream::Behaviour::new());
    let mut control = swarm.behaviour().new_control();
    let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
        panic!()
    };
    swarm.dial(addr).unwrap();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::ConnectionClosed { .. } = swarm.select_next_some().await {}
        }
    });
    let proto = StreamProtocol::new("/web4/rtt/knowledge/1.0.0");
    let mut stream = control
        .open_stream(peer, proto)
        .await
        .map_err(std::io::Error::other)?;
    stream.write_all(&prefix).await?;
    stream.write_all(&[0u8; 1024]).await?;
    stream.flush().await?;
    // The node resets the stream: reading ends (error or EOF) instead of hanging.
    let mut buf = [0u8; 16];
    tokio::time::timeout(T, stream.read(&mut buf))
        .await
        .map_err(std::io::Error::other)?
}

#[test]
fn oversize_prefix_resets_one_stream_and_spares_the_live_session() {
    let a = Node::new(&[21u8; 32], Config::default()).unwrap();
    let b = Node::new(&[22u8; 32], Config::default()).unwrap();
    b.wait_op(b.listen("/ip4/127.0.0.1/tcp/0").unwrap(), T)
        .unwrap();
    let addr = b.listen_addrs()[0].clone();
    let sa = a
        .session(a.wait_op(a.dial(&addr).unwrap(), T).unwrap())
        .unwrap();
    let sb = b.session(b.accept_wait(T).unwrap()).unwrap();
    sa.open_channel(ChannelKind::Knowledge).unwrap();
    sb.open_channel(ChannelKind::Knowledge).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    // 2^40 bytes announced; then a non-minimal prefix (0x80 0x00).
    let big = vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
    for prefix in [big, vec![0x80, 0x00]] {
        let before = b.stats().frames_rejected;
        let r = rt.block_on(attack(addr.parse().unwrap(), prefix));
        assert!(matches!(r, Ok(0) | Err(_)), "stream not reset: {r:?}");
        let deadline = Instant::now() + T;
        while b.stats().frames_rejected == before {
            assert!(Instant::now() < deadline, "rejection not counted");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for i in 0..100u32 {
        sa.send_blocking(ChannelKind::Knowledge, i.to_be_bytes().to_vec(), T)
            .unwrap();
    }
    for i in 0..100u32 {
        let m = sb
            .recv_blocking(ChannelKind::Knowledge, T)
            .unwrap()
            .unwrap();
        assert_eq!(m[..], i.to_be_bytes());
    }
    assert_eq!(b.stats().frames_rejected, 2);
}

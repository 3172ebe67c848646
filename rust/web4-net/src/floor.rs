//! A measurement, not a feature: what one thread hand-off costs on this machine.
//!
//! Theory of operation: the RTT node does its IO on its own thread, so every message
//! crosses threads: the application wakes the node's IO thread, the socket wakes the
//! peer's IO thread, which wakes the peer's application. A ping-pong round trip between
//! two nodes therefore contains six hand-offs. [`handoff_round_trips`] times the
//! cheapest possible version of two of them (a mutex and condvar ping-pong between two
//! idle threads), so `make bench` can report the floor under the transport's latency
//! figures in the same run. [`stack_setups`] is the floor under the setup figure: a
//! bare libp2p dial (TCP, multistream-select, Noise XX, yamux) with no behaviour and no
//! stream, both ends on one thread as on RTT's shared IO thread.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::{dummy, SwarmEvent};
use libp2p::{identity::Keypair, noise, tcp, yamux, Multiaddr, Swarm, SwarmBuilder};

/// `rounds` round trips between this thread and a helper thread (each round trip is two
/// hand-offs: wake the helper, be woken by it), sorted ascending.
pub fn handoff_round_trips(rounds: usize) -> Vec<Duration> {
    let pair = Arc::new((Mutex::new(0u64), Condvar::new()));
    let helper = {
        let pair = pair.clone();
        std::thread::spawn(move || {
            let (turn, cond) = &*pair;
            for i in 0..rounds as u64 {
                let mut t = turn.lock().unwrap_or_else(|e| e.into_inner());
                while *t != 2 * i + 1 {
                    t = cond.wait(t).unwrap_or_else(|e| e.into_inner());
                }
                *t += 1;
                cond.notify_one();
            }
        })
    };
    let (turn, cond) = &*pair;
    let mut out = Vec::with_capacity(rounds);
    for i in 0..rounds as u64 {
        let start = Instant::now();
        let mut t = turn.lock().unwrap_or_else(|e| e.into_inner());
        *t += 1;
        cond.notify_one();
        while *t != 2 * i + 2 {
            t = cond.wait(t).unwrap_or_else(|e| e.into_inner());
        }
        out.push(start.elapsed());
    }
    let _ = helper.join();
    out.sort();
    out
}

fn bare_swarm() -> Result<Swarm<dummy::Behaviour>, String> {
    Ok(
        SwarmBuilder::with_existing_identity(Keypair::generate_ed25519())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| e.to_string())?
            .with_behaviour(|_| dummy::Behaviour)
            .map_err(|e| e.to_string())?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build(),
    )
}

/// `rounds` bare libp2p dials over loopback (TCP + Noise XX + yamux, until the dialler
/// sees the connection established), both ends on one current-thread runtime; sorted.
///
/// Errors: the runtime, a swarm or a dial failed (text).
pub fn stack_setups(rounds: usize) -> Result<Vec<Duration>, String> {
    stack_setups_both(rounds).map(|(dialler, _)| dialler)
}

/// As [`stack_setups`], and also until *both* ends have the connection established (the
/// listener too has processed Noise's third message): the floor under any protocol that
/// answers the dialler's first frame, as RTT's `OPEN` is answered. Each sorted.
///
/// Errors: the runtime, a swarm or a dial failed (text).
pub fn stack_setups_both(rounds: usize) -> Result<(Vec<Duration>, Vec<Duration>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (mut out, mut both) = rt.block_on(async {
        let mut b = bare_swarm()?;
        let any: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().map_err(|e| format!("{e}"))?;
        b.listen_on(any).map_err(|e| e.to_string())?;
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = b.select_next_some().await {
                break address;
            }
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let listener = tokio::spawn(async move {
            loop {
                if let SwarmEvent::ConnectionEstablished { .. } = b.select_next_some().await {
                    let _ = tx.send(Instant::now());
                }
            }
        });
        let mut a = bare_swarm()?;
        let mut out = Vec::with_capacity(rounds);
        let mut both = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t0 = Instant::now();
            a.dial(addr.clone()).map_err(|e| e.to_string())?;
            let peer = loop {
                match a.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => break peer_id,
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        return Err(error.to_string())
                    }
                    _ => {}
                }
            };
            let dialled = t0.elapsed();
            out.push(dialled);
            let at = loop {
                tokio::select! {
                    t = rx.recv() => break t.ok_or("listener gone")?,
                    _ = a.select_next_some() => {}
                }
            };
            both.push(at.duration_since(t0).max(dialled));
            let _ = a.disconnect_peer_id(peer);
            while !matches!(
                a.select_next_some().await,
                SwarmEvent::ConnectionClosed { .. }
            ) {}
        }
        listener.abort();
        Ok::<_, String>((out, both))
    })?;
    out.sort();
    both.sort();
    Ok((out, both))
}

#[cfg(test)]
mod tests {
    #[test]
    fn returns_one_sorted_duration_per_round() {
        let d = super::handoff_round_trips(50);
        assert_eq!(d.len(), 50);
        assert!(d.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn stack_setups_dial_for_real() {
        let (d, both) = super::stack_setups_both(3).unwrap();
        assert_eq!((d.len(), both.len()), (3, 3));
        assert!(d.windows(2).all(|w| w[0] <= w[1]));
        assert!(both.windows(2).all(|w| w[0] <= w[1]));
        // Each round's listener side is up no earlier than the dialler's.
        assert!(d.iter().zip(&both).all(|(a, b)| a <= b));
    }
}

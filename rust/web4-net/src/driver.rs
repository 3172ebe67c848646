//! The swarm task: listening, dialling, re-dialling, heartbeat deadlines.
//!
//! Theory of operation: one tokio task owns the libp2p `Swarm` and reacts to three
//! inputs: commands from the application (`Command`), swarm events, and a heartbeat tick.
//! Ping (interval = heartbeat interval) measures liveness; a connection with no
//! successful ping for `heartbeat_timeout` is declared dead (`heartbeat_timeout` event)
//! and closed. When the last connection to a dialled peer closes, the dialling side
//! re-dials with capped exponential backoff and jitter (`reconnect_attempt` events); the
//! listening side waits for the peer to come back. Every new connection bumps the
//! session's generation, closes older connections to that peer, and starts fresh writer
//! tasks (`streams.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, identity::Keypair, noise, ping, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::mpsc;

use crate::config::ChannelKind;
use crate::node::Shared;
use crate::streams;
use crate::NetError;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    stream: libp2p_stream::Behaviour,
}

#[derive(Debug)]
pub(crate) enum Command {
    Listen(Multiaddr, u64),
    Dial(PeerId, Multiaddr, u64),
    Redial(PeerId),
    Disconnect(PeerId),
    Shutdown,
}

struct Conn {
    peer: PeerId,
    last_alive: Instant,
}

struct Redial {
    addr: Multiaddr,
    attempt: u32,
    pending: bool,
}

struct Driver {
    swarm: Swarm<Behaviour>,
    shared: Arc<Shared>,
    control: libp2p_stream::Control,
    cmd_tx: mpsc::Sender<Command>,
    listen_ops: HashMap<libp2p::core::transport::ListenerId, u64>,
    dial_ops: HashMap<ConnectionId, u64>,
    conns: HashMap<ConnectionId, Conn>,
    redial: HashMap<PeerId, Redial>,
    jitter_state: u64,
}

/// Build the swarm inside `rt` and spawn the driver and accept loops.
///
/// Errors: `Transport` when the swarm cannot be built or a protocol registered twice.
pub(crate) fn start(
    rt: &tokio::runtime::Runtime,
    keypair: Keypair,
    shared: Arc<Shared>,
    cmd_rx: mpsc::Receiver<Command>,
    cmd_tx: mpsc::Sender<Command>,
) -> Result<(), NetError> {
    let _guard = rt.enter();
    let cfg = shared.cfg.clone();
    let terr = |e: &dyn std::fmt::Display| NetError::Transport(format!("swarm setup: {e}"));
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| terr(&e))?
        .with_behaviour(|key| Behaviour {
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(cfg.heartbeat_interval)
                    .with_timeout(cfg.heartbeat_timeout),
            ),
            identify: identify::Behaviour::new(identify::Config::new(
                "/web4/rtt/1.0.0".into(),
                key.public(),
            )),
            stream: libp2p_stream::Behaviour::new(),
        })
        .map_err(|e| terr(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(cfg.idle_timeout))
        .with_connection_timeout(cfg.handshake_timeout)
        .build();
    let mut control = swarm.behaviour().stream.new_control();
    for kind in ChannelKind::ALL {
        let incoming = control
            .accept(kind.protocol())
            .map_err(|e| NetError::Transport(format!("protocol registration: {e:?}")))?;
        rt.spawn(streams::accept_loop(
            shared.clone(),
            control.clone(),
            kind,
            incoming,
        ));
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let driver = Driver {
        swarm,
        shared,
        control,
        cmd_tx,
        listen_ops: HashMap::new(),
        dial_ops: HashMap::new(),
        conns: HashMap::new(),
        redial: HashMap::new(),
        jitter_state: seed,
    };
    rt.spawn(driver.run(cmd_rx));
    Ok(())
}

impl Driver {
    async fn run(mut self, mut cmd_rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(self.shared.cfg.heartbeat_interval / 4);
        loop {
            tokio::select! {
                cmd = cmd_rx.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(c) => self.on_command(c),
                },
                ev = self.swarm.select_next_some() => self.on_event(ev),
                _ = tick.tick() => self.check_heartbeats(),
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Listen(addr, op) => match self.swarm.listen_on(addr) {
                Ok(id) => {
                    self.listen_ops.insert(id, op);
                }
                Err(e) => self
                    .shared
                    .finish_op(op, Err(NetError::Transport(e.to_string()))),
            },
            Command::Dial(peer, addr, op) => {
                let opts = DialOpts::peer_id(peer)
                    .addresses(vec![addr.clone()])
                    .condition(PeerCondition::Always)
                    .build();
                let id = opts.connection_id();
                self.redial.insert(
                    peer,
                    Redial {
                        addr,
                        attempt: 0,
                        pending: false,
                    },
                );
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.dial_ops.insert(id, op);
                    }
                    Err(e) => self.shared.finish_op(op, Err(dial_error(&e))),
                }
            }
            Command::Redial(peer) => {
                let Some(r) = self.redial.get_mut(&peer) else {
                    return;
                };
                r.pending = false;
                if self.shared.session_of(&peer).is_none() || self.swarm.is_connected(&peer) {
                    return;
                }
                let opts = DialOpts::peer_id(peer)
                    .addresses(vec![r.addr.clone()])
                    .condition(PeerCondition::Always)
                    .build();
                if self.swarm.dial(opts).is_err() {
                    self.schedule_redial(peer);
                }
            }
            Command::Disconnect(peer) => {
                self.redial.remove(&peer);
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Shutdown => {}
        }
    }

    fn on_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                self.shared
                    .listen_addrs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(address);
                if let Some(op) = self.listen_ops.remove(&listener_id) {
                    self.shared.finish_op(op, Ok(0));
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(op) = self.listen_ops.remove(&listener_id) {
                    let msg = format!("listener closed: {reason:?}");
                    self.shared.finish_op(op, Err(NetError::Transport(msg)));
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                self.on_established(peer_id, connection_id, &endpoint);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                self.conns.remove(&connection_id);
                if num_established > 0 {
                    return;
                }
                let Some(s) = self.shared.session_of(&peer_id) else {
                    return;
                };
                s.set_link(crate::LinkState::Disconnected);
                self.shared.waker.emit(
                    "link_down",
                    vec![
                        ("session", s.id.to_string()),
                        ("cause", cause.map(|c| c.to_string()).unwrap_or_default()),
                    ],
                );
                if s.dialer {
                    self.schedule_redial(peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                let err = dial_error(&error);
                if matches!(err, NetError::Handshake(_)) {
                    self.shared
                        .handshake_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if let Some(op) = self.dial_ops.remove(&connection_id) {
                    if let Some(p) = peer_id {
                        self.redial.remove(&p);
                    }
                    self.shared.finish_op(op, Err(err));
                } else if let Some(p) = peer_id {
                    self.schedule_redial(p);
                }
            }
            SwarmEvent::IncomingConnectionError { .. } => {
                self.shared
                    .handshake_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Ok(rtt),
            })) => {
                if let Some(c) = self.conns.get_mut(&connection) {
                    c.last_alive = Instant::now();
                }
                if let Some(s) = self.shared.session_of(&peer) {
                    s.record_rtt(rtt);
                }
            }
            _ => {}
        }
    }

    fn on_established(&mut self, peer: PeerId, conn: ConnectionId, endpoint: &ConnectedPoint) {
        // Older connections to this peer are stale (e.g. the peer re-dialled after a cut
        // we have not noticed yet): close them so streams open on the new one only.
        let stale: Vec<ConnectionId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.conns.remove(&id);
            self.swarm.close_connection(id);
        }
        self.conns.insert(
            conn,
            Conn {
                peer,
                last_alive: Instant::now(),
            },
        );
        if let Some(r) = self.redial.get_mut(&peer) {
            r.attempt = 0;
        }
        let op = self.dial_ops.remove(&conn);
        let session = match (op, self.shared.session_of(&peer)) {
            (_, Some(s)) => {
                s.new_connection();
                self.shared.waker.emit(
                    "session_resumed",
                    vec![("session", s.id.to_string()), ("peer", peer.to_base58())],
                );
                Some(s)
            }
            (Some(_), None) => Some(self.shared.add_session(peer, true)),
            // Listener side: the session is created by the first inbound stream.
            (None, None) => None,
        };
        if let Some(s) = &session {
            streams::spawn_writers(&self.shared, &self.control, s);
        }
        if let Some(op) = op {
            let id = session.map(|s| s.id).unwrap_or(0);
            self.shared.finish_op(op, Ok(id));
        }
        let _ = endpoint;
    }

    fn check_heartbeats(&mut self) {
        let timeout = self.shared.cfg.heartbeat_timeout;
        let now = Instant::now();
        let dead: Vec<(ConnectionId, PeerId)> = self
            .conns
            .iter()
            .filter(|(_, c)| now.duration_since(c.last_alive) > timeout)
            .map(|(id, c)| (*id, c.peer))
            .collect();
        for (id, peer) in dead {
            self.conns.remove(&id);
            if let Some(s) = self.shared.session_of(&peer) {
                self.shared.waker.emit(
                    "heartbeat_timeout",
                    vec![("session", s.id.to_string()), ("peer", peer.to_base58())],
                );
            }
            self.swarm.close_connection(id);
        }
    }

    fn schedule_redial(&mut self, peer: PeerId) {
        let Some(s) = self.shared.session_of(&peer) else {
            return;
        };
        let Some(r) = self.redial.get_mut(&peer) else {
            return;
        };
        if r.pending {
            return;
        }
        r.pending = true;
        r.attempt += 1;
        let cfg = &self.shared.cfg;
        let exp = cfg
            .reconnect_initial
            .saturating_mul(1u32 << r.attempt.min(16).saturating_sub(1));
        let cap = exp.min(cfg.reconnect_max);
        // xorshift64 jitter in [cap/2, cap]
        self.jitter_state ^= self.jitter_state << 13;
        self.jitter_state ^= self.jitter_state >> 7;
        self.jitter_state ^= self.jitter_state << 17;
        let frac = (self.jitter_state % 1000) as u32;
        let delay = cap / 2 + cap / 2 * frac / 1000;
        self.shared.waker.emit(
            "reconnect_attempt",
            vec![
                ("session", s.id.to_string()),
                ("attempt", r.attempt.to_string()),
                ("delay_ms", delay.as_millis().to_string()),
            ],
        );
        let tx = self.cmd_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Command::Redial(peer)).await;
        });
    }
}

fn dial_error(e: &DialError) -> NetError {
    match e {
        DialError::WrongPeerId { obtained, address } => NetError::Handshake(format!(
            "peer at {address} authenticated as {obtained}, not the expected peer id"
        )),
        DialError::Transport(errs) => {
            let text = errs
                .iter()
                .map(|(a, e)| format!("{a}: {e:?}"))
                .collect::<Vec<_>>()
                .join("; ");
            if text.contains("Noise") || text.contains("noise") || text.contains("Handshake") {
                NetError::Handshake(format!("secure handshake failed: {text}"))
            } else {
                NetError::Transport(format!("dial failed: {text}"))
            }
        }
        other => NetError::Transport(format!("dial failed: {other}")),
    }
}

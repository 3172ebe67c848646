//! The swarm task: listening, dialling, connection bookkeeping.
//!
//! Theory of operation: one tokio task owns the libp2p `Swarm` and reacts to commands
//! (from the application and from session pumps) and to swarm events. It maps libp2p
//! connections to (session, connection number): a new connection to a peer supersedes
//! older ones (they are closed), is announced to the session (`on_connected`) and handed
//! to its connection handler (`handler.rs`, [`Attach`](crate::handler::Attach)); a
//! closed connection is reported (`on_connection_lost`). It never
//! decides when to re-dial: the session layer asks (`Command::Redial`) after its own
//! backoff. Ping and identify run for liveness measurement and interop hygiene; the
//! RTT heartbeat itself is the session layer's.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::StreamExt;
use libp2p::core::transport::TransportError;
use libp2p::core::ConnectedPoint;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, identity::Keypair, noise, ping, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::mpsc;
use web4_proto::session::Role;

use crate::handler::RttBehaviour;
use crate::shared::{lock, Shared};
use crate::{DialFailure, NetError};

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    rtt: RttBehaviour,
}

#[derive(Debug)]
pub(crate) enum Command {
    Listen(Multiaddr, u64),
    Dial(PeerId, Multiaddr, u64),
    /// A session's backoff elapsed: dial its peer again.
    Redial(u64),
    /// The session gave up on its connection number `.1`.
    CloseConn(PeerId, u64),
    /// Drop every connection to the peer unless a live session uses it.
    Disconnect(PeerId),
    Shutdown,
}

struct Driver {
    swarm: Swarm<Behaviour>,
    shared: Arc<Shared>,
    listen_ops: HashMap<libp2p::core::transport::ListenerId, u64>,
    /// Outgoing dials in progress: connection id -> session id.
    dials: HashMap<ConnectionId, u64>,
    /// Where each dialled session's peer lives.
    addrs: HashMap<u64, (PeerId, Multiaddr)>,
}

/// Build the swarm (TCP with TCP_NODELAY, Noise XX, yamux; ping, identify, RTT streams).
///
/// Errors: `Transport` when the swarm cannot be built.
pub(crate) fn build_swarm(
    rt: &tokio::runtime::Runtime,
    keypair: Keypair,
    shared: &Arc<Shared>,
) -> Result<Swarm<Behaviour>, NetError> {
    let _guard = rt.enter();
    let cfg = &shared.cfg;
    let hb = &cfg.session.heartbeat;
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
                    .with_interval(hb.interval)
                    .with_timeout(hb.timeout),
            ),
            identify: identify::Behaviour::new(identify::Config::new(
                "/web4/rtt/1.0.0".into(),
                key.public(),
            )),
            rtt: RttBehaviour::new(shared.clone()),
        })
        .map_err(|e| terr(&e))?
        .with_swarm_config(|c| {
            // Lazy multistream-select on our outbound streams: the protocol id and the
            // first frame leave together (no round trip per stream). Every RTT node
            // supports all three ids; a peer that does not simply fails the stream.
            c.with_idle_connection_timeout(cfg.idle_timeout)
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        .with_connection_timeout(cfg.connect_timeout)
        .build();
    Ok(swarm)
}

/// Spawn the driver task.
pub(crate) fn start(
    rt: &tokio::runtime::Runtime,
    swarm: Swarm<Behaviour>,
    shared: Arc<Shared>,
    cmd_rx: mpsc::Receiver<Command>,
) {
    let driver = Driver {
        swarm,
        shared,
        listen_ops: HashMap::new(),
        dials: HashMap::new(),
        addrs: HashMap::new(),
    };
    rt.spawn(driver.run(cmd_rx));
}

impl Driver {
    /// Swarm events first (`biased`): connection changes are applied before commands
    /// that depend on them.
    async fn run(mut self, mut cmd_rx: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                biased;
                ev = self.swarm.select_next_some() => self.on_event(ev),
                cmd = cmd_rx.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(c) => self.on_command(c),
                },
            }
        }
    }

    fn dial(&mut self, session: u64, peer: PeerId, addr: Multiaddr) -> Result<(), DialError> {
        // A fresh source port: with libp2p's default port reuse, two nodes dialling each
        // other from their listen ports produce one TCP connection by simultaneous open,
        // on which both sides start Noise as initiator and the handshake fails.
        let opts = DialOpts::peer_id(peer)
            .addresses(vec![addr])
            .condition(PeerCondition::Always)
            .allocate_new_port()
            .build();
        let id = opts.connection_id();
        self.swarm.dial(opts)?;
        self.dials.insert(id, session);
        Ok(())
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Listen(addr, op) => match self.swarm.listen_on(addr) {
                Ok(id) => {
                    self.listen_ops.insert(id, op);
                }
                // The Python face prefixes the address.
                Err(e) => self
                    .shared
                    .finish_op(op, Err(NetError::Transport(listen_error(&e)))),
            },
            Command::Dial(peer, addr, op) => {
                if let Some(s) = self.shared.session_of(&peer) {
                    // A dial to this peer still in progress, or the peer's own dial
                    // not answered yet: finish when that session opens (or fails), so
                    // every caller gets an open session or the same error.
                    if self.shared.dial_pending(s.id) || !s.opened() {
                        self.shared.add_dial_op(s.id, op);
                    } else {
                        self.shared.finish_op(op, Ok(s.id));
                    }
                    return;
                }
                let s = self.shared.add_session(peer, Role::Dialer);
                self.shared.add_dial_op(s.id, op);
                self.addrs.insert(s.id, (peer, addr.clone()));
                if let Err(e) = self.dial(s.id, peer, addr) {
                    self.shared.fail_dial(s.id, dial_error(&e));
                    s.close(web4_proto::session::CloseReason::Normal, "dial failed");
                }
            }
            Command::Redial(id) => {
                let Some(s) = self.shared.session(id).filter(|s| !s.is_closed()) else {
                    return;
                };
                let Some((peer, addr)) = self.addrs.get(&id).cloned() else {
                    return;
                };
                if self.dial(id, peer, addr).is_err() {
                    s.on_dial_failed();
                }
            }
            Command::CloseConn(peer, conn) => {
                let ids: Vec<ConnectionId> = lock(&self.shared.conns)
                    .iter()
                    .filter(|(_, (p, c))| *p == peer && *c == conn)
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.swarm.close_connection(id);
                }
            }
            Command::Disconnect(peer) => {
                if self.shared.session_of(&peer).is_none() {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
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
                    let msg = match reason {
                        Ok(()) => "the listener closed".to_string(),
                        Err(e) => format!("the listener closed: {}", one_line(&e.to_string())),
                    };
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
                ..
            } => {
                let Some((_, conn)) = lock(&self.shared.conns).remove(&connection_id) else {
                    return;
                };
                if let Some(s) = self.shared.session_of(&peer_id) {
                    s.on_connection_lost(conn);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                let err = dial_error(&error);
                if let NetError::Dial {
                    kind: DialFailure::Handshake | DialFailure::PeerIdMismatch,
                    ..
                } = err
                {
                    self.shared
                        .handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                }
                let Some(id) = self.dials.remove(&connection_id) else {
                    return;
                };
                let Some(s) = self.shared.session(id) else {
                    return;
                };
                if self.shared.fail_dial(id, err) {
                    // The first dial failed: there is no session to keep.
                    s.close(web4_proto::session::CloseReason::Normal, "dial failed");
                    self.addrs.remove(&id);
                } else {
                    s.on_dial_failed();
                }
            }
            SwarmEvent::IncomingConnectionError { .. } => {
                self.shared
                    .handshake_failures
                    .fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn on_established(&mut self, peer: PeerId, conn_id: ConnectionId, endpoint: &ConnectedPoint) {
        let ours = self.dials.remove(&conn_id).is_some();
        if endpoint.is_dialer() && !ours {
            // A dial we gave up (see `simultaneous_dial`): keep the session's connection.
            self.swarm.close_connection(conn_id);
            return;
        }
        if !endpoint.is_dialer() && !self.simultaneous_dial(peer, conn_id) {
            return;
        }
        // Older connections to this peer are stale (e.g. the peer re-dialled after a cut
        // we have not noticed yet): close them so new streams go to the new one only.
        let stale: Vec<ConnectionId> = {
            let mut conns = lock(&self.shared.conns);
            let ids: Vec<ConnectionId> = conns
                .iter()
                .filter(|(_, (p, _))| *p == peer)
                .map(|(id, _)| *id)
                .collect();
            for id in &ids {
                conns.remove(id);
            }
            ids
        };
        for id in stale {
            self.swarm.close_connection(id);
        }
        let s = match self.shared.session_of(&peer) {
            Some(s) => s,
            None if !endpoint.is_dialer() => self.shared.add_session(peer, Role::Listener),
            None => {
                // A connection we did not ask for (no session): do not keep it.
                self.swarm.close_connection(conn_id);
                return;
            }
        };
        let conn = s.on_connected();
        lock(&self.shared.conns).insert(conn_id, (peer, conn));
        self.swarm
            .behaviour_mut()
            .rtt
            .attach(peer, conn_id, s, conn);
    }
}

impl Driver {
    /// An inbound connection from `peer`: settle a simultaneous dial (both nodes dialled
    /// each other and neither session has opened yet, so both would send OPEN). The
    /// node with the smaller peer id keeps its dial and refuses the inbound connection;
    /// the other gives its dial up and answers the peer's as listener, and its own dial
    /// callers get that listener session once it opens. Returns whether to go on with
    /// this connection.
    fn simultaneous_dial(&mut self, peer: PeerId, conn_id: ConnectionId) -> bool {
        let Some(s) = self.shared.session_of(&peer) else {
            return true;
        };
        if !s.dialer || !self.shared.dial_pending(s.id) {
            return true;
        }
        if *self.swarm.local_peer_id() < peer {
            self.swarm.close_connection(conn_id);
            return false;
        }
        let ops = self.shared.take_dial_ops(s.id);
        self.addrs.remove(&s.id);
        self.dials.retain(|_, id| *id != s.id);
        // Replacing the session in the peer table closes ours (it never opened).
        let listener = self.shared.add_session(peer, Role::Listener);
        for op in ops {
            self.shared.add_dial_op(listener.id, op);
        }
        true
    }
}

fn dial_error(e: &DialError) -> NetError {
    match e {
        DialError::WrongPeerId { obtained, address } => NetError::Dial {
            kind: DialFailure::PeerIdMismatch,
            message: format!(
                "the peer at {} is {obtained}, not the peer id in the address \
                 (retrying cannot help: check the address)",
                without_peer_id(address)
            ),
        },
        DialError::Transport(errs) => match errs.first() {
            Some((addr, TransportError::MultiaddrNotSupported(_))) => NetError::Dial {
                kind: DialFailure::Unreachable,
                message: format!(
                    "cannot dial {}: address not supported",
                    without_peer_id(addr)
                ),
            },
            Some((addr, TransportError::Other(io))) => {
                describe_dial_error(&without_peer_id(addr), &format!("{io:?}"), &io.to_string())
            }
            None => NetError::Dial {
                kind: DialFailure::Unreachable,
                message: "no address to dial".into(),
            },
        },
        other => NetError::Dial {
            kind: DialFailure::Other,
            message: one_line(&format!("dial failed: {other}")),
        },
    }
}

/// The dial error for `addr`, from the error's `Debug` form (used only to classify:
/// libp2p nests the OS error inside `Either`s whose `source()` skips it) and its
/// `Display` form. The message never contains `Debug` text.
pub fn describe_dial_error(addr: &str, debug: &str, display: &str) -> NetError {
    let has = |needles: &[&str]| needles.iter().any(|n| debug.contains(n));
    let (kind, message) = if has(&["ConnectionRefused"]) {
        (
            DialFailure::Refused,
            format!("connection refused by {addr} (nothing listens there)"),
        )
    } else if has(&["TimedOut", "Timeout"]) {
        (
            DialFailure::Timeout,
            format!("no answer from {addr} in time"),
        )
    } else if has(&[
        "HostUnreachable",
        "NetworkUnreachable",
        "AddrNotAvailable",
        "NetworkDown",
        "code: 113",
        "code: 101",
    ]) {
        (
            DialFailure::Unreachable,
            format!("{addr} is unreachable (no route to it)"),
        )
    } else if has(&["Noise", "noise", "Handshake", "Multistream", "Negotiation"]) {
        (
            DialFailure::Handshake,
            format!("secure handshake with {addr} failed (is it a web4 node?)"),
        )
    } else {
        (
            DialFailure::Other,
            one_line(&format!("dial to {addr} failed: {display}")),
        )
    };
    NetError::Dial { kind, message }
}

fn without_peer_id(addr: &Multiaddr) -> String {
    let text = addr.to_string();
    match text.split_once("/p2p/") {
        Some((head, _)) => head.to_string(),
        None => text,
    }
}

fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(300).collect()
}

fn listen_error(e: &TransportError<std::io::Error>) -> String {
    match e {
        TransportError::MultiaddrNotSupported(a) => format!("address {a} is not supported"),
        TransportError::Other(io) if io.kind() == std::io::ErrorKind::AddrInUse => {
            "the address is already in use".into()
        }
        TransportError::Other(io) if io.kind() == std::io::ErrorKind::AddrNotAvailable => {
            "the address is not available on this host".into()
        }
        TransportError::Other(io) => one_line(&io.to_string()),
    }
}

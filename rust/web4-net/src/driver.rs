//! The swarm task: listening, dialling, connection bookkeeping.
//!
//! Theory of operation: one tokio task owns the libp2p `Swarm` and reacts to commands
//! (from the application and from session pumps) and to swarm events. It decides
//! nothing itself: it reports dials, connections and the handlers' events to the node's
//! endpoint (`web4_proto::session::Endpoint`, in [`Shared`]), which picks the session
//! and the current connection, settles simultaneous dials and restarts listeners, and
//! carries out what the endpoint answers: hand a connection to its session's handler
//! (`handler.rs`, [`Attach`](crate::handler::Attach)), close a connection. It never
//! decides when to re-dial: the session layer asks (`Command::Redial`) after its own
//! backoff. Liveness and round-trip times are the session layer's heartbeat (libp2p's
//! ping would only duplicate it); identify runs for interop hygiene and tells us the
//! address peers see us at ([`Node::observed_addrs`](crate::Node::observed_addrs)).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use web4_proto::session::{ConnNumber, DialAction, DialFailed, OpId, SessionHandle};

use crate::handler::{HandlerConfig, HandlerEvent, RttBehaviour, RttEvent};
use crate::shared::{Shared, SwarmAction};
use crate::wake::error_text;
use crate::{DialFailure, NetError};
use futures::StreamExt;
use libp2p::core::transport::TransportError;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, identity::Keypair, noise, relay, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::mpsc;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// First: a connection over the caps is refused before any other part sees it.
    limits: crate::limits::Limits,
    identify: identify::Behaviour,
    rtt: RttBehaviour,
    gossipsub: crate::gossip::GossipBehaviour,
    discovery: crate::discovery::Discovery,
    /// Reachability (`relay.rs`): dial and listen through relays, hole punching, and
    /// the relay server when configured.
    relay_client: relay::client::Behaviour,
    dcutr: crate::relay::GuardedDcutr,
    relay_server: Toggle<relay::Behaviour>,
}

#[derive(Debug)]
pub(crate) enum Command {
    /// Listen on an address; the operation finishes when it is bound.
    Listen(Multiaddr, OpId),
    /// Open a session with the peer at an address (operation id last).
    Dial(PeerId, Multiaddr, OpId),
    /// A session's backoff elapsed: dial its peer again.
    Redial(SessionHandle),
    /// The session gave up on one of its connections.
    DropConn(SessionHandle, ConnNumber),
    /// Drop every connection to the peer unless a live session uses it.
    Disconnect(PeerId),
    /// Let the peer's inbound connections skip the incoming and total caps, or stop.
    Protect(PeerId, bool),
    /// Topic pub/sub (`gossip.rs`).
    Gossip(crate::gossip::GossipCommand),
    /// Seed the DHT with a peer's address (`--bootstrap`); finishes with 0.
    Bootstrap(PeerId, Multiaddr, OpId),
    /// Look a peer up in the DHT; finishes with its number of addresses.
    Lookup(PeerId, OpId),
    Shutdown,
}

struct Driver {
    swarm: Swarm<Behaviour>,
    shared: Arc<Shared>,
    listen_ops: HashMap<libp2p::core::transport::ListenerId, OpId>,
    /// Where each dialled session's peer lives.
    addrs: HashMap<SessionHandle, Multiaddr>,
    /// Connections dialled for RTT sessions, until established or failed: any other
    /// outbound connection (Kademlia's) is none of the endpoint's business.
    rtt_dials: HashSet<ConnectionId>,
    /// Inbound connections that opened no RTT stream yet: the endpoint hears of one
    /// when its first RTT stream arrives (`HandlerEvent::Opened`), so a peer that came
    /// only for the DHT makes no session.
    pending_inbound: HashMap<ConnectionId, PeerId>,
    lookups: crate::discovery::Lookups,
    local: PeerId,
    /// Established connections that go through a relay (`/p2p-circuit`).
    relayed: HashSet<ConnectionId>,
    /// Relay listeners (`…/p2p-circuit`) by listener, with the address and how many
    /// times in a row it was lost; and lost ones waiting to be listened on again.
    relay_listens: HashMap<libp2p::core::transport::ListenerId, (Multiaddr, u32)>,
    relisten: Vec<(std::time::Instant, Multiaddr, u32)>,
    /// Hole punches tried again per peer (`relay::PUNCH_RETRIES`).
    punch_retries: HashMap<PeerId, u32>,
}

/// Build the swarm (TCP with TCP_NODELAY, Noise XX, yamux; identify, RTT streams).
///
/// Errors: `Transport` when the swarm cannot be built.
pub(crate) fn build_swarm(
    rt: &tokio::runtime::Handle,
    keypair: Keypair,
    shared: &Arc<Shared>,
) -> Result<Swarm<Behaviour>, NetError> {
    let _guard = rt.enter();
    let cfg = &shared.cfg;
    let terr = |e: &dyn std::fmt::Display| NetError::Transport(format!("swarm setup: {e}"));
    let discovery = crate::discovery::Discovery::new(
        keypair.public().to_peer_id(),
        &cfg.discovery,
        &shared.waker,
        shared,
    );
    let gossipsub = crate::gossip::behaviour(&cfg.gossip, shared.gossip.counters.clone())?;
    let local = keypair.public().to_peer_id();
    let relay_server = cfg
        .relay
        .server
        .as_ref()
        .map(|s| crate::relay::server(local, s, &shared.relay));
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| terr(&e))?
        // Circuit relay v2 as a transport: `/…/p2p/RELAY/p2p-circuit[/p2p/PEER]`, with
        // Noise end to end through the relay and yamux, as on a direct connection.
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| terr(&e))?
        .with_behaviour(|key, relay_client| Behaviour {
            limits: crate::limits::Limits::new(&cfg.limits, shared.connections_denied.clone()),
            identify: identify::Behaviour::new(identify::Config::new(
                "/web4/rtt/1.0.0".into(),
                key.public(),
            )),
            rtt: RttBehaviour::new(HandlerConfig::new(cfg)),
            gossipsub,
            discovery,
            relay_client,
            dcutr: crate::relay::GuardedDcutr::new(local, shared),
            relay_server: relay_server.into(),
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

/// Spawn the driver task (its handle finishes once the swarm is dropped).
pub(crate) fn start(
    rt: &tokio::runtime::Handle,
    swarm: Swarm<Behaviour>,
    shared: Arc<Shared>,
    cmd_rx: mpsc::Receiver<Command>,
) -> tokio::task::JoinHandle<()> {
    let local = *swarm.local_peer_id();
    let driver = Driver {
        swarm,
        shared,
        listen_ops: HashMap::new(),
        addrs: HashMap::new(),
        rtt_dials: HashSet::new(),
        pending_inbound: HashMap::new(),
        lookups: crate::discovery::Lookups::default(),
        local,
        relayed: HashSet::new(),
        relay_listens: HashMap::new(),
        relisten: Vec::new(),
        punch_retries: HashMap::new(),
    };
    rt.spawn(driver.run(cmd_rx))
}

impl Driver {
    /// Swarm events first (`biased`): connection changes are applied before commands
    /// that depend on them.
    async fn run(mut self, mut cmd_rx: mpsc::Receiver<Command>) {
        let mut view = tokio::time::interval(self.shared.cfg.gossip.heartbeat);
        loop {
            tokio::select! {
                biased;
                ev = self.swarm.select_next_some() => self.on_event(ev),
                _ = view.tick() => {
                    crate::gossip::refresh(&self.swarm.behaviour().gossipsub, &self.shared);
                    self.relisten_due();
                }
                cmd = cmd_rx.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(c) => self.on_command(c),
                },
            }
        }
    }

    /// Carry out what the endpoint asked of the swarm.
    fn apply(&mut self, actions: Vec<SwarmAction>) {
        for a in actions {
            match a {
                SwarmAction::Attach {
                    conn,
                    session,
                    number,
                } => {
                    let peer = session.peer;
                    self.shared.set_path(&session, self.relayed.contains(&conn));
                    self.swarm
                        .behaviour_mut()
                        .rtt
                        .attach(peer, conn, session, number);
                }
                SwarmAction::Close(c) => {
                    self.swarm.close_connection(c);
                }
            }
        }
    }

    fn dial(&mut self, session: SessionHandle, peer: PeerId) -> Result<(), DialError> {
        let Some(addr) = self.addrs.get(&session).cloned() else {
            return Err(DialError::NoAddresses);
        };
        // A fresh source port: with libp2p's default port reuse, two nodes dialling each
        // other from their listen ports produce one TCP connection by simultaneous open,
        // on which both sides start Noise as initiator and the handshake fails.
        let opts = DialOpts::peer_id(peer)
            .addresses(vec![addr])
            .condition(PeerCondition::Always)
            .allocate_new_port()
            .build();
        let id = opts.connection_id();
        // A dial the application asked for (bounded by its own watermarks): counted by
        // the connection caps, never refused by them.
        self.swarm.behaviour_mut().limits.exempt(id, true);
        if let Err(e) = self.swarm.dial(opts) {
            self.swarm.behaviour_mut().limits.exempt(id, false);
            return Err(e);
        }
        self.rtt_dials.insert(id);
        let _ = self
            .shared
            .with_endpoint(|ep, _| ep.dial_started(id, session));
        Ok(())
    }

    /// Fail the operations of an abandoned dial with `err`.
    fn dial_failed(&mut self, failed: DialFailed, err: NetError) {
        if let DialFailed::Abandoned { session, ops } = failed {
            self.addrs.remove(&session);
            for op in ops {
                self.shared.finish_op(op, Err(err.clone()));
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Listen(addr, op) => match self.swarm.listen_on(addr.clone()) {
                Ok(id) => {
                    if crate::relay::is_relayed(&addr) {
                        self.relay_listens.insert(id, (addr, 0));
                    }
                    self.listen_ops.insert(id, op);
                }
                // The Python face prefixes the address.
                Err(e) => self
                    .shared
                    .finish_op(op, Err(NetError::Transport(listen_error(&e)))),
            },
            Command::Dial(peer, addr, op) => {
                let (action, acts) = self.shared.with_endpoint(|ep, now| ep.dial(peer, op, now));
                self.apply(acts);
                if let DialAction::Dial(h) = action {
                    self.addrs.insert(h, addr);
                    if let Err(e) = self.dial(h, peer) {
                        let (failed, acts) = self
                            .shared
                            .with_endpoint(|ep, now| ep.dial_not_started(h, now));
                        self.apply(acts);
                        self.dial_failed(failed, dial_error(&e));
                    }
                }
            }
            Command::Redial(h) => {
                let peer = crate::shared::lock(&self.shared.endpoint)
                    .redial(h)
                    .copied();
                let Some(peer) = peer else {
                    self.addrs.remove(&h);
                    return;
                };
                if let Err(e) = self.dial(h, peer) {
                    let (failed, acts) = self
                        .shared
                        .with_endpoint(|ep, now| ep.dial_not_started(h, now));
                    self.apply(acts);
                    self.dial_failed(failed, dial_error(&e));
                }
            }
            Command::DropConn(h, number) => {
                let ((), acts) = self
                    .shared
                    .with_endpoint(|ep, _| ep.close_connection(h, number));
                self.apply(acts);
            }
            Command::Disconnect(peer) => {
                if self.shared.session_of(&peer).is_none() {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            }
            Command::Protect(peer, on) => {
                self.swarm.behaviour_mut().limits.protect(peer, on);
            }
            Command::Gossip(c) => {
                crate::gossip::on_command(
                    &mut self.swarm.behaviour_mut().gossipsub,
                    &self.shared,
                    c,
                );
            }
            Command::Bootstrap(peer, addr, op) => {
                let d = &mut self.swarm.behaviour_mut().discovery;
                let r = crate::discovery::bootstrap(d, peer, &addr).map(|()| 0);
                self.shared.finish_op(op, r);
            }
            Command::Lookup(peer, op) => {
                let d = &mut self.swarm.behaviour_mut().discovery;
                if let Err(e) = crate::discovery::lookup(d, &mut self.lookups, peer, op) {
                    self.shared.finish_op(op, Err(e));
                }
            }
            Command::Shutdown => {}
        }
    }

    /// A direct connection `conn` to `peer` is up while the peer's session goes through
    /// a relay: if this node dialled the session, the endpoint moves it there (the
    /// relayed connection closes, the session resumes); the peer's side follows when
    /// our first stream arrives.
    fn try_upgrade(&mut self, peer: PeerId, conn: ConnectionId) {
        let Some(s) = self.shared.session_of(&peer) else {
            return;
        };
        if self.shared.relayed(s.id) != Some(true) || self.relayed.contains(&conn) {
            return;
        }
        let (moved, acts) = self
            .shared
            .with_endpoint(|ep, now| ep.connection_upgraded(peer, conn, now));
        if moved.is_some() {
            self.pending_inbound.remove(&conn);
            self.shared.relay.count(crate::relay::Count::Upgrades);
        }
        self.apply(acts);
    }

    /// A hole punch with `peer` failed while its session is still relayed: close the
    /// relayed connection (at most `PUNCH_RETRIES` times per peer), so that the
    /// session's dialler re-dials through the relay, the session resumes, and DCUtR runs
    /// again on the new relayed connection.
    fn retry_punch(&mut self, peer: PeerId) {
        let Some(s) = self.shared.session_of(&peer) else {
            return;
        };
        if self.shared.relayed(s.id) != Some(true) {
            return;
        }
        if self.punch_retries.len() >= crate::relay::PUNCH_PEERS {
            self.punch_retries.clear();
        }
        let n = self.punch_retries.entry(peer).or_insert(0);
        if *n >= crate::relay::PUNCH_RETRIES {
            return;
        }
        *n += 1;
        let relayed: Vec<ConnectionId> = crate::shared::lock(&self.shared.endpoint)
            .connections()
            .filter(|(c, p, _, _)| **p == peer && self.relayed.contains(c))
            .map(|(c, _, _, _)| c)
            .collect();
        for c in relayed {
            self.swarm.close_connection(c);
        }
    }

    /// A relay listener closed (the relay refused the reservation or its renewal, or
    /// went away): reported, and listened on again after a backoff (`lost` times in a
    /// row before), until the node shuts down.
    fn relay_listener_lost(
        &mut self,
        addr: Multiaddr,
        lost: u32,
        reason: &Result<(), std::io::Error>,
    ) {
        let r = &self.shared.cfg.relay;
        let delay = r
            .relisten_base
            .saturating_mul(1 << lost.min(16))
            .min(r.relisten_cap);
        self.shared.relay.count(crate::relay::Count::ListenersLost);
        let error = match reason {
            Ok(()) => "closed".to_string(),
            Err(e) => error_text(e),
        };
        self.shared.waker.emit(
            "relay_reservation",
            vec![
                ("relay", crate::wake::Field::Str(addr.to_string())),
                ("role", "client".into()),
                ("outcome", "lost".into()),
                ("error", crate::wake::Field::Str(error)),
                ("retry_ms", (delay.as_millis() as u64).into()),
            ],
        );
        self.relisten
            .push((std::time::Instant::now() + delay, addr, lost + 1));
    }

    /// Listen again on the relays whose backoff elapsed.
    fn relisten_due(&mut self) {
        let now = std::time::Instant::now();
        let (due, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.relisten)
            .into_iter()
            .partition(|(t, _, _)| *t <= now);
        self.relisten = wait;
        for (_, addr, lost) in due {
            match self.swarm.listen_on(addr.clone()) {
                Ok(id) => {
                    self.relay_listens.insert(id, (addr, lost));
                }
                Err(e) => {
                    let err = Err(std::io::Error::other(listen_error(&e)));
                    self.relay_listener_lost(addr, lost, &err);
                }
            }
        }
    }

    /// A handler's event, passed on by the RTT behaviour.
    fn on_rtt_event(&mut self, ev: RttEvent) {
        match ev.event {
            HandlerEvent::Rejected => {
                self.shared.frames_rejected.fetch_add(1, Ordering::Relaxed);
            }
            HandlerEvent::Restart { open } => {
                let (fresh, acts) = self
                    .shared
                    .with_endpoint(|ep, now| ep.restart_listener(ev.conn, &open, now));
                self.apply(acts);
                if fresh.is_none() {
                    self.swarm.close_connection(ev.conn);
                }
            }
            // The behaviour closes the connection itself (`ToSwarm::CloseConnection`).
            HandlerEvent::Failed => {}
            HandlerEvent::Opened => {
                if let Some(peer) = self.pending_inbound.remove(&ev.conn) {
                    let (_, acts) = self.shared.with_endpoint(|ep, now| {
                        ep.connection_established(peer, ev.conn, false, now)
                    });
                    self.apply(acts);
                }
            }
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
                    .push(address.clone());
                if let Some(l) = self.relay_listens.get_mut(&listener_id) {
                    l.1 = 0; // a reservation again
                } else if self.shared.cfg.relay.server.is_some() {
                    // A relay's reservations tell clients where it is: its own addresses.
                    self.swarm.add_external_address(address);
                }
                crate::discovery::on_listening(&mut self.swarm.behaviour_mut().discovery);
                if let Some(op) = self.listen_ops.remove(&listener_id) {
                    self.shared.finish_op(op, Ok(0));
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                // A relay listener is kept: refused or lost, it is tried again later
                // (its first attempt's operation still fails, so the caller knows).
                if let Some((addr, lost)) = self.relay_listens.remove(&listener_id) {
                    self.relay_listener_lost(addr, lost, &reason);
                }
                if let Some(op) = self.listen_ops.remove(&listener_id) {
                    let msg = match reason {
                        Ok(()) => "the listener closed".to_string(),
                        Err(e) => format!("the listener closed: {}", error_text(&e)),
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
                let outbound = endpoint.is_dialer();
                let relayed = endpoint.is_relayed();
                if relayed {
                    self.relayed.insert(connection_id);
                }
                if !outbound || !self.rtt_dials.remove(&connection_id) {
                    // Not dialled for a session (an inbound one, Kademlia's, a relay
                    // reservation's, a hole-punched one): the endpoint hears of it when
                    // the peer's first RTT stream arrives on it, or, for a direct one
                    // next to a session's relayed connection, at once (an upgrade).
                    self.pending_inbound.insert(connection_id, peer_id);
                    if !relayed {
                        self.try_upgrade(peer_id, connection_id);
                    }
                    return;
                }
                let (_, acts) = self.shared.with_endpoint(|ep, now| {
                    ep.connection_established(peer_id, connection_id, outbound, now)
                });
                self.apply(acts);
            }
            SwarmEvent::ConnectionClosed { connection_id, .. } => {
                self.pending_inbound.remove(&connection_id);
                self.relayed.remove(&connection_id);
                let ((), acts) = self
                    .shared
                    .with_endpoint(|ep, now| ep.connection_closed(connection_id, now));
                self.apply(acts);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rtt(ev)) => self.on_rtt_event(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(ev)) => {
                crate::gossip::on_event(
                    &mut self.swarm.behaviour_mut().gossipsub,
                    &self.shared,
                    ev,
                );
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                let d = &mut self.swarm.behaviour_mut().discovery;
                crate::discovery::on_identify(d, &self.shared, peer_id, &info);
                self.shared.observed(info.observed_addr);
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayServer(ev)) => {
                crate::relay::on_server_event(&self.shared.relay, &self.shared.waker, ev);
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(ev)) => {
                crate::relay::on_client_event(&self.shared.relay, &self.shared.waker, ev);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(ev)) => {
                let waker = &self.shared.waker;
                match crate::relay::on_dcutr_event(&self.shared.relay, waker, ev) {
                    Ok((peer, conn)) => self.try_upgrade(peer, conn),
                    Err(peer) => self.retry_punch(peer),
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Discovery(ev)) => {
                let d = &mut self.swarm.behaviour_mut().discovery;
                crate::discovery::on_event(d, &mut self.lookups, &self.shared, self.local, ev);
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if !self.rtt_dials.remove(&connection_id) {
                    return; // Kademlia's dial: its query copes
                }
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
                let (failed, acts) = self
                    .shared
                    .with_endpoint(|ep, now| ep.dial_failed(connection_id, now));
                self.apply(acts);
                self.dial_failed(failed, err);
            }
            SwarmEvent::IncomingConnectionError {
                error: libp2p::swarm::ListenError::Denied { .. },
                ..
            } => {} // over the connection caps: counted as `connections_denied`
            SwarmEvent::IncomingConnectionError { .. } => {
                self.shared
                    .handshake_failures
                    .fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
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
                describe_dial_error(&without_peer_id(addr), &format!("{io:?}"), &error_text(io))
            }
            None => NetError::Dial {
                kind: DialFailure::Unreachable,
                message: "no address to dial".into(),
            },
        },
        other => NetError::Dial {
            kind: DialFailure::Other,
            message: format!("dial failed: {}", error_text(other)),
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
        TransportError::Other(io) => error_text(io),
    }
}

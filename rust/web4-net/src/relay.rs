//! Reachability: circuit relay v2 (serving as a relay, and using one) and DCUtR hole
//! punching.
//!
//! Theory of operation: every node runs the relay *client* (a transport that dials and
//! listens through a relay: `/…/p2p/RELAY/p2p-circuit`) and DCUtR (on a relayed
//! connection, both ends trade their observed addresses and dial each other at once; a
//! NAT that maps endpoint-independently lets that through). A node started as a relay
//! server also runs libp2p's relay *server*, bounded by [`RelayServerConfig`]: how many
//! reservations and circuits at once, per peer, per IP and per minute, and how long and
//! how many bytes one circuit may carry. Keys are free to mint, so those bounds, not the
//! peers' identities, are what keep a relay from being an open proxy; on top of them a
//! [`RelayPolicy`] refuses peers the trust book marks untrusted or blacklisted, and, in
//! `trusted_only` mode, admits only peers the operator trusts (the Python node feeds it).
//! The relay sees only Noise-encrypted bytes: the two ends run Noise end to end over the
//! circuit, so a relayed connection authenticates the peer exactly as a direct one.
//!
//! RTT sessions are keyed by peer: a relayed connection carries a session like any
//! other, and the direct connection DCUtR makes takes the session over (the endpoint's
//! `connection_upgraded`, then the usual resume), so an upgrade is a resume, never a new
//! session. Everything here is counted ([`RelayStats`]) and reported as node events
//! (`relay_reservation`, `relay_circuit`, `hole_punch`; a session's `connection_path`),
//! denials under a per-second budget so that a flood cannot fill the event queue.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{dcutr, relay, Multiaddr, PeerId};

use crate::shared::lock;
use crate::wake::{Field, Waker};
use crate::NetError;

/// A failed hole punch is tried again this many times per peer: the relayed connection
/// is closed, the session's dialler re-dials through the relay (the session resumes)
/// and the new relayed connection starts DCUtR afresh. TCP simultaneous open is a race
/// one attempt can lose where the NAT would allow it.
pub const PUNCH_RETRIES: u32 = 3;
/// Peers whose punch retries are remembered (beyond: forgotten, retried again).
pub(crate) const PUNCH_PEERS: usize = 1024;

/// Addresses one hole-punch dial tries at most (the peer's message may carry hundreds).
pub const PUNCH_ADDRS: usize = 8;
/// DCUtR dials awaiting the swarm's address check (beyond: forgotten, so unchecked
/// dials cannot accumulate; each is checked within the same poll anyway).
const PUNCH_DIALS: usize = 256;

/// Of `max_circuits`, 1/`CIRCUIT_HEADROOM` is kept for admitted (trusted) peers: keys
/// are free and libp2p-relay bounds circuits per requesting peer only, so strangers from
/// one host could otherwise hold every circuit and the relay would refuse everyone.
pub const CIRCUIT_HEADROOM: usize = 4;

/// Denial events emitted per second at most (the rest are only counted).
const DENIAL_EVENTS_PER_SEC: u32 = 8;
/// Peers each of the policy's lists holds (oldest forgotten first).
pub const MAX_POLICY_PEERS: usize = 4096;

/// The bounds of a relay server (defaults: a small home or office relay).
#[derive(Debug, Clone)]
pub struct RelayServerConfig {
    /// Reservations held at once, in all, and by one peer.
    pub max_reservations: usize,
    pub max_reservations_per_peer: usize,
    /// How long a reservation lasts before the client must renew it.
    pub reservation_duration: Duration,
    /// Reservation requests accepted per minute from one peer and from one IP address.
    pub reservations_per_peer_per_min: u32,
    pub reservations_per_ip_per_min: u32,
    /// Circuits relayed at once, in all, and per destination peer.
    pub max_circuits: usize,
    pub max_circuits_per_peer: usize,
    /// One circuit is closed after this long, or after this many bytes (both ways).
    pub max_circuit_duration: Duration,
    pub max_circuit_bytes: u64,
    /// Circuits opened per minute by one source peer and from one source IP address.
    pub circuits_per_peer_per_min: u32,
    pub circuits_per_ip_per_min: u32,
    /// Only peers the policy allows (the operator's trusted peers) may reserve or open
    /// circuits; otherwise anyone not denied may, within the bounds above.
    pub trusted_only: bool,
}

impl Default for RelayServerConfig {
    fn default() -> Self {
        RelayServerConfig {
            max_reservations: 64,
            max_reservations_per_peer: 1,
            reservation_duration: Duration::from_secs(30 * 60),
            reservations_per_peer_per_min: 4,
            reservations_per_ip_per_min: 8,
            max_circuits: 32,
            max_circuits_per_peer: 4,
            max_circuit_duration: Duration::from_secs(2 * 60),
            max_circuit_bytes: 4 << 20,
            circuits_per_peer_per_min: 8,
            circuits_per_ip_per_min: 16,
            trusted_only: false,
        }
    }
}

/// Reachability options of a node.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Serve as a relay within these bounds (`None`: do not).
    pub server: Option<RelayServerConfig>,
    /// A lost relay listener (`/p2p-circuit`) is listened on again after this long,
    /// doubling up to `relisten_cap`.
    pub relisten_base: Duration,
    pub relisten_cap: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            server: None,
            relisten_base: Duration::from_secs(2),
            relisten_cap: Duration::from_secs(60),
        }
    }
}

impl RelayConfig {
    /// Errors: `Config` naming the first bound that is zero.
    pub fn validate(&self) -> Result<(), NetError> {
        if self.relisten_base.is_zero() || self.relisten_cap < self.relisten_base {
            return Err(NetError::Config(
                "relay: need 0 < relisten base <= cap".into(),
            ));
        }
        let Some(s) = &self.server else {
            return Ok(());
        };
        let counts = [
            s.max_reservations,
            s.max_reservations_per_peer,
            s.max_circuits,
            s.max_circuits_per_peer,
        ];
        let rates = [
            s.reservations_per_peer_per_min,
            s.reservations_per_ip_per_min,
            s.circuits_per_peer_per_min,
            s.circuits_per_ip_per_min,
        ];
        if counts.contains(&0)
            || rates.contains(&0)
            || s.max_circuit_bytes == 0
            || s.max_circuit_duration.is_zero()
            || s.reservation_duration.is_zero()
            // The relay protocol carries the circuit duration in seconds as a u32.
            || s.max_circuit_duration.as_secs() > u64::from(u32::MAX)
        {
            return Err(NetError::Config(
                "relay server: every bound must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// A bounded set of peers, oldest forgotten first.
#[derive(Debug, Default)]
struct PeerList {
    set: HashSet<PeerId>,
    order: VecDeque<PeerId>,
}

impl PeerList {
    fn insert(&mut self, p: PeerId) {
        if self.set.insert(p) {
            self.order.push_back(p);
            if self.order.len() > MAX_POLICY_PEERS {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    fn remove(&mut self, p: &PeerId) {
        if self.set.remove(p) {
            self.order.retain(|o| o != p);
        }
    }
}

/// Who may use this node as a relay, beyond the numeric bounds. Refused peers are held
/// in two tiers: `pinned` for keys with standing the operator gave (vouched for, or
/// blacklisted by hand: the node says which), `denied` for the rest. Keys are free, so
/// a thousand fresh keys can get themselves refused and push the oldest out of
/// `denied`, which only re-admits fresh keys (no worse than a new one); they can never
/// push anything out of `pinned`.
#[derive(Debug, Default)]
pub(crate) struct RelayPolicy {
    trusted_only: bool,
    allowed: PeerList,
    denied: PeerList,
    pinned: PeerList,
}

impl RelayPolicy {
    fn admits(&self, peer: &PeerId) -> bool {
        !self.denied.set.contains(peer)
            && !self.pinned.set.contains(peer)
            && (!self.trusted_only || self.allowed.set.contains(peer))
    }
}

/// Counters of relay and hole-punch use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// As a relay server: reservations accepted, denied (bounds, rate or policy), and
    /// circuits accepted, denied and closed.
    pub reservations_accepted: u64,
    pub reservations_denied: u64,
    pub circuits_accepted: u64,
    pub circuits_denied: u64,
    pub circuits_closed: u64,
    /// As a client: reservations made on relays (renewals included), relay listeners
    /// lost (then listened on again), circuits opened through relays either way.
    pub reservations_made: u64,
    pub relay_listeners_lost: u64,
    pub relayed_connections: u64,
    /// DCUtR: direct connections made from relayed ones, and attempts that failed.
    pub hole_punch_ok: u64,
    pub hole_punch_failed: u64,
    /// Sessions moved from a relayed to a direct connection (the session resumed).
    pub upgrades: u64,
    /// Hole-punch addresses a peer sent that were not dialled (outside the node's
    /// address rules, or past `PUNCH_ADDRS` in one attempt).
    pub punch_addrs_refused: u64,
}

/// Node-wide relay state: the policy and the counters.
#[derive(Debug)]
pub(crate) struct RelayState {
    pub(crate) policy: Mutex<RelayPolicy>,
    counters: [AtomicU64; 12],
    budget: Mutex<(u64, u32)>,
    origin: Instant,
}

/// Index of each counter in `RelayState::counters`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Count {
    ReservationsAccepted,
    ReservationsDenied,
    CircuitsAccepted,
    CircuitsDenied,
    CircuitsClosed,
    ReservationsMade,
    ListenersLost,
    RelayedConnections,
    HolePunchOk,
    HolePunchFailed,
    Upgrades,
    PunchAddrsRefused,
}

impl RelayState {
    pub(crate) fn new(cfg: &RelayConfig) -> Self {
        RelayState {
            policy: Mutex::new(RelayPolicy {
                trusted_only: cfg.server.as_ref().is_some_and(|s| s.trusted_only),
                ..RelayPolicy::default()
            }),
            counters: Default::default(),
            budget: Mutex::new((0, DENIAL_EVENTS_PER_SEC)),
            origin: Instant::now(),
        }
    }

    /// Circuits this relay serves now (every accepted one is reported closed once,
    /// whether its end closed it or its connection went).
    fn open_circuits(&self) -> u64 {
        self.get(Count::CircuitsAccepted)
            .saturating_sub(self.get(Count::CircuitsClosed))
    }

    pub(crate) fn count(&self, c: Count) {
        self.count_n(c, 1);
    }

    pub(crate) fn count_n(&self, c: Count, n: u64) {
        self.counters[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self, c: Count) -> u64 {
        self.counters[c as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn stats(&self) -> RelayStats {
        RelayStats {
            reservations_accepted: self.get(Count::ReservationsAccepted),
            reservations_denied: self.get(Count::ReservationsDenied),
            circuits_accepted: self.get(Count::CircuitsAccepted),
            circuits_denied: self.get(Count::CircuitsDenied),
            circuits_closed: self.get(Count::CircuitsClosed),
            reservations_made: self.get(Count::ReservationsMade),
            relay_listeners_lost: self.get(Count::ListenersLost),
            relayed_connections: self.get(Count::RelayedConnections),
            hole_punch_ok: self.get(Count::HolePunchOk),
            hole_punch_failed: self.get(Count::HolePunchFailed),
            upgrades: self.get(Count::Upgrades),
            punch_addrs_refused: self.get(Count::PunchAddrsRefused),
        }
    }

    /// Admit (`allow`) or refuse (`deny`) a peer as a relay user; `None` forgets it. A
    /// `pinned` refusal goes to the tier fresh keys cannot flush.
    pub(crate) fn set_access(&self, peer: PeerId, allow: Option<bool>, pinned: bool) {
        let mut p = lock(&self.policy);
        p.allowed.remove(&peer);
        p.denied.remove(&peer);
        p.pinned.remove(&peer);
        match allow {
            Some(true) => p.allowed.insert(peer),
            Some(false) if pinned => p.pinned.insert(peer),
            Some(false) => p.denied.insert(peer),
            None => {}
        }
    }

    /// One more denial event this second? (Denials are what a flood produces.)
    fn take_denial_event(&self) -> bool {
        let sec = self.origin.elapsed().as_secs();
        let mut b = lock(&self.budget);
        if b.0 != sec {
            *b = (sec, DENIAL_EVENTS_PER_SEC);
        }
        if b.1 == 0 {
            return false;
        }
        b.1 -= 1;
        true
    }
}

/// True for an address through a relay (`/p2p-circuit`).
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

fn per_minute(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// The relay server behaviour for `cfg`, with `state`'s policy checked on every
/// reservation and circuit (as one more of libp2p's rate limiters).
pub(crate) fn server(
    local: PeerId,
    cfg: &RelayServerConfig,
    state: &std::sync::Arc<RelayState>,
) -> relay::Behaviour {
    let minute = Duration::from_secs(60);
    let mut c = relay::Config {
        max_reservations: cfg.max_reservations,
        max_reservations_per_peer: cfg.max_reservations_per_peer,
        reservation_duration: cfg.reservation_duration,
        reservation_rate_limiters: Vec::new(),
        max_circuits: cfg.max_circuits,
        max_circuits_per_peer: cfg.max_circuits_per_peer,
        max_circuit_duration: cfg.max_circuit_duration,
        max_circuit_bytes: cfg.max_circuit_bytes,
        circuit_src_rate_limiters: Vec::new(),
    }
    .reservation_rate_per_peer(per_minute(cfg.reservations_per_peer_per_min), minute)
    .reservation_rate_per_ip(per_minute(cfg.reservations_per_ip_per_min), minute)
    .circuit_src_per_peer(per_minute(cfg.circuits_per_peer_per_min), minute)
    .circuit_src_per_ip(per_minute(cfg.circuits_per_ip_per_min), minute);
    // The policy first: a refused peer does not use up anyone's rate.
    let (s1, s2) = (state.clone(), state.clone());
    let strangers_max = (cfg.max_circuits - cfg.max_circuits / CIRCUIT_HEADROOM) as u64;
    c.reservation_rate_limiters.insert(
        0,
        Box::new(move |peer: PeerId, _: &Multiaddr, _: Instant| lock(&s1.policy).admits(&peer)),
    );
    c.circuit_src_rate_limiters.insert(
        0,
        Box::new(move |peer: PeerId, _: &Multiaddr, _: Instant| {
            let p = lock(&s2.policy);
            p.admits(&peer) && (p.allowed.set.contains(&peer) || s2.open_circuits() < strangers_max)
        }),
    );
    let mut b = relay::Behaviour::new(local, c);
    // Serve whether or not an external address was confirmed: the operator asked for
    // it (libp2p would otherwise wait for AutoNAT's say-so).
    b.set_status(Some(relay::Status::Enable));
    b
}

/// A relay server event: counted, and reported (denials under a budget).
pub(crate) fn on_server_event(state: &RelayState, waker: &Waker, ev: relay::Event) {
    use relay::Event as E;
    let (count, name, peer, outcome, other) = match ev {
        E::ReservationReqAccepted { src_peer_id, .. } => (
            Count::ReservationsAccepted,
            "relay_reservation",
            src_peer_id,
            "accepted",
            None,
        ),
        E::ReservationReqDenied { src_peer_id, .. } => (
            Count::ReservationsDenied,
            "relay_reservation",
            src_peer_id,
            "denied",
            None,
        ),
        E::CircuitReqAccepted {
            src_peer_id,
            dst_peer_id,
        } => (
            Count::CircuitsAccepted,
            "relay_circuit",
            src_peer_id,
            "accepted",
            Some(dst_peer_id),
        ),
        E::CircuitReqDenied {
            src_peer_id,
            dst_peer_id,
            ..
        } => (
            Count::CircuitsDenied,
            "relay_circuit",
            src_peer_id,
            "denied",
            Some(dst_peer_id),
        ),
        E::CircuitClosed {
            src_peer_id,
            dst_peer_id,
            ..
        } => (
            Count::CircuitsClosed,
            "relay_circuit",
            src_peer_id,
            "closed",
            Some(dst_peer_id),
        ),
        _ => return,
    };
    state.count(count);
    if outcome == "denied" && !state.take_denial_event() {
        return;
    }
    let mut fields = vec![
        ("peer", Field::Str(peer.to_base58())),
        ("role", "server".into()),
        ("outcome", outcome.into()),
    ];
    if let Some(dst) = other {
        fields.push(("dst", Field::Str(dst.to_base58())));
    }
    waker.emit(name, fields);
}

/// A relay client event: counted and reported.
pub(crate) fn on_client_event(state: &RelayState, waker: &Waker, ev: relay::client::Event) {
    use relay::client::Event as E;
    match ev {
        E::ReservationReqAccepted {
            relay_peer_id,
            renewal,
            ..
        } => {
            state.count(Count::ReservationsMade);
            if !renewal {
                waker.emit(
                    "relay_reservation",
                    vec![
                        ("peer", Field::Str(relay_peer_id.to_base58())),
                        ("role", "client".into()),
                        ("outcome", "accepted".into()),
                    ],
                );
            }
        }
        E::OutboundCircuitEstablished { .. } | E::InboundCircuitEstablished { .. } => {
            state.count(Count::RelayedConnections);
        }
    }
}

/// DCUtR whose hole-punch dials go only where the node's address rules let it dial.
/// libp2p-dcutr dials every address the relayed peer's CONNECT message carries (up to
/// its 4 KiB message: hundreds), as they are: a stranger holding a relayed connection
/// could point this node at its own loopback services, its LAN or the cloud metadata
/// service (169.254.169.254), once per punch attempt. Each DCUtR dial is checked when
/// the swarm asks the behaviours about it: if every address passes the book's rules
/// ([`crate::discovery::dht_may_dial`]: dialable, the node's loopback and private
/// scope, never link-local) and there are at most [`PUNCH_ADDRS`], it goes ahead
/// untouched; otherwise it is refused and dialled again with the addresses that pass,
/// at most `PUNCH_ADDRS` (same peer, same role, from the listen port as libp2p-dcutr
/// does), and a direct connection that results is reported as DCUtR's own would be.
pub(crate) struct GuardedDcutr {
    inner: dcutr::Behaviour,
    shared: std::sync::Arc<crate::shared::Shared>,
    /// DCUtR's own dials, until the swarm asks about their addresses.
    pending: HashSet<ConnectionId>,
    /// Dials made here with the checked addresses, until they connect or fail.
    redials: HashMap<ConnectionId, PeerId>,
    queued: VecDeque<ToSwarm<dcutr::Event, THandlerInEvent<dcutr::Behaviour>>>,
}

impl GuardedDcutr {
    pub(crate) fn new(local: PeerId, shared: &std::sync::Arc<crate::shared::Shared>) -> Self {
        GuardedDcutr {
            inner: dcutr::Behaviour::new(local),
            shared: shared.clone(),
            pending: HashSet::new(),
            redials: HashMap::new(),
            queued: VecDeque::new(),
        }
    }

    /// The addresses of a hole-punch dial to `peer` that may be dialled, at most
    /// `PUNCH_ADDRS`, and whether that is all of them.
    fn checked(&self, peer: &PeerId, addrs: &[Multiaddr]) -> (Vec<Multiaddr>, bool) {
        let scope = crate::discovery::Scope::of(&self.shared);
        let mut ok: Vec<Multiaddr> = Vec::new();
        for a in addrs {
            if let Some(a) = crate::discovery::dht_may_dial(a, peer, scope) {
                if !ok.contains(&a) {
                    ok.push(a);
                }
            }
        }
        let all = ok.len() == addrs.len() && ok.len() <= PUNCH_ADDRS;
        ok.truncate(PUNCH_ADDRS);
        (ok, all)
    }
}

impl NetworkBehaviour for GuardedDcutr {
    type ConnectionHandler = <dcutr::Behaviour as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = dcutr::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner
            .handle_established_inbound_connection(id, peer, local, remote)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let (true, Some(peer)) = (self.pending.remove(&id), peer) {
            let (ok, all) = self.checked(&peer, addresses);
            if !all {
                let refused = addresses.len().saturating_sub(ok.len()) as u64;
                self.shared.relay.count_n(Count::PunchAddrsRefused, refused);
                if !ok.is_empty() {
                    let mut opts = DialOpts::peer_id(peer)
                        .addresses(ok)
                        .condition(PeerCondition::Always);
                    if role == Endpoint::Listener {
                        opts = opts.override_role();
                    }
                    let opts = opts.build();
                    if self.redials.len() >= PUNCH_DIALS {
                        self.redials.clear();
                    }
                    self.redials.insert(opts.connection_id(), peer);
                    self.queued.push_back(ToSwarm::Dial { opts });
                }
                return Err(ConnectionDenied::new(PunchRefused(refused)));
            }
        }
        self.inner
            .handle_pending_outbound_connection(id, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner
            .handle_established_outbound_connection(id, peer, addr, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match &event {
            FromSwarm::ConnectionEstablished(e) => {
                if let Some(peer) = self.redials.remove(&e.connection_id) {
                    self.queued.push_back(ToSwarm::GenerateEvent(dcutr::Event {
                        remote_peer_id: peer,
                        result: Ok(e.connection_id),
                    }));
                }
            }
            FromSwarm::DialFailure(e) => {
                self.pending.remove(&e.connection_id);
                self.redials.remove(&e.connection_id);
            }
            _ => {}
        }
        self.inner.on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner.on_connection_handler_event(peer, id, event)
    }

    fn poll(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some(ev) = self.queued.pop_front() {
            return std::task::Poll::Ready(ev);
        }
        let ev = std::task::ready!(self.inner.poll(cx));
        if let ToSwarm::Dial { opts } = &ev {
            if self.pending.len() >= PUNCH_DIALS {
                self.pending.clear();
            }
            self.pending.insert(opts.connection_id());
        }
        std::task::Poll::Ready(ev)
    }
}

/// A hole-punch dial refused for its addresses (it is made again with those that pass).
#[derive(Debug)]
struct PunchRefused(u64);

impl std::fmt::Display for PunchRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} hole-punch address(es) outside the node's address rules or cap",
            self.0
        )
    }
}

impl std::error::Error for PunchRefused {}

/// A DCUtR outcome: counted and reported. Returns the direct connection, or the peer
/// the punch failed with.
pub(crate) fn on_dcutr_event(
    state: &RelayState,
    waker: &Waker,
    ev: dcutr::Event,
) -> Result<(PeerId, libp2p::swarm::ConnectionId), PeerId> {
    let peer = ev.remote_peer_id;
    match ev.result {
        Ok(conn) => {
            state.count(Count::HolePunchOk);
            waker.emit(
                "hole_punch",
                vec![
                    ("peer", Field::Str(peer.to_base58())),
                    ("outcome", "direct".into()),
                ],
            );
            Ok((peer, conn))
        }
        Err(e) => {
            state.count(Count::HolePunchFailed);
            waker.emit(
                "hole_punch",
                vec![
                    ("peer", Field::Str(peer.to_base58())),
                    ("outcome", "failed".into()),
                    ("error", Field::Str(crate::wake::error_text(&e))),
                ],
            );
            Err(peer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_lists_are_bounded_and_exclusive() {
        let st = RelayState::new(&RelayConfig {
            server: Some(RelayServerConfig {
                trusted_only: true,
                ..Default::default()
            }),
            ..Default::default()
        });
        let a = PeerId::random();
        assert!(
            !lock(&st.policy).admits(&a),
            "trusted_only admits no stranger"
        );
        st.set_access(a, Some(true), false);
        assert!(lock(&st.policy).admits(&a));
        st.set_access(a, Some(false), false);
        assert!(!lock(&st.policy).admits(&a), "denied wins, allow forgotten");
        st.set_access(a, None, false);
        for _ in 0..MAX_POLICY_PEERS + 10 {
            st.set_access(PeerId::random(), Some(false), false);
        }
        let p = lock(&st.policy);
        assert_eq!(p.denied.set.len(), MAX_POLICY_PEERS);
        assert_eq!(p.denied.order.len(), MAX_POLICY_PEERS);
    }

    #[test]
    fn open_policy_refuses_only_denied_peers() {
        let st = RelayState::new(&RelayConfig::default());
        let (a, b) = (PeerId::random(), PeerId::random());
        st.set_access(a, Some(false), false);
        assert!(!lock(&st.policy).admits(&a));
        assert!(lock(&st.policy).admits(&b));
    }

    #[test]
    fn fresh_key_churn_cannot_flush_a_pinned_refusal() {
        let st = RelayState::new(&RelayConfig::default());
        let (bad, churned) = (PeerId::random(), PeerId::random());
        st.set_access(bad, Some(false), true);
        st.set_access(churned, Some(false), false);
        for _ in 0..2 * MAX_POLICY_PEERS {
            st.set_access(PeerId::random(), Some(false), false);
        }
        let p = lock(&st.policy);
        assert!(!p.admits(&bad), "a pinned refusal outlives the churn");
        assert!(
            p.admits(&churned),
            "an unpinned one is flushed (a fresh key's)"
        );
        assert_eq!(p.denied.set.len(), MAX_POLICY_PEERS);
        drop(p);
        st.set_access(bad, None, false);
        assert!(lock(&st.policy).admits(&bad), "forgotten: both tiers");
    }

    #[test]
    fn validation() {
        assert!(RelayConfig::default().validate().is_ok());
        let mut c = RelayConfig {
            server: Some(RelayServerConfig::default()),
            ..Default::default()
        };
        assert!(c.validate().is_ok());
        if let Some(s) = c.server.as_mut() {
            s.max_circuit_bytes = 0;
        }
        assert!(c.validate().is_err());
        assert!(is_relayed(
            &"/ip4/1.2.3.4/tcp/1/p2p/12D3KooWGzbNmyJ6bJk5qGBfKJGoZH8q4ELtd4GqYXLGp6KJwM2m/p2p-circuit"
                .parse()
                .unwrap()
        ));
    }
}

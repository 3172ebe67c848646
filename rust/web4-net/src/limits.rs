//! Connection caps: how many connections the node holds, and how many are still in
//! their handshake, whoever opens them.
//!
//! Theory of operation: keys are free to mint, so a thousand fresh keys could each open
//! connections (and a stranger needs no key at all to hold a TCP connection in the
//! Noise handshake until the connect timeout); every connection costs a socket, a
//! task and buffers. [`Limits`] is a sub-behaviour of the swarm, consulted first on
//! every connection: at most `pending_incoming` inbound and `pending_outgoing` outbound
//! connections in their handshake, at most `established_incoming` inbound ones, at most
//! `established_per_peer` to one peer and `established_total` in all. Two exceptions,
//! both chosen by this node and not by whoever connects: the connections RTT itself
//! dials for a session (the application bounds those: `--min-peers`, `--peer`) are never
//! refused by the counts, only counted; and connections of *protected* peers (the
//! operator's `--peer` ids, and peers the node protects at run time: the ones its
//! operator trusts) skip the incoming, outbound-handshake and total caps, inbound and
//! outbound (a hole punch that upgrades a relayed session is an outbound dial RTT did
//! not make), so a flood that fills them does not lock out a configured or trusted peer
//! that reconnects. A peer's cap applies to
//! everyone. It is libp2p-connection-limits' design, written here because that crate
//! (0.7.0) keeps an empty entry for every PeerId that ever connected: with free keys, a
//! table that only grows.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint};
use libp2p::swarm::behaviour::{ConnectionEstablished, DialFailure, ListenFailure};
use libp2p::swarm::{
    dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

use crate::NetError;

/// Peers protected at run time at most (the node protects the peers its operator
/// trusts: a number the operator bounds; beyond it, new ones are not protected).
pub const MAX_PROTECTED: usize = 4096;

/// One source (an IPv4 address, an IPv6 /64) holds at most 1/`PENDING_SOURCES` of the
/// incoming handshake cap, and at least [`PENDING_PER_SOURCE_MIN`]: holding a connection
/// in its handshake needs no key, so without a share one host could hold every slot
/// (re-opening each as it times out) and keep everyone out, protected peers included
/// (who connects is unknown until Noise ends). Loopback is exempt: it is this machine.
pub const PENDING_SOURCES: usize = 8;
pub const PENDING_PER_SOURCE_MIN: usize = 2;

/// The caps (defaults: well above what a node with the default 32 sessions uses; the
/// relayed-then-direct upgrade holds 2 to 3 connections to one peer for a moment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    pub pending_incoming: u32,
    pub pending_outgoing: u32,
    pub established_incoming: u32,
    pub established_per_peer: u32,
    pub established_total: u32,
    /// Peers (the operator's `--peer` and `--relay` ids) whose connections skip the
    /// incoming, outbound-handshake and total caps.
    pub protected: Vec<PeerId>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            pending_incoming: 64,
            pending_outgoing: 64,
            established_incoming: 192,
            established_per_peer: 8,
            established_total: 256,
            protected: Vec::new(),
        }
    }
}

impl LimitsConfig {
    /// Errors: `Config` for a zero cap or fewer in all than incoming.
    pub fn validate(&self) -> Result<(), NetError> {
        let caps = [
            self.pending_incoming,
            self.pending_outgoing,
            self.established_incoming,
            self.established_per_peer,
            self.established_total,
        ];
        if caps.contains(&0) || self.established_total < self.established_incoming {
            return Err(NetError::Config(
                "connection limits: every cap must be positive, and the total at least the \
                 incoming cap"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    PendingIncoming,
    PendingOutgoing,
    EstablishedIncoming,
    EstablishedPerPeer,
    EstablishedTotal,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Exceeded::PendingIncoming => "too many incoming connections in their handshake",
            Exceeded::PendingOutgoing => "too many outgoing connections in their handshake",
            Exceeded::EstablishedIncoming => "too many incoming connections",
            Exceeded::EstablishedPerPeer => "too many connections to this peer",
            Exceeded::EstablishedTotal => "too many connections",
        })
    }
}

impl std::error::Error for Exceeded {}

impl Exceeded {
    /// Every cap, in the order of [`ConnectionsDenied`]'s fields.
    pub const ALL: [Exceeded; 5] = [
        Exceeded::PendingIncoming,
        Exceeded::PendingOutgoing,
        Exceeded::EstablishedIncoming,
        Exceeded::EstablishedPerPeer,
        Exceeded::EstablishedTotal,
    ];

    /// A short name (metrics labels, the binding's stats keys).
    pub fn name(self) -> &'static str {
        match self {
            Exceeded::PendingIncoming => "pending_in",
            Exceeded::PendingOutgoing => "pending_out",
            Exceeded::EstablishedIncoming => "established_in",
            Exceeded::EstablishedPerPeer => "per_peer",
            Exceeded::EstablishedTotal => "total",
        }
    }
}

/// Connections refused, by the cap that refused them (an operator tells a flood of
/// half-open sockets from one of fresh keys, or a peer opening too many).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionsDenied {
    pub pending_incoming: u64,
    pub pending_outgoing: u64,
    pub established_incoming: u64,
    pub established_per_peer: u64,
    pub established_total: u64,
}

impl ConnectionsDenied {
    pub fn get(&self, cap: Exceeded) -> u64 {
        match cap {
            Exceeded::PendingIncoming => self.pending_incoming,
            Exceeded::PendingOutgoing => self.pending_outgoing,
            Exceeded::EstablishedIncoming => self.established_incoming,
            Exceeded::EstablishedPerPeer => self.established_per_peer,
            Exceeded::EstablishedTotal => self.established_total,
        }
    }

    pub fn total(&self) -> u64 {
        Exceeded::ALL.iter().map(|&c| self.get(c)).sum()
    }
}

/// The denial counters, shared between the behaviour and `Node::stats`.
#[derive(Debug, Default)]
pub(crate) struct Denials([AtomicU64; 5]);

impl Denials {
    fn count(&self, cap: Exceeded) {
        self.0[cap as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ConnectionsDenied {
        let get = |c: Exceeded| self.0[c as usize].load(Ordering::Relaxed);
        ConnectionsDenied {
            pending_incoming: get(Exceeded::PendingIncoming),
            pending_outgoing: get(Exceeded::PendingOutgoing),
            established_incoming: get(Exceeded::EstablishedIncoming),
            established_per_peer: get(Exceeded::EstablishedPerPeer),
            established_total: get(Exceeded::EstablishedTotal),
        }
    }
}

/// The connection caps as a swarm sub-behaviour (no protocol of its own).
#[derive(Debug)]
pub(crate) struct Limits {
    cfg: LimitsConfig,
    protected: HashSet<PeerId>,
    /// Protected at run time (`Node::protect_peer`), at most [`MAX_PROTECTED`].
    protected_now: HashSet<PeerId>,
    /// With the source each came from (none: loopback, or no IP, e.g. relayed).
    pending_in: HashMap<ConnectionId, Option<IpAddr>>,
    /// Handshakes in flight per source (entries removed at 0: bounded by the cap).
    pending_sources: HashMap<IpAddr, usize>,
    pending_out: HashSet<ConnectionId>,
    established_in: HashSet<ConnectionId>,
    established_out: HashSet<ConnectionId>,
    /// Entries removed when their last connection closes (bounded by the total).
    per_peer: HashMap<PeerId, HashSet<ConnectionId>>,
    /// Outbound connections RTT dialled for a session, until established or failed.
    exempt: HashSet<ConnectionId>,
    denied: Arc<Denials>,
}

impl Limits {
    pub(crate) fn new(cfg: &LimitsConfig, denied: Arc<Denials>) -> Self {
        Limits {
            protected: cfg.protected.iter().copied().collect(),
            protected_now: HashSet::new(),
            cfg: cfg.clone(),
            pending_in: HashMap::new(),
            pending_sources: HashMap::new(),
            pending_out: HashSet::new(),
            established_in: HashSet::new(),
            established_out: HashSet::new(),
            per_peer: HashMap::new(),
            exempt: HashSet::new(),
            denied,
        }
    }

    /// `id` is a dial RTT makes for a session: counted, never refused by the counts
    /// (`false`: forget it, the dial did not start).
    pub(crate) fn exempt(&mut self, id: ConnectionId, on: bool) {
        if on {
            self.exempt.insert(id);
        } else {
            self.exempt.remove(&id);
        }
    }

    /// Protect `peer` (skip the incoming and total caps) or stop; `false` never
    /// unprotects a configured peer. Returns false when the run-time set is full.
    pub(crate) fn protect(&mut self, peer: PeerId, on: bool) -> bool {
        if !on {
            self.protected_now.remove(&peer);
            return true;
        }
        if self.protected_now.len() >= MAX_PROTECTED && !self.protected_now.contains(&peer) {
            return false;
        }
        self.protected_now.insert(peer);
        true
    }

    fn is_protected(&self, peer: &PeerId) -> bool {
        self.protected.contains(peer) || self.protected_now.contains(peer)
    }

    fn deny(&self, what: Exceeded) -> ConnectionDenied {
        self.denied.count(what);
        ConnectionDenied::new(what)
    }

    fn check(&self, cap: u32, now: usize, what: Exceeded) -> Result<(), ConnectionDenied> {
        if now >= cap as usize {
            return Err(self.deny(what));
        }
        Ok(())
    }

    /// A handshake ended (failed, refused or established): its source's slot is free.
    fn pending_in_done(&mut self, id: &ConnectionId) {
        if let Some(Some(ip)) = self.pending_in.remove(id) {
            if let Some(n) = self.pending_sources.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.pending_sources.remove(&ip);
                }
            }
        }
    }

    fn total(&self) -> usize {
        self.established_in.len() + self.established_out.len()
    }

    fn of_peer(&self, peer: &PeerId) -> usize {
        self.per_peer.get(peer).map_or(0, HashSet::len)
    }
}

impl NetworkBehaviour for Limits {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        // Who is connecting is unknown until Noise finishes: this cap is for everyone,
        // and each source gets a share of it.
        self.check(
            self.cfg.pending_incoming,
            self.pending_in.len(),
            Exceeded::PendingIncoming,
        )?;
        let source = source_of(remote);
        if let Some(ip) = source {
            let share =
                (self.cfg.pending_incoming as usize / PENDING_SOURCES).max(PENDING_PER_SOURCE_MIN);
            let held = self.pending_sources.get(&ip).copied().unwrap_or(0);
            self.check(share as u32, held, Exceeded::PendingIncoming)?;
            *self.pending_sources.entry(ip).or_insert(0) += 1;
        }
        self.pending_in.insert(id, source);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.pending_in_done(&id);
        self.check(
            self.cfg.established_per_peer,
            self.of_peer(&peer),
            Exceeded::EstablishedPerPeer,
        )?;
        if !self.is_protected(&peer) {
            self.check(
                self.cfg.established_incoming,
                self.established_in.len(),
                Exceeded::EstablishedIncoming,
            )?;
            self.check(
                self.cfg.established_total,
                self.total(),
                Exceeded::EstablishedTotal,
            )?;
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        // A protected peer's dials that RTT did not make (a hole punch: the upgrade of
        // its relayed session; the relay client's dial to it) are the node's own choice
        // too: Kademlia dials named by strangers must not crowd them out.
        let protected = peer.is_some_and(|p| self.is_protected(&p));
        if !self.exempt.contains(&id) && !protected {
            self.check(
                self.cfg.pending_outgoing,
                self.pending_out.len(),
                Exceeded::PendingOutgoing,
            )?;
        }
        self.pending_out.insert(id);
        Ok(Vec::new())
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.pending_out.remove(&id);
        if self.exempt.remove(&id) {
            return Ok(dummy::ConnectionHandler);
        }
        self.check(
            self.cfg.established_per_peer,
            self.of_peer(&peer),
            Exceeded::EstablishedPerPeer,
        )?;
        if !self.is_protected(&peer) {
            self.check(
                self.cfg.established_total,
                self.total(),
                Exceeded::EstablishedTotal,
            )?;
        }
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            }) => {
                match endpoint {
                    ConnectedPoint::Listener { .. } => self.established_in.insert(connection_id),
                    ConnectedPoint::Dialer { .. } => self.established_out.insert(connection_id),
                };
                self.per_peer
                    .entry(peer_id)
                    .or_default()
                    .insert(connection_id);
            }
            FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id,
                connection_id,
                ..
            }) => {
                self.established_in.remove(&connection_id);
                self.established_out.remove(&connection_id);
                if let Some(set) = self.per_peer.get_mut(&peer_id) {
                    set.remove(&connection_id);
                    if set.is_empty() {
                        self.per_peer.remove(&peer_id);
                    }
                }
            }
            FromSwarm::DialFailure(DialFailure { connection_id, .. }) => {
                self.pending_out.remove(&connection_id);
                self.exempt.remove(&connection_id);
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.pending_in_done(&connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// The source a connection comes from, for the per-source handshake share: its IPv4
/// address or IPv6 /64; none for loopback and for an address without an IP (relayed).
fn source_of(addr: &Multiaddr) -> Option<IpAddr> {
    use libp2p::multiaddr::Protocol;
    match addr.iter().next()? {
        Protocol::Ip4(ip) if !ip.is_loopback() => Some(IpAddr::V4(ip)),
        // (libp2p-tcp listens IPv6-only, but an IPv4 peer seen as ::ffff:a.b.c.d must
        // not share the /64 ::/64 with every other IPv4 peer)
        Protocol::Ip6(ip) if ip.to_ipv4_mapped().is_some() => ip.to_ipv4_mapped().map(IpAddr::V4),
        Protocol::Ip6(ip) if !ip.is_loopback() => {
            let s = ip.segments();
            Some(IpAddr::V6(Ipv6Addr::new(
                s[0], s[1], s[2], s[3], 0, 0, 0, 0,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(LimitsConfig::default().validate().is_ok());
        let bad = LimitsConfig {
            established_per_peer: 0,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = LimitsConfig {
            established_total: 10,
            established_incoming: 11,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn each_denial_is_counted_under_its_cap() {
        let cfg = LimitsConfig {
            pending_incoming: 1,
            pending_outgoing: 1,
            established_incoming: 1,
            established_per_peer: 1,
            established_total: 2,
            protected: Vec::new(),
        };
        let denied = Arc::new(Denials::default());
        let mut l = Limits::new(&cfg, denied.clone());
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let id = ConnectionId::new_unchecked;
        let (a, b, c, d) = (
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
        );
        let established = |l: &mut Limits, peer, i, point: &ConnectedPoint| {
            l.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id: peer,
                connection_id: id(i),
                endpoint: point,
                failed_addresses: &[],
                other_established: 0,
            }));
        };
        let listener = ConnectedPoint::Listener {
            local_addr: addr.clone(),
            send_back_addr: addr.clone(),
        };
        let dialer = ConnectedPoint::Dialer {
            address: addr.clone(),
            role_override: Endpoint::Dialer,
            port_use: PortUse::New,
        };
        // pending_in: one handshake held, the second refused
        assert!(l
            .handle_pending_inbound_connection(id(0), &addr, &addr)
            .is_ok());
        assert!(l
            .handle_pending_inbound_connection(id(1), &addr, &addr)
            .is_err());
        // pending_out: likewise
        let out = |l: &mut Limits, i| {
            l.handle_pending_outbound_connection(id(i), None, &[], Endpoint::Dialer)
        };
        assert!(out(&mut l, 2).is_ok());
        assert!(out(&mut l, 3).is_err());
        // established_in: a's inbound connection fills the incoming cap, b's is refused
        assert!(l
            .handle_established_inbound_connection(id(0), a, &addr, &addr)
            .is_ok());
        established(&mut l, a, 0, &listener);
        assert!(l
            .handle_pending_inbound_connection(id(4), &addr, &addr)
            .is_ok());
        assert!(l
            .handle_established_inbound_connection(id(4), b, &addr, &addr)
            .is_err());
        // per_peer: a second connection to a
        let est_out = |l: &mut Limits, i, peer| {
            l.handle_established_outbound_connection(
                id(i),
                peer,
                &addr,
                Endpoint::Dialer,
                PortUse::New,
            )
        };
        assert!(est_out(&mut l, 2, a).is_err());
        // total: an RTT session dial (counted, never refused) fills it; c is refused
        l.exempt(id(6), true);
        assert!(out(&mut l, 6).is_ok());
        assert!(est_out(&mut l, 6, d).is_ok());
        established(&mut l, d, 6, &dialer);
        assert!(out(&mut l, 5).is_ok());
        assert!(est_out(&mut l, 5, c).is_err());
        let got = denied.snapshot();
        for cap in Exceeded::ALL {
            assert_eq!(got.get(cap), 1, "{}", cap.name());
        }
        assert_eq!(got.total(), 5);
    }

    #[test]
    fn a_protected_peer_s_own_outbound_connections_skip_the_total_and_pending_caps() {
        // The relayed->direct upgrade of a trusted peer is a DCUtR dial (outbound, not one
        // RTT dialled), and a node behind NAT reaches its relay by the relay client's
        // dial: neither is exempt. A flood of inbound connections plus Kademlia's dials
        // must not keep them out.
        let t = PeerId::random();
        let cfg = LimitsConfig {
            pending_incoming: 4,
            pending_outgoing: 1,
            established_incoming: 1,
            established_per_peer: 8,
            established_total: 2,
            protected: vec![t],
        };
        let mut l = Limits::new(&cfg, Arc::default());
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let id = ConnectionId::new_unchecked;
        let listener = ConnectedPoint::Listener {
            local_addr: addr.clone(),
            send_back_addr: addr.clone(),
        };
        let dialer = ConnectedPoint::Dialer {
            address: addr.clone(),
            role_override: Endpoint::Listener,
            port_use: PortUse::Reuse,
        };
        let up = |l: &mut Limits, peer, i, point: &ConnectedPoint| {
            l.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id: peer,
                connection_id: id(i),
                endpoint: point,
                failed_addresses: &[],
                other_established: 0,
            }));
        };
        // a stranger's inbound connection and a Kademlia dial fill the total (2)
        let s = PeerId::random();
        l.handle_pending_inbound_connection(id(0), &addr, &addr)
            .unwrap();
        let _ = l
            .handle_established_inbound_connection(id(0), s, &addr, &addr)
            .unwrap();
        up(&mut l, s, 0, &listener);
        let k = PeerId::random();
        l.handle_pending_outbound_connection(id(1), Some(k), &[], Endpoint::Dialer)
            .unwrap();
        let _ = l
            .handle_established_outbound_connection(id(1), k, &addr, Endpoint::Dialer, PortUse::New)
            .unwrap();
        up(&mut l, k, 1, &dialer);
        // another Kademlia dial holds the outbound handshake cap (1)
        l.handle_pending_outbound_connection(id(2), None, &[], Endpoint::Dialer)
            .unwrap();
        // a stranger's hole punch is refused; the protected peer's goes through
        let x = PeerId::random();
        assert!(l
            .handle_pending_outbound_connection(id(3), Some(x), &[], Endpoint::Listener)
            .is_err());
        l.handle_pending_outbound_connection(id(4), Some(t), &[], Endpoint::Listener)
            .expect("a protected peer's dial past the outbound handshake cap");
        let _ = l
            .handle_established_outbound_connection(
                id(4),
                t,
                &addr,
                Endpoint::Listener,
                PortUse::Reuse,
            )
            .expect("a protected peer's direct connection past the total cap");
    }

    #[test]
    fn one_host_cannot_hold_every_handshake_slot() {
        // No key is needed to hold a TCP connection in its handshake: without a share per
        // source, one host holding `pending_incoming` silent sockets (re-opened as each
        // times out) would keep everyone out, configured and trusted peers included.
        let denied = Arc::new(Denials::default());
        let mut l = Limits::new(&LimitsConfig::default(), denied.clone()); // 64 pending
        let local: Multiaddr = "/ip4/192.0.2.1/tcp/4001".parse().unwrap();
        let from = |ip: &str, port: u16| -> Multiaddr {
            let proto = if ip.contains(':') { "ip6" } else { "ip4" };
            format!("/{proto}/{ip}/tcp/{port}").parse().unwrap()
        };
        let n = std::cell::Cell::new(0);
        let next = || {
            n.set(n.get() + 1);
            ConnectionId::new_unchecked(n.get())
        };
        let try_in = |l: &mut Limits, addr: &Multiaddr| {
            l.handle_pending_inbound_connection(next(), &local, addr)
                .is_ok()
        };
        let held = (0..64)
            .filter(|i| try_in(&mut l, &from("203.0.113.9", 1000 + i)))
            .count();
        assert_eq!(
            held,
            PENDING_PER_SOURCE_MIN.max(64 / PENDING_SOURCES),
            "one IPv4 host"
        );
        // an IPv6 host's whole /64 is one source (it has 2^64 addresses to spare)
        let held6 = (0..64u16)
            .filter(|i| try_in(&mut l, &from(&format!("2001:db8:0:1::{i:x}"), 1000)))
            .count();
        assert_eq!(held6, held, "one IPv6 /64");
        // everyone else still gets in
        assert!(try_in(&mut l, &from("198.51.100.7", 5000)));
        assert!(try_in(&mut l, &from("2001:db8:0:2::1", 5000)));
        // IPv4 peers seen as IPv4-mapped IPv6 addresses are each their own source
        for i in 0..16 {
            assert!(try_in(&mut l, &from(&format!("::ffff:198.51.{i}.1"), 5000)));
        }
        // loopback is this machine (local nodes, tests, benches): the global cap only
        let mut l = Limits::new(&LimitsConfig::default(), Arc::default());
        let lo = (0..64)
            .filter(|i| try_in(&mut l, &from("127.0.0.1", 2000 + i)))
            .count();
        assert_eq!(lo, 64);
        // a released slot is the source's again
        let mut l = Limits::new(&LimitsConfig::default(), Arc::default());
        let a = from("203.0.113.9", 1);
        let ids: Vec<ConnectionId> = (0..64)
            .map(|_| next())
            .filter(|&i| l.handle_pending_inbound_connection(i, &local, &a).is_ok())
            .collect();
        assert!(!try_in(&mut l, &a));
        l.on_swarm_event(FromSwarm::ListenFailure(ListenFailure {
            local_addr: &local,
            send_back_addr: &a,
            error: &libp2p::swarm::ListenError::Aborted,
            connection_id: ids[0],
            peer_id: None,
        }));
        assert!(try_in(&mut l, &a));
        assert!(l.pending_sources.len() == 1);
    }

    #[test]
    fn per_peer_entries_do_not_outlive_their_connections() {
        let mut l = Limits::new(&LimitsConfig::default(), Arc::default());
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let point = ConnectedPoint::Listener {
            local_addr: addr.clone(),
            send_back_addr: addr.clone(),
        };
        for i in 0..1000 {
            let (peer, id) = (PeerId::random(), ConnectionId::new_unchecked(i));
            l.handle_pending_inbound_connection(id, &addr, &addr)
                .unwrap();
            let _ = l
                .handle_established_inbound_connection(id, peer, &addr, &addr)
                .unwrap();
            l.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id: peer,
                connection_id: id,
                endpoint: &point,
                failed_addresses: &[],
                other_established: 0,
            }));
            l.on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id: peer,
                connection_id: id,
                endpoint: &point,
                cause: None,
                remaining_established: 0,
            }));
        }
        assert!(l.per_peer.is_empty() && l.established_in.is_empty());
        assert!(l.pending_in.is_empty());
    }
}

//! Peer discovery: mDNS on the local network, Kademlia (our own protocol id) beyond it.
//!
//! Theory of operation: discovery only *names* peers; it never opens an RTT session,
//! and it grants no trust. [`Discovery`] is a sub-behaviour of the swarm with two
//! optional parts: libp2p's mDNS (tokio) and a Kademlia DHT speaking
//! [`KAD_PROTOCOL`], in server mode once the node listens. What they report lands in a
//! [`Book`]: at most `max_peers` peers (least recently heard of evicted first), each with
//! at most `max_addrs` dialable addresses (`/ip4|ip6/.../tcp/...`, loopback, unspecified
//! and multicast refused): mDNS answers, the peers a lookup found, and the peers the DHT's
//! routing table takes in. The application reads the book (`Node::discovered`) and
//! decides whom to dial (the Python node's watermarks); a `peer_discovered` event says
//! what changed, at most [`EVENTS_PER_SEC`] a second (the rest are counted, never
//! queued: a flood must not push the transport's own events out of the bounded queue).
//!
//! Bounds against a flood of fresh keys (mDNS answers or DHT records): the book is a
//! fixed-size LRU; libp2p-mdns keeps every (peer, address) it heard until the record's
//! TTL (chosen by the sender) with no bound of its own, so when its table passes
//! [`MDNS_TABLE_CAP`] the mDNS behaviour is rebuilt empty (counted: `mdns_resets`);
//! Kademlia stores no records for others (`StoreInserts::FilterBoth`: inbound PUTs are
//! dropped), its routing table is k-buckets, the addresses we feed it per peer are
//! replaced (never accumulated), its own dials go only where the book would let the node
//! dial (`GuardedKad`), and at most [`MAX_LOOKUPS`] lookups run at once, each
//! bounded by the lookup timeout with Kademlia's parallelism (3): the dials a lookup
//! makes are bounded by time and parallelism, and discovered peers are dialled for RTT
//! only by the application, under its own watermark.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{kad, mdns, Multiaddr, PeerId, StreamProtocol};
use web4_proto::session::OpId;

use crate::wake::{Field, Waker};
use crate::NetError;

/// Our Kademlia protocol id: a DHT of web4 nodes only (not the public IPFS DHT).
pub const KAD_PROTOCOL: &str = "/web4/kad/1.0.0";
/// libp2p-mdns's own table is rebuilt empty beyond this many (peer, address) entries.
pub const MDNS_TABLE_CAP: usize = 1024;
/// Lookups running at once (more: `Backpressure`).
pub const MAX_LOOKUPS: usize = 8;
/// `peer_discovered` events emitted per second at most (the rest are counted).
pub const EVENTS_PER_SEC: u32 = 32;

/// How a peer was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Mdns,
    Dht,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mdns => "mdns",
            Source::Dht => "dht",
        }
    }
}

/// Discovery settings (part of [`crate::Config`]).
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// Announce and listen on the local network (mDNS, IPv4).
    pub mdns: bool,
    /// Run the Kademlia DHT (server mode once listening).
    pub dht: bool,
    /// Peers the book remembers (LRU).
    pub max_peers: usize,
    /// Addresses kept per peer.
    pub max_addrs: usize,
    /// Bound of one Kademlia query (a lookup, a bootstrap step).
    pub lookup_timeout: Duration,
    /// Accept loopback addresses from discovery (nodes on one machine, tests). Off: a
    /// LAN or DHT peer cannot make us dial our own loopback services.
    pub allow_loopback: bool,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            mdns: false,
            dht: false,
            max_peers: 256,
            max_addrs: 8,
            lookup_timeout: Duration::from_secs(10),
            allow_loopback: false,
        }
    }
}

impl DiscoveryConfig {
    /// Errors: `Config` for a zero bound.
    pub fn validate(&self) -> Result<(), NetError> {
        if self.max_peers == 0 || self.max_addrs == 0 || self.lookup_timeout.is_zero() {
            return Err(NetError::Config(
                "discovery: max_peers, max_addrs and lookup_timeout must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// The swarm's discovery part (each half off unless configured).
#[derive(NetworkBehaviour)]
pub(crate) struct Discovery {
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) kad: Toggle<GuardedKad>,
}

/// Kademlia whose own dials go only where the book would let the node dial: a query
/// dials the addresses other peers' answers carry, and libp2p-kad takes them as they are
/// (loopback, private, link-local, any port), so a stranger's FIND_NODE answer could
/// send this node to its own loopback services, its LAN or the cloud metadata service.
/// The addresses kad returns for a dial pass [`dialable`] and the node's [`Scope`]
/// (link-local never), except the operator's `--bootstrap` addresses.
pub(crate) struct GuardedKad {
    inner: kad::Behaviour<kad::store::MemoryStore>,
    shared: std::sync::Arc<crate::shared::Shared>,
    /// The operator's bootstrap addresses (without `/p2p`): always dialable.
    bootstrap: std::collections::HashSet<Multiaddr>,
}

impl std::ops::Deref for GuardedKad {
    type Target = kad::Behaviour<kad::store::MemoryStore>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for GuardedKad {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

/// Whether the node may dial `addr` of `peer` for the DHT, by where it listens.
pub(crate) fn dht_may_dial(addr: &Multiaddr, peer: &PeerId, scope: Scope) -> Option<Multiaddr> {
    let a = dialable(addr, peer, scope.loopback)?;
    (scope.private || !is_private(&a))
        .then_some(a)
        .filter(|a| !is_link_local(a))
}

impl libp2p::swarm::NetworkBehaviour for GuardedKad {
    type ConnectionHandler =
        <kad::Behaviour<kad::store::MemoryStore> as libp2p::swarm::NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = kad::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        id: libp2p::swarm::ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), libp2p::swarm::ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: libp2p::swarm::ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        self.inner
            .handle_established_inbound_connection(id, peer, local, remote)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: libp2p::swarm::ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: libp2p::core::Endpoint,
    ) -> Result<Vec<Multiaddr>, libp2p::swarm::ConnectionDenied> {
        let want = self
            .inner
            .handle_pending_outbound_connection(id, peer, addresses, role)?;
        let Some(peer) = peer else {
            return Ok(want);
        };
        let scope = Scope::of(&self.shared);
        let mut out = Vec::with_capacity(want.len());
        for a in want {
            let bare: Multiaddr = a
                .iter()
                .take_while(|p| !matches!(p, Protocol::P2p(_)))
                .collect();
            if self.bootstrap.contains(&bare) {
                out.push(a);
            } else if let Some(ok) = dht_may_dial(&a, &peer, scope) {
                out.push(ok);
            }
        }
        Ok(out)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: libp2p::swarm::ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: libp2p::core::Endpoint,
        port_use: libp2p::core::transport::PortUse,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        self.inner
            .handle_established_outbound_connection(id, peer, addr, role, port_use)
    }

    fn on_swarm_event(&mut self, event: libp2p::swarm::FromSwarm) {
        self.inner.on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: libp2p::swarm::ConnectionId,
        event: libp2p::swarm::THandlerOutEvent<Self>,
    ) {
        self.inner.on_connection_handler_event(peer, id, event)
    }

    fn poll(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<libp2p::swarm::ToSwarm<Self::ToSwarm, libp2p::swarm::THandlerInEvent<Self>>>
    {
        self.inner.poll(cx)
    }
}

impl Discovery {
    /// mDNS that cannot start (no UDP port 5353, no interface watcher: a sandbox) is
    /// left off and reported (`mdns_unavailable`): the node runs without it.
    pub(crate) fn new(
        local: PeerId,
        cfg: &DiscoveryConfig,
        waker: &Waker,
        shared: &std::sync::Arc<crate::shared::Shared>,
    ) -> Self {
        let mdns = if cfg.mdns {
            match new_mdns(local) {
                Ok(m) => Some(m),
                Err(e) => {
                    waker.emit("mdns_unavailable", vec![("error", e.to_string().into())]);
                    None
                }
            }
        } else {
            None
        };
        let kad = cfg.dht.then(|| {
            let mut c = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
            c.set_query_timeout(cfg.lookup_timeout)
                // Nobody stores records or provider entries with us: only routing.
                .set_record_filtering(kad::StoreInserts::FilterBoth)
                .set_parallelism(NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN));
            let store = kad::store::MemoryStore::with_config(
                local,
                kad::store::MemoryStoreConfig {
                    max_records: 16,
                    max_value_bytes: 1024,
                    max_providers_per_key: 4,
                    max_provided_keys: 16,
                },
            );
            let mut k = kad::Behaviour::with_config(local, store, c);
            // Client until we listen (`listening`): a node that cannot be dialled must
            // not be put in others' routing tables.
            k.set_mode(Some(kad::Mode::Client));
            GuardedKad {
                inner: k,
                shared: shared.clone(),
                bootstrap: std::collections::HashSet::new(),
            }
        });
        Discovery {
            mdns: mdns.into(),
            kad: kad.into(),
        }
    }
}

fn new_mdns(local: PeerId) -> Result<mdns::tokio::Behaviour, NetError> {
    mdns::tokio::Behaviour::new(mdns::Config::default(), local)
        .map_err(|e| NetError::Transport(format!("mDNS: {}", crate::wake::error_text(&e))))
}

/// `addr` as a dialable address (its `/p2p/` part dropped; a `/p2p/` naming another
/// peer refuses it): `/ip4|ip6/<unicast, not loopback or unspecified>/tcp/<port>`.
pub fn dialable(addr: &Multiaddr, peer: &PeerId, loopback: bool) -> Option<Multiaddr> {
    let mut it = addr.iter();
    let ip: IpAddr = match it.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    let Protocol::Tcp(port) = it.next()? else {
        return None;
    };
    match it.next() {
        None => {}
        Some(Protocol::P2p(p)) if p == *peer && it.next().is_none() => {}
        Some(_) => return None,
    }
    let bad = (ip.is_loopback() && !loopback)
        || ip.is_unspecified()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if bad || port == 0 {
        return None;
    }
    Some(Multiaddr::empty().with(ip.into()).with(Protocol::Tcp(port)))
}

#[derive(Debug)]
struct Entry {
    addrs: Vec<Multiaddr>,
    source: Source,
    stamp: u64,
}

/// The discovered peers: at most `max_peers` (least recently heard of evicted), at most
/// `max_addrs` addresses each (newest first).
#[derive(Debug)]
pub struct Book {
    entries: HashMap<PeerId, Entry>,
    max_peers: usize,
    max_addrs: usize,
    loopback: bool,
    clock: u64,
    /// Event budget: `(second it counts, events left in it)`.
    budget: (u64, u32),
    origin: Instant,
    pub(crate) suppressed: u64,
    pub(crate) evicted: u64,
}

/// A private-use address: RFC 1918, shared (100.64/10), link-local, IPv6 unique-local
/// and link-local.
pub fn is_private(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => {
            ip.is_private()
                || ip.is_link_local()
                || (ip.octets()[0] == 100 && ip.octets()[1] & 0xc0 == 64)
        }
        Some(Protocol::Ip6(ip)) => {
            let first = ip.segments()[0];
            first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80
        }
        _ => false,
    }
}

/// A link-local address (169.254/16, fe80::/10): meaningful on one link only, so never
/// taken from a DHT record or identify (it names whatever answers on *our* link: the
/// cloud metadata service at 169.254.169.254, a router); mDNS answers, from the link
/// itself, keep theirs.
pub fn is_link_local(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_link_local(),
        Some(Protocol::Ip6(ip)) => ip.segments()[0] & 0xffc0 == 0xfe80,
        _ => false,
    }
}

/// What one report changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Nothing,
    NewPeer,
    NewAddr,
}

impl Book {
    pub fn new(cfg: &DiscoveryConfig) -> Self {
        Book {
            entries: HashMap::new(),
            max_peers: cfg.max_peers,
            max_addrs: cfg.max_addrs,
            loopback: cfg.allow_loopback,
            clock: 0,
            budget: (0, EVENTS_PER_SEC),
            origin: Instant::now(),
            suppressed: 0,
            evicted: 0,
        }
    }

    /// Record `peer` at `addrs` (already filtered by [`dialable`]), found by `source`.
    pub fn add(&mut self, peer: PeerId, addrs: &[Multiaddr], source: Source) -> Change {
        if addrs.is_empty() {
            return Change::Nothing;
        }
        self.clock += 1;
        let stamp = self.clock;
        if !self.entries.contains_key(&peer) && self.entries.len() >= self.max_peers {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.stamp)
                .map(|(p, _)| *p);
            if let Some(p) = oldest {
                self.entries.remove(&p);
                self.evicted += 1;
            }
        }
        let max = self.max_addrs;
        let mut change = Change::Nothing;
        let e = self.entries.entry(peer).or_insert_with(|| {
            change = Change::NewPeer;
            Entry {
                addrs: Vec::new(),
                source,
                stamp,
            }
        });
        e.stamp = stamp;
        for a in addrs.iter().take(max) {
            if let Some(i) = e.addrs.iter().position(|x| x == a) {
                e.addrs.remove(i);
            } else if change == Change::Nothing {
                change = Change::NewAddr;
            }
            e.addrs.insert(0, a.clone());
        }
        e.addrs.truncate(max);
        change
    }

    pub fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.entries
            .get(peer)
            .map(|e| e.addrs.clone())
            .unwrap_or_default()
    }

    /// Forget `peer` (it was dialled and turned out to be someone else, or is gone).
    pub fn forget(&mut self, peer: &PeerId) {
        self.entries.remove(peer);
    }

    /// Every peer, most recently heard of first.
    pub fn snapshot(&self) -> Vec<(PeerId, Vec<Multiaddr>, Source)> {
        let mut v: Vec<_> = self.entries.iter().collect();
        v.sort_by_key(|(_, e)| std::cmp::Reverse(e.stamp));
        v.into_iter()
            .map(|(p, e)| (*p, e.addrs.clone(), e.source))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an event may be emitted now (else it is counted as suppressed).
    fn take_event(&mut self) -> bool {
        let sec = self.origin.elapsed().as_secs();
        if self.budget.0 != sec {
            self.budget = (sec, EVENTS_PER_SEC);
        }
        if self.budget.1 == 0 {
            self.suppressed += 1;
            return false;
        }
        self.budget.1 -= 1;
        true
    }

    /// Record and report (`peer_discovered`, rate-limited) what a source found.
    ///
    /// `private_ok`: keep private addresses (see [`is_private`]). mDNS answers always
    /// may (the LAN, and libp2p-mdns puts the sender's own address in); DHT records only
    /// when this node itself listens on a private address: a node on the public
    /// internet is not sent by a stranger's record to probe hosts of its own LAN.
    pub(crate) fn report(
        &mut self,
        waker: &Waker,
        peer: PeerId,
        raw: impl IntoIterator<Item = Multiaddr>,
        source: Source,
        scope: Scope,
    ) {
        let Scope {
            private: private_ok,
            loopback,
        } = scope;
        let addrs: Vec<Multiaddr> = raw
            .into_iter()
            .filter_map(|a| dialable(&a, &peer, self.loopback || loopback))
            .filter(|a| private_ok || source == Source::Mdns || !is_private(a))
            .filter(|a| source == Source::Mdns || !is_link_local(a))
            .take(self.max_addrs)
            .collect();
        if self.add(peer, &addrs, source) == Change::Nothing || !self.take_event() {
            return;
        }
        let text: Vec<String> = self.addrs_of(&peer).iter().map(|a| a.to_string()).collect();
        waker.emit(
            "peer_discovered",
            vec![
                ("peer", Field::Str(peer.to_base58())),
                ("addrs", Field::Str(text.join(" "))),
                ("source", source.as_str().into()),
            ],
        );
    }
}

/// Which addresses of others this node may be sent to dial, by where it listens itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scope {
    /// It listens on a private address: DHT records may name private addresses.
    pub(crate) private: bool,
    /// It listens on loopback only (or `allow_loopback`): loopback addresses of others
    /// are kept. Such a node is reachable from this machine only, so a record naming a
    /// loopback address can only point it at this machine's own nodes.
    pub(crate) loopback: bool,
}

impl Scope {
    /// Everything (mDNS answers: the LAN's, with the sender's own address).
    pub(crate) const LAN: Scope = Scope {
        private: true,
        loopback: false,
    };

    pub(crate) fn of(shared: &crate::shared::Shared) -> Scope {
        let listen = crate::shared::lock(&shared.listen_addrs);
        let is_loopback = |a: &Multiaddr| match a.iter().next() {
            Some(Protocol::Ip4(ip)) => ip.is_loopback(),
            Some(Protocol::Ip6(ip)) => ip.is_loopback(),
            _ => false,
        };
        Scope {
            private: listen.iter().any(is_private),
            loopback: shared.cfg.discovery.allow_loopback
                || (!listen.is_empty() && listen.iter().all(is_loopback)),
        }
    }
}

/// Lookups under way, by Kademlia query.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    pending: HashMap<kad::QueryId, (PeerId, OpId)>,
}

impl Lookups {
    pub(crate) fn full(&self) -> bool {
        self.pending.len() >= MAX_LOOKUPS
    }

    pub(crate) fn start(&mut self, q: kad::QueryId, peer: PeerId, op: OpId) {
        self.pending.insert(q, (peer, op));
    }

    pub(crate) fn finish(&mut self, q: &kad::QueryId) -> Option<(PeerId, OpId)> {
        self.pending.remove(q)
    }
}

/// Kademlia learns a connected peer's listen addresses from identify (when it speaks
/// our DHT): replaced, not accumulated, so a peer re-sending identify cannot grow them.
/// The same [`Scope`] as the book's: what this node could dial, by where it listens.
pub(crate) fn on_identify(
    d: &mut Discovery,
    shared: &crate::shared::Shared,
    peer: PeerId,
    info: &libp2p::identify::Info,
) {
    let Some(kad) = d.kad.as_mut() else {
        return;
    };
    if !info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL) {
        return;
    }
    let scope = Scope::of(shared);
    let addrs: Vec<Multiaddr> = info
        .listen_addrs
        .iter()
        .filter_map(|a| dialable(a, &peer, scope.loopback))
        .filter(|a| scope.private || !is_private(a))
        .filter(|a| !is_link_local(a))
        .take(shared.cfg.discovery.max_addrs)
        .collect();
    if addrs.is_empty() {
        return;
    }
    kad.remove_peer(&peer);
    for a in addrs {
        kad.add_address(&peer, a);
    }
}

/// The node listens: become a DHT server (others may route through us).
pub(crate) fn on_listening(d: &mut Discovery) {
    if let Some(kad) = d.kad.as_mut() {
        kad.set_mode(Some(kad::Mode::Server));
    }
}

/// Seed Kademlia with `peer` at `addr` and (re)start its bootstrap.
///
/// Errors: `Config` when the DHT is off or the address is not dialable.
pub(crate) fn bootstrap(d: &mut Discovery, peer: PeerId, addr: &Multiaddr) -> Result<(), NetError> {
    let Some(kad) = d.kad.as_mut() else {
        return Err(NetError::Config("bootstrap: the DHT is off".into()));
    };
    // A bootstrap address is the operator's: loopback is allowed here (one machine).
    let mut clean = Multiaddr::empty();
    for p in addr.iter() {
        match p {
            Protocol::P2p(_) => break,
            p => clean.push(p),
        }
    }
    kad.bootstrap.insert(clean.clone());
    kad.add_address(&peer, clean);
    let _ = kad.bootstrap();
    Ok(())
}

/// Start looking `peer` up; the operation finishes with its number of addresses.
///
/// Errors: `Config` when the DHT is off; `Backpressure` with [`MAX_LOOKUPS`] running.
pub(crate) fn lookup(
    d: &mut Discovery,
    lookups: &mut Lookups,
    peer: PeerId,
    op: OpId,
) -> Result<(), NetError> {
    let Some(kad) = d.kad.as_mut() else {
        return Err(NetError::Config("lookup: the DHT is off".into()));
    };
    if lookups.full() {
        return Err(NetError::Backpressure(format!(
            "{MAX_LOOKUPS} lookups are already running: try again"
        )));
    }
    let q = kad.get_closest_peers(peer);
    lookups.start(q, peer, op);
    Ok(())
}

/// An mDNS or Kademlia event: record what was found, finish lookups.
pub(crate) fn on_event(
    d: &mut Discovery,
    lookups: &mut Lookups,
    shared: &crate::shared::Shared,
    local: PeerId,
    ev: DiscoveryEvent,
) {
    match ev {
        DiscoveryEvent::Mdns(mdns::Event::Discovered(found)) => {
            {
                let mut book = crate::shared::lock(&shared.book);
                for (peer, addr) in found {
                    book.report(&shared.waker, peer, [addr], Source::Mdns, Scope::LAN);
                }
            }
            let over = d
                .mdns
                .as_mut()
                .is_some_and(|m| m.discovered_nodes().len() > MDNS_TABLE_CAP);
            if over {
                // libp2p-mdns keeps every (peer, address) until its sender-chosen TTL:
                // start it afresh rather than let a flood grow it.
                if let Ok(m) = new_mdns(local) {
                    d.mdns = Some(m).into();
                    shared
                        .mdns_resets
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        DiscoveryEvent::Mdns(mdns::Event::Expired(_)) => {}
        DiscoveryEvent::Kad(kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        }) => {
            let peers = match result {
                kad::QueryResult::GetClosestPeers(Ok(ok)) => ok.peers,
                kad::QueryResult::GetClosestPeers(Err(kad::GetClosestPeersError::Timeout {
                    peers,
                    ..
                })) => peers,
                _ => return,
            };
            let scope = Scope::of(shared);
            let mut book = crate::shared::lock(&shared.book);
            for p in peers.into_iter().take(book.max_peers) {
                if p.peer_id != local {
                    book.report(&shared.waker, p.peer_id, p.addrs, Source::Dht, scope);
                }
            }
            if !step.last {
                return;
            }
            if let Some((target, op)) = lookups.finish(&id) {
                let n = book.addrs_of(&target).len();
                drop(book);
                let r = if n > 0 {
                    Ok(n as u64)
                } else {
                    Err(NetError::Transport(format!(
                        "no address found for {target} through the DHT"
                    )))
                };
                shared.finish_op(op, r);
            }
        }
        DiscoveryEvent::Kad(kad::Event::RoutingUpdated {
            peer, addresses, ..
        }) => {
            // A DHT peer we (or it) reached: a candidate for the node's watermark too.
            let scope = Scope::of(shared);
            let mut book = crate::shared::lock(&shared.book);
            let addrs = addresses.into_vec();
            book.report(&shared.waker, peer, addrs, Source::Dht, scope);
        }
        DiscoveryEvent::Kad(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(peers: usize, addrs: usize) -> DiscoveryConfig {
        DiscoveryConfig {
            max_peers: peers,
            max_addrs: addrs,
            ..DiscoveryConfig::default()
        }
    }

    fn a(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn dialable_keeps_unicast_tcp_only() {
        let p = PeerId::random();
        let other = PeerId::random();
        assert_eq!(
            dialable(&a("/ip4/10.0.0.1/tcp/7001"), &p, false),
            Some(a("/ip4/10.0.0.1/tcp/7001"))
        );
        assert_eq!(
            dialable(&a(&format!("/ip4/10.0.0.1/tcp/7001/p2p/{p}")), &p, false),
            Some(a("/ip4/10.0.0.1/tcp/7001"))
        );
        for bad in [
            "/ip4/127.0.0.1/tcp/7001".to_string(),
            "/ip4/0.0.0.0/tcp/7001".to_string(),
            "/ip4/224.0.0.251/tcp/7001".to_string(),
            "/ip4/255.255.255.255/tcp/7001".to_string(),
            "/ip6/::1/tcp/7001".to_string(),
            "/ip4/10.0.0.1/tcp/0".to_string(),
            "/ip4/10.0.0.1/udp/7001".to_string(),
            "/ip4/10.0.0.1/tcp/7001/ws".to_string(),
            format!("/ip4/10.0.0.1/tcp/7001/p2p/{other}"),
        ] {
            assert_eq!(dialable(&a(&bad), &p, false), None, "{bad}");
        }
        assert!(dialable(&a("/ip4/127.0.0.1/tcp/7001"), &p, true).is_some());
        assert!(dialable(&a("/ip4/0.0.0.0/tcp/7001"), &p, true).is_none());
    }

    #[test]
    fn the_book_is_an_lru_with_bounded_addresses() {
        let mut b = Book::new(&cfg(3, 2));
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        let one = [a("/ip4/10.0.0.1/tcp/1")];
        assert_eq!(b.add(peers[0], &one, Source::Mdns), Change::NewPeer);
        assert_eq!(b.add(peers[0], &one, Source::Mdns), Change::Nothing);
        b.add(peers[1], &one, Source::Dht);
        b.add(peers[2], &one, Source::Dht);
        b.add(peers[0], &one, Source::Mdns); // heard of again: most recent
        b.add(peers[3], &one, Source::Dht); // evicts peers[1], the least recent
        assert_eq!(b.len(), 3);
        assert!(b.addrs_of(&peers[1]).is_empty());
        assert_eq!(b.evicted, 1);
        let many: Vec<Multiaddr> = (1..=10)
            .map(|i| a(&format!("/ip4/10.0.0.{i}/tcp/1")))
            .collect();
        assert_eq!(b.add(peers[0], &many, Source::Mdns), Change::NewAddr);
        assert_eq!(b.addrs_of(&peers[0]).len(), 2);
        assert_eq!(b.snapshot()[0].0, peers[0]);
        assert_eq!(b.add(peers[4], &[], Source::Dht), Change::Nothing);
    }

    #[test]
    fn dht_records_name_private_addresses_only_to_a_node_on_a_private_network() {
        const PUBLIC: Scope = Scope {
            private: false,
            loopback: false,
        };
        let mut b = Book::new(&cfg(8, 8));
        let w = Waker::new(64).unwrap();
        let p = PeerId::random();
        let addrs = || {
            [
                "/ip4/192.168.1.1/tcp/22",
                "/ip4/10.1.2.3/tcp/22",
                "/ip4/100.64.0.1/tcp/22",
                "/ip4/169.254.1.1/tcp/22",
                "/ip6/fd00::1/tcp/22",
                "/ip4/203.0.113.9/tcp/7001",
            ]
            .map(a)
        };
        b.report(&w, p, addrs(), Source::Dht, PUBLIC);
        assert_eq!(b.addrs_of(&p), vec![a("/ip4/203.0.113.9/tcp/7001")]);
        b.report(&w, p, addrs(), Source::Dht, Scope::LAN);
        // link-local never from the DHT, even to a node on a private network
        assert_eq!(b.addrs_of(&p).len(), 5);
        assert!(!b.addrs_of(&p).contains(&a("/ip4/169.254.1.1/tcp/22")));
        let m = PeerId::random();
        b.report(
            &w,
            m,
            [a("/ip4/169.254.169.254/tcp/80"), a("/ip6/fe80::1/tcp/80")],
            Source::Dht,
            Scope::LAN,
        );
        assert!(b.addrs_of(&m).is_empty());
        let q = PeerId::random();
        b.report(
            &w,
            q,
            [a("/ip4/192.168.1.1/tcp/7001")],
            Source::Mdns,
            PUBLIC,
        );
        assert_eq!(b.addrs_of(&q).len(), 1); // the LAN's own answer
        assert!(!is_private(&a("/ip4/172.32.0.1/tcp/1")));
        assert!(is_private(&a("/ip4/172.31.0.1/tcp/1")));
    }

    #[test]
    fn a_flood_of_fresh_peers_costs_the_bound_and_few_events() {
        let c = cfg(16, 2);
        let mut b = Book::new(&c);
        let w = Waker::new(4096).unwrap();
        for i in 0..1000u32 {
            let p = PeerId::random();
            let addrs = (0..50).map(|j| a(&format!("/ip4/10.{}.{}.{j}/tcp/9", i >> 8, i & 255)));
            b.report(&w, p, addrs, Source::Mdns, Scope::LAN);
        }
        assert_eq!(b.len(), 16);
        assert!(b.snapshot().iter().all(|(_, a, _)| a.len() <= 2));
        let events = w.drain(usize::MAX);
        // One second's budget, maybe two if the loop straddled a second boundary.
        assert!(
            events.len() <= 2 * EVENTS_PER_SEC as usize,
            "{}",
            events.len()
        );
        assert_eq!(events.len() as u64 + b.suppressed, 1000);
    }
}

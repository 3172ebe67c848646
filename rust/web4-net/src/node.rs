//! The node: its IO runtime, the swarm task, and the application-facing calls.
//!
//! Theory of operation: [`Node::new`] takes the process's shared one-worker IO runtime
//! (`runtime.rs`: two nodes of one process talk without crossing threads, and a small
//! machine has fewer threads to wake) or builds one of its own (`Config::own_runtime`),
//! builds the swarm, and spawns the driver task (`driver.rs`).
//! Application calls never block a tokio thread: they either enqueue a command for the
//! driver (listen, dial, disconnect) and get an *operation id* back, or touch the shared
//! session queues directly. Operations finish in the shared operation table; callers poll them
//! (`poll_op`, used by asyncio after a wake-up) or wait on them (`wait_op`, blocking).
//! [`Node::shutdown`] closes every session and stops the driver (and the node's own
//! runtime, if it has one).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

use web4_proto::session::{CloseReason, OpId, SessionHandle};

use crate::config::Config;
use crate::driver::{self, Command};
use crate::gossip::{self, GossipCommand, Verdict};
use crate::keys;
use crate::runtime::Io;
use crate::session::Session;
use crate::shared::{lock, Shared};
use crate::wake::Waker;
use crate::NetError;

/// Node-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub frames_rejected: u64,
    pub handshake_failures: u64,
    pub events_dropped: u64,
    pub sessions: u64,
    /// Peers in the discovery book now, and how many it evicted (LRU).
    pub discovered: u64,
    pub discovered_evicted: u64,
    /// `peer_discovered` events not emitted (over the per-second budget).
    pub discovery_events_suppressed: u64,
    /// libp2p-mdns tables rebuilt for passing their cap (a flood of announcements).
    pub mdns_resets: u64,
    /// Connections refused by the connection caps (`LimitsConfig`), in all.
    pub connections_denied: u64,
    /// The same, by the cap that refused them.
    pub connections_denied_by: crate::limits::ConnectionsDenied,
}

/// An RTT node endpoint.
#[derive(Debug)]
pub struct Node {
    /// Where the IO runs, and the driver task (`None` once shut down).
    io: Mutex<Option<(Io, tokio::task::JoinHandle<()>)>>,
    cmd: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    peer_id: PeerId,
}

impl Node {
    /// Build a node from a 32-byte Ed25519 seed.
    ///
    /// Errors: `Config` for a bad seed or configuration; `Transport` when the runtime
    /// or the swarm cannot be built.
    pub fn new(seed: &[u8], cfg: Config) -> Result<Node, NetError> {
        cfg.validate()?;
        let keypair = keys::keypair_from_seed(seed)?;
        let peer_id = keypair.public().to_peer_id();
        // mDNS spawns tasks the swarm does not stop: only a runtime's shutdown does.
        let io = Io::get(cfg.own_runtime || cfg.discovery.mdns, cfg.spin_max)?;
        let waker = Arc::new(
            Waker::with_spin(cfg.max_events, io.spin.clone(), cfg.spin_max)
                .map_err(|e| NetError::Transport(format!("cannot create the wake fd: {e}")))?,
        );
        let (tx, rx) = mpsc::channel(1024);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()) << 32;
        let origin = Instant::now();
        let cfg_gossip = cfg.gossip.clone();
        let cfg_relay = cfg.relay.clone();
        let book = crate::discovery::Book::new(&cfg.discovery);
        let endpoint = Shared::endpoint(peer_id, &cfg, seed, origin, waker.clone());
        let shared = Arc::new(Shared {
            cfg,
            waker,
            cmd: tx.clone(),
            origin,
            endpoint: Mutex::new(endpoint),
            ops: Mutex::default(),
            ops_cond: Condvar::new(),
            next_op: AtomicU64::new(1),
            listen_addrs: Mutex::default(),
            observed_addrs: Mutex::default(),
            frames_rejected: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
            connections_denied: Arc::default(),
            gossip: crate::gossip::GossipState::new(&cfg_gossip),
            book: Mutex::new(book),
            mdns_resets: AtomicU64::new(0),
            relay: Arc::new(crate::relay::RelayState::new(&cfg_relay)),
            paths: Mutex::default(),
        });
        let swarm = driver::build_swarm(&io.handle, keypair, &shared)?;
        let task = driver::start(&io.handle, swarm, shared.clone(), rx);
        Ok(Node {
            io: Mutex::new(Some((io, task))),
            cmd: tx,
            shared,
            peer_id,
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The fd asyncio watches (readable = progress); see `wake.rs`.
    pub fn wake_fd(&self) -> i32 {
        self.shared.waker.fd()
    }

    /// Drain the wake fd and disarm it; then re-poll every waiter.
    pub fn clear_wake(&self) {
        self.shared.waker.clear();
    }

    /// Up to `max` lifecycle/telemetry events, oldest first.
    pub fn drain_events(&self, max: usize) -> Vec<crate::Event> {
        self.shared.waker.drain(max)
    }

    /// Errors: `Backpressure` when the driver's command queue is full, `Transport`
    /// after shutdown.
    fn command(&self, c: Command) -> Result<(), NetError> {
        self.shared.command(c)
    }

    /// Start listening; returns an operation id that finishes with 0 once bound.
    ///
    /// Errors: `Config` for an unparsable multiaddr; `Transport` after shutdown.
    pub fn listen(&self, addr: &str) -> Result<u64, NetError> {
        let addr: Multiaddr = addr
            .parse()
            .map_err(|e| NetError::Config(format!("bad multiaddr {addr:?}: {e}")))?;
        check_port_free(&addr)?;
        let op = self.shared.new_op();
        self.command(Command::Listen(addr, op))?;
        Ok(op.0)
    }

    /// Dial `/ip4/…/tcp/…/p2p/<peer-id>`; the operation finishes with the session id.
    ///
    /// Errors: `Config` for an unparsable address or one without `/p2p/<peer-id>`;
    /// `Transport` after shutdown. The operation itself fails with `Handshake` when the
    /// peer's key does not match, `Transport` when the peer is unreachable.
    pub fn dial(&self, addr: &str) -> Result<u64, NetError> {
        let addr: Multiaddr = addr
            .parse()
            .map_err(|e| NetError::Config(format!("bad multiaddr {addr:?}: {e}")))?;
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            return Err(NetError::Config(format!(
                "{addr} does not end with /p2p/<peer-id>; the peer's key must be known"
            )));
        };
        if peer == self.peer_id {
            return Err(NetError::Config("refusing to dial ourselves".into()));
        }
        let op = self.shared.new_op();
        self.command(Command::Dial(peer, addr, op))?;
        Ok(op.0)
    }

    /// Seed the DHT with `/ip4/…/tcp/…/p2p/<peer-id>` (`--bootstrap`) and start its
    /// bootstrap; the operation finishes with 0.
    ///
    /// Errors: `Config` for an address without `/p2p/<peer-id>` (the operation: `Config`
    /// when the DHT is off); `Transport` after shutdown.
    pub fn add_bootstrap(&self, addr: &str) -> Result<u64, NetError> {
        let (peer, addr) = self.peer_addr(addr)?;
        let op = self.shared.new_op();
        self.command(Command::Bootstrap(peer, addr, op))?;
        Ok(op.0)
    }

    /// Look a peer id up in the DHT; the operation finishes with how many addresses
    /// were found (then in [`Node::addrs_of`]), bounded by the lookup timeout.
    ///
    /// Errors: `Config` for a bad peer id (the operation: `Config` when the DHT is off,
    /// `Backpressure` when too many lookups run, `Transport` when nothing was found).
    pub fn lookup(&self, peer: &str) -> Result<u64, NetError> {
        let peer = parse_peer(peer)?;
        let op = self.shared.new_op();
        self.command(Command::Lookup(peer, op))?;
        Ok(op.0)
    }

    /// The discovered addresses of `peer` (mDNS, DHT), each ending with `/p2p/<peer>`.
    ///
    /// Errors: `Config` for a bad peer id.
    pub fn addrs_of(&self, peer: &str) -> Result<Vec<String>, NetError> {
        let peer = parse_peer(peer)?;
        Ok(lock(&self.shared.book)
            .addrs_of(&peer)
            .into_iter()
            .map(|a| a.with(Protocol::P2p(peer)).to_string())
            .collect())
    }

    /// Every discovered peer, most recently heard of first: (peer id, addresses each
    /// ending with `/p2p/<peer>`, source). Bounded by the discovery config.
    pub fn discovered(&self) -> Vec<(String, Vec<String>, crate::Source)> {
        lock(&self.shared.book)
            .snapshot()
            .into_iter()
            .map(|(p, addrs, src)| {
                let full = addrs
                    .into_iter()
                    .map(|a| a.with(Protocol::P2p(p)).to_string())
                    .collect();
                (p.to_base58(), full, src)
            })
            .collect()
    }

    /// Errors: `Config` for a bad multiaddr or one without a final `/p2p/<peer-id>`.
    fn peer_addr(&self, addr: &str) -> Result<(PeerId, Multiaddr), NetError> {
        let parsed: Multiaddr = addr
            .parse()
            .map_err(|e| NetError::Config(format!("bad multiaddr {addr:?}: {e}")))?;
        let Some(Protocol::P2p(peer)) = parsed.iter().last() else {
            return Err(NetError::Config(format!(
                "{addr} does not end with /p2p/<peer-id>; the peer's key must be known"
            )));
        };
        if peer == self.peer_id {
            return Err(NetError::Config("that address is this node's own".into()));
        }
        Ok((peer, parsed))
    }

    /// The result of an operation if it has finished (then it is forgotten).
    ///
    /// Errors: the operation's own error; `Config` for an unknown id.
    pub fn poll_op(&self, op: u64) -> Result<Option<u64>, NetError> {
        let op = OpId(op);
        let mut ops = lock(&self.shared.ops);
        match ops.get(&op) {
            None => Err(NetError::Config(format!("unknown operation {op}"))),
            Some(None) => Ok(None),
            Some(Some(_)) => match ops.remove(&op).flatten() {
                Some(r) => r.map(Some),
                None => Ok(None),
            },
        }
    }

    /// Wait up to `timeout` for an operation.
    ///
    /// Errors: the operation's own error; `Timeout` when it does not finish in time.
    pub fn wait_op(&self, op: u64, timeout: Duration) -> Result<u64, NetError> {
        let op = OpId(op);
        let deadline = Instant::now() + timeout;
        let mut ops = lock(&self.shared.ops);
        loop {
            match ops.get(&op) {
                None => return Err(NetError::Config(format!("unknown operation {op}"))),
                Some(Some(_)) => {
                    return ops.remove(&op).flatten().unwrap_or(Ok(0));
                }
                Some(None) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                ops.remove(&op);
                return Err(NetError::Timeout(format!(
                    "operation did not finish in {timeout:?}"
                )));
            }
            ops = self
                .shared
                .ops_cond
                .wait_timeout(ops, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Drop interest in an unfinished operation.
    pub fn cancel_op(&self, op: u64) {
        lock(&self.shared.ops).remove(&OpId(op));
    }

    /// The next session a peer opened to us, if any.
    pub fn try_accept(&self) -> Option<u64> {
        self.shared.accept()
    }

    /// Wait up to `timeout` for a session a peer opened to us.
    pub fn accept_wait(&self, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.try_accept() {
                return Some(id);
            }
            let now = Instant::now();
            if now >= deadline || self.is_shut_down() {
                return None;
            }
            // Accepts notify `ops_cond` too; wake at least every 50 ms regardless.
            let ops = lock(&self.shared.ops);
            let wait = (deadline - now).min(Duration::from_millis(50));
            let _ = self.shared.ops_cond.wait_timeout(ops, wait);
        }
    }

    /// Errors: `Transport` for an unknown or forgotten session id.
    pub fn session(&self, id: u64) -> Result<Arc<Session>, NetError> {
        self.shared
            .session(id)
            .ok_or_else(|| NetError::Transport(format!("no session {id}")))
    }

    /// Close a session (CLOSE goes to the peer, then the connection is dropped) and
    /// forget it. Unknown ids are ignored.
    pub fn close_session(&self, id: u64) {
        let s = lock(&self.shared.endpoint).forget(SessionHandle(id));
        if let Some(s) = s {
            s.0.close(CloseReason::Normal, "closed by the application");
        }
    }

    /// Listening addresses, each ending with `/p2p/<our peer id>`.
    pub fn listen_addrs(&self) -> Vec<String> {
        lock(&self.shared.listen_addrs)
            .iter()
            // A relayed listen address ends with our peer id already.
            .map(|a| {
                let a = a.clone().with_p2p(self.peer_id).unwrap_or_else(|a| a);
                a.to_string()
            })
            .collect()
    }

    /// The addresses peers reported (identify) seeing this node at, oldest first (at
    /// most 8, distinct): behind NAT, how the network reaches us. Each ends with
    /// `/p2p/<our peer id>`.
    pub fn observed_addrs(&self) -> Vec<String> {
        lock(&self.shared.observed_addrs)
            .iter()
            .map(|a| a.clone().with(Protocol::P2p(self.peer_id)).to_string())
            .collect()
    }

    /// Subscribe to a gossip topic (it must start with `/web4/` and be at most 256 bytes).
    ///
    /// Errors: `Config` for another topic; `Backpressure`/`Transport` as every command.
    pub fn gossip_subscribe(&self, topic: &str) -> Result<(), NetError> {
        check_topic(topic)?;
        self.command(Command::Gossip(GossipCommand::Subscribe(topic.into())))
    }

    /// Errors: `Config` for a topic we could not have subscribed to.
    pub fn gossip_unsubscribe(&self, topic: &str) -> Result<(), NetError> {
        check_topic(topic)?;
        self.command(Command::Gossip(GossipCommand::Unsubscribe(topic.into())))
    }

    /// Publish one envelope on a topic; the operation finishes with
    /// [`gossip::PUBLISHED`], or [`gossip::NO_SUBSCRIBER`] when no connected peer
    /// subscribes to the topic (yet), or fails with `Transport` (over the size limit,
    /// queues full, published already). Its gossip message id is
    /// [`gossip::message_id`] of `data`.
    ///
    /// Errors: `Config` for a bad topic; `Transport` when `data` is over the size limit.
    pub fn gossip_publish(&self, topic: &str, data: Vec<u8>) -> Result<u64, NetError> {
        check_topic(topic)?;
        if data.len() > self.shared.cfg.gossip.max_message {
            return Err(NetError::Transport(format!(
                "a gossip message is at most {} bytes, this one is {}",
                self.shared.cfg.gossip.max_message,
                data.len()
            )));
        }
        let op = self.shared.new_op();
        self.command(Command::Gossip(GossipCommand::Publish(
            topic.into(),
            data,
            op,
        )))?;
        Ok(op.0)
    }

    /// Up to `max` received gossip messages, oldest first; each needs one
    /// [`gossip_report`](Self::gossip_report).
    pub fn gossip_take(&self, max: usize) -> Vec<gossip::GossipMessage> {
        lock(&self.shared.gossip.inbox).take(max)
    }

    /// The verdict on a received message (from `gossip_take`): `Accept` forwards it,
    /// `Reject` scores its forwarder down, `Ignore` drops it.
    ///
    /// Errors: `Config` for a bad id or peer id.
    pub fn gossip_report(&self, id: &str, source: &str, verdict: Verdict) -> Result<(), NetError> {
        let id = gossip::parse_message_id(id)?;
        let source = parse_peer(source)?;
        self.command(Command::Gossip(GossipCommand::Report(id, source, verdict)))
    }

    /// The application's score of a peer (from its trust), added to gossipsub's own.
    ///
    /// Errors: `Config` for a bad peer id or a score that is not finite.
    pub fn gossip_app_score(&self, peer: &str, score: f64) -> Result<(), NetError> {
        if !score.is_finite() {
            return Err(NetError::Config("a gossip score must be finite".into()));
        }
        let peer = parse_peer(peer)?;
        self.command(Command::Gossip(GossipCommand::AppScore(peer, score)))
    }

    pub fn gossip_stats(&self) -> gossip::GossipStats {
        self.shared.gossip.counters.snapshot()
    }

    /// Scores, meshes and known subscribers as of the last heartbeat.
    pub fn gossip_view(&self) -> gossip::GossipView {
        lock(&self.shared.gossip.view).clone()
    }

    /// Spin outcomes, (caught, ran out): the application side's, then the IO thread's.
    pub fn spin_outcomes(&self) -> [(u64, u64); 2] {
        self.shared.waker.spin_outcomes()
    }

    /// asyncio is about to block with nothing else to run: spin (bounded, adaptive)
    /// until a wake fd of the process is armed. See `Waker::spin_until_armed`.
    pub fn spin_until_armed(&self) -> bool {
        self.shared.waker.spin_until_armed()
    }

    /// Let `peer`'s inbound connections skip the incoming and total connection caps
    /// (`on`), or stop (a `LimitsConfig::protected` peer stays protected): the Python node
    /// protects the peers its operator trusts, so a flood that fills the caps cannot lock
    /// them out. At most `limits::MAX_PROTECTED` at once (beyond: not protected).
    ///
    /// Errors: `Config` for a malformed peer id; `Backpressure`/`Transport` as
    /// [`Node::listen`].
    pub fn protect_peer(&self, peer: &str, on: bool) -> Result<(), NetError> {
        self.command(Command::Protect(parse_peer(peer)?, on))
    }

    /// Relay and hole-punch counters (`relay.rs`).
    pub fn relay_stats(&self) -> crate::RelayStats {
        self.shared.relay.stats()
    }

    /// Admit (`Some(true)`: in `trusted_only` mode, only such peers may) or refuse
    /// (`Some(false)`) `peer` as a user of this node's relay; `None` forgets it. A
    /// refused peer's next reservation or circuit is denied (bounded lists; the Python
    /// node feeds them from the trust book).
    ///
    /// Errors: `Config` for a malformed peer id.
    pub fn relay_access(&self, peer: &str, allow: Option<bool>) -> Result<(), NetError> {
        self.relay_access_pinned(peer, allow, false)
    }

    /// As [`Node::relay_access`]; a `pinned` refusal is one fresh keys' refusals cannot
    /// push out of the bounded lists (for keys with standing the operator gave: vouched
    /// for, or blacklisted by hand).
    ///
    /// Errors: `Config` for a malformed peer id.
    pub fn relay_access_pinned(
        &self,
        peer: &str,
        allow: Option<bool>,
        pinned: bool,
    ) -> Result<(), NetError> {
        self.shared
            .relay
            .set_access(parse_peer(peer)?, allow, pinned);
        Ok(())
    }

    /// Whether session `id` is carried by a relayed connection now (`None`: it has no
    /// connection yet, or is unknown).
    pub fn relayed(&self, id: u64) -> Option<bool> {
        self.shared.relayed(id)
    }

    pub fn stats(&self) -> NodeStats {
        let book = lock(&self.shared.book);
        let denied = self.shared.connections_denied.snapshot();
        NodeStats {
            frames_rejected: self.shared.frames_rejected.load(Ordering::Relaxed),
            handshake_failures: self.shared.handshake_failures.load(Ordering::Relaxed),
            events_dropped: self.shared.waker.events_dropped(),
            sessions: self.shared.session_count() as u64,
            discovered: book.len() as u64,
            discovered_evicted: book.evicted,
            discovery_events_suppressed: book.suppressed,
            mdns_resets: self.shared.mdns_resets.load(Ordering::Relaxed),
            connections_denied: denied.total(),
            connections_denied_by: denied,
        }
    }

    /// Close every session, stop the swarm and the runtime (bounded by one second).
    pub fn shutdown(&self) {
        let Some((io, mut task)) = lock(&self.io).take() else {
            return;
        };
        let sessions = self.shared.all_sessions();
        for s in &sessions {
            s.close(CloseReason::Shutdown, "the transport shut down");
        }
        if !sessions.is_empty() {
            // Let the writers put CLOSE on the wire (bounded).
            std::thread::sleep(Duration::from_millis(50));
        }
        for s in &sessions {
            lock(&self.shared.endpoint).forget(s.handle());
        }
        let _ = self.cmd.try_send(Command::Shutdown);
        match io.own {
            Some(rt) => rt.shutdown_timeout(Duration::from_secs(1)),
            None => {
                // The shared runtime goes on: stop this node's tasks. The driver drops
                // the swarm, which ends its connections' tasks; the sessions' pumps end
                // with their sessions, closed above.
                if tokio::runtime::Handle::try_current().is_err() {
                    let wait = async {
                        let _ = tokio::time::timeout(Duration::from_secs(1), &mut task).await;
                    };
                    io.handle.block_on(wait);
                }
                task.abort();
            }
        }
        self.shared.waker.wake();
    }

    pub fn is_shut_down(&self) -> bool {
        lock(&self.io).is_none()
    }
}

/// Errors: `Config` unless the topic starts with `/web4/` and has at most 256 bytes.
fn check_topic(topic: &str) -> Result<(), NetError> {
    if !topic.starts_with(gossip::TOPIC_PREFIX) || topic.len() > 256 {
        return Err(NetError::Config(format!(
            "a gossip topic starts with {} and has at most 256 bytes: {:?}",
            gossip::TOPIC_PREFIX,
            topic.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

/// Errors: `Config` for a malformed peer id.
fn parse_peer(peer: &str) -> Result<PeerId, NetError> {
    peer.parse()
        .map_err(|e| NetError::Config(format!("bad peer id {peer:?}: {e}")))
}

/// libp2p's TCP listeners set `SO_REUSEPORT`, so a second node (or any process of the
/// same user that sets it too) could bind a port already in use and silently take half
/// of its connections. For an explicit port, bind it once without `SO_REUSEPORT` first:
/// that fails with "address in use" exactly when something listens there.
///
/// Errors: `Transport` when the port is taken.
fn check_port_free(addr: &Multiaddr) -> Result<(), NetError> {
    if crate::relay::is_relayed(addr) {
        return Ok(()); // a reservation on a relay: no local port
    }
    let mut parts = addr.iter();
    let ip: std::net::IpAddr = match parts.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        _ => return Ok(()),
    };
    let Some(Protocol::Tcp(port)) = parts.next() else {
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    std::net::TcpListener::bind((ip, port))
        .map(drop)
        .map_err(|e| NetError::Transport(format!("{ip} port {port}: {e}")))
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

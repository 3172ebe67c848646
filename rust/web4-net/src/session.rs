//! Per-peer session state shared between the application threads and the IO tasks.
//!
//! Theory of operation: a [`Session`] outlives any single libp2p connection. It holds,
//! per channel kind, a bounded send queue (filled by the application under the channel's
//! [`Policy`], drained by that channel's writer task) and a bounded receive queue (filled
//! by the reader task, drained by the application). All of it sits behind one mutex with
//! one condvar for blocking callers; tokio `Notify`s wake the IO tasks; the node's
//! [`Waker`] wakes asyncio. Nothing here blocks a tokio worker: the IO tasks only use
//! `try_*` calls and wait on `Notify`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::Notify;

use crate::config::{ChannelKind, Config};
use crate::queue::{BoundedQueue, Policy, Push};
use crate::wake::Waker;
use crate::NetError;

/// Counters of one channel, as exported to Python.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    pub sent: u64,
    pub received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub dropped: u64,
    pub send_queue_high_water: u64,
    pub recv_queue_high_water: u64,
    pub send_queued: u64,
    pub recv_queued: u64,
}

/// Where the session's link is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connected,
    Disconnected,
    Closed(String),
}

#[derive(Debug)]
struct Chan {
    /// Opened by the local application (required to send).
    open: bool,
    /// Closed by the local application: inbound messages are dropped and counted.
    closed: bool,
    policy: Policy,
    send: BoundedQueue,
    recv: BoundedQueue,
    stats: ChannelStats,
}

#[derive(Debug)]
struct Inner {
    link: LinkState,
    chans: [Chan; 3],
    reconnects: u64,
    rtts_us: Vec<u64>,
}

/// One session with one peer.
#[derive(Debug)]
pub struct Session {
    pub id: u64,
    pub peer: PeerId,
    pub dialer: bool,
    max_message: usize,
    inner: Mutex<Inner>,
    cond: Condvar,
    /// Wakes the writer task of a channel (index = `ChannelKind as usize`).
    pub send_ready: [Notify; 3],
    /// Wakes the reader tasks of a channel when receive space frees up.
    pub recv_space: [Notify; 3],
    /// Connection generation: bumped by every new connection and every link loss, so
    /// IO tasks of an older connection stop.
    pub generation: AtomicU64,
    connections: AtomicU64,
    /// Set when a sender was told to wait: the writer then wakes senders on progress.
    send_blocked: AtomicBool,
    waker: Arc<Waker>,
}

const RTT_SAMPLES: usize = 256;

impl Session {
    pub fn new(id: u64, peer: PeerId, dialer: bool, cfg: &Config, waker: Arc<Waker>) -> Self {
        let chan = |k: ChannelKind| Chan {
            open: false,
            closed: false,
            policy: cfg.policy[k as usize],
            send: BoundedQueue::new(cfg.send_queue_msgs, cfg.send_queue_bytes),
            recv: BoundedQueue::new(cfg.recv_queue_msgs, cfg.recv_queue_bytes),
            stats: ChannelStats::default(),
        };
        Session {
            id,
            peer,
            dialer,
            max_message: cfg.max_message_size,
            inner: Mutex::new(Inner {
                link: LinkState::Connected,
                chans: ChannelKind::ALL.map(chan),
                reconnects: 0,
                rtts_us: Vec::new(),
            }),
            cond: Condvar::new(),
            send_ready: Default::default(),
            recv_space: Default::default(),
            generation: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            send_blocked: AtomicBool::new(false),
            waker,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.cond.notify_all();
        self.waker.wake();
    }

    pub fn link(&self) -> LinkState {
        self.lock().link.clone()
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.lock().link, LinkState::Closed(_))
    }

    /// The link is lost (or found again): stop the IO tasks of the old connection.
    pub fn set_link(&self, link: LinkState) {
        let mut g = self.lock();
        if matches!(g.link, LinkState::Closed(_)) {
            return;
        }
        g.link = link;
        drop(g);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.changed();
        for n in self.send_ready.iter().chain(self.recv_space.iter()) {
            n.notify_waiters();
        }
    }

    /// A new connection to the peer carries this session from now on; returns the new
    /// generation. Every connection after the first counts as a reconnect.
    pub fn new_connection(&self) -> u64 {
        if self.connections.fetch_add(1, Ordering::AcqRel) > 0 {
            self.lock().reconnects += 1;
        }
        self.set_link(LinkState::Connected);
        self.generation.load(Ordering::Acquire)
    }

    pub fn open_channel(&self, kind: ChannelKind) -> Result<(), NetError> {
        let mut g = self.lock();
        if let LinkState::Closed(r) = &g.link {
            return Err(NetError::Transport(format!("session closed: {r}")));
        }
        g.chans[kind as usize].open = true;
        g.chans[kind as usize].closed = false;
        Ok(())
    }

    /// Close a channel locally: its queued messages are discarded (and counted).
    pub fn close_channel(&self, kind: ChannelKind) {
        let mut g = self.lock();
        let c = &mut g.chans[kind as usize];
        c.open = false;
        c.closed = true;
        let n = c.send.clear() + c.recv.clear();
        c.stats.dropped += n as u64;
        drop(g);
        self.changed();
        self.recv_space[kind as usize].notify_one();
    }

    /// Queue one message. `Ok(false)`: the `block` policy says wait and retry.
    ///
    /// Errors: `Transport` when the session or channel is closed or the message is over
    /// the size limit; `Backpressure` when the queue is full under the `error` policy.
    pub fn try_send(&self, kind: ChannelKind, msg: Vec<u8>) -> Result<bool, NetError> {
        if msg.len() > self.max_message {
            return Err(NetError::Transport(format!(
                "message of {} bytes exceeds the maximum of {}",
                msg.len(),
                self.max_message
            )));
        }
        let mut g = self.lock();
        if let LinkState::Closed(r) = &g.link {
            return Err(NetError::Transport(format!("session closed: {r}")));
        }
        let c = &mut g.chans[kind as usize];
        if !c.open {
            return Err(NetError::Transport(format!(
                "channel {} is not open",
                kind.name()
            )));
        }
        let was_empty = c.send.is_empty();
        match c.send.push(msg, c.policy) {
            Push::Queued { evicted } => c.stats.dropped += evicted as u64,
            Push::WouldBlock => {
                self.send_blocked.store(true, Ordering::Release);
                return Ok(false);
            }
            Push::Refused => {
                return Err(NetError::Backpressure(format!(
                    "send queue of channel {} is full (policy error)",
                    kind.name()
                )))
            }
            Push::DroppedNewest => {
                c.stats.dropped += 1;
                return Ok(true);
            }
        }
        drop(g);
        if was_empty {
            self.send_ready[kind as usize].notify_one();
        }
        Ok(true)
    }

    /// Queue one message, waiting up to `timeout` for space under the `block` policy.
    ///
    /// Errors: as [`Session::try_send`], plus `Backpressure` when the wait times out.
    pub fn send_blocking(
        &self,
        kind: ChannelKind,
        msg: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), NetError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.try_send(kind, msg.clone())? {
                return Ok(());
            }
            let g = self.lock();
            let c = &g.chans[kind as usize];
            if c.send.has_room(msg.len()) || matches!(g.link, LinkState::Closed(_)) {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(NetError::Backpressure(format!(
                    "send queue of channel {} stayed full for {:?}",
                    kind.name(),
                    timeout
                )));
            }
            let _ = self.cond.wait_timeout(g, deadline - now);
        }
    }

    /// Writer side: take queued messages, at most `max_bytes` worth (at least one).
    pub fn take_batch(&self, kind: ChannelKind, max_bytes: usize, out: &mut Vec<Vec<u8>>) {
        let mut g = self.lock();
        let c = &mut g.chans[kind as usize];
        let was_full = c.send.is_full();
        let mut total = 0;
        while total < max_bytes {
            let Some(m) = c.send.pop() else { break };
            total += m.len();
            c.stats.sent += 1;
            c.stats.bytes_sent += m.len() as u64;
            out.push(m);
        }
        drop(g);
        if !out.is_empty() && (was_full || self.send_blocked.swap(false, Ordering::AcqRel)) {
            self.changed();
        }
    }

    /// Reader side: deliver one message. `Err(msg)` when the receive queue is full:
    /// wait on `recv_space` and retry. Messages for a closed channel are dropped.
    pub fn deliver(&self, kind: ChannelKind, msg: Vec<u8>) -> Result<(), Vec<u8>> {
        let mut g = self.lock();
        let closed = matches!(g.link, LinkState::Closed(_));
        let c = &mut g.chans[kind as usize];
        if c.closed || closed {
            c.stats.dropped += 1;
            return Ok(());
        }
        let len = msg.len();
        if !c.recv.has_room(len) {
            return Err(msg);
        }
        c.recv.push(msg, Policy::Block);
        c.stats.received += 1;
        c.stats.bytes_received += len as u64;
        drop(g);
        self.changed();
        Ok(())
    }

    /// Take up to `max` received messages without waiting.
    ///
    /// Errors: `Transport` when the channel is not open, or the session is closed and
    /// nothing is left to read.
    pub fn try_recv(&self, kind: ChannelKind, max: usize) -> Result<Vec<Vec<u8>>, NetError> {
        let mut g = self.lock();
        let closed = match &g.link {
            LinkState::Closed(r) => Some(r.clone()),
            _ => None,
        };
        let c = &mut g.chans[kind as usize];
        if c.closed {
            return Err(NetError::Transport(format!(
                "channel {} is closed",
                kind.name()
            )));
        }
        let was_full = c.recv.is_full();
        let mut out = Vec::new();
        while out.len() < max {
            match c.recv.pop() {
                Some(m) => out.push(m),
                None => break,
            }
        }
        drop(g);
        if out.is_empty() {
            if let Some(r) = closed {
                return Err(NetError::Transport(format!("session closed: {r}")));
            }
        } else {
            let _ = was_full;
            self.recv_space[kind as usize].notify_one();
        }
        Ok(out)
    }

    /// Take one message, waiting up to `timeout`. `Ok(None)` on timeout.
    ///
    /// Errors: as [`Session::try_recv`].
    pub fn recv_blocking(
        &self,
        kind: ChannelKind,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, NetError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.try_recv(kind, 1)?.pop() {
                return Ok(Some(m));
            }
            let g = self.lock();
            if !g.chans[kind as usize].recv.is_empty() || matches!(g.link, LinkState::Closed(_)) {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let _ = self.cond.wait_timeout(g, deadline - now);
        }
    }

    /// Close the session for good; queued messages are discarded and counted.
    pub fn close(&self, reason: &str) {
        let mut g = self.lock();
        if matches!(g.link, LinkState::Closed(_)) {
            return;
        }
        g.link = LinkState::Closed(reason.to_string());
        for c in g.chans.iter_mut() {
            c.stats.dropped += c.send.clear() as u64;
        }
        drop(g);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.changed();
        for n in self.send_ready.iter().chain(self.recv_space.iter()) {
            n.notify_waiters();
            n.notify_one();
        }
    }

    pub fn record_rtt(&self, rtt: Duration) {
        let mut g = self.lock();
        if g.rtts_us.len() >= RTT_SAMPLES {
            g.rtts_us.remove(0);
        }
        g.rtts_us.push(rtt.as_micros() as u64);
    }

    /// Per-channel stats, reconnect count, heartbeat RTT p50 and p95 (microseconds).
    pub fn stats(&self) -> ([ChannelStats; 3], u64, Option<(u64, u64)>) {
        let g = self.lock();
        let chans = [0, 1, 2].map(|i| {
            let c = &g.chans[i];
            ChannelStats {
                send_queue_high_water: c.send.high_water() as u64,
                recv_queue_high_water: c.recv.high_water() as u64,
                send_queued: c.send.len() as u64,
                recv_queued: c.recv.len() as u64,
                ..c.stats
            }
        });
        let mut r = g.rtts_us.clone();
        r.sort_unstable();
        let pct = |p: usize| r[(r.len() - 1) * p / 100];
        let rtt = (!r.is_empty()).then(|| (pct(50), pct(95)));
        (chans, g.reconnects, rtt)
    }
}

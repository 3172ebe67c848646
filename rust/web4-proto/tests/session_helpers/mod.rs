//! Test harness for the RTT session layer: two `Session`s joined by a simulated link
//! with virtual time, in the style of quinn-proto's `Pair`.
//!
//! Theory of operation: the link holds, per connection and per direction, one FIFO per
//! channel stream (frames on one stream stay in order; across streams the harness picks
//! at random, so cross-stream races happen). `cut` throws away everything in flight and
//! tells each side about the loss, or leaves one side to find out by heartbeat. The
//! harness answers the sessions' events the way the driver must: it dials on
//! `ReconnectAttempt`, cuts on `DropConnection`, replaces a closed listener session on a
//! new connection. Time only moves when the harness says so.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use web4_proto::session::{
    ChannelKind, ConnNumber, Event, Session, SessionConfig, SessionRng, SessionState, SplitMix64,
};

/// Frames in flight on one connection: `[direction][stream]`, direction 0 is a to b.
#[derive(Debug, Default)]
pub struct Link {
    pub conn_a: ConnNumber,
    pub conn_b: ConnNumber,
    pub queues: [[VecDeque<Vec<u8>>; 3]; 2],
}

#[derive(Debug)]
pub struct Pair {
    pub a: Session,
    pub b: Session,
    pub cfg: SessionConfig,
    pub now: Duration,
    pub rng: SplitMix64,
    pub link: Option<Link>,
    pub events_a: Vec<Event>,
    pub events_b: Vec<Event>,
    pub cuts: u64,
    pub dials: u64,
    /// Refuse dials while true (the peer is unreachable).
    pub unreachable: bool,
    buf: Vec<u8>,
}

impl Pair {
    /// A dialler `a` and a listener `b`, connected, OPEN not yet exchanged.
    pub fn new(cfg: SessionConfig, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let now = Duration::from_secs(1);
        let a = Session::new_dialer(cfg.clone(), now, &mut rng);
        let b = Session::new_listener(cfg.clone(), now, &mut rng);
        let mut p = Pair {
            a,
            b,
            cfg,
            now,
            rng,
            link: None,
            events_a: Vec::new(),
            events_b: Vec::new(),
            cuts: 0,
            dials: 0,
            unreachable: false,
            buf: Vec::new(),
        };
        p.connect();
        p
    }

    /// Bring up a new connection on both sides.
    pub fn connect(&mut self) {
        let conn_a = self.a.on_connected(self.now);
        if self.b.is_closed() {
            self.b = Session::new_listener(self.cfg.clone(), self.now, &mut self.rng);
        }
        let conn_b = self.b.on_connected(self.now);
        self.link = Some(Link {
            conn_a,
            conn_b,
            ..Link::default()
        });
    }

    /// Lose the connection and everything in flight. `notify`: 0 tells both sides,
    /// 1 only a, 2 only b, 3 neither (heartbeats must find out).
    pub fn cut(&mut self, notify: u8) {
        if let Some(link) = self.link.take() {
            self.cuts += 1;
            if notify == 0 || notify == 1 {
                self.a.on_connection_lost(link.conn_a, self.now);
            }
            if notify == 0 || notify == 2 {
                self.b.on_connection_lost(link.conn_b, self.now);
            }
        }
    }

    /// Move every frame both sides want to send onto the link (dropped if it is down).
    pub fn transmit(&mut self) {
        for dir in 0..2 {
            loop {
                self.buf.clear();
                let side = if dir == 0 { &mut self.a } else { &mut self.b };
                let Some(t) = side.poll_transmit(self.now, &mut self.buf) else {
                    break;
                };
                if let Some(link) = self.link.as_mut() {
                    let conn = if dir == 0 { link.conn_a } else { link.conn_b };
                    if t.conn == conn {
                        link.queues[dir][t.stream.index()].push_back(self.buf.clone());
                    }
                }
            }
        }
    }

    /// Deliver up to `max` frames, picking a random non-empty stream each time and
    /// honouring the receiver's `recv_window_open`. After each frame, with probability
    /// `cut_per_million`, cut the link (frames in flight lost; who is told is random).
    /// Returns how many frames were delivered.
    pub fn deliver(&mut self, max: usize) -> usize {
        self.deliver_lossy(max, 0)
    }

    pub fn deliver_lossy(&mut self, max: usize, cut_per_million: u64) -> usize {
        let mut done = 0;
        while done < max {
            if cut_per_million > 0
                && self.link.is_some()
                && self.rng.next_u64() % 1_000_000 < cut_per_million
            {
                let notify = (self.rng.next_u64() % 4) as u8;
                self.cut(notify);
            }
            let Some(link) = self.link.as_mut() else {
                break;
            };
            let mut ready = Vec::new();
            for dir in 0..2 {
                let rx = if dir == 0 { &self.b } else { &self.a };
                for k in ChannelKind::ALL {
                    if !link.queues[dir][k.index()].is_empty() && rx.recv_window_open(k) {
                        ready.push((dir, k));
                    }
                }
            }
            if ready.is_empty() {
                break;
            }
            let (dir, k) = ready[(self.rng.next_u64() % ready.len() as u64) as usize];
            let frame = link.queues[dir][k.index()].pop_front().unwrap_or_default();
            let (rx, conn) = if dir == 0 {
                (&mut self.b, link.conn_b)
            } else {
                (&mut self.a, link.conn_a)
            };
            let _ = rx.handle_frame(conn, k, &frame, self.now);
            done += 1;
            self.handle_events();
        }
        done
    }

    /// Collect events and act on them like a driver.
    pub fn handle_events(&mut self) {
        while let Some(e) = self.a.poll_event() {
            match &e {
                Event::DropConnection { conn }
                    if self.link.as_ref().is_some_and(|l| l.conn_a == *conn) =>
                {
                    self.link = None;
                    self.cuts += 1;
                }
                Event::RekeyDue => self.cut(0),
                Event::ReconnectAttempt { .. } => {
                    self.dials += 1;
                    if self.unreachable {
                        self.a.on_dial_failed(self.now);
                    } else {
                        self.cut(2);
                        self.connect();
                    }
                }
                _ => {}
            }
            self.events_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            if let Event::DropConnection { conn } = &e {
                if self.link.as_ref().is_some_and(|l| l.conn_b == *conn) {
                    self.link = None;
                    self.cuts += 1;
                }
            }
            self.events_b.push(e);
        }
    }

    /// Run timers, transmit and deliver until nothing moves; then jump the clock to the
    /// next deadline, but never more than `max_jump`.
    pub fn step(&mut self, max_jump: Duration) {
        self.step_lossy(max_jump, 0);
    }

    /// Like `step`, cutting the link mid-flight with probability `cut_per_million` per
    /// delivered frame.
    pub fn step_lossy(&mut self, max_jump: Duration, cut_per_million: u64) {
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.handle_events();
        self.transmit();
        let moved = self.deliver_lossy(usize::MAX, cut_per_million);
        self.transmit();
        if moved == 0 {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let target = next.unwrap_or(self.now + max_jump).min(self.now + max_jump);
            self.now = target.max(self.now + Duration::from_micros(1));
        } else {
            self.now += Duration::from_micros(50);
        }
    }

    /// Step until `done` holds or `limit` steps passed; true if `done` held.
    pub fn run_until(&mut self, limit: usize, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        for _ in 0..limit {
            if done(self) {
                return true;
            }
            self.step(Duration::from_millis(100));
        }
        done(self)
    }
}

/// Message `i` as payload: 4 bytes big-endian, padded to `len`.
pub fn numbered(i: u32, len: usize) -> Vec<u8> {
    let mut v = i.to_be_bytes().to_vec();
    v.resize(len.max(4), 0xab);
    v
}

pub fn number_of(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[0], p[1], p[2], p[3]])
}

/// Short heartbeat, backoff and expiry, so liveness tests run in little virtual time.
pub fn fast() -> SessionConfig {
    let mut cfg = SessionConfig::default();
    cfg.heartbeat.interval = Duration::from_millis(100);
    cfg.heartbeat.timeout = Duration::from_millis(300);
    cfg.backoff.base = Duration::from_millis(50);
    cfg.backoff.cap = Duration::from_secs(2);
    cfg.expiry = Duration::from_secs(30);
    cfg
}

pub fn established(cfg: SessionConfig, seed: u64) -> Pair {
    let mut p = Pair::new(cfg, seed);
    assert!(
        p.run_until(100, |p| p.a.state() == SessionState::Established
            && p.b.state() == SessionState::Established)
    );
    assert_eq!(p.events_a.first(), Some(&Event::SessionOpen));
    assert_eq!(p.events_b.first(), Some(&Event::SessionOpen));
    assert_eq!(p.a.id(), p.b.id());
    p
}

pub fn drain(s: &mut Session, kind: ChannelKind) -> Vec<u32> {
    std::iter::from_fn(|| s.recv(kind))
        .map(|m| number_of(&m))
        .collect()
}

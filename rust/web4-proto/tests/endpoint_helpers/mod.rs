//! Test harness for the RTT endpoint: two `Endpoint`s joined by simulated connections
//! with virtual time, like the session `Pair` (session_helpers) one level up.
//!
//! Theory of operation: each node is an `Endpoint<u32, u64, Session>` (peer ids are
//! numbers, so the simultaneous-dial tie-break is easy to steer). A dial allocates a
//! connection id and waits in `dialling` until the test completes it (`complete`) or
//! fails it (`refuse`); a completed connection gets a link with one FIFO per direction
//! and stream. The harness plays the driver: it carries out the endpoint's events
//! (closing links on `CloseConnection`, recording `OpDone`), feeds the sessions' events
//! back to the endpoint (open, close, drop connection, re-dial), moves transmits onto
//! the link of the connection that carries them, and delivers frames through
//! `Endpoint::handle_frame`. Time only moves when the harness says so.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use web4_proto::session::{
    ChannelKind, ConnNumber, DialAction, DialFailed, Endpoint, EndpointEvent, Event, OpFailure,
    OpId, ReadAction, Session, SessionConfig, SessionHandle, SessionRng, SplitMix64,
};

pub type Ep = Endpoint<u32, u64, Session>;

/// One node: its endpoint and what the driver observed.
pub struct Node {
    pub id: u32,
    pub ep: Ep,
    pub ops: BTreeMap<OpId, Result<SessionHandle, OpFailure>>,
    pub accepted: Vec<SessionHandle>,
    pub closed_conns: Vec<u64>,
    pub attaches: Vec<(u64, SessionHandle, ConnNumber)>,
    pub session_events: Vec<(SessionHandle, Event)>,
    pub read_actions: Vec<ReadAction>,
}

impl Node {
    pub fn new(id: u32, cfg: SessionConfig, seed: u64) -> Self {
        Node {
            id,
            ep: Endpoint::new(id, cfg, seed, |_, _, s| s),
            ops: BTreeMap::new(),
            accepted: Vec::new(),
            closed_conns: Vec::new(),
            attaches: Vec::new(),
            session_events: Vec::new(),
            read_actions: Vec::new(),
        }
    }

    /// The live session with `peer`.
    pub fn session_with(&self, peer: u32) -> Option<&Session> {
        self.ep.session_of(&peer).and_then(|h| self.ep.session(h))
    }

    pub fn opened(&self, peer: u32) -> bool {
        self.session_with(peer).is_some_and(|s| {
            s.is_opened() && s.state() == web4_proto::session::SessionState::Established
        })
    }
}

/// A connection: `dialer` node index dialled `listener` node index.
#[derive(Debug, Default)]
pub struct Link {
    pub dialer: usize,
    /// `[direction][stream]`, direction 0 is dialer to listener.
    pub queues: [[VecDeque<Vec<u8>>; 3]; 2],
}

pub struct Net {
    pub nodes: [Node; 2],
    pub now: Duration,
    pub rng: SplitMix64,
    pub next_conn: u64,
    pub next_op: u64,
    /// Dials started and not completed: conn -> dialling node index.
    pub dialling: BTreeMap<u64, usize>,
    pub links: BTreeMap<u64, Link>,
    /// Complete every dial at once (else the test does it).
    pub auto_complete: bool,
    buf: Vec<u8>,
}

impl Net {
    pub fn new(a: u32, b: u32, cfg: SessionConfig, seed: u64) -> Self {
        Net {
            nodes: [
                Node::new(a, cfg.clone(), seed),
                Node::new(b, cfg, seed ^ 0x5555),
            ],
            now: Duration::from_secs(1),
            rng: SplitMix64::new(seed),
            next_conn: 1,
            next_op: 1,
            dialling: BTreeMap::new(),
            links: BTreeMap::new(),
            auto_complete: true,
            buf: Vec::new(),
        }
    }

    pub fn peer_of(&self, i: usize) -> u32 {
        self.nodes[1 - i].id
    }

    /// Node `i` dials the other node; returns the operation and what it turned into.
    pub fn dial(&mut self, i: usize) -> (OpId, DialAction) {
        let op = OpId(self.next_op);
        self.next_op += 1;
        let peer = self.peer_of(i);
        let action = self.nodes[i].ep.dial(peer, op, self.now);
        if let DialAction::Dial(h) = action {
            self.start_dial(i, h);
        }
        (op, action)
    }

    fn start_dial(&mut self, i: usize, h: SessionHandle) {
        let c = self.next_conn;
        self.next_conn += 1;
        self.nodes[i].ep.dial_started(c, h);
        self.dialling.insert(c, i);
    }

    /// Dial `c` connects: both endpoints see the connection.
    pub fn complete(&mut self, c: u64) {
        let Some(i) = self.dialling.remove(&c) else {
            return;
        };
        self.links.insert(
            c,
            Link {
                dialer: i,
                ..Link::default()
            },
        );
        let (pa, pb) = (self.peer_of(i), self.nodes[i].id);
        let now = self.now;
        self.nodes[i].ep.connection_established(pa, c, true, now);
        self.nodes[1 - i]
            .ep
            .connection_established(pb, c, false, now);
    }

    /// Dial `c` fails before it connects.
    pub fn refuse(&mut self, c: u64) -> DialFailed {
        let i = self.dialling.remove(&c).expect("a dial in progress");
        self.nodes[i].ep.dial_failed(c, self.now)
    }

    /// Connection `c` goes away: both sides are told.
    pub fn cut(&mut self, c: u64) {
        if self.links.remove(&c).is_some() {
            for n in &mut self.nodes {
                n.ep.connection_closed(c, self.now);
            }
        }
    }

    /// Carry out every endpoint and session event until none is left.
    pub fn drive(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..2 {
                moved |= self.drive_node(i);
            }
            if !moved {
                break;
            }
        }
    }

    fn drive_node(&mut self, i: usize) -> bool {
        let mut moved = false;
        let now = self.now;
        let handles: Vec<SessionHandle> = self.nodes[i].ep.sessions().map(|(h, _)| h).collect();
        for h in handles {
            let mut evs = Vec::new();
            if let Some(s) = self.nodes[i].ep.session_mut(h) {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
                while let Some(e) = s.poll_event() {
                    evs.push(e);
                }
            }
            for e in evs {
                moved = true;
                let ep = &mut self.nodes[i].ep;
                match &e {
                    Event::SessionOpen => ep.session_opened(h),
                    Event::SessionClose { reason, .. } => ep.session_closed(h, *reason),
                    Event::DropConnection { conn } => ep.close_connection(h, *conn),
                    Event::RekeyDue => {
                        let n = ep.session(h).map(|s| s.connection()).unwrap_or_default();
                        ep.close_connection(h, n);
                    }
                    Event::ReconnectAttempt { .. } if ep.redial(h).is_some() => {
                        self.start_dial(i, h);
                    }
                    _ => {}
                }
                self.nodes[i].session_events.push((h, e));
            }
        }
        while let Some(ev) = self.nodes[i].ep.poll_event() {
            moved = true;
            match ev {
                EndpointEvent::CloseConnection(c) => {
                    self.nodes[i].closed_conns.push(c);
                    self.cut(c);
                }
                EndpointEvent::OpDone { op, result } => {
                    self.nodes[i].ops.insert(op, result);
                }
                EndpointEvent::Accepted(h) => self.nodes[i].accepted.push(h),
                EndpointEvent::Attach {
                    conn,
                    session,
                    number,
                } => self.nodes[i].attaches.push((conn, session, number)),
                EndpointEvent::Created(_) => {}
            }
        }
        if self.auto_complete {
            let mine: Vec<u64> = self
                .dialling
                .iter()
                .filter(|(_, d)| **d == i)
                .map(|(c, _)| *c)
                .collect();
            for c in mine {
                moved = true;
                self.complete(c);
            }
        }
        moved
    }

    /// Move every frame the sessions want to send onto the link of their connection.
    pub fn transmit(&mut self) {
        for i in 0..2 {
            let routes: Vec<(u64, SessionHandle, ConnNumber)> = self.nodes[i]
                .ep
                .connections()
                .map(|(c, _, h, n)| (c, h, n))
                .collect();
            let handles: Vec<SessionHandle> = self.nodes[i].ep.sessions().map(|(h, _)| h).collect();
            for h in handles {
                loop {
                    self.buf.clear();
                    let Some(s) = self.nodes[i].ep.session_mut(h) else {
                        break;
                    };
                    let Some(t) = s.poll_transmit(self.now, &mut self.buf) else {
                        break;
                    };
                    let conn = routes
                        .iter()
                        .find(|(_, rh, n)| *rh == h && *n == t.conn)
                        .map(|(c, _, _)| *c);
                    if let Some(link) = conn.and_then(|c| self.links.get_mut(&c)) {
                        let dir = usize::from(link.dialer != i);
                        link.queues[dir][t.stream.index()].push_back(self.buf.clone());
                    }
                }
            }
        }
    }

    /// Deliver every frame in flight (random stream order), through the endpoints.
    pub fn deliver(&mut self) -> usize {
        let mut done = 0;
        loop {
            let mut ready = Vec::new();
            for (c, link) in &self.links {
                for dir in 0..2 {
                    for k in ChannelKind::ALL {
                        if !link.queues[dir][k.index()].is_empty() {
                            ready.push((*c, dir, k));
                        }
                    }
                }
            }
            if ready.is_empty() {
                return done;
            }
            let (c, dir, k) = ready[(self.rng.next_u64() % ready.len() as u64) as usize];
            let Some(link) = self.links.get_mut(&c) else {
                continue;
            };
            let frame = link.queues[dir][k.index()].pop_front().unwrap_or_default();
            let rx = if dir == 0 {
                1 - link.dialer
            } else {
                link.dialer
            };
            let now = self.now;
            let action = self.nodes[rx]
                .ep
                .handle_frame(c, k, &Bytes::from(frame), now);
            self.nodes[rx].read_actions.push(action);
            done += 1;
            self.drive();
            self.transmit();
        }
    }

    /// One round: events, transmits, deliveries; then move the clock (50 us after
    /// traffic, else to the next timer but at most `max_jump`).
    pub fn step(&mut self, max_jump: Duration) {
        self.drive();
        self.transmit();
        let moved = self.deliver();
        self.drive();
        self.transmit();
        if moved == 0 {
            let next = self
                .nodes
                .iter()
                .flat_map(|n| n.ep.sessions().filter_map(|(_, s)| s.poll_timeout()))
                .min();
            let target = next.unwrap_or(self.now + max_jump).min(self.now + max_jump);
            self.now = target.max(self.now + Duration::from_micros(1));
        } else {
            self.now += Duration::from_micros(50);
        }
    }

    /// Step until `done` holds or `limit` steps passed; true if `done` held.
    pub fn run_until(&mut self, limit: usize, mut done: impl FnMut(&mut Net) -> bool) -> bool {
        for _ in 0..limit {
            if done(self) {
                return true;
            }
            self.step(Duration::from_millis(100));
        }
        done(self)
    }

    /// Both nodes have an established, opened session with each other.
    pub fn both_open(&self) -> bool {
        self.nodes[0].opened(self.nodes[1].id) && self.nodes[1].opened(self.nodes[0].id)
    }
}

//! `web4._core.RttNode` / `RttSession`: the RTT transport, translated for Python.
//!
//! Theory of operation: translation only. Every call maps onto `web4_net::Node` or
//! `web4_net::Session`; non-blocking calls (`try_*`, `poll_op`) run with the GIL held and
//! never wait; blocking calls (`wait_op`, `accept_blocking`, `send_blocking`,
//! `recv_blocking`) release the GIL (`py.detach`) and always carry a timeout. asyncio
//! uses `wake_fd` (see `web4_net::wake`) and the non-blocking calls. Errors become
//! `web4.errors` classes (typed handles, `error.rs`); an expired wait is a `TimeoutError`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};

use web4_net::{
    gossip::Verdict, parse_kind, ChannelKind, CloseReason, Config, DialFailure, Field, NetError,
    Node, QueuePolicy,
};

use crate::error::{
    rtt_error, ConfigError, RTTBackpressureError, RTTHandshakeError, RTTReplayError,
    RTTTransportError, RttKind,
};

/// `web4_net::NetError` as its `web4.errors` class, with the kind set (RTT_SPEC §11).
pub fn net_err(e: NetError) -> PyErr {
    use RttKind as K;
    match e {
        NetError::Config(m) => ConfigError::new_err(m),
        NetError::Handshake(m) => rtt_error::<RTTHandshakeError>(K::Handshake, m),
        NetError::Transport(m) => rtt_error::<RTTTransportError>(K::Transport, m),
        NetError::Backpressure(m) => rtt_error::<RTTBackpressureError>(K::Backpressure, m),
        NetError::Replay(m) => rtt_error::<RTTReplayError>(K::Replay, m),
        NetError::Timeout(m) => PyTimeoutError::new_err(m),
        NetError::Dial { kind, message } => match kind {
            DialFailure::Handshake => rtt_error::<RTTHandshakeError>(K::Handshake, message),
            DialFailure::PeerIdMismatch => {
                rtt_error::<RTTHandshakeError>(K::PeerIdMismatch, message)
            }
            DialFailure::Refused => rtt_error::<RTTTransportError>(K::Refused, message),
            DialFailure::Timeout => rtt_error::<RTTTransportError>(K::Timeout, message),
            DialFailure::Unreachable => rtt_error::<RTTTransportError>(K::Unreachable, message),
            DialFailure::Other => rtt_error::<RTTTransportError>(K::Other, message),
        },
    }
}

fn kind(name: &str) -> PyResult<ChannelKind> {
    parse_kind(name).map_err(net_err)
}

fn secs(v: f64, key: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| {
        ConfigError::new_err(format!("{key} must be a non-negative number of seconds"))
    })
}

fn timeout_of(t: f64) -> PyResult<Duration> {
    secs(t, "timeout")
}

/// Seconds as a `Duration` (a Python int or float; not negative, NaN or infinite).
fn duration(obj: &Bound<'_, PyAny>) -> PyResult<Duration> {
    secs(obj.extract()?, "a duration")
}

/// `None` or 0: never (a rekey trigger that is off).
fn optional_duration(obj: &Bound<'_, PyAny>) -> PyResult<Option<Duration>> {
    let d: Option<f64> = obj.extract()?;
    d.map(|v| secs(v, "a duration"))
        .transpose()
        .map(|d| d.filter(|d| !d.is_zero()))
}

fn policy(obj: &Bound<'_, PyAny>) -> PyResult<Option<QueuePolicy>> {
    let name: Option<String> = obj.extract()?;
    name.map(|n| {
        QueuePolicy::parse(&n).ok_or_else(|| ConfigError::new_err(format!("unknown policy {n:?}")))
    })
    .transpose()
}

/// `web4.rtt.ChannelConfig`, read by attribute; `None` keeps the core's default.
#[derive(FromPyObject)]
struct ChannelSettings {
    #[pyo3(from_py_with = policy)]
    policy: Option<QueuePolicy>,
    send_queue_msgs: Option<usize>,
    send_queue_bytes: Option<usize>,
    inflight_msgs: Option<usize>,
    inflight_bytes: Option<usize>,
    recv_queue_msgs: Option<usize>,
    recv_queue_bytes: Option<usize>,
}

/// `TransportConfig.channels`: any mapping of channel kind name -> `ChannelConfig`.
fn channels(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(ChannelKind, ChannelSettings)>> {
    let mut out = Vec::new();
    for item in obj.call_method0("items")?.try_iter()? {
        let (name, settings): (String, ChannelSettings) = item?.extract()?;
        out.push((kind(&name)?, settings));
    }
    Ok(out)
}

/// `web4.rtt.TransportConfig`, read once by attribute when a node is built (its field
/// names are the contract; knobs it does not expose keep `Config::default`).
#[derive(FromPyObject)]
struct TransportSettings {
    max_message_size: usize,
    #[pyo3(from_py_with = duration)]
    heartbeat_interval: Duration,
    #[pyo3(from_py_with = duration)]
    heartbeat_timeout: Duration,
    #[pyo3(from_py_with = duration)]
    handshake_timeout: Duration,
    #[pyo3(from_py_with = duration)]
    connect_timeout: Duration,
    #[pyo3(from_py_with = duration)]
    session_expiry: Duration,
    #[pyo3(from_py_with = duration)]
    reconnect_initial: Duration,
    #[pyo3(from_py_with = duration)]
    reconnect_max: Duration,
    #[pyo3(from_py_with = optional_duration)]
    rekey_after_time: Option<Duration>,
    rekey_after_bytes: Option<u64>,
    max_events: usize,
    mdns: bool,
    dht: bool,
    discovery_loopback: bool,
    #[pyo3(from_py_with = duration)]
    spin_max: Duration,
    own_runtime: bool,
    relay_server: bool,
    relay_trusted_only: bool,
    max_connections: u32,
    protected_peers: Vec<String>,
    #[pyo3(from_py_with = channels)]
    channels: Vec<(ChannelKind, ChannelSettings)>,
}

impl TransportSettings {
    /// Errors: `ConfigError` naming the first bound `Config::validate` refuses.
    fn into_config(self) -> PyResult<Config> {
        let mut c = Config::default();
        let s = &mut c.session;
        s.max_payload = self.max_message_size;
        s.heartbeat.interval = self.heartbeat_interval;
        s.heartbeat.timeout = self.heartbeat_timeout;
        s.handshake_timeout = self.handshake_timeout;
        s.expiry = self.session_expiry;
        s.backoff.base = self.reconnect_initial;
        s.backoff.cap = self.reconnect_max;
        s.rekey_after_time = self.rekey_after_time;
        s.rekey_after_bytes = self.rekey_after_bytes.filter(|b| *b > 0); // 0: never
        c.connect_timeout = self.connect_timeout;
        c.max_events = self.max_events;
        c.discovery.mdns = self.mdns;
        c.discovery.dht = self.dht;
        c.discovery.allow_loopback = self.discovery_loopback;
        c.spin_max = self.spin_max;
        c.own_runtime = self.own_runtime;
        if self.relay_server {
            c.relay.server = Some(web4_net::RelayServerConfig {
                trusted_only: self.relay_trusted_only,
                ..Default::default()
            });
        }
        // The caps derive from the total (RTT_SPEC §16 "Connection caps").
        let total = self.max_connections;
        c.limits.established_total = total;
        c.limits.established_incoming = total / 4 * 3;
        c.limits.pending_incoming = total / 4;
        c.limits.pending_outgoing = total / 4;
        for p in &self.protected_peers {
            let id = p
                .parse::<libp2p::PeerId>()
                .map_err(|e| ConfigError::new_err(format!("protected peer {p:?}: {e}")))?;
            c.limits.protected.push(id);
        }
        for (k, cs) in self.channels {
            let ch = &mut c.session.channels[k.index()];
            if let Some(p) = cs.policy {
                ch.policy = p;
            }
            let bounds = [
                (&mut ch.send_queue_msgs, cs.send_queue_msgs),
                (&mut ch.send_queue_bytes, cs.send_queue_bytes),
                (&mut ch.inflight_msgs, cs.inflight_msgs),
                (&mut ch.inflight_bytes, cs.inflight_bytes),
                (&mut ch.recv_queue_msgs, cs.recv_queue_msgs),
                (&mut ch.recv_queue_bytes, cs.recv_queue_bytes),
            ];
            for (field, v) in bounds {
                if let Some(v) = v {
                    *field = v;
                }
            }
        }
        c.validate().map_err(net_err)?;
        Ok(c)
    }
}

/// A failed extraction as one `ConfigError`: the first `ConfigError` in the cause chain,
/// else the chain's messages on one line ("failed to extract field X.y: ...").
fn config_error_of(py: Python<'_>, e: PyErr) -> PyErr {
    let mut parts = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is_instance_of::<ConfigError>(py) {
            return err;
        }
        parts.push(err.value(py).to_string());
        next = err.cause(py);
    }
    ConfigError::new_err(format!("transport config: {}", parts.join(": ")))
}

/// The node's `Config` from a `TransportConfig` (`None`: the defaults). A field that is
/// missing or of the wrong type is a `ConfigError` naming it.
fn config_of(config: Option<&Bound<'_, PyAny>>) -> PyResult<Config> {
    let Some(obj) = config else {
        return Ok(Config::default());
    };
    let settings = obj
        .extract::<TransportSettings>()
        .map_err(|e| config_error_of(obj.py(), e))?;
    settings.into_config()
}

/// An RTT node: one libp2p identity, listeners, dialled and accepted sessions.
#[derive(Debug)]
#[pyclass(frozen, module = "web4._core")]
pub struct RttNode {
    node: Node,
}

#[pymethods]
impl RttNode {
    #[new]
    /// `config` is a `web4.rtt.TransportConfig` (any object with its attributes).
    #[pyo3(signature = (seed, config=None))]
    fn new(seed: &[u8], config: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let cfg = config_of(config)?;
        Ok(RttNode {
            node: Node::new(seed, cfg).map_err(net_err)?,
        })
    }

    /// The libp2p PeerId (base58) of this node's Ed25519 key.
    #[getter]
    fn peer_id(&self) -> String {
        self.node.peer_id().to_base58()
    }

    /// The fd asyncio watches for readability; then call `clear_wake` and re-poll.
    fn wake_fd(&self) -> i32 {
        self.node.wake_fd()
    }

    fn clear_wake(&self) {
        self.node.clear_wake();
    }

    /// asyncio is about to block with nothing else to run: spin (GIL released, bounded
    /// and adaptive, `TransportConfig.spin_max`) until a wake fd of the process is
    /// armed. Returns whether one is.
    fn spin_until_armed(&self, py: Python<'_>) -> bool {
        py.detach(|| self.node.spin_until_armed())
    }

    /// Spin outcomes, `((caught, ran_out) application side, (caught, ran_out) IO side)`.
    fn spin_outcomes(&self) -> ((u64, u64), (u64, u64)) {
        let [app, io] = self.node.spin_outcomes();
        (app, io)
    }

    fn listen(&self, addr: &str) -> PyResult<u64> {
        self.node.listen(addr).map_err(net_err)
    }

    fn dial(&self, addr: &str) -> PyResult<u64> {
        self.node.dial(addr).map_err(net_err)
    }

    fn poll_op(&self, op: u64) -> PyResult<Option<u64>> {
        self.node.poll_op(op).map_err(net_err)
    }

    fn wait_op(&self, py: Python<'_>, op: u64, timeout: f64) -> PyResult<u64> {
        let t = timeout_of(timeout)?;
        py.detach(|| self.node.wait_op(op, t)).map_err(net_err)
    }

    fn cancel_op(&self, op: u64) {
        self.node.cancel_op(op);
    }

    fn try_accept(&self) -> Option<u64> {
        self.node.try_accept()
    }

    fn accept_blocking(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<u64>> {
        let t = timeout_of(timeout)?;
        Ok(py.detach(|| self.node.accept_wait(t)))
    }

    fn session(&self, id: u64) -> PyResult<RttSession> {
        Ok(RttSession {
            inner: self.node.session(id).map_err(net_err)?,
        })
    }

    fn close_session(&self, id: u64) {
        self.node.close_session(id);
    }

    fn listen_addrs(&self) -> Vec<String> {
        self.node.listen_addrs()
    }

    /// The addresses peers reported (identify) seeing this node at, oldest first (the
    /// last 8 distinct), each ending with `/p2p/<our peer id>`: a peer's claim, unverified.
    fn observed_addrs(&self) -> Vec<String> {
        self.node.observed_addrs()
    }

    /// Seed the DHT with `/ip4/.../tcp/.../p2p/<peer id>`: an operation id.
    fn add_bootstrap(&self, addr: &str) -> PyResult<u64> {
        self.node.add_bootstrap(addr).map_err(net_err)
    }

    /// Look a peer id up in the DHT: an operation id (finishes with how many
    /// addresses were found, then in `addrs_of`).
    fn lookup(&self, peer_id: &str) -> PyResult<u64> {
        self.node.lookup(peer_id).map_err(net_err)
    }

    /// A peer's discovered addresses, each ending with `/p2p/<peer id>`.
    fn addrs_of(&self, peer_id: &str) -> PyResult<Vec<String>> {
        self.node.addrs_of(peer_id).map_err(net_err)
    }

    /// Every discovered peer, most recently heard of first: `(peer id, addresses,
    /// source)`, source `mdns` or `dht`.
    fn discovered(&self) -> Vec<(String, Vec<String>, &'static str)> {
        self.node
            .discovered()
            .into_iter()
            .map(|(p, a, s)| (p, a, s.as_str()))
            .collect()
    }

    /// Admit (`True`), refuse (`False`) or forget (`None`) a peer as a user of this
    /// node's relay server; a `pinned` refusal cannot be pushed out of the bounded lists
    /// by other refusals (RTT_SPEC §17). Raises `ConfigError` for a malformed peer id.
    #[pyo3(signature = (peer_id, allow, pinned=false))]
    fn relay_access(&self, peer_id: &str, allow: Option<bool>, pinned: bool) -> PyResult<()> {
        self.node
            .relay_access_pinned(peer_id, allow, pinned)
            .map_err(net_err)
    }

    /// Let `peer_id`'s inbound connections skip the incoming and total connection caps
    /// (`on`), or stop (RTT_SPEC §16 Connection caps). Raises `ConfigError` for a
    /// malformed peer id, `RTTBackpressureError` when the command queue is full.
    fn protect_peer(&self, peer_id: &str, on: bool) -> PyResult<()> {
        self.node.protect_peer(peer_id, on).map_err(net_err)
    }

    /// Whether session `id` is carried by a relayed connection now (`None`: no
    /// connection yet, or unknown).
    fn relayed(&self, id: u64) -> Option<bool> {
        self.node.relayed(id)
    }

    /// Relay and hole-punch counters.
    fn relay_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.node.relay_stats();
        let d = PyDict::new(py);
        for (k, v) in [
            ("reservations_accepted", s.reservations_accepted),
            ("reservations_denied", s.reservations_denied),
            ("circuits_accepted", s.circuits_accepted),
            ("circuits_denied", s.circuits_denied),
            ("circuits_closed", s.circuits_closed),
            ("reservations_made", s.reservations_made),
            ("relay_listeners_lost", s.relay_listeners_lost),
            ("relayed_connections", s.relayed_connections),
            ("hole_punch_ok", s.hole_punch_ok),
            ("hole_punch_failed", s.hole_punch_failed),
            ("upgrades", s.upgrades),
            ("punch_addrs_refused", s.punch_addrs_refused),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// Node-wide counters.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.node.stats();
        let d = PyDict::new(py);
        d.set_item("frames_rejected", s.frames_rejected)?;
        d.set_item("handshake_failures", s.handshake_failures)?;
        d.set_item("events_dropped", s.events_dropped)?;
        d.set_item("sessions", s.sessions)?;
        d.set_item("discovered", s.discovered)?;
        d.set_item("discovered_evicted", s.discovered_evicted)?;
        d.set_item("discovery_events_suppressed", s.discovery_events_suppressed)?;
        d.set_item("mdns_resets", s.mdns_resets)?;
        d.set_item("connections_denied", s.connections_denied)?;
        // by cap: `connections_denied_pending_in`, ..._pending_out, ..._established_in,
        // ..._per_peer, ..._total (RTT_SPEC §16 "Connection caps")
        for cap in web4_net::limits::Exceeded::ALL {
            let key = format!("connections_denied_{}", cap.name());
            d.set_item(key, s.connections_denied_by.get(cap))?;
        }
        Ok(d)
    }

    /// Up to `max` events, oldest first, each a dict with `kind` and its fields as
    /// native values (`str`, `int`, `bool`; RTT_SPEC §12).
    fn drain_events<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.node
            .drain_events(max)
            .into_iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("kind", e.name)?;
                for (k, v) in e.fields {
                    match v {
                        Field::Str(s) => d.set_item(k, s)?,
                        Field::Int(n) => d.set_item(k, n)?,
                        Field::Bool(b) => d.set_item(k, b)?,
                    }
                }
                Ok(d)
            })
            .collect()
    }

    /// Subscribe to a gossip topic (`/web4/...`, at most 256 bytes; RTT_SPEC §15).
    fn gossip_subscribe(&self, topic: &str) -> PyResult<()> {
        self.node.gossip_subscribe(topic).map_err(net_err)
    }

    fn gossip_unsubscribe(&self, topic: &str) -> PyResult<()> {
        self.node.gossip_unsubscribe(topic).map_err(net_err)
    }

    /// Publish one envelope on a topic: an operation id (finishes with 0, or fails).
    fn gossip_publish(&self, topic: &str, data: &[u8]) -> PyResult<u64> {
        self.node
            .gossip_publish(topic, data.to_vec())
            .map_err(net_err)
    }

    /// Up to `max` received gossip messages, each a dict: `id` (hex), `source` (the
    /// forwarder's PeerId), `topic` (str), `data` (bytes). Each needs one `gossip_report`.
    fn gossip_take<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.node
            .gossip_take(max)
            .into_iter()
            .map(|m| {
                let d = PyDict::new(py);
                d.set_item("id", m.id)?;
                d.set_item("source", m.source.to_base58())?;
                d.set_item("topic", m.topic)?;
                d.set_item("data", PyBytes::new(py, &m.data))?;
                Ok(d)
            })
            .collect()
    }

    /// `verdict`: `accept`, `reject` or `ignore` (`web4.rtt.GossipVerdict`).
    fn gossip_report(&self, id: &str, source: &str, verdict: &str) -> PyResult<()> {
        let v = Verdict::parse(verdict).map_err(net_err)?;
        self.node.gossip_report(id, source, v).map_err(net_err)
    }

    fn gossip_app_score(&self, peer: &str, score: f64) -> PyResult<()> {
        self.node.gossip_app_score(peer, score).map_err(net_err)
    }

    /// Gossip counters (ints).
    fn gossip_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.node.gossip_stats();
        let d = PyDict::new(py);
        d.set_item("published", s.published)?;
        d.set_item("publish_failed", s.publish_failed)?;
        d.set_item("received", s.received)?;
        d.set_item("duplicates", s.duplicates)?;
        d.set_item("accepted", s.accepted)?;
        d.set_item("rejected", s.rejected)?;
        d.set_item("ignored", s.ignored)?;
        d.set_item("dropped", s.dropped)?;
        Ok(d)
    }

    /// `{"scores": {peer: float}, "mesh": {topic: [peer]}, "subscribers": {topic: [peer]}}`
    /// as of the last gossip heartbeat.
    fn gossip_view<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let v = self.node.gossip_view();
        let scores = PyDict::new(py);
        for (p, s) in v.scores {
            scores.set_item(p.to_base58(), s)?;
        }
        let peers = |rows: Vec<(String, Vec<libp2p::PeerId>)>| -> PyResult<Bound<'py, PyDict>> {
            let d = PyDict::new(py);
            for (t, ps) in rows {
                d.set_item(t, ps.iter().map(|p| p.to_base58()).collect::<Vec<_>>())?;
            }
            Ok(d)
        };
        let d = PyDict::new(py);
        d.set_item("scores", scores)?;
        d.set_item("mesh", peers(v.mesh)?)?;
        d.set_item("subscribers", peers(v.subscribers)?)?;
        Ok(d)
    }

    fn shutdown(&self, py: Python<'_>) {
        py.detach(|| self.node.shutdown());
    }

    #[getter]
    fn is_shut_down(&self) -> bool {
        self.node.is_shut_down()
    }
}

/// One session with one peer (it survives reconnects).
#[derive(Debug)]
#[pyclass(frozen, module = "web4._core")]
pub struct RttSession {
    inner: Arc<web4_net::Session>,
}

#[pymethods]
impl RttSession {
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id
    }

    #[getter]
    fn peer_id(&self) -> String {
        self.inner.peer.to_base58()
    }

    #[getter]
    fn is_dialer(&self) -> bool {
        self.inner.dialer
    }

    /// `connecting`, `handshaking`, `established`, `disconnected` or `closed`.
    #[getter]
    fn state(&self) -> &'static str {
        use web4_net::SessionState as S;
        match self.inner.state() {
            S::Connecting => "connecting",
            S::Handshaking => "handshaking",
            S::Established => "established",
            S::Disconnected => "disconnected",
            S::Closed(_) => "closed",
        }
    }

    /// `reason` or `reason: text` (for a person; a program reads `close_code`).
    #[getter]
    fn close_reason(&self) -> Option<String> {
        self.inner.close_reason()
    }

    /// Why the session ended: a `web4.rtt.CloseReason` member, `None` while open.
    #[getter]
    fn close_code<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        static ENUM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        let Some(reason) = self.inner.close_code() else {
            return Ok(None);
        };
        let member = match reason {
            CloseReason::Normal => "NORMAL",
            CloseReason::UnknownSession => "UNKNOWN_SESSION",
            CloseReason::Expired => "EXPIRED",
            CloseReason::PeerRestarted => "PEER_RESTARTED",
            CloseReason::ProtocolError => "PROTOCOL_ERROR",
            CloseReason::Shutdown => "SHUTDOWN",
        };
        let cls = ENUM.import(py, "web4.rtt.config", "CloseReason")?;
        Ok(Some(cls.getattr(member)?))
    }

    fn open_channel(&self, kind_name: &str) -> PyResult<()> {
        self.inner.open_channel(kind(kind_name)?).map_err(net_err)
    }

    fn close_channel(&self, kind_name: &str) -> PyResult<()> {
        self.inner.close_channel(kind(kind_name)?);
        Ok(())
    }

    /// Queue without waiting; False when the `block` policy says wait.
    fn try_send(&self, kind_name: &str, payload: PyBackedBytes) -> PyResult<bool> {
        self.inner
            .try_send(kind(kind_name)?, shared(payload))
            .map_err(net_err)
    }

    /// Queue as many as fit without waiting, in order; returns how many.
    fn try_send_many(&self, kind_name: &str, payloads: Vec<PyBackedBytes>) -> PyResult<usize> {
        self.inner
            .try_send_many(kind(kind_name)?, payloads.into_iter().map(shared))
            .map_err(net_err)
    }

    fn send_blocking(
        &self,
        py: Python<'_>,
        kind_name: &str,
        payload: PyBackedBytes,
        timeout: f64,
    ) -> PyResult<()> {
        let (k, t, msg) = (kind(kind_name)?, timeout_of(timeout)?, shared(payload));
        py.detach(|| self.inner.send_blocking(k, msg, t))
            .map_err(net_err)
    }

    fn try_recv<'py>(
        &self,
        py: Python<'py>,
        kind_name: &str,
        max: usize,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let got = self
            .inner
            .try_recv(kind(kind_name)?, max)
            .map_err(net_err)?;
        Ok(got.iter().map(|m| PyBytes::new(py, m)).collect())
    }

    fn recv_blocking<'py>(
        &self,
        py: Python<'py>,
        kind_name: &str,
        timeout: f64,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let (k, t) = (kind(kind_name)?, timeout_of(timeout)?);
        let got = py
            .detach(|| self.inner.recv_blocking(k, t))
            .map_err(net_err)?;
        Ok(got.map(|m| PyBytes::new(py, &m)))
    }

    /// Messages never acknowledged, known once the session closed:
    /// `(channel, seq or None, payload)`.
    fn take_unacked<'py>(
        &self,
        py: Python<'py>,
    ) -> Vec<(&'static str, Option<u64>, Bound<'py, PyBytes>)> {
        self.inner
            .take_unacked()
            .into_iter()
            .map(|u| (u.channel.as_str(), u.seq, PyBytes::new(py, &u.payload)))
            .collect()
    }

    /// Telemetry snapshot as a dict (typed by `web4.rtt.SessionStats`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        for (k, c) in ChannelKind::ALL.iter().zip(s.channels.iter()) {
            let cd = PyDict::new(py);
            cd.set_item("sent", c.sent_msgs)?;
            cd.set_item("bytes_sent", c.sent_bytes)?;
            cd.set_item("received", c.received_msgs)?;
            cd.set_item("bytes_received", c.received_bytes)?;
            cd.set_item("dropped", c.dropped_by_policy)?;
            cd.set_item("refused", c.refused)?;
            cd.set_item("queue_high_water", c.queue_high_water_msgs)?;
            cd.set_item("queue_high_water_bytes", c.queue_high_water_bytes)?;
            cd.set_item("retransmits", c.retransmits)?;
            cd.set_item("replays_rejected", c.replays_rejected)?;
            cd.set_item("send_queued", c.send_queued_msgs)?;
            cd.set_item("send_queued_bytes", c.send_queued_bytes)?;
            cd.set_item("inflight", c.inflight_msgs)?;
            cd.set_item("inflight_bytes", c.inflight_bytes)?;
            cd.set_item("recv_queued", c.recv_queued_msgs)?;
            cd.set_item("recv_queued_bytes", c.recv_queued_bytes)?;
            d.set_item(k.as_str(), cd)?;
        }
        d.set_item("reconnects", s.reconnects)?;
        d.set_item("reconnect_attempts", s.reconnect_attempts)?;
        d.set_item("heartbeat_timeouts", s.heartbeat_timeouts)?;
        d.set_item("ack_timeouts", s.ack_timeouts)?;
        d.set_item("rekeys", s.rekeys)?;
        d.set_item("replays_rejected", s.replays_rejected)?;
        d.set_item("frames_rejected", s.frames_rejected)?;
        d.set_item("verification_failures", s.verification_failures)?;
        d.set_item("rtt_p50_us", s.rtt_p50_us)?;
        d.set_item("rtt_p95_us", s.rtt_p95_us)?;
        Ok(d)
    }
}

/// A payload for the session queues. Large `bytes` are shared with Python (no copy on
/// the calling thread; the one copy happens when the frame is written); small ones are
/// copied, which is cheaper than keeping a Python object alive and releasing it later.
fn shared(payload: PyBackedBytes) -> Bytes {
    const SHARE_FROM: usize = 16 * 1024;
    if payload.len() >= SHARE_FROM {
        Bytes::from_owner(payload)
    } else {
        Bytes::copy_from_slice(&payload)
    }
}

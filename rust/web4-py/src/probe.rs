//! `web4._core.RawProbe`: a raw libp2p peer for the conformance runner.
//!
//! Theory of operation: a test tool, not a node. It speaks TCP + Noise + yamux like an
//! RTT node but has no session layer: the caller opens streams by protocol id and reads
//! and writes bytes, so it can send what a correct node never would (malformed frames,
//! oversize prefixes, frames on the wrong stream) and see exactly what the peer answers.
//! It can dial (`dial`) and listen (`listen`), so it can also play a wrongly answering
//! node. One tokio runtime (one worker) drives the swarm in a task; Python's blocking
//! calls release the GIL and run their future on that runtime with a deadline. Streams
//! are opened with ordinary multistream-select (the peer confirms the protocol before
//! `open_stream` returns, so a refused id is an error at once) through `libp2p-stream`;
//! inbound streams of the accepted protocol ids are moved to one queue at once by a
//! task per id (`libp2p-stream` keeps one slot per id and drops a stream arriving while
//! it is taken, rust-libp2p #5651). A stream is split: reading and writing it from two
//! Python threads do not wait for each other. Errors are `web4.errors` classes; a wait
//! that expires is the builtin `TimeoutError`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::io::{ReadHalf, WriteHalf};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::core::transport::ListenerId;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{DialError, SwarmEvent};
use libp2p::{identity, noise, tcp, yamux, Multiaddr, PeerId, Stream, StreamProtocol, Swarm};
use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;
use tokio::sync::{mpsc, oneshot};

use crate::error::{raise, raise_kind};

/// The protocol ids a probe accepts inbound streams for unless told otherwise.
const RTT_PROTOCOLS: [&str; 3] = [
    "/web4/rtt/state/1.0.0",
    "/web4/rtt/knowledge/1.0.0",
    "/web4/rtt/control/1.0.0",
];
/// Largest chunk one `read` asks the stream for.
const READ_CHUNK: usize = 64 * 1024;

/// A probe error before it becomes a Python exception.
#[derive(Debug)]
enum ProbeError {
    /// A bad argument of ours: `ConfigError`.
    Config(String),
    /// `RTTTransportError` (or `RTTHandshakeError` for kind `handshake` /
    /// `peer_id_mismatch`) with this kind.
    Transport(&'static str, String),
    /// A deadline passed: `TimeoutError`.
    Timeout(String),
}

impl From<ProbeError> for PyErr {
    fn from(e: ProbeError) -> Self {
        match e {
            ProbeError::Config(m) => raise("ConfigError", m),
            ProbeError::Transport(k @ ("handshake" | "peer_id_mismatch"), m) => {
                raise_kind("RTTHandshakeError", m, Some(k))
            }
            ProbeError::Transport(k, m) => raise_kind("RTTTransportError", m, Some(k)),
            ProbeError::Timeout(m) => PyTimeoutError::new_err(m),
        }
    }
}

fn io_err(what: &str, e: &std::io::Error) -> ProbeError {
    use std::io::ErrorKind as K;
    let kind = match e.kind() {
        K::WriteZero | K::BrokenPipe | K::ConnectionReset | K::ConnectionAborted => "closed",
        _ => "transport",
    };
    ProbeError::Transport(kind, format!("{what}: {e}"))
}

/// What the swarm task is asked to do.
enum Cmd {
    Dial(Multiaddr, oneshot::Sender<Result<PeerId, ProbeError>>),
    Listen(Multiaddr, oneshot::Sender<Result<Multiaddr, ProbeError>>),
    Disconnect(oneshot::Sender<()>),
}

/// One open stream: its halves, and bytes read but not yet returned.
struct Slot {
    peer: PeerId,
    protocol: String,
    reader: tokio::sync::Mutex<(ReadHalf<Stream>, Vec<u8>)>,
    writer: tokio::sync::Mutex<WriteHalf<Stream>>,
}

/// Live connections per peer, kept by the swarm task.
#[derive(Default)]
struct Peers {
    connections: HashMap<PeerId, usize>,
    /// The peer of the most recent connection (dialled or accepted).
    last: Option<PeerId>,
}

/// A raw libp2p peer for conformance tests: dial or listen, open or accept streams by
/// protocol id, read and write bytes. Every blocking call takes a timeout in seconds.
#[pyclass(frozen, module = "web4._core")]
pub struct RawProbe {
    peer_id: PeerId,
    handle: tokio::runtime::Handle,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    cmds: mpsc::UnboundedSender<Cmd>,
    control: Mutex<libp2p_stream::Control>,
    peers: Arc<Mutex<Peers>>,
    incoming: tokio::sync::Mutex<mpsc::UnboundedReceiver<(PeerId, Stream, String)>>,
    streams: Mutex<HashMap<u64, Arc<Slot>>>,
    next_stream: AtomicU64,
}

impl std::fmt::Debug for RawProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawProbe")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn deadline(timeout: f64) -> Result<Duration, ProbeError> {
    Duration::try_from_secs_f64(timeout)
        .map_err(|_| ProbeError::Config("timeout must be a non-negative number of seconds".into()))
}

fn protocol(id: &str) -> Result<StreamProtocol, ProbeError> {
    StreamProtocol::try_from_owned(id.to_owned())
        .map_err(|e| ProbeError::Config(format!("bad protocol id {id:?}: {e}")))
}

fn dial_failure(addr: &Multiaddr, e: &DialError) -> ProbeError {
    let text = addr.to_string();
    let net = match e {
        DialError::WrongPeerId { obtained, .. } => {
            return ProbeError::Transport(
                "peer_id_mismatch",
                format!("the peer at {text} is {obtained}, not the peer id in the address"),
            )
        }
        DialError::Transport(errs) => match errs.first() {
            Some((_, libp2p::TransportError::Other(io))) => {
                web4_net::describe_dial_error(&text, &format!("{io:?}"), &io.to_string())
            }
            _ => {
                return ProbeError::Transport(
                    "unreachable",
                    format!("cannot dial {text}: address not supported"),
                )
            }
        },
        other => return ProbeError::Transport("other", format!("dial to {text} failed: {other}")),
    };
    ProbeError::Transport(net.kind(), net.to_string())
}

/// The swarm's event loop: runs commands, reports dials and listeners, counts
/// connections. Ends when the probe is dropped (its command sender closes).
async fn drive(
    mut swarm: Swarm<libp2p_stream::Behaviour>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    peers: Arc<Mutex<Peers>>,
) {
    let mut dials: HashMap<libp2p::swarm::ConnectionId, (Multiaddr, oneshot::Sender<_>)> =
        HashMap::new();
    let mut listens: HashMap<ListenerId, oneshot::Sender<Result<Multiaddr, ProbeError>>> =
        HashMap::new();
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => return,
                Some(Cmd::Dial(addr, reply)) => {
                    let opts = DialOpts::from(addr.clone());
                    let id = opts.connection_id();
                    match swarm.dial(opts) {
                        Ok(()) => {
                            dials.insert(id, (addr, reply));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(dial_failure(&addr, &e)));
                        }
                    }
                }
                Some(Cmd::Listen(addr, reply)) => match swarm.listen_on(addr.clone()) {
                    Ok(id) => {
                        listens.insert(id, reply);
                    }
                    Err(e) => {
                        let msg = format!("cannot listen on {addr}: {e}");
                        let _ = reply.send(Err(ProbeError::Transport("transport", msg)));
                    }
                },
                Some(Cmd::Disconnect(reply)) => {
                    let all: Vec<PeerId> = swarm.connected_peers().copied().collect();
                    for p in all {
                        let _ = swarm.disconnect_peer_id(p);
                    }
                    let _ = reply.send(());
                }
            },
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, connection_id, .. } => {
                    {
                        let mut p = lock(&peers);
                        *p.connections.entry(peer_id).or_default() += 1;
                        p.last = Some(peer_id);
                    }
                    if let Some((_, reply)) = dials.remove(&connection_id) {
                        let _ = reply.send(Ok(peer_id));
                    }
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established, .. } => {
                    let mut p = lock(&peers);
                    if num_established == 0 {
                        p.connections.remove(&peer_id);
                    } else {
                        p.connections.insert(peer_id, num_established as usize);
                    }
                }
                SwarmEvent::OutgoingConnectionError { connection_id, error, .. } => {
                    if let Some((addr, reply)) = dials.remove(&connection_id) {
                        let _ = reply.send(Err(dial_failure(&addr, &error)));
                    }
                }
                SwarmEvent::NewListenAddr { listener_id, address } => {
                    if let Some(reply) = listens.remove(&listener_id) {
                        let _ = reply.send(Ok(address));
                    }
                }
                SwarmEvent::ListenerError { listener_id, error } => {
                    if let Some(reply) = listens.remove(&listener_id) {
                        let msg = format!("listener failed: {error}");
                        let _ = reply.send(Err(ProbeError::Transport("transport", msg)));
                    }
                }
                _ => {}
            },
        }
    }
}

impl RawProbe {
    fn build(seed: Option<&[u8]>, accept: Vec<String>) -> Result<Self, ProbeError> {
        let keypair = match seed {
            None => identity::Keypair::generate_ed25519(),
            Some(s) => {
                let mut bytes: [u8; 32] = s.try_into().map_err(|_| {
                    ProbeError::Config(format!("an Ed25519 seed is 32 bytes, got {}", s.len()))
                })?;
                identity::Keypair::ed25519_from_bytes(&mut bytes)
                    .map_err(|e| ProbeError::Config(e.to_string()))?
            }
        };
        let protocols = accept
            .iter()
            .map(|p| protocol(p))
            .collect::<Result<Vec<_>, _>>()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("web4-probe")
            .enable_all()
            .build()
            .map_err(|e| ProbeError::Transport("transport", format!("no runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let _guard = runtime.enter();
        let terr = |e: &dyn std::fmt::Display| ProbeError::Transport("transport", e.to_string());
        let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| terr(&e))?
            .with_behaviour(|_| libp2p_stream::Behaviour::new())
            .map_err(|e| terr(&e))?
            // The caller decides when a connection ends (disconnect/close), not idleness.
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
            .build();
        let peer_id = *swarm.local_peer_id();
        let mut control = swarm.behaviour().new_control();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        for proto in protocols {
            let name = proto.to_string();
            let mut incoming = control
                .accept(proto)
                .map_err(|_| ProbeError::Config(format!("protocol {name} listed twice")))?;
            let tx = in_tx.clone();
            // Take each stream at once: libp2p-stream holds one per id and drops the next.
            runtime.spawn(async move {
                while let Some((peer, stream)) = incoming.next().await {
                    if tx.send((peer, stream, name.clone())).is_err() {
                        return;
                    }
                }
            });
        }
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let peers = Arc::new(Mutex::new(Peers::default()));
        runtime.spawn(drive(swarm, cmd_rx, peers.clone()));
        drop(_guard);
        Ok(RawProbe {
            peer_id,
            handle,
            runtime: Mutex::new(Some(runtime)),
            cmds: cmd_tx,
            control: Mutex::new(control),
            peers,
            incoming: tokio::sync::Mutex::new(in_rx),
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(1),
        })
    }

    fn check_open(&self) -> Result<(), ProbeError> {
        if lock(&self.runtime).is_none() {
            return Err(ProbeError::Transport(
                "closed",
                "the probe is closed".into(),
            ));
        }
        Ok(())
    }

    /// Run `fut` on the probe's runtime for at most `timeout` seconds, GIL released.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        timeout: f64,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, ProbeError>> + Send,
    ) -> Result<T, ProbeError> {
        self.check_open()?;
        let t = deadline(timeout)?;
        let handle = &self.handle;
        py.detach(|| {
            // A `close` from another thread between the check above and here shuts the
            // runtime down under us; tokio then panics on the timer: report it as closed.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handle.block_on(async {
                    match tokio::time::timeout(t, fut).await {
                        Ok(r) => r,
                        Err(_) => Err(ProbeError::Timeout(format!(
                            "{what}: no result within {timeout} s"
                        ))),
                    }
                })
            }))
            .unwrap_or_else(|_| {
                Err(ProbeError::Transport(
                    "closed",
                    "the probe is closed".into(),
                ))
            })
        })
    }

    fn slot(&self, stream: u64) -> Result<Arc<Slot>, ProbeError> {
        lock(&self.streams).get(&stream).cloned().ok_or_else(|| {
            ProbeError::Transport(
                "closed",
                format!("no stream {stream} (never opened, or reset)"),
            )
        })
    }

    fn add_stream(&self, peer: PeerId, protocol: String, stream: Stream) -> u64 {
        let (r, w) = stream.split();
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            peer,
            protocol,
            reader: tokio::sync::Mutex::new((r, Vec::new())),
            writer: tokio::sync::Mutex::new(w),
        };
        lock(&self.streams).insert(id, Arc::new(slot));
        id
    }

    fn peer(&self, peer: Option<&str>) -> Result<PeerId, ProbeError> {
        let p = lock(&self.peers);
        let wanted = match peer {
            Some(text) => text
                .parse::<PeerId>()
                .map_err(|e| ProbeError::Config(format!("bad peer id {text:?}: {e}")))?,
            None => p.last.ok_or_else(|| {
                ProbeError::Transport("closed", "not connected to any peer".into())
            })?,
        };
        if !p.connections.contains_key(&wanted) {
            return Err(ProbeError::Transport(
                "closed",
                format!("not connected to {wanted}"),
            ));
        }
        Ok(wanted)
    }
}

/// A minimal unsigned LEB128 varint at the front of `buf`: `Ok(None)` when more bytes
/// are needed, `(value, length)` when complete.
fn varint_prefix(buf: &[u8]) -> Result<Option<(u64, usize)>, &'static str> {
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().enumerate() {
        if i == 9 && b > 1 {
            return Err("length prefix overflows 64 bits");
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err("non-minimal length prefix");
            }
            return Ok(Some((value, i + 1)));
        }
    }
    Ok(None)
}

#[pymethods]
impl RawProbe {
    /// `seed`: a 32-byte Ed25519 seed (None: a fresh random key). `accept`: the protocol
    /// ids whose inbound streams are accepted (default: the three RTT channels); any
    /// other id is refused by multistream-select.
    #[new]
    #[pyo3(signature = (seed=None, accept=None))]
    fn new(seed: Option<&[u8]>, accept: Option<Vec<String>>) -> PyResult<Self> {
        let accept =
            accept.unwrap_or_else(|| RTT_PROTOCOLS.iter().map(|p| (*p).to_owned()).collect());
        Ok(Self::build(seed, accept)?)
    }

    /// This probe's PeerId (base58).
    #[getter]
    fn peer_id(&self) -> String {
        self.peer_id.to_base58()
    }

    /// Listen on `addr` (e.g. `/ip4/127.0.0.1/tcp/0`); the address with `/p2p/<id>`.
    fn listen(&self, py: Python<'_>, addr: &str, timeout: f64) -> PyResult<String> {
        let ma: Multiaddr = addr
            .parse()
            .map_err(|e| ProbeError::Config(format!("bad multiaddr {addr:?}: {e}")))?;
        let (tx, rx) = oneshot::channel();
        self.check_open()?;
        let _ = self.cmds.send(Cmd::Listen(ma, tx));
        let got = self.run(py, timeout, "listen", async move {
            rx.await
                .unwrap_or_else(|_| Err(ProbeError::Transport("closed", "probe closed".into())))
        })?;
        Ok(format!("{got}/p2p/{}", self.peer_id))
    }

    /// Dial `addr` (with `/p2p/<id>`: the peer's key is checked by Noise) and wait for
    /// the connection; the peer's PeerId. Errors: `RTTTransportError` /
    /// `RTTHandshakeError` with the dial kinds of RTT_SPEC §11; `TimeoutError`.
    fn dial(&self, py: Python<'_>, addr: &str, timeout: f64) -> PyResult<String> {
        let ma: Multiaddr = addr
            .parse()
            .map_err(|e| ProbeError::Config(format!("bad multiaddr {addr:?}: {e}")))?;
        if !matches!(ma.iter().last(), Some(libp2p::multiaddr::Protocol::P2p(_))) {
            return Err(ProbeError::Config(format!("{addr} has no /p2p/<peer id>")).into());
        }
        let (tx, rx) = oneshot::channel();
        self.check_open()?;
        let _ = self.cmds.send(Cmd::Dial(ma, tx));
        let peer = self.run(py, timeout, "dial", async move {
            rx.await
                .unwrap_or_else(|_| Err(ProbeError::Transport("closed", "probe closed".into())))
        })?;
        Ok(peer.to_base58())
    }

    /// PeerIds with at least one live connection.
    fn connected_peers(&self) -> Vec<String> {
        lock(&self.peers)
            .connections
            .keys()
            .map(|p| p.to_base58())
            .collect()
    }

    /// Open an outbound stream for `protocol` to `peer` (default: the peer of the most
    /// recent connection); a stream handle. The peer confirms the protocol first: a
    /// refused id is `RTTTransportError` with kind `unsupported_protocol`.
    #[pyo3(signature = (protocol, timeout, peer=None))]
    fn open_stream(
        &self,
        py: Python<'_>,
        protocol: &str,
        timeout: f64,
        peer: Option<&str>,
    ) -> PyResult<u64> {
        let proto = self::protocol(protocol)?;
        let target = self.peer(peer)?;
        let mut control = lock(&self.control).clone();
        let stream = self.run(py, timeout, "open_stream", async move {
            control
                .open_stream(target, proto)
                .await
                .map_err(|e| match e {
                    libp2p_stream::OpenStreamError::UnsupportedProtocol(p) => {
                        ProbeError::Transport(
                            "unsupported_protocol",
                            format!("the peer refused protocol {p}"),
                        )
                    }
                    other => ProbeError::Transport("transport", other.to_string()),
                })
        })?;
        Ok(self.add_stream(target, protocol.to_owned(), stream))
    }

    /// The next inbound stream the peer opened, in arrival order:
    /// `(handle, protocol id, peer id)`. `TimeoutError` when none arrives in time.
    fn accept_stream(&self, py: Python<'_>, timeout: f64) -> PyResult<(u64, String, String)> {
        let incoming = &self.incoming;
        let (peer, stream, proto) = self.run(py, timeout, "accept_stream", async move {
            incoming
                .lock()
                .await
                .recv()
                .await
                .ok_or_else(|| ProbeError::Transport("closed", "probe closed".into()))
        })?;
        let id = self.add_stream(peer, proto.clone(), stream);
        Ok((id, proto, peer.to_base58()))
    }

    /// `(protocol id, peer id)` of a stream handle.
    fn stream_info(&self, stream: u64) -> PyResult<(String, String)> {
        let s = self.slot(stream)?;
        Ok((s.protocol.clone(), s.peer.to_base58()))
    }

    /// Write all of `data` on the stream and flush it.
    fn write(
        &self,
        py: Python<'_>,
        stream: u64,
        data: PyBackedBytes,
        timeout: f64,
    ) -> PyResult<()> {
        let slot = self.slot(stream)?;
        self.run(py, timeout, "write", async move {
            let mut w = slot.writer.lock().await;
            w.write_all(&data).await.map_err(|e| io_err("write", &e))?;
            w.flush().await.map_err(|e| io_err("write", &e))
        })?;
        Ok(())
    }

    /// Up to `max_bytes` bytes as soon as any are there; `b""` when the peer ended the
    /// stream (yamux FIN) or reset it (RST): yamux reports both alike.
    fn read<'py>(
        &self,
        py: Python<'py>,
        stream: u64,
        max_bytes: usize,
        timeout: f64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let slot = self.slot(stream)?;
        let max = max_bytes.max(1);
        let data = self.run(py, timeout, "read", async move {
            let mut guard = slot.reader.lock().await;
            let (half, pending) = &mut *guard;
            if !pending.is_empty() {
                let n = max.min(pending.len());
                return Ok(pending.drain(..n).collect::<Vec<u8>>());
            }
            let mut buf = vec![0u8; max.min(READ_CHUNK)];
            // Cancel-safe: a read that times out has taken no bytes.
            let n = half.read(&mut buf).await.map_err(|e| io_err("read", &e))?;
            buf.truncate(n);
            Ok(buf)
        })?;
        Ok(PyBytes::new(py, &data))
    }

    /// One length-prefixed message (RTT_SPEC §4): the body without its prefix, `None`
    /// when the stream ends between messages. A prefix over `max_len`, a non-minimal
    /// prefix, or the stream ending inside a message is `RTTTransportError` with kind
    /// `malformed`. Bytes read before a timeout are kept for the next read.
    fn read_message<'py>(
        &self,
        py: Python<'py>,
        stream: u64,
        max_len: usize,
        timeout: f64,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let slot = self.slot(stream)?;
        let body = self.run(py, timeout, "read_message", async move {
            let mut guard = slot.reader.lock().await;
            let (half, pending) = &mut *guard;
            let malformed = |m: String| ProbeError::Transport("malformed", m);
            loop {
                if let Some((len, used)) =
                    varint_prefix(pending).map_err(|m| malformed(m.into()))?
                {
                    if len > max_len as u64 {
                        return Err(malformed(format!(
                            "message of {len} bytes announced, more than {max_len}"
                        )));
                    }
                    let end = used + len as usize;
                    if pending.len() >= end {
                        let body = pending[used..end].to_vec();
                        pending.drain(..end);
                        return Ok(Some(body));
                    }
                }
                let mut buf = vec![0u8; READ_CHUNK];
                let n = half.read(&mut buf).await.map_err(|e| io_err("read", &e))?;
                if n == 0 {
                    if pending.is_empty() {
                        return Ok(None);
                    }
                    return Err(malformed(format!(
                        "the stream ended inside a message ({} bytes of it read)",
                        pending.len()
                    )));
                }
                pending.extend_from_slice(&buf[..n]);
            }
        })?;
        Ok(body.map(|b| PyBytes::new(py, &b)))
    }

    /// Half-close the stream (yamux FIN): no more writes; reading goes on.
    fn close_stream(&self, py: Python<'_>, stream: u64, timeout: f64) -> PyResult<()> {
        let slot = self.slot(stream)?;
        self.run(py, timeout, "close_stream", async move {
            slot.writer
                .lock()
                .await
                .close()
                .await
                .map_err(|e| io_err("close", &e))
        })?;
        Ok(())
    }

    /// Forget the stream; if it was not closed both ways, yamux resets it (RST).
    fn reset_stream(&self, stream: u64) -> PyResult<()> {
        lock(&self.streams)
            .remove(&stream)
            .map(drop)
            .ok_or_else(|| ProbeError::Transport("closed", format!("no stream {stream}")).into())
    }

    /// Close every connection (the streams on them end).
    fn disconnect(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let (tx, rx) = oneshot::channel();
        self.check_open()?;
        let _ = self.cmds.send(Cmd::Disconnect(tx));
        self.run(py, timeout, "disconnect", async move {
            rx.await
                .map_err(|_| ProbeError::Transport("closed", "probe closed".into()))
        })?;
        Ok(())
    }

    /// Stop the probe: connections and streams end. Closing twice does nothing.
    fn close(&self, py: Python<'_>) {
        lock(&self.streams).clear();
        if let Some(rt) = lock(&self.runtime).take() {
            py.detach(|| rt.shutdown_timeout(Duration::from_secs(1)));
        }
    }

    fn __repr__(&self) -> String {
        format!("RawProbe(peer_id={})", self.peer_id)
    }
}

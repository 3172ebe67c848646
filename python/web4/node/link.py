"""The node's view of the transport: a small ``Link`` port, and a loopback TCP link.

Theory of operation: the node needs five things from a transport: listen, dial,
accept, one authenticated session per peer with typed channels (``control``, ``state``,
``knowledge``), and lifecycle events plus a telemetry snapshot for observability. The
``LinkTransport``/``LinkSession`` protocols say exactly that, so the node composes any
transport with one adapter: the RTT transport (``web4.rtt``) is one, and ``TcpLink`` here
is the other, for hosts where the RTT extension is not built.

``TcpLink`` is deliberately small and honest about what it is: asyncio TCP streams,
mutual Ed25519 authentication (each side signs both nonces and both keys; the peer's
fingerprint is what the session reports, and a ``/p2p/<fingerprint>`` suffix on a dialled
address is checked), length-prefixed frames tagged with the channel, a bounded inbound
queue (a full queue stops the reader, so TCP pushes back on the sender), and a ping every
``heartbeat`` seconds for latency telemetry. It is NOT encrypted and does not resume
sessions: RTT does those. Every wait has a deadline.

Multiaddrs: ``/ip4/<address>/tcp/<port>`` with an optional ``/p2p/<peer>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from web4 import _core
from web4.errors import ConfigError, RTTHandshakeError, RTTTransportError
from web4.identity import Identity

__all__ = ["CHANNELS", "LinkSession", "LinkTransport", "TcpLink", "parse_multiaddr"]

CHANNELS = ("control", "state", "knowledge")
_PING, _PONG = 3, 4
_MAGIC = b"web4-link/1"
_MAX_FRAME = 1024 * 1024
_ADDR = re.compile(r"^/ip4/(\d{1,3}(?:\.\d{1,3}){3})/tcp/(\d{1,5})(?:/p2p/([A-Za-z0-9]+))?$")


class LinkSession(Protocol):
    """One authenticated session with one peer."""

    @property
    def peer(self) -> str:
        """The peer's fingerprint (lowercase hex SHA-256 of its Ed25519 public key)."""
        ...

    @property
    def closed(self) -> bool: ...

    async def send(self, channel: str, data: bytes, *, timeout: float) -> None:
        """Raises ``RTTTransportError`` (closed, too big) or ``TimeoutError``."""
        ...

    async def receive(self, *, timeout: float) -> tuple[str, bytes] | None:
        """The next (channel, bytes), ``None`` after ``timeout``; raises
        ``RTTTransportError`` once the session is closed and drained."""
        ...

    async def close(self) -> None: ...


class LinkTransport(Protocol):
    async def listen(self, addr: str) -> list[str]: ...

    async def connect(self, addr: str, *, timeout: float) -> LinkSession: ...

    async def accept(self, *, timeout: float) -> LinkSession | None: ...

    def drain_events(self) -> list[dict[str, Any]]: ...

    def telemetry(self) -> dict[str, Any]: ...

    async def shutdown(self) -> None: ...


@dataclass(frozen=True)
class Multiaddr:
    host: str
    port: int
    peer: str | None


def parse_multiaddr(addr: str) -> Multiaddr:
    """Parse ``/ip4/A/tcp/P[/p2p/ID]``. Raises ``ConfigError`` for anything else."""
    m = _ADDR.match(addr.strip())
    if m is None or int(m.group(2)) > 65535 or any(int(o) > 255 for o in m.group(1).split(".")):
        raise ConfigError(f"{addr!r} is not a multiaddr like /ip4/127.0.0.1/tcp/7001")
    return Multiaddr(m.group(1), int(m.group(2)), m.group(3))


def _auth_message(nonce_a: bytes, nonce_b: bytes, key_a: bytes, key_b: bytes) -> bytes:
    return _MAGIC + b" auth" + nonce_a + nonce_b + key_a + key_b


class _TcpSession:
    def __init__(
        self,
        link: TcpLink,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        direction: str,
    ) -> None:
        self._link = link
        self._reader = reader
        self._writer = writer
        self._peer = peer
        self.direction = direction
        self._inbox: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(link.queue_bound)
        self._wlock = asyncio.Lock()
        self._closed = False
        self._pings: dict[int, float] = {}
        self.latencies: deque[float] = deque(maxlen=64)
        self.sent = self.received = 0
        self._tasks = [
            asyncio.create_task(self._read_loop(), name=f"link-read-{peer[:8]}"),
            asyncio.create_task(self._ping_loop(), name=f"link-ping-{peer[:8]}"),
        ]

    @property
    def peer(self) -> str:
        return self._peer

    @property
    def closed(self) -> bool:
        return self._closed

    async def send(self, channel: str, data: bytes, *, timeout: float) -> None:
        if channel not in CHANNELS:
            raise ConfigError(f"unknown channel {channel!r}")
        if len(data) > _MAX_FRAME:
            raise RTTTransportError(f"message of {len(data)} bytes is over {_MAX_FRAME}")
        await self._frame(CHANNELS.index(channel), data, timeout)
        self.sent += 1

    async def _frame(self, code: int, data: bytes, timeout: float) -> None:
        if self._closed:
            raise RTTTransportError(f"session with {self._peer[:16]} is closed")
        async with asyncio.timeout(timeout), self._wlock:
            try:
                self._writer.write(struct.pack(">IB", len(data) + 1, code) + data)
                await self._writer.drain()
            except (ConnectionError, OSError) as e:
                await self._shut(f"write failed: {e}")
                raise RTTTransportError(f"send to {self._peer[:16]} failed: {e}") from e

    async def receive(self, *, timeout: float) -> tuple[str, bytes] | None:
        if self._closed and self._inbox.empty():
            raise RTTTransportError(f"session with {self._peer[:16]} is closed")
        try:
            async with asyncio.timeout(timeout):
                item = await self._inbox.get()
        except TimeoutError:
            return None
        if item is None:
            raise RTTTransportError(f"session with {self._peer[:16]} is closed")
        return item

    async def close(self) -> None:
        await self._shut("closed locally")
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _shut(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(None)
        self._link.event("session_close", peer=self._peer, reason=reason)

    async def _read_loop(self) -> None:
        try:
            while True:
                head = await self._reader.readexactly(4)
                (size,) = struct.unpack(">I", head)
                if not 1 <= size <= _MAX_FRAME + 1:
                    raise RTTTransportError(f"frame of {size} bytes refused")
                body = await self._reader.readexactly(size)
                code, data = body[0], body[1:]
                if code == _PING:
                    await self._frame(_PONG, data, self._link.heartbeat)
                elif code == _PONG and len(data) == 8:
                    started = self._pings.pop(struct.unpack(">Q", data)[0], None)
                    if started is not None:
                        self.latencies.append(time.monotonic() - started)
                elif code < len(CHANNELS):
                    self.received += 1
                    await self._inbox.put((CHANNELS[code], data))  # bounded: backpressure
                else:
                    raise RTTTransportError(f"unknown channel code {code}")
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            await self._shut("connection closed by peer")
        except (RTTTransportError, TimeoutError) as e:
            await self._shut(str(e) or type(e).__name__)

    async def _ping_loop(self) -> None:
        n = 0
        while not self._closed:
            await asyncio.sleep(self._link.heartbeat)
            n += 1
            self._pings = {k: v for k, v in self._pings.items() if k > n - 8}
            self._pings[n] = time.monotonic()
            with contextlib.suppress(RTTTransportError, TimeoutError):
                await self._frame(_PING, struct.pack(">Q", n), self._link.heartbeat)


class TcpLink:
    """Authenticated loopback TCP link (see the module docstring)."""

    def __init__(
        self,
        identity: Identity,
        *,
        heartbeat: float = 1.0,
        queue_bound: int = 256,
        max_events: int = 1024,
    ) -> None:
        self.identity = identity
        self.heartbeat = heartbeat
        self.queue_bound = queue_bound
        self._servers: list[asyncio.Server] = []
        self._accepted: asyncio.Queue[_TcpSession] = asyncio.Queue(64)
        self._sessions: list[_TcpSession] = []
        self._events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self._pending: set[asyncio.Task[None]] = set()
        self.handshake_failures = 0

    def event(self, kind: str, **attrs: Any) -> None:
        self._events.append({"kind": kind, "transport": "tcp-link", **attrs})

    async def listen(self, addr: str) -> list[str]:
        """Listen on ``addr``; returns the bound address(es) with the real port.
        Raises ``ConfigError`` (bad address) or ``RTTTransportError`` (cannot bind)."""
        ma = parse_multiaddr(addr)
        try:
            server = await asyncio.start_server(self._on_client, ma.host, ma.port)
        except OSError as e:
            raise RTTTransportError(f"cannot listen on {addr}: {e.strerror or e}") from e
        self._servers.append(server)
        ports = {s.getsockname()[1] for s in server.sockets}
        return [f"/ip4/{ma.host}/tcp/{p}/p2p/{self.identity.fingerprint}" for p in sorted(ports)]

    async def connect(self, addr: str, *, timeout: float) -> _TcpSession:
        """Dial and authenticate. Raises ``ConfigError``, ``RTTTransportError``
        (unreachable, timeout) or ``RTTHandshakeError`` (wrong or unproven peer key)."""
        ma = parse_multiaddr(addr)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(ma.host, ma.port)
        except (OSError, TimeoutError) as e:
            raise RTTTransportError(f"cannot reach {addr}: {e or 'timeout'}") from e
        return await self._authenticate(reader, writer, ma.peer, "outbound", timeout)

    async def accept(self, *, timeout: float) -> _TcpSession | None:
        try:
            async with asyncio.timeout(timeout):
                return await self._accepted.get()
        except TimeoutError:
            return None

    def drain_events(self) -> list[dict[str, Any]]:
        out = list(self._events)
        self._events.clear()
        return out

    def telemetry(self) -> dict[str, Any]:
        peers: dict[str, Any] = {}
        for s in self._sessions:
            if s.closed:
                continue
            lat = sorted(s.latencies)
            p50 = lat[len(lat) // 2] * 1000 if lat else None
            p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))] * 1000 if lat else None
            peers[s.peer] = {
                "latency_p50_ms": p50,
                "latency_p95_ms": p95,
                "drop_rate": 0.0,
                "sent": s.sent,
                "received": s.received,
                "verification_failures": self.handshake_failures,
            }
        return {"transport": "tcp-link", "peers": peers}

    async def shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._pending):
            task.cancel()
        sessions, self._sessions = self._sessions, []
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pending.add(task)
        try:
            session = await self._authenticate(reader, writer, None, "inbound", 5.0)
            try:
                self._accepted.put_nowait(session)
            except asyncio.QueueFull:
                await session.close()
        except (RTTTransportError, RTTHandshakeError):
            writer.close()
        finally:
            self._pending.discard(task)

    async def _authenticate(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        expected: str | None,
        direction: str,
        timeout: float,
    ) -> _TcpSession:
        me = self.identity
        nonce = os.urandom(32)
        try:
            async with asyncio.timeout(timeout):
                writer.write(_MAGIC + me.public_key + nonce)
                await writer.drain()
                hello = await reader.readexactly(len(_MAGIC) + 64)
                if hello[: len(_MAGIC)] != _MAGIC:
                    raise RTTHandshakeError("the peer does not speak web4-link/1")
                key, peer_nonce = hello[len(_MAGIC) : -32], hello[-32:]
                writer.write(me.sign(_auth_message(peer_nonce, nonce, me.public_key, key)))
                await writer.drain()
                proof = await reader.readexactly(64)
        except (asyncio.IncompleteReadError, OSError, TimeoutError) as e:
            writer.close()
            self.handshake_failures += 1
            raise RTTTransportError(f"link handshake failed: {e or 'timeout'}") from e
        except RTTHandshakeError:
            writer.close()
            self.handshake_failures += 1
            raise
        peer = _core.fingerprint(key)
        ok = _core.verify(key, _auth_message(nonce, peer_nonce, key, me.public_key), proof)
        if not ok or (expected is not None and expected not in (peer, peer[: len(expected)])):
            writer.close()
            self.handshake_failures += 1
            why = "key proof does not verify" if not ok else f"peer is {peer[:16]}…"
            self.event("handshake_failed", peer=peer, reason=why, level="warning")
            raise RTTHandshakeError(f"link authentication failed: {why}")
        session = _TcpSession(self, reader, writer, peer, direction)
        self._sessions = [s for s in self._sessions if not s.closed] + [session]
        self.event("session_open", peer=peer, direction=direction)
        return session

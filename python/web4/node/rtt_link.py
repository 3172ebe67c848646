"""The RTT adapter: ``web4.rtt.Transport`` as the node's ``LinkTransport``.

Theory of operation: RTT sessions are authenticated by Noise with the peers' Ed25519
identity keys, and name the peer by its libp2p PeerId. An Ed25519 PeerId embeds the raw
public key (RTT_SPEC §2), so ``fingerprint_of_peer_id`` recovers the key (libp2p's own
``PeerId`` decoding, in Rust: ``web4._core.peer_id_public_key``) and the node's
fingerprint (lowercase hex SHA-256 of the key) without trusting anything the peer says:
the handshake, the router and the trust book all key peers by that fingerprint, and a
session's ``peer_key`` is the key the transport authenticated.

RTT reads per channel; the node reads a session as one stream of (channel, bytes). The
adapter runs one reader task per channel, each putting into one bounded queue (a full
queue stops the readers, and RTT's own bounded queues and yamux windows push back on the
sender). RTT events and telemetry get the fingerprint as ``peer`` too, so metrics and
trust speak of the same peer. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from web4 import _core
from web4.errors import ConfigError, RTTError, RTTHandshakeError, RTTTransportError
from web4.identity import Identity
from web4.node.link import CHANNELS
from web4.rtt import Channel, Session, Transport, TransportConfig
from web4.rtt.gossip import Gossip
from web4.rtt.stats import DENIAL_REASONS

__all__ = ["RttLink", "RttSession", "fingerprint_of_peer_id", "peer_key_of_peer_id"]


def peer_key_of_peer_id(peer_id: str) -> bytes:
    """The raw 32-byte Ed25519 public key inside an Ed25519 libp2p PeerId.
    Raises ``RTTHandshakeError`` for anything else."""
    try:
        return _core.peer_id_public_key(peer_id)
    except ConfigError as e:
        raise RTTHandshakeError(f"peer id: {e}") from None


def fingerprint_of_peer_id(peer_id: str) -> str:
    """The fingerprint of the Ed25519 key inside an Ed25519 libp2p PeerId.
    Raises ``RTTHandshakeError`` for anything else."""
    return _core.fingerprint(peer_key_of_peer_id(peer_id))


class RttSession:
    """One RTT session seen as a ``LinkSession``."""

    def __init__(self, session: Session, *, queue_bound: int = 256, tick: float = 0.25) -> None:
        self._s = session
        self._key = peer_key_of_peer_id(session.peer_id)
        self._peer = _core.fingerprint(self._key)
        self._tick = tick
        self._chans: dict[str, Channel] = {k: session.open_channel(k) for k in CHANNELS}
        self._inbox: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(queue_bound)
        self._closed = False
        self._tasks = [
            asyncio.create_task(self._read(kind), name=f"rtt-read-{kind}-{self._peer[:8]}")
            for kind in CHANNELS
        ]

    @property
    def peer(self) -> str:
        return self._peer

    @property
    def peer_id(self) -> str:
        """The peer's libp2p PeerId."""
        return self._s.peer_id

    @property
    def peer_key(self) -> bytes:
        """The peer's raw 32-byte Ed25519 public key, as the transport authenticated it
        (for envelopes that leave out ``sender.pubkey``)."""
        return self._key

    @property
    def closed(self) -> bool:
        return self._closed or self._s.state == "closed"

    @property
    def connected(self) -> bool:
        return not self._closed and self._s.state == "established"

    @property
    def dialled(self) -> bool:
        return self._s.is_dialer

    def undelivered(self) -> list[tuple[str, bytes]]:
        """(channel, bytes) of the messages the peer never acknowledged, once the session
        has closed (RTT_SPEC §5.6; empty before, and taken: a second call is empty)."""
        return [(str(u.channel), u.payload) for u in self._s.unacked()]

    async def send(self, channel: str, data: bytes, *, timeout: float) -> None:
        """Raises ``RTTTransportError``/``RTTBackpressureError`` (RTT's errors)."""
        await self._s.send(self._chans[channel], data, timeout=timeout)

    async def receive(self, *, timeout: float) -> tuple[str, bytes] | None:
        if self.closed and self._inbox.empty():
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
        self._closed = True
        with contextlib.suppress(RTTError):
            await self._s.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _read(self, kind: str) -> None:
        chan = self._chans[kind]
        try:
            while not self._closed:
                try:
                    batch = await self._s.receive_many(chan, 64, timeout=self._tick)
                except TimeoutError:
                    continue
                for data in batch:
                    await self._inbox.put((kind, data))  # bounded: backpressure
        except RTTError:
            self._closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self._inbox.put_nowait(None)


class RttLink:
    """``web4.rtt.Transport`` behind the node's ``LinkTransport`` port."""

    def __init__(self, identity: Identity, config: TransportConfig | None = None) -> None:
        """Raises ``ConfigError``/``RTTTransportError`` from the transport."""
        self._t = Transport(identity, config)
        self._sessions: list[RttSession] = []
        self.gossip = Gossip(self._t)  # topics on the same swarm (web4.rtt.gossip)

    async def listen(self, addr: str) -> list[str]:
        return await self._t.listen(addr)

    async def connect(self, addr: str, *, timeout: float) -> RttSession:
        """Raises ``ConfigError``, ``RTTTransportError``, ``RTTHandshakeError``."""
        session = await self._t.connect(addr, timeout=timeout)
        for known in self._sessions:
            # A session we already serve (the peer dialled first, or both dialled at once
            # and the transport settled on one session): one wrapper, one set of readers.
            if known._s is session and not known.closed:
                return known
        try:
            return self._keep(RttSession(session))
        except RTTError:  # not an Ed25519 peer, or it left at once: do not leave it open
            await session.close()
            raise

    async def accept(self, *, timeout: float) -> RttSession | None:
        try:
            session = await self._t.accept_one(timeout)
        except TimeoutError:
            return None
        except RTTTransportError:  # it opened and was gone before we picked it up
            return None
        try:
            return self._keep(RttSession(session))
        except RTTError:  # not an Ed25519 peer, or it left before its channels opened
            await session.close()
            return None

    def _keep(self, s: RttSession) -> RttSession:
        self._sessions = [x for x in self._sessions if not x.closed] + [s]
        return s

    @property
    def relay(self) -> RttLink:
        """Relay access controls (``web4.node.relaying.RelayPort``)."""
        return self

    def relay_access(self, peer_id: str, allow: bool | None, *, pinned: bool = False) -> None:
        """Raises ``ConfigError`` for a bad peer id."""
        self._t.relay_access(peer_id, allow, pinned=pinned)

    @property
    def limits(self) -> RttLink:
        """Connection-cap controls (``web4.node.protect.ProtectPort``)."""
        return self

    def protect_peer(self, peer_id: str, on: bool) -> None:
        """Raises ``ConfigError`` for a bad peer id, ``RTTBackpressureError``."""
        self._t.protect_peer(peer_id, on)

    @property
    def discovery(self) -> RttLink:
        """Discovered peers and DHT lookups (``web4.node.discovery.Discovering``)."""
        return self

    def discovered(self) -> list[tuple[str, list[str], str]]:
        return self._t.discovered()

    def addrs_of(self, peer_id: str) -> list[str]:
        """Raises ``ConfigError`` for a bad peer id."""
        return self._t.addrs_of(peer_id)

    def observed_addrs(self) -> list[str]:
        """Where peers say they see this node (identify; unverified claims)."""
        return self._t.observed_addrs()

    async def lookup(self, peer_id: str, *, timeout: float) -> list[str]:
        """Raises ``ConfigError``, ``RTTError`` (not found, too many lookups)."""
        return await self._t.lookup(peer_id, timeout=timeout)

    async def add_bootstrap(self, addr: str) -> None:
        """Raises ``ConfigError`` (bad address), ``RTTTransportError``."""
        await self._t._op(self._t.add_bootstrap(addr), None)

    def drain_events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for raw in self._t.drain_events():
            ev: dict[str, Any] = dict(raw)
            if "kind" not in ev and isinstance(ev.get("event"), str):
                ev["kind"] = ev.pop("event")  # RTT names the kind "event"
            with contextlib.suppress(RTTHandshakeError):
                if isinstance(ev.get("peer"), str):
                    ev["peer_id"] = ev["peer"]
                    ev["peer"] = fingerprint_of_peer_id(ev["peer"])
            out.append(ev)
        return out

    def telemetry(self) -> dict[str, Any]:
        peers: dict[str, Any] = {}
        for s in self._sessions:
            if not s.connected:  # a disconnected peer has no latency to report
                continue
            st = s._s.stats()
            chans = (st.state, st.knowledge, st.control)
            sent = sum(c.sent for c in chans)
            dropped = sum(c.dropped + c.refused for c in chans)
            peers[s.peer] = {
                "latency_p50_ms": None if st.rtt_p50_us is None else st.rtt_p50_us / 1000,
                "latency_p95_ms": None if st.rtt_p95_us is None else st.rtt_p95_us / 1000,
                "drop_rate": dropped / max(1, sent + dropped),
                "verification_failures": st.verification_failures,
                "reconnects": st.reconnects,
                "sent": sent,
                "received": sum(c.received for c in chans),
            }
        # node-wide counters for operators (RTT_SPEC §16, §17): one rtt.node_stats event
        ns = self._t.stats()
        node: dict[str, int] = {
            f"connections_denied{sfx}": getattr(ns, f"connections_denied{sfx}")
            for sfx in ("", *(f"_{r}" for r in DENIAL_REASONS))
        }
        node["punch_addrs_refused"] = self._t.relay_stats().get("punch_addrs_refused", 0)
        return {"transport": "rtt", "peers": peers, "node": node}

    async def shutdown(self) -> None:
        for s in list(self._sessions):
            await s.close()
        await self._t.shutdown()

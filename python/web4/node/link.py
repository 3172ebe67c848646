"""The node's view of the transport: a small ``Link`` port.

Theory of operation: the node needs five things from a transport: listen, dial,
accept, one authenticated session per peer with typed channels (``control``, ``state``,
``knowledge``), and lifecycle events plus a telemetry snapshot for observability. The
``LinkTransport``/``LinkSession`` protocols say exactly that, so the node composes its
transport through one adapter: the RTT transport (``web4.rtt``: encrypted, mutually
authenticated, resumable) behind ``web4.node.rtt_link.RttLink``, the only transport the
product has.

Multiaddrs: ``/ip4/<address>/tcp/<port>`` (or ``/ip6/``) with an optional
``/p2p/<peer>`` (an Ed25519 PeerId); ``parse_multiaddr`` checks configured addresses
before the node starts, with libp2p's own parser (``web4._core.parse_multiaddr``), the
one the transport dials with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from web4 import _core
from web4.errors import ConfigError

__all__ = ["CHANNELS", "LinkSession", "LinkTransport", "parse_multiaddr"]

CHANNELS = ("control", "state", "knowledge")


class LinkSession(Protocol):
    """One authenticated session with one peer."""

    @property
    def peer(self) -> str:
        """The peer's fingerprint (lowercase hex SHA-256 of its Ed25519 public key)."""
        ...

    @property
    def closed(self) -> bool: ...

    @property
    def connected(self) -> bool:
        """True while a connection is up (False while it is being resumed, or closed)."""
        ...

    @property
    def dialled(self) -> bool:
        """True if this side opened the session: it starts the CIP handshake. (``connect``
        can return a session the peer opened, when both dialled at once.)"""
        ...

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
    """Parse ``/ip4|ip6/A/tcp/P[/p2p/ID]`` (``ID`` an Ed25519 PeerId). Raises
    ``ConfigError`` for anything else, saying which part is wrong."""
    try:
        _, host, port, peer = _core.parse_multiaddr(addr.strip())
    except ConfigError as e:
        raise ConfigError(
            f"{addr!r} is not a multiaddr like /ip4/127.0.0.1/tcp/7001: {e}"
        ) from None
    return Multiaddr(host, port, peer)

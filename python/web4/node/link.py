"""The node's view of the transport: a small ``Link`` port.

Theory of operation: the node needs five things from a transport: listen, dial,
accept, one authenticated session per peer with typed channels (``control``, ``state``,
``knowledge``), and lifecycle events plus a telemetry snapshot for observability. The
``LinkTransport``/``LinkSession`` protocols say exactly that, so the node composes its
transport through one adapter: the RTT transport (``web4.rtt``: encrypted, mutually
authenticated, resumable) behind ``web4.node.rtt_link.RttLink``, the only transport the
product has.

Multiaddrs: ``/ip4/<address>/tcp/<port>`` with an optional ``/p2p/<peer>``;
``parse_multiaddr`` checks configured addresses before the node starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from web4.errors import ConfigError

__all__ = ["CHANNELS", "LinkSession", "LinkTransport", "parse_multiaddr"]

CHANNELS = ("control", "state", "knowledge")
_ADDR = re.compile(r"^/ip4/(\d{1,3}(?:\.\d{1,3}){3})/tcp/(\d{1,5})(?:/p2p/([A-Za-z0-9]+))?$")


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
    """Parse ``/ip4/A/tcp/P[/p2p/ID]``. Raises ``ConfigError`` for anything else."""
    m = _ADDR.match(addr.strip())
    if m is None or int(m.group(2)) > 65535 or any(int(o) > 255 for o in m.group(1).split(".")):
        raise ConfigError(f"{addr!r} is not a multiaddr like /ip4/127.0.0.1/tcp/7001")
    return Multiaddr(m.group(1), int(m.group(2)), m.group(3))

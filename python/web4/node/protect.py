"""Trusted peers are never locked out by a connection flood (RTT_SPEC §16 Connection caps).

Theory of operation: the transport caps connections whoever opens them (keys are free);
the operator's ``--peer`` ids are protected from the incoming and total caps from the
start (``TransportConfig.protected_peers``), and ``ProtectGate`` protects, at run time,
each peer the trust book holds ``trusted`` (only the operator makes a peer trusted, so
their number is the operator's), once the node has seen its PeerId on a session, and
stops when it is no longer trusted. A trusted peer whose connection drops during a
flood can then reconnect while strangers are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from web4.errors import TrustError, Web4Error
from web4.trust import TrustState

__all__ = ["MAX_PROTECTED", "ProtectGate", "ProtectPort"]

# As the transport's run-time bound (web4_net::limits::MAX_PROTECTED): beyond it, new
# peers are not protected.
MAX_PROTECTED = 4096


class ProtectPort(Protocol):
    """The transport's connection-cap controls (``web4.node.rtt_link.RttLink``)."""

    def protect_peer(self, peer_id: str, on: bool) -> None: ...


class ProtectGate:
    """Keeps the transport's protected peers in step with the trust book's ``trusted``."""

    def __init__(self, port: ProtectPort, trust_of: Callable[[str], TrustState]) -> None:
        self._port = port
        self._trust_of = trust_of
        self._on: dict[str, str] = {}  # protected peer id -> its fingerprint

    def sync(self, peers: Iterable[tuple[str, str]]) -> int:
        """Apply the trust state of each ``(peer id, fingerprint)``, and of every peer
        protected before (connected now or not: one the operator stopped trusting while
        it was away loses its protection now, not when it is back); returns how many
        peers changed. Never raises (a peer whose state cannot be read, or that the
        transport refuses, is skipped and tried again next time)."""
        changed = 0
        seen = list(peers)
        named = {peer_id for peer_id, _ in seen}
        seen += [(p, fp) for p, fp in self._on.items() if p not in named]
        for peer_id, fp in seen:
            try:
                trusted = self._trust_of(fp) is TrustState.TRUSTED
            except TrustError:
                continue
            if trusted == (peer_id in self._on):
                continue
            if trusted and len(self._on) >= MAX_PROTECTED:
                continue
            try:
                self._port.protect_peer(peer_id, trusted)
            except Web4Error:
                continue
            if trusted:
                self._on[peer_id] = fp
            else:
                self._on.pop(peer_id, None)
            changed += 1
        return changed

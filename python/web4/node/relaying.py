"""Reachability for the node: listening through relays, and who may use our relay.

Theory of operation (RTT_SPEC §17): a node behind NAT names relays (``--relay``); it
listens on ``<relay>/p2p-circuit`` through each, which reserves a slot there, and is
then reachable at ``<relay>/p2p-circuit/p2p/<our peer id>``. The transport keeps the
reservation: one refused or lost is tried again with backoff, so a relay that is down
at start costs a warning, not the node. A node serving as a relay (``--relay-server``)
keeps the relay's access lists in step with the trust book (``RelayGate``): a peer
held ``untrusted`` or ``blacklisted`` is refused, a ``trusted`` one admitted (the only
ones served with ``--relay-trusted-only``); every other peer is served within the
relay's fixed bounds only. Keys are free, so fresh keys can get themselves refused by
the thousand: the refusal of a key with standing the operator gave (a trust anchor, a
key once ``trusted``, one blacklisted by hand: ``operator_standing``) is *pinned*, in a
tier of the transport's bounded lists that other refusals cannot flush. Trust is never
earned through the relay: a relayed connection is Noise end to end, authenticated and
trust-gated like a direct one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from web4.errors import TrustError, Web4Error
from web4.trust import TrustBook, TrustState

__all__ = [
    "MAX_GATED",
    "RelayGate",
    "RelayPort",
    "circuit_addr",
    "listen_through",
    "operator_standing",
]

# Peers whose relay access this node remembers having set (beyond: forgotten, re-sent).
MAX_GATED = 4096


class RelayPort(Protocol):
    """The transport's relay controls (``web4.node.rtt_link.RttLink``)."""

    def relay_access(self, peer_id: str, allow: bool | None, *, pinned: bool = False) -> None: ...


class Listener(Protocol):
    async def listen(self, addr: str) -> list[str]: ...


def circuit_addr(relay: str, peer_id: str) -> str:
    """Where peers reach us through ``relay`` (``/…/p2p/RELAY/p2p-circuit/p2p/US``)."""
    return f"{relay}/p2p-circuit/p2p/{peer_id}"


async def listen_through(
    transport: Listener, relays: Iterable[str], peer_id: str, emit: Callable[..., Any]
) -> list[str]:
    """Listen through each relay; returns the addresses we are reachable at through
    them (a relay unavailable now is kept and retried by the transport: its address is
    returned too, with a ``node.relay`` event saying so)."""
    out: list[str] = []
    for relay in relays:
        try:
            got = await transport.listen(f"{relay}/p2p-circuit")
        except Web4Error as exc:
            emit(
                "node.relay",
                level="warning",
                relay=relay,
                outcome="unavailable",
                error=str(exc)[:200],
            )
            got = [circuit_addr(relay, peer_id)]
        else:
            emit("node.relay", relay=relay, outcome="reserved")
        out += [a for a in got if a not in out]
    return out


def _access(state: TrustState) -> bool | None:
    if state is TrustState.TRUSTED:
        return True
    if state in (TrustState.UNTRUSTED, TrustState.BLACKLISTED):
        return False
    return None  # probing: the relay's bounds alone


def operator_standing(trust: TrustBook, anchors: Iterable[str]) -> Callable[[str], bool]:
    """Whether the operator gave a key standing: a trust anchor, or a key whose recent
    audit (its last 256 entries) shows it ``trusted`` or an operator's own act (a manual
    blacklist). Nothing a fresh key does gives it that. Raises ``TrustError`` for a
    malformed fingerprint."""
    named = frozenset(anchors)

    def standing(fp: str) -> bool:
        if fp in named:
            return True
        return any(
            e.operator is not None or TrustState.TRUSTED in (e.src, e.dst)
            for e in trust.audit(fp, limit=256, newest=True)
        )

    return standing


class RelayGate:
    """Keeps the relay server's access lists in step with the trust book."""

    def __init__(
        self,
        port: RelayPort,
        trust_of: Callable[[str], TrustState],
        standing: Callable[[str], bool] | None = None,
    ) -> None:
        """``standing``: whether a refused key's refusal is pinned (``operator_standing``;
        ``None``: never)."""
        self._port = port
        self._trust_of = trust_of
        self._standing = standing or (lambda _: False)
        self._set: dict[str, tuple[bool | None, bool]] = {}

    def sync(self, peers: Iterable[tuple[str, str]]) -> int:
        """Apply the trust state of each ``(peer id, fingerprint)``; returns how many
        access entries changed. Never raises (a peer whose id or state cannot be read is
        skipped)."""
        changed = 0
        for peer_id, fp in peers:
            try:
                allow = _access(self._trust_of(fp))
                pinned = allow is False and self._standing(fp)
            except TrustError:
                continue
            if self._set.get(peer_id) == (allow, pinned):
                continue
            try:
                self._port.relay_access(peer_id, allow, pinned=pinned)
            except Web4Error:
                continue
            if len(self._set) >= MAX_GATED:
                self._set.clear()
            self._set[peer_id] = (allow, pinned)
            changed += 1
        return changed

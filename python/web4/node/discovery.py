"""Discovered peers for the node: whom to dial, whom to drop, and how each was found.

Theory of operation: the transport names peers (mDNS on the LAN, the Kademlia DHT
beyond it; RTT_SPEC §16) in a bounded book; it never opens a session or trusts anyone.
``PeerFinder`` is the node's connection manager over that book. Every ``interval`` it
counts the live sessions: below ``min_peers`` (the low watermark) it dials discovered
peers it is not connected to, at most the shortfall at once, one dial at a time per
peer, each address tried once per round, and a peer whose dial failed waits a growing
cooldown (bounded table), as does each address that failed (PeerIds are free: a DHT
record naming a third party's ``host:port`` under a thousand fresh ids must not make the
node dial that host a thousand times), and one address is dialled for one peer at a
time; above ``max_peers`` (the high watermark) it closes the least
useful sessions until back at the mark: never a configured ``--peer``, a trust anchor
nor an authorised human (``protected``); untrusted before probing before trusted, a
handshake not done first, and among equals the one that routed fewest messages (idle)
first. The sessions chosen are the least useful of *all* sessions, young ones included,
but one younger than ``grace`` (30 s: it has had no chance to be useful; a burst of
short sessions, such as a conformance run, is not cut) is spared for now rather than
replaced by an older, more useful one: a flood of fresh keys' sessions, each younger
than the grace, must not evict the trusted peers in their place. A dialled discovered peer is an
ordinary session: the CIP handshake and the trust gate apply as to any other
(``Node.start_peer``); discovery grants nothing.

``resolve`` turns a bare PeerId (``web4 node --peer 12D3KooW...``) into addresses: the
book first (mDNS may know it), else a DHT lookup, retried with backoff until found.
``source_of`` says how a peer was found (``configured``, ``mdns``, ``dht``; ``None``:
it dialled us), for ``web4 peers``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from web4 import _core
from web4.cip import Role
from web4.cip.service import PeerConn
from web4.errors import ConfigError, RTTError, TrustError
from web4.isolation import Isolate
from web4.node.link import LinkSession
from web4.observability import EventBus
from web4.trust import TrustState

__all__ = ["Discovering", "FinderHost", "PeerFinder", "fingerprint_of", "is_peer_id"]

# Cooldown after a failed dial of a discovered peer: base * 2**failures, capped.
COOLDOWN_BASE_S = 5.0
COOLDOWN_CAP_S = 300.0
# Peers whose source or cooldown is remembered (LRU beyond).
MEMORY = 1024
_RANK = {
    TrustState.BLACKLISTED: 0,
    TrustState.UNTRUSTED: 1,
    TrustState.PROBING: 2,
    TrustState.TRUSTED: 3,
}


def is_peer_id(value: str) -> bool:
    """A bare Ed25519 libp2p PeerId (``12D3KooW...``), not a multiaddr."""
    if value.startswith("/"):
        return False
    try:
        _core.peer_id_public_key(value)
    except ConfigError:
        return False
    return True


def fingerprint_of(peer_id: str) -> str | None:
    """The fingerprint of an Ed25519 PeerId, ``None`` for anything else."""
    try:
        return _core.fingerprint(_core.peer_id_public_key(peer_id))
    except ConfigError:
        return None


class Discovering(Protocol):
    """What the finder needs of the transport (``RttLink``)."""

    def discovered(self) -> list[tuple[str, list[str], str]]: ...

    def addrs_of(self, peer_id: str) -> list[str]: ...

    async def lookup(self, peer_id: str, *, timeout: float) -> list[str]: ...


class FinderHost(Protocol):
    """What the finder needs of the node."""

    bus: EventBus
    conns: dict[str, PeerConn]
    fingerprint: str
    send_timeout: float

    def running(self) -> bool: ...

    async def sleep(self, seconds: float) -> None: ...

    def now(self) -> float: ...

    def start_peer(
        self, session: LinkSession, role: Role, *, serve_inline: bool = False
    ) -> PeerConn | None: ...

    async def serve_peer(self, conn: PeerConn) -> None: ...


def _host_part(addr: str) -> str:
    """``addr`` without its ``/p2p/...`` part: the host and port a dial reaches."""
    return addr.split("/p2p/", 1)[0]


class _Lru(OrderedDict[str, Any]):
    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MEMORY:
            self.popitem(last=False)


class PeerFinder:
    """The node's connection manager over discovered peers (module docstring)."""

    def __init__(
        self,
        host: FinderHost,
        transport: Discovering,
        connect: Callable[..., Awaitable[LinkSession]],
        *,
        min_peers: int,
        max_peers: int,
        configured: Iterable[str],
        anchors: Iterable[str],
        trust_of: Callable[[str], TrustState],
        interval: float = 1.0,
        grace: float = 30.0,
        isolate: Isolate | None = None,
        protected: Callable[[str], bool] | None = None,
    ) -> None:
        """``configured``: fingerprints of the ``--peer`` peers; ``anchors``: trust
        anchors' fingerprints; ``protected``: asked at each prune (an authorised human);
        none of them is ever pruned. ``isolate``: a bug met dialling one discovered peer
        ends that dial only (``web4.isolation``; None: it propagates). Raises
        ``ConfigError`` for bad watermarks."""
        if not 0 <= min_peers <= max_peers or max_peers < 1:
            raise ConfigError(
                f"need 0 <= min_peers <= max_peers and max_peers >= 1 "
                f"(got {min_peers} and {max_peers})"
            )
        self._host = host
        self._t = transport
        self._connect = connect  # the node's (durable) transport: sessions as any other
        self.min_peers = min_peers
        self.max_peers = max_peers
        self._keep = frozenset(configured) | frozenset(anchors)
        self._trust_of = trust_of
        self._interval = interval
        self._grace = grace
        self._isolate = isolate
        self._protected = protected
        self._since: dict[str, float] = {}  # live peer -> when this finder first saw it
        self._sources: _Lru = _Lru()
        self._cooldown: _Lru = _Lru()  # fingerprint -> (failures, retry_at)
        self._addr_cooldown: _Lru = _Lru()  # address without /p2p -> (failures, retry_at)
        self._addr_busy: set[str] = set()  # addresses being dialled
        self._dialling: set[str] = set()
        self.dials = 0  # dials started (tests and metrics)
        for fp in self._keep:
            self._sources.put(fp, "configured")

    def source_of(self, fingerprint: str) -> str | None:
        """``configured``, ``mdns`` or ``dht``; ``None``: the peer dialled us."""
        return self._sources.get(fingerprint)

    def mark_configured(self, fingerprint: str) -> None:
        self._sources.put(fingerprint, "configured")

    def _live(self) -> list[PeerConn]:
        return [c for c in self._host.conns.values() if not c.session.closed]

    async def run(self) -> None:
        """Keep the node between its watermarks until it stops."""
        async with asyncio.TaskGroup() as tg:
            while self._host.running():
                self.step(tg)
                await self._host.sleep(self._interval)

    def step(self, tg: asyncio.TaskGroup) -> None:
        """One round: dial up to the low watermark, prune down to the high one."""
        live = self._live()
        self.prune(live)
        want = self.min_peers - len(live) - len(self._dialling)
        if want <= 0:
            return
        connected = {c.peer for c in live}
        now = self._host.now()
        for peer_id, addrs, source in self._t.discovered():
            if want <= 0:
                break
            fp = fingerprint_of(peer_id)
            if fp is None or fp == self._host.fingerprint or fp in connected:
                continue
            if fp in self._dialling or not addrs:
                continue
            cool = self._cooldown.get(fp)
            if cool is not None and cool[1] > now:
                continue
            with_trust = self._trust(fp)
            if with_trust is TrustState.BLACKLISTED:
                continue
            addrs = [a for a in addrs if self._addr_free(a, now)]
            if not addrs:
                continue
            if fp not in self._sources:  # put: setdefault would bypass the LRU bound
                self._sources.put(fp, source)
            self._dialling.add(fp)
            self._addr_busy.update(_host_part(a) for a in addrs)
            want -= 1
            self.dials += 1
            tg.create_task(self._dial(fp, peer_id, addrs, source), name=f"discovered {fp[:16]}")

    def _addr_free(self, addr: str, now: float) -> bool:
        host = _host_part(addr)
        cool = self._addr_cooldown.get(host)
        return host not in self._addr_busy and (cool is None or cool[1] <= now)

    def _trust(self, fp: str) -> TrustState:
        try:
            return self._trust_of(fp)
        except TrustError:
            return TrustState.UNTRUSTED

    def _cool(self, fp: str, table: _Lru | None = None) -> None:
        """``fp`` (a fingerprint, or an address in ``table``) failed: not dialled again
        for 5 s, doubling per failure up to 5 min."""
        table = self._cooldown if table is None else table
        failures = (table.get(fp) or (0, 0.0))[0] + 1
        delay = min(COOLDOWN_CAP_S, COOLDOWN_BASE_S * 2 ** (failures - 1))
        table.put(fp, (failures, self._host.now() + delay))

    async def _dial(self, fp: str, peer_id: str, addrs: list[str], source: str) -> None:
        host = self._host
        busy = {_host_part(a) for a in addrs}  # marked by step()
        try:
            session = None
            for addr in addrs:
                if not host.running():
                    return
                host.bus.emit("node.peer_dial", peer=fp, peer_id=peer_id, source=source, addr=addr)
                try:
                    session = await self._connect(addr, timeout=host.send_timeout)
                    self._addr_cooldown.pop(_host_part(addr), None)
                    break
                except (RTTError, ConfigError) as e:
                    self._cool(_host_part(addr), self._addr_cooldown)
                    host.bus.emit(
                        "node.peer_dial_failed", level="debug", peer=fp, source=source,
                        addr=addr, error_kind=getattr(e, "kind", "config"), error=str(e)[:200],
                    )  # fmt: skip
            if session is None:
                self._cool(fp)
                return
            if session.peer != fp:  # the transport authenticated another key: drop it
                await session.close()
                self._cool(fp)
                return
            role = Role.INITIATOR if session.dialled else Role.RESPONDER
            conn = host.start_peer(session, role, serve_inline=True)
            self._dialling.discard(fp)
            if conn is not None:
                self._cooldown.pop(fp, None)
                await host.serve_peer(conn)
            elif fp not in host.conns:  # refused (a peer banned for a flood): no redial loop
                self._cool(fp)
        except Exception as e:
            if self._isolate is None or not self._isolate(fp, "discovery", e):
                raise
            self._cool(fp)  # as after a failed dial: a bug met again is met later
        finally:
            self._dialling.discard(fp)
            self._addr_busy -= busy

    def prune(self, live: list[PeerConn]) -> list[str]:
        """Close sessions above the high watermark, least useful first; returns the
        fingerprints closed."""
        excess = len(live) - self.max_peers
        if excess <= 0:
            self._since = {c.peer: self._since.get(c.peer, self._host.now()) for c in live}
            return []
        now = self._host.now()
        self._since = {c.peer: self._since.get(c.peer, now) for c in live}
        protected = self._protected or (lambda _: False)
        candidates = [c for c in live if c.peer not in self._keep and not protected(c.peer)]
        candidates.sort(key=lambda c: (_RANK.get(self._trust(c.peer), 1), c.ready, c.routed))
        # the least useful of all; the young among them are spared, not replaced
        victims = [c for c in candidates[:excess] if now - self._since[c.peer] >= self._grace]
        closed = []
        for c in victims:
            self._host.bus.emit(
                "node.peer_pruned", peer=c.peer, trust=str(self._trust(c.peer)),
                routed=c.routed, source=self.source_of(c.peer) or "inbound",
                reason=f"above the high watermark of {self.max_peers} sessions",
            )  # fmt: skip
            c.stop.set()
            closed.append(c.peer)
        return closed

    async def dial_by_id(self, peer_id: str, *, timeout: float = 10.0) -> None:
        """The whole life of a bare-PeerId ``--peer``: resolve it, dial its addresses in
        turn, serve the session; when the session ends or no address answers, resolve
        again (it may have moved) after a growing delay (1 s doubling to 60 s, reset by
        a session). Runs until the node stops."""
        host = self._host
        fp = fingerprint_of(peer_id)
        delay = 1.0
        while host.running():
            for addr in await self.resolve(peer_id, timeout=timeout):
                try:
                    session = await self._connect(addr, timeout=host.send_timeout)
                except (RTTError, ConfigError) as e:
                    host.bus.emit(
                        "node.peer_dial_failed", level="debug", peer=fp, source="configured",
                        addr=addr, error_kind=getattr(e, "kind", "config"), error=str(e)[:200],
                    )  # fmt: skip
                    continue
                delay = 1.0
                role = Role.INITIATOR if session.dialled else Role.RESPONDER
                conn = host.start_peer(session, role, serve_inline=True)
                if conn is not None:
                    await host.serve_peer(conn)
                else:  # already served (the peer dialled us): wait for that one to end
                    while host.running() and not session.closed:
                        await host.sleep(1.0)
                break
            await host.sleep(delay)
            delay = min(60.0, delay * 2)

    async def resolve(self, peer_id: str, *, timeout: float) -> list[str]:
        """Addresses of a bare PeerId: the book first, else a DHT lookup, retried with
        a growing delay until found or the node stops (then ``[]``)."""
        host = self._host
        delay = 1.0
        while host.running():
            addrs = self._t.addrs_of(peer_id)
            outcome = "book"
            if not addrs:
                try:
                    addrs = await self._t.lookup(peer_id, timeout=timeout)
                    outcome = "dht"
                except (RTTError, ConfigError, TimeoutError) as e:
                    addrs, outcome = [], f"not found: {str(e)[:160]}"
            host.bus.emit("node.peer_lookup", peer_id=peer_id, found=len(addrs), outcome=outcome)
            if addrs:
                return addrs
            await host.sleep(delay)
            delay = min(60.0, delay * 2)
        return []

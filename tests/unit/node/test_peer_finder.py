"""PeerFinder: the node's connection manager over discovered peers (web4.node.discovery).

A fake host and book; the decisions are the finder's own: whom it dials below the low
watermark (and whom never), whom it closes above the high one, and in which order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from web4 import _core
from web4.clock import FakeClock
from web4.errors import RTTTransportError
from web4.identity import Identity
from web4.node.discovery import MEMORY, PeerFinder, fingerprint_of, is_peer_id
from web4.trust import TrustState


def _peer() -> tuple[str, str]:
    """(peer id, fingerprint) of a fresh key."""
    ident = Identity.generate("x")
    pid = _core.peer_id_of(ident.public_key)
    return pid, ident.fingerprint


@dataclass
class _Session:
    peer: str
    closed: bool = False


@dataclass
class _Conn:
    session: _Session
    ready: bool = True
    routed: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def peer(self) -> str:
        return self.session.peer


class _Bus:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, kind: str, **kw: Any) -> None:
        self.events.append((kind, kw))


class _Host:
    def __init__(self) -> None:
        self.bus = _Bus()
        self.conns: dict[str, Any] = {}
        self.fingerprint = "ff" * 32
        self.send_timeout = 1.0
        self.clock = FakeClock()

    def running(self) -> bool:
        return True

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    def now(self) -> float:
        return self.clock.now()

    def start_peer(self, session: Any, role: Any, *, serve_inline: bool = False) -> Any:
        return None

    async def serve_peer(self, conn: Any) -> None:
        return None


class _Book:
    def __init__(self, found: list[tuple[str, list[str], str]]) -> None:
        self.found = found

    def discovered(self) -> list[tuple[str, list[str], str]]:
        return self.found

    def addrs_of(self, peer_id: str) -> list[str]:
        return []

    async def lookup(self, peer_id: str, *, timeout: float) -> list[str]:
        raise RTTTransportError("not found")


def test_peer_ids_and_their_fingerprints() -> None:
    pid, fp = _peer()
    assert is_peer_id(pid)
    assert fingerprint_of(pid) == fp
    assert not is_peer_id("/ip4/127.0.0.1/tcp/1/p2p/" + pid)
    assert not is_peer_id("12D3KooWnot-a-peer")
    assert fingerprint_of("nope") is None


def test_above_the_high_watermark_the_least_useful_go_and_the_kept_and_new_never() -> None:
    async def main() -> None:
        host = _Host()
        trust: dict[str, TrustState] = {}
        names = {}
        for name, state, routed in [
            ("configured", TrustState.UNTRUSTED, 0),
            ("anchor", TrustState.PROBING, 0),
            ("trusted", TrustState.TRUSTED, 0),
            ("busy", TrustState.PROBING, 50),
            ("idle", TrustState.PROBING, 1),
            ("untrusted", TrustState.UNTRUSTED, 99),
        ]:
            fp = _peer()[1]
            names[name] = fp
            trust[fp] = state
            host.conns[fp] = _Conn(_Session(fp), routed=routed)
        finder = PeerFinder(
            host, _Book([]), connect=_no_connect, min_peers=0, max_peers=3,
            configured=[names["configured"]], anchors=[names["anchor"]], trust_of=trust.__getitem__,
        )  # fmt: skip
        assert finder.prune(list(host.conns.values())) == []  # all new: within the grace
        host.clock.advance(31.0)
        closed = finder.prune(list(host.conns.values()))
        assert closed == [names["untrusted"], names["idle"], names["busy"]]
        assert all(host.conns[fp].stop.is_set() for fp in closed)
        assert [k for k, _ in host.bus.events] == ["node.peer_pruned"] * 3
        assert finder.prune([host.conns[names[n]] for n in ("configured", "anchor")]) == []

    asyncio.run(main())


async def _no_connect(addr: str, *, timeout: float) -> Any:
    raise RTTTransportError(f"connection refused by {addr}")


def test_below_the_low_watermark_it_dials_the_shortfall_and_cools_failures_down() -> None:
    async def main() -> None:
        host = _Host()
        peers = [_peer() for _ in range(6)]
        connected, blacklisted = peers[0], peers[1]
        host.conns[connected[1]] = _Conn(_Session(connected[1]))
        found = [
            (pid, [f"/ip4/10.0.0.{i}/tcp/1/p2p/{pid}"], "mdns") for i, (pid, _) in enumerate(peers)
        ]
        found.append((peers[2][0], [], "dht"))  # no address: nothing to dial
        trust = {blacklisted[1]: TrustState.BLACKLISTED}
        finder = PeerFinder(
            host, _Book(found), connect=_no_connect, min_peers=3, max_peers=8,
            configured=[], anchors=[], trust_of=lambda fp: trust.get(fp, TrustState.UNTRUSTED),
        )  # fmt: skip
        async with asyncio.TaskGroup() as tg:
            finder.step(tg)  # one session up, two to go: two dials
        dialled = [kw["peer"] for k, kw in host.bus.events if k == "node.peer_dial"]
        assert dialled == [peers[2][1], peers[3][1]]
        assert finder.dials == 2
        assert finder.source_of(peers[2][1]) == "mdns"
        host.bus.events.clear()
        async with asyncio.TaskGroup() as tg:
            finder.step(tg)  # the two that failed cool down: the next two
        dialled = [kw["peer"] for k, kw in host.bus.events if k == "node.peer_dial"]
        assert dialled == [peers[4][1], peers[5][1]]
        host.bus.events.clear()
        host.clock.advance(6.0)  # past the first cooldown (5 s)
        async with asyncio.TaskGroup() as tg:
            finder.step(tg)
        dialled = [kw["peer"] for k, kw in host.bus.events if k == "node.peer_dial"]
        assert dialled == [peers[2][1], peers[3][1]]
        # never a connected peer or a blacklisted one
        assert connected[1] not in dialled
        assert blacklisted[1] not in dialled

    asyncio.run(main())


def test_a_peer_the_node_refuses_is_not_redialled_every_round() -> None:
    async def main() -> None:
        host = _Host()  # start_peer answers None: refused (banned for a flood)
        pid, fp = _peer()

        class _Link:
            peer = fp
            dialled = True
            closed = True

            async def close(self) -> None:
                return None

        async def connect(addr: str, *, timeout: float) -> Any:
            return _Link()

        finder = PeerFinder(
            host, _Book([(pid, [f"/ip4/10.0.0.9/tcp/1/p2p/{pid}"], "mdns")]), connect=connect,
            min_peers=1, max_peers=4, configured=[], anchors=[],
            trust_of=lambda _: TrustState.UNTRUSTED,
        )  # fmt: skip
        for _ in range(3):
            async with asyncio.TaskGroup() as tg:
                finder.step(tg)
        assert finder.dials == 1  # then cooling down
        host.clock.advance(6.0)
        async with asyncio.TaskGroup() as tg:
            finder.step(tg)
        assert finder.dials == 2

    asyncio.run(main())


def test_a_flood_of_young_sessions_does_not_evict_older_more_useful_ones() -> None:
    """Fresh keys are free: sessions younger than the grace are spared, but they must
    not make the finder close the trusted peers and authorised humans in their place."""

    async def main() -> None:
        host = _Host()
        trust: dict[str, TrustState] = {}
        trusted, human, idle = _peer()[1], _peer()[1], _peer()[1]
        trust.update({trusted: TrustState.TRUSTED, human: TrustState.UNTRUSTED})
        trust[idle] = TrustState.UNTRUSTED
        for fp in (trusted, human, idle):
            host.conns[fp] = _Conn(_Session(fp), routed=0)
        finder = PeerFinder(
            host, _Book([]), connect=_no_connect, min_peers=0, max_peers=2,
            configured=[], anchors=[], trust_of=lambda fp: trust.get(fp, TrustState.UNTRUSTED),
            protected=lambda fp: fp == human,
        )  # fmt: skip
        finder.prune(list(host.conns.values()))
        host.clock.advance(31.0)
        flood = [_peer()[1] for _ in range(20)]  # each busier than the old ones
        for fp in flood:
            host.conns[fp] = _Conn(_Session(fp), routed=1000)
        # the 21 least useful: the idle one and the flood; the young flood is spared for
        # now, and the trusted peer and the human are not closed in its place
        assert finder.prune(list(host.conns.values())) == [idle]
        host.clock.advance(31.0)  # the flood is past its grace now: it goes, they stay
        closed = finder.prune([c for c in host.conns.values() if not c.stop.is_set()])
        assert sorted(closed) == sorted(flood)

    asyncio.run(main())


def test_the_source_memory_stays_bounded_under_fresh_keys() -> None:
    async def main() -> None:
        host = _Host()
        found = [
            (pid, [f"/ip4/10.0.{i >> 8}.{i & 255}/tcp/1/p2p/{pid}"], "dht")
            for i, (pid, _) in enumerate(_peer() for _ in range(MEMORY + 50))
        ]
        finder = PeerFinder(
            host, _Book(found), connect=_no_connect, min_peers=len(found), max_peers=len(found),
            configured=[], anchors=[], trust_of=lambda _: TrustState.UNTRUSTED,
        )  # fmt: skip
        async with asyncio.TaskGroup() as tg:
            finder.step(tg)
        assert finder.dials == len(found)
        assert len(finder._sources) <= MEMORY

    asyncio.run(main())


def test_fresh_peer_ids_at_one_address_do_not_bypass_the_cooldown() -> None:
    """A DHT record names a third party's host:port under many fresh PeerIds: the node
    dials that address once, then it cools down like a failed peer."""

    async def main() -> None:
        host = _Host()
        found = [
            (pid, [f"/ip4/203.0.113.7/tcp/80/p2p/{pid}"], "dht")
            for pid, _ in (_peer() for _ in range(12))
        ]
        finder = PeerFinder(
            host, _Book(found), connect=_no_connect, min_peers=4, max_peers=8,
            configured=[], anchors=[], trust_of=lambda _: TrustState.UNTRUSTED,
        )  # fmt: skip
        for _ in range(3):
            async with asyncio.TaskGroup() as tg:
                finder.step(tg)
        assert finder.dials == 1
        host.clock.advance(6.0)  # past the first cooldown: once more
        async with asyncio.TaskGroup() as tg:
            finder.step(tg)
        assert finder.dials == 2

    asyncio.run(main())

"""Fetching on behalf of peers, on one ``LipRuntime`` behind a real ``ProtocolRouter``,
against a real local HTTP server whose slow pages hold a connection for seconds: one peer
with 16 slow fetches cannot starve another peer (several workers, round-robin between
peers, a per-peer limit with a clear refusal), a probing peer is not fetched for unless
the policy says so, and the operator's own fetches do not count against peers' limits."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from web4.clock import SystemClock, SystemRng
from web4.envelope import canonicalize
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.errors import LIPQueueError
from web4.identity import Identity
from web4.lip.builder import build_lip
from web4.lip.messages import LIP_SPEC, LipFetch, Source
from web4.lip.runtime import WORK_QUEUE, LipRuntime, LipSettings
from web4.router import ProtocolRouter
from web4.store import Store

pytestmark = pytest.mark.timeout(90)
PAGE = b"<html><body><p>Copper conducts electricity well at room temperature.</p></body></html>"
SLOW = 3.0  # seconds a /slow/ page holds its connection before answering


@dataclass
class Site:
    port: int
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site(0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            s.hits.append(self.path)
            if self.path.startswith("/slow/"):
                time.sleep(SLOW)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    s.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield s
    server.shutdown()
    server.server_close()


class Node:
    """One node's LIP side; what it sends to peers is recorded with the time it left."""

    def __init__(self, root: Path, trust: dict[str, str], **settings: Any) -> None:
        self.identity = Identity.create_in_data_dir(root / "v", "v")
        self.fp = self.identity.fingerprint
        self.store = Store.in_data_dir(root / "v", synchronous="OFF")
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[tuple[float, str, str]] = []  # (monotonic, peer, type)
        self.lip = LipRuntime(
            self.identity, self.store, self.emit, SystemClock(), SystemRng(), send=self.send,
            peers=list, trust_of=lambda fp: trust.get(fp, "untrusted"),
            presence=lambda: "engaged", lri=lambda: 10,
            settings=LipSettings(**{"allow_private": True, "peer_wait": 1.0, **settings}),
        )  # fmt: skip
        validator: Validator[Any] = Validator(
            LIP_SPEC,
            our_fingerprint=self.fp,
            clock=SystemClock(),
            replay=ReplayCache(),
            trust_gate=lambda fp, t: None,  # admission is the node's; fetch_for is LIP's
        )
        self.router = ProtocolRouter({"lip": validator}, emit=self.emit, clock=SystemClock())
        self.router.bind("lip", self.lip.on_lip)

    def emit(self, kind: str, **kw: Any) -> None:
        attrs = dict(kw.pop("attributes", None) or {})
        self.events.append((kind, {**kw, **attrs}))

    async def send(self, peer: str, channel: str, data: bytes) -> None:
        kind = msgspec.json.decode(data)["type"]
        self.sent.append((time.monotonic(), peer, kind))

    def failed(self, peer: str) -> list[str]:
        failed = [a for k, a in self.events if k == "lip.fetch_failed"]
        return [a["reason"] for a in failed if a.get("peer") == peer]

    def answers(self, peer: str) -> list[float]:
        return [t for t, p, kind in self.sent if p == peer and kind == "LIP_EVIDENCE"]

    async def ask(self, asker: Identity, url: str) -> None:
        """``asker`` sends us a signed ``LIP_FETCH`` for ``url`` through the router."""
        msg = build_lip(
            asker,
            receiver_id="v",
            receiver_fingerprint=self.fp,
            payload=LipFetch(query=url),
            source=Source(url, "unknown", "2026-01-01T00:00:00.000Z"),
            clock=SystemClock(),
            rng=SystemRng(),
        )
        result = await self.router.route(canonicalize(msg), link_peer=asker.fingerprint)
        assert result.outcome == "routed", result


async def _until(pred: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.02)


async def _running(node: Node, body: Any) -> None:
    running = True
    async with asyncio.TaskGroup() as tg:
        tg.create_task(node.lip.run(lambda: running, 0.05))
        try:
            await body()
        finally:
            running = False


def test_a_slow_peers_sixteen_fetches_do_not_starve_another_peers_fetch(
    tmp_path: Path, site: Site
) -> None:
    mallory = Identity.create_in_data_dir(tmp_path / "m", "mallory")
    bob = Identity.create_in_data_dir(tmp_path / "b", "bob")
    v = Node(tmp_path, {mallory.fingerprint: "trusted", bob.fingerprint: "trusted"})
    m, b = mallory.fingerprint, bob.fingerprint

    async def body() -> None:
        for i in range(16):
            await v.ask(mallory, site.url(f"/slow/{i}"))
        await _until(lambda: len(site.hits) >= 1, 5.0)  # mallory's first is on the wire
        asked = time.monotonic()
        await v.ask(bob, site.url("/fast.html"))
        await _until(lambda: v.answers(b), 2.0)  # long before one slow page (3 s) is done
        waited = v.answers(b)[0] - asked
        assert waited < 1.5, waited
        # meanwhile mallory's fetches are still queued or running, none answered
        assert v.answers(m) == []
        assert v.lip._work.outstanding(m) == 4
        # mallory was over its limit at once: 12 clear refusals, bob none
        refused = v.failed(m)
        assert len(refused) == 12
        assert all(r.startswith("peer_limit: peer has 4 fetches outstanding") for r in refused)
        assert v.failed(b) == []
        # and one slow peer held one worker, not all of them
        assert [h for h in site.hits if h.startswith("/slow/")] == ["/slow/0"]

    asyncio.run(_running(v, body))
    v.store.close()


def test_a_probing_peers_fetch_is_refused_by_default(tmp_path: Path, site: Site) -> None:
    peer = Identity.create_in_data_dir(tmp_path / "p", "probing-peer")
    v = Node(tmp_path, {peer.fingerprint: "probing"})

    async def body() -> None:
        await v.ask(peer, site.url("/page.html"))
        await asyncio.sleep(0.5)  # several worker turns

    asyncio.run(_running(v, body))
    v.store.close()
    (reason,) = v.failed(peer.fingerprint)
    assert reason.startswith("not_trusted: peer is probing; this node fetches for trusted")
    assert site.hits == []  # nothing fetched on its behalf
    assert v.sent == []


def test_fetch_for_probing_serves_a_probing_peer_but_never_an_untrusted_one(
    tmp_path: Path, site: Site
) -> None:
    peer = Identity.create_in_data_dir(tmp_path / "p", "probing-peer")
    stranger = Identity.create_in_data_dir(tmp_path / "s", "stranger")
    v = Node(tmp_path, {peer.fingerprint: "probing"}, fetch_for="probing")

    async def body() -> None:
        await v.ask(stranger, site.url("/stranger.html"))
        await v.ask(peer, site.url("/page.html"))
        await _until(lambda: v.answers(peer.fingerprint), 5.0)

    asyncio.run(_running(v, body))
    v.store.close()
    assert site.hits == ["/page.html"]
    assert v.failed(stranger.fingerprint)[0].startswith("not_trusted: peer is untrusted")


def test_the_operators_own_fetches_are_not_limited_by_the_peer_limit(
    tmp_path: Path, site: Site
) -> None:
    peer = Identity.create_in_data_dir(tmp_path / "p", "peer")
    v = Node(tmp_path, {peer.fingerprint: "trusted"}, peer_limit=1)

    async def body() -> None:  # no run task: nothing drains the queue
        await v.ask(peer, site.url("/a.html"))
        await v.ask(peer, site.url("/b.html"))
        assert v.failed(peer.fingerprint)[0].startswith("peer_limit:")
        for _ in range(WORK_QUEUE):
            v.lip.learn(site.url("/own.html"))  # more than a peer may: not refused
        with pytest.raises(LIPQueueError, match="fetch queue full"):
            v.lip.learn(site.url("/own.html"))  # our own queue stays bounded

    asyncio.run(body())
    v.store.close()


def test_our_own_fetches_waiting_for_peers_leave_a_worker_to_peers(
    tmp_path: Path, site: Site
) -> None:
    peer = Identity.create_in_data_dir(tmp_path / "p", "peer")
    # no agent peer is connected: each own job waits peer_wait (3 s) before it fetches
    v = Node(tmp_path, {peer.fingerprint: "trusted"}, workers=2, peer_wait=3.0)

    async def body() -> None:
        for _ in range(4):
            v.lip.learn(site.url("/own.html"))
        await asyncio.sleep(0.3)  # the workers have taken what they may
        asked = time.monotonic()
        await v.ask(peer, site.url("/page.html"))
        await _until(lambda: v.answers(peer.fingerprint), 2.0)
        assert v.answers(peer.fingerprint)[0] - asked < 1.0

    asyncio.run(_running(v, body))
    v.store.close()

"""Two ``LipRuntime``s in one process, joined through real ``ProtocolRouter``s, fetching
from a real local HTTP server: the paths the process tests do not reach (a trusted
peer's ``LIP_REJECT``, an overloaded agent, a full own fetch queue)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from web4.clock import SystemClock, SystemRng
from web4.envelope import canonicalize
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.errors import LIPQueueError
from web4.identity import Identity
from web4.lip.builder import build_lip
from web4.lip.messages import LIP_SPEC, LipFetch, LipReject, Source
from web4.lip.runtime import WORK_QUEUE, LipRuntime, LipSettings
from web4.router import ProtocolRouter
from web4.store import Store

pytestmark = pytest.mark.timeout(60)
PAGE = b"<html><body><p>Copper conducts electricity well at room temperature.</p></body></html>"


class _Page(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/copper.html"
    server.shutdown()
    server.server_close()


class Side:
    def __init__(self, root: Path, name: str, policy: str) -> None:
        self.identity = Identity.create_in_data_dir(root / name, name)
        self.fp = self.identity.fingerprint
        self.store = Store.in_data_dir(root / name, synchronous="OFF")
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.presence = "engaged"
        self.peer: Side | None = None
        (root / f"{name}.toml").write_text(policy, encoding="utf-8")
        settings = LipSettings(tiers=root / f"{name}.toml", allow_private=True, peer_wait=2.0)
        self.lip = LipRuntime(
            self.identity,
            self.store,
            self.emit,
            SystemClock(),
            SystemRng(),
            send=self.send,
            peers=lambda: [self.peer.fp] if self.peer else [],
            trust_of=lambda fp: "trusted",
            presence=lambda: self.presence,
            lri=lambda: 10,
            settings=settings,
        )
        gate = lambda fp, t: None  # noqa: E731 - every peer admitted in this test
        validator: Validator[Any] = Validator(
            LIP_SPEC,
            our_fingerprint=self.fp,
            clock=SystemClock(),
            replay=ReplayCache(),
            trust_gate=gate,
        )
        self.router = ProtocolRouter({"lip": validator}, emit=self.emit, clock=SystemClock())
        self.router.bind("lip", self.lip.on_lip)
        self.router.bind("knowledge", self.lip.on_lip)

    def emit(self, kind: str, **kw: Any) -> None:
        attrs = dict(kw.pop("attributes", None) or {})
        self.events.append((kind, {**kw, **attrs}))

    async def send(self, peer: str, channel: str, data: bytes) -> None:
        assert self.peer is not None
        assert peer == self.peer.fp
        assert channel == "knowledge"
        result = await self.peer.router.route(data, link_peer=self.fp)
        assert result.outcome == "routed", result

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [a for k, a in self.events if k == kind]


async def _until(pred: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.05)


async def _pair(a: Side, b: Side, body: Any) -> None:
    a.peer, b.peer = b, a
    running = True
    async with asyncio.TaskGroup() as tg:
        tg.create_task(a.lip.run(lambda: running, 0.05))
        tg.create_task(b.lip.run(lambda: running, 0.05))
        try:
            await body()
        finally:
            running = False


def test_an_overloaded_agent_lets_claims_wait(tmp_path: Path, url: str) -> None:
    a = Side(tmp_path, "a", '[domains]\n"127.0.0.1" = "medium"\n')
    b = Side(tmp_path, "b", "")
    a.presence = "overloaded"

    async def body() -> None:
        a.lip.learn(url)
        await _until(lambda: len(a.kinds("lip.evidence")) == 2)  # ours and B's
        await asyncio.sleep(1.2)  # a process tick while overloaded: the claim waits
        assert a.kinds("lip.accepted") == []
        assert [c["to"] for c in a.kinds("lip.claim")] == ["pending"]
        a.presence = "engaged"
        await _until(lambda: a.kinds("lip.accepted"), 5.0)
        assert a.kinds("lip.accepted")[0]["reason"] == "source tier is medium"
        await _until(lambda: [e for e in b.kinds("lip.accepted") if e.get("source") == "peer"])

    asyncio.run(_pair(a, b, body))
    a.store.close()
    b.store.close()


def test_a_trusted_peers_reject_disputes_the_claim(tmp_path: Path, url: str) -> None:
    a = Side(tmp_path, "a", 'default = "unknown"\n')
    b = Side(tmp_path, "b", "")

    async def body() -> None:
        a.lip.learn(url)
        await _until(lambda: len(a.kinds("lip.evidence")) == 2)  # B confirmed: 1 of 2
        assert a.kinds("lip.accepted") == []
        row = a.store.query_one("SELECT claim_id, state FROM lip_claims")
        assert row is not None
        assert row[1] == "pending"
        reject = build_lip(
            b.identity,
            receiver_id="a",
            receiver_fingerprint=a.fp,
            payload=LipReject("reject", [str(row[0])], "our measurement disagrees"),
            source=Source(url, "unknown", "2026-01-01T00:00:00.000Z"),
            clock=SystemClock(),
            rng=SystemRng(),
        )
        assert (await a.router.route(canonicalize(reject), link_peer=b.fp)).outcome == "routed"
        conflict = a.kinds("lip.conflict")[-1]
        assert conflict["to"] == "disputed"
        assert conflict["severity"] == "medium"  # a peer's rejection alone
        assert conflict["reason"] == "rejected by 1 trusted peer(s)"
        await _until(lambda: [e for e in b.kinds("lip.conflict") if e.get("source") == "peer"])

    asyncio.run(_pair(a, b, body))
    a.store.close()
    b.store.close()


def test_a_full_own_fetch_queue_refuses_ours_and_never_grows(tmp_path: Path, url: str) -> None:
    a = Side(tmp_path, "a", "")

    async def body() -> None:
        for _ in range(WORK_QUEUE):
            a.lip.learn(url)
        with pytest.raises(LIPQueueError):
            a.lip.learn(url)
        assert a.lip._work.outstanding(None) == WORK_QUEUE
        msg = build_lip(
            a.identity,
            receiver_id="a",
            receiver_fingerprint=a.fp,
            payload=LipFetch(query=url),
            source=Source(url, "unknown", "2026-01-01T00:00:00.000Z"),
            clock=SystemClock(),
            rng=SystemRng(),
        )
        await a.router.route(canonicalize(msg), link_peer=a.fp)
        # a (trusted) peer's request is not refused because our own queue is full
        assert a.kinds("lip.fetch_failed") == []
        assert a.lip._work.outstanding(a.fp) == 1

    async def run() -> None:
        await body()  # no run task: nothing drains the queue

    asyncio.run(run())
    a.store.close()

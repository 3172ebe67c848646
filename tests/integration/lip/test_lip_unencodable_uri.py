"""A peer's ``LIP_FETCH`` for a URI that passes the schema (``^https?://``) but that the
fetcher cannot even encode (``http://a..b/``: an empty IDNA label) is a failed fetch for
that peer, not an exception out of ``LipRuntime.run``: on a node that task sits in the
node's TaskGroup, so one such message from any probing peer stopped the whole node."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from web4.clock import SystemClock, SystemRng
from web4.identity import Identity
from web4.lip.messages import LipFetch
from web4.lip.runtime import LipRuntime, LipSettings
from web4.router import Inbound
from web4.store import Store

pytestmark = pytest.mark.timeout(60)

PEER = "ab" * 32
BAD = ("http://a..b/", "http://xn--/", "http://" + "a" * 70 + ".org/")


def test_a_peer_fetch_of_an_unencodable_uri_fails_that_fetch_only(tmp_path: Path) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(kind: str, **kw: Any) -> None:
        events.append((kind, kw))

    async def send(peer: str, channel: str, data: bytes) -> None:
        return None

    identity = Identity.create_in_data_dir(tmp_path / "n", "n")
    store = Store.in_data_dir(tmp_path / "n", synchronous="OFF")
    rt = LipRuntime(
        identity, store, emit, SystemClock(), SystemRng(), send=send, peers=lambda: [PEER],
        trust_of=lambda fp: "probing", presence=lambda: "engaged", lri=lambda: 10,
        settings=LipSettings(peer_wait=1.0, fetch_for="probing"),  # the fetcher must see them
    )  # fmt: skip

    async def main() -> None:
        for i, uri in enumerate(BAD):
            env = SimpleNamespace(payload=LipFetch(query=uri))
            await rt.on_lip(Inbound("lip", "LIP_FETCH", "lip", PEER, f"m{i}", env, PEER, 0.0))
        stop = asyncio.Event()
        task = asyncio.create_task(rt.run(lambda: not stop.is_set(), tick=0.05))
        loop = asyncio.get_running_loop()
        end = loop.time() + 20.0  # ends once every fetch failed
        while loop.time() < end and not task.done():
            if sum(k == "lip.fetch_failed" for k, _ in events) >= len(BAD):
                break
            await asyncio.sleep(0.05)
        stop.set()
        async with asyncio.timeout(5):
            await task  # raises if a fetch's exception escaped run()

    try:
        asyncio.run(main())
    finally:
        store.close()
    failed = [kw for k, kw in events if k == "lip.fetch_failed"]
    assert [kw.get("uri") for kw in failed] == list(BAD)
    assert all(kw.get("peer") == PEER for kw in failed)
    assert not any(kw["reason"].startswith("not_trusted") for kw in failed)

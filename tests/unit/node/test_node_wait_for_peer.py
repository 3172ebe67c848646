"""``Node.wait_for_peer``: scripted proposals wait for peers by deadline, not by polling.
It returns when a CIP handshake ends well, when a stop is asked, or at the deadline."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from types import SimpleNamespace

from web4.identity import Identity
from web4.node import Node, NodeConfig


def _node(tmp_path: Path) -> Node:
    Identity.create_in_data_dir(tmp_path / "n", "n")
    node = Node(NodeConfig(data_dir=tmp_path / "n", console=False), stdout=io.StringIO())
    node.cip = SimpleNamespace(any_ready=asyncio.Event())  # type: ignore[assignment]
    return node


def test_returns_when_a_handshake_ends_well(tmp_path: Path) -> None:
    node = _node(tmp_path)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        loop.call_later(0.05, node.cip.any_ready.set)
        async with asyncio.timeout(5):
            await node.wait_for_peer(None)  # no deadline: only the handshake ends it
        return loop.time() - start

    assert asyncio.run(scenario()) < 2.0


def test_returns_when_a_stop_is_asked(tmp_path: Path) -> None:
    node = _node(tmp_path)

    async def scenario() -> None:
        asyncio.get_running_loop().call_later(0.05, node.stop)
        async with asyncio.timeout(5):
            await node.wait_for_peer(None)

    asyncio.run(scenario())


def test_returns_at_the_deadline_and_forgets_an_old_handshake(tmp_path: Path) -> None:
    node = _node(tmp_path)
    node.cip.any_ready.set()  # a handshake before the wait began does not end it

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with asyncio.timeout(5):
            await node.wait_for_peer(0.2)
        return loop.time() - start

    assert 0.15 <= asyncio.run(scenario()) < 2.0

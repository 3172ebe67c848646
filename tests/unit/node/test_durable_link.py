"""Every send of the node waits for the store's commits to be durable; one wrapper per
session (the node compares sessions by identity)."""

from __future__ import annotations

import asyncio
from typing import Any

from web4.cip.service import link_key
from web4.node.durable_link import DurableTransport


class FakeSession:
    def __init__(self, peer: str) -> None:
        self.peer, self.closed, self.connected, self.dialled = peer, False, True, True
        self.sent: list[tuple[str, bytes]] = []
        self.peer_key = b"k" * 32  # RTT's authenticated key: read through the wrapper

    async def send(self, channel: str, data: bytes, *, timeout: float) -> None:
        self.sent.append((channel, data))

    async def receive(self, *, timeout: float) -> tuple[str, bytes] | None:
        return ("control", b"in")

    async def close(self) -> None:
        self.closed = True


class FakeTransport:
    def __init__(self) -> None:
        self.sessions = [FakeSession("a"), FakeSession("b")]

    async def listen(self, addr: str) -> list[str]:
        return [addr]

    async def connect(self, addr: str, *, timeout: float) -> FakeSession:
        return self.sessions[0]

    async def accept(self, *, timeout: float) -> FakeSession | None:
        return self.sessions[0]

    def drain_events(self) -> list[dict[str, Any]]:
        return [{"kind": "x"}]

    def telemetry(self) -> dict[str, Any]:
        return {"t": 1}

    async def shutdown(self) -> None:
        pass


def test_send_waits_for_durable_and_sessions_keep_their_identity() -> None:
    gate = asyncio.Event()
    waits = 0

    async def durable() -> None:
        nonlocal waits
        waits += 1
        await gate.wait()

    async def main() -> None:
        inner = FakeTransport()
        t = DurableTransport(inner, durable)
        dialled = await t.connect("/ip4/127.0.0.1/tcp/1", timeout=1)
        accepted = await t.accept(timeout=1)
        assert accepted is dialled  # the same session: the same wrapper
        assert (dialled.peer, dialled.connected, dialled.dialled) == ("a", True, True)
        assert link_key(dialled) == b"k" * 32  # the CIP service finds the transport's key
        assert getattr(dialled, "no_such_attribute", None) is None
        sending = asyncio.create_task(dialled.send("knowledge", b"ack", timeout=1))
        await asyncio.sleep(0.05)
        assert not sending.done()
        assert inner.sessions[0].sent == []  # nothing leaves before the commit is durable
        gate.set()
        await asyncio.wait_for(sending, 1)
        assert inner.sessions[0].sent == [("knowledge", b"ack")]
        assert waits == 1
        assert await dialled.receive(timeout=1) == ("control", b"in")
        await dialled.close()
        assert dialled.closed
        again = await t.accept(timeout=1)  # a closed session's wrapper is forgotten
        assert again is not dialled
        assert t.drain_events() == [{"kind": "x"}]
        assert t.telemetry() == {"t": 1}

    asyncio.run(main())

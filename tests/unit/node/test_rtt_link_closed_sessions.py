"""A session that closes between ``accept_one`` and the adapter opening its channels (the
peer connected and left at once: ``open_channel`` raises ``RTTTransportError``) is no
session, not an exception out of ``RttLink.accept``: the node's accept loop sits in its
TaskGroup, so that exception stopped the whole node."""

from __future__ import annotations

import asyncio
from typing import Any

from web4.clock import SeededRng
from web4.errors import RTTTransportError
from web4.identity import Identity
from web4.node.rtt_link import RttLink
from web4.rtt import Transport

ALICE = Identity(SeededRng(1).bytes(32), "alice")
BOB = Identity(SeededRng(2).bytes(32), "bob")


class _GoneSession:
    """An RTT session the peer closed already."""

    def __init__(self, peer_id: str) -> None:
        self.peer_id = peer_id
        self.state = "closed"
        self.closed_calls = 0

    def open_channel(self, kind: str) -> Any:
        raise RTTTransportError("session closed: normal: closed by the application")

    async def close(self) -> None:
        self.closed_calls += 1


def test_accept_of_a_session_closed_before_its_channels_open_is_none() -> None:
    async def main() -> None:
        link = RttLink(ALICE)
        try:
            bob = Transport(BOB)
            gone = _GoneSession(bob.peer_id)
            await bob.shutdown()

            async def accept_one(timeout: float | None = None) -> Any:
                return gone

            link._t.accept_one = accept_one  # type: ignore[method-assign]
            async with asyncio.timeout(5):
                assert await link.accept(timeout=0.1) is None
            assert gone.closed_calls == 1
        finally:
            await link.shutdown()

    asyncio.run(main())


def test_connect_closes_a_session_whose_channels_cannot_open() -> None:
    async def main() -> None:
        link = RttLink(ALICE)
        try:
            bob = Transport(BOB)
            gone = _GoneSession(bob.peer_id)
            await bob.shutdown()

            async def connect(addr: str, timeout: float | None = None) -> Any:
                return gone

            link._t.connect = connect  # type: ignore[method-assign]
            async with asyncio.timeout(5):
                try:
                    await link.connect("/ip4/127.0.0.1/tcp/1/p2p/x", timeout=1)
                except RTTTransportError:
                    pass
                else:
                    raise AssertionError("connect returned a dead session")
            assert gone.closed_calls == 1  # not left open at the RTT level
        finally:
            await link.shutdown()

    asyncio.run(main())

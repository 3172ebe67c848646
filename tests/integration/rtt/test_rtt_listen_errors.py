"""A listen address that cannot be bound (in use, or not an address of this machine) is an
``RTTTransportError`` whose message names the address, on both faces of the transport:
``web4 node`` prints it as its one error line, so an empty message leaves the user with
``web4 node: error:`` and nothing else."""

from __future__ import annotations

import asyncio
import socket

import pytest

from web4.clock import SeededRng
from web4.errors import RTTTransportError
from web4.identity import Identity
from web4.rtt import BlockingTransport, Transport

pytestmark = pytest.mark.timeout(20)

ME = Identity(SeededRng(7).bytes(32), "me")


def _busy() -> tuple[socket.socket, str]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, f"/ip4/127.0.0.1/tcp/{s.getsockname()[1]}"


def test_asyncio_listen_failure_names_the_address() -> None:
    async def main() -> None:
        sock, addr = _busy()
        t = Transport(ME)
        try:
            with pytest.raises(RTTTransportError) as e:
                await t.listen(addr, timeout=5)
            assert addr in str(e.value)
        finally:
            sock.close()
            await t.shutdown()

    asyncio.run(main())


def test_blocking_listen_failure_names_the_address() -> None:
    sock, addr = _busy()
    t = BlockingTransport(ME)
    try:
        with pytest.raises(RTTTransportError) as e:
            t.listen(addr, timeout=5)
        assert addr in str(e.value)
    finally:
        sock.close()
        t.shutdown()


def test_a_port_another_transport_listens_on_is_refused() -> None:
    """libp2p's TCP listeners set SO_REUSEPORT: without the transport's own check a
    second node could bind the same port and silently take half of its connections."""

    async def main() -> None:
        first, second = Transport(ME), Transport(Identity(SeededRng(8).bytes(32), "other"))
        try:
            taken = (await first.listen("/ip4/127.0.0.1/tcp/0", timeout=5))[0]
            addr = taken.rsplit("/p2p/", 1)[0]
            with pytest.raises(RTTTransportError) as e:
                await second.listen(addr, timeout=5)
            assert addr in str(e.value)
            assert second.listen_addrs == []
        finally:
            await first.shutdown()
            await second.shutdown()

    asyncio.run(main())

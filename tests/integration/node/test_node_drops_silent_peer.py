"""A peer that opens an RTT session and never says HELLO does not hold the node forever.

The responder side of the CIP handshake arms no timer until the first HELLO arrives, so
``serve`` bounds that wait by the node's ``handshake_timeout``: the session is closed,
the peer leaves ``node.conns`` and an ``error`` event says why. No trust event is
recorded: silence is no evidence against the peer.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from web4.identity import Identity
from web4.node import Node, NodeConfig
from web4.rtt import Transport
from web4.trust import TrustState

pytestmark = pytest.mark.timeout(60)


def test_a_peer_that_never_sends_hello_is_dropped(tmp_path: Path) -> None:
    async def main() -> None:
        data = tmp_path / "node"
        Identity.create_in_data_dir(data, "node")
        cfg = NodeConfig(data_dir=data, console=False, handshake_timeout=1.0)
        node = Node(cfg, stdout=io.StringIO(), tick=0.1)
        run = asyncio.create_task(node.run())
        silent = Identity.generate("silent")
        client = Transport(silent)
        try:
            async with asyncio.timeout(30):
                while not node.listen_addrs:
                    await asyncio.sleep(0.05)
                session = await client.connect(node.listen_addrs[0], timeout=5)
                while silent.fingerprint not in node.conns:
                    await asyncio.sleep(0.05)
                # handshake_timeout is 1 s: the node lets go soon after (the deadline only
                # allows for a loaded machine; the wait ends as soon as it happens).
                loop = asyncio.get_running_loop()
                end = loop.time() + 10.0
                while silent.fingerprint in node.conns and loop.time() < end:
                    await asyncio.sleep(0.1)
                assert silent.fingerprint not in node.conns
                while session.state != "closed" and loop.time() < end + 5:
                    await asyncio.sleep(0.1)
                assert session.state == "closed"
                assert not run.done()
            node.bus.flush(10.0)
            errors = [e for e in node.obs.ring.events("error") if e.peer == silent.fingerprint]
            assert errors, "the node says why it dropped the session"
            assert node.trust.state_of(silent.fingerprint) is TrustState.UNTRUSTED
        finally:
            node.stop()
            async with asyncio.timeout(10):
                await run
            await client.shutdown()

    asyncio.run(main())

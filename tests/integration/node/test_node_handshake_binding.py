"""The CIP handshake is bound to the key the link authenticated.

A client authenticates its link as X (TCP link, mutual Ed25519 proof) and then sends a
HELLO signed by another key Y: the node's handshake refuses it (``cip.handshake.dropped``)
and neither X nor Y moves to ``probing``. The same client speaking as X completes the
handshake on a fresh session.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from web4.cip import Handshake, Role, Step, cip_validator
from web4.cip.messages import Intent, SenderState
from web4.clock import SeededRng, SystemClock
from web4.envelope.validate import Receiver
from web4.identity import Identity
from web4.node import Node, NodeConfig, TcpLink
from web4.node.link import LinkSession
from web4.trust import TrustState

pytestmark = pytest.mark.timeout(60)


async def handshake(session: LinkSession, signer: Identity, node_fp: str, seed: int) -> Step:
    clock = SystemClock()
    v = cip_validator(signer.fingerprint, clock=clock, trust_of=lambda fp: "probing")
    hs = Handshake(
        signer,
        Role.INITIATOR,
        validator=v,
        rng=SeededRng(seed),
        local_state=SenderState(presence="focused", lri=1),
        peer=Receiver("node", node_fp),
        intent=Intent(goal="ask", topic="x"),
    )
    hs.start(clock.now())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    while hs.step not in (Step.ACCEPTED, Step.DEFERRED, Step.FAILED) and loop.time() < deadline:
        while (out := hs.next_outgoing()) is not None:
            await session.send("control", out, timeout=2)
        got = await session.receive(timeout=0.3)
        if got is not None:
            hs.receive(got[1], clock.now())
    return hs.step


def test_a_hello_signed_by_another_key_than_the_link_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        data = tmp_path / "node"
        node_fp = Identity.create_in_data_dir(data, "node").fingerprint
        node = Node(NodeConfig(data_dir=data, console=False, transport="tcp"), stdout=io.StringIO())
        run = asyncio.create_task(node.run())
        x, y = Identity.generate("x"), Identity.generate("y")
        link = TcpLink(x)
        try:
            async with asyncio.timeout(10):
                while not node.listen_addrs:
                    await asyncio.sleep(0.05)
            session = await link.connect(node.listen_addrs[0], timeout=5)
            assert session.peer == node_fp
            assert await handshake(session, y, node_fp, 1) is not Step.ACCEPTED
            node.bus.flush(2.0)
            dropped = node.obs.ring.events("cip.handshake.dropped")
            assert any(
                "not this handshake's peer" in str(e.attributes.get("reason")) for e in dropped
            )
            assert node.trust.state_of(x.fingerprint) is TrustState.UNTRUSTED
            assert node.trust.state_of(y.fingerprint) is TrustState.UNTRUSTED
            await session.close()

            honest = await link.connect(node.listen_addrs[0], timeout=5)
            assert await handshake(honest, x, node_fp, 2) is Step.ACCEPTED
            async with asyncio.timeout(5):
                while node.trust.state_of(x.fingerprint) is not TrustState.PROBING:
                    await asyncio.sleep(0.05)
        finally:
            node.stop()
            await asyncio.wait_for(run, 15)
            await link.shutdown()

    asyncio.run(main())

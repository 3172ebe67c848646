"""The CIP handshake is bound to the key the RTT session authenticated.

A client opens an RTT session as X (Noise XX with X's Ed25519 identity key, so the node
knows the session's peer is X) and then sends on ``control`` a HELLO built and signed by
another key Y, addressed to the node: the node's handshake refuses it
(``cip.handshake.dropped``, "not this handshake's peer") and neither X nor Y moves to
``probing``. The same client speaking as X completes the handshake on a fresh session.
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
from web4.node import Node, NodeConfig
from web4.node.link import LinkSession
from web4.node.rtt_link import RttLink
from web4.trust import TrustState

pytestmark = pytest.mark.timeout(60)


async def handshake(
    session: LinkSession, signer: Identity, node_fp: str, seed: int, within: float
) -> Step:
    """Run the initiator side of the CIP handshake as ``signer`` over ``session``'s
    ``control`` channel; the step it ends in (or reaches within ``within`` s)."""
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
    deadline = loop.time() + within
    while hs.step not in (Step.ACCEPTED, Step.DEFERRED, Step.FAILED) and loop.time() < deadline:
        while (out := hs.next_outgoing()) is not None:
            await session.send("control", out, timeout=2)
        got = await session.receive(timeout=0.3)
        if got is not None and got[0] == "control":
            hs.receive(got[1], clock.now())
    return hs.step


def test_a_hello_signed_by_another_key_than_the_session_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        data = tmp_path / "node"
        node_fp = Identity.create_in_data_dir(data, "node").fingerprint
        node = Node(NodeConfig(data_dir=data, console=False), stdout=io.StringIO())
        run = asyncio.create_task(node.run())
        x, y = Identity.generate("x"), Identity.generate("y")
        link = RttLink(x)
        try:
            async with asyncio.timeout(15):
                while not node.listen_addrs:
                    await asyncio.sleep(0.05)
            addr = node.listen_addrs[0]
            assert "/p2p/" in addr  # an RTT address: the node's PeerId is checked on dial
            session = await link.connect(addr, timeout=5)
            assert session.peer == node_fp
            assert await handshake(session, y, node_fp, 1, within=3.0) is not Step.ACCEPTED

            def refused() -> bool:
                node.bus.flush(2.0)
                dropped = node.obs.ring.events("cip.handshake.dropped")
                return any(
                    "not this handshake's peer" in str(e.attributes.get("reason")) for e in dropped
                )

            async with asyncio.timeout(15):  # the node's verdict may lag on a loaded machine
                while not refused():
                    await asyncio.sleep(0.05)
            assert node.trust.state_of(x.fingerprint) is TrustState.UNTRUSTED
            assert node.trust.state_of(y.fingerprint) is TrustState.UNTRUSTED
            await session.close()

            honest = await link.connect(addr, timeout=5)
            assert await handshake(honest, x, node_fp, 2, within=15.0) is Step.ACCEPTED
            async with asyncio.timeout(15):
                while node.trust.state_of(x.fingerprint) is not TrustState.PROBING:
                    await asyncio.sleep(0.05)
            assert node.trust.state_of(y.fingerprint) is TrustState.UNTRUSTED
        finally:
            node.stop()
            await asyncio.wait_for(run, 15)
            await link.shutdown()

    asyncio.run(main())

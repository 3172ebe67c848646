"""The original two-HELLO CIP handshake against a real ``web4 node`` (CIP_SPEC §6, "The
authenticated variant"; issue 16).

A peer built from the original specification (``support.original_peer``) dials the node
over RTT and sends exactly HELLO, then, on the node's HELLO, STATE_UPDATE and INTENT: no
third HELLO. Noise already proved its key, so the node completes the handshake, accepts
the intent and treats it as a peer: the fact the node proposed reaches it, and its own
fact proposal becomes a claim on the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from support.nodeproc import NodeProc
from support.original_peer import OriginalPeer
from web4.identity import Identity
from web4.node.link import LinkSession

pytestmark = pytest.mark.timeout(90)

FACT = "water boils at 100 C at sea level"


class Inbox:
    """What the node sent on one session, kept in arrival order: channels are separate
    streams, so e.g. a broadcast on ``knowledge`` may overtake a ``control`` message."""

    def __init__(self, session: LinkSession) -> None:
        self.session = session
        self.got: list[tuple[str, dict[str, Any]]] = []

    async def next(self, pred: Any, timeout: float) -> tuple[str, dict[str, Any]]:
        """The first (channel, envelope) ``pred`` accepts, received before or within
        ``timeout`` seconds; each is returned once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            for i in range(seen, len(self.got)):
                if pred(*self.got[i]):
                    return self.got.pop(i)
            seen = len(self.got)
            if loop.time() >= deadline:
                raise AssertionError(f"nothing matching from the node in {timeout}s")
            item = await self.session.receive(timeout=0.25)
            if item is not None:
                self.got.append((item[0], OriginalPeer.parse(item[1])))


async def _scenario(node: NodeProc, me: Identity, send_pubkey: bool) -> None:
    from web4.node.rtt_link import RttLink

    peer = OriginalPeer(me, node.fingerprint, send_pubkey=send_pubkey)
    transport = RttLink(me)
    session = await transport.connect(node.addr(), timeout=20.0)
    inbox = Inbox(session)
    try:
        await session.send("control", peer.wire(peer.hello(time.time())), timeout=10.0)
        _, hello = await inbox.next(lambda ch, d: d.get("type") == "HELLO", 15.0)
        assert hello["payload"]["challenge_response"]  # the node proves its key anyway
        # the original: STATE_UPDATE and INTENT right after the other side's HELLO
        await session.send("control", peer.wire(peer.state_update(time.time())), timeout=10.0)
        await session.send("control", peer.wire(peer.intent(time.time())), timeout=10.0)
        decision = f"accept:{peer.sent_intent}"
        await inbox.next(
            lambda ch, d: (
                d.get("type") == "STATE_UPDATE" and d["payload"].get("intent") == decision
            ),
            15.0,
        )
        done = await asyncio.to_thread(
            node.wait_for,
            lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == me.fingerprint,
            15.0,
        )
        assert done["attributes"]["outcome"] == "accepted"
        # a fact each way: the node's proposal reaches us ...
        _, proposal = await inbox.next(
            lambda ch, d: d.get("type") == "FACT_PROPOSE" and ch == "knowledge", 20.0
        )
        assert proposal["payload"]["fact"]["statement"] == FACT
        # ... and ours becomes a claim on the node
        ours = peer.fact_propose(time.time(), "ice melts at 0 C at sea level")
        await session.send("knowledge", peer.wire(ours), timeout=10.0)
        await asyncio.to_thread(
            node.wait_for,
            lambda e: e["kind"] == "router.routed" and e.get("msg_id") == ours["msg_id"],
            15.0,
        )
        await asyncio.to_thread(
            node.wait_for,
            lambda e: e["kind"].startswith("knowledge.claim_") and e["peer"] == me.fingerprint,
            15.0,
        )
    finally:
        async with asyncio.timeout(5.0):
            await session.close()
        async with asyncio.timeout(5.0):
            await transport.shutdown()
    # nothing the original peer sent was refused, and no third HELLO was awaited
    refused = [e for e in node.kinds("router.rejected") if e["peer"] == me.fingerprint]
    assert not refused, refused
    assert not [e for e in node.kinds("error") if e["peer"] == me.fingerprint]


@pytest.mark.parametrize("send_pubkey", [True, False], ids=["pubkey", "no-pubkey"])
def test_an_original_initiator_completes_and_exchanges_facts(
    tmp_path: Path, send_pubkey: bool
) -> None:
    node = NodeProc.new(tmp_path, "alice", "--propose", f"{FACT}|physics|0.9")
    try:
        asyncio.run(_scenario(node, Identity.generate("orig"), send_pubkey))
    finally:
        assert node.stop() == 0


async def _responder_scenario(tmp_path: Path) -> None:
    from web4.node.rtt_link import RttLink

    me = Identity.generate("orig-b")
    transport = RttLink(me)
    addr = (await transport.listen("/ip4/127.0.0.1/tcp/0"))[0]
    if "/p2p/" not in addr:
        addr = f"{addr}/p2p/{me.peer_id}"
    node = await asyncio.to_thread(NodeProc.new, tmp_path, "alice", "--peer", addr)
    try:
        session = await transport.accept(timeout=20.0)
        assert session is not None
        inbox = Inbox(session)
        peer = OriginalPeer(me, node.fingerprint)
        _, hello = await inbox.next(lambda ch, d: d.get("type") == "HELLO", 15.0)
        # the original's answer: its HELLO with a signature over the node's bare challenge
        answer = peer.hello(time.time(), response=peer.bare_proof(hello))
        await session.send("control", peer.wire(answer), timeout=10.0)
        got: list[str] = []
        await inbox.next(lambda ch, d: got.append(d["type"]) or d["type"] == "INTENT", 15.0)
        assert got == ["STATE_UPDATE", "INTENT"]  # no third HELLO
        await session.send("control", peer.wire(peer.state_update(time.time())), timeout=10.0)
        done = await asyncio.to_thread(
            node.wait_for,
            lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == me.fingerprint,
            15.0,
        )
        assert done["attributes"]["outcome"] == "accepted"
        with contextlib.suppress(AssertionError):  # still no HELLO after the handshake
            await inbox.next(lambda ch, d: False, 0.5)
        assert [d["type"] for _, d in inbox.got if d["type"] == "HELLO"] == []
        async with asyncio.timeout(5.0):
            await session.close()
    finally:
        assert await asyncio.to_thread(node.stop) == 0
        async with asyncio.timeout(5.0):
            await transport.shutdown()


def test_the_node_completes_with_an_original_responder(tmp_path: Path) -> None:
    asyncio.run(_responder_scenario(tmp_path))

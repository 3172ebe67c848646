"""A replayed envelope is refused after the node restarts (issue 10, observation 7).

An attacker X opens an RTT session to a real ``web4 node`` process, completes the CIP
handshake (X becomes ``probing``) and sends a signed ``LIP_FETCH`` and a signed CIP
``STATE_UPDATE``: the node routes both. The node is stopped with SIGTERM and started
again on the same data directory; X reconnects, handshakes again and sends the very same
bytes: the node refuses both as replays (``router.rejected`` with ``ReplayError``), which
it did not when its replay cache lived in memory only.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from test_node_handshake_binding import handshake

from support.nodeproc import NodeProc, keygen
from web4.cip import CipBuilder, Step
from web4.cip import messages as cm
from web4.clock import SeededRng, SystemClock
from web4.envelope.validate import Receiver
from web4.identity import Identity
from web4.lip.builder import build_lip
from web4.lip.messages import LipFetch, Source
from web4.node.rtt_link import RttLink

pytestmark = pytest.mark.timeout(120)

LISTEN = ("--listen", "/ip4/127.0.0.1/tcp/0")


def signed_messages(x: Identity, node_fp: str) -> list[tuple[str, bytes]]:
    clock, rng = SystemClock(), SeededRng(7)
    lip = build_lip(
        x,
        receiver_id="node",
        receiver_fingerprint=node_fp,
        payload=LipFetch(query="http://127.0.0.1:9/replayed"),
        source=Source("http://127.0.0.1:9/replayed", "unknown", "2026-01-01T00:00:00.000Z"),
        clock=clock,
        rng=rng,
    )
    cip = CipBuilder(x, clock=clock, rng=rng).build(
        cm.StateUpdate(presence="focused", lri=3, ltppeerstate="probing"),
        receiver=Receiver("node", node_fp),
        sender_view="probing",
        state=cm.SenderState(presence="focused", lri=3),
    )
    return [(str(env["msg_id"]), json.dumps(env).encode()) for env in (lip, cip)]


async def connect_as(x: Identity, node: NodeProc, node_fp: str, seed: int) -> Any:
    addr = await asyncio.to_thread(node.addr)
    link = RttLink(x)
    session = await link.connect(addr, timeout=10)
    assert await handshake(session, x, node_fp, seed, within=20.0) is Step.ACCEPTED
    return link, session


def verdict(node: NodeProc, msg_id: str) -> dict[str, Any]:
    return node.wait_for(
        lambda e: (
            e.get("msg_id") == msg_id
            and e["kind"] in ("router.routed", "router.rejected", "router.handler_error")
        ),
        timeout=20,
    )


def test_a_signed_message_replayed_after_a_restart_is_refused(tmp_path: Path) -> None:
    data, node_fp = keygen(tmp_path, "node")
    x = Identity.generate("attacker")
    messages = signed_messages(x, node_fp)

    async def send_all(node: NodeProc, seed: int) -> list[dict[str, Any]]:
        link, session = await connect_as(x, node, node_fp, seed)
        try:
            for _, data_bytes in messages:
                await session.send("state", data_bytes, timeout=5)
            return [await asyncio.to_thread(verdict, node, msg_id) for msg_id, _ in messages]
        finally:
            await session.close()
            await link.shutdown()

    first = NodeProc(data, *LISTEN)
    try:
        before = asyncio.run(send_all(first, 1))
    finally:
        assert first.stop() == 0
    assert [e["kind"] for e in before] == ["router.routed", "router.routed"]

    second = NodeProc(data, *LISTEN)  # the same data dir: a restart
    try:
        after = asyncio.run(send_all(second, 2))
    finally:
        second.stop()
    assert [e["kind"] for e in after] == ["router.rejected", "router.rejected"], after
    assert {e["attributes"]["reason"] for e in after} == {"ReplayError"}
    assert all("already seen" in e["attributes"]["message"] for e in after)

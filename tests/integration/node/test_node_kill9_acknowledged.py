"""kill -9 under load loses nothing the node acknowledged.

A real ``web4 node`` process (its store commits on the event loop and fsyncs on a
writer thread, group commit) runs an agent that answers every ``INTENT`` with a signed
``DECISION_SHARE`` naming the intent's topic. A real RTT + CIP client sends it a steady
stream of signed intents, and the node is SIGKILLed while answers are still arriving.
Every intent the client holds an answer to must be in the node's store afterwards: its
replay-cache row, written when the envelope was accepted (so it is refused again after a
restart). (The agent's DMP trace of the answer is written after the send, by design of
the agent loop: it is not part of what the answer acknowledges.)
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from support.nodeproc import NodeProc, Peer
from web4.cip import messages as cm
from web4.cip.builder import CipBuilder
from web4.clock import SystemClock, SystemRng
from web4.envelope.validate import Receiver
from web4.identity import Identity
from web4.store import Store

pytestmark = pytest.mark.timeout(120)

AGENT = """
from web4.agent import Agent


class Answers(Agent):
    mission = "answer every question"

    def on_intent(self, ctx, intent):
        ctx.share_decision(intent.payload.topic, steps=["answer"], peer=intent.peer)


def make():
    return Answers()
"""
KILL_AFTER = 60  # answers received before the kill
RATE = 120.0  # intents per second: under the router's per-peer throttle (200/s)
BURST = 30  # sent at once just before the kill (within the throttle's burst)


def _answers(peer: Peer) -> set[str]:
    """The topics of our intents the node answered (the handshake's intent is not ours)."""
    choices = {
        str(d["payload"]["decision"]["choice"])
        for d in peer.of("cip", "DECISION_SHARE")
        if isinstance(d.get("payload"), dict)
    }
    return {c for c in choices if c.startswith("k")}


def test_kill9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    (tmp_path / "answers.py").write_text(AGENT)
    me = Identity.create_in_data_dir(tmp_path / "client", "client")
    node = NodeProc.new(
        tmp_path, "node", "--agent", f"{tmp_path / 'answers.py'}:make", "--trust", me.fingerprint
    )
    sent: dict[str, str] = {}  # topic -> msg_id of the intent

    async def run() -> set[str]:
        peer = await Peer.connect(node.addr(), me)
        try:
            builder = CipBuilder(me, clock=SystemClock(), rng=SystemRng())
            receiver = Receiver(node.fingerprint[:16], node.fingerprint)
            state = cm.SenderState(presence="focused", lri=5)
            start, i = time.monotonic(), 0
            deadline = start + 60
            while len(_answers(peer)) < KILL_AFTER:
                assert time.monotonic() < deadline, f"{len(_answers(peer))} answers in 60 s"
                env: dict[str, Any] = builder.build(
                    cm.Intent(goal="ask", topic=f"k{i}"),
                    receiver=receiver,
                    sender_view="trusted",
                    state=state,
                )
                sent[f"k{i}"] = str(env["msg_id"])
                await peer.session.send("control", builder.encode(env), timeout=10.0)
                i += 1
                await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
            for j in range(i, i + BURST):  # then a burst, and SIGKILL while it is in flight
                env = builder.build(
                    cm.Intent(goal="ask", topic=f"k{j}"),
                    receiver=receiver,
                    sender_view="trusted",
                    state=state,
                )
                sent[f"k{j}"] = str(env["msg_id"])
                await peer.session.send("control", builder.encode(env), timeout=10.0)
            node.kill()
            await asyncio.sleep(0.5)  # answers already on the wire still arrive
            return _answers(peer)
        finally:
            await peer.close()

    try:
        answered = asyncio.run(run())
    finally:
        node.kill()
    assert len(answered) >= KILL_AFTER
    assert answered <= set(sent)
    assert len(sent) > len(answered)  # killed under load: some intents never got an answer
    with Store.in_data_dir(tmp_path / "node") as store:
        rows = store.query(
            "SELECT msg_id FROM replay_seen WHERE scope = 'cip' AND sender = ?",
            (me.fingerprint,),
        )
        accepted = {str(r[0]) for r in rows}
        lost = sorted(t for t in answered if sent[t] not in accepted)
        assert not lost, f"answered but not in the store after kill -9: {lost[:10]}"

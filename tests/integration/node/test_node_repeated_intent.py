"""A real node answers a repeated INTENT after its handshake ended (CIP_SPEC §6, Timers and
retries), bounded, and its agent hears the intent once.

One process: a `web4.Node` (real RTT on loopback, SQLite trust book) with an agent that
records every `on_intent`, dialled by the conformance runner's peer (a fresh key, its own
RTT transport) which plays the initiator. After the handshake the peer sends its INTENT
again (same payload, new msg_id) five times: the node re-sends its decision, unchanged and
naming the first INTENT, exactly `max_retries` (2) times, and no repeat reaches the agent
or the trust book. Then another INTENT goes to the agent, unanswered, and closes the
window: the first payload once more is the peer changing its intent back, for the agent
too, and unanswered.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

import web4
from web4.agent import AgentContext, IntentReceived
from web4.cip import Step
from web4.cip.messages import Intent
from web4.clock import SystemClock
from web4.conformance.wire import Got, Peer, Target, handshake_for, wire
from web4.identity import Identity

pytestmark = pytest.mark.timeout(90)


class SentPeer(Peer):
    """The runner's peer, keeping what it sent too."""

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.sent: list[bytes] = []

    async def send(self, data: bytes, channel: str = "control") -> None:
        self.sent.append(data)
        await super().send(data, channel)


class Listener(web4.Agent):
    mission = "hear intents"

    def __init__(self) -> None:
        self.intents: list[tuple[str, str]] = []

    def on_intent(self, ctx: AgentContext, intent: IntentReceived) -> None:
        self.intents.append((intent.payload.goal, intent.payload.topic))


def _decision(g: Got) -> bool:
    intent = g.payload.get("intent")
    return g.type == "STATE_UPDATE" and isinstance(intent, str) and ":" in intent


def _intent(p: Peer, topic: str) -> bytes:
    """An INTENT to the target under a new msg_id (after the handshake: probing)."""
    env = p.build(Intent(goal="ask", topic=topic), sender_view="probing", receiver_view="probing")
    return wire(env)


async def _settle(node: web4.Node, seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds)  # loopback answers take milliseconds
    node.bus.flush(1.0)


def test_a_repeated_intent_gets_the_decision_again_and_reaches_the_agent_once(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        data = tmp_path / "node"
        Identity.create_in_data_dir(data, "node")
        cfg = web4.NodeConfig(data_dir=data, console=False, listen=("/ip4/127.0.0.1/tcp/0",))
        agent = Listener()
        async with web4.Node(cfg, agent=agent, stdout=io.StringIO(), tick=0.1) as node:
            target = Target(node.listen_addrs[0], timeout=10.0, quiet=0.5)
            async with SentPeer(target) as p:
                hs = handshake_for(p)
                hs.start(SystemClock().now())
                await p.drive(hs, 10.0)
                assert hs.step is Step.ACCEPTED
                await _settle(node)
                sent = [e for d in p.sent if (e := json.loads(d))["type"] == "INTENT"]
                assert agent.intents == [("ask", "conformance")]
                audit = len(node.trust.audit(p.fingerprint))
                first = next(g for g in p.received if _decision(g))
                assert first.payload["intent"] == f"accept:{sent[0]['msg_id']}"

                n = len(p.received)
                for _ in range(5):
                    await p.send(_intent(p, "conformance"))
                await _settle(node)
                answers = [g for g in p.received[n:] if _decision(g)]
                assert len(answers) == 2  # max_retries
                assert all(g.payload == first.payload for g in answers)  # the same decision
                assert len({g.envelope["msg_id"] for g in answers if g.envelope}) == 2
                assert agent.intents == [("ask", "conformance")]  # heard once
                assert len(node.trust.audit(p.fingerprint)) == audit  # no trust event
                assert node.trust.state_of(p.fingerprint).value == "probing"

                n = len(p.received)
                for topic in ("something else", "conformance"):
                    await p.send(_intent(p, topic))
                    await _settle(node, 0.5)
                assert [g for g in p.received[n:] if _decision(g)] == []
                assert agent.intents == [
                    ("ask", "conformance"),
                    ("ask", "something else"),
                    ("ask", "conformance"),  # changed back: the agent's, not a repeat
                ]
                assert not p.closed
                kinds = [e.kind for e in node.obs.ring.events("cip.handshake")]
                assert kinds.count("cip.handshake.retransmitted") == 2
                assert kinds.count("cip.handshake.dropped") == 3  # the spent repeats

    asyncio.run(main())

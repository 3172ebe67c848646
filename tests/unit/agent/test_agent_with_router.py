"""Composition check: real ProtocolRouter -> AgentLoop, every event on a strict bus and
valid against docs/schemas/events.schema.json."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import jsonschema

from web4.agent import (
    AgentLoop,
    AgentLoopConfig,
    InboundMessage,
    InMemoryMemory,
    Intent,
    Outbound,
    Rule,
    RuleBasedAgent,
)
from web4.cip.builder import CipBuilder
from web4.cip.messages import DmpTrace, Fact, FactPropose, SenderState
from web4.cip.messages import Intent as CipIntent
from web4.cip.messages import StateUpdate as CipStateUpdate
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope.validate import Receiver
from web4.identity import Identity
from web4.observability import EventBus, MemoryRing, encode_event
from web4.router import DESTINATIONS, Inbound, ProtocolRouter

SCHEMA = Path(__file__).parents[3] / "docs" / "schemas" / "events.schema.json"
ME = Identity(SeededRng(1).bytes(32), "me")
ALICE = Identity(SeededRng(2).bytes(32), "alice")
MISSION = "Verify scientific facts about physics and share verified knowledge with peers"
TRACE = DmpTrace(decision_id="1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b", steps=["observed"])


def test_router_feeds_the_agent_loop_and_every_event_validates():
    clock = FakeClock(time.time())
    bus = EventBus(ME.agent_id, clock=clock)  # strict: a contract breach raises
    ring = MemoryRing(1000)
    bus.add_sink(ring)
    memory = InMemoryMemory()
    sent: list[Any] = []

    async def send_state(u: SenderState) -> None:
        sent.append(u)

    async def send_out(o: Outbound) -> None:
        sent.append(o)

    agent = RuleBasedAgent(
        MISSION,
        [
            Rule(
                "cip",
                "FACT_PROPOSE",
                "verify physics fact {fact_statement}",
                reply_type="FACT_CONFIRM",
                intent=Intent("verify_knowledge", "physics facts"),
            ),
            Rule("cip", None, "note {type} from peer"),
        ],
    )
    loop = AgentLoop(
        agent,
        emit=bus.emit,
        memory=memory,
        state_sender=send_state,
        outbound_sender=send_out,
        config=AgentLoopConfig(idle_poll=0.02, sample_interval=0.05),
    )
    router = ProtocolRouter(
        {"cip": cip_validator(ME.fingerprint, clock=clock, trust_of=lambda fp: "trusted")},
        emit=bus.emit,
        clock=clock,
    )

    def to_agent(inbound: Inbound) -> None:
        loop.offer(InboundMessage.from_routed(inbound))

    for dest in DESTINATIONS:
        router.bind(dest, to_agent)
    builder = CipBuilder(ALICE, clock=clock, rng=SeededRng(9))
    receiver = Receiver(agent_id=ME.agent_id, fingerprint=ME.fingerprint)

    def wire(payload: Any) -> bytes:
        env = builder.build(
            payload,
            receiver=receiver,
            sender_view="trusted",
            state=SenderState(presence="focused", lri=5),
        )
        return json.dumps(env).encode()

    async def body() -> None:
        task = asyncio.create_task(loop.run())
        await router.route(
            wire(CipStateUpdate(presence="engaged", lri=33, ltppeerstate="probing")),
            link_peer="alice-link",
        )
        await router.route(wire(CipIntent(goal="learn", topic="physics")), link_peer="alice-link")
        await router.route(
            wire(
                FactPropose(
                    fact=Fact(statement="water boils at 100 C", domain="physics", confidence=0.9),
                    dmp_trace=TRACE,
                )
            ),
            link_peer="alice-link",
        )
        await router.route(b'{"cip": "1.0", "type": "TELEPORT"}', link_peer="alice-link")
        await router.route(b"not json", link_peer="alice-link")
        deadline = time.monotonic() + 5
        while loop.processed < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        loop.stop()
        async with asyncio.timeout(2):
            await task

    asyncio.run(body())
    ps = loop.peer_state(ALICE.fingerprint)
    assert ps is not None
    assert ps.lri == 33
    assert [d.choice for d in memory.decisions] == [
        "note STATE_UPDATE from peer",
        "note INTENT from peer",
        "verify physics fact water boils at 100 C",
    ]
    assert any(isinstance(x, Outbound) and x.type == "FACT_CONFIRM" for x in sent)
    kinds = {e.kind for e in ring.events()}
    assert {
        "router.routed",
        "router.unknown_type",
        "router.rejected",
        "agent.decision",
        "agent.peer_state",
        "agent.intent",
        "agent.started",
        "agent.stopped",
    } <= kinds
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    for event in ring.events():
        validator.validate(json.loads(encode_event(event)))

"""RuleBasedAgent: rules, templates, replies, DMP traces, overload deferral, in a real loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

from web4.agent import (
    AgentLoop,
    AgentLoopConfig,
    Context,
    InboundMessage,
    InMemoryMemory,
    Intent,
    KnowledgeAccepted,
    Outbound,
    Rule,
    RuleBasedAgent,
    SenderState,
)
from web4.errors import ConfigError
from web4.observability import EventBus, MemoryRing

MISSION = "Verify scientific facts about climate and share verified knowledge with trusted peers"
RULES = [
    Rule(
        "cip",
        "FACT_PROPOSE",
        "verify climate fact {fact_statement} from {peer}",
        reply_type="FACT_CONFIRM",
        reply_payload={"decision": "confirm"},
        intent=Intent("verify_knowledge", "climate facts"),
    ),
    Rule("cip", None, "note {type} from {peer}"),
    Rule("knowledge", "ACCEPTED", "share verified climate knowledge {claim_id}"),
]


def _ctx(item: Any, presence: str = "diffuse") -> Context:
    return Context(item=item, mission=MISSION, presence=presence, lri=10, intent=None)  # type: ignore[arg-type]


def _cycle(agent: RuleBasedAgent, item: Any, presence: str = "diffuse") -> tuple[Any, ...]:
    ctx = agent.gather_context(item, _ctx(item, presence))
    d = agent.decide(ctx)
    if d is None:
        return (None,)
    r = agent.act(d, ctx)
    return d, r, agent.record(d, r, ctx), agent.update_state(d, r, ctx)


def test_first_matching_rule_decides_and_replies():
    agent = RuleBasedAgent(MISSION, RULES)
    m = InboundMessage("cip", "FACT_PROPOSE", "peer-b", {"fact": {"statement": "CO2 warms"}}, "m1")
    d, r, trace, intent = _cycle(agent, m)
    assert d.choice == "verify climate fact CO2 warms from peer-b"
    assert r.outbound == (Outbound("cip", "FACT_CONFIRM", {"decision": "confirm"}, "peer-b"),)
    assert trace.decision_id == d.decision_id
    assert trace.trace.steps[0].startswith("rule 0 matched cip/FACT_PROPOSE")
    assert trace.trace.evidence == ["cip/FACT_PROPOSE m1 from peer-b"]
    assert msgspec.to_builtins(trace.trace)["counterfactuals"] == ["ignore the message"]
    assert intent == Intent("verify_knowledge", "climate facts")
    d2, r2, _, i2 = _cycle(agent, InboundMessage("cip", "INTENT", "peer-c", {}))
    assert (d2.choice, r2.outcome, i2) == ("note INTENT from peer-c", "done", None)
    d3, *_ = _cycle(agent, KnowledgeAccepted("c-9", "CO2 warms"))
    assert d3.choice == "share verified climate knowledge c-9"
    assert _cycle(agent, InboundMessage("hcp", "HCP_INTENT", "h", {})) == (None,)


def test_overloaded_defers_new_work():
    agent = RuleBasedAgent(MISSION, RULES)
    m = InboundMessage("cip", "FACT_PROPOSE", "peer-b", {"fact": {"statement": "x"}})
    d, r, trace, intent = _cycle(agent, m, presence="overloaded")
    assert d.choice == "defer new work while overloaded"
    assert r.outcome == "deferred"
    assert r.outbound == ()
    assert intent is None
    assert trace.trace.counterfactuals == ["verify climate fact {fact_statement} from {peer}"]


def test_bad_rules_are_config_errors():
    with pytest.raises(ConfigError):
        Rule("cip", None, "broken {")
    with pytest.raises(ConfigError):
        Rule("cip", None, "attribute access {peer.__class__}")
    with pytest.raises(ConfigError):
        RuleBasedAgent(" ", RULES)


def test_rule_based_agent_in_a_real_loop_stays_on_mission():
    bus = EventBus("node-a")
    ring = MemoryRing(1000)
    bus.add_sink(ring)
    memory = InMemoryMemory()
    out: list[Outbound] = []
    states: list[SenderState] = []

    async def send_state(u: SenderState) -> None:
        states.append(u)

    async def send_out(o: Outbound) -> None:
        out.append(o)

    loop = AgentLoop(
        RuleBasedAgent(MISSION, RULES),
        emit=bus.emit,
        memory=memory,
        state_sender=send_state,
        outbound_sender=send_out,
        config=AgentLoopConfig(idle_poll=0.02, sample_interval=0.05),
    )

    async def body() -> None:
        task = asyncio.create_task(loop.run())
        for i in range(6):
            loop.offer(
                InboundMessage(
                    "cip",
                    "FACT_PROPOSE",
                    "peer-b",
                    {"fact": {"statement": f"climate fact {i}"}},
                    f"m{i}",
                )
            )
        deadline = time.monotonic() + 5
        while loop.processed < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        loop.stop()
        async with asyncio.timeout(2):
            await task

    asyncio.run(body())
    assert len(memory.decisions) == 6
    assert len(out) == 6
    assert states, "the real load probe produced at least one STATE_UPDATE"
    assert 0 <= states[0].lri <= 100
    assert ring.events("agent.mission_drift") == []
    assert loop.current_intent == Intent("verify_knowledge", "climate facts")

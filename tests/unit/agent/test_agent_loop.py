"""AgentLoop: hook order, drift on a drifting agent only, isolation, rate limit, shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import msgspec
import pytest

from web4.agent import (
    ActionResult,
    AgentLoop,
    AgentLoopConfig,
    Context,
    Decision,
    DecisionRecord,
    InboundMessage,
    InMemoryMemory,
    Intent,
    KnowledgeAccepted,
    LoadSample,
    Outbound,
    PresenceConfig,
    SenderState,
    check_intent,
)
from web4.cip.messages import DmpTrace
from web4.clock import FakeClock
from web4.errors import ConfigError
from web4.observability import EventBus, MemoryRing

MISSION = "Verify scientific facts about climate and share verified knowledge with trusted peers"


def run(coro_fn: Callable[[], Coroutine[Any, Any, None]], timeout: float = 10.0) -> None:
    async def main() -> None:
        async with asyncio.timeout(timeout):
            await coro_fn()

    asyncio.run(main())


class FakeProbe:
    def __init__(self) -> None:
        self.load = LoadSample(cpu=0.0, memory=0.0, queue=0.0)

    def sample(self) -> LoadSample:
        return self.load


class Scripted:
    """Records hook calls; choices come from a script (async and sync hooks mixed)."""

    def __init__(self, choices: list[str] | None = None, *, mission: str = MISSION) -> None:
        self.mission = mission
        self.calls: list[str] = []
        self.choices = list(choices or [])
        self.fail_in: str | None = None
        self.sleep_in: str | None = None

    async def _maybe_fail(self, hook: str) -> None:
        self.calls.append(hook)
        if self.sleep_in == hook:
            await asyncio.sleep(30)
        if self.fail_in == hook:
            raise RuntimeError(f"{hook} broke")

    async def gather_context(self, item: Any, base: Context) -> Context:
        await self._maybe_fail("gather_context")
        return replace(base, facts={"seen": True})

    def decide(self, context: Context) -> Decision | None:
        self.calls.append("decide")
        if self.fail_in == "decide":
            raise ValueError("decide broke")
        assert context.facts["seen"] is True
        if not self.choices:
            return None
        return Decision(choice=self.choices.pop(0), steps=("think",), evidence=("msg",))

    async def act(self, decision: Decision, context: Context) -> ActionResult:
        await self._maybe_fail("act")
        return ActionResult("done", (Outbound("cip", "DECISION_SHARE", {"x": 1}, "peer-b"),))

    def record(self, decision: Decision, result: ActionResult, context: Context) -> DecisionRecord:
        self.calls.append("record")
        trace = DmpTrace(decision.decision_id, list(decision.steps), [], list(decision.evidence))
        return DecisionRecord(trace, decision.choice)

    async def update_state(
        self, decision: Decision, result: ActionResult, context: Context
    ) -> Intent | None:
        await self._maybe_fail("update_state")
        return Intent("verify_knowledge", "climate facts", context="verify climate facts")


def make(
    agent: Any, **cfg: Any
) -> tuple[AgentLoop, MemoryRing, InMemoryMemory, dict[str, list[Any]]]:
    bus = EventBus("node-a", clock=FakeClock())
    ring = MemoryRing(10_000)
    bus.add_sink(ring)
    memory = InMemoryMemory()
    sent: dict[str, list[Any]] = {"state": [], "out": [], "intent": []}

    async def state(u: SenderState) -> None:
        sent["state"].append(u)

    async def out(o: Outbound) -> None:
        sent["out"].append(o)

    async def intent(i: Intent) -> None:
        sent["intent"].append(i)

    config = AgentLoopConfig(
        **{"hook_timeout": 0.5, "idle_poll": 0.02, "sample_interval": 0.05, **cfg}
    )
    loop = AgentLoop(
        agent,
        emit=bus.emit,
        memory=memory,
        state_sender=state,
        outbound_sender=out,
        intent_sender=intent,
        probe=FakeProbe(),
        clock=FakeClock(),
        config=config,
    )
    return loop, ring, memory, sent


def msg(t: str = "FACT_PROPOSE", peer: str = "peer-b", **payload: Any) -> InboundMessage:
    return InboundMessage("cip", t, peer, payload, msg_id=f"m-{t}")


async def drive(loop: AgentLoop, items: list[Any], until: Callable[[], bool]) -> None:
    task = asyncio.create_task(loop.run())
    for item in items:
        assert loop.offer(item)
    deadline = time.monotonic() + 20  # ends as soon as ``until`` holds
    while not until() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    loop.stop()
    async with asyncio.timeout(2):
        await task


def test_hooks_run_in_order_and_results_flow_out():
    agent = Scripted(["verify the climate fact from peer-b"])
    loop, ring, memory, sent = make(agent)

    async def body() -> None:
        await drive(loop, [msg()], lambda: loop.processed >= 1)

    run(body)
    assert agent.calls == ["gather_context", "decide", "act", "record", "update_state"]
    assert len(memory.decisions) == 1
    assert memory.decisions[0].choice == "verify the climate fact from peer-b"
    assert [o.type for o in sent["out"]] == ["DECISION_SHARE"]
    assert sent["intent"] == [
        Intent("verify_knowledge", "climate facts", context="verify climate facts")
    ]
    assert loop.current_intent is not None
    assert loop.state().intent == "verify_knowledge: climate facts"
    decision = ring.events("agent.decision")[0]
    assert decision.attributes["decision_id"] == memory.decisions[0].decision_id
    assert decision.peer == "peer-b"
    assert float(decision.attributes["mission_score"]) > 0.5  # type: ignore[arg-type]
    assert next(e.kind for e in ring.events("agent.")) == "agent.started"
    assert ring.events("agent.stopped")


def test_decide_none_ends_the_cycle():
    agent = Scripted([])
    loop, ring, memory, _ = make(agent)
    run(lambda: drive(loop, [msg()], lambda: loop.processed >= 1))
    assert agent.calls == ["gather_context", "decide"]
    assert memory.decisions == []
    assert ring.events("agent.decision") == []


ON = ["verify climate fact", "share verified climate knowledge", "verify peer climate facts"]
OFF = ["buy cryptocurrency tokens", "post memes on social media", "mine bitcoin for profit"]


def test_drift_fires_on_a_drifting_agent():
    agent = Scripted(ON * 2 + OFF * 3)
    loop, ring, _, _ = make(agent, drift_window=4, drift_threshold=0.3, drift_sustain=3)
    run(lambda: drive(loop, [msg() for _ in range(15)], lambda: loop.processed >= 15))
    drift = ring.events("agent.mission_drift")
    assert len(drift) == 1
    assert drift[0].level == "warning"
    assert float(drift[0].attributes["average"]) < 0.3  # type: ignore[arg-type]
    assert drift[0].attributes["last_text"] in OFF
    assert loop.drifting


def test_drift_stays_quiet_on_a_steady_agent():
    agent = Scripted(ON * 5)
    loop, ring, _, _ = make(agent, drift_window=4, drift_threshold=0.3, drift_sustain=3)
    run(lambda: drive(loop, [msg() for _ in range(15)], lambda: loop.processed >= 15))
    assert len(ring.events("agent.decision")) == 15
    assert ring.events("agent.mission_drift") == []
    assert not loop.drifting


@pytest.mark.parametrize("hook", ["gather_context", "decide", "act", "update_state"])
def test_a_raising_hook_is_isolated(hook: str):
    agent = Scripted(["verify climate fact"] * 2)
    agent.fail_in = hook
    loop, ring, _, _ = make(agent)
    run(lambda: drive(loop, [msg(), msg()], lambda: loop.processed >= 2))
    errors = ring.events("agent.hook_error")
    assert len(errors) == 2
    assert errors[0].attributes["hook"] == hook
    assert loop.hook_errors == 2


def test_a_slow_hook_times_out_and_the_loop_goes_on():
    agent = Scripted(["verify climate fact"] * 2)
    agent.sleep_in = "act"
    loop, ring, _, _ = make(agent, hook_timeout=0.1)
    started = time.monotonic()
    run(lambda: drive(loop, [msg(), msg()], lambda: loop.processed >= 2))
    assert time.monotonic() - started < 2.0
    errors = ring.events("agent.hook_error")
    assert [e.attributes["error"] for e in errors] == ["TimeoutError", "TimeoutError"]


def test_stop_returns_within_a_deadline_and_counts_leftovers():
    agent = Scripted(["verify climate fact"] * 50)
    agent.sleep_in = "act"  # every cycle hangs until its hook deadline
    loop, ring, _, _ = make(agent, hook_timeout=0.3, inbox_size=8)

    async def body() -> None:
        task = asyncio.create_task(loop.run())
        for _ in range(8):
            assert loop.offer(msg())
        assert not loop.offer(msg())  # full: dropped, counted, reported
        await asyncio.sleep(0.05)
        started = time.monotonic()
        loop.stop()
        async with asyncio.timeout(2.5):
            await task
        # One hook deadline (0.3 s), not the 7 leftovers (2.1 s; ``left`` is checked below);
        # the margin is for a loaded machine.
        assert time.monotonic() - started < 1.2

    run(body)
    stopped = ring.events("agent.stopped")[0]
    assert stopped.attributes["left"] == 7
    assert loop.dropped == 8
    assert ring.events("agent.dropped")[0].attributes["reason"] == "inbox_full"


def test_run_twice_is_refused():
    loop, _, _, _ = make(Scripted())

    async def body() -> None:
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.01)
        with pytest.raises(ConfigError):
            await loop.run()
        loop.stop()
        await asyncio.wait_for(task, 1)

    run(body)


def test_presence_updates_are_rate_limited_and_retried():
    clock = FakeClock()
    loop, ring, _, sent = make(
        Scripted(), presence=PresenceConfig(min_interval=1.0, min_lri_delta=5)
    )
    loop._clock = clock  # the loop's monotonic time drives the rate limit
    probe = loop.probe
    assert isinstance(probe, FakeProbe)
    failures = {"n": 0}

    async def body() -> None:
        assert await loop.refresh_presence()  # first: diffuse, 0
        probe.load = LoadSample(cpu=0.5, memory=0.5, queue=0.5)  # engaged, 50
        assert not await loop.refresh_presence()  # too soon
        clock.advance(1.0)
        assert await loop.refresh_presence()
        assert (loop.presence, loop.lri) == ("engaged", 50)
        probe.load = LoadSample(cpu=0.52, memory=0.52, queue=0.52)
        clock.advance(5)
        assert not await loop.refresh_presence()  # 52: inside the hysteresis band

        async def failing(u: SenderState) -> None:
            failures["n"] += 1
            raise OSError("state channel closed")

        loop._state_sender = failing
        probe.load = LoadSample(cpu=1, memory=1, queue=1)
        assert not await loop.refresh_presence()
        loop._state_sender = lambda u: _record(sent, u)
        clock.advance(1.0)
        assert await loop.refresh_presence()  # retried after the failure

    run(body)
    assert [(u.presence, u.lri) for u in sent["state"]] == [
        ("diffuse", 0),
        ("engaged", 50),
        ("overloaded", 100),
    ]
    assert failures["n"] == 1
    assert [e.attributes["lri"] for e in ring.events("agent.state_update")] == [0, 50, 100]
    assert ring.events("error")[0].attributes["source"] == "state"


async def _record(sent: dict[str, list[Any]], u: SenderState) -> None:
    sent["state"].append(u)


def test_peer_state_and_accepted_knowledge():
    agent = Scripted([])
    loop, ring, memory, _ = make(agent)
    items = [
        msg(
            "STATE_UPDATE", presence="focused", lri=61, ltppeerstate="probing", kernel_signals=["x"]
        ),
        KnowledgeAccepted(
            "c-1", "CO2 absorbs infrared", domain="climate", confirmed_by=("p1", "p2")
        ),
    ]
    run(lambda: drive(loop, items, lambda: loop.processed >= 2))
    ps = loop.peer_state("peer-b")
    assert ps is not None
    assert (ps.presence, ps.lri, ps.kernel_signals) == ("focused", 61, ("x",))
    assert [c.claim_id for c in memory.accepted] == ["c-1"]
    assert ring.events("agent.peer_state")[0].attributes["lri"] == 61


def test_from_routed_adapts_the_router_inbound():
    class Payload(msgspec.Struct):
        goal: str
        topic: str

    class Env:
        payload = Payload("ask", "climate")

    class Routed:
        protocol, type, peer, msg_id, received_at = "cip", "INTENT", "fp", "m1", 5.0
        envelope = Env()

    m = InboundMessage.from_routed(Routed())
    assert m == InboundMessage(
        "cip", "INTENT", "fp", {"goal": "ask", "topic": "climate"}, "m1", 5.0
    )


def test_loop_config_is_checked():
    with pytest.raises(ConfigError):
        AgentLoopConfig(inbox_size=0)
    with pytest.raises(ConfigError):
        AgentLoopConfig(hook_timeout=0)
    with pytest.raises(ConfigError):
        make(Scripted(mission="  "))
    with pytest.raises(ConfigError):
        check_intent(Intent("dance", "x"))  # type: ignore[arg-type]


def test_failing_senders_and_memory_are_reported_not_fatal():
    agent = Scripted(["verify climate fact"] * 2)
    loop, ring, _, _ = make(agent, send_timeout=0.1)

    async def broken_out(o: Outbound) -> None:
        raise OSError("peer gone")

    async def slow_intent(i: Intent) -> None:
        await asyncio.sleep(5)

    class BadMemory:
        def record_decision(self, trace: DecisionRecord) -> None:
            raise RuntimeError("disk full")

        async def record_accepted(self, claim: KnowledgeAccepted) -> None:
            return None

    loop._outbound_sender = broken_out
    loop._intent_sender = slow_intent
    loop._memory = BadMemory()
    run(lambda: drive(loop, [msg(), msg()], lambda: loop.processed >= 2))
    sources = [e.attributes["source"] for e in ring.events("error")]
    assert sources.count("outbound") == 2
    assert sources.count("intent") == 1  # adopted once; the same intent is not re-sent
    hooks = [e.attributes["hook"] for e in ring.events("agent.hook_error")]
    assert hooks == ["memory.record_decision"] * 2
    assert loop.current_intent is not None


def test_set_intent_from_outside_and_clearing_it():
    loop, ring, _, sent = make(Scripted())

    async def body() -> None:
        await loop.set_intent(Intent("ask", "climate sensitivity", "high"))
        await loop.set_intent(None)

    run(body)
    assert [i.topic for i in sent["intent"]] == ["climate sensitivity"]
    assert [e.attributes["intent"] for e in ring.events("agent.intent")] == [
        "ask: climate sensitivity",
        None,
    ]
    assert loop.current_intent is None
    assert msgspec.to_builtins(loop.state()) == {
        "presence": "diffuse",
        "lri": 0,
        "kernel_signals": [],
        "intent": None,
    }

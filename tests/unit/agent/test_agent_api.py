"""The Agent API: events from what the node offers, actions checked at call time, the
belief agent on the public API, handlers isolated in the real loop, and --agent loading."""

from __future__ import annotations

import asyncio
import hashlib
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest

from web4.agent import (
    AgentContext,
    AgentLoop,
    AgentLoopConfig,
    AgentOptions,
    FactProposed,
    HandlerCycle,
    InboundMessage,
    InMemoryMemory,
    LoadSample,
)
from web4.agent.driver import event_of
from web4.agent.loading import available, load_agent
from web4.cip import messages as cm
from web4.cip.claims import claim_hash
from web4.clock import FakeClock
from web4.errors import ConfigError, DecisionError, MessageBuildError
from web4.knowledge import Claim, ClaimState, DmpVerdict, check_dmp
from web4.node.believer import BeliefAgent
from web4.node.desk import fact_from, trace_from
from web4.observability import EventBus, MemoryRing

P1 = hashlib.sha256(b"p1").hexdigest()
M1 = "11111111-1111-4111-8111-111111111111"
M2 = "22222222-2222-4222-8222-222222222222"


class Ports:
    """AgentPorts with no node behind it: ids count up, nothing is stored."""

    def __init__(self) -> None:
        self.n = 0

    fingerprint = "f" * 64

    def new_msg_id(self) -> str:
        self.n += 1
        return f"00000000-0000-4000-8000-{self.n:012d}"

    def now(self) -> float:
        return 1.0

    def trust_of(self, peer: str) -> str:
        return "probing"

    def claim(self, claim_id: str) -> Claim | None:
        return None

    def claims(self, state: ClaimState | None, limit: int) -> list[Claim]:
        return []

    def memory(self, limit: int) -> list[Any]:
        return []

    def traces(self, decision_id: str | None, limit: int) -> list[Any]:
        return []

    def agent_peers(self) -> list[str]:
        return []


def propose_msg(statement: str, msg_id: str = M1) -> InboundMessage:
    fact = {"statement": statement, "domain": "physics", "confidence": 0.8}
    trace = {"decision_id": "00000000-0000-4000-8000-000000000001"}
    return InboundMessage("cip", "FACT_PROPOSE", P1, {"fact": fact, "dmp_trace": trace}, msg_id)


def context() -> AgentContext:
    return AgentContext(
        Ports(), mission="m", presence="engaged", lri=1, intent=None, peers={}, now=1.0
    )


def test_a_routed_proposal_becomes_a_typed_event_with_its_claim_hash() -> None:
    item = propose_msg("water boils at 100 C")
    event = event_of(item, Ports())
    assert isinstance(event, FactProposed)
    assert isinstance(event.payload, cm.FactPropose)
    assert event.statement == "water boils at 100 C"
    assert event.claim_hash == claim_hash(P1, item.payload)
    assert event_of(InboundMessage("cip", "HELLO", P1, {}), Ports()) is None


def test_belief_agent_votes_through_the_context_bound_to_the_claim_hash() -> None:
    agent = BeliefAgent("verify knowledge", ["Water boils at 100 C", "The moon is not cheese"])
    for statement, payload_type in (
        ("water boils at 100 C", cm.FactConfirm),
        ("the moon is cheese", cm.FactChallenge),
    ):
        event = event_of(propose_msg(statement), Ports())
        assert isinstance(event, FactProposed)
        ctx = context()
        agent.on_fact_proposed(ctx, event)
        (action,) = ctx.actions
        assert action.kind == "vote"
        assert isinstance(action.payload, payload_type)
        assert (action.payload.fact_ref, action.payload.claim_hash) == (M1, event.claim_hash)
    ctx = context()
    event = event_of(propose_msg("grass is green"), Ports())
    assert isinstance(event, FactProposed)
    agent.on_fact_proposed(ctx, event)
    assert ctx.actions == []


def test_actions_check_their_arguments_when_called() -> None:
    ctx = context()
    with pytest.raises(MessageBuildError):
        ctx.propose("x", sources=["s"], steps=[])
    with pytest.raises(MessageBuildError):
        ctx.propose("x", sources=[], steps=["looked"])
    with pytest.raises(MessageBuildError):
        ctx.propose("x", sources=["s"], steps=["looked"], confidence=1.5)
    with pytest.raises(MessageBuildError):
        ctx.fetch("file:///etc/passwd")
    with pytest.raises(MessageBuildError):
        ctx.confirm("no-such-claim")
    with pytest.raises(MessageBuildError):
        ctx.challenge(FactProposed(P1, M1, "0" * 64, _payload()), reason="because")  # type: ignore[arg-type]
    assert ctx.actions == []


def _payload() -> cm.FactPropose:
    return msgspec.convert(dict(propose_msg("x").payload), cm.FactPropose)


def test_a_proposal_carries_a_trace_the_knowledge_rules_find_consistent() -> None:
    ctx = context()
    msg_id = ctx.propose("2 + 2 = 4", sources=["arithmetic"], steps=["added 2 and 2"])
    (action,) = ctx.actions
    assert action.msg_id == msg_id
    verdict, why = check_dmp(fact_from(action.payload.fact), trace_from(action.payload.dmp_trace))
    assert verdict is DmpVerdict.CONSISTENT, why


def test_a_decision_for_a_human_needs_rationale_and_alternatives() -> None:
    from web4.agent import HumanMessage
    from web4.hcp.messages import HcpContext, HumanState

    state = HumanState("focused", "calm", 80, 20, "", "granted")
    msg = HumanMessage(P1, "Dana", "m", "HCP_CONTEXT", HcpContext("hi", [], []), state,
                       "granted", (), "work")  # fmt: skip
    ctx = context()
    with pytest.raises(DecisionError):
        ctx.decide(msg, "ship it", rationale="", alternatives=["wait"])
    ctx.decide(msg, "ship it", rationale="tests pass", alternatives=["wait a day"])
    (action,) = ctx.actions
    assert (action.kind, action.peer, action.topic) == ("human", P1, "work")


class _Probe:
    def sample(self) -> LoadSample:
        return LoadSample(0.1, 0.1, 0.0)


def test_a_raising_handler_is_isolated_and_the_next_event_is_handled() -> None:
    performed: list[Any] = []

    class Flaky:
        mission = "check facts from peers"
        calls = 0

        async def on_fact_proposed(self, ctx: AgentContext, proposal: FactProposed) -> None:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("boom")
            ctx.confirm(proposal)
            ctx.send_intent("verify_knowledge", "facts")

    async def perform(action: Any) -> str:
        performed.append(action)
        return "done"

    async def state(_: Any) -> None:
        return None

    intents: list[Any] = []

    async def intent(i: Any) -> None:
        intents.append(i)

    ring = MemoryRing(100)
    bus = EventBus("t", clock=FakeClock())
    bus.add_sink(ring)
    loop = AgentLoop(
        HandlerCycle(Flaky(), Ports(), perform),
        emit=bus.emit,
        memory=InMemoryMemory(),
        state_sender=state,
        intent_sender=intent,
        probe=_Probe(),
        config=AgentLoopConfig(idle_poll=0.02),
    )

    async def body() -> None:
        task = asyncio.create_task(loop.run())
        loop.offer(propose_msg("a", M1))
        loop.offer(propose_msg("b", M2))
        async with asyncio.timeout(5):
            while loop.processed < 2:
                await asyncio.sleep(0.01)
        loop.stop()
        await task

    asyncio.run(body())
    assert [e.attributes["hook"] for e in ring.events("agent.hook_error")] == ["decide"]
    assert [a.kind for a in performed] == ["vote"]
    assert performed[0].payload.fact_ref == M2
    assert [i.topic for i in intents] == ["facts"]
    (decision,) = ring.events("agent.decision")
    assert decision.attributes["choice"].startswith(f"confirm claim {M2}")


def test_load_agent_finds_builtin_module_path_and_installed_agents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts = AgentOptions(mission="check sums", beliefs=("a b c",))
    assert isinstance(load_agent("belief", opts), BeliefAgent)
    src = textwrap.dedent(
        """
        class A:
            mission = "check sums"
        def make():
            return A()
        def nomission(options):
            return object()
        def boom(options):
            raise ValueError("no model configured")
        """
    )
    (tmp_path / "sumagent.py").write_text(src)
    monkeypatch.chdir(tmp_path)
    assert load_agent("sumagent:make", opts).mission == "check sums"  # from the cwd
    other = tmp_path / "sub" / "pathagent.py"
    other.parent.mkdir()
    other.write_text(src)
    assert load_agent(f"{other}:make", opts).mission == "check sums"
    for spec, words in (
        ("sumagent:nomission", "no mission"),
        ("sumagent:boom", "ValueError: no model configured"),
        ("sumagent:missing", "no callable"),
        ("nosuchmodule_x:make", "no module"),
        ("nosuchname", "no installed agent"),
    ):
        with pytest.raises(ConfigError, match=words):
            load_agent(spec, opts)
    # an installed package's entry point in the web4.agents group
    dist = tmp_path / "site" / "sumpkg-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sumpkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[web4.agents]\nsums = sumagent:make\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert ("sums", "sumagent:make", "sumpkg") in [
        (e.name, e.target, e.origin) for e in available()
    ]
    assert load_agent("sums", opts).mission == "check sums"

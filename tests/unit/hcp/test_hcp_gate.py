"""The HCP gate: consent x pacing x affect, each with the agent's required behaviour."""

from __future__ import annotations

import itertools

import pytest

from web4.errors import ConsentError, DecisionError, HandshakeError
from web4.hcp.gate import (
    SLOW_MIN_INTERVAL,
    AgentAction,
    HumanGate,
    check_decision,
    topic_in_scope,
)
from web4.hcp.messages import (
    HcpContext,
    HcpHello,
    HcpIntent,
    HcpStateUpdate,
    HumanIdentity,
    HumanState,
)

SCOPE = ["topic:work"]


def human(
    consent: str = "granted",
    pressure: int = 20,
    clarity: int = 80,
    affect: str = "calm",
    presence: str = "focused",
) -> HumanState:
    return HumanState(
        presence=presence,  # type: ignore[arg-type]
        affect=affect,  # type: ignore[arg-type]
        clarity=clarity,
        pressure=pressure,
        intent="",
        consent=consent,  # type: ignore[arg-type]
    )


def opened(h: HumanState, flags: tuple[str, ...] = ()) -> HumanGate:
    gate = HumanGate()
    hello = HcpHello(
        identity=HumanIdentity(name="Ada", role="engineer"),
        consent_scope=SCOPE,
        safety_flags=list(flags),  # type: ignore[arg-type]
    )
    gate.observe("HCP_HELLO", h, hello)
    return gate


def answer(gate: HumanGate, h: HumanState) -> None:
    gate.observe("HCP_CONTEXT", h, HcpContext(context="ok", constraints=[], shared_history=[]))


# consent rows: (consent, topic, refused?)
CONSENT = [
    ("granted", "health", False),
    ("limited", "work/plan", False),  # inside scope
    ("limited", "workshop", True),  # outside scope (a prefix that is not a path prefix)
    ("revoked", "work", True),
]
# pacing rows: (pressure, clarity, slow?)
PACING = [(79, 50, False), (80, 50, True), (50, 31, False), (50, 30, True)]
# affect rows: (affect, check-in required?)
AFFECT = [("calm", False), ("neutral", False), ("tense", True), ("anxious", True)]

CASES = list(itertools.product(CONSENT, PACING, AFFECT))


@pytest.mark.parametrize(("consent_row", "pacing_row", "affect_row"), CASES)
def test_required_behaviour(consent_row, pacing_row, affect_row) -> None:
    consent, topic, refused = consent_row
    pressure, clarity, slow = pacing_row
    affect, needs_check_in = affect_row
    h = human(consent, pressure, clarity, affect)
    gate = opened(h)
    t = 1000.0
    if refused:
        # no automated action at all: every attempt refused and recorded
        for kind in ("reply", "proposal", "task", "question"):
            with pytest.raises(ConsentError):
                gate.attempt(AgentAction(kind, topic), t)  # type: ignore[arg-type]
        assert len(gate.refusals) == 4
        assert all(r.consent == consent for r in gate.refusals)
        return
    if needs_check_in:
        v = gate.attempt(AgentAction("proposal", topic), t)
        assert v.outcome == "check_in"
        assert gate.attempt(AgentAction("check_in"), t).outcome == "proceed"
        # waits for the human's answer: nothing else happens meanwhile
        assert gate.attempt(AgentAction("reply", topic), t + 100).outcome == "defer"
        answer(gate, h)
        t += SLOW_MIN_INTERVAL  # the check-in was an agent message
    v = gate.attempt(AgentAction("proposal", topic), t)
    if slow:
        assert v.outcome == "defer"
        assert "no new proposals" in v.reason
        assert gate.attempt(AgentAction("reply", topic), t).outcome == "proceed"
        v2 = gate.attempt(AgentAction("reply", topic), t + 1)
        assert v2.outcome == "defer"
        assert v2.not_before == t + SLOW_MIN_INTERVAL
        assert gate.attempt(AgentAction("reply", topic), t + SLOW_MIN_INTERVAL).outcome == (
            "proceed"
        )
        # one question at a time
        assert gate.attempt(AgentAction("question", topic), t + 20).outcome == "proceed"
        assert gate.attempt(AgentAction("question", topic), t + 40).outcome == "defer"
    else:
        assert v.outcome == "proceed"
        assert gate.attempt(AgentAction("reply", topic), t).outcome == "proceed"
        assert gate.attempt(AgentAction("question", topic), t).outcome == "proceed"
        assert gate.attempt(AgentAction("question", topic), t).outcome == "proceed"
    assert list(gate.refusals) == []


def test_consent_change_takes_effect_on_next_message() -> None:
    gate = opened(human("granted"))
    assert gate.attempt(AgentAction("reply", "x"), 0).outcome == "proceed"
    revoked = human("revoked")
    upd = HcpStateUpdate(
        presence="focused", affect="calm", clarity=80, pressure=20, consent="revoked"
    )
    gate.observe("HCP_STATE_UPDATE", human("granted"), upd)  # payload wins over a stale vector
    assert gate.state == revoked
    with pytest.raises(ConsentError, match="revoked"):
        gate.attempt(AgentAction("check_in"), 1)
    # re-granting also takes effect on the next message
    gate.observe("HCP_CONTEXT", human("granted"), HcpContext("", [], []))
    assert gate.attempt(AgentAction("reply", "x"), 2).outcome == "proceed"


def test_limited_consent_without_topic_is_refused_but_check_in_allowed() -> None:
    gate = opened(human("limited", affect="tense"))
    with pytest.raises(ConsentError, match="without a topic"):
        gate.attempt(AgentAction("task"), 0)
    assert gate.attempt(AgentAction("check_in"), 0).outcome == "proceed"


def test_check_in_rearms_when_affect_changes() -> None:
    gate = opened(human(affect="tense"))
    assert gate.attempt(AgentAction("check_in"), 0).outcome == "proceed"
    answer(gate, human(affect="tense"))
    assert gate.attempt(AgentAction("reply", "x"), 1).outcome == "proceed"
    answer(gate, human(affect="anxious"))
    assert gate.attempt(AgentAction("reply", "x"), 2).outcome == "check_in"
    answer(gate, human(affect="calm"))
    assert gate.attempt(AgentAction("reply", "x"), 3).outcome == "proceed"


def test_overloaded_presence_and_slow_flag_mean_slow_mode() -> None:
    assert opened(human(presence="overloaded")).slow
    assert opened(human(), flags=("slow_pacing",)).slow
    assert not opened(human()).slow


def test_tasks_are_not_paced_but_are_gated_by_consent() -> None:
    gate = opened(human(pressure=95))
    assert gate.attempt(AgentAction("task", "work"), 0).outcome == "proceed"
    assert gate.attempt(AgentAction("task", "work"), 0).outcome == "proceed"


def test_messages_before_hello_are_refused() -> None:
    gate = HumanGate()
    with pytest.raises(HandshakeError):
        gate.observe("HCP_CONTEXT", human(), HcpContext("", [], []))
    with pytest.raises(HandshakeError):
        gate.attempt(AgentAction("reply", "x"), 0)


@pytest.mark.parametrize(
    ("topic", "scope", "inside"),
    [
        ("work", ["topic:work"], True),
        ("Work/Hiring", ["topic:work"], True),
        ("/work//plan/", ["topic:work"], True),
        ("workshop", ["topic:work"], False),
        ("home", ["topic:work", "topic:home"], True),
        ("work", ["topic:work/hiring"], False),
        ("work", [], False),
    ],
)
def test_topic_scope(topic: str, scope: list[str], inside: bool) -> None:
    assert topic_in_scope(topic, scope) is inside


@pytest.mark.parametrize(
    ("decision", "rationale", "alternatives"),
    [("go", "", ["wait"]), ("go", "because", []), ("go", "because", ["  "]), (" ", "b", ["a"])],
)
def test_agent_decision_without_rationale_or_alternatives_is_refused(
    decision: str, rationale: str, alternatives: list[str]
) -> None:
    with pytest.raises(DecisionError):
        check_decision(decision, rationale, alternatives)


def test_agent_decision_with_rationale_and_alternatives() -> None:
    d = check_decision("ship friday", "tests are green", ["ship monday"])
    assert d.alternatives == ["ship monday"]


def test_avoid_conflict_allows_decisions_only_when_asked() -> None:
    gate = opened(human(), flags=("avoid_conflict",))
    v = gate.attempt(AgentAction("proposal", "work"), 0)
    assert v.outcome == "defer"
    assert "avoid_conflict" in v.reason
    assert gate.attempt(AgentAction("reply", "work"), 0).outcome == "proceed"
    gate.observe("HCP_INTENT", human(), HcpIntent(goal="decide", topic="work", priority="high"))
    assert gate.attempt(AgentAction("decision", "work"), 1).outcome == "proceed"
    gate.observe("HCP_INTENT", human(), HcpIntent(goal="align", topic="work", priority="low"))
    assert gate.attempt(AgentAction("proposal", "work"), 2).outcome == "defer"

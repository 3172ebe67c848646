"""The agent's planned answers and the agenda drained through the real gate."""

from __future__ import annotations

import pytest

from web4.hcp import HumanGate, HumanState
from web4.hcp.messages import (
    HcpContext,
    HcpDecision,
    HcpFeedback,
    HcpHello,
    HcpIntent,
    HcpStateUpdate,
    HumanIdentity,
)
from web4.hcp.responder import MAX_PENDING, Agenda, Planned, check_in_for, plan_for

CALM = HumanState("engaged", "calm", 70, 30, "", "granted")


def _gate(state: HumanState = CALM, scope: list[str] | None = None) -> HumanGate:
    gate = HumanGate()
    gate.observe("HCP_HELLO", state, HcpHello(HumanIdentity("Ana", "user"), scope or [], []))
    return gate


def test_plans_for_every_payload() -> None:
    hello = plan_for(HcpHello(HumanIdentity("Ana", "user"), ["topic:work"], []), None)
    assert hello == Planned("reply", None, "Hello Ana. Session open; consent scope: topic:work.")
    decide = plan_for(HcpIntent("decide", "work/plan", "high"), None)
    assert decide is not None
    assert decide.kind == "decision"
    assert decide.topic == "work/plan"
    assert decide.rationale
    assert len(decide.alternatives) == 2
    clarify = plan_for(HcpIntent("clarify", "work", "normal"), None)
    assert clarify is not None
    assert clarify.kind == "question"
    align = plan_for(HcpIntent("align", "work", "low"), None)
    assert align == Planned("reply", "work", "Understood: align on work (low).")
    ctx = plan_for(HcpContext("x " * 200, [], []), "work")
    assert ctx is not None
    assert ctx.topic == "work"
    assert len(ctx.text) < 140
    fb = plan_for(HcpFeedback("ok", ["a", "b"], 90), "work")
    assert fb is not None
    assert "corrections noted: 2" in fb.text
    dec = plan_for(HcpDecision("go", "cheap", ["wait"], ""), "work")
    assert dec is not None
    assert dec.text == "Your decision is recorded: go"
    assert plan_for(HcpStateUpdate("engaged", "calm", 70, 30, "granted"), "work") is None


def test_proceed_sends_in_order() -> None:
    gate, agenda = _gate(), Agenda()
    agenda.add(Planned("reply", "work", "one"))
    agenda.add(Planned("question", "work", "two"))
    out = agenda.drain(gate.attempt, CALM, 0.0)
    assert [(o.what, o.planned.text) for o in out] == [("sent", "one"), ("sent", "two")]
    assert not agenda.items


@pytest.mark.parametrize("affect", ["tense", "anxious"])
def test_check_in_comes_first_and_everything_waits_for_the_answer(affect: str) -> None:
    tense = HumanState("engaged", affect, 70, 30, "", "granted")  # type: ignore[arg-type]
    gate, agenda = _gate(tense), Agenda()
    agenda.add(Planned("decision", "work", "go", "because", ("wait",)))
    out = agenda.drain(gate.attempt, tense, 0.0)
    assert [(o.what, o.planned.kind) for o in out] == [("sent", "check_in")]
    assert out[0].planned == check_in_for(tense, "work")
    assert len(agenda.items) == 1
    assert agenda.drain(gate.attempt, tense, 1.0)[0].what == "deferred"  # unanswered
    gate.observe("HCP_CONTEXT", tense, HcpContext("fine", [], []))
    out = agenda.drain(gate.attempt, tense, 2.0)
    assert [(o.what, o.planned.kind) for o in out] == [("sent", "decision")]


def test_revoked_consent_refuses_every_planned_action() -> None:
    revoked = HumanState("engaged", "tense", 70, 30, "", "revoked")
    gate, agenda = _gate(revoked), Agenda()
    for kind in ("reply", "question", "decision"):
        agenda.add(Planned(kind, "work", kind, "r", ("a",)))  # type: ignore[arg-type]
    out = agenda.drain(gate.attempt, revoked, 0.0)
    assert [o.what for o in out] == ["refused"] * 3
    assert all("revoked" in o.reason for o in out)
    assert not agenda.items
    assert len(gate.refusals) == 3


def test_limited_consent_refuses_out_of_scope_and_topicless_actions() -> None:
    limited = HumanState("engaged", "calm", 70, 30, "", "limited")
    gate, agenda = _gate(limited, ["topic:work"]), Agenda()
    agenda.add(Planned("reply", None, "hello"))
    agenda.add(Planned("reply", "personal", "no"))
    agenda.add(Planned("reply", "work/plan", "yes"))
    out = agenda.drain(gate.attempt, limited, 0.0)
    assert [o.what for o in out] == ["refused", "refused", "sent"]


def test_slow_mode_a_deferred_decision_does_not_block_a_question_but_spacing_stops() -> None:
    slow = HumanState("engaged", "calm", 70, 80, "", "granted")
    gate, agenda = _gate(slow), Agenda()
    agenda.add(Planned("decision", "work", "go", "r", ("a",)))
    agenda.add(Planned("question", "work", "what?"))
    agenda.add(Planned("reply", "work", "noted"))
    out = agenda.drain(gate.attempt, slow, 100.0)
    assert [(o.what, o.planned.kind) for o in out] == [
        ("deferred", "decision"),
        ("sent", "question"),
        ("deferred", "reply"),
    ]
    assert out[2].not_before == 110.0
    assert agenda.not_before == 110.0
    assert [p.kind for p in agenda.items] == ["decision", "reply"]
    assert not agenda.due(109.9)
    assert agenda.due(110.0)
    gate.observe("HCP_CONTEXT", slow, HcpContext("answer", [], []))
    out = agenda.drain(gate.attempt, slow, 110.0)
    assert [(o.what, o.planned.kind) for o in out] == [("deferred", "decision"), ("sent", "reply")]


def test_the_agenda_is_bounded() -> None:
    agenda = Agenda()
    for i in range(MAX_PENDING + 5):
        agenda.add(Planned("reply", "t", str(i)))
    agenda.add(None)
    assert len(agenda.items) == MAX_PENDING
    assert agenda.items[0].text == "5"
    agenda.clear()
    assert not agenda.items
    assert not agenda.due(0.0)

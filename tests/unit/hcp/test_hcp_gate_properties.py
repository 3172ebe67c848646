"""Properties of the gate over random sessions: consent is never bypassed, slow mode
never lets two messages closer than the interval, proposals never pass in slow mode."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from web4.errors import ConsentError
from web4.hcp.gate import SLOW_MIN_INTERVAL, AgentAction, HumanGate, topic_in_scope
from web4.hcp.messages import HcpContext, HcpHello, HumanIdentity, HumanState

SCOPE = ["topic:work", "topic:home/garden"]
TOPICS = st.sampled_from(["work", "work/a", "home", "home/garden/x", "workshop", "health"])
KINDS = st.sampled_from(["reply", "question", "check_in", "proposal", "decision", "task"])
STATES = st.builds(
    HumanState,
    presence=st.sampled_from(["focused", "diffuse", "overloaded", "engaged"]),
    affect=st.sampled_from(["calm", "tense", "anxious", "energized", "neutral"]),
    clarity=st.integers(0, 100),
    pressure=st.integers(0, 100),
    intent=st.just(""),
    consent=st.sampled_from(["granted", "limited", "revoked"]),
)
STEP = st.one_of(
    st.tuples(st.just("human"), STATES),
    st.tuples(st.just("agent"), st.tuples(KINDS, st.one_of(st.none(), TOPICS))),
)


@settings(max_examples=300, deadline=None)
@given(first=STATES, steps=st.lists(st.tuples(STEP, st.floats(0, 30)), max_size=30))
def test_gate_invariants(first: HumanState, steps) -> None:
    gate = HumanGate()
    gate.observe("HCP_HELLO", first, HcpHello(HumanIdentity("A", "B"), SCOPE, []))
    now = 0.0
    sent: list[float] = []
    for (who, what), dt in steps:
        now += dt
        if who == "human":
            gate.observe("HCP_CONTEXT", what, HcpContext("", [], []))
            continue
        kind, topic = what
        state = gate.state
        assert state is not None
        slow = gate.slow
        try:
            verdict = gate.attempt(AgentAction(kind, topic), now)
        except ConsentError:
            assert state.consent != "granted"
            continue
        assert state.consent != "revoked"
        if state.consent == "limited" and kind != "check_in":
            assert topic is not None
            assert topic_in_scope(topic, SCOPE)
        if verdict.outcome == "proceed":
            if slow:
                assert kind not in ("proposal", "decision")
                if kind != "task" and sent:
                    assert now - sent[-1] >= SLOW_MIN_INTERVAL
            if state.affect in ("anxious", "tense") and kind != "check_in":
                assert gate.check_in_done_for == state.affect
            if kind != "task":
                sent.append(now)

"""An HCP session driven by signed envelopes through the generic validator."""

from __future__ import annotations

from typing import Any

import pytest

from web4.clock import FakeClock, SeededRng
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.errors import ConsentError, HandshakeError
from web4.hcp.builder import build_hcp
from web4.hcp.gate import AgentAction
from web4.hcp.messages import (
    HCP_SPEC,
    HcpContext,
    HcpFeedback,
    HcpHello,
    HcpIntent,
    HcpStateUpdate,
    HumanIdentity,
    HumanState,
    Payload,
)
from web4.hcp.session import HcpSession
from web4.hcp.social import SocialState
from web4.identity import Identity
from web4.store import Store


class Human:
    def __init__(self, agent: Identity, clock: FakeClock) -> None:
        self.id = Identity(bytes([3]) * 32, "ada")
        self.agent = agent
        self.clock = clock
        self.rng = SeededRng(1)
        self.state = HumanState("focused", "calm", 80, 20, "", "granted")

    def send(self, payload: Payload) -> dict[str, Any]:
        self.clock.advance(1)
        return build_hcp(
            self.id,
            receiver_id=self.agent.agent_id,
            receiver_fingerprint=self.agent.fingerprint,
            payload=payload,
            human=self.state,
            clock=self.clock,
            rng=self.rng,
        )

    def update(self, **changes: Any) -> dict[str, Any]:
        s = self.state
        names = ("presence", "affect", "clarity", "pressure", "consent")
        fields = {f: getattr(s, f) for f in names}
        fields.update(changes)
        self.state = HumanState(intent=s.intent, **fields)
        return self.send(HcpStateUpdate(**fields))


@pytest.fixture
def world(tmp_path):
    agent = Identity(bytes([9]) * 32, "agent-a")
    clock = FakeClock()
    validator = Validator(
        HCP_SPEC,
        our_fingerprint=agent.fingerprint,
        clock=clock,
        replay=ReplayCache(),
        trust_gate=lambda fp, t: None,
    )
    store = Store.open(tmp_path / "w.sqlite3")
    human = Human(agent, clock)
    session = HcpSession(store, human.id.fingerprint)

    def deliver(env: dict[str, Any]) -> list[Any]:
        return session.receive(validator.validate(env), clock.now())

    yield human, session, deliver, clock, store
    store.close()


def test_a_whole_session(world) -> None:
    human, session, deliver, clock, store = world
    hello = HcpHello(HumanIdentity("Ada", "engineer"), ["topic:work"], [])
    events = deliver(human.send(hello))
    assert [e.kind for e in events] == ["hcp.session_open", "hcp.social"]
    assert session.social_state == SocialState.PROBING

    events = deliver(human.send(HcpIntent("decide", "work/release", "high")))
    assert events[0].attrs["actionable"] is True
    assert session.attempt(AgentAction("proposal", "work/release"), clock.now()).outcome == (
        "proceed"
    )

    # anxious: a check-in first, then wait for the answer
    deliver(human.update(affect="anxious"))
    v = session.attempt(AgentAction("proposal", "work/release"), clock.now())
    assert v.outcome == "check_in"
    assert session.attempt(AgentAction("check_in"), clock.now()).outcome == "proceed"
    assert session.attempt(AgentAction("reply", "work"), clock.now()).outcome == "defer"
    deliver(human.send(HcpContext("I am fine, go on", [], [])))
    assert session.attempt(AgentAction("reply", "work"), clock.now()).outcome == "proceed"

    # two positive feedbacks: mutual validation
    deliver(human.send(HcpFeedback("great", [], 90)))
    deliver(human.send(HcpFeedback("great", [], 95)))
    assert session.social_state == SocialState.TRUSTED

    # revoked: nothing automated, every attempt refused, persisted; social restricted
    events = deliver(human.update(consent="revoked"))
    assert ("hcp.consent_changed", "revoked") in [(e.kind, e.attrs.get("consent")) for e in events]
    assert session.social_state == SocialState.RESTRICTED
    for kind in ("reply", "task", "check_in"):
        with pytest.raises(ConsentError):
            session.attempt(AgentAction(kind, "work"), clock.now())  # type: ignore[arg-type]
    assert [r.kind for r in session.refusals()] == ["reply", "task", "check_in"]
    events = deliver(human.send(HcpIntent("request", "work", "normal")))
    assert events[0].attrs["actionable"] is False

    # limited: only the scope proceeds
    deliver(human.update(consent="limited"))
    assert session.social_state == SocialState.PROBING
    assert session.attempt(AgentAction("reply", "work/x"), clock.now()).outcome == "proceed"
    with pytest.raises(ConsentError, match="outside"):
        session.attempt(AgentAction("reply", "health"), clock.now())

    # everything survives in the store
    again = HcpSession(store, human.id.fingerprint)
    assert len(again.refusals()) == 4
    assert again.social_state == SocialState.PROBING
    notes = [a.note for a in again.social.audit(human.id.fingerprint)]
    assert "mutual validation" in notes


def test_nothing_before_hello(world) -> None:
    human, session, deliver, clock, _ = world
    with pytest.raises(HandshakeError):
        deliver(human.send(HcpIntent("align", "work", "low")))
    with pytest.raises(HandshakeError):
        session.attempt(AgentAction("reply", "work"), clock.now())


def test_session_events_fit_the_observability_contract(world) -> None:
    from web4.observability.events import make_event

    human, _, deliver, _, _ = world
    events = deliver(human.send(HcpHello(HumanIdentity("Ada", "eng"), ["topic:work"], [])))
    events += deliver(human.send(HcpIntent("align", "work", "low")))
    events += deliver(human.update(consent="revoked"))
    assert {e.kind for e in events} == {
        "hcp.session_open",
        "hcp.social",
        "hcp.intent",
        "hcp.consent_changed",
    }
    for e in events:
        make_event(e.kind, time="2026-01-01T00:00:00.000Z", node="a", attributes=e.attrs)

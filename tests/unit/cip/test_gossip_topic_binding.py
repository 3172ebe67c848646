"""Topic-bound envelopes (CIP_SPEC §11): named topics, bound, never turned into another
kind, replayed once only; and the verdict a route's outcome gives a gossip message."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from web4.cip import cip_validator
from web4.cip.builder import CipBuilder
from web4.cip.gossip import verdict_of
from web4.cip.messages import (
    DmpTrace,
    Fact,
    FactConfirm,
    FactPropose,
    Intent,
    SenderState,
)
from web4.cip.topics import DECISIONS_TOPIC, KNOWLEDGE_PREFIX, knowledge_topic, topic_check
from web4.clock import FakeClock, SeededRng
from web4.envelope import canonicalize
from web4.envelope.validate import Receiver
from web4.errors import (
    InvalidEnvelopeError,
    MessageBuildError,
    QuotaError,
    ReplayError,
    SignatureMismatchError,
    StoreError,
    TopicMismatchError,
    TrustViolationError,
)
from web4.identity import Identity
from web4.router import RouteResult
from web4.rtt.gossip import GossipVerdict

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")
STATE = SenderState(presence="focused", lri=10)
PHYSICS = knowledge_topic("physics")
T0 = 1_700_000_000.0


def fact(domain: str = "physics") -> FactPropose:
    return FactPropose(
        fact=Fact(statement="Water is wet", domain=domain, confidence=0.9, sources=["s"]),
        dmp_trace=DmpTrace(decision_id="12345678-1234-4234-8234-123456789abc", steps=["a"],
                           evidence=["s"]),
    )  # fmt: skip


def build(payload: Any, *, topic: str | None = PHYSICS, to: Identity | None = None) -> bytes:
    b = CipBuilder(ALICE, clock=FakeClock(T0), rng=SeededRng(7))
    receiver = None if to is None else Receiver(to.agent_id, to.fingerprint)
    env = b.build(payload, receiver=receiver, topic=topic, sender_view="probing", state=STATE)
    return canonicalize(env)


def validator() -> Any:
    return cip_validator(BOB.fingerprint, clock=FakeClock(T0), trust_of=lambda _: "trusted")


def test_topic_names() -> None:
    assert knowledge_topic(" Physics ") == PHYSICS == KNOWLEDGE_PREFIX + "physics"
    assert knowledge_topic("Earth  Science") == KNOWLEDGE_PREFIX + "earth%20science"
    long = knowledge_topic("x" * 200)
    assert long.startswith(KNOWLEDGE_PREFIX + "sha256-")
    assert len(long) < 256


def test_a_topic_bound_envelope_is_valid_on_its_topic_only() -> None:
    data = build(fact())
    doc = json.loads(data)
    assert doc["topic"] == PHYSICS
    assert "receiver" not in doc
    assert doc["trust"] == {}
    env = validator().validate(data, topic=PHYSICS)
    assert env.topic == PHYSICS
    assert env.receiver is None
    with pytest.raises(TopicMismatchError, match="came on"):
        validator().validate(data, topic=knowledge_topic("chemistry"))
    with pytest.raises(TopicMismatchError, match="point to point"):
        validator().validate(data)  # cannot be turned into a point-to-point envelope


def test_a_receiver_bound_envelope_is_refused_on_a_topic() -> None:
    data = build(fact(), topic=None, to=BOB)
    assert validator().validate(data).receiver is not None
    with pytest.raises(TopicMismatchError, match="one receiver"):
        validator().validate(data, topic=PHYSICS)


def test_moving_the_binding_breaks_the_signature() -> None:
    doc = json.loads(build(fact()))
    doc["topic"] = knowledge_topic("chemistry")
    with pytest.raises(SignatureMismatchError):
        validator().validate(doc, topic=knowledge_topic("chemistry"))
    del doc["topic"]
    doc["receiver"] = {"agent_id": "bob", "fingerprint": BOB.fingerprint}
    with pytest.raises(SignatureMismatchError):
        validator().validate(doc)


def test_exactly_one_of_receiver_and_topic() -> None:
    doc = json.loads(build(fact()))
    both = dict(doc, receiver={"agent_id": "bob", "fingerprint": BOB.fingerprint})
    neither = {k: v for k, v in doc.items() if k != "topic"}
    for bad in (both, neither):
        with pytest.raises(InvalidEnvelopeError, match="exactly one"):
            validator().validate(bad, topic=PHYSICS)


def test_which_type_belongs_on_which_topic() -> None:
    class Env(msgspec.Struct):
        type: str
        payload: Any

    assert topic_check(Env("FACT_PROPOSE", fact()), PHYSICS) is None
    assert topic_check(Env("FACT_PROPOSE", fact("chemistry")), PHYSICS) is not None
    assert topic_check(Env("FACT_CONFIRM", None), knowledge_topic("any")) is None
    assert topic_check(Env("FACT_CONFIRM", None), DECISIONS_TOPIC) is not None
    assert topic_check(Env("DECISION_SHARE", None), DECISIONS_TOPIC) is None
    assert topic_check(Env("INTENT", None), PHYSICS) is not None
    with pytest.raises(MessageBuildError):  # point to point types are never topic-bound
        build(Intent(goal="ask", topic="x"))
    with pytest.raises(MessageBuildError):  # a proposal on another domain's topic
        build(fact("chemistry"))
    with pytest.raises(MessageBuildError):  # both bindings
        build(fact(), to=BOB)
    vote = FactConfirm(fact_ref="12345678-1234-4234-8234-123456789abc", decision="confirm",
                       confidence=0.9, claim_hash="a" * 64)  # fmt: skip
    assert validator().validate(build(vote), topic=PHYSICS).type == "FACT_CONFIRM"


def test_a_topic_bound_envelope_is_accepted_once() -> None:
    v, data = validator(), build(fact())
    v.validate(data, topic=PHYSICS)
    respelled = data.replace(b",", b" ,", 1)  # another gossip id, the same signed content
    with pytest.raises(ReplayError):
        v.validate(respelled, topic=PHYSICS)


@pytest.mark.parametrize(
    ("outcome", "error", "verdict"),
    [
        ("routed", None, GossipVerdict.ACCEPT),
        ("rejected", SignatureMismatchError("x"), GossipVerdict.REJECT),
        ("rejected", ReplayError("x"), GossipVerdict.REJECT),
        ("rejected", TopicMismatchError("x"), GossipVerdict.REJECT),
        ("rejected", TrustViolationError("x"), GossipVerdict.IGNORE),
        ("handler_error", QuotaError("x"), GossipVerdict.IGNORE),
        ("handler_error", StoreError("x"), GossipVerdict.IGNORE),
        ("unknown", None, GossipVerdict.REJECT),
        ("throttled", None, GossipVerdict.IGNORE),
    ],
)
def test_verdicts(outcome: str, error: Exception | None, verdict: GossipVerdict) -> None:
    assert verdict_of(RouteResult(outcome, "cip", "FACT_PROPOSE", error)) is verdict

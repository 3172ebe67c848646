"""UUIDs as the original's ``format: uuid`` (issue 16): any version, any case, compared
and remembered in lower case (the same msg_id in upper case is a replay); the signature
covers the text as sent."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import DmpTrace, Fact, FactConfirm, FactPropose, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope import sign_envelope
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver, Validator
from web4.errors import InvalidEnvelopeError, PayloadSchemaError, ReplayError
from web4.identity import Identity

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")
V1 = "C232AB00-9414-11EC-B3C8-9F6BDECED846"  # a time-based (v1) UUID, upper case
V7 = "017F22E2-79B0-7CC3-98C4-DC0C0C07398F"
NIL = "00000000-0000-0000-0000-000000000000"


def validator(clock: FakeClock) -> Validator[Any]:
    return cip_validator(
        BOB.fingerprint,
        clock=clock,
        trust_of=lambda fp: "trusted",
        replay=ReplayCache(window=120.0, capacity=100),
    )


def built(clock: FakeClock, payload: Any) -> dict[str, Any]:
    return CipBuilder(ALICE, clock=clock, rng=SeededRng(8)).build(
        payload,
        receiver=Receiver(BOB.agent_id, BOB.fingerprint),
        sender_view="trusted",
        state=SenderState(presence="focused", lri=10),
    )


def with_(env: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {k: copy.deepcopy(v) for k, v in env.items() if k != "sign"}
    body.update(changes)
    return sign_envelope(body, ALICE)


def proposal(decision_id: str = "0b9d6f8e-2a3c-4d5e-8f90-1a2b3c4d5e6f") -> FactPropose:
    return FactPropose(
        fact=Fact(statement="tea steeps in 3 min", domain="kitchen", confidence=0.8),
        dmp_trace=DmpTrace(decision_id=decision_id, steps=["timed"]),
    )


@pytest.mark.parametrize("msg_id", [V1, V7, NIL, V1.lower()])
def test_any_version_and_case_is_accepted_and_lowered(msg_id: str) -> None:
    clock = FakeClock()
    env = with_(built(clock, proposal()), msg_id=msg_id)
    assert validator(clock).validate(env).msg_id == msg_id.lower()


def test_the_same_msg_id_in_upper_case_is_a_replay() -> None:
    clock = FakeClock()
    v = validator(clock)
    env = built(clock, proposal())
    v.validate(env)
    upper = with_(env, msg_id=env["msg_id"].upper())
    with pytest.raises(ReplayError):
        v.validate(upper)
    # and the other way round
    v2 = validator(clock)
    v2.validate(upper)
    with pytest.raises(ReplayError):
        v2.validate(env)


@pytest.mark.parametrize(
    "bad", ["c232ab00941411ecb3c89f6bdeced846", "{c232ab00-9414-11ec-b3c8-9f6bdeced846}", "x" * 36]
)
def test_not_a_uuid_is_refused(bad: str) -> None:
    clock = FakeClock()
    with pytest.raises(InvalidEnvelopeError):
        validator(clock).validate(with_(built(clock, proposal()), msg_id=bad))


def test_fact_ref_in_any_case_names_the_claim_in_lower_case() -> None:
    clock = FakeClock()
    vote = FactConfirm(fact_ref=V1.lower(), claim_hash="ab" * 32, decision="confirm", confidence=1)
    env = built(clock, vote)
    env = with_(env, payload={**env["payload"], "fact_ref": V1})
    assert validator(clock).validate(env).payload.fact_ref == V1.lower()
    bad = with_(env, payload={**env["payload"], "fact_ref": "not-a-uuid"})
    with pytest.raises(PayloadSchemaError):
        validator(clock).validate(bad)


def test_decision_id_in_any_version_and_case() -> None:
    clock = FakeClock()
    env = built(clock, proposal())
    trace = {**env["payload"]["dmp_trace"], "decision_id": V7}
    env = with_(env, payload={**env["payload"], "dmp_trace": trace})
    assert validator(clock).validate(env).payload.dmp_trace.decision_id == V7

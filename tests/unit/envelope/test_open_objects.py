"""Open objects (issue 16): unknown members are accepted and ignored where the original
specifications leave objects open, stay covered by the signature, and are refused only
inside ``sign`` (not covered by the signature) and as a second protocol member."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import DmpTrace, Fact, FactPropose, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope import canonicalize, sign_envelope
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver, Validator
from web4.errors import InvalidEnvelopeError, SignatureMismatchError
from web4.identity import Identity

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")


def validator(clock: FakeClock) -> Validator[Any]:
    return cip_validator(
        BOB.fingerprint,
        clock=clock,
        trust_of=lambda fp: "probing",
        replay=ReplayCache(window=120.0, capacity=100),
    )


def proposal(clock: FakeClock) -> dict[str, Any]:
    payload = FactPropose(
        fact=Fact(statement="water boils at 100 C", domain="physics", confidence=0.9),
        dmp_trace=DmpTrace(decision_id="0b9d6f8e-2a3c-4d5e-8f90-1a2b3c4d5e6f", steps=["read"]),
    )
    return CipBuilder(ALICE, clock=clock, rng=SeededRng(3)).build(
        payload,
        receiver=Receiver(BOB.agent_id, BOB.fingerprint),
        sender_view="probing",
        state=SenderState(presence="focused", lri=10),
    )


def resign(env: dict[str, Any]) -> dict[str, Any]:
    return sign_envelope({k: v for k, v in env.items() if k != "sign"}, ALICE)


# Every object the original leaves open, reached by a path from the envelope.
OPEN = [
    (),
    ("sender",),
    ("receiver",),
    ("trust",),
    ("state",),
    ("payload",),
    ("payload", "fact"),
    ("payload", "dmp_trace"),
]


@pytest.mark.parametrize("path", OPEN, ids=lambda p: ".".join(p) or "envelope")
def test_unknown_member_is_accepted_and_ignored(path: tuple[str, ...]) -> None:
    clock = FakeClock()
    plain = proposal(clock)
    env = copy.deepcopy(plain)
    target = env
    for key in path:
        target = target[key]
    target["x_future"] = {"nested": ["ok", 1, None]}
    env = resign(env)
    got = validator(clock).validate(canonicalize(env))
    # ignored: the typed envelope is the one without the member (bar the signature)
    want = validator(clock).validate(plain)
    assert got.payload == want.payload
    assert got.sender == want.sender
    assert got.state == want.state
    assert got.trust == want.trust


@pytest.mark.parametrize("path", OPEN, ids=lambda p: ".".join(p) or "envelope")
def test_unknown_member_is_covered_by_the_signature(path: tuple[str, ...]) -> None:
    clock = FakeClock()
    env = proposal(clock)
    target = env
    for key in path:
        target = target[key]
    target["x_future"] = 1  # added after signing
    with pytest.raises(SignatureMismatchError):
        validator(clock).validate(json.dumps(env).encode())


def test_unknown_member_in_sign_is_refused() -> None:
    # `sign` is outside the signed bytes: a member there would travel unauthenticated.
    clock = FakeClock()
    env = proposal(clock)
    env["sign"]["key_hint"] = "anything"
    with pytest.raises(InvalidEnvelopeError, match="key_hint"):
        validator(clock).validate(env)
    del env["sign"]["key_hint"]
    assert validator(clock).validate(env).type == "FACT_PROPOSE"


@pytest.mark.parametrize("other", ["hcp", "lip"])
def test_a_second_protocol_member_is_refused(other: str) -> None:
    clock = FakeClock()
    env = proposal(clock)
    env[other] = "1.0"
    with pytest.raises(InvalidEnvelopeError, match="one protocol per envelope"):
        validator(clock).validate(resign(env))

"""Strict in what we send (issue 16): no envelope this node builds carries ``null``
anywhere (the original schemas type those members as strings; absent means none): a
first HELLO has no ``challenge_response`` member (our addition, absent from the original),
and a STATE_UPDATE without an intent carries ``payload.intent: ""`` (the original's
example always has the member). The golden transcripts show it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import Hello, SenderState, StateUpdate
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope.validate import Receiver
from web4.hcp.builder import build_hcp
from web4.hcp.messages import HcpContext, HumanState
from web4.identity import Identity

ALICE = Identity(SeededRng(41).bytes(32), "alice")
BOB = Identity(SeededRng(42).bytes(32), "bob")
GOLDEN = Path(__file__).parent / "golden"


def nulls(value: Any, path: str = "$") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return []


def cip(payload: msgspec.Struct) -> dict[str, Any]:
    return CipBuilder(ALICE, clock=FakeClock(), rng=SeededRng(1)).build(
        payload,
        receiver=Receiver(BOB.agent_id, BOB.fingerprint),
        sender_view="untrusted",
        state=SenderState(presence="focused", lri=3),
    )


FIRST_HELLO = Hello(
    protocols=["cip/1.0"],
    capabilities=["state_exchange"],
    session_nonce="AAAAAAAAAAAAAAAAAAAAAA==",
    challenge="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
)


def test_first_hello_has_no_challenge_response_member() -> None:
    assert FIRST_HELLO.challenge_response is None  # our type's default ...
    env = cip(FIRST_HELLO)
    assert "challenge_response" not in env["payload"]  # ... is left out, not sent as null
    assert nulls(env) == []
    validator = cip_validator(BOB.fingerprint, clock=FakeClock(), trust_of=lambda _: "untrusted")
    assert validator.validate(env).payload == FIRST_HELLO


def test_state_update_without_intent_sends_an_empty_string() -> None:
    env = cip(StateUpdate(presence="focused", lri=3, ltppeerstate="probing"))
    assert env["payload"]["intent"] == ""
    assert nulls(env) == []
    validator = cip_validator(BOB.fingerprint, clock=FakeClock(), trust_of=lambda _: "probing")
    assert validator.validate(env).payload.intent == ""
    env = cip(StateUpdate(presence="focused", lri=3, ltppeerstate="probing", intent="accept:x"))
    assert env["payload"]["intent"] == "accept:x"


def test_hcp_envelopes_carry_no_null() -> None:
    env = build_hcp(
        ALICE,
        receiver_id=BOB.agent_id,
        receiver_fingerprint=BOB.fingerprint,
        payload=HcpContext(context="hi", constraints=["agent:reply"], shared_history=[]),
        human=HumanState("focused", "calm", 70, 20, "plan", "granted"),
        clock=FakeClock(),
        rng=SeededRng(3),
    )
    assert nulls(env) == []


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.txt")))
def test_golden_transcripts_carry_no_null_anywhere(name: str) -> None:
    lines = (GOLDEN / name).read_text(encoding="utf-8").splitlines()
    envelopes = [json.loads(line.split(" ", 1)[1]) for line in lines]
    assert envelopes
    for env in envelopes:
        assert nulls(env) == [], env["type"]
    assert "challenge_response" not in envelopes[0]["payload"]  # the first HELLO
    for env in envelopes:
        if env["type"] == "STATE_UPDATE":
            assert isinstance(env["payload"]["intent"], str)

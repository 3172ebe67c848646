"""Outbound ``state.intent``: never ``null``. The original CIP schema types
``state.intent`` as a string, so an envelope without an intent leaves the member out
(our own types default it to ``None``: the omission is accepted as "no intent"). Every
builder that carries ``state`` (CIP, LIP) goes through ``web4.envelope.build``
(docs/CIP_SPEC.md §1, §10 D11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope.validate import Receiver
from web4.identity import Identity
from web4.lip.builder import build_lip
from web4.lip.messages import LipFetch, Source

ALICE = Identity(SeededRng(41).bytes(32), "alice")
BOB = Identity(SeededRng(42).bytes(32), "bob")
GOLDEN = Path(__file__).parent / "golden"


def cip(state: SenderState) -> dict:
    builder = CipBuilder(ALICE, clock=FakeClock(), rng=SeededRng(1))
    return builder.build(
        Intent(goal="learn", topic="physics"),
        receiver=Receiver(agent_id=BOB.agent_id, fingerprint=BOB.fingerprint),
        sender_view="probing",
        state=state,
    )


def test_no_intent_is_omitted_and_our_validator_accepts_it() -> None:
    env = cip(SenderState(presence="focused", lri=3))
    assert "intent" not in env["state"]
    validator = cip_validator(BOB.fingerprint, clock=FakeClock(), trust_of=lambda _: "trusted")
    assert validator.validate(env).state.intent is None


def test_an_intent_is_sent_as_a_string() -> None:
    env = cip(SenderState(presence="focused", lri=3, intent="accept:x"))
    assert env["state"]["intent"] == "accept:x"


def test_lip_state_has_no_null_intent() -> None:
    env = build_lip(
        ALICE,
        receiver_id=BOB.agent_id,
        receiver_fingerprint=BOB.fingerprint,
        payload=LipFetch(query="https://example.org/"),
        source=Source(
            uri="https://example.org/", trust_tier="low", retrieved_at="2026-01-01T00:00:00.000Z"
        ),
        clock=FakeClock(),
        rng=SeededRng(2),
    )
    assert "intent" not in env["state"]


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.txt")))
def test_golden_transcripts_never_send_a_null_state_intent(name: str) -> None:
    envelopes = [
        json.loads(line.split(" ", 1)[1])
        for line in (GOLDEN / name).read_text(encoding="utf-8").splitlines()
    ]
    assert envelopes
    for env in envelopes:
        assert env["state"].get("intent", "") is not None, env["msg_id"]

"""CIP/HCP/LIP envelopes in the original specifications' shapes (issue 16): CIP without
``trust``/``state`` (or with any of their members left out), HCP without ``trust`` (its
``state.human`` stays required), and ``causal_links`` as the original's strings, handled
by the knowledge layer. Omitted blocks change nothing in the signed bytes: verification
runs over the envelope as received."""

from __future__ import annotations

import json
from typing import Any

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.claims import claim_hash
from web4.cip.messages import DmpTrace, Fact, FactPropose, Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng, rfc3339
from web4.envelope import sign_envelope
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver, Validator
from web4.errors import InvalidEnvelopeError, PayloadSchemaError
from web4.hcp.messages import HCP_SPEC
from web4.identity import Identity
from web4.knowledge.model import CausalLink

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")


def validator(clock: FakeClock) -> Validator[Any]:
    return cip_validator(
        BOB.fingerprint,
        clock=clock,
        trust_of=lambda fp: "probing",
        replay=ReplayCache(window=120.0, capacity=100),
    )


def built(clock: FakeClock, payload: Any) -> dict[str, Any]:
    return CipBuilder(ALICE, clock=clock, rng=SeededRng(4)).build(
        payload,
        receiver=Receiver(BOB.agent_id, BOB.fingerprint),
        sender_view="probing",
        state=SenderState(presence="overloaded", lri=90),
    )


def resigned(env: dict[str, Any]) -> dict[str, Any]:
    return sign_envelope({k: v for k, v in env.items() if k != "sign"}, ALICE)


@pytest.mark.parametrize(
    "drop",
    [("trust",), ("state",), ("trust", "state")],
    ids=lambda d: "+".join(d),
)
def test_cip_without_trust_or_state(drop: tuple[str, ...]) -> None:
    clock = FakeClock()
    env = built(clock, Intent(goal="ask", topic="tea"))
    for key in drop:
        del env[key]
    data = json.dumps(resigned(env)).encode()
    msg = validator(clock).validate(data)
    assert (msg.trust is None) == ("trust" in drop)
    assert (msg.state is None) == ("state" in drop)
    # the typed envelope has no default blocks filled in that the sender did not sign
    if "state" in drop:
        assert msg.state is None


def test_every_member_of_trust_and_state_is_optional() -> None:
    clock = FakeClock()
    env = built(clock, Intent(goal="ask", topic="tea"))
    env["trust"] = {}
    env["state"] = {"kernel_signals": ["x"]}
    msg = validator(clock).validate(resigned(env))
    assert msg.trust is not None
    assert msg.trust.sender_view is None
    assert msg.state is not None
    assert msg.state.presence is None
    assert msg.state.lri is None
    env["state"] = {"lri": 101}  # what is there is still checked
    with pytest.raises(InvalidEnvelopeError):
        validator(clock).validate(resigned(env))


def test_causal_links_are_strings_as_in_the_original() -> None:
    clock = FakeClock()
    links = ["fact:water/boiling", "7C9E6679-7425-40DE-944B-E07FC1F90AE7", "see DMP step 2"]
    payload = FactPropose(
        fact=Fact(statement="water boils at 100 C", domain="physics", confidence=0.9),
        dmp_trace=DmpTrace(decision_id="0b9d6f8e-2a3c-4d5e-8f90-1a2b3c4d5e6f", steps=["read"]),
        causal_links=links,
    )
    msg = validator(clock).validate(built(clock, payload))
    assert msg.payload.causal_links == links
    # the knowledge layer takes them as `relates_to` links (what the desk calls)
    assert [link.target for link in CausalLink.parse_all(list(msg.payload.causal_links))] == links
    for bad in ([""], ["x" * 129], [1], ["a"] * 65):
        env = built(clock, payload)
        env["payload"]["causal_links"] = bad
        with pytest.raises(PayloadSchemaError):
            validator(clock).validate(resigned(env))


def hcp_envelope(clock: FakeClock, **blocks: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "hcp": "1.0",
        "msg_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "type": "HCP_INTENT",
        "timestamp": rfc3339(clock.now()),
        "sender": {
            "agent_id": "human:ann",
            "fingerprint": ALICE.fingerprint,
            "pubkey": ALICE.public_key_b64,
        },
        "receiver": {"agent_id": BOB.agent_id, "fingerprint": BOB.fingerprint},
        "payload": {"goal": "align", "topic": "plan", "priority": "normal"},
        **blocks,
    }
    return sign_envelope(env, ALICE)


HUMAN = {
    "presence": "focused",
    "affect": "calm",
    "clarity": 80,
    "pressure": 20,
    "intent": "plan",
    "consent": "granted",
}


def hcp_validator(clock: FakeClock) -> Validator[Any]:
    return Validator(
        HCP_SPEC,
        our_fingerprint=BOB.fingerprint,
        clock=clock,
        replay=ReplayCache(),
        trust_gate=lambda f, t: None,
    )


def test_hcp_without_trust_is_accepted_but_state_human_is_required() -> None:
    clock = FakeClock()
    msg = hcp_validator(clock).validate(hcp_envelope(clock, state={"human": HUMAN}))
    assert msg.trust is None
    assert msg.state.human.clarity == 80
    with pytest.raises(InvalidEnvelopeError, match="state"):
        hcp_validator(clock).validate(hcp_envelope(clock))
    partial = {k: v for k, v in HUMAN.items() if k != "consent"}
    with pytest.raises(InvalidEnvelopeError, match="consent"):
        hcp_validator(clock).validate(hcp_envelope(clock, state={"human": partial}))


def test_unknown_members_are_not_part_of_the_claim_hash() -> None:
    body = {
        "fact": {"statement": "x", "domain": "d", "confidence": 1},
        "dmp_trace": {"decision_id": "12345678-1234-4234-8234-123456789abc", "steps": ["a"]},
    }
    extra = {
        **body,
        "x_note": "ignored",
        "fact": {**body["fact"], "x_unit": "C"},
    }
    # the CIP_SPEC §3 vector holds with and without members this node does not know
    want = "175cc76d88eda22d69cf09968d2bbc31ca6eab9fb6cc028e92c2129a7885cf8b"
    assert claim_hash("a" * 64, body) == claim_hash("a" * 64, extra) == want

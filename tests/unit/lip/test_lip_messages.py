"""LIP messages through the generic validator; schemas are up to date."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from web4.clock import FakeClock, rfc3339
from web4.envelope import sign_envelope
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.errors import InvalidEnvelopeError, PayloadSchemaError
from web4.identity import Identity
from web4.lip.extract import claim_id
from web4.lip.messages import (
    LIP_SPEC,
    Claim,
    ClaimConflict,
    Evidence,
    LipAccept,
    LipConflict,
    LipEvidence,
    LipFetch,
    LipReject,
    json_schemas,
)

SCHEMAS = Path(__file__).parents[3] / "docs" / "schemas" / "lip"
CID = claim_id("Water boils at 100 degrees Celsius at sea level.")
EVIDENCE = Evidence(
    uri="http://example.org/a",
    final_uri="http://example.org/b",
    retrieved_at="2023-11-14T22:13:20.000Z",
    sha256="0" * 64,
    content_type="text/html",
    size=10,
)
PAYLOADS: list[msgspec.Struct] = [
    LipFetch(query="https://example.org/water", constraints=["no_personal_data", "domain:science"]),
    LipEvidence(
        claims=[Claim(CID, "Water boils at 100 C.", "p[1]")], evidence=EVIDENCE, confidence=0.7
    ),
    LipConflict(
        conflicts=[ClaimConflict(CID, "fact-9", "says 90 C")],
        local_refs=["fact-9"],
        severity="high",
    ),
    LipAccept(decision="accept", claim_ids=[CID], reason="tier medium", corroborators=["agent-b"]),
    LipReject(decision="reject", claim_ids=[CID], reason="blocked source"),
]
TYPES = ["LIP_FETCH", "LIP_EVIDENCE", "LIP_CONFLICT", "LIP_ACCEPT", "LIP_REJECT"]


def envelope(
    sender: Identity, receiver: Identity, clock: FakeClock, t: str, payload: Any
) -> dict[str, Any]:
    env = {
        "lip": "1.0",
        "msg_id": "0b7c5d1e-8f3a-4a2b-9c1d-2e3f4a5b6c7d",
        "type": t,
        "timestamp": rfc3339(clock.now()),
        "sender": {
            "agent_id": sender.agent_id,
            "fingerprint": sender.fingerprint,
            "capabilities": ["lip/1.0"],
            "pubkey": sender.public_key_b64,
        },
        "receiver": {"agent_id": receiver.agent_id, "fingerprint": receiver.fingerprint},
        "trust": {"sender_view": "trusted", "receiver_view": "trusted"},
        "state": {"presence": "engaged", "lri": 10},
        "source": {
            "uri": "http://example.org/a",
            "trust_tier": "medium",
            "retrieved_at": rfc3339(clock.now()),
        },
        "payload": msgspec.to_builtins(payload) if isinstance(payload, msgspec.Struct) else payload,
    }
    return sign_envelope(env, sender)


@pytest.fixture
def ctx():
    a, b, clock = Identity(bytes(32), "a"), Identity(bytes([7]) * 32, "b"), FakeClock()
    v = Validator(
        LIP_SPEC,
        our_fingerprint=b.fingerprint,
        clock=clock,
        replay=ReplayCache(),
        trust_gate=lambda f, t: None,
    )
    return a, b, clock, v


@pytest.mark.parametrize(
    ("msg_type", "payload"), list(zip(TYPES, PAYLOADS, strict=True)), ids=TYPES
)
def test_round_trip(ctx, msg_type, payload) -> None:
    a, b, clock, v = ctx
    env = v.validate(json.dumps(envelope(a, b, clock, msg_type, payload)).encode())
    assert env.payload == payload
    assert env.source.trust_tier == "medium"


@pytest.mark.parametrize(
    ("msg_type", "mutate", "error"),
    [
        ("LIP_FETCH", lambda e: e["source"].update(trust_tier="excellent"), InvalidEnvelopeError),
        ("LIP_FETCH", lambda e: e["source"].update(uri="file:///etc/passwd"), InvalidEnvelopeError),
        ("LIP_FETCH", lambda e: e["source"].pop("retrieved_at"), InvalidEnvelopeError),
        ("LIP_FETCH", lambda e: e.update(lip="2.0"), InvalidEnvelopeError),
        ("LIP_FETCH", lambda e: e["payload"].update(query="x" * 2049), PayloadSchemaError),
        ("LIP_EVIDENCE", lambda e: e["payload"].update(confidence=1.5), PayloadSchemaError),
        ("LIP_EVIDENCE", lambda e: e["payload"]["evidence"].pop("sha256"), PayloadSchemaError),
        ("LIP_CONFLICT", lambda e: e["payload"].update(severity="extreme"), PayloadSchemaError),
        ("LIP_CONFLICT", lambda e: e["payload"].update(conflicts=[5]), PayloadSchemaError),
        ("LIP_ACCEPT", lambda e: e["payload"].update(decision="reject"), PayloadSchemaError),
        ("LIP_REJECT", lambda e: e["payload"].update(claim_ids=["abc"]), PayloadSchemaError),
    ],
)
def test_bad_input(ctx, msg_type, mutate, error) -> None:
    a, b, clock, v = ctx
    env = envelope(a, b, clock, msg_type, PAYLOADS[TYPES.index(msg_type)])
    env = json.loads(json.dumps(env))
    env.pop("sign")
    mutate(env)
    with pytest.raises(error):
        v.validate(sign_envelope(env, a))


def test_published_schemas_are_current() -> None:
    expected = json_schemas()
    assert {p.name for p in SCHEMAS.glob("*.json")} == set(expected), (
        "regenerate: python -m web4.lip.messages docs/schemas/lip"
    )
    for name, schema in expected.items():
        text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        assert (SCHEMAS / name).read_text(encoding="utf-8") == text, f"{name} is stale"

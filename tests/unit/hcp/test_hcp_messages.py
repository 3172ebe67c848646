"""HCP messages through the generic validator; schemas are up to date."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from web4.clock import FakeClock, SeededRng
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.errors import (
    ConfigError,
    InvalidEnvelopeError,
    MessageBuildError,
    PayloadSchemaError,
    SignatureMismatchError,
)
from web4.hcp.builder import build_hcp
from web4.hcp.messages import (
    HCP_SPEC,
    HcpContext,
    HcpDecision,
    HcpFeedback,
    HcpHello,
    HcpIntent,
    HcpStateUpdate,
    HumanIdentity,
    HumanState,
    Payload,
    check_semantics,
    decode_payload,
    json_schemas,
)
from web4.identity import Identity

SCHEMAS = Path(__file__).parents[3] / "docs" / "schemas" / "hcp"
HUMAN = HumanState(
    presence="focused", affect="calm", clarity=70, pressure=40, intent="plan", consent="granted"
)
PAYLOADS: list[Payload] = [
    HcpHello(HumanIdentity("Ada", "engineer"), ["topic:work"], ["slow_pacing"]),
    HcpIntent(goal="decide", topic="work/release", priority="high"),
    HcpContext(context="release on friday", constraints=["no overtime"], shared_history=[]),
    HcpDecision(decision="ship", rationale="green", alternatives=["wait"], follow_up="check"),
    HcpFeedback(feedback="good", corrections=[], satisfaction=90),
    HcpStateUpdate(presence="focused", affect="calm", clarity=70, pressure=40, consent="granted"),
]


@pytest.fixture
def pair() -> tuple[Identity, Identity, FakeClock, Validator[Any]]:
    human = Identity(bytes(range(32)), "ada")
    agent = Identity(bytes(range(1, 33)), "agent-a")
    clock = FakeClock()
    validator = Validator(
        HCP_SPEC,
        our_fingerprint=agent.fingerprint,
        clock=clock,
        replay=ReplayCache(),
        trust_gate=lambda fp, t: None,
    )
    return human, agent, clock, validator


def build(human: Identity, agent: Identity, clock: FakeClock, payload: Payload) -> dict[str, Any]:
    return build_hcp(
        human,
        receiver_id=agent.agent_id,
        receiver_fingerprint=agent.fingerprint,
        payload=payload,
        human=HUMAN,
        clock=clock,
        rng=SeededRng(len(str(payload))),
    )


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_every_type_round_trips_through_the_validator(pair, payload: Payload) -> None:
    human, agent, clock, validator = pair
    env = validator.validate(json.dumps(build(human, agent, clock, payload)).encode())
    assert env.payload == payload
    assert env.state.human == HUMAN
    check_semantics(env)


@pytest.mark.parametrize(
    "bad",
    [
        {"decision": "ship", "rationale": "", "alternatives": ["wait"], "follow_up": ""},
        {"decision": "ship", "rationale": "green", "alternatives": [], "follow_up": ""},
        {"decision": "ship", "alternatives": ["wait"], "follow_up": ""},
        {"decision": "ship", "rationale": "green", "follow_up": ""},
    ],
)
def test_decision_without_rationale_or_alternatives_is_refused(pair, bad) -> None:
    human, agent, clock, validator = pair
    env = build(human, agent, clock, PAYLOADS[3])
    env["payload"] = bad
    env = build_signed(human, env)
    with pytest.raises(PayloadSchemaError):
        validator.validate(env)


def build_signed(identity: Identity, env: dict[str, Any]) -> dict[str, Any]:
    from web4.envelope import sign_envelope

    env = {k: v for k, v in env.items() if k != "sign"}
    return sign_envelope(env, identity)


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (("hcp",), "2.0", InvalidEnvelopeError),
        (("state", "human", "clarity"), 101, InvalidEnvelopeError),
        (("state", "human", "pressure"), -1, InvalidEnvelopeError),
        (("state", "human", "affect"), "furious", InvalidEnvelopeError),
        (("state", "human", "consent"), "maybe", InvalidEnvelopeError),
        (("type",), "HCP_UNKNOWN", InvalidEnvelopeError),
        (("payload", "consent_scope"), ["work"], PayloadSchemaError),
        (("payload", "safety_flags"), ["yolo"], PayloadSchemaError),
    ],
)
def test_bad_input_gets_a_typed_error(pair, path, value, error) -> None:
    human, agent, clock, validator = pair
    env = json.loads(json.dumps(build(human, agent, clock, PAYLOADS[0])))
    node = env
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(error):
        validator.validate(build_signed(human, env))


def test_tampered_human_state_breaks_the_signature(pair) -> None:
    human, agent, clock, validator = pair
    env = build(human, agent, clock, PAYLOADS[1])
    env["state"]["human"]["consent"] = "revoked"
    with pytest.raises(SignatureMismatchError):
        validator.validate(env)


def test_state_update_must_agree_with_state_human(pair) -> None:
    human, agent, clock, validator = pair
    upd = HcpStateUpdate(
        presence="focused", affect="tense", clarity=70, pressure=40, consent="granted"
    )
    with pytest.raises(MessageBuildError, match="disagrees"):
        build(human, agent, clock, upd)
    env = build(human, agent, clock, PAYLOADS[5])
    env["payload"]["affect"] = "tense"
    typed = validator.validate(build_signed(human, env))
    with pytest.raises(PayloadSchemaError, match="disagrees"):
        check_semantics(typed)


def test_decode_payload_unknown_type() -> None:
    with pytest.raises(PayloadSchemaError):
        decode_payload("HCP_NOPE", {})
    with pytest.raises(PayloadSchemaError):
        decode_payload("HCP_INTENT", {"goal": "conquer", "topic": "x", "priority": "low"})


def test_published_schemas_are_current() -> None:
    expected = json_schemas()
    on_disk = {p.name for p in SCHEMAS.glob("*.json")}
    assert on_disk == set(expected), "regenerate: python -m web4.hcp.messages docs/schemas/hcp"
    for name, schema in expected.items():
        text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        assert (SCHEMAS / name).read_text(encoding="utf-8") == text, f"{name} is stale"


def test_messages_are_frozen() -> None:
    with pytest.raises(AttributeError):
        HUMAN.consent = "revoked"  # type: ignore[misc]
    assert msgspec.to_builtins(HUMAN)["consent"] == "granted"


@pytest.mark.parametrize(
    ("kind", "marker"),
    [("reply", "agent:reply"), ("question", "agent:question"), ("check_in", "agent:check-in")],
)
def test_agent_messages_carry_their_kind(kind: str, marker: str) -> None:
    from web4.hcp.builder import agent_kind_of, agent_payload

    p = agent_payload(kind, "How are you feeling about the deadline?")  # type: ignore[arg-type]
    assert isinstance(p, HcpContext)
    assert p.constraints == [marker]
    assert agent_kind_of(p) == kind


def test_agent_decision_payload() -> None:
    from web4.errors import DecisionError
    from web4.hcp.builder import agent_kind_of, agent_payload

    p = agent_payload("decision", "ship friday", rationale="green", alternatives=("monday",))
    assert isinstance(p, HcpDecision)
    assert agent_kind_of(p) == "decision"
    with pytest.raises(DecisionError):
        agent_payload("proposal", "ship friday")
    with pytest.raises(ConfigError):
        agent_payload("task", "fetch")
    assert agent_kind_of(HcpContext("x", [], [])) is None

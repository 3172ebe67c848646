"""The generic envelope validator, exercised with CIP: each check, its error, its order,
and that one bad peer never stops the validator serving others."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import msgspec
import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import (
    CIP_SPEC,
    DmpTrace,
    Fact,
    FactConfirm,
    FactPropose,
    Features,
    Hello,
    SenderState,
)
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope import canonicalize, sign_envelope
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Limits, ProtocolSpec, Receiver, Validator, parse_timestamp
from web4.errors import (
    ConfigError,
    FingerprintMismatchError,
    InvalidEnvelopeError,
    PayloadSchemaError,
    ReceiverMismatchError,
    ReplayError,
    SignatureMismatchError,
    TimestampError,
    TrustViolationError,
)
from web4.identity import Identity

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")
CAROL = Identity(bytes([3]) * 32, "carol")
STATE = SenderState(presence="focused", lri=20)


def hello(rng: SeededRng) -> Hello:
    import base64

    return Hello(
        protocols=["cip/1.0"],
        capabilities=["state_exchange"],
        session_nonce=base64.b64encode(rng.bytes(16)).decode(),
        challenge=base64.b64encode(rng.bytes(32)).decode(),
        features=Features(supports_mesh=True),
    )


def fact() -> FactPropose:
    return FactPropose(
        fact=Fact(statement="water boils at 100 C at 1 atm", domain="physics", confidence=0.9),
        dmp_trace=DmpTrace(decision_id="0b9d6f8e-2a3c-4d5e-8f90-1a2b3c4d5e6f", steps=["read"]),
    )


class Node:
    """BOB's validator, with a mutable trust table."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.trust: dict[str, str] = {}
        self.replay = ReplayCache(window=120.0, capacity=1000)
        self.validator = cip_validator(
            BOB.fingerprint,
            clock=self.clock,
            trust_of=lambda fp: self.trust.get(fp, "untrusted"),
            replay=self.replay,
        )


@pytest.fixture
def node() -> Node:
    return Node()


def build(
    sender: Identity, payload: msgspec.Struct, clock: FakeClock, seed: int = 7, to: Identity = BOB
) -> dict[str, Any]:
    rng = SeededRng(seed)
    builder = CipBuilder(sender, clock=clock, rng=rng)
    return builder.build(
        payload,
        receiver=Receiver(agent_id=to.agent_id, fingerprint=to.fingerprint),
        sender_view="untrusted",
        state=STATE,
    )


def test_valid_envelope_decodes_to_typed_message(node: Node) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    msg = node.validator.validate(env)
    assert isinstance(msg.payload, Hello)
    assert msg.sender.fingerprint == ALICE.fingerprint
    assert msg.type == "HELLO"
    # Bytes from the wire decode to the same message (fresh validator: no replay).
    assert Node().validator.validate(canonicalize(env)) == msg


# --- tampering: every field is covered by the signature ------------------------------


def _leaves(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _leaves(v, (*path, k))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _leaves(v, (*path, i))]
    return [path]


def _tampered(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return (value + 1) % 100
    if isinstance(value, float):
        return value / 2
    if value is None or value == "":
        return "x"
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):  # a fingerprint
        return value[:-1] + ("0" if value[-1] != "0" else "1")
    if value.endswith("="):  # base64: change one data character, keep the padding
        return ("B" if value[0] != "B" else "C") + value[1:]
    if value[0].isdigit() and "-" in value:  # uuid or timestamp: change a digit
        return ("1" if value[0] != "1" else "2") + value[1:]
    return {
        "focused": "engaged",
        "untrusted": "probing",
        "unknown": "trusted",
        "1.0": "1.1",
        "FACT_PROPOSE": "INTENT",
        "ed25519": "ed448",
    }.get(value, value + "x")


def test_tampering_any_field_is_refused(node: Node) -> None:
    env = build(ALICE, fact(), node.clock)
    node.trust[ALICE.fingerprint] = "probing"
    paths = [p for p in _leaves(env) if p[0] != "sign" or p[-1] == "signature"]
    assert len(paths) > 20
    for path in paths:
        bad = copy.deepcopy(env)
        target = bad
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = _tampered(target[path[-1]])
        with pytest.raises((InvalidEnvelopeError, SignatureMismatchError)) as info:
            node.validator.validate(bad)
        if path in {("sender", "fingerprint"), ("sender", "pubkey")}:
            assert info.type is FingerprintMismatchError
        elif path in {("cip",), ("sign", "algo")}:
            assert info.type is InvalidEnvelopeError
        elif path == ("type",):
            assert info.type is PayloadSchemaError  # a FACT_PROPOSE payload is no INTENT
        else:
            assert info.type is SignatureMismatchError, path
    # After all that, the original still passes: nothing was recorded for bad input.
    assert node.validator.validate(env).type == "FACT_PROPOSE"


def _resigned(env: dict[str, Any], sender: Identity = ALICE) -> dict[str, Any]:
    unsigned = {k: v for k, v in env.items() if k != "sign"}
    return sign_envelope(unsigned, sender)


def test_added_members_are_ignored_and_required_ones_missing_are_refused(node: Node) -> None:
    # Open objects (issue 16): an unknown member, signed, is accepted and ignored ...
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    extra = copy.deepcopy(env)
    extra["payload"]["extra"] = 1
    extra["note"] = "hi"
    extra["sender"]["x"] = {"y": [1]}
    assert node.validator.validate(_resigned(extra)).type == "HELLO"
    # ... but still covered by the signature: added after signing, it breaks it.
    unsigned_extra = copy.deepcopy(env)
    unsigned_extra["payload"]["extra"] = 1
    with pytest.raises(SignatureMismatchError):
        Node().validator.validate(unsigned_extra)
    for key in ("msg_id", "sign", "receiver", "payload"):
        missing = copy.deepcopy(env)
        del missing[key]
        with pytest.raises(InvalidEnvelopeError):
            Node().validator.validate(missing if key == "sign" else _resigned(missing))


# --- each check its own error ------------------------------------------------------


def test_bad_payload_is_payload_schema_error(node: Node) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    env["payload"]["protocols"] = []
    with pytest.raises(PayloadSchemaError, match="protocols"):
        node.validator.validate(env)
    env = build(ALICE, fact(), node.clock)
    env["payload"]["fact"]["confidence"] = 1.5
    with pytest.raises(PayloadSchemaError):
        node.validator.validate(sign_envelope(env, ALICE))


def test_wrong_receiver(node: Node) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock, to=CAROL)
    with pytest.raises(ReceiverMismatchError):
        node.validator.validate(env)


@pytest.mark.parametrize("skew", [-121.0, 120.5, 3600.0])
def test_skewed_timestamp(node: Node, skew: float) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    node.clock.advance(-skew)
    with pytest.raises(TimestampError):
        node.validator.validate(env)


@pytest.mark.parametrize("skew", [-120.0, 0.0, 120.0])
def test_timestamp_inside_window(node: Node, skew: float) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    node.clock.advance(-skew)
    assert node.validator.validate(env).type == "HELLO"


def test_impossible_date_is_timestamp_error(node: Node) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    env["timestamp"] = "2023-02-30T10:00:00.000Z"
    with pytest.raises(TimestampError, match="real date"):
        node.validator.validate(sign_envelope(env, ALICE))
    with pytest.raises(TimestampError):
        parse_timestamp("2023-02-01 10:00:00Z")


def test_replayed_msg_id(node: Node) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    node.validator.validate(env)
    node.clock.advance(60)
    with pytest.raises(ReplayError):
        node.validator.validate(env)
    node.clock.advance(61)  # past the window the timestamp check refuses it instead
    with pytest.raises(TimestampError):
        node.validator.validate(env)


def test_trust_gate(node: Node) -> None:
    env = build(ALICE, fact(), node.clock, seed=1)
    with pytest.raises(TrustViolationError, match="untrusted"):
        node.validator.validate(env)
    node.trust[ALICE.fingerprint] = "probing"
    assert node.validator.validate(build(ALICE, fact(), node.clock, seed=2)).type
    node.trust[ALICE.fingerprint] = "blacklisted"
    with pytest.raises(TrustViolationError, match="blacklisted"):
        node.validator.validate(build(ALICE, hello(SeededRng(1)), node.clock, seed=3))
    node.trust[ALICE.fingerprint] = "trusted"
    confirm = FactConfirm(
        fact_ref=env["msg_id"], claim_hash="ab" * 32, decision="confirm", confidence=0.8
    )
    assert node.validator.validate(build(ALICE, confirm, node.clock, seed=4)).type


def test_order_of_checks(node: Node) -> None:
    """An envelope that breaks several rules gets the error of the earliest check."""
    env = build(ALICE, hello(SeededRng(1)), node.clock, to=CAROL)
    node.clock.advance(1000)  # also skewed
    env["payload"]["challenge"] = "x"  # also bad payload and bad signature
    with pytest.raises(PayloadSchemaError):
        node.validator.validate(env)
    env = build(ALICE, hello(SeededRng(1)), node.clock, to=CAROL)
    env["state"]["lri"] = 5
    with pytest.raises(SignatureMismatchError):
        node.validator.validate(env)
    with pytest.raises(ReceiverMismatchError):
        node.validator.validate(build(ALICE, hello(SeededRng(1)), node.clock, to=CAROL))


# --- limits ---------------------------------------------------------------------------


def test_oversize_envelope(node: Node) -> None:
    env = build(ALICE, fact(), node.clock)
    env["payload"]["fact"]["sources"] = ["s" * 4000] * 70
    data = json.dumps(env).encode()
    assert len(data) > 256 * 1024
    with pytest.raises(InvalidEnvelopeError, match="limit"):
        node.validator.validate(data)
    with pytest.raises(InvalidEnvelopeError, match="limit"):
        node.validator.validate(env)


@pytest.mark.parametrize("depth", [9, 50, 100_000])
def test_deeply_nested(node: Node, depth: int) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    nested: Any = 1
    for _ in range(min(depth, 500)):
        nested = [nested]
    env["payload"]["features"] = nested
    start = time.process_time()  # CPU time: the work done, not how loaded the machine is
    with pytest.raises(InvalidEnvelopeError, match="deeper"):
        node.validator.validate(env)
    data = b'{"cip":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(InvalidEnvelopeError, match="deeper"):
        node.validator.validate(data[: 256 * 1024])
    assert time.process_time() - start < 1.0


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b"\xff\xfe",
        b'{"cip": NaN}',
        b'{"cip": "1.0", "cip": "1.0"}',
        b'{"a": 1e999}',
        b'{"cip": "1.0"',
        b'"just a string"',
    ],
)
def test_malformed_bytes(node: Node, data: bytes) -> None:
    with pytest.raises(InvalidEnvelopeError):
        node.validator.validate(data)


def test_duplicate_key_deep_inside(node: Node) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    text = canonicalize(env).decode()
    dup = text.replace('"lri":20', '"lri":20,"lri":99')
    with pytest.raises(InvalidEnvelopeError, match="duplicate"):
        node.validator.validate(dup.encode())


def test_non_json_values_in_dict(node: Node) -> None:
    env = build(ALICE, hello(SeededRng(1)), node.clock)
    env["payload"]["features"] = {1: True}
    with pytest.raises(InvalidEnvelopeError, match="keys"):
        node.validator.validate(env)
    env["payload"]["features"] = {"supports_mesh": {1, 2}}
    with pytest.raises(InvalidEnvelopeError, match="set"):
        node.validator.validate(env)


def test_keeps_serving_other_peers_after_bad_input(node: Node) -> None:
    bad_inputs: list[Any] = [
        b"[" * 100_000,
        b"\x00" * 300_000,
        {**build(CAROL, hello(SeededRng(1)), node.clock), "sign": {"algo": "x"}},
        build(CAROL, hello(SeededRng(1)), node.clock, to=ALICE),
    ]
    for bad in bad_inputs:
        with pytest.raises(InvalidEnvelopeError.__mro__[1]):  # RemoteError
            node.validator.validate(bad)
    good = build(ALICE, hello(SeededRng(2)), node.clock, seed=11)
    assert node.validator.validate(good).sender.agent_id == "alice"
    assert len(node.replay) == 1


# --- the validator is generic -----------------------------------------------------------


class Ping(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    n: int


class ToyParty(msgspec.Struct, frozen=True):
    fingerprint: str
    pubkey: str = ""


class ToyEnvelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    toy: str
    msg_id: str
    type: str
    timestamp: str
    sender: ToyParty
    receiver: ToyParty
    payload: Any
    sign: dict[str, str]


def test_generic_over_protocols() -> None:
    clock = FakeClock()
    spec = ProtocolSpec(
        name="toy",
        envelope=ToyEnvelope,
        payloads={"PING": Ping},
        limits=Limits(max_bytes=2000, max_depth=4),
    )
    seen: list[tuple[str, str]] = []

    def gate(fp: str, t: str) -> str | None:
        seen.append((fp, t))
        return None

    v = Validator(
        spec, our_fingerprint=BOB.fingerprint, clock=clock, replay=ReplayCache(), trust_gate=gate
    )
    from web4.clock import rfc3339

    env = {
        "toy": "1",
        "msg_id": "m1",
        "type": "PING",
        "timestamp": rfc3339(clock.now()),
        "sender": {"fingerprint": ALICE.fingerprint, "pubkey": ALICE.public_key_b64},
        "receiver": {"fingerprint": BOB.fingerprint},
        "payload": {"n": 3},
    }
    msg = v.validate(sign_envelope(env, ALICE))
    assert msg.payload == Ping(n=3)
    assert seen == [(ALICE.fingerprint, "PING")]
    with pytest.raises(InvalidEnvelopeError, match="unknown message type"):
        v.validate(sign_envelope({**env, "type": "PONG", "msg_id": "m2"}, ALICE))
    with pytest.raises(ConfigError):
        Validator(
            spec, our_fingerprint="", clock=clock, replay=ReplayCache(window=10), trust_gate=gate
        )
    assert CIP_SPEC.limits.max_depth == 8

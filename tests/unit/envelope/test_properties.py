"""Property tests: the Rust hot path against independent Python implementations.

- canonicalize agrees with the `rfc8785` package on generated JSON values;
- signatures made by Rust verify with `cryptography`, and the other way round;
- changing any single field of a signed envelope makes verification fail.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from web4.clock import SeededRng
from web4.envelope import canonicalize, sign_envelope, verify_envelope, verify_signature
from web4.errors import SignatureMismatchError
from web4.identity import Identity

SAFE = 2**53 - 1
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_canonicalize_agrees_with_rfc8785_package(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=100, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=512))
def test_rust_and_cryptography_signatures_agree(seed: bytes, message: bytes) -> None:
    ours = Identity(seed)
    theirs = Ed25519PrivateKey.from_private_bytes(seed)
    their_pub = theirs.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert ours.public_key == their_pub
    # Rust-made signature verifies with cryptography (raises if not).
    Ed25519PublicKey.from_public_bytes(their_pub).verify(ours.sign(message), message)
    # cryptography-made signature verifies with Rust (Ed25519 is deterministic: equal too).
    their_sig = theirs.sign(message)
    assert verify_signature(ours.public_key, message, their_sig)
    assert their_sig == ours.sign(message)


def _envelope(sender: Identity, receiver: Identity) -> dict[str, Any]:
    return {
        "cip": "1.0",
        "msg_id": "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b",
        "type": "FACT_PROPOSE",
        "timestamp": "2026-11-26T09:00:00.000Z",
        "sender": {
            "agent_id": sender.agent_id,
            "fingerprint": sender.fingerprint,
            "capabilities": ["knowledge_exchange"],
            "pubkey": sender.public_key_b64,
        },
        "receiver": {"agent_id": receiver.agent_id, "fingerprint": receiver.fingerprint},
        "trust": {"sender_view": "probing", "receiver_view": "probing"},
        "state": {"presence": "focused", "lri": 10, "kernel_signals": [], "intent": "learn"},
        "payload": {
            "fact": {"statement": "water boils at 100 C", "confidence": 0.9, "sources": ["a"]},
            "causal_links": [],
        },
    }


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every leaf path of a JSON tree."""
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _paths(v, (*prefix, k))] or [prefix]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _paths(v, (*prefix, i))] or [prefix]
    return [prefix]


def _mutate(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x" if value else "x"
    if isinstance(value, list):
        return [*value, "extra"]
    if isinstance(value, dict):
        return {**value, "extra": 1}
    return "was-null"


ALICE = Identity(SeededRng(1).bytes(32), "alice")
BOB = Identity(SeededRng(2).bytes(32), "bob")
SIGNED = sign_envelope(_envelope(ALICE, BOB), ALICE)
FIELD_PATHS = [p for p in _paths(SIGNED) if p[:1] != ("sign",) or p == ("sign", "signature")]


def test_signed_envelope_verifies() -> None:
    verify_envelope(SIGNED)


@pytest.mark.parametrize("path", FIELD_PATHS, ids=lambda p: ".".join(map(str, p)))
def test_tampering_any_single_field_fails(path: tuple[Any, ...]) -> None:
    tampered = copy.deepcopy(SIGNED)
    node = tampered
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = _mutate(node[path[-1]])
    with pytest.raises(SignatureMismatchError):
        verify_envelope(tampered)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FIELD_PATHS), st.data())
def test_replacing_any_field_with_any_other_value_fails(path: tuple[Any, ...], data: Any) -> None:
    tampered = copy.deepcopy(SIGNED)
    node = tampered
    for key in path[:-1]:
        node = node[key]
    new = data.draw(json_values.filter(lambda v: v != node[path[-1]]))
    node[path[-1]] = new
    with pytest.raises((SignatureMismatchError, ValueError)):
        verify_envelope(tampered)


def test_adding_or_removing_a_top_level_field_fails() -> None:
    added = {**SIGNED, "extra": True}
    removed = {k: v for k, v in SIGNED.items() if k != "state"}
    for bad in (added, removed):
        with pytest.raises(SignatureMismatchError):
            verify_envelope(bad)


def test_signature_from_another_key_fails() -> None:
    forged = sign_envelope(_envelope(ALICE, BOB), BOB)
    with pytest.raises(SignatureMismatchError):
        verify_envelope(forged)
    assert base64.b64decode(forged["sign"]["signature"]) != base64.b64decode(
        SIGNED["sign"]["signature"]
    )

"""verify_envelope on malformed envelopes: each failure has its typed error."""

from __future__ import annotations

from typing import Any

import pytest

from web4.clock import SeededRng
from web4.envelope import sign_envelope, verify_envelope
from web4.errors import (
    CanonicalizationError,
    FingerprintMismatchError,
    InvalidEnvelopeError,
    RemoteError,
    SignatureMismatchError,
)
from web4.identity import Identity

ALICE = Identity(SeededRng(7).bytes(32), "alice")


def _signed() -> dict[str, Any]:
    env = {
        "cip": "1.0",
        "sender": {"fingerprint": ALICE.fingerprint, "pubkey": ALICE.public_key_b64},
        "payload": {"n": 1},
    }
    return sign_envelope(env, ALICE)


def test_round_trip_and_sign_replaces_existing_sign() -> None:
    env = _signed()
    verify_envelope(env)
    resigned = sign_envelope(env, ALICE)  # an old `sign` is not part of the signed bytes
    assert resigned["sign"] == env["sign"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.pop("sender"),
        lambda e: e.pop("sign"),
        lambda e: e.__setitem__("sender", "alice"),
        lambda e: e["sender"].pop("pubkey"),
        lambda e: e["sign"].__setitem__("signature", 12),
        lambda e: e["payload"].__setitem__("big", 2**60),
        lambda e: e["payload"].__setitem__("nan", float("nan")),
    ],
)
def test_structural_problems_are_invalid_envelope_errors(mutate: Any) -> None:
    env = _signed()
    mutate(env)
    with pytest.raises(InvalidEnvelopeError) as info:
        verify_envelope(env)
    assert isinstance(info.value, RemoteError)


def test_non_object_envelope_is_invalid() -> None:
    with pytest.raises(InvalidEnvelopeError):
        verify_envelope(["not", "an", "envelope"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda e: e["sign"].__setitem__("algo", "rsa"), "unsupported algorithm"),
        (lambda e: e["sign"].__setitem__("signature", "***"), "not base64"),
        (lambda e: e["sender"].__setitem__("pubkey", "AAAA"), "3 bytes"),
        (lambda e: e["sign"].__setitem__("signature", "AAAA"), "64 bytes"),
    ],
)
def test_bad_signature_fields(mutate: Any, needle: str) -> None:
    env = _signed()
    mutate(env)
    with pytest.raises(SignatureMismatchError, match=needle):
        verify_envelope(env)


def test_uppercase_fingerprint_is_a_mismatch() -> None:
    env = _signed()
    env["sender"]["fingerprint"] = ALICE.fingerprint.upper()
    with pytest.raises(FingerprintMismatchError):
        verify_envelope(env)


def test_signing_what_json_cannot_carry_is_a_local_error() -> None:
    with pytest.raises(CanonicalizationError):
        sign_envelope({"payload": float("inf")}, ALICE)

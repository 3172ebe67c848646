"""The challenge-response bytes (docs/CIP_SPEC.md section 6): the context's exact bytes
and the test vector, read from the spec text and checked against the code."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from web4.cip._proof import RESPONSE_CONTEXT, response_message, sign_response, verify_response
from web4.identity import Identity

SPEC = (Path(__file__).resolve().parents[3] / "docs" / "CIP_SPEC.md").read_text()
SIGNER = Identity(bytes([1]) * 32)
VERIFIER = Identity(bytes([2]) * 32)
CHALLENGE = bytes(range(32))
SIGNER_NONCE, VERIFIER_NONCE = b"\xaa" * 16, b"\xbb" * 16


def _code_blocks() -> list[str]:
    return re.findall(r"```\n(.*?)```", SPEC, flags=re.DOTALL)


def _hex_block(starting: str) -> bytes:
    [block] = [b for b in _code_blocks() if b.startswith(starting)]
    return bytes.fromhex("".join(block.split()))


def _after(label: str) -> str:
    match = re.search(re.escape(label) + r"\s*`([^`]+)`", SPEC)
    assert match is not None, label
    return match.group(1)


def test_the_context_is_the_ascii_text_then_one_zero_byte() -> None:
    assert RESPONSE_CONTEXT == b"web4/cip/1.0 hello challenge-response\x00"
    assert len(RESPONSE_CONTEXT) == 38
    assert _hex_block("77 65 62 34") == RESPONSE_CONTEXT  # the context's bytes in the spec
    assert "`web4/cip/1.0 hello\nchallenge-response`" in SPEC


def test_the_spec_vector() -> None:
    message = response_message(
        CHALLENGE, SIGNER.fingerprint, VERIFIER.fingerprint, SIGNER_NONCE, VERIFIER_NONCE
    )
    spec_message = _hex_block("776562342f")
    assert message == spec_message
    assert len(message) == 230
    assert hashlib.sha256(message).hexdigest() == _after("(SHA-256")
    assert SIGNER.public_key.hex() == _after("(public key")
    assert SIGNER.fingerprint in SPEC
    assert VERIFIER.fingerprint in SPEC
    response = sign_response(SIGNER, CHALLENGE, VERIFIER.fingerprint, SIGNER_NONCE, VERIFIER_NONCE)
    assert response == _after("`challenge_response` is")
    assert base64.b64decode(response) == SIGNER.sign(message)
    assert verify_response(
        SIGNER.public_key, response, CHALLENGE, SIGNER.fingerprint, VERIFIER.fingerprint,
        SIGNER_NONCE, VERIFIER_NONCE,
    )  # fmt: skip


def test_the_fields_are_in_the_spec_order_and_each_one_matters() -> None:
    args = (CHALLENGE, SIGNER.fingerprint, VERIFIER.fingerprint, SIGNER_NONCE, VERIFIER_NONCE)
    message = response_message(*args)
    assert message == (
        RESPONSE_CONTEXT + CHALLENGE + SIGNER.fingerprint.encode() + VERIFIER.fingerprint.encode()
        + SIGNER_NONCE + VERIFIER_NONCE
    )  # fmt: skip
    # a reflected response (signer and verifier swapped) is another message
    swapped = (CHALLENGE, VERIFIER.fingerprint, SIGNER.fingerprint, VERIFIER_NONCE, SIGNER_NONCE)
    assert response_message(*swapped) != message

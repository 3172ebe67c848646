"""The golden transcripts checked by a second, independent implementation: every line is
the RFC 8785 form of its envelope (``rfc8785``), every signature and challenge response
verifies with pyca/cryptography, and every envelope matches the published schema types."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import msgspec
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from web4.cip.messages import PAYLOADS, CipEnvelope

GOLDEN = Path(__file__).parent / "golden"
CONTEXT = b"web4/cip/1.0 hello challenge-response\x00"


def lines(name: str) -> list[tuple[str, dict]]:
    out = []
    for line in (GOLDEN / name).read_text(encoding="utf-8").splitlines():
        direction, text = line.split(" ", 1)
        out.append((direction, json.loads(text)))
    return out


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.txt")))
def test_transcript_independently_valid(name: str) -> None:
    hellos: dict[str, list[dict]] = {"A": [], "B": []}
    raw_lines = (GOLDEN / name).read_bytes().splitlines()
    for raw, (direction, env) in zip(raw_lines, lines(name), strict=True):
        sender = direction.split("->")[0]
        assert raw.split(b" ", 1)[1] == rfc8785.dumps(env)
        body = {k: v for k, v in env.items() if k != "sign"}
        pub = base64.b64decode(env["sender"]["pubkey"])
        assert hashlib.sha256(pub).hexdigest() == env["sender"]["fingerprint"]
        key = Ed25519PublicKey.from_public_bytes(pub)
        key.verify(base64.b64decode(env["sign"]["signature"]), rfc8785.dumps(body))
        head = msgspec.convert(env, CipEnvelope)
        msgspec.convert(head.payload, PAYLOADS[head.type])
        if env["type"] == "HELLO":
            hellos[sender].append(env)
    a, b = hellos["A"], hellos["B"]
    assert len(a) == 2
    assert len(b) == 1
    fp_a, fp_b = a[0]["sender"]["fingerprint"], b[0]["sender"]["fingerprint"]

    def check(signer: dict, verifier: dict) -> None:
        message = (
            CONTEXT
            + base64.b64decode(verifier["payload"]["challenge"])
            + signer["sender"]["fingerprint"].encode()
            + verifier["sender"]["fingerprint"].encode()
            + base64.b64decode(signer["payload"]["session_nonce"])
            + base64.b64decode(verifier["payload"]["session_nonce"])
        )
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(signer["sender"]["pubkey"]))
        key.verify(base64.b64decode(signer["payload"]["challenge_response"]), message)

    check(b[0], a[0])  # B answered A's challenge
    check(a[1], b[0])  # A answered B's challenge
    assert fp_a != fp_b
    # A first HELLO has no response yet: the member is left out, never null (issue 16).
    assert "challenge_response" not in a[0]["payload"]

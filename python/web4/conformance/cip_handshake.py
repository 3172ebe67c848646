"""CIP/1.0 handshake transcripts: the golden transcripts, published as JSON.

Theory of operation: ``tests/unit/cip/golden/*.txt`` are the byte-exact transcripts of
two handshake endpoints (A dials, B answers) on a fake link with virtual time, checked by
the handshake tests and by an independent implementation (``rfc8785``, pyca/cryptography).
Each line is ``A->B `` or ``B->A `` and the RFC 8785 text of one envelope. This module
turns them into one JSON document a reader in any language can load: the identities
(seeds), the start time, and per transcript the ordered steps (sender, receiver, type,
wire text). ``render_cip_handshakes(golden_dir)`` returns the file text.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from web4.identity import Identity

__all__ = ["FORMAT", "SCENARIOS", "render_cip_handshakes"]

FORMAT = "web4-conformance/cip-handshakes/1"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00.000Z, the first HELLO's timestamp

SCENARIOS = {
    "handshake_accept": (
        "Both peers focused (lri 25). HELLO A->B, HELLO B->A with B's challenge response "
        "and its own challenge, HELLO A->B with A's challenge response, then both "
        "STATE_UPDATEs, A's INTENT (verify_knowledge, 'boiling point') and B's "
        "STATE_UPDATE whose intent is `accept:<INTENT msg_id>`. Both peers end probing."
    ),
    "handshake_intent_deferred": (
        "As handshake_accept, but A reports itself overloaded (lri 95, kernel signal "
        "`overload`): B answers A's INTENT with `defer:<INTENT msg_id>`."
    ),
    "handshake_peer_overloaded": (
        "As handshake_accept, but B reports itself overloaded in its STATE_UPDATE: A "
        "does not send its INTENT; its last STATE_UPDATE carries `defer:<B's STATE_UPDATE "
        "msg_id>`."
    ),
}


def _identity(name: str) -> dict[str, str]:
    seed = hashlib.sha256(f"web4 golden {name}".encode()).digest()
    ident = Identity(seed, name)
    return {
        "seed_hex": seed.hex(),
        "seed_derivation": f'SHA-256 of the UTF-8 text "web4 golden {name}"',
        "agent_id": ident.agent_id,
        "public_key_base64": ident.public_key_b64,
        "fingerprint": ident.fingerprint,
    }


def _steps(text: str) -> list[dict[str, Any]]:
    steps = []
    for line in text.splitlines():
        direction, wire = line.split(" ", 1)
        sender, receiver = direction.split("->")
        env = json.loads(wire)
        steps.append(
            {
                "from": sender,
                "to": receiver,
                "type": env["type"],
                "timestamp": env["timestamp"],
                "wire": wire,
            }
        )
    return steps


def render_cip_handshakes(golden_dir: Path) -> str:
    """The text of ``docs/conformance/cip_handshakes.json`` from the golden transcripts
    in ``golden_dir``. Raises ``OSError`` if one cannot be read."""
    transcripts = {}
    for path in sorted(golden_dir.glob("*.txt")):
        name = path.stem
        transcripts[name] = {
            "description": SCENARIOS.get(name, ""),
            "golden_file": f"tests/unit/cip/golden/{path.name}",
            "steps": _steps(path.read_text(encoding="utf-8")),
        }
    doc = {
        "format": FORMAT,
        "description": (
            "Complete CIP/1.0 handshakes between A (the dialer) and B, in the order the "
            "envelopes were sent, byte for byte (`wire`: the RFC 8785 text, UTF-8). Every "
            "envelope verifies (docs/CIP_SPEC.md sections 1 and 5) at its receiver when the "
            "receiver's clock reads its timestamp; HELLO challenge responses are Ed25519 "
            "signatures over the message of docs/CIP_SPEC.md section 6. Nonces and "
            "challenges come from a seeded generator, so an implementation reproduces the "
            "bytes only with the same generator; what it must reproduce is the sequence of "
            "types and the content of each reply given the peer's messages."
        ),
        "generated_by": "python -m web4.conformance (web4/conformance/cip_handshake.py)",
        "spec": "docs/CIP_SPEC.md section 6",
        "start_time": T0,
        "identities": {name: _identity(name) for name in ("A", "B")},
        "transcripts": transcripts,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

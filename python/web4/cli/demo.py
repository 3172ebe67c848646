"""``web4 demo``: what the runtime can show today, end to end.

Theory of operation: two agents get real identities in temporary data directories; one
signs a CIP-shaped envelope, the other verifies it, then tampered, forged and replayed
variants are shown being refused with their typed errors. Later issues grow this into
the two-process demo over RTT.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from web4.clock import SystemClock, rfc3339
from web4.envelope import canonicalize, sign_envelope, verify_envelope
from web4.errors import SignatureMismatchError
from web4.identity import Identity

__all__ = ["add_parser", "run_demo"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the demo: two agents, signed envelopes, tampering refused",
        description="Create two agents in temporary data directories, sign a CIP HELLO "
        "from one to the other, verify it, and show tampered and forged copies refused.",
        epilog="Example: web4 demo --json",
    )
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.set_defaults(func=lambda a: run_demo(as_json=a.json))


def _emit(as_json: bool, kind: str, **attrs: Any) -> None:
    if as_json:
        print(json.dumps({"kind": kind, **attrs}, sort_keys=True))
    else:
        details = "  ".join(f"{k}={v}" for k, v in attrs.items())
        print(f"[{kind:<22}] {details}")
    sys.stdout.flush()


def _hello(sender: Identity, receiver: Identity, now: float) -> dict[str, Any]:
    return {
        "cip": "1.0",
        "msg_id": str(uuid.uuid4()),
        "type": "HELLO",
        "timestamp": rfc3339(now),
        "sender": {
            "agent_id": sender.agent_id,
            "fingerprint": sender.fingerprint,
            "capabilities": ["state_exchange", "knowledge_exchange"],
            "pubkey": sender.public_key_b64,
        },
        "receiver": {"agent_id": receiver.agent_id, "fingerprint": receiver.fingerprint},
        "trust": {"sender_view": "untrusted", "receiver_view": "unknown"},
        "state": {"presence": "focused", "lri": 12, "kernel_signals": [], "intent": "greet"},
        "payload": {"protocols": ["cip/1.0"], "features": {"supports_mesh": True}},
    }


def run_demo(as_json: bool = False) -> int:
    with tempfile.TemporaryDirectory(prefix="web4-demo-") as tmp:
        alice = Identity.create_in_data_dir(Path(tmp) / "alice", "alice")
        bob = Identity.create_in_data_dir(Path(tmp) / "bob", "bob")
        for who in (alice, bob):
            reloaded = Identity.in_data_dir(Path(tmp) / who.agent_id)
            _emit(
                as_json,
                "identity.created",
                agent=who.agent_id,
                fingerprint=who.fingerprint,
                reload_ok=reloaded.public_key == who.public_key,
            )

        envelope = sign_envelope(_hello(alice, bob, SystemClock().now()), alice)
        signed_len = len(canonicalize({k: v for k, v in envelope.items() if k != "sign"}))
        _emit(
            as_json,
            "envelope.signed",
            type="HELLO",
            sender="alice",
            canonical_bytes=signed_len,
            signature=envelope["sign"]["signature"][:16] + "…",
        )
        verify_envelope(envelope)
        _emit(as_json, "envelope.verified", by="bob", result="ok")

        refused = 0
        tampered = copy.deepcopy(envelope)
        tampered["state"]["lri"] = 99
        forged = copy.deepcopy(envelope)
        forged["sender"]["pubkey"] = bob.public_key_b64
        for label, bad in (("tampered state.lri", tampered), ("foreign pubkey", forged)):
            try:
                verify_envelope(bad)
            except SignatureMismatchError as e:
                refused += 1
                _emit(
                    as_json,
                    "envelope.refused",
                    case=label,
                    error=type(e).__name__,
                    reason=str(e)[:60],
                )
        ok = refused == 2
        _emit(as_json, "demo.summary", verified=1, refused=refused, result="ok" if ok else "FAIL")
        return 0 if ok else 1

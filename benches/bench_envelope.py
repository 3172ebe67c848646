"""Envelope hot path benchmark: canonicalize + sign + verify per second.

Measures, in the same run and on the same typical CIP envelope:
- ``rust``: the Python API backed by the Rust core (``sign_envelope`` + ``verify_envelope``);
- ``baseline``: a pure-Python path (``rfc8785`` + ``cryptography``) doing the same work:
  canonicalize without ``sign``, sign, then on verify check the fingerprint, canonicalize
  again and verify.
Writes JSON (``--out``) with ops/s for each, their ratio, and the targets from the issue
(>= 3x the baseline, >= 20,000 sign+verify pairs per second).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import platform
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from bench_common import rate, write_result
from web4.clock import SeededRng
from web4.envelope import canonicalize, sign_envelope, verify_envelope, verify_signature
from web4.identity import Identity


def typical_envelope(sender: Identity, receiver: Identity) -> dict[str, Any]:
    return {
        "cip": "1.0",
        "msg_id": "9f1c2a57-4e0b-4c8e-9d3a-0b1e2f3a4b5c",
        "type": "FACT_PROPOSE",
        "timestamp": "2026-11-26T09:00:00.000Z",
        "sender": {
            "agent_id": sender.agent_id,
            "fingerprint": sender.fingerprint,
            "capabilities": ["state_exchange", "knowledge_exchange", "dmp_trace"],
            "pubkey": sender.public_key_b64,
        },
        "receiver": {"agent_id": receiver.agent_id, "fingerprint": receiver.fingerprint},
        "trust": {"sender_view": "trusted", "receiver_view": "probing"},
        "state": {"presence": "focused", "lri": 23, "kernel_signals": [], "intent": "learn"},
        "payload": {
            "fact": {
                "statement": "The boiling point of water at sea level is 100 degrees Celsius.",
                "domain": "physics",
                "confidence": 0.93,
                "sources": ["https://example.org/water", "local:observation/42"],
                "context": "kitchen experiment, 1013 hPa",
            },
            "dmp_trace": {
                "decision_id": "0b9f6c3e-0d8a-4a53-9b7c-5d2e1f0a9b8c",
                "steps": ["measured", "compared with reference", "proposed"],
                "counterfactuals": ["altitude would lower it"],
                "evidence": ["https://example.org/water"],
            },
            "causal_links": ["a3c1e2d4-5b6f-4a7e-8c9d-0e1f2a3b4c5d"],
        },
    }


def rust_pair(identity: Identity, env: dict[str, Any]) -> Callable[[], None]:
    def once() -> None:
        verify_envelope(sign_envelope(env, identity))

    return once


def baseline_pair(seed: bytes, env: dict[str, Any]) -> Callable[[], None]:
    private = Ed25519PrivateKey.from_private_bytes(seed)

    def once() -> None:
        body = {k: v for k, v in env.items() if k != "sign"}
        signature = private.sign(rfc8785.dumps(body))
        signed = {**body, "sign": {"algo": "ed25519", "signature": base64.b64encode(signature)}}
        pub = base64.b64decode(signed["sender"]["pubkey"])
        if hashlib.sha256(pub).hexdigest() != signed["sender"]["fingerprint"]:
            raise AssertionError("fingerprint")
        unsigned = {k: v for k, v in signed.items() if k != "sign"}
        Ed25519PublicKey.from_public_bytes(pub).verify(
            base64.b64decode(signed["sign"]["signature"]), rfc8785.dumps(unsigned)
        )

    return once


def raw_pair(identity: Identity, message: bytes) -> Callable[[], None]:
    """Bare Ed25519 sign + verify of the canonical bytes: the ceiling for the Rust path."""
    key = identity.signing_key

    def once() -> None:
        if not verify_signature(key.public_key, message, key.sign(message)):
            raise AssertionError("verify")

    return once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()

    seed = SeededRng(1).bytes(32)
    alice, bob = Identity(seed, "alice"), Identity(SeededRng(2).bytes(32), "bob")
    env = typical_envelope(alice, bob)
    rust, base = rust_pair(alice, env), baseline_pair(seed, env)
    raw = raw_pair(alice, canonicalize(env))
    rust_rates, base_rates, raw_rates = [], [], []
    for _ in range(args.rounds):  # interleave so drift affects all alike
        rust_rates.append(rate(rust, args.seconds))
        base_rates.append(rate(base, args.seconds))
        raw_rates.append(rate(raw, args.seconds))
    rust_ops, base_ops = statistics.median(rust_rates), statistics.median(base_rates)
    raw_ops = statistics.median(raw_rates)
    result = {
        "benchmark": "envelope canonicalize+sign+verify",
        "unit": "sign+verify pairs per second",
        "envelope_bytes": len(rfc8785.dumps(env)),
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
        "rust": {"ops_per_s": round(rust_ops), "rounds": [round(r) for r in rust_rates]},
        "baseline_pure_python": {
            "ops_per_s": round(base_ops),
            "rounds": [round(r) for r in base_rates],
        },
        "ed25519_sign_verify_only": {
            "ops_per_s": round(raw_ops),
            "note": "bare sign+verify of the same bytes: the ceiling of any envelope path",
        },
        "speedup_vs_baseline": round(rust_ops / base_ops, 2),
        "targets": {
            "speedup_at_least": 3.0,
            "ops_per_s_at_least": 20_000,
            "met": rust_ops / base_ops >= 3.0 and rust_ops >= 20_000,
        },
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

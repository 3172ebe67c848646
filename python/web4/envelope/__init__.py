"""Envelope crypto: RFC 8785 canonical JSON and Ed25519 signatures.

The hot path (canonicalize, sign, verify) runs in Rust (``web4._core``); this package
is the Python face. The CIP/HCP/LIP builders and validators sit on top of it.
"""

from web4.envelope.crypto import (
    SIGN_ALGO,
    canonicalize,
    fingerprint_of,
    public_key_of_peer_id,
    sign_envelope,
    verify_envelope,
    verify_signature,
)
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import (
    DeclinedShapeError,
    Limits,
    MissingPublicKeyError,
    ProtocolSpec,
    TrustGate,
    Validator,
    norm_uuid,
    policy_gate,
)

__all__ = [
    "SIGN_ALGO",
    "DeclinedShapeError",
    "Limits",
    "MissingPublicKeyError",
    "ProtocolSpec",
    "ReplayCache",
    "TrustGate",
    "Validator",
    "canonicalize",
    "fingerprint_of",
    "norm_uuid",
    "policy_gate",
    "public_key_of_peer_id",
    "sign_envelope",
    "verify_envelope",
    "verify_signature",
]

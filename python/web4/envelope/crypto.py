"""Canonicalize, sign and verify envelopes (thin wrappers over ``web4._core``).

Theory of operation: the signed bytes of an envelope are the RFC 8785 canonical form
of the whole envelope without its top-level ``sign`` member. ``sign_envelope`` returns
a new dict with ``sign = {"algo": "ed25519", "signature": <base64>}``;
``verify_envelope`` checks that ``sender.fingerprint`` matches ``sender.pubkey`` and
that the signature verifies under the strict Ed25519 policy (``docs/CIP_SPEC.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from web4 import _core
from web4.identity import Identity

__all__ = [
    "SIGN_ALGO",
    "canonicalize",
    "fingerprint_of",
    "sign_envelope",
    "verify_envelope",
    "verify_signature",
]

SIGN_ALGO = "ed25519"


def canonicalize(obj: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON-like value (dict, list, tuple, str,
    int, float, bool, None).

    Raises ``CanonicalizationError`` for NaN, infinities, integers beyond 2^53 - 1,
    lone surrogates, non-string keys, other types, and nesting deeper than 128.
    """
    return _core.canonicalize(obj)


def sign_envelope(envelope: Mapping[str, Any], identity: Identity) -> dict[str, Any]:
    """A copy of ``envelope`` with ``sign`` set to a signature over the rest.

    Raises ``CanonicalizationError`` if the envelope has no canonical form.
    """
    signature = identity.signing_key.sign_envelope(envelope)
    signed = dict(envelope)
    signed["sign"] = {"algo": SIGN_ALGO, "signature": signature}
    return signed


def verify_envelope(envelope: Mapping[str, Any]) -> None:
    """Check the fingerprint binding and the signature of a received envelope.

    Raises ``InvalidEnvelopeError`` if the fields verification needs are missing or the
    envelope has no canonical form, ``FingerprintMismatchError`` (a
    ``SignatureMismatchError``) if the fingerprint does not match the public key, and
    ``SignatureMismatchError`` if the signature is malformed or does not verify.
    """
    _core.verify_envelope(envelope)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Strict Ed25519 verification of raw bytes. Never raises."""
    return _core.verify(public_key, message, signature)


def fingerprint_of(public_key: bytes) -> str:
    """Lowercase hex SHA-256 of a raw 32-byte public key. Raises ``IdentityError``."""
    return _core.fingerprint(public_key)

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
from web4.errors import InvalidEnvelopeError
from web4.identity import Identity

__all__ = [
    "SIGN_ALGO",
    "canonicalize",
    "fingerprint_of",
    "public_key_of_peer_id",
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


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# identity multihash (0x00, length 0x24) of the protobuf PublicKey {Type: Ed25519, Data: 32}
_ED25519_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])


def public_key_of_peer_id(peer_id: str) -> bytes:
    """The raw 32-byte Ed25519 public key inside an Ed25519 libp2p PeerId (base58btc):
    the key RTT's Noise handshake authenticated, for ``Validator.validate(...,
    transport_key=...)``. Raises ``InvalidEnvelopeError`` for anything else."""
    if not 1 <= len(peer_id) <= 64:
        raise InvalidEnvelopeError("a peer id is 1..64 base58 characters")
    n = 0
    for ch in peer_id:
        i = _B58.find(ch)
        if i < 0:
            raise InvalidEnvelopeError(f"peer id {peer_id[:20]!r} is not base58")
        n = n * 58 + i
    raw = b"\x00" * (len(peer_id) - len(peer_id.lstrip("1"))) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big"
    )
    if len(raw) != 38 or not raw.startswith(_ED25519_PEER_ID_PREFIX):
        raise InvalidEnvelopeError(f"peer id {peer_id[:20]!r} does not embed an Ed25519 key")
    return raw[6:]

"""Challenge-response proofs and sender attribution for the CIP handshake.

Theory of operation: in the handshake each side proves it holds the private key of its
``sender.pubkey`` by signing the peer's fresh 32-byte challenge. The signed bytes are
domain-separated and bind both identities and both session nonces, so a response cannot
be replayed into another session, reflected back to its author, or reused by a
different protocol::

    RESPONSE_CONTEXT || challenge (32) || signer fp (64) || verifier fp (64)
                     || signer nonce (16) || verifier nonce (16)

(fingerprints as lowercase ASCII hex, every field fixed-length, so no separators are
needed). We only ever sign that form. ``verify_original_response`` also accepts the
original specification's proof, a signature over the bare challenge, but the handshake
asks it only when the transport already authenticated the signer's key (the proof then
adds nothing, and refusing it would refuse the original peer). ``claimed_sender`` reads
who an envelope claims to be from after it passed the validator's structure check, to
attribute a signature failure to the bound peer.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import msgspec

from web4.envelope.crypto import fingerprint_of, verify_signature
from web4.envelope.validate import Limits, decode_json
from web4.identity import Identity

__all__ = [
    "RESPONSE_CONTEXT",
    "b64",
    "claimed_sender",
    "envelope_msg_id",
    "response_message",
    "sign_response",
    "verify_original_response",
    "verify_response",
]

RESPONSE_CONTEXT = b"web4/cip/1.0 hello challenge-response\x00"


def b64(data: bytes) -> str:
    """Standard base64 with padding (the encoding every CIP binary field uses)."""
    return base64.b64encode(data).decode("ascii")


def response_message(
    challenge: bytes, signer_fp: str, verifier_fp: str, signer_nonce: bytes, verifier_nonce: bytes
) -> bytes:
    """The exact bytes a challenge response signs (see the module docstring)."""
    return (
        RESPONSE_CONTEXT
        + challenge
        + signer_fp.encode("ascii")
        + verifier_fp.encode("ascii")
        + signer_nonce
        + verifier_nonce
    )


def sign_response(
    me: Identity, challenge: bytes, verifier_fp: str, my_nonce: bytes, their_nonce: bytes
) -> str:
    """Base64 signature by ``me`` over the response to ``challenge``."""
    message = response_message(challenge, me.fingerprint, verifier_fp, my_nonce, their_nonce)
    return b64(me.sign(message))


def verify_response(
    signer_key: bytes,
    response_b64: str,
    challenge: bytes,
    signer_fp: str,
    my_fp: str,
    signer_nonce: bytes,
    my_nonce: bytes,
) -> bool:
    """Whether ``response_b64`` is the signer's valid response to our challenge."""
    message = response_message(challenge, signer_fp, my_fp, signer_nonce, my_nonce)
    return verify_signature(signer_key, message, base64.b64decode(response_b64))


def verify_original_response(signer_key: bytes, response_b64: str, challenge: bytes) -> bool:
    """Whether ``response_b64`` is an Ed25519 signature by ``signer_key`` over our bare
    challenge: its 32 bytes, or its base64 text (the original says only "a signature over
    A's challenge"). Only for a key the transport authenticated (``docs/CIP_SPEC.md`` §10,
    D18)."""
    signature = base64.b64decode(response_b64)
    return verify_signature(signer_key, challenge, signature) or verify_signature(
        signer_key, b64(challenge).encode("ascii"), signature
    )


def claimed_sender(envelope: Any, limits: Limits) -> tuple[str, str]:
    """(claimed ``sender.fingerprint``, fingerprint of the presented ``sender.pubkey``,
    or ``""`` when it names none) of an envelope (Struct, dict or bytes) that passed the
    structure check."""
    if isinstance(envelope, msgspec.Struct):
        sender = msgspec.to_builtins(envelope)["sender"]
    elif isinstance(envelope, bytes | bytearray | memoryview):
        sender = decode_json(bytes(envelope), limits)["sender"]
    else:
        sender = envelope["sender"]
    pubkey = sender.get("pubkey")
    actual = fingerprint_of(base64.b64decode(pubkey)) if isinstance(pubkey, str) else ""
    return str(sender["fingerprint"]), actual


def envelope_msg_id(envelope: Any, limits: Limits) -> str:
    """The ``msg_id`` of an envelope that passed the structure check."""
    if isinstance(envelope, msgspec.Struct):
        return str(msgspec.to_builtins(envelope)["msg_id"])
    if isinstance(envelope, Mapping):
        return str(envelope["msg_id"])
    return str(decode_json(bytes(envelope), limits)["msg_id"])

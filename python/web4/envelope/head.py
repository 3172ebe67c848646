"""The part of an envelope every protocol's builder fills in the same way.

Theory of operation: CIP, HCP and LIP envelopes share their head: the version member
(``cip``/``hcp``/``lip``: ``"1.0"``), ``msg_id`` (a UUID v4 from the injected ``Rng``),
``type``, ``timestamp`` (RFC 3339 from the time passed in), ``sender`` (from the
``Identity``) and ``receiver``. Builders add their own blocks (``trust``, ``state``,
``source``, ``payload``) and sign. Nothing here reads a clock or draws randomness itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from web4.clock import Rng, rfc3339
from web4.identity import Identity

__all__ = ["envelope_head", "new_msg_id"]


def new_msg_id(rng: Rng) -> str:
    """A UUID v4 string from 16 bytes of ``rng`` (version and variant bits forced)."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def envelope_head(
    protocol: str,
    msg_type: str,
    *,
    identity: Identity,
    receiver_id: str,
    receiver_fingerprint: str,
    capabilities: Sequence[str],
    now: float,
    msg_id: str,
    topic: str | None = None,
) -> dict[str, Any]:
    """The shared head of a ``protocol`` 1.0 envelope (unsigned, without trust/state/
    payload). With ``topic`` it is bound to that gossip topic instead of a receiver
    (CIP_SPEC §11; the receiver arguments are then ignored)."""
    head = {
        protocol: "1.0",
        "msg_id": msg_id,
        "type": msg_type,
        "timestamp": rfc3339(now),
        "sender": {
            "agent_id": identity.agent_id,
            "fingerprint": identity.fingerprint,
            "pubkey": identity.public_key_b64,
            "capabilities": list(capabilities),
        },
        "receiver": {"agent_id": receiver_id, "fingerprint": receiver_fingerprint},
    }
    if topic is not None:
        del head["receiver"]
        head["topic"] = topic
    return head

"""Build signed HCP/1.0 envelopes (the human client's and the agent's outbound side).

Theory of operation: ``build_hcp`` fills in what the sender owns (``hcp``, ``msg_id``
from the injected ``Rng``, ``timestamp`` from the injected ``Clock``, ``sender`` from
the ``Identity``), encodes the typed payload and the human-state vector with msgspec,
and signs the whole envelope (RFC 8785 canonical JSON, Ed25519) via
``web4.envelope.sign_envelope``. For ``HCP_STATE_UPDATE`` it refuses a payload that
disagrees with ``state.human``, so what it builds always passes ``check_semantics``.
The result is a plain dict, ready for canonical encoding and the RTT ``control`` or
``state`` channel.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from web4.clock import Clock, Rng, rfc3339
from web4.envelope import sign_envelope
from web4.errors import ConfigError
from web4.hcp.messages import (
    PAYLOAD_TYPES,
    HcpStateUpdate,
    HumanState,
    Payload,
)
from web4.identity import Identity

__all__ = ["build_hcp", "msg_type_of"]

_TYPE_OF = {struct: name for name, struct in PAYLOAD_TYPES.items()}


def msg_type_of(payload: Payload) -> str:
    """The HCP message type that carries ``payload``."""
    return _TYPE_OF[type(payload)]


def build_hcp(
    identity: Identity,
    *,
    receiver_id: str,
    receiver_fingerprint: str,
    payload: Payload,
    human: HumanState,
    clock: Clock,
    rng: Rng,
    sender_view: str = "probing",
    receiver_view: str = "unknown",
    capabilities: tuple[str, ...] = ("hcp/1.0",),
) -> dict[str, Any]:
    """A signed HCP envelope carrying ``payload`` (its type is derived from it).

    Raises ``ConfigError`` when an ``HCP_STATE_UPDATE`` payload disagrees with
    ``human`` and ``CanonicalizationError`` if the envelope has no canonical form.
    """
    if isinstance(payload, HcpStateUpdate):
        pairs = zip(
            ("presence", "affect", "clarity", "pressure", "consent"),
            (payload.presence, payload.affect, payload.clarity, payload.pressure, payload.consent),
            strict=True,
        )
        for name, value in pairs:
            if getattr(human, name) != value:
                raise ConfigError(f"HCP_STATE_UPDATE {name}={value!r} disagrees with state.human")
    env: dict[str, Any] = {
        "hcp": "1.0",
        "msg_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "type": msg_type_of(payload),
        "timestamp": rfc3339(clock.now()),
        "sender": {
            "agent_id": identity.agent_id,
            "fingerprint": identity.fingerprint,
            "capabilities": list(capabilities),
            "pubkey": identity.public_key_b64,
        },
        "receiver": {"agent_id": receiver_id, "fingerprint": receiver_fingerprint},
        "trust": {"sender_view": sender_view, "receiver_view": receiver_view},
        "state": {"human": msgspec.to_builtins(human)},
        "payload": msgspec.to_builtins(payload),
    }
    return sign_envelope(env, identity)

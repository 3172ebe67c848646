"""Build signed LIP/1.0 envelopes.

Theory of operation: ``build_lip`` fills in what the sender owns (``lip``, ``msg_id``
from the injected ``Rng``, ``timestamp`` from the injected ``Clock``, ``sender`` from the
``Identity``), takes the ``source`` block, the sender's ``state`` (presence, LRI) and
trust views from the caller, encodes the typed payload with msgspec, and signs the whole
envelope (RFC 8785 canonical JSON, Ed25519) via ``web4.envelope.sign_envelope``. The
result is a plain dict that the generic validator with ``LIP_SPEC`` accepts.
"""

from __future__ import annotations

from typing import Any

import msgspec

from web4.cip.messages import SenderState, TrustViews
from web4.clock import Clock, Rng
from web4.envelope import sign_envelope
from web4.envelope.head import envelope_head, new_msg_id
from web4.identity import Identity
from web4.lip.messages import PAYLOAD_TYPES, Source

__all__ = ["build_lip", "msg_type_of"]

_TYPE_OF = {struct: name for name, struct in PAYLOAD_TYPES.items()}


def msg_type_of(payload: msgspec.Struct) -> str:
    """The LIP message type that carries ``payload``. Raises ``KeyError`` for a Struct
    that is not a LIP payload."""
    return _TYPE_OF[type(payload)]


def build_lip(
    identity: Identity,
    *,
    receiver_id: str,
    receiver_fingerprint: str,
    payload: msgspec.Struct,
    source: Source,
    clock: Clock,
    rng: Rng,
    state: SenderState | None = None,
    trust: TrustViews | None = None,
    capabilities: tuple[str, ...] = ("lip/1.0",),
) -> dict[str, Any]:
    """A signed LIP envelope carrying ``payload`` (its type is derived from it).

    Raises ``KeyError`` for a payload that is not a LIP payload and
    ``CanonicalizationError`` if the envelope has no canonical form.
    """
    env = envelope_head(
        "lip",
        msg_type_of(payload),
        identity=identity,
        receiver_id=receiver_id,
        receiver_fingerprint=receiver_fingerprint,
        capabilities=capabilities,
        now=clock.now(),
        msg_id=new_msg_id(rng),
    )
    env |= {
        "trust": msgspec.to_builtins(trust or TrustViews(sender_view="probing")),
        "state": msgspec.to_builtins(state or SenderState(presence="engaged", lri=0)),
        "source": msgspec.to_builtins(source),
        "payload": msgspec.to_builtins(payload),
    }
    return sign_envelope(env, identity)

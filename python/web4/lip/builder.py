"""Build signed LIP/1.0 envelopes.

Theory of operation: ``build_lip`` fills in what the sender owns (``lip``, ``msg_id``
from the injected ``Rng``, ``timestamp`` from the injected ``Clock``, ``sender`` from the
``Identity``), takes the ``source`` block, the sender's ``state`` (presence, LRI) and
trust views from the caller, encodes the typed payload with msgspec, and signs the whole
envelope (RFC 8785 canonical JSON, Ed25519) via the shared ``web4.envelope.build.build``,
which also checks the result against ``LIP_SPEC``: a plain dict that the generic
validator accepts.
"""

from __future__ import annotations

from typing import Any

import msgspec

from web4.cip.messages import SenderState, TrustViews
from web4.clock import Clock, Rng
from web4.envelope.build import build
from web4.envelope.build import msg_type_of as envelope_msg_type_of
from web4.identity import Identity
from web4.lip.messages import LIP_SPEC, Source

__all__ = ["build_lip", "msg_type_of"]


def msg_type_of(payload: msgspec.Struct) -> str:
    """The LIP message type that carries ``payload``. Raises ``MessageBuildError`` for
    a Struct that is not a LIP payload."""
    return envelope_msg_type_of(LIP_SPEC, payload)


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

    Raises ``MessageBuildError`` for a payload that is not a LIP payload or an envelope
    that breaks the LIP schema, and ``CanonicalizationError`` if the envelope has no
    canonical form.
    """
    return build(
        LIP_SPEC,
        payload,
        identity=identity,
        receiver_id=receiver_id,
        receiver_fingerprint=receiver_fingerprint,
        trust=trust or TrustViews(sender_view="probing"),
        state=state or SenderState(presence="engaged", lri=0),
        extra={"source": source},
        clock=clock,
        rng=rng,
        capabilities=capabilities,
    )

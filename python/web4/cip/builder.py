"""Build and sign CIP/1.0 envelopes.

Theory of operation: the builder owns the fields a sender must never get wrong by hand:
``cip``, ``msg_id`` (a UUID v4 made from 16 bytes of the injected ``Rng``), ``timestamp``
(RFC 3339 UTC with milliseconds, from the injected ``Clock`` or an explicit ``now``),
``sender`` (from the ``Identity``) and ``trust.sender_view``. The caller supplies the
receiver, its trust view of the receiver, its local state and a typed payload. Before
signing, the finished envelope is decoded with the same Structs the validator uses, so
the builder can never emit what a peer's validator would refuse for its shape (all of
this is ``web4.envelope.build.build``, shared with HCP and LIP). The result is a plain
dict (what ``canonicalize`` turns into wire bytes).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from web4.cip.messages import CIP_SPEC, ReceiverView, SenderState, TrustState
from web4.cip.topics import topic_check
from web4.clock import Clock, Rng
from web4.envelope.build import build, msg_type_of
from web4.envelope.crypto import canonicalize
from web4.envelope.head import new_msg_id
from web4.envelope.validate import Receiver
from web4.errors import MessageBuildError
from web4.identity import Identity

__all__ = ["CipBuilder", "new_msg_id"]


class _Typed(NamedTuple):
    """What ``topic_check`` reads of an envelope: its type and typed payload."""

    type: str
    payload: Any


class CipBuilder:
    """Builds signed CIP envelopes for one local identity."""

    def __init__(
        self,
        identity: Identity,
        *,
        clock: Clock,
        rng: Rng,
        capabilities: tuple[str, ...] = ("state_exchange", "knowledge_exchange", "dmp_trace"),
    ) -> None:
        self.identity = identity
        self._clock = clock
        self._rng = rng
        self.capabilities = capabilities

    def build(
        self,
        payload: msgspec.Struct,
        *,
        receiver: Receiver | None,
        sender_view: TrustState,
        state: SenderState,
        receiver_view: ReceiverView = "unknown",
        now: float | None = None,
        msg_id: str | None = None,
        topic: str | None = None,
    ) -> dict[str, Any]:
        """A signed envelope carrying ``payload`` (its Struct class names the type).

        ``sender_view`` is our trust state as the receiver should see it claimed by us
        (normally our own standing, ``untrusted`` before a handshake); ``receiver_view``
        is what we think of the receiver. Raises ``MessageBuildError`` if the payload is
        not a CIP payload or the finished envelope breaks the CIP schema.

        ``msg_id`` (default: a fresh UUID v4) lets a sender give the same id to copies of
        one message addressed to several peers (a broadcast FACT_PROPOSE, so that every
        ``fact_ref`` names the same claim); a malformed one is ``MessageBuildError``.

        ``topic`` (with ``receiver=None``): a broadcast bound to that gossip topic instead
        of a receiver (CIP_SPEC §11); ``MessageBuildError`` if the type is never
        topic-bound or does not belong on that topic.
        """
        if (receiver is None) == (topic is None):
            raise MessageBuildError("an envelope names exactly one of receiver and topic")
        if topic is not None:
            reason = topic_check(_Typed(msg_type_of(CIP_SPEC, payload), payload), topic)
            if reason is not None:
                raise MessageBuildError(reason)
        return build(
            CIP_SPEC,
            payload,
            identity=self.identity,
            receiver_id=receiver.agent_id if receiver else "",
            receiver_fingerprint=receiver.fingerprint if receiver else "",
            topic=topic,
            # views describe one receiver: a topic-bound envelope carries none
            trust={}
            if topic is not None
            else {"sender_view": sender_view, "receiver_view": receiver_view},
            state=state,
            clock=self._clock,
            rng=self._rng,
            capabilities=self.capabilities,
            now=now,
            msg_id=msg_id,
        )

    def encode(self, envelope: dict[str, Any]) -> bytes:
        """Wire bytes of an envelope: its RFC 8785 canonical form (deterministic)."""
        return canonicalize(envelope)

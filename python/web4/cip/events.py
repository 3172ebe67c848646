"""Events the CIP handshake emits: frozen data, no behaviour (h11 ``_events.py``).

Theory of operation: ``Handshake.receive`` and ``Handshake.handle_timeout`` return a list
of these. The node routes them: trust events (``PeerVerified``, ``PeerUntrusted``,
``PeerBlacklisted``) to the TrustFSM, ``PeerStateReceived`` to the agent's view of the
peer, ``IntentReceived``/``HandshakeDone`` to the agent loop, and everything to
observability. ``peer`` is always the fingerprint of the peer the handshake is bound to
(see ``docs/CIP_SPEC.md``, "Attribution"); ``at`` is the ``now`` of the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "HandshakeDone",
    "HandshakeEvent",
    "HandshakeFailed",
    "IntentReceived",
    "MessageDropped",
    "PeerBlacklisted",
    "PeerStateReceived",
    "PeerUntrusted",
    "PeerVerified",
    "Retransmitted",
]


@dataclass(frozen=True)
class PeerVerified:
    """VERIFY passed: the peer proved its key over our challenge. TRUST GATE: a TrustFSM
    moves the peer from ``untrusted`` to ``probing`` (event "valid handshake")."""

    peer: str
    agent_id: str
    msg_ids: tuple[str, ...]
    at: float


@dataclass(frozen=True)
class PeerUntrusted:
    """A bad envelope signature or challenge response from the peer: the handshake is
    dropped and the peer becomes ``untrusted``."""

    peer: str
    reason: str
    msg_id: str
    at: float


@dataclass(frozen=True)
class PeerBlacklisted:
    """The peer's ``sender.fingerprint`` does not match its ``sender.pubkey``: the
    handshake is dropped and the peer becomes ``blacklisted``."""

    peer: str
    claimed: str
    reason: str
    msg_id: str
    at: float


@dataclass(frozen=True)
class PeerStateReceived:
    """The peer's presence and load, from its STATE_UPDATE."""

    peer: str
    presence: str
    lri: int
    ltppeerstate: str
    kernel_signals: tuple[str, ...]
    intent: str | None
    msg_id: str
    at: float


@dataclass(frozen=True)
class IntentReceived:
    """The responder received the initiator's INTENT (decision follows in HandshakeDone)."""

    peer: str
    goal: str
    topic: str
    priority: str
    msg_id: str
    at: float


@dataclass(frozen=True)
class HandshakeDone:
    """The handshake ended with the intent accepted or deferred."""

    peer: str
    outcome: Literal["accepted", "deferred"]
    reason: str
    intent_msg_id: str | None
    at: float


@dataclass(frozen=True)
class HandshakeFailed:
    """The handshake ended without agreement (timeout, bad signature, protocol error)."""

    peer: str | None
    reason: str
    at: float


@dataclass(frozen=True)
class MessageDropped:
    """An inbound message was refused without ending the handshake. ``error`` is the
    class name from ``web4.errors`` (e.g. ``ReplayError``, ``HandshakeError``)."""

    error: str
    reason: str
    at: float


@dataclass(frozen=True)
class Retransmitted:
    """A step timer fired with retries left; the last message(s) were sent again."""

    step: str
    attempt: int
    at: float


HandshakeEvent = (
    PeerVerified
    | PeerUntrusted
    | PeerBlacklisted
    | PeerStateReceived
    | IntentReceived
    | HandshakeDone
    | HandshakeFailed
    | MessageDropped
    | Retransmitted
)

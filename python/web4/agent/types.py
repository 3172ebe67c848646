"""Frozen data the agent loop passes between its hooks and to the node.

Theory of operation: these records carry no behaviour (h11 ``_events.py`` style). The
router hands the loop ``InboundMessage`` items (built from its ``Inbound`` with
``InboundMessage.from_routed``); the knowledge layer hands it ``KnowledgeAccepted``. The
agent's hooks turn an inbound item into a ``Context``, a ``Decision`` (or ``None`` to
ignore it), an ``ActionResult`` (with any ``Outbound`` messages the node must send), and a
``DecisionRecord`` (the CIP ``DmpTrace`` plus choice, outcome and trigger) that goes to
memory. The agent's own state (presence, LRI, kernel signals,
intent) is the CIP envelope's ``state`` block itself, ``web4.cip.messages.SenderState``
(re-exported here): the loop hands it to the node, which sends it as the ``state`` of
every envelope and, with the per-peer trust view added, as ``STATE_UPDATE``; ``Intent``
is the agent's declared intent, the CIP ``INTENT`` payload itself
(``web4.cip.messages.Intent``; ``check_intent`` holds the agent's own limits).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import msgspec

from web4.cip.messages import DmpTrace, Goal, Intent, Presence, SenderState
from web4.errors import ConfigError

if TYPE_CHECKING:
    from web4.agent.api import AgentEvent

__all__ = [
    "GOALS",
    "PRESENCES",
    "ActionResult",
    "Context",
    "Decision",
    "DecisionRecord",
    "InboundItem",
    "InboundMessage",
    "Intent",
    "KnowledgeAccepted",
    "Outbound",
    "PeerState",
    "Presence",
    "SenderState",
    "check_intent",
    "intent_text",
]

PRESENCES: Final[tuple[Presence, ...]] = ("focused", "engaged", "diffuse", "overloaded")
GOALS: Final[tuple[Goal, ...]] = (
    "verify_knowledge",
    "ask",
    "learn",
    "propose_solution",
    "test_hypothesis",
)
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class InboundMessage:
    """A validated, routed message: who sent what, with its payload as plain data."""

    protocol: str
    type: str
    peer: str
    payload: Mapping[str, Any] = field(default_factory=_empty)
    msg_id: str | None = None
    received_at: float = 0.0

    @classmethod
    def from_routed(cls, inbound: Any) -> InboundMessage:
        """Adapt the router's ``Inbound`` (duck-typed: protocol, type, peer, msg_id,
        received_at, envelope.payload as a msgspec Struct or a mapping)."""
        payload = getattr(getattr(inbound, "envelope", None), "payload", None)
        if isinstance(payload, msgspec.Struct):
            payload = msgspec.to_builtins(payload)
        return cls(
            protocol=str(inbound.protocol),
            type=str(inbound.type),
            peer=str(inbound.peer),
            payload=_frozen(payload) if isinstance(payload, Mapping) else _EMPTY,
            msg_id=getattr(inbound, "msg_id", None),
            received_at=float(getattr(inbound, "received_at", 0.0)),
        )


@dataclass(frozen=True)
class KnowledgeAccepted:
    """A claim the knowledge layer accepted; it may now enter causal memory."""

    claim_id: str
    statement: str
    domain: str = ""
    confidence: float = 1.0
    sources: tuple[str, ...] = ()
    confirmed_by: tuple[str, ...] = ()
    decision_id: str | None = None


InboundItem = InboundMessage | KnowledgeAccepted


def check_intent(intent: Intent) -> Intent:
    """``intent`` if the agent may adopt it. Raises ``ConfigError`` (an unknown goal or
    priority, a topic outside 1..200 characters: tighter than the wire's 256, so the
    ``goal: topic`` text always fits a ``state.intent`` label)."""
    if intent.goal not in GOALS:
        raise ConfigError(f"unknown intent goal {intent.goal!r}; use one of {GOALS}")
    if not isinstance(intent.topic, str) or not 1 <= len(intent.topic) <= 200:
        raise ConfigError("an intent topic has 1 to 200 characters")
    if intent.priority not in ("low", "normal", "high"):
        raise ConfigError(f"unknown intent priority {intent.priority!r}")
    return intent


def intent_text(intent: Intent) -> str:
    """The short form for an envelope's ``state.intent``: ``goal: topic``."""
    return f"{intent.goal}: {intent.topic}"


@dataclass(frozen=True)
class PeerState:
    """The agent's view of a peer, from its last ``STATE_UPDATE``."""

    presence: str
    lri: int
    kernel_signals: tuple[str, ...] = ()
    intent: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True)
class Context:
    """Everything ``decide`` may look at, gathered once per cycle."""

    item: InboundItem | AgentEvent
    mission: str
    presence: Presence
    lri: int
    intent: Intent | None
    peers: Mapping[str, PeerState] = field(default_factory=_empty)
    facts: Mapping[str, Any] = field(default_factory=_empty)  # anything else gather_context adds


@dataclass(frozen=True)
class Outbound:
    """A message the agent wants sent; the node builds, signs and sends the envelope."""

    protocol: str
    type: str
    payload: Mapping[str, Any]
    peer: str | None = None  # None: every connected peer


@dataclass(frozen=True)
class Decision:
    """What to do and why. ``choice`` is scored against the mission for drift."""

    choice: str
    steps: tuple[str, ...] = ()
    counterfactuals: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    decision_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class ActionResult:
    """What acting did: an outcome line and the messages to send."""

    outcome: str
    outbound: tuple[Outbound, ...] = ()


@dataclass(frozen=True)
class DecisionRecord:
    """Decision memory: a decision's DMP trace (the CIP ``dmp_trace`` itself,
    ``web4.cip.messages.DmpTrace``) with what the wire does not carry: the choice, its
    outcome and the message that triggered it."""

    trace: DmpTrace
    choice: str = ""
    outcome: str = ""
    trigger_msg_id: str | None = None
    peer: str | None = None
    timestamp: float = 0.0

    @property
    def decision_id(self) -> str:
        return self.trace.decision_id

"""CIP/1.0 message types: the envelope and the eight payloads, declared once.

Theory of operation: these msgspec Structs are the single source of truth for CIP's
wire shape. The validator (``web4.envelope.validate``) decodes untrusted input into
them, the builder (``web4.cip.builder``) produces dicts that decode into them, and
``web4.cip.schemas`` publishes their JSON Schemas under ``docs/schemas/cip/``. Every
Struct is frozen and refuses unknown fields; every string and list has a bound, so a
schema-valid envelope is always small. Enumerations are ``Literal``s.

``Fact``, ``DmpTrace`` and ``SharedDecision`` are also the knowledge layer's values
(``web4.knowledge`` re-exports them): their ``__post_init__`` runs the knowledge checks
(``check_text`` and friends: no blank statement, domain or choice, a UUID decision id,
bounded lists; a tuple given in Python is stored as a list, as decoding gives it), so a
value built in Python raises ``KnowledgeError`` and one decoded from the wire fails
validation (msgspec turns the error into a ``ValidationError``). There is no second
class per concept.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Generic, Literal, TypeVar

import msgspec
from msgspec.structs import force_setattr

from web4.envelope.validate import (
    Limits,
    MsgId,
    ProtocolSpec,
    Receiver,
    Sender,
    Sign,
    SignatureB64,
    Timestamp,
    Token,
)
from web4.errors import KnowledgeError

__all__ = [
    "CIP_SPEC",
    "CIP_VERSION",
    "MESSAGE_TYPES",
    "PAYLOADS",
    "CipEnvelope",
    "DecisionShare",
    "DmpTrace",
    "Fact",
    "FactChallenge",
    "FactConfirm",
    "FactPropose",
    "FactReject",
    "Features",
    "Hello",
    "Intent",
    "MessageType",
    "Presence",
    "ReceiverView",
    "SenderState",
    "SharedDecision",
    "StateUpdate",
    "TrustState",
    "TrustViews",
    "check_text",
    "check_texts",
    "check_unit",
]

CIP_VERSION = "1.0"

MessageType = Literal[
    "HELLO",
    "INTENT",
    "FACT_PROPOSE",
    "FACT_CHALLENGE",
    "FACT_CONFIRM",
    "FACT_REJECT",
    "DECISION_SHARE",
    "STATE_UPDATE",
]
Presence = Literal["focused", "engaged", "diffuse", "overloaded"]
TrustState = Literal["untrusted", "probing", "trusted", "blacklisted"]
ReceiverView = Literal["unknown", "untrusted", "probing", "trusted", "blacklisted"]

Lri = Annotated[int, msgspec.Meta(ge=0, le=100, description="load index")]
Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Text = Annotated[str, msgspec.Meta(max_length=4096)]
LongText = Annotated[str, msgspec.Meta(max_length=16384)]
B64Nonce = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Za-z0-9+/]{22}==$",
        min_length=24,
        max_length=24,
        description="base64 of 16 bytes",
    ),
]
B64Challenge = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Za-z0-9+/]{43}=$",
        min_length=44,
        max_length=44,
        description="base64 of 32 bytes",
    ),
]
B64Signature = SignatureB64  # the envelope's own signature type
Signals = Annotated[list[Token], msgspec.Meta(max_length=32)]
Texts = Annotated[list[Text], msgspec.Meta(max_length=64)]
MsgRefs = Annotated[list[MsgId], msgspec.Meta(max_length=64)]
ClaimHash = Annotated[
    str,
    msgspec.Meta(
        pattern="^[0-9a-f]{64}$",
        min_length=64,
        max_length=64,
        description=(
            "web4 amendment 1 (2026-12): lowercase hex SHA-256 of the RFC 8785 canonical "
            'JSON of {"proposer": <proposer fingerprint>, "payload": <the FACT_PROPOSE '
            "payload, every field present>}; the vote applies only to the claim with this "
            "hash"
        ),
    ),
]


# --- the knowledge checks (what a Fact, DmpTrace or SharedDecision must satisfy) -------

MAX_TEXT = 4096
MAX_ITEMS = 256  # a locally built trace may hold more than the wire's 64 (never sent so)
MAX_SOURCES = 64


def check_text(name: str, value: object, *, empty: bool = False, limit: int = MAX_TEXT) -> str:
    """``value`` if it is a string of 1..limit characters, not blank (0..limit with
    ``empty``). Raises ``KnowledgeError``."""
    if not isinstance(value, str):
        raise KnowledgeError(f"{name} must be a string")
    if (not empty and not value.strip()) or len(value) > limit:
        raise KnowledgeError(f"{name} must be {0 if empty else 1}..{limit} characters")
    return value


def check_texts(name: str, values: object, limit: int) -> tuple[str, ...]:
    """``values`` (a list or tuple of at most ``limit`` strings) as a tuple. Raises
    ``KnowledgeError``."""
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple):
        raise KnowledgeError(f"{name} must be a list of strings")
    if len(values) > limit:
        raise KnowledgeError(f"{name} has more than {limit} items")
    return tuple(check_text(f"{name}[]", v, empty=True) for v in values)


def check_unit(name: str, value: object) -> float:
    """``value`` as a float within 0..1. Raises ``KnowledgeError``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise KnowledgeError(f"{name} must be a number")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise KnowledgeError(f"{name} must be within 0..1")
    return float(value)


# --- envelope parts -----------------------------------------------------------------


class TrustViews(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sender_view: TrustState
    receiver_view: ReceiverView = "unknown"


class SenderState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    presence: Presence
    lri: Lri
    kernel_signals: Signals = []
    intent: Label | None = None


P = TypeVar("P")


class CipEnvelope(msgspec.Struct, Generic[P], frozen=True, forbid_unknown_fields=True):
    """A CIP/1.0 envelope; ``payload`` is the Struct for ``type`` once validated."""

    cip: Literal["1.0"]
    msg_id: MsgId
    type: MessageType
    timestamp: Timestamp
    sender: Sender
    receiver: Receiver
    trust: TrustViews
    state: SenderState
    payload: P
    sign: Sign


# --- payloads -----------------------------------------------------------------------


class Features(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    supports_mesh: bool = False
    supports_multiplex: bool = False


class Hello(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """HELLO. The answering HELLO (and the initiator's confirming HELLO) also carry
    ``challenge_response``: a signature over the peer's challenge (``docs/CIP_SPEC.md``)."""

    protocols: Annotated[list[Token], msgspec.Meta(min_length=1, max_length=8)]
    capabilities: Annotated[list[Token], msgspec.Meta(max_length=32)]
    session_nonce: B64Nonce
    challenge: B64Challenge
    features: Features = Features()
    challenge_response: B64Signature | None = None


class Intent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    goal: Literal["verify_knowledge", "ask", "learn", "propose_solution", "test_hypothesis"]
    topic: Label
    priority: Literal["low", "normal", "high"] = "normal"
    context: Text = ""


class Fact(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # FACT_PROPOSE.fact. Raises KnowledgeError on a broken limit (no docstring: it would
    # become the published schema's description).

    statement: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    domain: Label
    confidence: Confidence
    sources: Texts = []
    context: Text = ""

    def __post_init__(self) -> None:
        check_text("fact.statement", self.statement)
        check_text("fact.domain", self.domain, limit=256)
        force_setattr(self, "confidence", check_unit("fact.confidence", self.confidence))
        sources = check_texts("fact.sources", self.sources, MAX_SOURCES)
        force_setattr(self, "sources", list(sources))
        check_text("fact.context", self.context, empty=True)


class DmpTrace(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # A DMP trace; decision_id is a UUID. Raises KnowledgeError on a malformed id or a
    # broken limit.

    decision_id: Annotated[
        str,
        msgspec.Meta(
            pattern="^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            min_length=36,
            max_length=36,
        ),
    ]
    steps: Texts = []
    counterfactuals: Texts = []
    evidence: Texts = []

    def __post_init__(self) -> None:
        # The decision id is kept in canonical lowercase form (the wire pattern demands
        # it; a Python caller may pass any spelling of a UUID).
        try:
            canonical = str(uuid.UUID(check_text("dmp_trace.decision_id", self.decision_id)))
        except ValueError as exc:
            raise KnowledgeError("dmp_trace.decision_id must be a UUID") from exc
        force_setattr(self, "decision_id", canonical)
        for name in ("steps", "counterfactuals", "evidence"):
            value = check_texts(f"dmp_trace.{name}", getattr(self, name), MAX_ITEMS)
            force_setattr(self, name, list(value))


class FactPropose(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fact: Fact
    dmp_trace: DmpTrace
    causal_links: MsgRefs = []


class FactChallenge(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fact_ref: MsgId
    claim_hash: ClaimHash
    reason: Literal["conflict", "insufficient_evidence", "cannot_verify"]
    notes: Text = ""


class FactConfirm(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fact_ref: MsgId
    claim_hash: ClaimHash
    decision: Literal["confirm"]
    confidence: Confidence
    notes: Text = ""


class FactReject(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fact_ref: MsgId
    claim_hash: ClaimHash
    decision: Literal["reject"]
    confidence: Confidence
    notes: Text = ""


class SharedDecision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # DECISION_SHARE.decision. Raises KnowledgeError on a broken limit.

    choice: Label
    outcome: Text = ""
    context: Text = ""

    def __post_init__(self) -> None:
        check_text("decision.choice", self.choice, limit=256)
        check_text("decision.outcome", self.outcome, empty=True)
        check_text("decision.context", self.context, empty=True)


class DecisionShare(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: SharedDecision
    dmp_trace: DmpTrace
    retrospective: LongText = ""


class StateUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    presence: Presence
    lri: Lri
    ltppeerstate: ReceiverView
    kernel_signals: Signals = []
    intent: Label | None = None


PAYLOADS: dict[str, type[msgspec.Struct]] = {
    "HELLO": Hello,
    "INTENT": Intent,
    "FACT_PROPOSE": FactPropose,
    "FACT_CHALLENGE": FactChallenge,
    "FACT_CONFIRM": FactConfirm,
    "FACT_REJECT": FactReject,
    "DECISION_SHARE": DecisionShare,
    "STATE_UPDATE": StateUpdate,
}
MESSAGE_TYPES: tuple[str, ...] = tuple(PAYLOADS)

# Depth of the deepest valid CIP envelope is 4 (envelope > payload > fact > sources);
# 8 leaves room and still bounds hostile nesting.
CIP_SPEC: ProtocolSpec[CipEnvelope[object]] = ProtocolSpec(
    name="cip",
    envelope=CipEnvelope,
    payloads=PAYLOADS,
    limits=Limits(max_bytes=256 * 1024, max_depth=8),
)

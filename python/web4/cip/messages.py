"""CIP/1.0 message types: the envelope and the eight payloads, declared once.

Theory of operation: these msgspec Structs are the single source of truth for CIP's
wire shape. The validator (``web4.envelope.validate``) decodes untrusted input into
them, the builder (``web4.cip.builder``) produces dicts that decode into them, and
``web4.cip.schemas`` publishes their JSON Schemas under ``docs/schemas/cip/``. Every
Struct is frozen and, as in the original specification, open: unknown members are
accepted and ignored (the signature still covers them; ``sign`` alone is closed, see
``web4.envelope.validate``). ``trust`` and ``state`` and every member of them may be left
out, as the original allows. Every string and list has a bound, so a schema-valid
envelope is always small. Enumerations are ``Literal``s.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec

from web4.cip.topics import topic_check
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
    Uuid,
    norm_uuid,
)

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
    "Goal",
    "Hello",
    "Intent",
    "MessageType",
    "PeerState",
    "Presence",
    "Priority",
    "ReceiverView",
    "SenderState",
    "SharedDecision",
    "StateUpdate",
    "TrustState",
    "TrustViews",
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
Goal = Literal["verify_knowledge", "ask", "learn", "propose_solution", "test_hypothesis"]
Priority = Literal["low", "normal", "high"]
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
# The original's `causal_links`: an array of strings. This node sends msg_ids; what a
# link names is the knowledge layer's business (`web4.knowledge.model.CausalLink`).
Link = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# A gossip topic (CIP_SPEC §11): `/web4/...`, at most 256 characters.
Topic = Annotated[str, msgspec.Meta(min_length=7, max_length=256, pattern="^/web4/")]
Links = Annotated[list[Link], msgspec.Meta(max_length=64)]
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


# --- envelope parts -----------------------------------------------------------------


class TrustViews(msgspec.Struct, frozen=True):
    """Informational views (CIP section 1); this node always sends ``sender_view``."""

    sender_view: TrustState | None = None
    receiver_view: ReceiverView = "unknown"


class SenderState(msgspec.Struct, frozen=True):
    """Our state as this node sends it (``presence`` and ``lri`` always; ``intent`` left
    out when None, never ``null``)."""

    presence: Presence
    lri: Lri
    kernel_signals: Signals = []
    intent: Label | None = None


class PeerState(msgspec.Struct, frozen=True):
    """A received ``state`` block: every member optional, as in the original
    (``SenderState`` is what this node sends, and always fits it)."""

    presence: Presence | None = None
    lri: Lri | None = None
    kernel_signals: Signals = []
    intent: Label | None = None


P = TypeVar("P")


class CipEnvelope(msgspec.Struct, Generic[P], frozen=True, kw_only=True):
    """A CIP/1.0 envelope; ``payload`` is the Struct for ``type`` once validated.
    ``trust`` and ``state`` are None when the sender left them out."""

    cip: Literal["1.0"]
    msg_id: MsgId
    type: MessageType
    timestamp: Timestamp
    sender: Sender
    # Exactly one of the two (CIP_SPEC §11): ``receiver`` point to point, ``topic`` for a
    # broadcast on a gossip topic; both are covered by the signature.
    receiver: Receiver | None = None
    topic: Topic | None = None
    trust: TrustViews | None = None
    state: PeerState | None = None
    payload: P
    sign: Sign


# --- payloads -----------------------------------------------------------------------


class Features(msgspec.Struct, frozen=True):
    supports_mesh: bool = False
    supports_multiplex: bool = False


class Hello(msgspec.Struct, frozen=True):
    """HELLO. The answering HELLO (and the initiator's confirming HELLO) also carry
    ``challenge_response``: a signature over the peer's challenge (``docs/CIP_SPEC.md``)."""

    protocols: Annotated[list[Token], msgspec.Meta(min_length=1, max_length=8)]
    capabilities: Annotated[list[Token], msgspec.Meta(max_length=32)]
    session_nonce: B64Nonce
    challenge: B64Challenge
    features: Features = Features()
    challenge_response: B64Signature | None = None


class Intent(msgspec.Struct, frozen=True):
    goal: Goal
    topic: Label
    priority: Priority = "normal"
    context: Text = ""


class Fact(msgspec.Struct, frozen=True):
    statement: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    domain: Label
    confidence: Confidence
    sources: Texts = []
    context: Text = ""


class DmpTrace(msgspec.Struct, frozen=True):
    decision_id: Uuid
    steps: Texts = []
    counterfactuals: Texts = []
    evidence: Texts = []


class FactPropose(msgspec.Struct, frozen=True):
    fact: Fact
    dmp_trace: DmpTrace
    causal_links: Links = []


class FactChallenge(msgspec.Struct, frozen=True):
    fact_ref: MsgId
    claim_hash: ClaimHash
    reason: Literal["conflict", "insufficient_evidence", "cannot_verify"]
    notes: Text = ""


class FactConfirm(msgspec.Struct, frozen=True):
    fact_ref: MsgId
    claim_hash: ClaimHash
    decision: Literal["confirm"]
    confidence: Confidence
    notes: Text = ""


class FactReject(msgspec.Struct, frozen=True):
    fact_ref: MsgId
    claim_hash: ClaimHash
    decision: Literal["reject"]
    confidence: Confidence
    notes: Text = ""


class SharedDecision(msgspec.Struct, frozen=True):
    choice: Label
    outcome: Text = ""
    context: Text = ""


class DecisionShare(msgspec.Struct, frozen=True):
    decision: SharedDecision
    dmp_trace: DmpTrace
    retrospective: LongText = ""


class StateUpdate(msgspec.Struct, frozen=True):
    """``intent``: ``""``, absent or ``null`` mean no intent; this node sends ``""`` then,
    as the original's example always carries the member (``CIP_SPEC.sent_defaults``)."""

    presence: Presence
    lri: Lri
    ltppeerstate: ReceiverView
    kernel_signals: Signals = []
    intent: Annotated[str, msgspec.Meta(max_length=256)] | None = None


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


# The original's votes: as ours but without ``claim_hash`` (absent: a malformed one is an
# ordinary schema error). Refused by design (D23), without counting against the sender.
class _OriginalChallenge(msgspec.Struct, frozen=True):
    fact_ref: MsgId
    reason: Literal["conflict", "insufficient_evidence", "cannot_verify"]
    notes: Text = ""
    claim_hash: None = None


class _OriginalConfirm(msgspec.Struct, frozen=True):
    fact_ref: MsgId
    decision: Literal["confirm"]
    confidence: Confidence
    notes: Text = ""
    claim_hash: None = None


class _OriginalReject(msgspec.Struct, frozen=True):
    fact_ref: MsgId
    decision: Literal["reject"]
    confidence: Confidence
    notes: Text = ""
    claim_hash: None = None


_D23 = "CIP D23, a vote must carry claim_hash"
DECLINED: dict[str, tuple[type[msgspec.Struct], str]] = {
    "FACT_CHALLENGE": (_OriginalChallenge, _D23),
    "FACT_CONFIRM": (_OriginalConfirm, _D23),
    "FACT_REJECT": (_OriginalReject, _D23),
}


def _normalise(env: Any) -> Any:
    """``fact_ref`` in lower case, as ``msg_id`` is (``norm_uuid``), so a vote names its
    claim whatever case the voter wrote it in (the signature covers the text as sent)."""
    ref = getattr(env.payload, "fact_ref", None)
    if ref is None:
        return env
    return msgspec.structs.replace(
        env, payload=msgspec.structs.replace(env.payload, fact_ref=norm_uuid(ref))
    )


# Depth of the deepest valid CIP envelope is 4 (envelope > payload > fact > sources);
# 8 leaves room and still bounds hostile nesting.
CIP_SPEC: ProtocolSpec[CipEnvelope[object]] = ProtocolSpec(
    name="cip",
    envelope=CipEnvelope,
    payloads=PAYLOADS,
    limits=Limits(max_bytes=256 * 1024, max_depth=8),
    normalise=_normalise,
    sent_defaults={"STATE_UPDATE": {"intent": ""}},
    declined=DECLINED,
    topic_check=topic_check,
)

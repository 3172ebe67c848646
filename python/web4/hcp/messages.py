"""HCP/1.0 messages: the envelope, the human-state vector and the six payloads.

Theory of operation: every type is declared once, as a frozen msgspec Struct; the
validator decodes with these types and the published JSON Schemas in
``docs/schemas/hcp/`` are generated from them (``write_schemas``; a test fails when the
files are stale). ``PAYLOAD_TYPES`` maps a message type to its payload Struct: it is the
table the generic envelope validator is parametrized with (protocol key ``"hcp"``).
Decoding never trusts the peer: wrong types and out-of-range values are refused; unknown
members are accepted and ignored, as the original leaves every object open (the signature
still covers them). ``trust`` may be left out (the original has no such block);
``state.human`` is required, as in the original. ``HCP_SPEC`` plugs HCP into the generic
validator (structure, payload, signature, receiver, timestamp, replay, trust gate);
``check_semantics`` adds the one HCP rule the schema cannot express.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec

from web4.envelope.schemas import payload_schemas, schema_text, write_schema_files
from web4.envelope.validate import MsgId, ProtocolSpec, Receiver, Sender, Sign, Timestamp
from web4.errors import PayloadSchemaError

__all__ = [
    "AFFECTS",
    "CONSENTS",
    "HCP_SPEC",
    "MESSAGE_TYPES",
    "PAYLOAD_TYPES",
    "PRESENCES",
    "Affect",
    "Consent",
    "HcpContext",
    "HcpDecision",
    "HcpEnvelope",
    "HcpFeedback",
    "HcpHello",
    "HcpIntent",
    "HcpState",
    "HcpStateUpdate",
    "HcpTrust",
    "HumanIdentity",
    "HumanPresence",
    "HumanState",
    "MessageType",
    "Receiver",
    "Sender",
    "Sign",
    "check_semantics",
    "decode_payload",
    "json_schemas",
    "write_schemas",
]

HumanPresence = Literal["focused", "diffuse", "overloaded", "engaged"]
Affect = Literal["calm", "tense", "anxious", "energized", "neutral"]
Consent = Literal["granted", "limited", "revoked"]
SocialView = Literal["untrusted", "probing", "trusted", "restricted"]
MessageType = Literal[
    "HCP_HELLO",
    "HCP_INTENT",
    "HCP_CONTEXT",
    "HCP_DECISION",
    "HCP_FEEDBACK",
    "HCP_STATE_UPDATE",
]
PRESENCES: tuple[str, ...] = ("focused", "diffuse", "overloaded", "engaged")
AFFECTS: tuple[str, ...] = ("calm", "tense", "anxious", "energized", "neutral")
CONSENTS: tuple[str, ...] = ("granted", "limited", "revoked")

Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
Text = Annotated[str, msgspec.Meta(max_length=4096)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
# A consent scope entry: ``topic:`` then a lowercase topic path, e.g. ``topic:work/hiring``.
ScopeEntry = Annotated[
    str, msgspec.Meta(pattern=r"^topic:[a-z0-9_\-]+(/[a-z0-9_\-]+)*$", max_length=256)
]
SafetyFlag = Literal["avoid_conflict", "slow_pacing"]


# --- envelope (shared blocks come from the generic validator) ------------------------

P = TypeVar("P")


class HcpTrust(msgspec.Struct, frozen=True):
    """Social trust views (HCP's own vocabulary; ``unknown`` before any exchange)."""

    sender_view: SocialView
    receiver_view: SocialView | Literal["unknown"]


class HumanState(msgspec.Struct, frozen=True):
    """The human-state vector, carried in every HCP envelope as ``state.human``."""

    presence: HumanPresence
    affect: Affect
    clarity: Percent
    pressure: Percent
    intent: Text
    consent: Consent


class HcpState(msgspec.Struct, frozen=True):
    human: HumanState


class HcpEnvelope(msgspec.Struct, Generic[P], frozen=True, kw_only=True):
    """An HCP/1.0 envelope; ``payload`` is the Struct of ``type`` once validated.
    ``trust`` is None when the sender left it out (the original has no ``trust``)."""

    hcp: Literal["1.0"]
    msg_id: MsgId
    type: MessageType
    timestamp: Timestamp
    sender: Sender
    receiver: Receiver
    trust: HcpTrust | None = None
    state: HcpState
    payload: P
    sign: Sign


# --- payloads -----------------------------------------------------------------------


class HumanIdentity(msgspec.Struct, frozen=True):
    name: Short
    role: Short


class HcpHello(msgspec.Struct, frozen=True):
    identity: HumanIdentity
    consent_scope: Annotated[list[ScopeEntry], msgspec.Meta(max_length=64)]
    safety_flags: Annotated[list[SafetyFlag], msgspec.Meta(max_length=8)]


class HcpIntent(msgspec.Struct, frozen=True):
    goal: Literal["align", "request", "clarify", "decide", "resolve_conflict"]
    topic: Short
    priority: Literal["low", "normal", "high"]


class HcpContext(msgspec.Struct, frozen=True):
    context: Text
    constraints: Annotated[list[Text], msgspec.Meta(max_length=64)]
    shared_history: Annotated[list[Text], msgspec.Meta(max_length=64)]


class HcpDecision(msgspec.Struct, frozen=True):
    """A decision is valid only with a non-empty rationale and at least one alternative."""

    decision: NonEmpty
    rationale: NonEmpty
    alternatives: Annotated[list[NonEmpty], msgspec.Meta(min_length=1, max_length=32)]
    follow_up: Text


class HcpFeedback(msgspec.Struct, frozen=True):
    feedback: Text
    corrections: Annotated[list[Text], msgspec.Meta(max_length=64)]
    satisfaction: Percent


class HcpStateUpdate(msgspec.Struct, frozen=True):
    presence: HumanPresence
    affect: Affect
    clarity: Percent
    pressure: Percent
    consent: Consent


Payload = HcpHello | HcpIntent | HcpContext | HcpDecision | HcpFeedback | HcpStateUpdate

PAYLOAD_TYPES: Mapping[str, type[Payload]] = {
    "HCP_HELLO": HcpHello,
    "HCP_INTENT": HcpIntent,
    "HCP_CONTEXT": HcpContext,
    "HCP_DECISION": HcpDecision,
    "HCP_FEEDBACK": HcpFeedback,
    "HCP_STATE_UPDATE": HcpStateUpdate,
}
MESSAGE_TYPES: tuple[str, ...] = tuple(PAYLOAD_TYPES)


def decode_payload(msg_type: str, payload: Any) -> Payload:
    """The typed payload of ``msg_type``.

    Raises ``PayloadSchemaError`` for an unknown type or a payload of the wrong shape
    (for ``HCP_DECISION``: a missing or empty rationale or no alternatives).
    """
    struct = PAYLOAD_TYPES.get(msg_type)
    if struct is None:
        raise PayloadSchemaError(f"unknown HCP message type {msg_type!r}")
    try:
        return msgspec.convert(payload, struct)
    except msgspec.ValidationError as e:
        raise PayloadSchemaError(f"{msg_type} payload: {e}") from e


HCP_SPEC: ProtocolSpec[HcpEnvelope[Any]] = ProtocolSpec(
    name="hcp", envelope=HcpEnvelope, payloads=PAYLOAD_TYPES
)
"""What the generic ``web4.envelope.validate.Validator`` needs to validate HCP."""


def check_semantics(env: HcpEnvelope[Any]) -> None:
    """HCP rules beyond the schema, run after the generic validator.

    Raises ``PayloadSchemaError`` when an ``HCP_STATE_UPDATE`` payload disagrees with
    the envelope's ``state.human`` (both are snapshots of the same moment).
    """
    payload = env.payload
    if isinstance(payload, HcpStateUpdate):
        h = env.state.human
        mine = (h.presence, h.affect, h.clarity, h.pressure, h.consent)
        theirs = (
            payload.presence,
            payload.affect,
            payload.clarity,
            payload.pressure,
            payload.consent,
        )
        if mine != theirs:
            raise PayloadSchemaError("HCP_STATE_UPDATE payload disagrees with state.human")


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for the envelope and each payload type."""
    return payload_schemas(HCP_SPEC)


def write_schemas(directory: str | Path) -> list[Path]:
    """Write ``json_schemas()`` into ``directory``; returns the paths written."""
    texts = {name: schema_text(schema) for name, schema in json_schemas().items()}
    return write_schema_files(texts, directory)


if __name__ == "__main__":  # pragma: no cover - regeneration entry point
    import sys

    for p in write_schemas(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas/hcp"):
        print(p)

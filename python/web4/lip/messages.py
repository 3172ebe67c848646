"""LIP/1.0 messages: the envelope with its ``source`` block and the five payloads.

Theory of operation: declared once as frozen msgspec Structs; ``LIP_SPEC`` plugs them
into the generic validator (``web4.envelope.validate``), and ``json_schemas`` /
``write_schemas`` publish them under ``docs/schemas/lip/`` (a test fails when stale).
The envelope shares ``sender``/``receiver``/``sign`` with every protocol and ``trust`` /
``state`` with CIP (LIP messages travel between agents: the fetching agent and the peers
it asks to corroborate). ``source`` says where the evidence came from: ``uri``, the
source's ``trust_tier`` at send time and ``retrieved_at``. Claims are named by
``claim_id`` (hex SHA-256 of the normalized statement, ``web4.lip.extract``), which is
how a peer's evidence corroborates ours and how ACCEPT/REJECT/CONFLICT refer to claims.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec

from web4.cip.messages import SenderState, TrustViews
from web4.envelope.schemas import payload_schemas, schema_text, write_schema_files
from web4.envelope.validate import (
    AgentId,
    Limits,
    MsgId,
    ProtocolSpec,
    Receiver,
    Sender,
    Sign,
    Timestamp,
    Token,
)

__all__ = [
    "LIP_SPEC",
    "MESSAGE_TYPES",
    "PAYLOAD_TYPES",
    "TIERS",
    "Claim",
    "ClaimConflict",
    "Evidence",
    "LipAccept",
    "LipConflict",
    "LipEnvelope",
    "LipEvidence",
    "LipFetch",
    "LipReject",
    "Source",
    "Tier",
    "json_schemas",
    "write_schemas",
]

Tier = Literal["unknown", "low", "medium", "high", "blocked"]
TIERS: tuple[str, ...] = ("unknown", "low", "medium", "high", "blocked")
MessageType = Literal["LIP_FETCH", "LIP_EVIDENCE", "LIP_CONFLICT", "LIP_ACCEPT", "LIP_REJECT"]

Uri = Annotated[str, msgspec.Meta(pattern=r"^https?://", min_length=8, max_length=2048)]
ClaimId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
Statement = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
Text = Annotated[str, msgspec.Meta(max_length=4096)]
Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]

P = TypeVar("P")


class Source(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    uri: Uri
    trust_tier: Tier
    retrieved_at: Timestamp


class LipEnvelope(msgspec.Struct, Generic[P], frozen=True, forbid_unknown_fields=True):
    """A LIP/1.0 envelope; ``payload`` is the Struct for ``type`` once validated."""

    lip: Literal["1.0"]
    msg_id: MsgId
    type: MessageType
    timestamp: Timestamp
    sender: Sender
    receiver: Receiver
    trust: TrustViews
    state: SenderState
    source: Source
    payload: P
    sign: Sign


class LipFetch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Ask for a fetch: ``query`` is the http(s) URI to GET."""

    query: Uri
    constraints: Annotated[list[Token], msgspec.Meta(max_length=16)] = []


class Claim(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    claim_id: ClaimId
    statement: Statement
    locator: Annotated[str, msgspec.Meta(max_length=64)] = ""


class Evidence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Provenance of the fetched bytes the claims were extracted from."""

    uri: Uri
    final_uri: Uri
    retrieved_at: Timestamp
    sha256: Sha256
    content_type: Annotated[str, msgspec.Meta(max_length=128)]
    size: Annotated[int, msgspec.Meta(ge=0)]


class LipEvidence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    claims: Annotated[list[Claim], msgspec.Meta(max_length=64)]
    evidence: Evidence
    confidence: Confidence
    extraction_notes: Text = ""


class ClaimConflict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    claim_id: ClaimId
    local_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    note: Text = ""


class LipConflict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    conflicts: Annotated[list[ClaimConflict], msgspec.Meta(min_length=1, max_length=64)]
    local_refs: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=256)]], msgspec.Meta(max_length=64)
    ]
    severity: Literal["low", "medium", "high"]


class LipAccept(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: Literal["accept"]
    claim_ids: Annotated[list[ClaimId], msgspec.Meta(min_length=1, max_length=64)]
    reason: Text
    corroborators: Annotated[list[AgentId], msgspec.Meta(max_length=32)] = []


class LipReject(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: Literal["reject"]
    claim_ids: Annotated[list[ClaimId], msgspec.Meta(min_length=1, max_length=64)]
    reason: Text
    corroborators: Annotated[list[AgentId], msgspec.Meta(max_length=32)] = []


PAYLOAD_TYPES: dict[str, type[msgspec.Struct]] = {
    "LIP_FETCH": LipFetch,
    "LIP_EVIDENCE": LipEvidence,
    "LIP_CONFLICT": LipConflict,
    "LIP_ACCEPT": LipAccept,
    "LIP_REJECT": LipReject,
}
MESSAGE_TYPES: tuple[str, ...] = tuple(PAYLOAD_TYPES)

# Deepest valid envelope: envelope > payload > claims > claim = 4; 8 bounds hostile input.
# 64 claims of 4 KiB fit in 512 KiB.
LIP_SPEC: ProtocolSpec[LipEnvelope[Any]] = ProtocolSpec(
    name="lip",
    envelope=LipEnvelope,
    payloads=PAYLOAD_TYPES,
    limits=Limits(max_bytes=512 * 1024, max_depth=8),
)


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for the envelope and each payload type."""
    return payload_schemas(LIP_SPEC)


def write_schemas(directory: str | Path) -> list[Path]:
    """Write ``json_schemas()`` into ``directory``; returns the paths written."""
    texts = {name: schema_text(schema) for name, schema in json_schemas().items()}
    return write_schema_files(texts, directory)


if __name__ == "__main__":  # pragma: no cover - regeneration entry point
    import sys

    for p in write_schemas(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas/lip"):
        print(p)

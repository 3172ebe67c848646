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

Accepted inbound beside these shapes (issue 16), as the original specification writes
them: envelopes without ``trust``/``state``, unknown members anywhere but ``sign``, a
``query`` that is any string, ``LIP_EVIDENCE`` with ``claims`` and ``evidence`` as lists
of strings (``LipEvidenceOriginal``: the validator turns it into a ``LipEvidence``, each
claim named by its ``claim_id``, provenance from the envelope's ``source``; claims with
no evidence at all are refused), ``conflicts`` as strings, and ``LIP_ACCEPT`` /
``LIP_REJECT`` without ``claim_ids`` (they then decide no claim here). What this node
sends keeps the richer shapes (the original schemas leave ``payload`` open).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec

from web4.cip.messages import PeerState, TrustViews
from web4.envelope.crypto import canonicalize
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
from web4.errors import CanonicalizationError, PayloadSchemaError
from web4.lip.extract import claim_id, normalize

__all__ = [
    "LIP_SPEC",
    "MESSAGE_TYPES",
    "ORIGINAL_EVIDENCE_TYPE",
    "PAYLOAD_TYPES",
    "TIERS",
    "Claim",
    "ClaimConflict",
    "Evidence",
    "LipAccept",
    "LipConflict",
    "LipEnvelope",
    "LipEvidence",
    "LipEvidenceOriginal",
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


class Source(msgspec.Struct, frozen=True):
    uri: Uri
    trust_tier: Tier
    retrieved_at: Timestamp


class LipEnvelope(msgspec.Struct, Generic[P], frozen=True, kw_only=True):
    """A LIP/1.0 envelope; ``payload`` is the Struct for ``type`` once validated.
    ``trust``/``state`` are None when left out (the original has neither)."""

    lip: Literal["1.0"]
    msg_id: MsgId
    type: MessageType
    timestamp: Timestamp
    sender: Sender
    receiver: Receiver
    trust: TrustViews | None = None
    state: PeerState | None = None
    source: Source
    payload: P
    sign: Sign


# The original's `query` is any string. This node fetches only http(s) URIs (LIP_SPEC
# section 4) and never searches: any other query is accepted and its fetch fails.
Query = Annotated[str, msgspec.Meta(max_length=2048)]


class LipFetch(msgspec.Struct, frozen=True):
    """Ask for a fetch: ``query`` is the http(s) URI to GET (this node sends only URIs)."""

    query: Query
    constraints: Annotated[list[Token], msgspec.Meta(max_length=16)] = []


class Claim(msgspec.Struct, frozen=True):
    claim_id: ClaimId
    statement: Statement
    locator: Annotated[str, msgspec.Meta(max_length=64)] = ""


class Evidence(msgspec.Struct, frozen=True):
    """Provenance of the fetched bytes the claims were extracted from."""

    uri: Uri
    final_uri: Uri
    retrieved_at: Timestamp
    sha256: Sha256
    content_type: Annotated[str, msgspec.Meta(max_length=128)]
    size: Annotated[int, msgspec.Meta(ge=0)]


class LipEvidence(msgspec.Struct, frozen=True):
    claims: Annotated[list[Claim], msgspec.Meta(max_length=64)]
    evidence: Evidence
    confidence: Confidence
    extraction_notes: Text = ""


class LipEvidenceOriginal(msgspec.Struct, frozen=True):
    """``LIP_EVIDENCE`` as the original specification writes it: claims and evidence as
    strings. Accepted inbound; the validator turns it into a ``LipEvidence``."""

    claims: Annotated[list[Statement], msgspec.Meta(max_length=64)]
    evidence: Annotated[list[Text], msgspec.Meta(max_length=64)]
    confidence: Confidence
    extraction_notes: Text = ""


# content_type of the ``Evidence`` made from an original-shape evidence list: its sha256
# and size are of the RFC 8785 form of that list, its URIs and time the envelope's source.
ORIGINAL_EVIDENCE_TYPE = "application/vnd.web4.lip-original-evidence+json"


class ClaimConflict(msgspec.Struct, frozen=True):
    claim_id: ClaimId
    local_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    note: Text = ""


class LipConflict(msgspec.Struct, frozen=True):
    """``conflicts``: this node sends objects; the original's strings are accepted too."""

    conflicts: Annotated[list[ClaimConflict | Text], msgspec.Meta(max_length=64)]
    local_refs: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=256)]], msgspec.Meta(max_length=64)
    ]
    severity: Literal["low", "medium", "high"]


class LipAccept(msgspec.Struct, frozen=True):
    """``claim_ids``: the claims decided; this node always sends them. Without them (the
    original's shape) the message decides no claim here."""

    decision: Literal["accept"]
    claim_ids: Annotated[list[ClaimId], msgspec.Meta(max_length=64)] = []
    reason: Text = ""
    corroborators: Annotated[list[AgentId], msgspec.Meta(max_length=32)] = []


class LipReject(msgspec.Struct, frozen=True):
    """``claim_ids``: the claims decided; this node always sends them. Without them (the
    original's shape) the message decides no claim here."""

    decision: Literal["reject"]
    claim_ids: Annotated[list[ClaimId], msgspec.Meta(max_length=64)] = []
    reason: Text = ""
    corroborators: Annotated[list[AgentId], msgspec.Meta(max_length=32)] = []


PAYLOAD_TYPES: dict[str, type[msgspec.Struct]] = {
    "LIP_FETCH": LipFetch,
    "LIP_EVIDENCE": LipEvidence,
    "LIP_CONFLICT": LipConflict,
    "LIP_ACCEPT": LipAccept,
    "LIP_REJECT": LipReject,
}
MESSAGE_TYPES: tuple[str, ...] = tuple(PAYLOAD_TYPES)
ALTERNATIVES: dict[str, type[msgspec.Struct]] = {"LIP_EVIDENCE": LipEvidenceOriginal}


def _normalise(env: Any) -> Any:
    """Turn an original-shape ``LIP_EVIDENCE`` into a ``LipEvidence`` (see the module
    docstring). Raises ``PayloadSchemaError`` for claims without any evidence, or a claim
    with no words (the anti-hallucination rule: nothing is taken without evidence)."""
    p = env.payload
    if not isinstance(p, LipEvidenceOriginal):
        return env
    if p.claims and not any(e.strip() for e in p.evidence):
        raise PayloadSchemaError("LIP_EVIDENCE payload: claims without evidence are refused")
    try:
        if any(not normalize(c) for c in p.claims):
            raise PayloadSchemaError("LIP_EVIDENCE payload: a claim has no words")
        listed = canonicalize(p.evidence)
        claims = [Claim(claim_id(c), c) for c in p.claims]
    except (CanonicalizationError, UnicodeError) as e:  # e.g. a lone surrogate: the peer's
        raise PayloadSchemaError(f"LIP_EVIDENCE payload is not valid text: {e}") from e
    source: Source = env.source
    evidence = Evidence(
        uri=source.uri,
        final_uri=source.uri,
        retrieved_at=source.retrieved_at,
        sha256=hashlib.sha256(listed).hexdigest(),
        content_type=ORIGINAL_EVIDENCE_TYPE,
        size=len(listed),
    )
    upgraded = LipEvidence(claims, evidence, p.confidence, p.extraction_notes)
    return msgspec.structs.replace(env, payload=upgraded)


# Deepest valid envelope: envelope > payload > claims > claim = 4; 8 bounds hostile input.
# 64 claims of 4 KiB fit in 512 KiB.
LIP_SPEC: ProtocolSpec[LipEnvelope[Any]] = ProtocolSpec(
    name="lip",
    envelope=LipEnvelope,
    payloads=PAYLOAD_TYPES,
    limits=Limits(max_bytes=512 * 1024, max_depth=8),
    alternatives=ALTERNATIVES,
    normalise=_normalise,
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

"""What the language model must answer with: three strict msgspec Structs.

Theory of operation: a model's output is untrusted text. The agent asks for JSON (and,
where the server supports it, for exactly these JSON Schemas), then decodes the text with
these Structs: unknown fields, missing fields, wrong types, empty strings and values out
of range are refused (``msgspec.ValidationError``), so nothing a model made up in the
wrong shape can reach a peer or a human. The limits are CIP's and HCP's own (a statement
of at most 4096 characters, a domain of at most 256, confidence within 0..1, at most 64
sources), so a draft that decodes also builds a valid message. ``json_schema`` gives the
schema sent to the server (flat: no ``$ref``, every field required, no extra fields, the
form OpenAI's strict structured outputs and llama.cpp's grammar both take).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = ["FactDraft", "ReplyDraft", "VoteDraft", "json_schema"]

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Item = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class FactDraft(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A fact the model proposes, with its reasoning trace (CIP ``FACT_PROPOSE``)."""

    statement: Text
    domain: Label
    confidence: Unit
    sources: Annotated[list[Item], msgspec.Meta(min_length=1, max_length=16)]
    steps: Annotated[list[Item], msgspec.Meta(min_length=1, max_length=32)]
    counterfactuals: Annotated[list[Item], msgspec.Meta(max_length=16)]
    evidence: Annotated[list[Item], msgspec.Meta(max_length=32)]


class VoteDraft(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The model's vote on a peer's claim, with the reason it gives."""

    decision: Literal["confirm", "reject", "challenge"]
    confidence: Unit
    reason: Text


class ReplyDraft(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The model's answer to a human (HCP: a decision needs a rationale and at least one
    alternative)."""

    decision: Text
    rationale: Text
    alternatives: Annotated[list[Text], msgspec.Meta(min_length=1, max_length=8)]


def json_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """The JSON Schema of ``struct``, inlined (no ``$ref``)."""
    schema = msgspec.json.schema(struct)
    inner: dict[str, Any] = schema["$defs"][struct.__name__]
    inner.pop("title", None)
    return inner

"""Publishing a protocol's JSON Schemas from its msgspec declarations.

Theory of operation: a protocol's ``ProtocolSpec`` (envelope Struct + type -> payload
table) is its only declaration; ``payload_schemas`` renders it with
``msgspec.json.schema`` into ``envelope.schema.json`` plus one ``<type>.schema.json``
per payload (a payload with an accepted alternative shape, ``ProtocolSpec.alternatives``,
is ``anyOf`` both), and ``write_schema_files`` writes them deterministically (sorted keys,
two-space indent, trailing newline) so a test can compare the committed files under
``docs/schemas/<protocol>/`` byte for byte. HCP and LIP publish this form; CIP renders
whole per-type envelopes (``web4.cip.schemas``) and shares only the writing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from web4.envelope.validate import ProtocolSpec

__all__ = ["payload_schemas", "schema_text", "write_schema_files"]


def payload_schemas(spec: ProtocolSpec[Any]) -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema: the envelope (payload left open) and each payload."""
    envelope: Any = spec.envelope
    out: dict[str, dict[str, Any]] = {
        "envelope.schema.json": msgspec.json.schema(envelope[dict[str, Any]])
    }
    for name, struct in spec.payloads.items():
        alternative = spec.alternatives.get(name)
        if alternative is None:
            out[f"{name.lower()}.schema.json"] = msgspec.json.schema(struct)
            continue
        refs, defs = msgspec.json.schema_components([struct, alternative])
        out[f"{name.lower()}.schema.json"] = {
            "anyOf": list(refs),
            "description": (
                f"{name}: the first shape is what this runtime sends; the second, the "
                "original specification's, is accepted too"
            ),
            "$defs": defs,
        }
    return out


def schema_text(schema: Mapping[str, Any]) -> str:
    """The committed form of one schema document."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema_files(documents: Mapping[str, str], directory: str | Path) -> list[Path]:
    """Write ``name -> text`` into ``directory`` (created if needed); returns the paths.

    Raises ``OSError`` if the directory or a file cannot be written.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in documents.items():
        path = d / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written

"""Generate the published JSON Schemas of CIP/1.0 from the message Structs.

Theory of operation: ``web4.cip.messages`` is the only declaration of CIP's shape; this
module renders it with ``msgspec.json.schema`` into one file per message type (the whole
envelope with that type's payload) plus ``envelope.schema.json`` (payload left open).
The output is deterministic (sorted keys, two-space indent, trailing newline), so a test
can compare the committed files under ``docs/schemas/cip/`` byte for byte.

Run ``python -m web4.cip.schemas [OUT_DIR]`` (default ``docs/schemas/cip``) to rewrite.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec

from web4.cip.messages import PAYLOADS, CipEnvelope
from web4.envelope.schemas import schema_text, write_schema_files

__all__ = ["DEFAULT_OUT_DIR", "render_schemas", "write_schemas"]

DEFAULT_OUT_DIR = Path("docs/schemas/cip")
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _document(schema: dict[str, Any], title: str, description: str) -> str:
    return schema_text({"$schema": _DIALECT, "title": title, "description": description, **schema})


def render_schemas() -> dict[str, str]:
    """File name -> schema text, for the envelope and each of the eight types."""
    out = {
        "envelope.schema.json": _document(
            msgspec.json.schema(CipEnvelope),
            "CIP/1.0 envelope",
            "Any CIP/1.0 envelope; the payload shape depends on `type` (see the "
            "per-type schemas). Generated from web4.cip.messages; do not edit.",
        )
    }
    for msg_type, payload in PAYLOADS.items():
        schema = msgspec.json.schema(CipEnvelope[payload])  # type: ignore[valid-type]
        # Pin `type` to this message type in the per-type document.
        envelope_def = schema["$defs"][schema["$ref"].rsplit("/", 1)[1]]
        envelope_def["properties"]["type"] = {"enum": [msg_type]}
        out[f"{msg_type.lower()}.schema.json"] = _document(
            schema,
            f"CIP/1.0 {msg_type} envelope",
            f"A CIP/1.0 envelope of type {msg_type}. Generated from web4.cip.messages; "
            "do not edit.",
        )
    return out


def write_schemas(out_dir: Path = DEFAULT_OUT_DIR) -> list[Path]:
    """Write every schema into ``out_dir`` (created if needed); return the paths.

    Raises ``OSError`` if the directory or a file cannot be written.
    """
    return write_schema_files(render_schemas(), out_dir)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else DEFAULT_OUT_DIR
    for path in write_schemas(out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The committed JSON Schemas are exactly what the message Structs generate, and they
describe what the validator accepts."""

from __future__ import annotations

import json
from pathlib import Path

from web4.cip import schemas
from web4.cip.messages import MESSAGE_TYPES

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "cip"


def test_committed_schemas_are_fresh() -> None:
    rendered = schemas.render_schemas()
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMA_DIR.glob("*.json")}
    assert set(committed) == set(rendered), "run `python -m web4.cip.schemas`"
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} is stale: run `python -m web4.cip.schemas`"


def test_one_schema_per_type_with_limits() -> None:
    rendered = schemas.render_schemas()
    assert len(rendered) == len(MESSAGE_TYPES) + 1
    fact = json.loads(rendered["fact_propose.schema.json"])
    defs = fact["$defs"]
    assert defs["Fact"]["properties"]["confidence"] == {
        "type": "number",
        "minimum": 0.0,
        "maximum": 1.0,
    }
    # Open objects, as in the original (issue 16); only `sign` is closed.
    assert "additionalProperties" not in defs["Fact"]
    assert defs["Sign"]["additionalProperties"] is False
    state = json.loads(rendered["state_update.schema.json"])["$defs"]["StateUpdate"]
    assert state["properties"]["lri"]["maximum"] == 100
    assert state["properties"]["presence"]["enum"] == [
        "diffuse",
        "engaged",
        "focused",
        "overloaded",
    ]


def test_generator_writes_files(tmp_path: Path) -> None:
    assert schemas.main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(schemas.render_schemas())

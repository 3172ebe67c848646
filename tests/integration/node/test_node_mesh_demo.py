"""`web4 mesh-demo`: four real node processes; the newcomer's fact is accepted by the
consensus of anchored peers and that moves the newcomer probing -> trusted everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from nodeproc import web4

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "events.schema.json"

pytestmark = pytest.mark.timeout(90)


def test_mesh_demo_propagates_trust_by_verified_knowledge() -> None:
    run = web4("mesh-demo", "--agents", "4", "--json", timeout=80)
    assert run.returncode == 0, run.stderr[-2000:]
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    events, summary = [], None
    for line in run.stdout.splitlines():
        doc = json.loads(line)
        if "mesh_summary" in doc:
            summary = doc["mesh_summary"]
            continue
        validator.validate(doc)
        events.append(doc)
    assert summary is not None
    assert summary["result"] == "ok"
    for name in ("ann", "bo", "cy"):
        assert summary[name]["newcomer"] == "trusted"
    # the newcomer became trusted by verified knowledge, not by an operator anchor
    promoted = [
        e
        for e in events
        if e["kind"] == "trust.transition"
        and e["node"] != "new"
        and e["attributes"]["to"] == "trusted"
        and e["attributes"]["event"] == "knowledge_verified"
    ]
    assert {e["node"] for e in promoted} == {"ann", "bo", "cy"}
    accepted = [e for e in events if e["kind"] == "knowledge.claim_accepted"]
    assert {e["node"] for e in accepted} == {"ann", "bo", "cy", "new"}
    assert all(e["attributes"]["has"] >= 2 for e in accepted)


def test_mesh_demo_refuses_a_size_out_of_range() -> None:
    run = web4("mesh-demo", "--agents", "11")
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1
    assert "3..10" in run.stderr

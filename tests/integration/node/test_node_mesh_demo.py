"""`web4 mesh-demo`: four real node processes; the newcomer's fact is accepted by the
consensus of anchored peers, which earns the newcomer no trust; its contradicting
statement is disputed and demotes it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from support.nodeproc import web4

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "events.schema.json"

pytestmark = pytest.mark.timeout(90)


def test_mesh_demo_accepts_by_consensus_and_knowledge_buys_no_trust() -> None:
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
        assert summary[name]["newcomer"] == "untrusted"
    # verified knowledge never promoted the newcomer anywhere
    promoted = [
        e
        for e in events
        if e["kind"] == "trust.transition"
        and e["attributes"]["to"] == "trusted"
        and e["attributes"]["event"] == "knowledge_verified"
    ]
    assert promoted == []
    accepted = [e for e in events if e["kind"] == "knowledge.claim_accepted"]
    assert {e["node"] for e in accepted} == {"ann", "bo", "cy", "new"}
    assert all(e["attributes"]["has"] >= 2 for e in accepted)
    disputed = [e for e in events if e["kind"] == "knowledge.claim_disputed"]
    assert {e["node"] for e in disputed} == {"ann", "bo", "cy", "new"}


def test_mesh_demo_refuses_a_size_out_of_range() -> None:
    run = web4("mesh-demo", "--agents", "11")
    assert run.returncode == 2  # a usage error
    assert run.stderr.count("\n") == 1
    assert "3..10" in run.stderr

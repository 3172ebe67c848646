"""``web4 demo`` (from this source checkout) ends with the librarian step: alice runs
``examples/librarian`` and answers a second session's question from a web page she
accepted once bob corroborated it, with that acceptance as the rationale."""

from __future__ import annotations

import json

import pytest
from example_nodes import web4

pytestmark = pytest.mark.slow


def test_the_demo_shows_the_librarian_answering_from_accepted_knowledge() -> None:
    demo = web4("demo", "--json", "--timeout", "60", timeout=120)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-2000:]
    docs = [json.loads(line) for line in demo.stdout.splitlines()]
    said = [d["text"] for d in docs if d.get("source") == "dana"]
    answer = next(t for t in said if "decision:" in t)
    assert answer.endswith(
        "decision: Mount Everest is the highest mountain above sea level on Earth."
    )
    rationale = next(t for t in said if "rationale:" in t)
    assert "accepted by this node's knowledge rules" in rationale
    assert "(LIP: source tier is" in rationale
    assert "/everest.html" in rationale
    (summary,) = [d["demo_summary"] for d in docs if "demo_summary" in d]
    assert summary["result"] == "ok"
    assert summary["missing"] == []

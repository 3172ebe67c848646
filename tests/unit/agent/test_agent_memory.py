"""InMemoryMemory: bounded, linked."""

from __future__ import annotations

import msgspec
import pytest

from web4.agent import DecisionRecord, InMemoryMemory, KnowledgeAccepted
from web4.cip.messages import DmpTrace
from web4.errors import ConfigError


def _trace(i: int) -> DecisionRecord:
    return DecisionRecord(DmpTrace(f"d-{i}", ["s"], [], ["e"]), choice=f"c{i}")


def test_bounded_with_evictions_and_links():
    m = InMemoryMemory(capacity=3)
    for i in range(5):
        m.record_decision(_trace(i))
    assert [t.decision_id for t in m.decisions] == ["d-2", "d-3", "d-4"]
    assert m.evicted == 2
    assert m.decision("d-0") is None
    m.record_accepted(KnowledgeAccepted("c-1", "s", decision_id="d-4"))
    m.record_accepted(KnowledgeAccepted("c-2", "s"))
    m.record_accepted(KnowledgeAccepted("c-3", "s", decision_id="d-0"))
    assert m.links("c-1") == _trace(4)
    assert m.links("c-2") is None
    assert m.links("c-3") is None  # its decision was evicted
    assert m.links("nope") is None
    assert [c.claim_id for c in m.accepted] == ["c-1", "c-2", "c-3"]
    assert msgspec.to_builtins(_trace(1).trace) == {
        "decision_id": "d-1",
        "steps": ["s"],
        "counterfactuals": [],
        "evidence": ["e"],
    }
    with pytest.raises(ConfigError):
        InMemoryMemory(0)

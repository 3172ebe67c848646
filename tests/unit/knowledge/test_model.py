"""Knowledge values are checked (check_fact, check_trace, check_decision over the CIP
Structs; CausalLink checks itself): bad peer input is a KnowledgeError, bad local settings
a ConfigError."""

from __future__ import annotations

import uuid

import pytest

from web4.errors import ConfigError, KnowledgeError
from web4.knowledge import (
    CausalLink,
    DmpTrace,
    Fact,
    KnowledgePolicy,
    LinkRelation,
    LocalState,
    SharedDecision,
    check_decision,
    check_fact,
    check_trace,
)

DID = str(uuid.uuid4())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"statement": ""},
        {"statement": "   "},
        {"statement": "x" * 4097},
        {"statement": 5},
        {"domain": ""},
        {"domain": "d" * 257},
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"confidence": float("nan")},
        {"confidence": True},
        {"confidence": "0.5"},
        {"sources": "not-a-list"},
        {"sources": ["s"] * 65},
        {"sources": [7]},
        {"context": "c" * 4097},
    ],
)
def test_bad_facts(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"statement": "s", "domain": "d", "confidence": 0.5}
    base.update(kwargs)
    with pytest.raises(KnowledgeError):
        check_fact(Fact(**base))  # type: ignore[arg-type]


def test_fact_normalises_containers() -> None:
    f = check_fact(Fact("s", "d", 1, ["a", "b"]))  # type: ignore[arg-type]
    assert f.sources == ["a", "b"]  # one shape: the list decoding gives
    assert f.confidence == 1.0
    assert isinstance(f.confidence, float)


def test_trace_canonicalises_uuid_and_limits() -> None:
    t = check_trace(DmpTrace(DID.upper(), ["s"], [], ["e"]))  # type: ignore[arg-type]
    assert t.decision_id == DID
    assert t.steps == ["s"]
    with pytest.raises(KnowledgeError, match="UUID"):
        check_trace(DmpTrace("not-a-uuid"))
    with pytest.raises(KnowledgeError):
        check_trace(DmpTrace(DID, ["s"] * 257))
    with pytest.raises(KnowledgeError):
        check_trace(DmpTrace(DID, [], ["x" * 5000]))


def test_causal_links_parse() -> None:
    assert CausalLink.parse("m1") == CausalLink("m1", LinkRelation.RELATES_TO)
    assert CausalLink.parse({"target": "m2", "relation": "contradicts"}).relation == "contradicts"
    assert CausalLink.parse_all(["a", {"target": "b"}]) == (CausalLink("a"), CausalLink("b"))
    for bad in [5, {"relation": "supports"}, {"target": "a", "extra": 1}, {"target": ""}]:
        with pytest.raises(KnowledgeError):
            CausalLink.parse(bad)
    with pytest.raises(KnowledgeError, match="relation"):
        CausalLink("a", "loves")
    with pytest.raises(KnowledgeError):
        CausalLink.parse_all("a")
    with pytest.raises(KnowledgeError):
        CausalLink.parse_all(["a"] * 65)


def test_shared_decision_limits() -> None:
    assert check_decision(SharedDecision("go")).outcome == ""
    with pytest.raises(KnowledgeError):
        check_decision(SharedDecision(""))
    with pytest.raises(KnowledgeError):
        check_decision(SharedDecision("go", "o" * 4097))


def test_local_state_and_policy() -> None:
    policy = KnowledgePolicy()
    assert LocalState("focused", 79).allows_new_work(policy)
    assert not LocalState("focused", 80).allows_new_work(policy)
    assert not LocalState("overloaded", 0).allows_new_work(policy)
    assert LocalState("focused", 80).allows_new_work(KnowledgePolicy(lri_threshold=90))
    for bad in [("sleepy", 0), ("focused", 101), ("focused", -1), ("focused", True)]:
        with pytest.raises(ConfigError):
            LocalState(*bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        KnowledgePolicy(min_confirmations=1)
    with pytest.raises(ConfigError):
        KnowledgePolicy(lri_threshold=101)

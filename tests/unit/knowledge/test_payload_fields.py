"""Decoded CIP payload fields build the knowledge inputs one to one (the router's job):
whatever the CIP payload schema accepts, the knowledge types accept too."""

from __future__ import annotations

import uuid

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from web4.cip import messages as m
from web4.knowledge import (
    CausalLink,
    DmpTrace,
    Fact,
    SharedDecision,
    check_decision,
    check_fact,
    check_trace,
)

texts = st.lists(st.text(max_size=40), max_size=5)


def to_fact(p: m.Fact) -> Fact:
    return check_fact(Fact(p.statement, p.domain, p.confidence, list(p.sources), p.context))


def to_trace(p: m.DmpTrace) -> DmpTrace:
    return check_trace(
        DmpTrace(p.decision_id, list(p.steps), list(p.counterfactuals), list(p.evidence))
    )


@settings(max_examples=60, deadline=None)
@given(
    statement=st.text(min_size=1, max_size=60).filter(str.strip),
    domain=st.text(min_size=1, max_size=20).filter(str.strip),
    confidence=st.floats(0, 1),
    sources=texts,
    steps=texts,
    counterfactuals=texts,
)
def test_fact_propose_fields_build_knowledge_inputs(
    statement, domain, confidence, sources, steps, counterfactuals
) -> None:
    raw = {
        "fact": {"statement": statement, "domain": domain, "confidence": confidence,
                 "sources": sources},
        "dmp_trace": {"decision_id": str(uuid.uuid4()), "steps": steps,
                      "counterfactuals": counterfactuals, "evidence": sources},
        "causal_links": [str(uuid.uuid4())],
    }  # fmt: skip
    payload = msgspec.convert(raw, m.FactPropose)
    fact, trace = to_fact(payload.fact), to_trace(payload.dmp_trace)
    links = CausalLink.parse_all(payload.causal_links)
    assert fact.statement == statement
    assert trace.decision_id == raw["dmp_trace"]["decision_id"]
    assert links[0].relation == "relates_to"


def test_decision_share_fields_build_knowledge_inputs() -> None:
    raw = {
        "decision": {"choice": "c" * 256, "outcome": "o", "context": "x"},
        "dmp_trace": {"decision_id": str(uuid.uuid4()), "steps": ["s"]},
        "retrospective": "r" * 16384,
    }
    p = msgspec.convert(raw, m.DecisionShare)
    decision = check_decision(
        SharedDecision(p.decision.choice, p.decision.outcome, p.decision.context)
    )
    assert decision.choice == "c" * 256
    assert to_trace(p.dmp_trace).steps == ["s"]

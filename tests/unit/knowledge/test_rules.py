"""The pure anti-hallucination rules: normalisation, conflicts, DMP consistency, decide."""

from __future__ import annotations

import uuid

import pytest

from web4.knowledge import (
    Assessment,
    ClaimState,
    DmpTrace,
    DmpVerdict,
    Fact,
    MemoryConflict,
    check_dmp,
    decide,
    normalize,
)
from web4.knowledge.rules import contradicts
from web4.trust import TrustState

DID = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The sky is blue.", "the sky is NOT blue"),
        ("Water isn't wet", "water is wet"),
        ("Birds can fly", "Birds cannot fly"),
        ("Birds can fly", "birds can't fly"),
        ("It will rain", "It won't rain"),
        ("The claim is true", "The claim is false"),
        ("Paris is the capital of France", "Paris is never the capital of France"),
        ("Ｔｈｅ ｓｋｙ is blue", "the sky isn\u2019t blue"),
    ],
)
def test_contradictions_are_detected(a: str, b: str) -> None:
    assert contradicts(normalize(a), normalize(b))
    assert contradicts(normalize(b), normalize(a))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The sky is blue", "The sky is blue!"),  # same claim
        ("The sky is blue", "The sea is not blue"),  # another subject
        ("The sky is not not blue", "The sky is blue"),  # double negation
        ("Water does not boil at 50 C", "Water boils at 50 C"),  # morphology: out of scope
        ("", "not"),  # empty subject never conflicts
    ],
)
def test_non_contradictions(a: str, b: str) -> None:
    assert not contradicts(normalize(a), normalize(b))


def test_normalize_shape() -> None:
    n = normalize("  The Sky  isn't   BLUE.  ")
    assert n.words == ("the", "sky", "is", "not", "blue")
    assert n.subject == "the sky is blue"
    assert n.negated
    assert n.text == "the sky is not blue"
    assert normalize("'' '").words == ()


def fact(sources: tuple[str, ...] = ("s1",), statement: str = "X is up") -> Fact:
    return Fact(statement, "d", 0.5, list(sources))


@pytest.mark.parametrize(
    ("f", "trace", "verdict", "why"),
    [
        (fact(), DmpTrace(DID, ["step"], [], ["s1", "s2"]), DmpVerdict.CONSISTENT, "consistent"),
        (fact(), DmpTrace(DID, [], [], ["s1"]), DmpVerdict.INCOMPLETE, "no steps"),
        (fact(), DmpTrace(DID, ["  "], [], ["s1"]), DmpVerdict.INCOMPLETE, "no steps"),
        (fact(()), DmpTrace(DID, ["a"], [], ["s1"]), DmpVerdict.INCOMPLETE, "no sources"),
        (fact((" ",)), DmpTrace(DID, ["a"], [], []), DmpVerdict.INCOMPLETE, "no sources"),
        (fact((" s1 ", "")), DmpTrace(DID, ["a"], [], ["s1"]), DmpVerdict.CONSISTENT, "consis"),
        (fact(("s1", "s3")), DmpTrace(DID, ["a"], [], ["s1"]), DmpVerdict.INCOMPLETE, "1 source"),
        (fact(), DmpTrace(DID, ["a"], ["x is UP!"], ["s1"]), DmpVerdict.CONTRADICTED, "counter"),
        (fact(), DmpTrace(DID, ["a"], ["x is down"], ["s1"]), DmpVerdict.CONSISTENT, "consist"),
    ],
)
def test_dmp_consistency(f: Fact, trace: DmpTrace, verdict: DmpVerdict, why: str) -> None:
    got, reason = check_dmp(f, trace)
    assert got is verdict
    assert why in reason


def A(**kw: object) -> Assessment:
    base: dict[str, object] = {
        "sender_trust": TrustState.PROBING,
        "trusted_confirmers": 0,
        "trusted_objection": False,
        "local_allows": True,
    }
    base.update(kw)
    return Assessment(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("assessment", "state"),
    [
        (A(), ClaimState.PENDING),
        (A(trusted_confirmers=2), ClaimState.ACCEPTED),
        (A(trusted_confirmers=2, min_confirmations=3), ClaimState.PENDING),
        (A(sender_trust=TrustState.UNTRUSTED, trusted_confirmers=5), ClaimState.REJECTED),
        (A(sender_trust=TrustState.BLACKLISTED), ClaimState.REJECTED),
        (A(dmp=DmpVerdict.CONTRADICTED, trusted_confirmers=3), ClaimState.REJECTED),
        (A(dmp=DmpVerdict.INCOMPLETE, trusted_objection=True), ClaimState.REJECTED),
        (A(memory=MemoryConflict.CONFLICT, trusted_confirmers=3), ClaimState.DISPUTED),
        (A(memory=MemoryConflict.SEVERE, local_allows=False), ClaimState.DISPUTED),
        (A(trusted_objection=True, trusted_confirmers=3), ClaimState.DISPUTED),
        (A(trusted_objection=True, local_allows=False), ClaimState.DISPUTED),
        (A(local_allows=False, trusted_confirmers=3), ClaimState.DEFERRED),
        (A(sender_trust=TrustState.TRUSTED, trusted_confirmers=2), ClaimState.ACCEPTED),
    ],
)
def test_decide_order(assessment: Assessment, state: ClaimState) -> None:
    got, reason = decide(assessment)
    assert got is state
    assert reason

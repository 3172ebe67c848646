"""The anti-hallucination rules, as pure functions.

Theory of operation: the exchange gathers the facts about a claim (the sender's trust,
which trusted peers confirmed or objected, whether the DMP trace is consistent, whether
causal memory contradicts it, whether local load allows new work) into an ``Assessment``
and ``decide`` maps it to a claim state, checking in a fixed order:

1. sender ``untrusted``/``blacklisted``      -> rejected
2. claim contradicts its own DMP trace       -> rejected (malicious evidence)
3. DMP trace does not support the claim      -> rejected (unverifiable)
4. conflicts with an accepted claim          -> disputed
5. a trusted peer challenged or rejected it  -> disputed
6. local presence overloaded / LRI too high  -> deferred (kept, re-evaluated later)
7. >= 2 distinct trusted confirmers          -> accepted
8. otherwise                                 -> pending

Statement normalisation (for conflicts and for "contradicts its trace"): NFKC, casefold,
words = runs of letters/digits/apostrophes; "n't" and "cannot" expand to "<verb> not";
the negators are ``not no never false``; "true" is dropped. The polarity is the parity of
the negators; the subject key is the remaining words joined by one space.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from web4.knowledge.model import ClaimState, DmpTrace, Fact
from web4.trust import TrustState

__all__ = [
    "Assessment",
    "DmpVerdict",
    "MemoryConflict",
    "Normalized",
    "check_dmp",
    "decide",
    "normalize",
]

_WORD = re.compile(r"[\w']+")
_NEGATORS = frozenset({"not", "no", "never", "false"})
_DROPPED = frozenset({"true"})
_IRREGULAR = {"ca": "can", "wo": "will", "sha": "shall", "ai": "is"}


class DmpVerdict(StrEnum):
    CONSISTENT = "consistent"
    INCOMPLETE = "incomplete"
    CONTRADICTED = "contradicted"


class MemoryConflict(StrEnum):
    NONE = "none"
    CONFLICT = "conflict"
    SEVERE = "severe"


@dataclass(frozen=True, slots=True)
class Normalized:
    """A statement reduced for comparison."""

    words: tuple[str, ...]
    subject: str
    negated: bool

    @property
    def text(self) -> str:
        return " ".join(self.words)


def normalize(statement: str) -> Normalized:
    """Normalise a statement (see the module docstring). Pure, total."""
    folded = unicodedata.normalize("NFKC", statement).casefold().replace("\u2019", "'")
    words: list[str] = []
    for raw in _WORD.findall(folded):
        word = raw.strip("'")
        if not word:
            continue
        if word == "cannot":
            words += ["can", "not"]
        elif word.endswith("n't") and len(word) > 3:
            stem = word[:-3]
            words += [_IRREGULAR.get(stem, stem), "not"]
        elif word not in _DROPPED:
            words.append(word)
    negations = sum(1 for w in words if w in _NEGATORS)
    subject = " ".join(w for w in words if w not in _NEGATORS)
    return Normalized(tuple(words), subject, negations % 2 == 1)


def contradicts(a: Normalized, b: Normalized) -> bool:
    """Same subject, opposite polarity."""
    return bool(a.subject) and a.subject == b.subject and a.negated != b.negated


def check_dmp(fact: Fact, trace: DmpTrace) -> tuple[DmpVerdict, str]:
    """Is the claim consistent with its DMP trace? Returns the verdict and why.

    Contradicted: the statement (normalised) is one of the trace's counterfactuals, i.e.
    the trace says this very statement was the rejected alternative. Incomplete: no
    non-blank step, no non-blank source, or a source the trace's evidence does not list.
    """
    said = normalize(fact.statement).text
    if any(normalize(cf).text == said for cf in trace.counterfactuals):
        return DmpVerdict.CONTRADICTED, "the statement is one of its own trace's counterfactuals"
    if not any(step.strip() for step in trace.steps):
        return DmpVerdict.INCOMPLETE, "the DMP trace has no steps"
    sources = [s.strip() for s in fact.sources if s.strip()]
    if not sources:
        return DmpVerdict.INCOMPLETE, "the fact names no sources"
    evidence = {e.strip() for e in trace.evidence}
    missing = [s for s in sources if s not in evidence]
    if missing:
        return DmpVerdict.INCOMPLETE, f"{len(missing)} source(s) missing from the trace evidence"
    return DmpVerdict.CONSISTENT, "consistent"


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything ``decide`` needs about one claim, at one moment."""

    sender_trust: TrustState
    trusted_confirmers: int
    trusted_objection: bool
    local_allows: bool
    dmp: DmpVerdict = DmpVerdict.CONSISTENT
    dmp_reason: str = "consistent"
    memory: MemoryConflict = MemoryConflict.NONE
    min_confirmations: int = 2


def decide(a: Assessment) -> tuple[ClaimState, str]:
    """The claim's state and the reason, by the ordered rules above. Pure."""
    if a.sender_trust in (TrustState.UNTRUSTED, TrustState.BLACKLISTED):
        return ClaimState.REJECTED, f"sender is {a.sender_trust}"
    if a.dmp is not DmpVerdict.CONSISTENT:
        return ClaimState.REJECTED, f"inconsistent with its DMP trace: {a.dmp_reason}"
    if a.memory is not MemoryConflict.NONE:
        return ClaimState.DISPUTED, "conflicts with an accepted claim in causal memory"
    if a.trusted_objection:
        return ClaimState.DISPUTED, "challenged or rejected by a trusted peer"
    if not a.local_allows:
        return ClaimState.DEFERRED, "local presence overloaded or LRI at/above threshold"
    if a.trusted_confirmers >= a.min_confirmations:
        return ClaimState.ACCEPTED, f"confirmed by {a.trusted_confirmers} trusted peers"
    return ClaimState.PENDING, f"{a.trusted_confirmers} trusted confirmation(s) so far"

"""What the librarian tells a human: an answer with its rationale and alternatives, or
"I don't know yet" and what it is doing about it.

Theory of operation: pure functions of the index's hits (no IO, no clock). An answer is
an HCP decision (HCP_SPEC: a decision always carries a rationale and at least one
alternative): the best accepted claim is the decision; the rationale says why the node
holds it (accepted under the knowledge rules, when, proposed and confirmed by whom with
the trust each has now, the confidence, the sources, which words of the question it
matched); the alternatives are the other matching claims, or, when there are none, what
the human can do to check it. No hit gives a reply saying so, with the follow-up the
librarian started (a LIP fetch of a link in the question, or a question to its trusted
peers), so the human knows an answer may come later.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from .index import Hit, Person

__all__ = ["Answer", "answer", "found_later", "short_fp", "unknown", "urls_in"]

MAX_FIELD = 4096  # HCP text fields
MAX_ALTERNATIVES = 3
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Answer:
    """One message to the human: ``decision`` (with rationale and alternatives) or
    ``reply`` (text only)."""

    kind: Literal["decision", "reply"]
    text: str
    rationale: str = ""
    alternatives: tuple[str, ...] = ()


def short_fp(fingerprint: str) -> str:
    """The first 12 hex digits of a fingerprint (what ``web4 peers`` shows)."""
    return fingerprint[:12]


def _clip(text: str, limit: int = MAX_FIELD) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _who(p: Person) -> str:
    return f"{short_fp(p.fingerprint)} ({p.trust})"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _provenance(hit: Hit) -> str:
    confirmed = (
        "confirmed by " + ", ".join(_who(p) for p in hit.confirmers)
        if hit.confirmers
        else "no peer's vote recorded"
    )
    sources = "; ".join(hit.sources) if hit.sources else "none given"
    return (
        f"accepted by this node's knowledge rules on {_when(hit.accepted_at)} "
        f"({hit.accepted_because}): proposed by {_who(hit.proposer)}, {confirmed}; "
        f"confidence {hit.confidence:.2f}; domain {hit.domain}; sources: {sources}"
    )


def answer(question: str, hits: Sequence[Hit]) -> Answer:
    """The answer to ``question`` from ``hits`` (best first); ``unknown`` when empty."""
    if not hits:
        return unknown(question)
    best, others = hits[0], hits[1 : 1 + MAX_ALTERNATIVES]
    rationale = (
        f"{_provenance(best)}. It matches {len(best.matched)} of the {best.of_terms} words "
        f"I searched for ({', '.join(best.matched)})."
    )
    if others:
        alternatives = tuple(
            _clip(f"{h.statement} (also accepted; confidence {h.confidence:.2f})", 512)
            for h in others
        )
    else:
        check = (
            f"read the source yourself: {best.sources[0]}"
            if best.sources
            else "ask me to have my trusted peers check it again"
        )
        alternatives = (_clip(check, 512),)
    return Answer("decision", _clip(best.statement), _clip(rationale), alternatives)


def unknown(question: str, *, fetching: str | None = None, asked: int = 0) -> Answer:
    """Says "I don't know yet", and the follow-up under way: ``fetching`` a URL (LIP) and/or
    ``asked`` trusted peers."""
    about = _clip(question, 200)
    doing: list[str] = []
    if fetching:
        doing.append(f"I am fetching {fetching} (LIP); what it says must pass the "
                     "acceptance rules first")  # fmt: skip
    if asked:
        doing.append(f"I asked {asked} trusted peer{'s' if asked != 1 else ''}; "
                     "what they propose must be confirmed by two peers I trust")  # fmt: skip
    if not doing:
        doing.append("I have no trusted peer to ask and no link to fetch, so nothing can "
                     "change this until the mesh accepts a fact about it")  # fmt: skip
    text = (
        f'I don\'t know yet: nothing this node has accepted answers "{about}". '
        + "; ".join(doing)
        + ("; I will tell you when an answer is accepted." if fetching or asked else ".")
    )
    return Answer("reply", _clip(text))


def found_later(question: str, hits: Sequence[Hit]) -> Answer:
    """The answer sent when a question left open is answered by knowledge accepted since."""
    first = answer(question, hits)
    if first.kind != "decision":
        return first
    note = f'Earlier you asked "{_clip(question, 200)}"; this was accepted since. '
    return Answer("decision", first.text, _clip(note + first.rationale), first.alternatives)


def urls_in(text: str) -> tuple[str, ...]:
    """The http(s) links in ``text``, in order, without duplicates or trailing dots."""
    out: list[str] = []
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        if url not in out:
            out.append(url)
    return tuple(out)

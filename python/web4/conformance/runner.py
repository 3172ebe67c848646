"""The wire conformance runner: a catalogue of cases played against any implementation.

Theory of operation: a ``Case`` is a name (``area.topic.detail``), what it sends, what a
conforming peer does (``expect``, in words, with the spec section), its ``kind`` and the
profiles it belongs to, and an async ``play(ctx)`` that talks to the target over the wire
(``web4.conformance.wire``) and raises ``Mismatch(seen)`` when the target does something
else. Kinds: ``positive`` (the target must do something), ``negative`` (the target must
refuse something, and the refusal is observable from outside: the case is designed around
a message that elicits a reply when accepted), ``robustness`` (the spec defines no reaction
that can be told apart from outside; the case checks what is observable: the target drops
it and keeps serving). Every case uses fresh identities, so cases are independent and run
concurrently (``jobs``); each runs under its own deadline (``Target.timeout``).

Profiles name a set of specifications: ``web4`` (this repository's docs/RTT_SPEC.md,
docs/CIP_SPEC.md, docs/HCP_SPEC.md and docs/LIP_SPEC.md, the default) and ``original``
(the original Web4 specifications; the compatibility work of issue 16 adds its cases).
A module adds cases with ``register`` and profiles with ``add_profile``; ``catalogue``
returns the cases of a profile in a fixed order (``cases_cip``, ``cases_cip_repeat``,
``cases_hcp_lip``, ``cases_rtt``).
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from web4.conformance.wire import Target
from web4.errors import ConfigError

__all__ = [
    "PROFILES",
    "Case",
    "CaseResult",
    "Kind",
    "Mismatch",
    "Outcome",
    "add_profile",
    "catalogue",
    "catalogue_markdown",
    "register",
    "run_cases",
    "select",
]

Kind = Literal["positive", "negative", "robustness"]
Outcome = Literal["pass", "fail", "error"]


class Mismatch(Exception):  # noqa: N818 - a case outcome, not an error of the runner
    """The target did not do what the case expects; ``seen`` says what it did."""

    def __init__(self, seen: str) -> None:
        super().__init__(seen)
        self.seen = seen


@dataclass(frozen=True)
class Case:
    name: str
    title: str  # what is sent, in one line
    expect: str  # what a conforming implementation does, in one line
    spec: str  # the sections that say so
    kind: Kind
    play: Callable[[Target], Awaitable[None]]
    profiles: frozenset[str] = frozenset({"web4"})
    # the case of <area>_envelopes.json (cip, hcp or lip, by the name's first part) the
    # sent envelope mirrors, re-targeted at the target
    vector: str | None = None


@dataclass(frozen=True)
class CaseResult:
    case: Case
    outcome: Outcome
    seen: str  # what the target did ("as expected" on a pass)
    seconds: float

    def to_json(self) -> dict[str, object]:
        c = self.case
        return {
            "case": c.name,
            "result": self.outcome,
            "kind": c.kind,
            "title": c.title,
            "expected": c.expect,
            "seen": self.seen,
            "spec": c.spec,
            "vector": c.vector,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Profile:
    name: str
    description: str


PROFILES: dict[str, Profile] = {}
_CASES: list[Case] = []


def add_profile(name: str, description: str) -> None:
    PROFILES[name] = Profile(name, description)


def register(case: Case) -> Case:
    """Add ``case`` to the catalogue. Raises ``ConfigError`` for a duplicate name or an
    unknown profile (a catalogue bug)."""
    if any(c.name == case.name for c in _CASES):
        raise ConfigError(f"conformance case {case.name!r} registered twice")
    unknown = case.profiles - PROFILES.keys()
    if unknown:
        raise ConfigError(f"conformance case {case.name!r}: unknown profile {sorted(unknown)}")
    _CASES.append(case)
    return case


add_profile(
    "web4",
    "this repository's specs: docs/RTT_SPEC.md, CIP_SPEC.md, HCP_SPEC.md, LIP_SPEC.md (default)",
)
add_profile(
    "original",
    "the original Web4 specifications (safal207/LS): the cases whose expectations hold there too",
)


def catalogue(profile: str = "web4") -> list[Case]:
    """The cases of ``profile``, in catalogue order. Raises ``ConfigError``."""
    _load()
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r} (known: {', '.join(sorted(PROFILES))})")
    chosen = [c for c in _CASES if profile in c.profiles]
    return sorted(chosen, key=lambda c: not c.name.startswith("rtt."))  # RTT first, stable


def catalogue_markdown(profile: str = "web4") -> str:
    """The case table of docs/conformance/README.md (a test keeps the copy there true)."""
    rows = ["| case | kind | sends | a conforming implementation | spec |", "|---|---|---|---|---|"]
    for c in catalogue(profile):
        mirror = f" (vector `{c.vector}`)" if c.vector else ""
        cells = [f"`{c.name}`", c.kind, c.title + mirror, c.expect, c.spec]
        rows.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(rows) + "\n"


def _load() -> None:
    # the case modules register themselves on import
    from web4.conformance import (  # noqa: F401
        cases_cip,
        cases_cip_repeat,
        cases_hcp_lip,
        cases_original,
        cases_rtt,
    )

    cases_original.register_all()  # compat-suite's cases of the original profile


def matches(name: str, pattern: str) -> bool:
    """A shell glob on the case name; a pattern without glob characters also matches
    every case under it (``cip.hello`` matches ``cip.hello.tampered_payload``)."""
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return name == pattern or name.startswith(pattern.rstrip(".") + ".")


def select(cases: Sequence[Case], patterns: Iterable[str]) -> list[Case]:
    """The cases any of ``patterns`` matches (all when there is none). Raises
    ``ConfigError`` naming a pattern that matches nothing."""
    patterns = list(patterns)
    if not patterns:
        return list(cases)
    for p in patterns:
        if not any(matches(c.name, p) for c in cases):
            raise ConfigError(f"--case {p!r} matches no case; --list shows the names")
    return [c for c in cases if any(matches(c.name, p) for p in patterns)]


async def _run_one(case: Case, target: Target) -> CaseResult:
    start = time.monotonic()
    try:
        async with asyncio.timeout(target.timeout):
            await case.play(target)
    except Mismatch as m:
        return CaseResult(case, "fail", m.seen, time.monotonic() - start)
    except TimeoutError:
        seen = f"no result within the case timeout of {target.timeout:g} s"
        return CaseResult(case, "fail", seen, time.monotonic() - start)
    except Exception as e:  # noqa: BLE001 - one case's surprise must not stop the others
        seen = f"{type(e).__name__}: {e}"[:300]
        return CaseResult(case, "error", seen, time.monotonic() - start)
    return CaseResult(case, "pass", "as expected", time.monotonic() - start)


async def run_cases(
    cases: Sequence[Case],
    target: Target,
    *,
    jobs: int = 4,
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Play ``cases`` against ``target``, at most ``jobs`` at once; results in the order
    of ``cases`` (``on_result`` is called in that order too, as soon as it can be)."""
    gate = asyncio.Semaphore(max(1, jobs))
    done: dict[int, CaseResult] = {}
    reported = 0
    ready = asyncio.Event()

    async def one(i: int, case: Case) -> None:
        async with gate:
            done[i] = await _run_one(case, target)
        ready.set()

    tasks = [asyncio.create_task(one(i, c), name=f"case {c.name}") for i, c in enumerate(cases)]
    try:
        while reported < len(cases):
            await ready.wait()
            ready.clear()
            while reported in done:
                if on_result is not None:
                    on_result(done[reported])
                reported += 1
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [done[i] for i in range(len(cases))]


@dataclass
class Summary:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    names: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, results: Sequence[CaseResult]) -> Summary:
        s = cls()
        for r in results:
            if r.outcome == "pass":
                s.passed += 1
            else:
                s.names.append(r.case.name)
                if r.outcome == "fail":
                    s.failed += 1
                else:
                    s.errors += 1
        return s

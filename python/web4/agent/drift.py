"""Mission drift: are the agent's actions and intents still about its declared mission?

Theory of operation: a ``Scorer`` maps (mission, text) to a score in 0..1. The default,
``TokenOverlapScorer``, normalises both texts to content tokens (lowercase letters and
digits, stop words removed, a light suffix stemmer so "facts"/"fact" and
"verified"/"verify" meet) and measures their overlap: the *overlap coefficient*
|A ∩ B| / min(|A|, |B|) by default, which suits a short action against a long mission, or
the Jaccard index |A ∩ B| / |A ∪ B|.

``DriftDetector`` is pure: ``observe(score)`` keeps the last ``window`` scores; when their
moving average stays below ``threshold`` for ``sustain`` consecutive observations it
returns a ``DriftAlarm`` once, then stays quiet until the average is back at or above the
threshold (it then returns a ``Realigned``). One off-mission action in a steady stream
therefore never fires; a drifting agent fires exactly once per excursion.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from web4.errors import ConfigError

__all__ = [
    "DriftAlarm",
    "DriftDetector",
    "Realigned",
    "Scorer",
    "TokenOverlapScorer",
    "tokens",
]

_WORD: Final = re.compile(r"[a-z0-9]+")
_STOP_TEXT: Final = """a an and are as at be by for from has have in into is it its of on or
our that the their this to was we were will with about over under than then so do does done
not no new all any some each per via"""
STOP_WORDS: Final = frozenset(_STOP_TEXT.split())
_SUFFIXES: Final = ("ations", "ation", "ingly", "ings", "ing", "ies", "ied", "ed", "es", "s")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return stem + "y"
            return stem
    return word


def tokens(text: str) -> frozenset[str]:
    """Normalised content tokens of ``text`` (see the module docstring)."""
    return frozenset(
        _stem(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 1
    )


class Scorer(Protocol):
    """How well ``text`` (an action or intent) serves ``mission``: 0 (not) .. 1 (fully)."""

    def score(self, mission: str, text: str) -> float: ...


class TokenOverlapScorer:
    """Token overlap of the normalised texts; ``method`` is "overlap" or "jaccard"."""

    def __init__(self, method: Literal["overlap", "jaccard"] = "overlap") -> None:
        if method not in ("overlap", "jaccard"):
            raise ConfigError(f"unknown overlap method {method!r}")
        self.method = method
        self._mission_cache: tuple[str, frozenset[str]] | None = None

    def _mission_tokens(self, mission: str) -> frozenset[str]:
        if self._mission_cache is None or self._mission_cache[0] != mission:
            self._mission_cache = (mission, tokens(mission))
        return self._mission_cache[1]

    def score(self, mission: str, text: str) -> float:
        a, b = self._mission_tokens(mission), tokens(text)
        if not a or not b:
            return 0.0
        common = len(a & b)
        if self.method == "jaccard":
            return common / len(a | b)
        return common / min(len(a), len(b))


@dataclass(frozen=True)
class DriftAlarm:
    average: float
    threshold: float
    window: int
    consecutive: int


@dataclass(frozen=True)
class Realigned:
    average: float


class DriftDetector:
    """Moving average of the last ``window`` scores, alarm after ``sustain`` low ones.

    Raises ``ConfigError`` for a window or sustain below 1 or a threshold outside 0..1.
    """

    def __init__(self, *, window: int = 5, threshold: float = 0.2, sustain: int = 3) -> None:
        if window < 1 or sustain < 1:
            raise ConfigError("window and sustain must be at least 1")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError("threshold must be within 0..1")
        self.window = window
        self.threshold = threshold
        self.sustain = sustain
        self._scores: deque[float] = deque(maxlen=window)
        self._below = 0
        self._alarmed = False

    @property
    def average(self) -> float | None:
        return sum(self._scores) / len(self._scores) if self._scores else None

    @property
    def drifting(self) -> bool:
        return self._alarmed

    def observe(self, score: float) -> DriftAlarm | Realigned | None:
        """Add one score; returns an alarm or a realignment when the state flips."""
        if not 0.0 <= score <= 1.0:
            raise ConfigError(f"a mission score is within 0..1, got {score}")
        self._scores.append(score)
        average = sum(self._scores) / len(self._scores)
        if average < self.threshold:
            self._below += 1
            if not self._alarmed and self._below >= self.sustain:
                self._alarmed = True
                return DriftAlarm(average, self.threshold, len(self._scores), self._below)
            return None
        self._below = 0
        if self._alarmed:
            self._alarmed = False
            return Realigned(average)
        return None

"""Clock and Rng: time and randomness are inputs to every protocol core.

Theory of operation: protocol state machines never read the wall clock or draw random
bytes themselves; they take a ``Clock`` and an ``Rng``. Production code passes
``SystemClock``/``SystemRng``; tests pass ``FakeClock``/``SeededRng`` so that runs are
reproducible byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "FakeClock", "Rng", "SeededRng", "SystemClock", "SystemRng", "rfc3339"]


class Clock(Protocol):
    """Seconds since the Unix epoch (wall clock) and a monotonic reading."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...


class Rng(Protocol):
    """A source of random bytes."""

    def bytes(self, n: int) -> bytes: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class SystemRng:
    def bytes(self, n: int) -> bytes:
        return os.urandom(n)


class FakeClock:
    """A clock that moves only when told to; wall and monotonic advance together."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def monotonic(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def set(self, t: float) -> None:
        self._t = t


class SeededRng:
    """Deterministic bytes from a seed (SHA-256 in counter mode). Tests only."""

    def __init__(self, seed: int | bytes = 0) -> None:
        self._seed = seed if isinstance(seed, bytes) else seed.to_bytes(16, "big", signed=True)
        self._counter = 0

    def bytes(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            block = self._seed + self._counter.to_bytes(8, "big")
            out += hashlib.sha256(block).digest()
            self._counter += 1
        return out[:n]


def rfc3339(t: float) -> str:
    """RFC 3339 UTC timestamp with millisecond precision, e.g. 2026-11-26T09:27:34.120Z."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"

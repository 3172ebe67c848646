"""What the benchmarks share: timing loops, percentiles and writing the result.

Each benchmark runs as a script (``python benches/bench_x.py``), so this directory is on
``sys.path`` and it imports ``bench_common`` by name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def pct(xs: list[float], p: float) -> float:
    """The ``p``-th percentile of ``xs`` (nearest rank, no interpolation)."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def run_for(fn: Callable[[], object], seconds: float, chunk: int) -> tuple[int, float]:
    """Call ``fn`` in chunks of ``chunk`` calls until ``seconds`` have passed (the clock
    read once a chunk, so reading it costs next to nothing): (calls, elapsed seconds)."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(chunk):
            fn()
        n += chunk
        now = time.perf_counter()
        if now >= deadline:
            return n, now - start


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Operations per second of ``fn`` over about ``seconds`` (after one warm-up call)."""
    fn()
    n, elapsed = run_for(fn, seconds, 100)
    return n / elapsed


def per_call_us(fn: Callable[[], object], seconds: float, slices: int = 5) -> float:
    """Microseconds per call of ``fn`` over about ``seconds`` (best of ``slices``: the
    least disturbed by the other processes on the machine)."""
    fn()
    return min(
        elapsed / n * 1e6
        for n, elapsed in (run_for(fn, seconds / slices, 50) for _ in range(slices))
    )


def write_result(result: dict[str, Any], out: Path | None) -> None:
    """Print the result as indented JSON and, with ``out``, write it there too."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")

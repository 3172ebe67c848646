"""Read and tail a JSON Lines event file, with filters (what ``web4 events`` wraps).

Theory of operation: ``read_events`` yields validated ``Event`` records from a file
written by ``JsonlFileSink``, oldest first. With ``follow=True`` it keeps polling for new
lines like ``tail -F``: a file that does not exist yet is waited for (the node creates it
when it starts), a partial last line waits until its newline arrives, and when the
sink rotates the file (the path now names a new inode, or the file shrank) the reader
finishes the old file, reads any backups that were rotated past it in between, and
continues at the start of the new one. Following stops when
``stop()`` returns True, after ``idle_timeout`` seconds without new data, or at
``deadline`` (a ``time.monotonic()`` value); it never loops without a way out unless the
caller asks for that by passing none of them.

Lines that are not valid v1.0 events (and "lines" longer than ``MAX_LINE``) are skipped
and reported to ``on_invalid`` (the CLI reports them on stderr); they never stop the
reader.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from web4.errors import ObservabilityError
from web4.observability.events import LEVELS, Event, Level, decode_event, level_at_least

__all__ = ["MAX_LINE", "EventFilter", "read_events"]

MAX_LINE = 1024 * 1024  # bytes; a longer "line" is not an event and is skipped


@dataclass(frozen=True)
class EventFilter:
    """Which events to keep: kind prefix, peer prefix, minimum level."""

    kind_prefix: str = ""
    peer: str | None = None
    min_level: Level = "debug"

    def __post_init__(self) -> None:
        if self.min_level not in LEVELS:
            raise ObservabilityError(f"unknown level {self.min_level!r}; use one of {LEVELS}")

    def matches(self, event: Event) -> bool:
        if not event.kind.startswith(self.kind_prefix):
            return False
        if self.peer is not None and not (event.peer or "").startswith(self.peer):
            return False
        return level_at_least(event.level, self.min_level)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


class _Tail:
    """An open file, its identity and the bytes of a not yet finished line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by the reader
        self.inode = os.fstat(self.file.fileno()).st_ino
        self.partial = b""
        self.oversized = 0

    def lines(self) -> Iterator[bytes]:
        while True:
            chunk = self.file.readline()
            if not chunk:
                return
            if not chunk.endswith(b"\n"):
                self.partial += chunk
                if len(self.partial) > MAX_LINE:  # not an event line: skip it, stay bounded
                    self.partial = b""
                    self.oversized += 1
                return
            line, self.partial = self.partial + chunk, b""
            yield line

    def replaced(self) -> bool:
        now = _inode(self.path)
        if now is not None and now != self.inode:
            return True
        try:
            return os.stat(self.path).st_size < self.file.tell()
        except FileNotFoundError:
            return False


def _rotated_since(path: Path, inode: int, limit: int = 100) -> list[_Tail]:
    """Backups newer than the file with ``inode`` (which rotation moved to ``path.k``),
    oldest first: ``path.k-1`` ... ``path.1``. Empty when the old file is gone."""
    found = None
    for k in range(1, limit + 1):
        ino = _inode(path.with_name(f"{path.name}.{k}"))
        if ino is None:
            break
        if ino == inode:
            found = k
            break
    if found is None:
        return []
    out = []
    for k in range(found - 1, 0, -1):
        try:
            out.append(_Tail(path.with_name(f"{path.name}.{k}")))
        except FileNotFoundError:
            continue
    return out


def read_events(
    path: str | os.PathLike[str],
    flt: EventFilter | None = None,
    *,
    follow: bool = False,
    poll_interval: float = 0.2,
    idle_timeout: float | None = None,
    deadline: float | None = None,
    stop: Callable[[], bool] | None = None,
    on_invalid: Callable[[bytes, ObservabilityError], None] | None = None,
) -> Iterator[Event]:
    """Yield the events of ``path`` that pass ``flt``; see the module docstring.

    Raises ``ObservabilityError`` when the file cannot be read, does not exist (unless
    following: then it is waited for), or when ``poll_interval`` is not positive.
    """
    flt = flt or EventFilter()
    if poll_interval <= 0:
        raise ObservabilityError("poll_interval must be positive")
    p = Path(path)
    last_data = time.monotonic()

    def done(now: float) -> bool:
        if stop is not None and stop():
            return True
        if idle_timeout is not None and now - last_data >= idle_timeout:
            return True
        return deadline is not None and now >= deadline

    while True:  # like tail -F: a file to follow may not exist yet
        try:
            tail = _Tail(p)
            break
        except FileNotFoundError as exc:
            if not follow:
                raise ObservabilityError(f"cannot read event file {p}: {exc}") from exc
        except OSError as exc:
            raise ObservabilityError(f"cannot read event file {p}: {exc}") from exc
        if done(time.monotonic()):
            return
        time.sleep(poll_interval)

    def drain(t: _Tail) -> Iterator[Event]:
        oversized = t.oversized
        for line in t.lines():
            if not line.strip():
                continue
            try:
                event = decode_event(line)
            except ObservabilityError as exc:
                if on_invalid is not None:
                    on_invalid(line, exc)
                continue
            if flt.matches(event):
                yield event
        if on_invalid is not None:
            for _ in range(t.oversized - oversized):
                on_invalid(b"", ObservabilityError(f"a line longer than {MAX_LINE} bytes"))

    try:
        while True:
            before = tail.file.tell()
            yield from drain(tail)
            if not follow:
                return
            now = time.monotonic()
            if tail.file.tell() != before:
                last_data = now
            if tail.replaced():
                try:
                    fresh: _Tail | None = _Tail(p)
                except FileNotFoundError:  # between rotate's rename and the new open
                    fresh = None
                if fresh is not None:
                    yield from drain(tail)  # lines appended just before the rotation
                    tail.file.close()
                    for skipped in _rotated_since(p, tail.inode):  # several rotations at once
                        yield from drain(skipped)
                        skipped.file.close()
                    tail = fresh
                    continue
            if done(now):
                return
            time.sleep(poll_interval)
    finally:
        tail.file.close()

"""Sinks a user can read while the node runs: memory ring, rotating JSONL, console.

Theory of operation: each sink turns ``Event`` records into one kind of output and holds
no policy about blocking; the ``EventBus`` decides (the ring is *inline*, the file and
console sinks run on their own worker threads behind a bounded queue).

* ``MemoryRing``: the last ``capacity`` events, for tests, the demo summary and a status
  endpoint. Older events are evicted and counted.
* ``JsonlFileSink``: one JSON object per line (the v1.0 contract), written unbuffered and
  in whole lines (a batch of queued events in one ``write``), so a reader (``web4
  events``) sees whole lines and a ``kill -9`` loses at most what was still queued.
  Size-based rotation keeps ``backups`` older files: ``events.jsonl.1`` is the newest.
  Files are 0600 (an existing one of ours is made 0600: events name peers and carry
  what they said); an existing one must be a regular file of ours.
* ``ConsoleSink``: one aligned, human-readable line per event (``format_event``) at or
  above its level. Colour only where asked for: ``colour_wanted`` says yes for a terminal
  unless ``NO_COLOR`` is set (https://no-color.org) or ``TERM=dumb``. Peers are shown by
  the name they introduced themselves with, next to their fingerprint's first 8 digits
  (``bob(471cfb97)``): the sink's ``NameBook`` learns names from the events it renders
  (``node.started``: this node; ``cip.handshake.verified``: a peer's HELLO
  ``agent_id``; ``hcp.session_open``: a human's name as typed) and from whoever feeds
  it. A name is the peer's own claim, so the fingerprint prefix is always shown beside
  it. Peers' text is escaped (``web4.observability.escape``): a statement or a name
  cannot move the cursor, retitle the terminal or start a forged line. A value is cut
  at 80 characters, an error's text (``error``, ``message``, ``detail``, ``reason``,
  ``cause``) at 300: the Rust transport reports an error and its causes as one line
  (``web4_net::wake::error_text``), and cut at 80 the cause was what went missing. A
  ``traceback`` is not squeezed into the line: ``format_traceback`` gives its innermost
  lines, indented below it (``ConsoleSink``, ``web4 events``); the whole one is in the
  JSON event.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Final

from web4.errors import ObservabilityError
from web4.observability.escape import printable
from web4.observability.events import Event, Level, encode_event, level_at_least

__all__ = [
    "ConsoleSink",
    "JsonlFileSink",
    "MemoryRing",
    "NameBook",
    "colour_wanted",
    "format_event",
    "format_traceback",
]

_COLOURS: Final[dict[str, str]] = {
    "debug": "\x1b[2m",
    "info": "\x1b[36m",
    "warning": "\x1b[33m",
    "error": "\x1b[31;1m",
}
_RESET: Final = "\x1b[0m"
KIND_WIDTH: Final = 28
NAME_WIDTH: Final = 24  # a peer's self-chosen name, shown at most this long
NAMES_REMEMBERED: Final = 4096
VALUE_WIDTH: Final = 80  # a value in the one-line rendering
TEXT_WIDTH: Final = 300  # an error's text: the transport's one-line errors are <= 300
TEXT_KEYS: Final = frozenset({"error", "message", "detail", "reason", "cause"})
TRACEBACK_LINES: Final = 8  # the innermost lines of a traceback shown below its event
TRACEBACK_WIDTH: Final = 200


def colour_wanted(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Colour for ``stream``: only a terminal, and never with ``NO_COLOR`` set to
    anything non-empty (https://no-color.org) or ``TERM=dumb``."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class NameBook:
    """Fingerprint -> the name that key introduced itself with, for display only (a name
    is the peer's claim: ``label`` always shows the fingerprint prefix beside it).
    Thread-safe, bounded (the least recently learned names are forgotten)."""

    def __init__(self, capacity: int = NAMES_REMEMBERED) -> None:
        self._names: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def learn(self, fingerprint: str, name: str) -> None:
        """Remember ``name`` for ``fingerprint`` (an empty name is ignored)."""
        shown = _short(printable(name.strip()).replace(" ", "_"), NAME_WIDTH)
        if not fingerprint or not shown:
            return
        with self._lock:
            self._names[fingerprint] = shown
            self._names.move_to_end(fingerprint)
            if len(self._names) > self._capacity:
                self._names.popitem(last=False)

    def get(self, fingerprint: str) -> str | None:
        """The escaped name, or None for a key that has not introduced itself."""
        with self._lock:
            return self._names.get(fingerprint)

    def label(self, fingerprint: str) -> str:
        """``name(1234abcd)`` for a known key, else the fingerprint shortened."""
        name = self.get(fingerprint)
        fp = printable(fingerprint)
        return f"{name}({fp[:8]})" if name is not None else _short(fp, 14)

    def learn_from(self, event: Event) -> None:
        """Learn what ``event`` says about who is who (see the module docstring)."""
        a = event.attributes
        if event.kind == "node.started":
            fp, name = a.get("fingerprint"), a.get("agent_id")
        elif event.kind == "cip.handshake.verified":
            fp, name = event.peer, a.get("agent_id")
        elif event.kind == "hcp.session_open":
            fp, name = event.peer, a.get("name")
        else:
            return
        if isinstance(fp, str) and isinstance(name, str):
            self.learn(fp, name)


class MemoryRing:
    """The most recent events, bounded. Thread-safe; inline in the bus."""

    inline = True

    def __init__(self, capacity: int = 4096, *, name: str = "memory") -> None:
        if capacity < 1:
            raise ObservabilityError("a MemoryRing holds at least one event")
        self.name = name
        self.capacity = capacity
        self._events: deque[Event] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._seen = 0

    def handle(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
            self._seen += 1

    def close(self) -> None:
        return None

    def events(self, kind_prefix: str = "") -> list[Event]:
        """The retained events, oldest first, optionally only kinds with this prefix."""
        with self._lock:
            return [e for e in self._events if e.kind.startswith(kind_prefix)]

    @property
    def seen(self) -> int:
        """Events handled since creation, including evicted ones."""
        with self._lock:
            return self._seen

    @property
    def evicted(self) -> int:
        """Events pushed out of the ring by newer ones."""
        with self._lock:
            return self._seen - len(self._events)


class JsonlFileSink:
    """Append events as JSON Lines to ``path``, rotating at ``max_bytes``.

    Raises ``ObservabilityError`` when the limits are invalid or the file cannot be
    opened for appending.
    """

    inline = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = 10 * 1024 * 1024,
        backups: int = 5,
        name: str = "jsonl",
    ) -> None:
        if max_bytes < 256:
            raise ObservabilityError("max_bytes must be at least 256")
        if backups < 0:
            raise ObservabilityError("backups must be zero or more")
        self.name = name
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.rotations = 0
        self._file = self._open()
        self._size = self.path.stat().st_size

    def _open(self) -> IO[bytes]:
        """Open for appending; a new file is created 0600 (events name peers and carry
        what they said). An existing file must be a regular file of ours (not a symlink):
        another user's file could be read by them or swapped under us."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise ObservabilityError(f"cannot open event file {self.path}: {exc}") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                raise ObservabilityError(
                    f"event file {self.path} is not a regular file of ours "
                    f"(uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}); refusing it"
                )
            if stat.S_IMODE(st.st_mode) & 0o077:  # an older file readable by others
                os.fchmod(fd, 0o600)
            os.set_blocking(fd, True)
            return os.fdopen(fd, "ab", buffering=0)
        except BaseException:
            os.close(fd)
            raise

    def backup_path(self, index: int) -> Path:
        """Path of the ``index``-th backup (1 = newest)."""
        return self.path.with_name(f"{self.path.name}.{index}")

    def _rotate(self) -> None:
        self._file.close()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            self.backup_path(self.backups).unlink(missing_ok=True)
            for i in range(self.backups - 1, 0, -1):
                src = self.backup_path(i)
                if src.exists():
                    src.replace(self.backup_path(i + 1))
            self.path.replace(self.backup_path(1))
        self._file = self._open()
        self._size = 0
        self.rotations += 1

    def handle(self, event: Event) -> None:
        self.handle_batch([event])

    def handle_batch(self, events: list[Event]) -> None:
        """Write whole lines, one ``write`` per run of lines that fits before rotation."""
        chunk: list[bytes] = []
        size = 0
        for event in events:
            line = encode_event(event) + b"\n"
            if self._size + size > 0 and self._size + size + len(line) > self.max_bytes:
                self._write(b"".join(chunk), size)
                chunk, size = [], 0
                self._rotate()
            chunk.append(line)
            size += len(line)
        self._write(b"".join(chunk), size)

    def _write(self, data: bytes, size: int) -> None:
        if data:
            self._file.write(data)
            self._size += size

    def close(self) -> None:
        self._file.close()


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "\\'") + "'"


def format_event(event: Event, *, colour: bool = False, names: NameBook | None = None) -> str:
    """One readable line: time, level, kind, peer, msg_id, then sorted key=value pairs.

    Every field may carry a peer's text: each is passed through ``printable`` (control
    characters and newlines shown as escapes), so the result is exactly one line with
    no byte a terminal acts on. A value with a space (or empty) is quoted. With
    ``names``, a peer that introduced itself is shown as ``name(fp8)``. With ``colour``,
    the level and kind are coloured (a warning or error: the whole line).
    """
    clock = printable(event.time[11:23] if len(event.time) >= 23 else event.time)
    level = printable(event.level.upper()).ljust(7)
    kind = printable(event.kind).ljust(KIND_WIDTH)
    if colour and event.level in ("debug", "info"):
        head = f"{clock} {_COLOURS[event.level]}{level} {kind}{_RESET}"
    else:
        head = f"{clock} {level} {kind}"
    parts = [head]
    if event.peer is not None:
        peer = names.label(event.peer) if names is not None else _short(printable(event.peer), 14)
        parts.append(f"peer={peer}")
    if event.msg_id is not None:
        parts.append(f"msg={_short(printable(event.msg_id), 10)}")
    for key in sorted(event.attributes):
        if key == "traceback":  # many lines: below the event (format_traceback)
            continue
        value = event.attributes[key]
        text = "-" if value is None else str(value)
        if isinstance(value, list):
            text = ",".join("-" if v is None else str(v) for v in value)
        text = printable(text)
        if " " in text or not text or "'" in text:
            text = _quoted(text)
        width = TEXT_WIDTH if key in TEXT_KEYS else VALUE_WIDTH
        parts.append(f"{printable(key)}={_short(text, width)}")
    line = " ".join(parts)
    if colour and event.level in ("warning", "error"):
        return f"{_COLOURS[event.level]}{line}{_RESET}"
    return line


def format_traceback(event: Event, max_lines: int = TRACEBACK_LINES) -> list[str]:
    """The innermost ``max_lines`` lines of the event's ``traceback`` attribute (none if
    it has none), each escaped, indented and cut at 200 characters, after one line
    saying how many earlier lines the JSON event has: lines to print below
    ``format_event``'s."""
    tb = event.attributes.get("traceback")
    if not isinstance(tb, str) or not tb.strip():
        return []
    lines = [line for line in tb.rstrip().splitlines() if line.strip()]
    shown = lines[-max_lines:] if max_lines > 0 else []
    out = []
    if len(lines) > len(shown):
        out.append(f"    | … {len(lines) - len(shown)} earlier traceback lines in the event")
    out += [f"    | {_short(printable(line), TRACEBACK_WIDTH)}" for line in shown]
    return out


class ConsoleSink:
    """Print ``format_event`` lines to a text stream (stderr by default), peers by name
    (``names``, which learns from the events it sees, below ``min_level`` too)."""

    inline = False

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        colour: bool = False,
        min_level: Level = "debug",
        name: str = "console",
        names: NameBook | None = None,
    ) -> None:
        level_at_least(min_level, "debug")  # raises ObservabilityError on a bad level
        self.name = name
        self._stream = stream if stream is not None else sys.stderr
        self.colour = colour
        self.min_level = min_level
        self.names = names if names is not None else NameBook()

    def handle(self, event: Event) -> None:
        self.names.learn_from(event)
        if level_at_least(event.level, self.min_level):
            line = format_event(event, colour=self.colour, names=self.names)
            below = "".join(f"{t}\n" for t in format_traceback(event))
            self._stream.write(line + "\n" + below)
            self._stream.flush()

    def close(self) -> None:
        self._stream.flush()

"""The console's rendering of error events: a real ``node.peer_task_failed`` (from
``PeerTaskFailures`` isolating a real exception, through a strict bus) shows as one line
with the error, its message and where it was raised, and the traceback's innermost lines
below it, escaped (not 80 characters of ``Traceback (most recent call last):``); an
error's one-line text from the transport is shown whole up to 300 characters, other
values are still cut at 80; ``web4 events`` renders an events file the same way."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from web4.cli.main import main
from web4.clock import FakeClock
from web4.isolation import PeerTaskFailures
from web4.observability import (
    ConsoleSink,
    Event,
    EventBus,
    JsonlFileSink,
    MemoryRing,
    format_event,
    format_traceback,
)

PEER = "ab" * 32
# A peer-chosen key (a hostile one: it ends up in the exception message and traceback)
HOSTILE_KEY = "claim\x1b[2J\nforged.line peer=x"


def _deep(n: int, key: str) -> None:
    if n == 0:
        raise KeyError(key)
    _deep(n - 1, key)


def _failure_event() -> Event:
    bus = EventBus("me", clock=FakeClock())
    ring = MemoryRing(8)
    bus.add_sink(ring)
    failures = PeerTaskFailures(bus.emit, lambda: 0.0)
    isolated = False
    try:
        _deep(6, HOSTILE_KEY)
    except KeyError as e:
        isolated = failures.isolate(PEER, "serve", e)
    assert isolated
    bus.close()
    (event,) = ring.events("node.peer_task_failed")
    return event


def _assert_safe(lines: list[str]) -> None:
    for line in lines:
        assert "\n" not in line
        assert [ch for ch in line if not ch.isprintable()] == []


def test_a_peer_task_failure_is_one_line_and_its_innermost_frames_below() -> None:
    event = _failure_event()
    line = format_event(event)
    assert "Traceback" not in line  # not 80 characters of its first line
    assert "error=KeyError" in line
    assert "where='test_console_errors.py:" in line
    assert "in _deep'" in line
    assert "forged.line" in line
    assert "\\x1b[2J" in line
    below = format_traceback(event)
    _assert_safe([line, *below])
    assert below[0].startswith("    | … ")
    assert below[0].endswith("earlier traceback lines in the event")
    assert len(below) == 1 + 8
    assert below[-1].startswith("    | KeyError: ")  # the exception, innermost last
    assert any("in _deep" in b for b in below[1:])
    # the whole traceback is still in the event for the JSON sinks
    tb = event.attributes["traceback"]
    assert tb.startswith("Traceback (most recent call last):")
    assert len(tb.splitlines()) > 9


def test_the_console_sink_and_web4_events_print_the_traceback_below_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = _failure_event()
    out = io.StringIO()
    ConsoleSink(out).handle(event)
    printed = out.getvalue().splitlines()
    assert "node.peer_task_failed" in printed[0]
    assert printed[1:] == format_traceback(event)
    _assert_safe(printed)
    path = tmp_path / "events.jsonl"
    sink = JsonlFileSink(path)
    sink.handle(event)
    sink.close()
    assert main(["events", str(path)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[1:] == format_traceback(event)
    assert "node.peer_task_failed" in shown[0]
    _assert_safe(shown)


def _event(**attributes: object) -> Event:
    return Event(
        version="1.0", time="2026-01-01T00:00:00.000Z", node="me", level="warning",
        kind="rtt.relay_reservation", peer=None, msg_id=None, attributes=attributes,
    )  # fmt: skip


def test_an_error_text_is_shown_whole_and_other_values_are_cut() -> None:
    error = "Failed to get Reservation: " + "the relay said no; " * 12  # ~250 characters
    line = format_event(_event(error=error.strip(), relay="/ip4/1.2.3.4/tcp/1/p2p/" + "x" * 90))
    assert error.strip() in line
    relay = line.split("relay=", 1)[1].split(" ", 1)[0]
    assert len(relay) == 80
    assert relay.endswith("…")
    cut = format_event(_event(error="e" * 400)).split("error=", 1)[1]
    assert len(cut.split(" ", 1)[0]) == 300
    assert format_traceback(_event(error="x")) == []

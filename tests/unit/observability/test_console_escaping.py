"""A peer's text cannot drive the operator's terminal (issue 10, observation 8).

A statement carrying ESC sequences and a newline (retitle the terminal, clear it, then a
forged ``trust.transition ... to=trusted`` line) prints as one line with no control byte,
in the console sink, in ``--json`` lines, and in ``web4 events`` text mode.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from web4.cli.main import main
from web4.clock import FakeClock
from web4.node.parts import JsonLinesSink
from web4.observability import ConsoleSink, Event, EventBus, JsonlFileSink, format_event
from web4.observability.escape import ascii_json, printable

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\ntrust.transition peer=abc from=probing to=trusted"
NASTY = HOSTILE + "\r\x9b31m\x7f\u202e\u2028\x00"


def hostile_event() -> Event:
    return Event(
        version="1.0",
        time="2026-01-01T00:00:00.000Z",
        node="me",
        level="info",
        kind="knowledge.claim_deferred",
        peer="peer\x1b[2J",
        msg_id=None,
        attributes={"claim_id": "c1", "reason": NASTY, "domain": "x\ny"},
    )


def assert_one_safe_line(text: str) -> None:
    assert "\n" not in text.rstrip("\n")
    bad = [ch for ch in text.rstrip("\n") if not ch.isprintable()]
    assert bad == [], f"unescaped: {bad!r}"


def test_printable_escapes_controls_and_keeps_plain_text() -> None:
    assert printable("water boils") == "water boils"
    assert printable("a\nb\x1b[2J\x07\x7f\x9b\u202e") == "a\\nb\\x1b[2J\\x07\\x7f\\x9b\\u202e"
    assert printable("C:\\x1b") == "C:\\\\x1b"  # a literal backslash cannot fake an escape


def test_format_event_prints_a_hostile_statement_as_one_line() -> None:
    line = format_event(hostile_event())
    assert_one_safe_line(line)
    assert "\x1b" not in line
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\ntrust.transition" in line
    assert "peer=peer\\x1b" in line


def test_console_sink_writes_no_escape_byte() -> None:
    out = io.StringIO()
    sink = ConsoleSink(out)
    sink.handle(hostile_event())
    assert_one_safe_line(out.getvalue())
    assert out.getvalue().count("\n") == 1


def test_console_sink_through_the_bus_escapes_an_emitted_statement() -> None:
    out = io.StringIO()
    bus = EventBus("me", clock=FakeClock())
    bus.add_sink(ConsoleSink(out))
    bus.emit("knowledge.claim_deferred", peer="p", claim_id="c1", reason=HOSTILE)
    bus.flush(2.0)
    bus.close()
    assert_one_safe_line(out.getvalue())
    assert "to=trusted" in out.getvalue()  # shown, inside the escaped value


def test_json_lines_stay_json_and_carry_no_raw_control() -> None:
    out = io.StringIO()
    JsonLinesSink(out).handle(hostile_event())
    text = out.getvalue()
    assert_one_safe_line(text)
    assert json.loads(text)["attributes"]["reason"] == NASTY  # nothing lost
    assert ascii_json('"\x7f\u2028"') == '"\\u007f\\u2028"'


def test_web4_events_text_mode_escapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlFileSink(path)
    sink.handle(hostile_event())
    sink.close()
    assert main(["events", str(path)]) == 0
    out = capsys.readouterr().out
    assert_one_safe_line(out)
    assert "\\x1b]0;pwned" in out

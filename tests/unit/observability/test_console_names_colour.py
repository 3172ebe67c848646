"""The console shows peers by the name they introduced themselves with (escaped, next to
their fingerprint's prefix), colours only a terminal and never with NO_COLOR, and prints
only events at or above its level."""

from __future__ import annotations

import io
import os

from web4.observability import ConsoleSink, Event, NameBook, colour_wanted, format_event
from web4.observability.events import make_event

BOB = "471cfb971b890cab96b12aa31970ccb1a33228685a68fb77a00093f04a69568e"
ME = "b53fc20e3735665df8dbfeb77484ccba2b7affdf275c0ae2cd340ddd23df9402"
T = "2026-01-01T00:00:00.000Z"


def ev(kind: str, peer: str | None = None, **attrs: object) -> Event:
    return make_event(kind, time=T, node="alice", peer=peer, attributes=attrs)


def test_console_names_a_peer_after_its_hello_and_itself_after_start() -> None:
    out = io.StringIO()
    sink = ConsoleSink(out, min_level="info")
    sink.handle(ev("rtt.session_open", BOB, peer_id="12D3KooW", session=1))
    sink.handle(
        ev("node.started", agent_id="alice", fingerprint=ME, listen=[], peers=[], anchors=0)
    )
    sink.handle(ev("cip.handshake.verified", BOB, agent_id="bob", msg_ids=["m"]))
    sink.handle(ev("knowledge.claim_pending", ME, claim_id="c", has=0, needs=2, reason="r"))
    lines = out.getvalue().splitlines()
    assert "peer=471cfb971b890…" in lines[0]  # not introduced yet: the fingerprint
    assert "peer=bob(471cfb97)" in lines[2]
    assert "peer=alice(b53fc20e)" in lines[3]


def test_a_hostile_name_is_escaped_capped_and_keeps_the_fingerprint_beside_it() -> None:
    names = NameBook()
    names.learn(BOB, "alice\x1b[2J\n(b53fc20e) trust.transition to=trusted " + "x" * 50)
    label = names.label(BOB)
    assert "\x1b" not in label
    assert "\n" not in label
    assert " " not in label
    assert label.endswith("(471cfb97)")
    assert len(label) <= 24 + len("(471cfb97)")


def test_a_humans_name_is_shown_as_typed() -> None:
    out = io.StringIO()
    sink = ConsoleSink(out, min_level="info")
    sink.handle(ev("cip.handshake.verified", BOB, agent_id="dana-k", msg_ids=["m"]))
    sink.handle(ev("hcp.session_open", BOB, name="Dana K", role="user", consent="granted"))
    assert "peer=Dana_K(471cfb97)" in out.getvalue().splitlines()[-1]


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert colour_wanted(tty, {})
            assert not colour_wanted(tty, {"NO_COLOR": "1"})
            assert not colour_wanted(tty, {"TERM": "dumb"})
            assert colour_wanted(tty, {"NO_COLOR": ""})  # set but empty: no opinion
        assert not colour_wanted(io.StringIO(), {})
    finally:
        os.close(master)
        os.close(slave)


def test_colour_marks_level_and_kind_and_a_warning_whole() -> None:
    info = format_event(ev("agent.started", mission="m"), colour=True)
    assert info.startswith("00:00:00.000 \x1b[36mINFO")
    assert info.endswith("mission=m")  # the values stay uncoloured
    warn = format_event(ev("hcp.refused", BOB, reason="scope"), colour=True)
    assert warn.startswith("\x1b[33m")
    assert warn.endswith("\x1b[0m")
    assert "\x1b" not in format_event(ev("agent.started", mission="m"))


def test_console_level_filters_what_it_prints() -> None:
    out = io.StringIO()
    sink = ConsoleSink(out, min_level="warning")
    sink.handle(ev("agent.started", mission="m"))
    sink.handle(ev("hcp.refused", BOB, reason="scope"))
    assert [line.split()[2] for line in out.getvalue().splitlines()] == ["hcp.refused"]

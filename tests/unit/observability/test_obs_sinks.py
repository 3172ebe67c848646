"""JSONL rotation, the console renderer, the tailing reader and RTT forwarding."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest

from web4.clock import FakeClock
from web4.errors import ObservabilityError
from web4.observability import (
    ConsoleSink,
    EventBus,
    EventFilter,
    JsonlFileSink,
    MemoryRing,
    Observability,
    decode_event,
    emit_telemetry,
    encode_event,
    format_event,
    forward_rtt_events,
    make_event,
    read_events,
)

T = "2026-11-26T09:27:34.120Z"


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_jsonl_rotates_by_size_and_keeps_n_backups(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    sink = JsonlFileSink(path, max_bytes=1000, backups=2)
    for i in range(60):
        sink.handle(make_event("error", time=T, node="n", attributes={"error": "E", "i": i}))
    sink.close()
    assert sink.rotations >= 3
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 1000
        for line in (tmp_path / name).read_bytes().splitlines():
            decode_event(line)  # every line is a whole, valid event
    # backups are ordered: .2 older than .1 older than the live file; nothing lost inside
    order = [e["attributes"]["i"] for n in files[::-1][:1] for e in _lines(tmp_path / n)]
    newest = [e["attributes"]["i"] for e in _lines(path)]
    assert newest[-1] == 59
    assert order == sorted(order)
    ones = [e["attributes"]["i"] for e in _lines(tmp_path / "events.jsonl.1")]
    twos = [e["attributes"]["i"] for e in _lines(tmp_path / "events.jsonl.2")]
    assert max(twos) < min(ones) <= max(ones) < min(newest)
    assert twos + ones + newest == list(range(min(twos), 60))


def test_jsonl_zero_backups_truncates_and_bad_config(tmp_path: Path):
    path = tmp_path / "e.jsonl"
    sink = JsonlFileSink(path, max_bytes=300, backups=0)
    for i in range(10):
        sink.handle(make_event("error", time=T, node="n", attributes={"error": "E", "i": i}))
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl"]
    assert _lines(path)[-1]["attributes"]["i"] == 9
    with pytest.raises(ObservabilityError):
        JsonlFileSink(path, max_bytes=10)
    with pytest.raises(ObservabilityError):
        JsonlFileSink(path, backups=-1)
    with pytest.raises(ObservabilityError, match="cannot open"):
        JsonlFileSink(tmp_path / "missing-dir" / "e.jsonl")


def test_console_lines_are_aligned_and_colour_is_opt_in():
    a = make_event(
        "router.routed",
        time=T,
        node="n",
        peer="f" * 64,
        msg_id="1234567890abcdef",
        attributes={"protocol": "cip", "type": "HELLO"},
    )
    b = make_event("error", time=T, node="n", attributes={"error": "Boom", "detail": "two words"})
    la, lb = format_event(a), format_event(b)
    assert la.startswith("09:27:34.120 DEBUG   router.routed ")
    assert la.index("peer=") == lb.index("error=") - len("detail='two words' ")
    assert "protocol=cip type=HELLO" in la
    assert "\x1b[" not in la
    assert format_event(b, colour=True).startswith("\x1b[31;1m")
    out = io.StringIO()
    sink = ConsoleSink(out, min_level="warning")
    sink.handle(a)
    sink.handle(b)
    assert out.getvalue() == lb + "\n"
    with pytest.raises(ObservabilityError):
        ConsoleSink(out, min_level="loud")  # type: ignore[arg-type]


def test_reader_filters_and_skips_garbage(tmp_path: Path):
    path = tmp_path / "e.jsonl"
    obs = Observability.open("node-a", clock=FakeClock(), events_file=path)
    obs.bus.emit("router.routed", peer="aaaa1111", protocol="cip", type="HELLO")
    obs.bus.emit("router.rejected", peer="bbbb2222", protocol="cip", type="HELLO", reason="X")
    obs.bus.emit(
        "trust.transition",
        peer="aaaa1111",
        attributes={"from": "untrusted", "to": "probing", "cause": "handshake"},
    )
    obs.close()
    with path.open("ab") as f:
        f.write(b'garbage\n{"version": "1.0"}\n')
    bad: list[bytes] = []
    everything = list(read_events(path, on_invalid=lambda line, _e: bad.append(line)))
    assert [e.kind for e in everything] == ["router.routed", "router.rejected", "trust.transition"]
    assert len(bad) == 2
    assert [e.kind for e in read_events(path, EventFilter(kind_prefix="router."))] == [
        "router.routed",
        "router.rejected",
    ]
    assert [e.kind for e in read_events(path, EventFilter(peer="aaaa"))] == [
        "router.routed",
        "trust.transition",
    ]
    assert [e.kind for e in read_events(path, EventFilter(min_level="warning"))] == [
        "router.rejected"
    ]
    with pytest.raises(ObservabilityError):
        EventFilter(min_level="loud")  # type: ignore[arg-type]
    with pytest.raises(ObservabilityError, match="cannot read"):
        list(read_events(tmp_path / "nope.jsonl"))


def test_reader_follows_appends_and_rotation(tmp_path: Path):
    path = tmp_path / "e.jsonl"
    bus = EventBus("n")
    bus.add_sink(JsonlFileSink(path, max_bytes=600, backups=3))
    got: list[int] = []
    done = threading.Event()

    def follow() -> None:
        for e in read_events(
            path,
            follow=True,
            poll_interval=0.01,
            deadline=time.monotonic() + 5,
            stop=lambda: len(got) >= 40,
        ):
            got.append(int(e.attributes["i"]))  # type: ignore[arg-type]
        done.set()

    t = threading.Thread(target=follow)
    t.start()
    for i in range(40):
        bus.emit("error", error="E", i=i)
        if i % 5 == 0:
            assert bus.flush(2.0)
            time.sleep(0.03)
    bus.close()
    assert done.wait(6.0)
    t.join(1.0)
    assert got == list(range(40)), got


def test_reader_idle_timeout_returns(tmp_path: Path):
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"")
    started = time.monotonic()
    assert list(read_events(path, follow=True, poll_interval=0.01, idle_timeout=0.1)) == []
    assert time.monotonic() - started < 2.0
    with pytest.raises(ObservabilityError):
        list(read_events(path, poll_interval=0))


def test_rtt_events_and_telemetry_are_forwarded():
    bus = EventBus("n", clock=FakeClock())
    ring = MemoryRing(100)
    bus.add_sink(ring)
    n = forward_rtt_events(
        bus,
        [
            {"kind": "session_open", "peer": "p1", "channel": {"name": "state", "id": 3}},
            {"kind": "rtt.reconnect_attempt", "peer": "p1", "attempt": 2, "backoff_ms": 400},
            {"kind": "brand_new_thing", "peer": "p1", "x": 1},
            {"kind": "reconnect_attempt"},  # lacks attempt: recorded with attempt=null
            {"no": "kind"},
            {"kind": "session_close", "weird": {1, 2}},
        ],
    )
    assert n == 5
    kinds = [e.kind for e in ring.events()]
    assert kinds == [
        "rtt.session_open",
        "rtt.reconnect_attempt",
        "rtt.other",
        "rtt.reconnect_attempt",
        "error",
        "rtt.session_close",
    ]
    first = ring.events()[0]
    assert first.attributes == {"channel.name": "state", "channel.id": 3}
    assert ring.events("rtt.other")[0].attributes["rtt_kind"] == "brand_new_thing"
    evs = emit_telemetry(
        bus,
        {
            "interval_s": 5,
            "peers": {"p1": {"p50_ms": 1.5, "p95_ms": 4.0}, "p2": {"latency_p50_ms": 2}},
        },
    )
    assert [(e.peer, e.attributes.get("latency_p50_ms")) for e in evs] == [("p1", 1.5), ("p2", 2)]
    assert evs[0].attributes["interval_s"] == 5
    single = emit_telemetry(bus, {"peer": "p3", "drop_rate": 0.25})
    assert single[0].peer == "p3"
    assert single[0].attributes == {"drop_rate": 0.25}


def test_batched_writes_through_the_bus_rotate_without_loss(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    bus = EventBus("n", clock=FakeClock())
    sink = JsonlFileSink(path, max_bytes=1000, backups=50)
    bus.add_sink(sink, queue_size=500)
    for i in range(300):  # a burst: the worker takes it in batches
        bus.emit("error", error="E", i=i)
    bus.close(timeout=5)
    assert bus.stats()[0].dropped == 0
    assert sink.rotations > 10
    files = [path.with_name(f"events.jsonl.{k}") for k in range(sink.rotations, 0, -1)] + [path]
    seen = []
    for f in files:
        assert f.stat().st_size <= 1000
        seen += [decode_event(x).attributes["i"] for x in f.read_bytes().splitlines()]
    assert seen == list(range(300))


def test_reader_skips_an_endless_partial_line(tmp_path: Path):
    from web4.observability.reader import MAX_LINE

    path = tmp_path / "e.jsonl"
    ok = make_event("error", time=T, node="n", attributes={"error": "E"})
    path.write_bytes(b"x" * (MAX_LINE + 10))  # no newline: never an event
    got = list(read_events(path, follow=True, poll_interval=0.01, idle_timeout=0.05))
    assert got == []
    with path.open("ab") as f:
        f.write(b"\n" + encode_event(ok) + b"\n")
    assert list(read_events(path)) == [ok]


def test_transport_event_names_map_onto_contract_kinds():
    bus = EventBus("n", clock=FakeClock(), strict=True)
    ring = bus.add_sink(MemoryRing(10))
    forward_rtt_events(
        bus,
        [
            {"kind": "replay_rejected", "peer": "p", "channel": "knowledge", "seq": "4"},
            {"kind": "dropped", "peer": "p", "channel": "state", "count": "3"},
        ],
    )
    assert [e.kind for e in ring.events()] == ["rtt.replay_dropped", "rtt.backpressure"]
    assert ring.events()[1].attributes["channel"] == "state"

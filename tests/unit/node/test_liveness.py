"""The node's liveness pieces: the dial backoff, the link watch, per-peer gauges."""

from __future__ import annotations

from pathlib import Path

import pytest

from web4.clock import FakeClock, SeededRng
from web4.errors import ConfigError
from web4.node.link_state import LinkBook
from web4.node.liveness import DialBackoff, LinkWatch
from web4.observability import emit_telemetry
from web4.observability.bus import EventBus
from web4.observability.metrics import MetricsSink
from web4.store import Store


def test_dial_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    b = DialBackoff(SeededRng(1), base=0.2, factor=2, cap=10, jitter=0.5)
    delays = [b.next_delay() for _ in range(12)]
    full = [min(10.0, 0.2 * 2**n) for n in range(12)]
    assert all(f / 2 <= d <= f for d, f in zip(delays, full, strict=True)), delays
    assert len(set(delays)) == len(delays)  # jittered
    assert max(delays) <= 10.0
    b.reset()
    assert b.next_delay() <= 0.2
    with pytest.raises(ConfigError):
        DialBackoff(SeededRng(1), base=0)


def test_link_watch_follows_rtt_events_and_the_handshake(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    errors: list[str] = []
    with Store.in_data_dir(tmp_path) as store:
        watch = LinkWatch(LinkBook(store), clock, errors.append)
        watch.on_rtt_events([{"kind": "session_open", "peer": "fp-b"}])
        watch.verified("fp-b", "bob")
        clock.advance(5)
        watch.seen(["fp-b"])
        clock.advance(5)
        watch.on_rtt_events(
            [{"kind": "disconnected", "peer": "fp-b", "cause": "connection_closed"}]
        )
        [row] = watch.book.all()
        assert (row.agent_id, row.connected, row.last_seen) == ("bob", False, 1005.0)
        assert row.reason == "disconnected (connection_closed)"
        watch.on_rtt_events([{"kind": "session_resumed", "peer": "fp-b"}, {"kind": "x"}])
        assert watch.book.all()[0].connected is True
        watch.node_stopped()
        assert watch.book.all()[0].reason == "node stopped"
    # A closed store is reported once, never raised into the node.
    watch.on_rtt_events([{"kind": "session_open", "peer": "fp-c"}])
    watch.closed("fp-c", "gone")
    assert len(errors) == 1


def test_a_disconnected_peer_loses_its_gauges_and_gets_them_back() -> None:
    sink = MetricsSink()
    bus = EventBus(node="n", clock=FakeClock())
    bus.add_sink(sink)

    def has(peer: str) -> bool:
        names = {(m.name, s.labels.get("peer")) for m in sink.registry.collect() for s in m.samples}
        return ("web4_rtt_latency_p50_seconds", peer) in names

    telemetry = {"peer": "p1", "latency_p50_ms": 2.0, "latency_p95_ms": 3.0, "drop_rate": 0.0}
    emit_telemetry(bus, telemetry)
    emit_telemetry(bus, {**telemetry, "peer": "p2"})
    assert has("p1")
    bus.emit("rtt.disconnected", peer="p1", cause="connection_closed")
    assert not has("p1")
    assert has("p2")
    emit_telemetry(bus, telemetry)
    assert has("p1")
    bus.emit("rtt.session_close", peer="p1", reason="expired")
    assert not has("p1")

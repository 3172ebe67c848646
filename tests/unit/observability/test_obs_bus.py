"""EventBus: ring bound, slow sinks drop and count, emit never blocks, failing sinks isolated."""

from __future__ import annotations

import threading
import time

import pytest

from web4.clock import FakeClock
from web4.errors import ObservabilityError
from web4.observability import Event, EventBus, MemoryRing


class SlowSink:
    inline = False

    def __init__(self, name: str = "slow", delay: float = 0.5) -> None:
        self.name = name
        self.delay = delay
        self.handled: list[Event] = []
        self.release = threading.Event()

    def handle(self, event: Event) -> None:
        self.release.wait(self.delay)
        self.handled.append(event)

    def close(self) -> None:
        return None


class BrokenSink:
    inline = True
    name = "broken"

    def handle(self, event: Event) -> None:
        raise RuntimeError("disk on fire")

    def close(self) -> None:
        raise OSError("cannot close")


def test_ring_is_bounded_and_counts_evictions():
    bus = EventBus("n", clock=FakeClock())
    ring = MemoryRing(5)
    bus.add_sink(ring)
    for i in range(12):
        bus.emit("error", error="E", i=i)
    kept = ring.events()
    assert len(kept) == 5
    assert [e.attributes["i"] for e in kept] == [7, 8, 9, 10, 11]
    assert ring.seen == 12
    assert ring.evicted == 7
    assert ring.events("router.") == []
    with pytest.raises(ObservabilityError):
        MemoryRing(0)


def test_slow_sink_drops_are_counted_and_emit_never_blocks():
    bus = EventBus("n")
    ring = MemoryRing(10_000)
    slow = SlowSink(delay=5.0)
    bus.add_sink(ring)
    bus.add_sink(slow, queue_size=4)
    started = time.monotonic()
    for i in range(1000):
        bus.emit("router.routed", protocol="cip", type="HELLO", i=i)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"emit blocked: {elapsed:.2f}s for 1000 events"
    stats = {s.name: s for s in bus.stats()}
    assert len(ring.events()) == 1000  # the fast sink saw everything
    assert stats["memory"].dropped == 0
    # the slow sink holds at most its queue plus the one in hand; the rest were dropped
    assert stats["slow"].dropped >= 1000 - 4 - 1
    assert stats["slow"].queued <= 4
    slow.release.set()  # let it finish
    assert bus.flush(timeout=5.0)
    after = {s.name: s for s in bus.stats()}["slow"]
    assert after.delivered + after.dropped == 1000
    bus.close(timeout=2.0)


def test_close_has_a_deadline_even_with_a_stuck_sink():
    bus = EventBus("n")
    slow = SlowSink(delay=3.0)
    bus.add_sink(slow, queue_size=8)
    for _ in range(5):
        bus.emit("error", error="E")
    started = time.monotonic()
    bus.close(timeout=0.3)
    assert time.monotonic() - started < 2.0  # the sink would take 15 s; margin for load
    stats = bus.stats()[0]
    assert stats.dropped >= 3  # what was still queued counts as dropped
    slow.release.set()
    bus.emit("error", error="E")  # after close: ignored, not raised
    bus.close()  # idempotent


def test_failing_sink_is_isolated_and_reported():
    bus = EventBus("n", clock=FakeClock())
    ring = MemoryRing(100)
    bus.add_sink(BrokenSink())
    bus.add_sink(ring)
    bus.emit("router.routed", protocol="cip", type="HELLO")
    kinds = [e.kind for e in ring.events()]
    assert "router.routed" in kinds
    assert "observability.sink_error" in kinds
    err = ring.events("observability.")[0]
    assert err.attributes["sink"] == "broken"
    assert err.attributes["error"] == "RuntimeError"
    assert {s.name: s.failed for s in bus.stats()}["broken"] >= 1
    bus.close()  # the broken close() is reported, not raised


def test_bus_misuse_is_a_typed_error():
    with pytest.raises(ObservabilityError):
        EventBus("")
    bus = EventBus("n")
    bus.add_sink(MemoryRing(1))
    with pytest.raises(ObservabilityError, match="already attached"):
        bus.add_sink(MemoryRing(1))
    with pytest.raises(ObservabilityError):
        bus.add_sink(MemoryRing(1, name="other"), queue_size=0)
    with pytest.raises(ObservabilityError):
        bus.emit("router.routed")  # required attributes missing
    bus.close()
    with pytest.raises(ObservabilityError, match="closed"):
        bus.add_sink(MemoryRing(1, name="late"))


def test_emit_from_many_threads():
    bus = EventBus("n")
    ring = MemoryRing(10_000)
    bus.add_sink(ring)

    def work(t: int) -> None:
        for i in range(200):
            bus.emit("error", error="E", t=t, i=i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=10)
    assert ring.seen == 800
    assert bus.emitted == 800


def test_non_strict_bus_records_violations_instead_of_raising():
    bus = EventBus("n", clock=FakeClock(), strict=False)
    ring = MemoryRing(10)
    bus.add_sink(ring)
    event = bus.emit("router.routed", protocol="cip")  # lacks type
    assert event.kind == "observability.contract_violation"
    assert event.attributes["rejected_kind"] == "router.routed"
    assert "type" in str(event.attributes["detail"])
    bus.emit("no.such.kind")
    assert bus.violations == 2
    assert [e.kind for e in ring.events()] == ["observability.contract_violation"] * 2

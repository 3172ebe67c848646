"""The blocking face: the brief's calls, GIL released while waiting, lifecycle events."""

from __future__ import annotations

import threading
import time

import pytest

from web4.errors import RTTTransportError
from web4.identity import Identity
from web4.rtt import BlockingTransport, CloseReason, TransportConfig


def test_brief_api_round_trip_and_gil_release() -> None:
    a = BlockingTransport(Identity(b"\x61" * 32))
    b = BlockingTransport(Identity(b"\x62" * 32))
    try:
        addr = b.listen("/ip4/127.0.0.1/tcp/0")[0]
        a.connect(addr, timeout=5)
        b.accept(timeout=5)
        ca = a.open_channel("control")
        cb = b.open_channel("control")

        ticks = 0
        stop = threading.Event()

        def spin() -> None:  # runs only if receive() released the GIL
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                time.sleep(0.001)

        th = threading.Thread(target=spin)
        th.start()
        with pytest.raises(TimeoutError):
            b.receive(cb, timeout=0.3)
        stop.set()
        th.join()
        # Holding the GIL for the 0.3 s would leave the spinner at a tick or two; ~300 is
        # the idle ideal, a loaded machine delivers fewer: a clear margin either way.
        assert ticks > 10, ticks

        a.send(ca, b"payload")
        assert b.receive(cb, timeout=5) == b"payload"
        b.close_channel(cb)
        with pytest.raises(RTTTransportError):
            b.receive(cb, timeout=0.1)
    finally:
        a.shutdown()
        b.shutdown()
    with pytest.raises(RTTTransportError):
        a.connect(addr, timeout=1)


def test_session_close_is_seen_by_the_peer_with_events_in_order() -> None:
    # Frequent heartbeats for quick round-trip samples; a generous timeout so that a loaded
    # machine never declares silence (this test is about a normal close).
    cfg = TransportConfig(heartbeat_interval=0.1, heartbeat_timeout=10.0)
    a = BlockingTransport(Identity(b"\x63" * 32), cfg)
    b = BlockingTransport(Identity(b"\x64" * 32), cfg)
    try:
        addr = b.listen("/ip4/127.0.0.1/tcp/0")[0]
        sa = a.connect(addr, timeout=5)
        sb = b.accept(timeout=5)
        ca, cb = sa.open_channel("knowledge"), sb.open_channel("knowledge")
        sa.send_many(ca, [b"%d" % i for i in range(10)])
        got: list[bytes] = []
        while len(got) < 10:
            got += sb.receive_many(cb, 100, timeout=5)
        assert got == [b"%d" % i for i in range(10)]
        deadline = time.monotonic() + 15  # a few heartbeats: round-trip samples
        while sa.stats().rtt_p50_us is None:
            assert time.monotonic() < deadline, "no heartbeat round trip sampled"
            time.sleep(0.05)
        sa.close()
        deadline = time.monotonic() + 15
        while sb.state != "closed":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert sb.close_code is CloseReason.NORMAL
        assert sb.close_reason is not None
        names = [e["kind"] for e in b.drain_events()]
        assert names == ["session_open", "session_close"]
        close = next(e for e in a.drain_events() if e["kind"] == "session_close")
        assert close["reason"] == "normal"
        assert close["unacked"] == 0
        assert type(close["session"]) is int
        assert close["session"] == sa.id
        assert isinstance(close["peer"], str)
        assert isinstance(close["text"], str)
        assert sa.unacked() == []
    finally:
        a.shutdown()
        b.shutdown()


def test_drained_events_fit_the_observability_contract() -> None:
    from web4.observability import EventBus, forward_rtt_events
    from web4.observability.sinks import MemoryRing

    a = BlockingTransport(Identity(b"\x65" * 32))
    b = BlockingTransport(Identity(b"\x66" * 32))
    try:
        addr = b.listen("/ip4/127.0.0.1/tcp/0")[0]
        a.connect(addr, timeout=5).close()
        raws: list[dict[str, object]] = []
        deadline = time.monotonic() + 10  # the peer learns of the close asynchronously
        while time.monotonic() < deadline:
            raws += a.drain_events() + b.drain_events()
            if [r["kind"] for r in raws].count("session_close") >= 2:
                break
            time.sleep(0.05)
        assert [r["kind"] for r in raws].count("session_close") == 2
        bus = EventBus("rtt-test", strict=True)
        ring = MemoryRing()
        bus.add_sink(ring)
        assert forward_rtt_events(bus, raws) == len(raws)
        kinds = [e.kind for e in ring.events("rtt.")]
        assert kinds.count("rtt.session_open") == 2
        assert kinds.count("rtt.session_close") == 2
        assert not ring.events("error")
    finally:
        a.shutdown()
        b.shutdown()

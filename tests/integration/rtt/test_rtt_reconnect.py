"""Two OS processes, a TCP relay the test controls, connections cut while data flows."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

import pytest
from rtt_helpers import Peer, Relay, port_of

from web4.identity import Identity
from web4.rtt import Transport, TransportConfig

N = 100_000
CUTS = 20


def cfg(hb: float = 0.2) -> TransportConfig:
    return TransportConfig(
        heartbeat_interval=hb,
        heartbeat_timeout=2.5 * hb,
        reconnect_initial=0.02,
        reconnect_max=0.5,
        connect_timeout=1.0,
        handshake_timeout=2.0,
    )


async def _100k_messages_exactly_once_in_order_across_20_cuts(
    spawn_peer: Callable[..., Peer],
) -> None:
    peer = spawn_peer("receive", str(N))
    addr = str(peer.line()["addr"])
    relay = Relay(port_of(addr))
    await relay.start()
    via = addr.replace(f"/tcp/{port_of(addr)}/", f"/tcp/{relay.port}/")
    t = Transport(Identity(b"\x31" * 32), cfg())
    try:
        s = await t.connect(via, timeout=10)
        ch = s.open_channel("knowledge")
        sent = 0

        async def produce() -> None:
            nonlocal sent
            batch = 500
            for start in range(0, N, batch):
                msgs = [i.to_bytes(8, "big") + b"." * 24 for i in range(start, start + batch)]
                await s.send_many(ch, msgs, timeout=30)
                sent = start + batch

        async def cutter() -> None:
            for k in range(1, CUTS + 1):
                while sent < k * N // (CUTS + 1):
                    await asyncio.sleep(0.001)
                relay.cut()
                deadline = time.monotonic() + 20
                while s.stats().reconnects < k:  # resumed before the next cut
                    assert time.monotonic() < deadline, f"no resume after cut {k}"
                    await asyncio.sleep(0.005)

        await asyncio.wait_for(asyncio.gather(produce(), cutter()), 60)
        result = await asyncio.to_thread(peer.line, 60)
        assert result["ok"] is True, result
        assert result["received"] == N
        st = s.stats()
        assert st.reconnects == CUTS, st
        assert st.knowledge.sent == N
        events = [e["kind"] for e in t.drain_events(100_000)]
        assert events[0] == "session_open"
        assert events.count("session_resumed") == CUTS
        assert events.count("reconnect_attempt") >= CUTS
    finally:
        await t.shutdown()
        await relay.close()


@pytest.mark.timeout(90)
def test_100k_messages_exactly_once_in_order_across_20_cuts(
    spawn_peer: Callable[..., Peer],
) -> None:
    asyncio.run(_100k_messages_exactly_once_in_order_across_20_cuts(spawn_peer))


async def _sigstop_heartbeat_timeout_backoff_then_resume(
    spawn_peer: Callable[..., Peer],
) -> None:
    hb = 0.2
    peer = spawn_peer("echo")
    addr = str(peer.line()["addr"])
    t = Transport(Identity(b"\x32" * 32), cfg(hb))
    try:
        s = await t.connect(addr, timeout=10)
        ch = s.open_channel("knowledge")
        await s.send(ch, b"before")
        assert await s.receive(ch, timeout=5) == b"before"
        t.drain_events()
        os.kill(peer.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        timed_out_at = None
        attempts: list[dict[str, str]] = []
        delays: list[int] = []

        def backed_off() -> bool:
            return len(delays) >= 2 and max(delays[-2:]) > delays[0]

        # Until the timeout and a backed-off retry were seen, under a deadline (about 4 s
        # when idle; a loaded machine may need longer).
        while (timed_out_at is None or not backed_off()) and time.monotonic() - stopped < 20:
            for e in t.drain_events():
                if e["kind"] == "heartbeat_timeout" and timed_out_at is None:
                    timed_out_at = time.monotonic()
                if e["kind"] == "reconnect_attempt":
                    attempts.append(e)
                    assert type(e["delay_ms"]) is int
                    assert type(e["attempt"]) is int
                    delays.append(int(e["delay_ms"]))
            await asyncio.sleep(0.01)
        assert timed_out_at is not None, "no heartbeat_timeout while the peer was stopped"
        # Silence is declared after 2.5 intervals (0.5 s). The bound allows for scheduling
        # delay on a loaded machine and still rules out detection by anything slower than
        # the heartbeat (the handshake and connect deadlines are 2 s and 1 s).
        assert timed_out_at - stopped <= 2.5 * hb + 1.0, timed_out_at - stopped
        assert len(attempts) >= 2
        assert backed_off(), delays  # backing off
        for i in range(50):  # queued while the peer is stopped
            await s.send(ch, b"m%d" % i)
        os.kill(peer.proc.pid, signal.SIGCONT)
        got = [await s.receive(ch, timeout=15) for _ in range(50)]
        assert got == [b"m%d" % i for i in range(50)]
        assert s.state == "established"
        names: list[str] = []
        deadline = time.monotonic() + 10  # the event may trail the delivered data
        while "session_resumed" not in names and time.monotonic() < deadline:
            names += [e["kind"] for e in t.drain_events()]
            await asyncio.sleep(0.01)
        assert "session_resumed" in names
    finally:
        os.kill(peer.proc.pid, signal.SIGCONT)
        await t.shutdown()


@pytest.mark.timeout(60)
def test_sigstop_heartbeat_timeout_backoff_then_resume(spawn_peer: Callable[..., Peer]) -> None:
    asyncio.run(_sigstop_heartbeat_timeout_backoff_then_resume(spawn_peer))

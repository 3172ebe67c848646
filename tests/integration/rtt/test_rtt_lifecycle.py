"""Rekey as a planned reconnect, and expiry handing back what was never acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

import pytest
from rtt_helpers import Peer

from web4.errors import RTTTransportError
from web4.identity import Identity
from web4.rtt import CloseReason, Transport, TransportConfig


async def _rekey_is_a_planned_reconnect_that_loses_nothing() -> None:
    # heartbeat_timeout is generous: a loaded machine must not add unplanned reconnects.
    cfg = TransportConfig(rekey_after_time=0.25, heartbeat_interval=0.1, heartbeat_timeout=5.0)
    a, b = Transport(Identity(b"\x81" * 32), cfg), Transport(Identity(b"\x82" * 32), cfg)
    try:
        addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
        sa = await a.connect(addr, timeout=5)
        sb = await b.accept_one(timeout=5)
        ca, cb = sa.open_channel("knowledge"), sb.open_channel("knowledge")
        n = 0
        got: list[bytes] = []
        # Data flows until at least three rekeys happened (about 1 s when idle), under a
        # deadline rather than for a fixed span a loaded machine may fill with fewer.
        end = time.monotonic() + 20
        while sa.stats().rekeys < 3:
            assert time.monotonic() < end, sa.stats()
            await sa.send_many(ca, [b"%d" % i for i in range(n, n + 50)], timeout=5)
            n += 50
            got += await sb.receive_many(cb, 4096, timeout=5)
            await asyncio.sleep(0.005)
        while len(got) < n:
            got += await sb.receive_many(cb, 4096, timeout=5)
        assert got == [b"%d" % i for i in range(n)]
        st = sa.stats()
        assert st.rekeys >= 3, st
        # Rekeys go on every 0.25 s: check the ones counted so far. The last one's resume
        # may still be under way (more so on a loaded machine): wait for it, not a fixed time.
        done = st.rekeys
        names: list[str] = []
        deadline = time.monotonic() + 15
        while sa.stats().reconnects < done or names.count("session_resumed") < done:
            assert time.monotonic() < deadline, (sa.stats(), names)
            await asyncio.sleep(0.01)
            names += [e["kind"] for e in a.drain_events(10_000)]
        assert names.count("rekey_due") >= done
    finally:
        await a.shutdown()
        await b.shutdown()


@pytest.mark.timeout(30)
def test_rekey_is_a_planned_reconnect_that_loses_nothing() -> None:
    asyncio.run(_rekey_is_a_planned_reconnect_that_loses_nothing())


async def _expired_session_hands_back_unacked_messages(
    spawn_peer: Callable[..., Peer],
) -> None:
    peer = spawn_peer("echo")
    addr = str(peer.line()["addr"])
    cfg = TransportConfig(
        session_expiry=1.0,
        heartbeat_interval=0.1,
        heartbeat_timeout=0.3,
        reconnect_initial=0.05,
        reconnect_max=0.2,
        connect_timeout=0.5,
    )
    a = Transport(Identity(b"\x83" * 32), cfg)
    try:
        s = await a.connect(addr, timeout=5)
        ch = s.open_channel("knowledge")
        await s.send(ch, b"echoed")
        assert await s.receive(ch, timeout=5) == b"echoed"
        os.kill(peer.proc.pid, signal.SIGKILL)
        peer.proc.wait(timeout=5)
        for i in range(20):
            await s.send(ch, b"lost-%d" % i)
        end = time.monotonic() + 10
        while s.state != "closed":
            assert time.monotonic() < end, "session did not expire"
            await asyncio.sleep(0.05)
        assert s.close_code is CloseReason.EXPIRED  # an enum member, not a text prefix
        assert s.close_reason is not None
        unacked = s.unacked()
        # "echoed" was delivered, but its ack may not have left before the kill.
        payloads = [u.payload for u in unacked if u.payload != b"echoed"]
        assert payloads == [b"lost-%d" % i for i in range(20)]
        assert all(u.channel == "knowledge" for u in unacked)
        close = [e for e in a.drain_events(10_000) if e["kind"] == "session_close"]
        assert close[-1]["reason"] == "expired"
        assert close[-1]["unacked"] == len(unacked)  # an int, not text
        with pytest.raises(RTTTransportError):
            await s.send(ch, b"after")
    finally:
        await a.shutdown()


@pytest.mark.timeout(30)
def test_expired_session_hands_back_unacked_messages(spawn_peer: Callable[..., Peer]) -> None:
    asyncio.run(_expired_session_hands_back_unacked_messages(spawn_peer))

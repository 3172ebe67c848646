"""Backpressure: a receiver that never reads, every policy, bounded sender memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from rtt_helpers import Peer

from web4.errors import RTTBackpressureError
from web4.identity import Identity
from web4.rtt import ChannelConfig, Policy, Session, Transport, TransportConfig

SMALL = {
    "send_queue_msgs": 16,
    "send_queue_bytes": 1 << 20,
    "inflight_msgs": 16,
    "inflight_bytes": 1 << 20,
    "recv_queue_msgs": 16,
    "recv_queue_bytes": 1 << 20,
}


async def pair(policy: Policy) -> tuple[Transport, Transport, Session]:
    cfg = TransportConfig(channels={"knowledge": ChannelConfig(policy=policy, **SMALL)})
    a, b = Transport(Identity(b"\x41" * 32), cfg), Transport(Identity(b"\x42" * 32), cfg)
    addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
    s = await a.connect(addr, timeout=5)
    sb = await b.accept_one(timeout=5)
    sb.open_channel("knowledge")  # ... and never reads it
    return a, b, s


async def _shut_down_after(body: Callable[[list[Transport]], Awaitable[None]]) -> None:
    """Run ``body`` with a list it adds its transports to; shut them all down after."""
    made: list[Transport] = []
    try:
        await body(made)
    finally:
        for t in made:
            await t.shutdown()


async def fill(s: Session, n: int, timeout: float = 0.05) -> int:
    """Send up to ``n`` 4 KiB messages; return how many went before the first refusal."""
    ch = s.open_channel("knowledge")
    for i in range(n):
        try:
            await s.send(ch, b"x" * 4096, timeout=timeout)
        except RTTBackpressureError:
            return i
    return n


async def _error_policy_refuses_once_the_bound_is_reached(transports: list[Transport]) -> None:
    a, b, s = await pair("error")
    transports += [a, b]
    sent = await fill(s, 10_000, timeout=0)
    # Bounded: send queue + in-flight window + what yamux and the peer's queue absorb.
    assert 16 <= sent < 1000, sent
    st = s.stats().knowledge
    assert st.refused >= 1
    # Every queue within its bound: send queue and retransmit buffer (16 each).
    assert st.send_queued <= 16
    assert st.inflight <= 16
    assert st.inflight_bytes <= 1 << 20


def test_error_policy_refuses_once_the_bound_is_reached() -> None:
    asyncio.run(_shut_down_after(_error_policy_refuses_once_the_bound_is_reached))


async def _block_policy_times_out(transports: list[Transport]) -> None:
    a, b, s = await pair("block")
    transports += [a, b]
    start = time.monotonic()
    sent = await fill(s, 10_000, timeout=0.2)
    assert 16 <= sent < 1000, sent
    assert time.monotonic() - start < 5


def test_block_policy_times_out() -> None:
    asyncio.run(_shut_down_after(_block_policy_times_out))


async def _drop_policies_count_drops(transports: list[Transport], policy: Policy) -> None:
    a, b, s = await pair(policy)
    transports += [a, b]
    assert await fill(s, 2000) == 2000  # never refused
    st = s.stats().knowledge
    assert st.dropped > 1000, st
    assert st.queue_high_water <= 16
    # The "dropped" events may trail the counters: collect them until they add up.
    events: list[dict[str, str | int | bool]] = []
    deadline = time.monotonic() + 10
    while sum(int(e["count"]) for e in events) < s.stats().knowledge.dropped:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
        events += [e for e in a.drain_events(10_000) if e["kind"] == "dropped"]
    assert all(type(e["count"]) is int for e in events)  # native values, not text
    assert sum(int(e["count"]) for e in events) == s.stats().knowledge.dropped


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_drop_policies_count_drops(policy: Policy) -> None:
    asyncio.run(_shut_down_after(lambda transports: _drop_policies_count_drops(transports, policy)))


async def _sender_rss_stays_bounded_pushing_1_gib(
    spawn_peer: Callable[..., Peer], transports: list[Transport], policy: str
) -> None:
    b = Transport(Identity(b"\x43" * 32))  # receives, never reads
    transports.append(b)
    addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
    total = (1 << 30) if policy == "drop_oldest" else (32 << 20)
    peer = spawn_peer("flood", addr, str(total), str(256 << 10), policy)
    sb = await b.accept_one(timeout=10)
    sb.open_channel("knowledge")
    r = await asyncio.to_thread(peer.line, 50)
    # Configured bounds: 4 MiB send queue + 4 MiB in flight (+ its write buffer).
    bound = 12 << 20
    assert int(r["peak"]) - int(r["base"]) <= bound + (32 << 20), r
    if policy == "drop_oldest":
        assert int(r["dropped"]) > 3000, r
    else:
        assert int(r["refused"]) > 0, r


@pytest.mark.timeout(60)
@pytest.mark.parametrize("policy", ["drop_oldest", "block"])
def test_sender_rss_stays_bounded_pushing_1_gib(
    spawn_peer: Callable[..., Peer], policy: str
) -> None:
    asyncio.run(
        _shut_down_after(
            lambda transports: _sender_rss_stays_bounded_pushing_1_gib(
                spawn_peer, transports, policy
            )
        )
    )

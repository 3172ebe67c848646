"""A peer process for the RTT integration tests (run as ``python _peer.py MODE ...``).

Modes (each prints one JSON line per milestone on stdout, bounded by a deadline):
- ``receive N``: listen, print {"addr"}, accept one session, receive N numbered
  knowledge messages, check exactly-once in order, print {"ok", "received", ...}.
- ``echo``: listen, print {"addr"}, accept, echo knowledge messages back until the peer
  closes or the deadline passes.
- ``flood TOTAL SIZE POLICY``: dial argv addr, push TOTAL bytes of SIZE-byte messages on
  knowledge under POLICY to a peer that never reads; print RSS samples.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from web4.errors import RTTBackpressureError
from web4.identity import Identity
from web4.rtt import ChannelConfig, Transport, TransportConfig

DEADLINE = 120.0


def say(**kw: object) -> None:
    print(json.dumps(kw), flush=True)


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def config(hb: float) -> TransportConfig:
    return TransportConfig(
        heartbeat_interval=hb,
        heartbeat_timeout=3 * hb,
        reconnect_initial=0.02,
        reconnect_max=0.5,
        connect_timeout=1.0,
        handshake_timeout=2.0,
    )


async def receive(n: int, hb: float) -> None:
    t = Transport(Identity(b"\x21" * 32), config(hb))
    say(addr=(await t.listen("/ip4/127.0.0.1/tcp/0"))[0])
    s = await t.accept_one(timeout=30)
    ch = s.open_channel("knowledge")
    nxt, dup, gap = 0, 0, 0
    while nxt < n:
        for m in await s.receive_many(ch, 4096, timeout=60):
            v = int.from_bytes(m[:8], "big")
            if v < nxt:
                dup += 1
            elif v > nxt:
                gap += 1
                nxt = v + 1
            else:
                nxt += 1
    st = s.stats()
    say(
        ok=dup == 0 and gap == 0,
        received=nxt,
        dup=dup,
        gap=gap,
        reconnects=st.reconnects,
        replays=st.replays_rejected,
    )
    await asyncio.sleep(0.2)  # let the last acks go out
    await t.shutdown()


async def echo(hb: float) -> None:
    t = Transport(Identity(b"\x22" * 32), config(hb))
    say(addr=(await t.listen("/ip4/127.0.0.1/tcp/0"))[0])
    s = await t.accept_one(timeout=30)
    ch = s.open_channel("knowledge")
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end and s.state != "closed":
        try:
            msgs = await s.receive_many(ch, 1024, timeout=1.0)
        except TimeoutError:
            continue
        await s.send_many(ch, msgs, timeout=10)
    await t.shutdown()


async def flood(addr: str, total: int, size: int, policy: str) -> None:
    cc = ChannelConfig(
        policy=policy,
        send_queue_msgs=64,
        send_queue_bytes=4 << 20,  # type: ignore[arg-type]
        inflight_msgs=64,
        inflight_bytes=4 << 20,
    )
    cfg = TransportConfig(channels={"knowledge": cc}, send_timeout=0.05)
    t = Transport(Identity(b"\x23" * 32), cfg)
    s = await t.connect(addr, timeout=10)
    ch = s.open_channel("knowledge")
    payload = b"\x5a" * size
    base = rss_bytes()
    peak = base
    refused = 0
    start = time.monotonic()
    for i in range(total // size):
        try:
            await s.send(ch, payload)
        except RTTBackpressureError:
            refused += 1
        if i % 256 == 0:
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0)
        if time.monotonic() - start > DEADLINE:
            break
    peak = max(peak, rss_bytes())
    st = s.stats().knowledge
    say(
        base=base,
        peak=peak,
        refused=refused,
        dropped=st.dropped,
        sent=st.sent,
        seconds=time.monotonic() - start,
    )
    await t.shutdown()


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    hb = 0.2
    if mode == "receive":
        asyncio.run(asyncio.wait_for(receive(int(args[0]), hb), DEADLINE))
    elif mode == "echo":
        asyncio.run(asyncio.wait_for(echo(hb), DEADLINE + 10))
    elif mode == "flood":
        asyncio.run(
            asyncio.wait_for(flood(args[0], int(args[1]), int(args[2]), args[3]), DEADLINE + 10)
        )
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()

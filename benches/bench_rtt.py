"""RTT transport benchmark, each figure next to raw asyncio TCP measured in the same run.

Both endpoints run in this one process on loopback. Measures:
- ``setup_p50_ms``: dial + Noise/yamux handshake + session OPEN + first channel message
  (RTT), vs TCP connect + first framed message (raw);
- ``one_way_64k_MBps``: 64 KiB messages one way, knowledge channel;
- ``msgs_256_single_per_s`` / ``msgs_256_batch_per_s``: 256-byte messages, one ``send``
  per message vs ``send_many``/``receive_many``;
- ``pingpong_64_p50_us`` / ``p99``: 64-byte request/response round trips.
The baseline is asyncio streams with 4-byte big-endian length framing. Writes JSON
(``--out``) with both sets of figures, their ratios and the issue's targets.

``floor`` puts the latency figures in context: each node does its IO on its own thread,
so an RTT ping-pong round trip crosses threads six times (application -> IO thread A ->
IO thread B via the socket -> application, and back), while the raw baseline runs in one
thread. ``thread_handoff_rt_p50_us`` times two bare hand-offs (a condvar ping-pong
between two idle threads, measured in Rust in this run); ``pingpong_floor_p50_us`` is
three of those, the least any design with a per-node IO thread can reach here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import struct
import time
from pathlib import Path
from typing import Any

from web4 import _core
from web4.identity import Identity
from web4.rtt import Session, Transport, TransportConfig

TARGETS = {
    "setup_p50_ms": "<= 2",
    "one_way_64k_MBps": ">= 500 and >= 0.8x raw",
    "msgs_256_single_per_s": ">= 50000",
    "msgs_256_batch_per_s": ">= 300000",
    "pingpong_64_p50_us": "<= 100",
    "pingpong_64_p99_us": "<= 300",
}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


# --- RTT ------------------------------------------------------------------------------


async def rtt_pair(n: int) -> tuple[Transport, Transport, Session, Session]:
    cfg = TransportConfig()
    a = Transport(Identity(bytes([n]) * 32), cfg)
    b = Transport(Identity(bytes([n + 1]) * 32), cfg)
    addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
    sa = await a.connect(addr, timeout=10)
    sb = await b.accept_one(timeout=10)
    return a, b, sa, sb


async def rtt_setup(rounds: int) -> float:
    b = Transport(Identity(b"\x02" * 32))
    addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
    times = []
    for i in range(rounds):
        a = Transport(Identity(bytes([10 + i % 200]) * 32))
        t0 = time.perf_counter()
        sa = await a.connect(addr, timeout=10)
        sb = await b.accept_one(timeout=10)
        ca, cb = sa.open_channel("knowledge"), sb.open_channel("knowledge")
        await sa.send(ca, b"hello")
        await sb.receive(cb, timeout=10)
        times.append(time.perf_counter() - t0)
        await a.shutdown()
        await sb.close()
    await b.shutdown()
    return statistics.median(times) * 1e3


async def rtt_stream(size: int, count: int, batch: bool) -> float:
    a, b, sa, sb = await rtt_pair(200)
    ca, cb = sa.open_channel("knowledge"), sb.open_channel("knowledge")
    payload = b"\xab" * size

    async def produce() -> None:
        if batch:
            for start in range(0, count, 512):
                await sa.send_many(ca, [payload] * min(512, count - start), timeout=30)
        else:
            for _ in range(count):
                await sa.send(ca, payload, timeout=30)

    async def consume() -> None:
        got = 0
        while got < count:
            got += len(await sb.receive_many(cb, 8192, timeout=30))

    t0 = time.perf_counter()
    await asyncio.gather(produce(), consume())
    dt = time.perf_counter() - t0
    await a.shutdown()
    await b.shutdown()
    return dt


async def rtt_pingpong(rounds: int) -> list[float]:
    a, b, sa, sb = await rtt_pair(210)
    ca, cb = sa.open_channel("control"), sb.open_channel("control")

    async def echo() -> None:
        for _ in range(rounds):
            await sb.send(cb, await sb.receive(cb, timeout=10))

    task = asyncio.create_task(echo())
    msg = b"p" * 64
    lat = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await sa.send(ca, msg)
        await sa.receive(ca, timeout=10)
        lat.append(time.perf_counter() - t0)
    await task
    await a.shutdown()
    await b.shutdown()
    return lat


# --- raw asyncio TCP, 4-byte framing ---------------------------------------------------


async def read_msg(r: asyncio.StreamReader) -> bytes:
    (n,) = struct.unpack(">I", await r.readexactly(4))
    return await r.readexactly(n)


def frame(m: bytes) -> bytes:
    return struct.pack(">I", len(m)) + m


async def raw_server(handler: Any) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def raw_setup(rounds: int) -> float:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_msg(r)
        w.write(frame(b"ok"))
        await w.drain()
        w.close()

    server, port = await raw_server(handle)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(frame(b"hello"))
        await w.drain()
        await read_msg(r)
        times.append(time.perf_counter() - t0)
        w.close()
    server.close()
    return statistics.median(times) * 1e3


async def raw_stream(size: int, count: int, batch: bool) -> float:
    done = asyncio.Event()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for _ in range(count):
            await read_msg(r)
        done.set()
        w.close()

    server, port = await raw_server(handle)
    _, w = await asyncio.open_connection("127.0.0.1", port)
    payload = frame(b"\xab" * size)
    t0 = time.perf_counter()
    if batch:
        for start in range(0, count, 512):
            w.write(payload * min(512, count - start))
            await w.drain()
    else:
        for _ in range(count):
            w.write(payload)
            await w.drain()
    await done.wait()
    dt = time.perf_counter() - t0
    w.close()
    server.close()
    return dt


async def raw_pingpong(rounds: int) -> list[float]:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for _ in range(rounds):
            w.write(frame(await read_msg(r)))
            await w.drain()

    server, port = await raw_server(handle)
    r, w = await asyncio.open_connection("127.0.0.1", port)
    lat = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        w.write(frame(b"p" * 64))
        await w.drain()
        await read_msg(r)
        lat.append(time.perf_counter() - t0)
    w.close()
    server.close()
    return lat


# --- main ------------------------------------------------------------------------------


async def measure(quick: bool) -> dict[str, Any]:
    k = 0.2 if quick else 1.0
    n64k, n256, npp, nsetup = int(4000 * k), int(200_000 * k), int(5000 * k), int(50 * k)
    out: dict[str, Any] = {"rtt": {}, "raw_asyncio_tcp": {}}
    for name, rtt, raw in (("setup_p50_ms", rtt_setup(nsetup), raw_setup(nsetup)),):
        out["rtt"][name], out["raw_asyncio_tcp"][name] = await rtt, await raw
    for name, size, count, batch in (
        ("one_way_64k_MBps", 65536, n64k, True),
        ("msgs_256_single_per_s", 256, n256, False),
        ("msgs_256_batch_per_s", 256, n256, True),
    ):
        for side, fn in (("rtt", rtt_stream), ("raw_asyncio_tcp", raw_stream)):
            dt = await fn(size, count, batch)
            rate = count * size / dt / 1e6 if name.endswith("MBps") else count / dt
            out[side][name] = round(rate, 1)
    for side, fn in (("rtt", rtt_pingpong), ("raw_asyncio_tcp", raw_pingpong)):
        lat = await fn(npp)
        out[side]["pingpong_64_p50_us"] = round(pct(lat, 50) * 1e6, 1)
        out[side]["pingpong_64_p99_us"] = round(pct(lat, 99) * 1e6, 1)
        # 200 quantiles of the round trip, for the report's latency CDF
        out.setdefault("pingpong_64_cdf_us", {})[side] = [
            round(pct(lat, (i + 1) / 2) * 1e6, 1) for i in range(200)
        ]
    handoff = statistics.median(_core.thread_handoff_round_trips_us(npp))
    out["floor"] = {
        "thread_handoff_rt_p50_us": round(handoff, 1),
        "pingpong_floor_p50_us": round(3 * handoff, 1),
    }
    out["ratio_rtt_over_raw"] = {
        key: round(out["rtt"][key] / out["raw_asyncio_tcp"][key], 3) for key in out["rtt"]
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = ap.parse_args()
    result = asyncio.run(measure(args.quick))
    result["targets"] = TARGETS
    result["machine"] = {"python": platform.python_version(), "platform": platform.platform()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

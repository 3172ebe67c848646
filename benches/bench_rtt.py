"""RTT transport benchmark, each figure next to raw asyncio TCP measured in the same run.

Both endpoints run in this one process on loopback. Measures:
- ``setup_p50_ms``: dial + Noise/yamux handshake + session OPEN + first channel message
  (RTT), vs TCP connect + first framed message (raw);
- ``one_way_64k_MBps``: 64 KiB messages one way, knowledge channel;
- ``msgs_256_single_per_s`` / ``msgs_256_batch_per_s``: 256-byte messages, one ``send``
  per message vs ``send_many``/``receive_many``;
- ``pingpong_64_p50_us`` / ``p99``: 64-byte request/response round trips.
The baseline is asyncio streams with 4-byte big-endian length framing. Writes JSON
(``--out``) with both sets of figures, their ratios, the issue's targets (each a ratio to
raw in the same run) and whether each is met.

``floor`` puts the latency figures in context: a message crosses threads at every
hand-off (application -> IO thread -> application), while the raw baseline runs in one
thread. ``thread_handoff_rt_p50_us`` times two bare hand-offs between idle threads (a
condvar ping-pong, measured in Rust in this run); ``pingpong_floor_p50_us`` is two of
those, the four hand-offs of a ping-pong between two nodes of one process on the shared
IO thread when no side spins; ``setup_stack_p50_ms`` is a bare libp2p dial (TCP, Noise
XX, yamux; no behaviour, no stream) on one thread, the floor under the setup figure.
``idle`` is the CPU the process uses with two connected, idle nodes (heartbeats only).
``--spin-max`` and ``--own-runtime`` select the design measured (``design`` in the
JSON): defaults are the transport's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import struct
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_common import pct
from web4 import _core
from web4.identity import Identity
from web4.rtt import Session, Transport, TransportConfig

# The targets, each as a ratio of RTT to raw asyncio TCP in the same run.
TARGETS: dict[str, tuple[str, float]] = {
    "setup_p50_ms": ("<=", 5.0),
    "one_way_64k_MBps": (">=", 1.0),
    "msgs_256_single_per_s": (">=", 1.0),
    "msgs_256_batch_per_s": (">=", 1.0),
    "pingpong_64_p50_us": ("<=", 3.0),
    "pingpong_64_p99_us": ("<=", 4.0),
}
CONFIG = TransportConfig()


# --- RTT ------------------------------------------------------------------------------


async def rtt_pair(n: int) -> tuple[Transport, Transport, Session, Session]:
    cfg = CONFIG
    a = Transport(Identity(bytes([n]) * 32), cfg)
    b = Transport(Identity(bytes([n + 1]) * 32), cfg)
    addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
    sa = await a.connect(addr, timeout=10)
    sb = await b.accept_one(timeout=10)
    return a, b, sa, sb


async def rtt_setup(rounds: int) -> float:
    b = Transport(Identity(b"\x02" * 32), CONFIG)
    addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
    times = []
    for i in range(rounds):
        a = Transport(Identity(bytes([10 + i % 200]) * 32), CONFIG)
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


async def measure(quick: bool, only: str | None = None) -> dict[str, Any]:
    k = 0.2 if quick else 1.0
    n64k, n256, npp, nsetup = int(4000 * k), int(200_000 * k), int(5000 * k), int(50 * k)
    if only == "setup":
        nsetup *= 4  # the setup alone is quick: more rounds for a steadier median
    out: dict[str, Any] = {"rtt": {}, "raw_asyncio_tcp": {}}
    for name, rtt, raw in (("setup_p50_ms", rtt_setup(nsetup), raw_setup(nsetup)),):
        out["rtt"][name] = round(await rtt, 3)
        out["raw_asyncio_tcp"][name] = round(await raw, 3)
    if only == "setup":
        stack = statistics.median(_core.stack_setups_us(nsetup))
        out["floor"] = {
            "setup_stack_p50_ms": round(stack / 1e3, 3),
            "setup_stack_over_raw": round(stack / 1e3 / out["raw_asyncio_tcp"]["setup_p50_ms"], 2),
        }
        ratio = round(out["rtt"]["setup_p50_ms"] / out["raw_asyncio_tcp"]["setup_p50_ms"], 3)
        out["ratio_rtt_over_raw"] = {"setup_p50_ms": ratio}
        out["met"] = {"setup_p50_ms": ratio <= TARGETS["setup_p50_ms"][1]}
        return out
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
    stack = statistics.median(_core.stack_setups_us(nsetup))
    out["floor"] = {
        "thread_handoff_rt_p50_us": round(handoff, 1),
        "pingpong_floor_p50_us": round(2 * handoff, 1),
        # TCP + Noise XX + yamux alone, no behaviour or stream, one thread (ms).
        "setup_stack_p50_ms": round(stack / 1e3, 3),
        "setup_stack_over_raw": round(stack / 1e3 / out["raw_asyncio_tcp"]["setup_p50_ms"], 2),
    }
    out["idle"] = await idle_cpu(2.0 if quick else 10.0)
    ratios = {key: round(out["rtt"][key] / out["raw_asyncio_tcp"][key], 3) for key in out["rtt"]}
    out["ratio_rtt_over_raw"] = ratios
    out["targets"] = {key: f"{op} {x}x raw" for key, (op, x) in TARGETS.items()}
    out["met"] = {
        key: ratios[key] <= x if op == "<=" else ratios[key] >= x
        for key, (op, x) in TARGETS.items()
    }
    return out


async def idle_cpu(seconds: float) -> dict[str, float]:
    """CPU seconds per second the whole process uses with two connected nodes idle
    (heartbeats only), from /proc via ``time.process_time`` (every thread)."""
    a, b, _, _ = await rtt_pair(220)
    await asyncio.sleep(0.5)  # settle
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    cpu = (time.process_time() - c0) / (time.perf_counter() - t0)
    await a.shutdown()
    await b.shutdown()
    return {"seconds": seconds, "cpu_s_per_s": round(cpu, 5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    ap.add_argument("--spin-max", type=float, default=None, help="TransportConfig.spin_max")
    ap.add_argument("--own-runtime", action="store_true", help="an IO thread per node")
    ap.add_argument(
        "--only",
        choices=["setup"],
        default=None,
        help="measure only this part (setup: 200 rounds, its ratio and the stack floor)",
    )
    args = ap.parse_args()
    global CONFIG
    if args.spin_max is not None:
        CONFIG = replace(CONFIG, spin_max=args.spin_max)
    CONFIG = replace(CONFIG, own_runtime=args.own_runtime)
    result = asyncio.run(measure(args.quick, args.only))
    result["design"] = {"spin_max_s": CONFIG.spin_max, "own_runtime": CONFIG.own_runtime}
    result["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1m": os.getloadavg()[0],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

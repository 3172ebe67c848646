"""The node's persistence per accepted message: inline fsync vs group commit.

Each "message" is what a node writes when it accepts a CIP message and its agent
answers: two transactions (a replay-cache row, then a causal-memory row) and an
acknowledgement that must wait until both are durable. ``inline``: ``synchronous=FULL``,
every commit fsyncs on the event loop (the node before group commit). ``group``: the
node's store now (``group_commit``: WAL written on the loop, fsyncs on the writer
thread, the ack awaits ``store.durable()``).

- ``ack_p50_us`` / ``ack_p99_us``: one message at a time, from its first write to its
  acknowledgement being allowed (the persistence part of a round trip);
- ``msgs_per_s``: ``--concurrency`` messages in flight (many peers, or one peer's
  pipeline), each acknowledged, for ``--seconds``;
- ``loop_blocked_us_per_msg``: time the event loop spent inside the store per message
  (what every other peer waits for).

Also the machine's bare ``fdatasync`` latency (``fsync_p50_us``): the floor of any
acknowledgement that survives power loss. Writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_common import pct
from web4.store import GroupCommit, Migration, MigrationSet, Store

SCHEMA = MigrationSet(
    "bench",
    (
        Migration(
            1,
            "two tables like the replay cache and causal memory",
            (
                "CREATE TABLE seen (k TEXT PRIMARY KEY, at REAL NOT NULL) STRICT",
                "CREATE TABLE memory (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT",
            ),
        ),
    ),
)
BODY = "x" * 600  # about a DMP trace


class Meter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.blocked = 0.0
        self.n = 0
        self.key = 0  # unique across both phases

    async def message(self) -> None:
        self.key += 1
        self.n += 1
        t = time.perf_counter()
        with self.store.transaction():
            self.store.execute("INSERT INTO seen VALUES (?, ?)", (f"m{self.key}", t))
        with self.store.transaction():
            self.store.execute("INSERT INTO memory (body) VALUES (?)", (BODY,))
        self.blocked += time.perf_counter() - t
        await self.store.durable()  # the acknowledgement may leave now


async def run(mode: str, seconds: float, concurrency: int, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="web4-store-") as tmp:
        group = GroupCommit() if mode == "group" else None
        store = Store.open(Path(tmp) / "s.sqlite3", migrations=[SCHEMA], group_commit=group)
        meter = Meter(store)
        lat: list[float] = []
        for _ in range(n):
            t = time.perf_counter()
            await meter.message()
            lat.append((time.perf_counter() - t) * 1e6)
        meter.blocked, meter.n = 0.0, 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await meter.message()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        out = {
            "ack_p50_us": round(pct(lat, 50), 1),
            "ack_p99_us": round(pct(lat, 99), 1),
            "msgs_per_s": round(meter.n / elapsed, 1),
            "loop_blocked_us_per_msg": round(meter.blocked / max(1, meter.n) * 1e6, 1),
            "fsyncs": store.group_fsyncs,
        }
        store.close()
        return out


def fsync_floor(n: int = 200) -> float:
    with tempfile.TemporaryDirectory(prefix="web4-fsync-") as tmp:
        fd = os.open(Path(tmp) / "f", os.O_CREAT | os.O_WRONLY, 0o600)
        lat = []
        for i in range(n):
            os.pwrite(fd, b"x" * 4096, (i % 16) * 4096)
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t) * 1e6)
        os.close(fd)
        return round(pct(lat, 50), 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--n", type=int, default=300, help="sequential messages (latency)")
    a = p.parse_args()
    inline = asyncio.run(run("inline", a.seconds, a.concurrency, a.n))
    group = asyncio.run(run("group", a.seconds, a.concurrency, a.n))
    doc = {
        "benchmark": "store",
        "fsync_p50_us": fsync_floor(),
        "group_commit": group,
        "baseline_inline_fsync": inline,
        "ratios": {
            "msgs_per_s_vs_inline": round(group["msgs_per_s"] / inline["msgs_per_s"], 2),
            "ack_p50_vs_inline": round(group["ack_p50_us"] / inline["ack_p50_us"], 2),
            "loop_blocked_vs_inline": round(
                group["loop_blocked_us_per_msg"] / inline["loop_blocked_us_per_msg"], 3
            ),
        },
        "settings": {"seconds": a.seconds, "concurrency": a.concurrency, "sequential": a.n},
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(
        json.dumps({k: doc[k] for k in ("fsync_p50_us", "group_commit", "baseline_inline_fsync")})
    )


if __name__ == "__main__":
    main()

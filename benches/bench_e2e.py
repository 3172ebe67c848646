"""End to end: two web4 nodes against the A2A Python SDK, measured in the same run.

web4 (``benches/e2e_node.py``): two nodes, each its own process with the whole node
(``web4.Node``: RTT, router, validation with the persistent replay cache, trust gate,
agent loop, SQLite store). The requester sends a signed CIP ``INTENT`` to the responder's
agent, which answers with a signed ``DECISION_SHARE``; the round trip ends when that
answer reaches the requester's agent. Then the requester sends ``INTENT`` one way, back
to back (the responder's agent acknowledges every 64th so its inbox never overflows).

A2A (``benches/e2e_peers.py``): the SDK's server under uvicorn and its client in another
process, ``send_message`` answered by the server's agent; one way = as many requests in
flight as web4's window allows unacknowledged messages, capped by the client's pool.

raw: asyncio TCP ping-pong of 64 bytes between two processes (the floor).

Writes ``--out`` (JSON: figures, baselines, ratios, targets, a CDF of each round trip in
200 points, the commands) and prints a summary. ``--quick`` is a smoke run (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_common import pct

HERE = Path(__file__).resolve().parent
PY = sys.executable
TARGETS = {
    "rtt_p50_vs_a2a": "<= 0.5",
    "one_way_msgs_per_s": ">= 3000",
    "one_way_vs_a2a": ">= 2.0",
}


def cdf(xs: list[float], points: int = 200) -> list[float]:
    """The latency at ``points`` evenly spaced quantiles (0.5 % .. 100 %)."""
    s = sorted(xs)
    last = len(s) - 1
    return [
        round(s[min(last, max(0, int((i + 1) / points * len(s)) - 1))], 1) for i in range(points)
    ]


def summary(xs: list[float]) -> dict[str, float]:
    return {"p50_us": round(pct(xs, 50), 1), "p99_us": round(pct(xs, 99), 1), "n": len(xs)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {_err(proc)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def _err(proc: subprocess.Popen[str]) -> str:
    return (proc.stderr.read() if proc.stderr else "")[-2000:]


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [PY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, then SIGKILL past 10 s; returns what the process printed on stdout."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def run_client(args: list[str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [PY, *args], capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def bench_web4(
    n: int, one_way: int, window: int, timeout: float, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    from web4.identity import Identity

    with tempfile.TemporaryDirectory(prefix="web4-e2e-") as tmp:
        a = Identity.create_in_data_dir(Path(tmp) / "requester", "requester")
        b = Identity.create_in_data_dir(Path(tmp) / "responder", "responder")
        node = str(HERE / "e2e_node.py")
        resp = start(
            node, "responder", "--data-dir", f"{tmp}/responder", "--trust", a.fingerprint, *extra
        )
        try:
            assert resp.stdout is not None
            line = resp.stdout.readline()
            if not line:
                raise RuntimeError(f"responder did not start: {_err(resp)}")
            addr = json.loads(line)["listen"]
            out = run_client(
                [node, "requester", "--data-dir", f"{tmp}/requester", "--trust", b.fingerprint,
                 "--peer", addr, "--n", str(n), "--one-way", str(one_way),
                 "--window", str(window), "--warmup", str(min(200, n)), *extra],
                timeout,
            )  # fmt: skip
        finally:
            tail = stop(resp)
        seen = [json.loads(x)["one_way_seen"] for x in tail.splitlines() if "one_way_seen" in x]
        out["one_way_seen_by_responder"] = seen[-1] if seen else None
        return out


def bench_a2a(n: int, one_way: int, window: int, timeout: float) -> dict[str, Any]:
    port = free_port()
    peers = str(HERE / "e2e_peers.py")
    server = start(peers, "a2a-server", str(port))
    try:
        wait_port(port, server)
        return run_client(
            [peers, "a2a-client", f"http://127.0.0.1:{port}", "--n", str(n),
             "--one-way", str(one_way), "--window", str(window)],
            timeout,
        )  # fmt: skip
    finally:
        stop(server)


def bench_raw(n: int, timeout: float) -> dict[str, Any]:
    port = free_port()
    peers = str(HERE / "e2e_peers.py")
    server = start(peers, "raw-server", str(port))
    try:
        wait_port(port, server)
        return run_client([peers, "raw-client", str(port), "--n", str(n)], timeout)
    finally:
        stop(server)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("web4", "a2a-sdk", "uvicorn", "starlette", "httpx"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=5000, help="round trips per contender")
    p.add_argument("--one-way", type=int, default=20000, help="one-way messages (web4)")
    p.add_argument("--a2a-one-way", type=int, default=5000, help="one-way messages (A2A)")
    p.add_argument("--window", type=int, default=192, help="web4: most unacknowledged")
    p.add_argument("--a2a-window", type=int, default=8, help="A2A: requests in flight")
    p.add_argument("--quick", action="store_true", help="a smoke run: 100 round trips")
    p.add_argument(
        "--inline-fsync",
        action="store_true",
        help="web4 nodes with the store as before group commit (a fsync per COMMIT)",
    )
    a = p.parse_args()
    if a.quick:
        a.n, a.one_way, a.a2a_one_way = 100, 512, 200
    timeout = 600.0
    started = time.time()
    extra = ("--inline-fsync",) if a.inline_fsync else ()
    web4 = bench_web4(a.n, a.one_way, a.window, timeout, extra)
    a2a = bench_a2a(a.n, a.a2a_one_way, a.a2a_window, timeout)
    raw = bench_raw(a.n, timeout)
    w, x, r = summary(web4["rtt_us"]), summary(a2a["rtt_us"]), summary(raw["rtt_us"])
    w_rate, x_rate = web4["one_way_msgs_per_s"], a2a["one_way_msgs_per_s"]
    ratios = {
        "rtt_p50_vs_a2a": round(w["p50_us"] / x["p50_us"], 3),
        "rtt_p99_vs_a2a": round(w["p99_us"] / x["p99_us"], 3),
        "rtt_p50_vs_raw": round(w["p50_us"] / r["p50_us"], 1),
        "one_way_vs_a2a": round(w_rate / x_rate, 3) if x_rate else None,
    }
    met = {
        "rtt_p50_vs_a2a": ratios["rtt_p50_vs_a2a"] <= 0.5,
        "one_way_msgs_per_s": w_rate >= 3000,
        "one_way_vs_a2a": bool(ratios["one_way_vs_a2a"]) and ratios["one_way_vs_a2a"] >= 2.0,
    }
    doc = {
        "benchmark": "e2e",
        "quick": a.quick,
        "store": "inline fsync (before group commit)" if a.inline_fsync else "group commit",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
        "versions": versions(),
        "settings": {
            "round_trips": a.n,
            "web4_one_way": a.one_way,
            "web4_window": a.window,
            "a2a_one_way": a.a2a_one_way,
            "a2a_in_flight": a.a2a_window,
        },
        "web4": {
            **w,
            "one_way_msgs_per_s": round(w_rate, 1),
            "one_way_seen_by_responder": web4.get("one_way_seen_by_responder"),
        },
        "baseline_a2a": {**x, "one_way_msgs_per_s": round(x_rate, 1)},
        "baseline_raw_tcp": r,
        "ratios": ratios,
        "targets": TARGETS,
        "met": met,
        "cdf_us": {
            "web4": cdf(web4["rtt_us"]),
            "a2a": cdf(a2a["rtt_us"]),
            "raw_tcp": cdf(raw["rtt_us"]),
        },
        "command": " ".join(["python", "benches/bench_e2e.py", *sys.argv[1:]]),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(
        f"e2e round trip p50/p99 us: web4 {w['p50_us']:.0f}/{w['p99_us']:.0f}, "
        f"A2A {x['p50_us']:.0f}/{x['p99_us']:.0f}, raw TCP {r['p50_us']:.0f}/{r['p99_us']:.0f}"
        f" (web4/A2A p50 {ratios['rtt_p50_vs_a2a']}, target <= 0.5)\n"
        f"one way msgs/s: web4 {w_rate:.0f}, A2A {x_rate:.0f} (ratio {ratios['one_way_vs_a2a']},"
        f" targets >= 3000 and >= 2x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

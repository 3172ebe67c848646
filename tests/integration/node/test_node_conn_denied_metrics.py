"""Connections refused by the transport's caps reach the operator (issue 14), in a real
``web4 node`` process: a flood of TCP connections that never start their handshake fills
the pending-inbound cap (a quarter of ``max(256, 8 x --max-peers)``: 64), the ones past
it are closed at once and counted in ``rtt.node_stats`` and in ``/metrics`` as
``web4_connections_denied_total{reason="pending_in"}``; the other reasons stay at 0, and
the node still serves a peer once the flood is gone."""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.nodeproc import NodeProc, keygen

pytestmark = pytest.mark.timeout(180)

LISTEN = ("--listen", "/ip4/127.0.0.1/tcp/0")
PENDING_CAP = 64  # max(256, 8 x 32) / 4 (RTT_SPEC §16 Connection caps)
FLOOD = PENDING_CAP + 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def denied(port: int) -> dict[str, float]:
    """``web4_connections_denied_total`` by reason, as scraped over HTTP."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {
        s.labels["reason"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "web4_connections_denied"
        for s in family.samples
        if s.name == "web4_connections_denied_total"
    }


def closed_by_peer(s: socket.socket) -> bool:
    """Has the node closed this socket (EOF or reset)? Does not block."""
    s.setblocking(False)
    try:
        while True:
            if not s.recv(4096):
                return True  # EOF
    except BlockingIOError:
        return False  # open; whatever the node sent (its multistream header) is read
    except OSError:
        return True


def test_a_flood_of_half_open_connections_shows_in_the_metrics_by_reason(
    tmp_path: Path,
) -> None:
    (a_dir, _), (b_dir, _) = keygen(tmp_path, "alice"), keygen(tmp_path, "bob")
    args = (*LISTEN, "--min-peers", "0", "--no-mdns")
    for attempt in range(3):  # a free port may be taken before the node binds it
        port = free_port()
        alice = NodeProc(a_dir, *args, "--metrics-port", str(port))
        try:
            addr = alice.addr(timeout=30)
            break
        except AssertionError:
            alice.kill()
            if attempt == 2:
                raise
    bob = None
    flood: list[socket.socket] = []
    try:
        zero = {"pending_in": 0, "pending_out": 0, "established_in": 0, "per_peer": 0, "total": 0}
        assert denied(port) == zero, "every reason is a series before any refusal"

        tcp_port = int(addr.split("/")[4])
        for _ in range(FLOOD):
            flood.append(socket.create_connection(("127.0.0.1", tcp_port), timeout=10))
        deadline = time.monotonic() + 60
        while denied(port)["pending_in"] < FLOOD - PENDING_CAP:
            assert time.monotonic() < deadline, f"refusals never reached /metrics: {denied(port)}"
            time.sleep(0.5)
        got = denied(port)
        assert got["pending_in"] >= FLOOD - PENDING_CAP
        assert {k: v for k, v in got.items() if k != "pending_in"} == {
            k: 0 for k in zero if k != "pending_in"
        }
        # the refused ones were closed by the node, not left hanging
        deadline = time.monotonic() + 30
        while sum(closed_by_peer(s) for s in flood) < FLOOD - PENDING_CAP:
            assert time.monotonic() < deadline, "the refused sockets were not closed"
            time.sleep(0.2)
        # the event the metric is fed from (every 2 s, at debug level)
        ev = alice.wait_for(
            lambda e: (
                e["kind"] == "rtt.node_stats"
                and int(e["attributes"]["connections_denied_pending_in"]) >= FLOOD - PENDING_CAP
            ),
            timeout=30,
        )
        a = ev["attributes"]
        assert a["connections_denied"] == sum(a[f"connections_denied_{r}"] for r in zero), (
            "the total is the sum of the reasons"
        )
        assert a["punch_addrs_refused"] == 0

        # the flood gone, the node serves a peer as before
        for s in flood:
            s.close()
        flood.clear()
        bob = NodeProc(b_dir, *args, "--peer", addr)
        bob.kind("cip.handshake.done", timeout=60)
        assert alice.proc.poll() is None
        assert alice.stop() == 0
    finally:
        for s in flood:
            with contextlib.suppress(OSError):
                s.close()
        alice.kill()
        if bob is not None:
            bob.kill()

"""Two nodes that list each other as ``--peer`` dial each other at the same moment. The
transport settles on one session (the smaller peer id keeps its dial, the other answers
it: RTT_SPEC §3), and each node serves it once: one CIP handshake per side and no
session closed "by the application" while both keep running (before the fix, each node
closed the shared session every few hundred milliseconds and dialled again)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from support.nodeproc import NodeProc, keygen
from web4.identity import Identity
from web4.rtt import Transport

pytestmark = pytest.mark.timeout(90)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peer_id(data: Path) -> str:
    async def make() -> str:
        t = Transport(Identity.in_data_dir(data))
        try:
            return t.peer_id
        finally:
            await t.shutdown()

    return asyncio.run(make())


def events_so_far(n: NodeProc, settle: float) -> list[dict[str, Any]]:
    """Every event the node printed up to now (waits ``settle`` s for stragglers)."""
    with pytest.raises(AssertionError):
        n.wait_for(lambda e: False, timeout=settle)
    return list(n.events)


def test_two_nodes_that_dial_each_other_keep_one_session(tmp_path: Path) -> None:
    (a_dir, _), (b_dir, _) = keygen(tmp_path, "alice"), keygen(tmp_path, "bob")
    pa, pb = free_port(), free_port()
    a_addr = f"/ip4/127.0.0.1/tcp/{pa}/p2p/{peer_id(a_dir)}"
    b_addr = f"/ip4/127.0.0.1/tcp/{pb}/p2p/{peer_id(b_dir)}"
    nodes = [
        NodeProc(a_dir, "--listen", f"/ip4/127.0.0.1/tcp/{pa}", "--peer", b_addr),
        NodeProc(b_dir, "--listen", f"/ip4/127.0.0.1/tcp/{pb}", "--peer", a_addr),
    ]
    try:
        for n in nodes:
            n.kind("cip.handshake.done", timeout=20)
        time.sleep(2.0)  # the old churn closed a session every ~0.2 s
        seen = [events_so_far(n, 1.0) for n in nodes]
    finally:
        for n in nodes:
            n.stop()
    for events in seen:
        kinds = [e["kind"] for e in events]
        assert kinds.count("cip.handshake.done") == 1, kinds
        assert kinds.count("rtt.session_open") == 1, kinds
        closed_by_us = [
            e
            for e in events
            if e["kind"] == "rtt.session_close" and "application" in str(e["attributes"])
        ]
        assert closed_by_us == [], closed_by_us

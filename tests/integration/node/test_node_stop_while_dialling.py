"""Stopping a node while it dials peers that do not answer (TCP accepts, no Noise) is a
clean stop: no dial starts after ``stop()``, and a dial that fails after it is no
"peer unreachable" error. Before, each ``--peer`` queued behind the one-at-a-time dial
lock still ran its full connect after the stop, and the first whose deadline had passed
made ``run()`` (and ``web4 node``) fail with exit code 1."""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path

import pytest

from web4.identity import Identity
from web4.node import Node, NodeConfig

pytestmark = pytest.mark.timeout(20)


def test_stop_during_dials_to_silent_peers_is_clean_and_prompt(tmp_path: Path) -> None:
    data = tmp_path / "node"
    Identity.create_in_data_dir(data, "node")
    peer_id = "12D3KooWDSnvZujDBy57Hf8w9WwXeaVSLQxRALnYNBeVDaA3JGGi"
    listeners = []
    for _ in range(3):  # accept TCP (the kernel's backlog does) and never speak
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        listeners.append(s)
    peers = tuple(f"/ip4/127.0.0.1/tcp/{s.getsockname()[1]}/p2p/{peer_id}" for s in listeners)
    cfg = NodeConfig(data_dir=data, console=False, peers=peers, handshake_timeout=3.0)
    node = Node(cfg, stdout=io.StringIO(), exit_after=0.5, tick=0.1)
    node.send_timeout = 2.0  # each connect attempt's deadline

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        run = asyncio.create_task(node.run())
        async with asyncio.timeout(15):
            # Timed from when the node runs (exit_after counts from there): how long its
            # start-up takes on a loaded machine is not what this test is about.
            while not node.running() and not run.done():
                await asyncio.sleep(0.01)
            start = loop.time()
            await run  # raised RTTTransportError("peer ... unreachable") before
        return loop.time() - start

    try:
        took = asyncio.run(timed())
    finally:
        for s in listeners:
            s.close()
    # exit_after 0.5 s, then at most the one connect already under way (2 s).
    assert took < 3.5, took

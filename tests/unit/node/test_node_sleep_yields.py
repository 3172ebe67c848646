"""After ``stop()``, the node's interruptible sleep still yields to the event loop.

A set ``asyncio.Event``'s ``wait()`` returns without suspending; the telemetry pump
looped on such a sleep after a stop and, when it ran before the main task, never let the
shutdown run (a node spun emitting ``rtt.telemetry`` until killed: the mesh demo failed
about one run in six)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from web4.identity import Identity
from web4.node import Node, NodeConfig


def test_sleep_after_stop_lets_other_tasks_run(tmp_path: Path) -> None:
    Identity.create_in_data_dir(tmp_path / "n", "n")
    node = Node(NodeConfig(data_dir=tmp_path / "n", console=False), stdout=io.StringIO())

    async def scenario() -> list[str]:
        ran: list[str] = []

        async def other() -> None:
            ran.append("other")

        node.stop()
        task = asyncio.create_task(other())
        async with asyncio.timeout(5):
            for _ in range(3):
                await node.sleep(10.0)  # returns at once, but must yield
        ran.append("sleeps done")
        await task
        return ran

    assert asyncio.run(scenario()) == ["other", "sleeps done"]

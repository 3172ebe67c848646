"""`web4.Node` as a library, in one process: two nodes over real RTT on loopback, each in
an `async with` block, one running an agent written in the test on the public Agent API.

The node's lifecycle: `Node(...)` builds everything and holds the data directory (a
second `Node` on it is refused while the first lives); `async with` runs it in the
background and releases everything at the end; a node runs once; a node built and never
run is released by `close()`.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

import web4
from web4.agent import AgentContext, FactProposed
from web4.errors import ConfigError, DataDirBusyError
from web4.identity import Identity
from web4.node import Proposal

pytestmark = pytest.mark.timeout(90)

FACT = "Sound travels faster in water than in air"


class Confirmer(web4.Agent):
    """Confirms every proposal whose statement it was told about, and remembers what it saw."""

    mission = "confirm what I know"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_fact_proposed(self, ctx: AgentContext, proposal: FactProposed) -> None:
        self.seen.append(proposal.statement)
        if proposal.statement == FACT:
            ctx.confirm(proposal, notes="known from the test")


def config(root: Path, name: str, **kw: object) -> web4.NodeConfig:
    data = root / name
    Identity.create_in_data_dir(data, name)
    return web4.NodeConfig(data_dir=data, console=False, **kw)  # type: ignore[arg-type]


def test_two_nodes_in_one_process_with_a_custom_agent(tmp_path: Path) -> None:
    async def main() -> None:
        a_cfg = config(tmp_path, "alice", listen=("/ip4/127.0.0.1/tcp/0",))
        agent = Confirmer()
        async with web4.Node(a_cfg, agent=agent, stdout=io.StringIO(), tick=0.1) as alice:
            assert alice.listen_addrs, "running and listening when the block starts"
            with pytest.raises(DataDirBusyError, match="one process per data directory"):
                web4.Node(a_cfg)  # the data directory is held
            b_cfg = config(tmp_path, "bob", peers=(alice.listen_addrs[0],))
            bob = web4.Node(
                b_cfg,
                proposals=(Proposal(FACT, "physics", 0.9),),
                stdout=io.StringIO(),
                tick=0.1,
            )
            async with bob:
                async with asyncio.timeout(30):
                    while FACT not in agent.seen:
                        await asyncio.sleep(0.05)
                    # alice's confirmation reaches bob, bound to bob's claim
                    while not [
                        e
                        for e in bob.obs.ring.events("knowledge.confirmation")
                        if e.peer == alice.fingerprint
                    ]:
                        bob.bus.flush(1.0)
                        await asyncio.sleep(0.05)
            with pytest.raises(ConfigError, match="already ran"):
                await bob.run()
        # both released: the data directories can be taken again
        again = web4.Node(a_cfg)
        again.close()
        web4.Node(b_cfg).close()

    asyncio.run(main())


def test_a_node_that_is_built_but_never_run_is_released_by_close(tmp_path: Path) -> None:
    cfg = config(tmp_path, "carol")
    node = web4.Node(cfg)
    with pytest.raises(DataDirBusyError):
        web4.Node(cfg)
    node.close()
    node.close()  # idempotent
    web4.Node(cfg).close()

"""A human who leaves is forgotten by the node's HCP runtime.

``HcpLipRuntime.humans`` is keyed by the fingerprint of each authorised human that sent
HCP, so without cleanup it grows with every human session
for the node's whole life, and the retry task walks all of them every tick. When the
human's session ends, its entry goes; a new session starts with ``HCP_HELLO`` anyway.
The same holds for the table of refused (unauthorised) keys.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Container
from pathlib import Path

import pytest

from web4.cli.human import run_human
from web4.cli.main import build_parser
from web4.errors import TrustViolationError
from web4.hcp.authorized import add_authorized, authorized_path
from web4.identity import Identity
from web4.node import Node, NodeConfig

pytestmark = pytest.mark.timeout(60)


async def _session_then_forgotten(
    tmp_path: Path, *, authorised: bool, table: Callable[[Node], Container[str]]
) -> None:
    """One ``web4 human`` session ("hello") with a live node; its end must drop the
    human from ``table(node)``."""
    data = tmp_path / "node"
    Identity.create_in_data_dir(data, "node")
    node = Node(NodeConfig(data_dir=data, console=False), stdout=io.StringIO(), tick=0.1)
    run = asyncio.create_task(node.run())
    try:
        async with asyncio.timeout(40):
            while not node.listen_addrs:
                await asyncio.sleep(0.05)
            human_dir = tmp_path / "human"
            fp = Identity.create_in_data_dir(human_dir, "ana").fingerprint
            if authorised:
                add_authorized(authorized_path(data), fp, "Ana")  # the operator's consent
            args = build_parser().parse_args(
                ["human", "--peer", node.listen_addrs[0], "--data-dir", str(human_dir),
                 "--name", "Ana", "--reply-wait", "10", "--linger", "0.2", "--timeout", "20"]
            )  # fmt: skip
            out = io.StringIO()
            # --reply-wait is only a bound: each wait ends when the agent's answer arrives.
            try:
                code = await asyncio.to_thread(run_human, args, io.StringIO("hello\n"), out)
            except TrustViolationError:  # refused: the client's one-line error
                code = 1
            assert code == (0 if authorised else 1), out.getvalue()
            # The node answered (a reply, or the refusal), so it had the human in its
            # table; the session may already be gone (the client closes it), so no check here.
            assert "agent" in out.getvalue()
            # The session ends (here the node ends it: the client's CLOSE can be lost
            # when its transport shuts down right after, and RTT then keeps the
            # session for the resume window, session_expiry).
            conn = node.conns.get(fp)
            if conn is not None:
                conn.stop.set()
            loop = asyncio.get_running_loop()
            end = loop.time() + 15.0  # returns as soon as both are gone
            while (fp in node.conns or fp in table(node)) and loop.time() < end:
                await asyncio.sleep(0.1)
            assert fp not in node.conns
            assert fp not in table(node)
    finally:
        node.stop()
        async with asyncio.timeout(10):
            await run


def test_a_human_whose_session_closed_is_forgotten(tmp_path: Path) -> None:
    asyncio.run(
        _session_then_forgotten(tmp_path, authorised=True, table=lambda n: n.protocols.humans)
    )


def test_a_refused_key_whose_session_closed_is_forgotten(tmp_path: Path) -> None:
    asyncio.run(
        _session_then_forgotten(tmp_path, authorised=False, table=lambda n: n.protocols.refused)
    )

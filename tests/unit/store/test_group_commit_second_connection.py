"""A node's store with group commit but without batching (``batch_s=0``, what the node
uses) holds no write lock between transactions: code on the loop thread that writes
through a second connection to the same file (an agent's own index, as the librarian
example does) right after the node wrote is not blocked. With batching the second
writer waits ``busy_timeout`` and fails with "database is locked" (the demo failed so)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from web4.errors import StoreError
from web4.store import GroupCommit, Migration, MigrationSet, Store

ITEMS = MigrationSet(
    "gc2", (Migration(1, "t", ("CREATE TABLE gc2_t (k INTEGER PRIMARY KEY, v TEXT)",)),)
)


def _write_then_second_writer(path: Path, batch_s: float) -> None:
    async def body() -> None:
        node = Store.open(path, migrations=[ITEMS], group_commit=GroupCommit(batch_s=batch_s))
        other = Store.open(path, busy_timeout_s=0.2)
        try:
            with node.transaction():
                node.execute("INSERT INTO gc2_t (k, v) VALUES (1, 'node')")
            # same callback, same thread: an agent writes through its own connection
            with other.transaction():
                other.execute("INSERT INTO gc2_t (k, v) VALUES (2, 'agent')")
            await node.durable()
        finally:
            other.close()
            node.close()

    asyncio.run(body())


def test_without_batching_a_second_connection_writes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _write_then_second_writer(path, batch_s=0.0)
    with Store.open(path) as check:
        assert check.query("SELECT k, v FROM gc2_t ORDER BY k") == [(1, "node"), (2, "agent")]


def test_with_batching_the_second_connection_is_locked_out(tmp_path: Path) -> None:
    """Why the node does not batch: the batch's open transaction locks others out."""
    with pytest.raises(StoreError, match="locked"):
        _write_then_second_writer(tmp_path / "db.sqlite", batch_s=0.05)


def test_an_agent_writing_after_each_reply_does_not_make_every_group_checkpoint(
    tmp_path: Path,
) -> None:
    # The librarian's pattern: the node commits, waits for durable() (its reply's send),
    # then the agent writes through its own connection (synchronous=FULL, no
    # journal_size_limit). Before, the checkpoint thread ran while the loop went on
    # (the agent's commit, its fsync): the checkpoint left frames behind, the WAL was
    # never reset, and a checkpoint ran before 341-386 of 400 fsyncs (about 25 needed).
    path = tmp_path / "db.sqlite"
    bound = 256 << 10
    node = Store.open(path, migrations=[ITEMS], group_commit=GroupCommit(checkpoint_bytes=bound))
    agent = Store.open(path)
    wal = Path(f"{path}-wal")
    sizes: list[int] = []

    async def rounds() -> None:
        for k in range(0, 800, 2):  # about 6 times the bound through the WAL
            with node.transaction():
                node.execute("INSERT INTO gc2_t (k, v) VALUES (?, ?)", (k, "n" * 3000))
            await node.durable()
            with agent.transaction():
                agent.execute("INSERT INTO gc2_t (k, v) VALUES (?, ?)", (k + 1, "a" * 100))
            sizes.append(wal.stat().st_size)

    try:
        asyncio.run(rounds())
        fsyncs, checkpoints = node.group_fsyncs, node.group_checkpoints
    finally:
        agent.close()
        node.close()
    assert checkpoints >= 2  # the WAL passed the bound again and again
    assert checkpoints * 4 < fsyncs, f"{checkpoints} checkpoints for {fsyncs} fsyncs"
    assert max(sizes) < 4 * bound

"""The store's fsync thread as the product runs it (``web4._core.WalSync``, no injected
fsync): it fdatasyncs the -wal file and publishes ``synced`` without ever taking the GIL,
and wakes the event loop through its fd. (The group-commit rules themselves are tested
through the store with a gated fsync: ``test_group_commit.py``.)"""

from __future__ import annotations

import asyncio
import select
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from web4._core import WalSync
from web4.store import GroupCommit, Store


@pytest.fixture
def wal_db(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, Path]]:
    db = tmp_path / "db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    yield conn, db
    conn.close()


def test_synced_advances_while_this_thread_holds_the_gil(
    wal_db: tuple[sqlite3.Connection, Path],
) -> None:
    # A Python writer thread needed the GIL back to publish its fsync, and waited for
    # the busy loop thread to let go (0.5-0.9 ms per send). Here this thread keeps the
    # GIL (a switch interval of 100 s: nothing else runs Python meanwhile) and still sees
    # the commit become durable.
    conn, db = wal_db
    sync = WalSync(f"{db}-wal", 3600.0, 1 << 30)
    try:
        conn.execute("INSERT INTO t (k) VALUES (1)")
        sync.commit()
        target = sync.request()
        assert target == 1
        before = sys.getswitchinterval()
        sys.setswitchinterval(100.0)
        try:
            deadline = time.monotonic() + 30
            while sync.synced < target and time.monotonic() < deadline:
                pass  # pure Python: the GIL is not released here
            synced = sync.synced
        finally:
            sys.setswitchinterval(before)
        assert synced >= target
        assert sync.fsyncs == 1
        assert sync.request() == -1  # durable now
        readable, _, _ = select.select([sync.wake_fd()], [], [], 10)
        assert readable  # someone asked: the loop's fd was woken
        sync.clear_wake()
        readable, _, _ = select.select([sync.wake_fd()], [], [], 0)
        assert not readable
    finally:
        assert sync.close(10)
    assert sync.finished


def test_commits_nobody_asks_for_are_synced_without_waking_the_loop(
    wal_db: tuple[sqlite3.Connection, Path],
) -> None:
    conn, db = wal_db
    sync = WalSync(f"{db}-wal", 0.01, 1 << 30)
    try:
        conn.execute("INSERT INTO t (k) VALUES (1)")
        sync.commit()
        deadline = time.monotonic() + 30
        while sync.synced < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sync.synced == 1  # idle_sync_s after the commit
        readable, _, _ = select.select([sync.wake_fd()], [], [], 0.05)
        assert not readable  # nobody waited: no wake-up for the loop
    finally:
        sync.close(10)


def test_close_syncs_what_was_counted_and_refuses_later_requests(
    wal_db: tuple[sqlite3.Connection, Path],
) -> None:
    conn, db = wal_db
    sync = WalSync(f"{db}-wal", 3600.0, 1 << 30)
    conn.execute("INSERT INTO t (k) VALUES (1)")
    sync.commit()
    assert sync.close(10)
    assert (sync.synced, sync.fsyncs) == (1, 1)
    conn.execute("INSERT INTO t (k) VALUES (2)")
    sync.commit()
    assert sync.request() == -3  # closing: not made durable


def test_the_store_uses_the_native_fsync_by_default(tmp_path: Path) -> None:
    assert GroupCommit().fsync is None
    store = Store.open(tmp_path / "db", group_commit=GroupCommit(idle_sync_s=3600.0))

    async def main() -> None:
        await asyncio.wait_for(store.durable(), 10)
        before = store.group_fsyncs
        store.execute("CREATE TABLE t (k INTEGER)")
        await asyncio.wait_for(store.durable(), 10)  # woken through the fd
        assert store.group_fsyncs == before + 1

    asyncio.run(main())
    store.close()


def test_idle_sync_never_is_a_setting_not_a_dead_thread(tmp_path: Path) -> None:
    # idle_sync_s=inf: commits nobody waits for are never synced on their own, only on
    # demand. Before, the thread computed "now + inf" and panicked: every durable()
    # waited for good and close timed out.
    store = Store.open(tmp_path / "db", group_commit=GroupCommit(idle_sync_s=float("inf")))

    async def main() -> None:
        store.execute("CREATE TABLE t (k INTEGER)")
        await asyncio.wait_for(store.durable(), 30)

    try:
        asyncio.run(main())
        assert store.group_fsyncs >= 1
    finally:
        store.close()

"""A node's store keeps SQLite's locks while its writer thread works: another process
that opens the same database (``web4 status``, a test reading a node's memory) must not
rebuild the ``-shm`` file under the node's mapping. Before, the thread opened and closed
the ``-shm`` file to read the WAL backlog; closing it dropped the process's POSIX locks
on it, the other process truncated it, and the node died of SIGBUS (seen in CI)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import asyncio, sys
from web4.store import GroupCommit, Migration, MigrationSet, Store

ITEMS = MigrationSet("gp", (Migration(1, "t", ("CREATE TABLE gp_t (k INTEGER PRIMARY KEY)",)),))
grouped = GroupCommit(checkpoint_bytes=32 << 10)
store = Store.open(sys.argv[1], migrations=(ITEMS,), group_commit=grouped)

async def commits(start: int, n: int) -> None:
    for k in range(start, start + n):
        with store.transaction():
            store.execute("INSERT INTO gp_t (k) VALUES (?)", (k,))
        await store.durable()  # a group each: the thread reads the backlog each time

asyncio.run(commits(0, 300))
print("ready", flush=True)
sys.stdin.readline()  # the other process opened and closed the database meanwhile
asyncio.run(commits(300, 300))
print(store.query_one("SELECT COUNT(*) FROM gp_t")[0], flush=True)
store.close()
"""


# SQLite's "dead man switch" in the -shm file: every connection holds a shared POSIX
# lock on this byte (WALINDEX_LOCK_OFFSET 120 + 8 lock slots); a process that can lock
# it exclusively believes it is alone and rebuilds (truncates) the wal-index.
_DMS_BYTE = 128


def _dms_holder(shm: Path) -> int:
    """The pid holding a lock that conflicts with an exclusive lock on the DMS byte, or 0.
    F_GETLK with Linux's ``struct flock`` (short, short, off_t, off_t, pid_t)."""
    fd = os.open(shm, os.O_RDONLY)
    try:
        probe = struct.pack("@hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _DMS_BYTE, 1, 0)
        kind, _, _, _, pid = struct.unpack("@hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    finally:
        os.close(fd)
    return 0 if kind == fcntl.F_UNLCK else pid


def test_another_process_opening_the_store_does_not_break_the_writer(tmp_path: Path) -> None:
    db = tmp_path / "web4.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        assert _dms_holder(Path(f"{db}-shm")) == child.pid  # SQLite's lock is still held
        other = sqlite3.connect(db)
        try:
            assert other.execute("SELECT COUNT(*) FROM gp_t").fetchone() == (300,)
        finally:
            other.close()
        child.stdin.write("go\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, f"exit {child.returncode}: {err[-2000:]}"
    assert out.strip() == "600"
    again = sqlite3.connect(db)
    try:
        assert again.execute("SELECT COUNT(*) FROM gp_t").fetchone() == (600,)
    finally:
        again.close()

"""Group commit: the store's fsyncs on a writer thread, one for many commits.

Theory of operation: a store opened with ``group_commit`` runs its connection with
``synchronous=NORMAL`` in WAL mode: a ``COMMIT`` on the caller's thread (the event loop)
appends the transaction's frames to the ``-wal`` file with ``write()`` and returns,
without an fsync. Written to the OS, a commit already survives the process being killed
(``kill -9``); to survive an OS crash or power loss as ``synchronous=FULL`` does, the
``-wal`` file must reach the disk. That is this thread's job: each commit bumps a
sequence number (``committed``); the ``Syncer`` thread fsyncs the ``-wal`` file (fsync
acts on the file, whichever descriptor asks) and then marks every commit up to the
number it saw before the fsync as durable (``synced``). Commits that arrive during an
fsync are covered by the next one: one fsync for a group of commits, however many.

The thread fsyncs on demand: when a ``durable()`` waits (or the store closes), not on
every commit. A node commits what it receives, then what it answers; an fsync started
for the first commit alone would still run when the answer's send waits, and the send
would wait for it and then one more (two fsyncs in series where one covers both;
``benches/bench_e2e.py`` measured 1.6 fsyncs per send on each side, now 1). Commits
nobody waits for are fsynced once the oldest of them is ``idle_sync_s`` old, so an
unacknowledged commit does not stay off the disk for long (losing it is allowed).

An acknowledgement waits for its commit to be durable: ``Store.durable()`` (async)
returns once everything committed before the call is fsynced; the node awaits it before
any byte leaves for a peer (``web4.node.durable_link``), so a peer never holds an answer
to a message that a power cut could take back.

Optionally (``batch_s``) the commits themselves are batched on the event loop: the
transactions of a few milliseconds become savepoints of one transaction, one ``COMMIT``
for all (``durable()`` commits the open batch at once). Not for a file that other
connections of the same thread write (see ``GroupCommit.batch_s``).

Checkpoints move here too: the connection's automatic checkpoint is off (it would fsync
the WAL and the database on the committing thread) and the thread runs a ``PASSIVE``
checkpoint on its own connection once the ``-wal`` file passes ``checkpoint_bytes``.
SQLite reuses that file from its start after a checkpoint; left alone it would keep its
largest size and say "checkpoint" after every fsync (measured: a checkpoint, with its
database fsync, for 93 % of the groups, each moving a few frames). The store's
connection runs with ``journal_size_limit=0``: the first commit after a reset truncates
the file to the frames it holds, so its size is the backlog again. The thread never
opens the ``-shm`` file: closing any descriptor of a file drops every POSIX lock the
process holds on it, SQLite's included; without its lock on the wal-index another
process opening the database (``web4 status``, a test) rebuilds and truncates the
``-shm`` file under this one's mapping, and the node dies of SIGBUS (a CI run saw it).
SQLite stays consistent under ``NORMAL`` (its documented WAL guarantee); only commits
not yet durable can be lost, and nothing acknowledged is among them.

An fsync that fails (``EIO``) leaves the file's pages in an unknown state: the syncer
stops and every ``durable()`` from then on raises ``StoreError`` (fail closed: the node
acknowledges nothing more).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from web4.errors import StoreError

__all__ = ["GroupCommit", "Syncer"]


@dataclass(frozen=True)
class GroupCommit:
    """Settings of a store's writer thread (``Store.open(..., group_commit=...)``)."""

    checkpoint_bytes: int = 4 << 20  # a -wal file past this is checkpointed (PASSIVE)
    # > 0: on an event loop, the transactions of this many seconds share one COMMIT. Off
    # by default (and in the node): the open batch holds SQLite's write lock across loop
    # callbacks, so a second connection to the same file written on the loop thread (an
    # agent's own index) waits its busy timeout and fails with "database is locked".
    batch_s: float = 0.0
    # commits that no durable() waits for are fsynced once the oldest is this old
    # (a durable() fsyncs at once; see the module docstring)
    idle_sync_s: float = 0.05
    # what makes the -wal file durable: fdatasync where there is one (as SQLite's own
    # synchronous=FULL does on Linux: the data and the size, not the timestamps)
    fsync: Callable[[int], None] = field(default=getattr(os, "fdatasync", os.fsync))


_Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Syncer:
    """The writer thread of one store (see the module docstring)."""

    def __init__(self, db_path: str, settings: GroupCommit) -> None:
        self._db = db_path
        self._wal = f"{db_path}-wal"
        self._settings = settings
        self._cv = threading.Condition()
        self.committed = 0  # bumped by the store's thread after each commit
        self.synced = 0  # every commit up to this one is on disk
        self.fsyncs = 0  # how many fsyncs covered them (diagnostics, tests)
        self.checkpoints = 0  # how many checkpoints the thread ran (diagnostics, tests)
        self._pending_since = 0.0  # monotonic time of the oldest commit not yet synced
        self._waiters: list[_Waiter] = []
        self._error: StoreError | None = None
        self._stopping = False
        self._fd = -1
        self._ino = -1
        self._ckpt: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="web4-store-sync", daemon=True)
        self._thread.start()

    # --- the store's thread ---------------------------------------------------------

    def commit(self) -> None:
        """Count one commit (already written to the -wal file) and wake the thread."""
        with self._cv:
            first = self.committed <= self.synced
            if first:  # the oldest unsynced commit: its time
                self._pending_since = time.monotonic()
            self.committed += 1
            # the thread sleeps untimed with nothing pending: the first commit makes it
            # wait idle_sync_s instead (or less, for a durable() that notifies it)
            if first or self._waiters:
                self._cv.notify()

    async def durable(self) -> None:
        """Return once every commit counted so far is fsynced. Raises ``StoreError``
        when the thread failed or stopped first."""
        target = self.committed
        if self.synced >= target and self._error is None:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cv:
            if self._error is not None:
                raise self._error
            if self.synced >= target:
                return
            if self._stopping:
                raise StoreError("the store is closing: this commit was not made durable")
            self._waiters.append((target, loop, fut))
            self._cv.notify()
        await fut

    def close(self, timeout: float = 30.0) -> None:
        """Make every counted commit durable, stop the thread and release its files."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout)
        with self._cv:
            waiters, self._waiters = self._waiters, []
        for _, loop, fut in waiters:  # none left unless the thread failed or hung
            _settle(loop, fut, StoreError("the store closed before this commit was durable"))

    # --- the thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cv:
                    while (wait := self._idle()) != 0.0:
                        self._cv.wait(wait)
                    if self.committed <= self.synced:  # stopping, nothing left
                        return
                    target = self.committed
                    started = time.monotonic()
                try:
                    self._sync()
                except OSError as exc:
                    self._fail(StoreError(f"the store could not fsync its journal: {exc}"))
                    return
                with self._cv:
                    self.synced = target
                    self.fsyncs += 1
                    # commits made during the fsync: their age counts from its start
                    self._pending_since = started
                    done = [w for w in self._waiters if w[0] <= target]
                    self._waiters = [w for w in self._waiters if w[0] > target]
                for _, loop, fut in done:
                    _settle(loop, fut, None)
                self._maybe_checkpoint()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
            if self._ckpt is not None:
                self._ckpt.close()

    def _idle(self) -> float | None:
        """With ``_cv`` held: 0 to fsync now (or to return: stopping), else how long to
        wait (None: until notified). Now = a ``durable()`` waits, the store closes, or
        the oldest unsynced commit is ``idle_sync_s`` old."""
        if self._stopping:
            return 0.0
        if self.committed <= self.synced:
            return None
        if self._waiters:
            return 0.0
        left = self._pending_since + self._settings.idle_sync_s - time.monotonic()
        return max(left, 0.0)

    def _sync(self) -> None:
        """fsync the -wal file as it is now (a new one after SQLite replaced it: then its
        directory entry too, as SQLite does for a new journal)."""
        try:
            ino = os.stat(self._wal).st_ino
        except FileNotFoundError:
            return  # no WAL: the last checkpoint wrote everything to the database, synced
        if ino != self._ino:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._fd = os.open(self._wal, os.O_RDONLY | os.O_CLOEXEC)
            self._ino = os.fstat(self._fd).st_ino
            parent = os.open(os.path.dirname(self._wal) or ".", os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(parent)  # a directory: the entry of the new file
            finally:
                os.close(parent)
        self._settings.fsync(self._fd)

    def _backlog(self) -> int:
        """Bytes in the -wal file: the frames since its last reset (the store's
        ``journal_size_limit=0`` truncates it then). A stat, never an open: see the
        module docstring on the ``-shm`` file and POSIX locks."""
        try:
            return os.stat(self._wal).st_size
        except OSError:
            return 0  # no WAL: the last checkpoint wrote everything to the database

    def _maybe_checkpoint(self) -> None:
        if self._backlog() < self._settings.checkpoint_bytes:
            return
        self.checkpoints += 1
        # A failed checkpoint is retried after the next group; the WAL keeps every commit.
        with contextlib.suppress(sqlite3.Error):
            if self._ckpt is None:
                self._ckpt = sqlite3.connect(self._db, isolation_level=None, timeout=5.0)
                self._ckpt.execute("PRAGMA synchronous=NORMAL")
            self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _fail(self, error: StoreError) -> None:
        with self._cv:
            self._error = error
            waiters, self._waiters = self._waiters, []
        for _, loop, fut in waiters:
            _settle(loop, fut, error)


def _settle(
    loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None], error: StoreError | None
) -> None:
    def done() -> None:
        if fut.done():
            return
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)

    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
        loop.call_soon_threadsafe(done)

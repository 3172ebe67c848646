"""Group commit: the store's fsyncs on a writer thread, one for many commits.

Theory of operation: a store opened with ``group_commit`` runs its connection with
``synchronous=NORMAL`` in WAL mode: a ``COMMIT`` on the caller's thread (the event loop)
appends the transaction's frames to the ``-wal`` file with ``write()`` and returns,
without an fsync. Written to the OS, a commit already survives the process being killed
(``kill -9``); to survive an OS crash or power loss as ``synchronous=FULL`` does, the
``-wal`` file must reach the disk. That is the writer thread's job, a native thread of
the binding (``web4._core.WalSync``, ``rust/web4-py/src/walsync.rs``): each commit bumps
a sequence number (``committed``); the thread fdatasyncs the ``-wal`` file (fsync acts
on the file, whichever descriptor asks) and then marks every commit up to the number it
saw before the fsync as durable (``synced``). Commits that arrive during an fsync are
covered by the next one: one fsync for a group of commits, however many.

The thread never takes the GIL: it publishes ``synced`` in an atomic and, when a
``durable()`` waits, writes one byte to a wake fd that each waiting event loop watches
(``add_reader``); the loop's callback settles the futures (a future of another loop on
its own loop, with ``call_soon_threadsafe``). A Python thread here had to take the GIL
back from the busy loop thread after each fsync (``benches/bench_e2e.py``: about
0.1-0.3 ms more per durability wait, on a host where the fdatasync itself takes
0.6-0.8 ms when fsyncs are spaced as a node's are).

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

Checkpoints are off the loop too: the connection's automatic checkpoint is off (it would
fsync the WAL and the database on the committing thread) and a Python thread of the
store runs a ``PASSIVE`` checkpoint on its own connection once the ``-wal`` file passes
``checkpoint_bytes`` at a group's fsync, between that fsync and the next, and before
the group's waiters are woken: a checkpoint overlapped by commits leaves frames behind,
and SQLite resets the file only when a commit starts with every frame checkpointed (woken
first, the loop committed during nearly every checkpoint and the file was never reset).
A checkpoint that copied every frame empties the file at once (``TRUNCATE``, only if
the write lock is free): the next commit may be another connection's.
SQLite reuses that file from its start after a checkpoint; left alone it would keep its
largest size and say "checkpoint" after every fsync (measured: a checkpoint, with its
database fsync, for 93 % of the groups, each moving a few frames). The store's
connection runs with ``journal_size_limit=0``: the first commit after a reset truncates
the file to the frames it holds, so its size is the backlog again. The thread never
opens the database or its ``-shm`` file (the ``-wal`` file it may): closing any
descriptor of a file drops every POSIX lock the process holds on it, SQLite's included;
without its lock on the wal-index another process opening the database (``web4
status``, a test) rebuilds and truncates the ``-shm`` file under this one's mapping, and
the node dies of SIGBUS (a CI run saw it).
SQLite stays consistent under ``NORMAL`` (its documented WAL guarantee); only commits
not yet durable can be lost, and nothing acknowledged is among them.

An fsync that fails (``EIO``) leaves the file's pages in an unknown state: the thread
stops and every ``durable()`` from then on raises ``StoreError`` (fail closed: the node
acknowledges nothing more). Tests inject an fsync (``GroupCommit.fsync``: a gate, an
``EIO``): the same thread calls it, taking the GIL around that call only.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass

from web4._core import WalSync
from web4.errors import StoreError

__all__ = ["GroupCommit", "Syncer"]

# WalSync.request(): everything counted is durable / the fsync failed / closing
_DURABLE, _FAILED, _CLOSING = -1, -2, -3


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
    # None (the product): the binding's thread fdatasyncs the -wal file (as SQLite's own
    # synchronous=FULL does on Linux: the data and the size, not the timestamps) without
    # the GIL. Tests: a callable given the fd, called instead (that thread takes the GIL
    # around the call), e.g. a gate or an injected EIO.
    fsync: Callable[[int], None] | None = None


_Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Syncer:
    """The writer thread of one store (see the module docstring)."""

    def __init__(self, db_path: str, settings: GroupCommit) -> None:
        self._db = db_path
        self._core = WalSync(
            f"{db_path}-wal", settings.idle_sync_s, settings.checkpoint_bytes, settings.fsync
        )
        self._fd = self._core.wake_fd()
        # Count one commit (already written to the -wal file): the store's hot path,
        # straight into the binding.
        self.commit: Callable[[], None] = self._core.commit
        # A request and its waiter are recorded under this lock, and a wake-up reads
        # the waiters under it after reading ``synced``: a wake-up handled on another
        # loop's thread cannot slip between the two.
        self._lock = threading.Lock()
        self._waiters: list[_Waiter] = []
        self._loops: set[asyncio.AbstractEventLoop] = set()  # loops watching the fd
        self.checkpoints = 0  # how many checkpoints ran (diagnostics, tests)
        self._ckpt = threading.Thread(
            target=self._checkpoints, name="web4-store-checkpoint", daemon=True
        )
        self._ckpt.start()

    @property
    def fsyncs(self) -> int:
        """How many fsyncs covered the commits so far (diagnostics, tests)."""
        return self._core.fsyncs

    async def durable(self) -> None:
        """Return once every commit counted so far is fsynced. Raises ``StoreError``
        when the journal could not be fsynced (then always) or the store is closing."""
        with self._lock:
            target = self._core.request()
            if target == _DURABLE:
                return
            if target < 0:
                raise self._refusal(target)
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((target, loop, fut))
            if loop not in self._loops:
                self._watch(loop)
        await fut

    def close(self, timeout: float = 30.0) -> None:
        """Make every counted commit durable, stop the threads and release the wake
        fd's loops; waits still pending are settled (durable, or ``StoreError``).
        Raises ``StoreError`` when the commits could not all be made durable (the
        journal could not be fsynced, or the thread did not finish within ``timeout``)."""
        stopped = self._core.close(timeout)
        self._ckpt.join(timeout)
        self._settle(final=True)
        with self._lock:
            loops, self._loops = self._loops, set()
        for loop in loops:
            self._unwatch(loop)
        failure = self._core.failure
        if failure is not None:
            raise StoreError(failure)
        if not stopped:
            raise StoreError(
                f"the store's fsync thread did not finish within {timeout} s: "
                "the last commits may not be durable"
            )

    # --- the event loops ----------------------------------------------------------------

    def _refusal(self, code: int) -> StoreError:
        failure = self._core.failure
        if code == _FAILED and failure is not None:
            return StoreError(failure)
        return StoreError("the store is closing: this commit was not made durable")

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """With ``_lock`` held: ``loop`` watches the wake fd (once; closed loops are
        forgotten)."""
        self._loops = {other for other in self._loops if not other.is_closed()}
        loop.add_reader(self._fd, self._settle)
        self._loops.add(loop)

    def _unwatch(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.is_closed():
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is here or not loop.is_running():
            loop.remove_reader(self._fd)
        else:  # running on another thread: there, while the fd is still open
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_remove_reader, loop, self._fd, self._core)

    def _settle(self, *, final: bool = False) -> None:
        """The wake fd's callback (on a loop watching it; ``final``: from ``close``):
        settle every waiter whose commit is durable, and all of them once the thread
        failed or stopped. Waiters of another loop are settled on their loop."""
        self._core.clear_wake()  # before reading: a later wake-up is not lost
        finished = final or self._core.finished
        synced = self._core.synced
        failure = self._core.failure
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        with self._lock:
            if not self._waiters:
                return
            left: list[_Waiter] = []
            for waiter in self._waiters:
                target, loop, fut = waiter
                if target <= synced:
                    error = None
                elif failure is not None:
                    error = StoreError(failure)
                elif finished:
                    error = StoreError("the store closed before this commit was durable")
                else:
                    left.append(waiter)
                    continue
                if loop is here:
                    _set(fut, error)
                else:
                    with contextlib.suppress(RuntimeError):  # closed: nobody waits
                        loop.call_soon_threadsafe(_set, fut, error)
            self._waiters = left

    # --- checkpoints (off the latency path: a Python thread is fine) ------------------

    def _checkpoints(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while self._core.wait_checkpoint():
                self.checkpoints += 1
                # A failed checkpoint is retried after a later group; the WAL keeps
                # every commit.
                with contextlib.suppress(sqlite3.Error):
                    if conn is None:
                        # busy timeout 0: never waits for a lock (the loop's writes)
                        new = sqlite3.connect(self._db, isolation_level=None, timeout=0.0)
                        new.execute("PRAGMA synchronous=NORMAL")
                        conn = new  # set up whole, or made again next time
                    busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if busy == 0 and frames == copied:
                        # every frame is in the database: empty the file now rather
                        # than at the next commit, which may be another connection's
                        # (an agent's own store: no journal_size_limit, the file kept
                        # its size and every group asked for a checkpoint). Takes the
                        # write lock only if free (busy_timeout 0), for a moment: the
                        # frames committed since the PASSIVE one, if any (then a
                        # database fsync: a loop commit meeting it waits up to ~9 ms).
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            if conn is not None:
                conn.close()


def _set(fut: asyncio.Future[None], error: StoreError | None) -> None:
    if fut.done():  # cancelled (the send gave up)
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)


def _remove_reader(loop: asyncio.AbstractEventLoop, fd: int, _core: WalSync) -> None:
    # ``_core`` keeps the fd open until it is unregistered: a number reused meanwhile
    # would confuse the loop's selector
    loop.remove_reader(fd)

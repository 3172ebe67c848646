"""The node's embedded SQLite store: one file, WAL mode, explicit transactions.

Theory of operation: a ``Store`` owns one ``sqlite3`` connection to one database file in
the node's data directory (``web4.sqlite3``, created with mode 0600). A database, its
``-wal``/``-shm``/``-journal`` files or its directory that another user owns or could
write is refused (``StoreError``, rules in ``web4.private``): a planted store would carry
trust rows. The connection runs
in autocommit mode and every write goes through ``transaction()``, which issues ``BEGIN
IMMEDIATE`` (so a read-modify-write is serialised against other processes too) and commits
or rolls back as a whole; nested ``transaction()`` calls become SAVEPOINTs, so a subsystem
can make its own writes atomic and still be composed into a caller's larger transaction.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL`` by default: a committed
transaction survives the process being killed (and power loss). With ``group_commit``
(the node's store) a commit is written to the WAL on the caller's thread and fsynced by
a writer thread, one fsync for every commit made meanwhile (``web4.store.group_commit``):
it survives a killed process at once, and power loss once ``await store.durable()``
returns, which the node awaits before anything it sends. ``busy_timeout`` bounds how
long a writer waits for another process's lock: every wait has a deadline.

Subsystems bring their own tables as a ``MigrationSet`` and call ``store.migrate(...)``
when they are constructed (idempotent). Every ``sqlite3`` failure surfaces as
``StoreError`` (a local problem: a corrupt file, a full disk, a schema mismatch); a broken
constraint (``sqlite3.IntegrityError``) as its subclass ``StoreConstraintError``: a bug of
ours met on some input, which ``transaction()`` marks ``rolled_back`` once it has undone
the transaction, so the node can end that one piece of work instead of stopping
(``web4.isolation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from web4.errors import StoreConstraintError, StoreError
from web4.private import check_private_file, make_private_dir
from web4.store.group_commit import GroupCommit, Syncer
from web4.store.migrations import MigrationSet

__all__ = ["DB_FILE_NAME", "Store"]

DB_FILE_NAME = "web4.sqlite3"
_FILES = ("", "-wal", "-shm", "-journal")  # the database and SQLite's files beside it
_META = """CREATE TABLE IF NOT EXISTS schema_migrations (
    subsystem TEXT NOT NULL,
    version INTEGER NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (subsystem, version)
) STRICT"""

Param = str | int | float | bytes | None
Row = tuple[Any, ...]


class Store:
    """A SQLite database with per-subsystem migrations. Use ``Store.open``."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._closed = False
        self._syncer: Syncer | None = None
        # group commit on an event loop: the open batch transaction's scheduled COMMIT
        self._batch: asyncio.TimerHandle | None = None
        self._batch_s = 0.0
        self._lost: StoreError | None = None  # a batch whose COMMIT failed

    # --- lifecycle ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        migrations: Sequence[MigrationSet] = (),
        synchronous: Literal["FULL", "NORMAL", "OFF"] = "FULL",
        busy_timeout_s: float = 5.0,
        group_commit: GroupCommit | None = None,
    ) -> Store:
        """Open (creating if needed) the database at ``path`` and apply ``migrations``.

        ``":memory:"`` gives a private in-memory database (tests). ``synchronous="OFF"``
        (tests only) still survives a killed process, not an OS crash or power loss.
        ``group_commit`` (with ``FULL``, on a file): fsyncs on a writer thread, see
        ``durable()``.
        Raises ``StoreError`` when the file cannot be opened, is not a SQLite database,
        WAL cannot be enabled, or a subsystem's schema is newer than this code.
        """
        where = str(path)
        if where != ":memory:":
            _create_private(Path(where))
        try:
            conn = sqlite3.connect(
                where,
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout_s,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store: {exc}") from exc
        store = cls(conn, where)
        try:
            mode = store.query_one("PRAGMA journal_mode=WAL")
            if where != ":memory:" and (mode is None or str(mode[0]).lower() != "wal"):
                raise StoreError(f"the store could not switch to WAL mode (got {mode!r})")
            grouped = group_commit is not None and synchronous == "FULL" and where != ":memory:"
            # grouped: the commit writes the WAL here, the writer thread fsyncs it (and
            # checkpoints: an automatic one would fsync on this thread)
            store.execute(f"PRAGMA synchronous={'NORMAL' if grouped else synchronous}")
            if grouped:
                store.execute("PRAGMA wal_autocheckpoint=0")
                # the first commit after a checkpoint emptied the WAL truncates the -wal
                # file to its frames, so the writer thread reads the backlog from the
                # file's size (see web4.store.group_commit)
                store.execute("PRAGMA journal_size_limit=0")
            store.execute("PRAGMA foreign_keys=ON")
            store.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            store.execute(_META)
            store.migrate(*migrations)
            if grouped and group_commit is not None:
                store._batch_s = group_commit.batch_s
                store._syncer = Syncer(where, group_commit)
                store._syncer.commit()  # what open() wrote, fsynced like the rest
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def in_data_dir(cls, data_dir: str | Path, **kwargs: Any) -> Store:
        """Open ``<data_dir>/web4.sqlite3``. Raises as ``Store.open``."""
        return cls.open(Path(data_dir) / DB_FILE_NAME, **kwargs)

    @property
    def path(self) -> str:
        return self._path

    def close(self) -> None:
        """Make every commit durable, stop the writer thread, close the connection
        (idempotent). Raises ``StoreError`` (once; the store is closed all the same)
        when the writer thread could not make every commit durable."""
        with self._lock:
            if not self._closed:
                try:
                    if self._syncer is not None:
                        self.flush()
                        self._syncer.close()
                finally:
                    self._closed = True
                    self._conn.close()

    async def durable(self) -> None:
        """Return once every transaction that ended before this call is committed and on
        disk (at once without ``group_commit``: each commit fsyncs itself). The node
        awaits it before it acknowledges anything. Raises ``StoreError`` when a batch
        could not be committed or the journal cannot be fsynced (then no later call
        succeeds: fail closed), or the store is closing."""
        if self._syncer is not None:
            self.flush()
            if self._lost is not None:
                raise self._lost
            await self._syncer.durable()

    def _open_batch(self) -> None:
        """On an event loop's thread, begin a batch: the transactions of the next
        ``batch_s`` seconds become savepoints of one transaction, committed by ``flush``
        (on that loop, or by ``durable()`` / ``close()`` first). Elsewhere: nothing, the
        caller's transaction commits on its own."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.execute("BEGIN IMMEDIATE")
        self._batch = loop.call_later(self._batch_s, self.flush)

    def flush(self) -> None:
        """COMMIT the open batch, if any (on the store's thread; the writer thread then
        fsyncs it). A batch whose COMMIT fails is rolled back and remembered: every
        later ``durable()`` raises (nothing more is acknowledged). Never raises."""
        with self._lock:
            batch = self._batch
            if batch is None or self._closed:
                return
            if self._depth > 0:  # inside a transaction (one that awaits): later
                with contextlib.suppress(RuntimeError):  # no loop here: the next flush
                    loop = asyncio.get_running_loop()
                    self._batch = loop.call_later(self._batch_s, self.flush)
                return
            batch.cancel()
            self._batch = None
            try:
                self.execute("COMMIT")
            except StoreError as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.rollback()
                self._lost = StoreError(f"a group of transactions could not commit: {exc}")

    @property
    def group_fsyncs(self) -> int:
        """fsyncs the writer thread ran so far (0 without ``group_commit``)."""
        return self._syncer.fsyncs if self._syncer is not None else 0

    @property
    def group_checkpoints(self) -> int:
        """Checkpoints the writer thread ran so far (0 without ``group_commit``)."""
        return self._syncer.checkpoints if self._syncer is not None else 0

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- migrations -----------------------------------------------------------------

    def schema_version(self, subsystem: str) -> int:
        """The highest applied migration of ``subsystem`` (0 when none)."""
        row = self.query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE subsystem = ?",
            (subsystem,),
        )
        return int(row[0]) if row else 0

    def migrate(self, *sets: MigrationSet) -> None:
        """Apply every pending migration of each set, each in its own transaction.

        Idempotent. Raises ``StoreError`` when a schema is newer than the code or a
        statement fails (the failing migration is rolled back entirely).
        """
        for mset in sets:
            with self.transaction():
                pending = mset.pending(self.schema_version(mset.subsystem))
                for migration in pending:
                    for statement in migration.statements:
                        self.execute(statement)
                    self.execute(
                        "INSERT INTO schema_migrations (subsystem, version, description) "
                        "VALUES (?, ?, ?)",
                        (mset.subsystem, migration.version, migration.description),
                    )

    # --- statements -----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """An atomic unit of work: BEGIN IMMEDIATE at the outermost level, SAVEPOINT
        inside. Commits on success, rolls back on any exception (which propagates). A
        ``StoreConstraintError`` that leaves it rolled back is marked ``rolled_back``.

        Raises ``StoreError`` when the transaction cannot begin or commit (for example
        another process held the write lock past the busy timeout).
        """
        with self._lock:
            depth = self._depth
            if (
                depth == 0
                and self._syncer is not None
                and self._batch is None
                and self._batch_s > 0
            ):
                self._open_batch()
            outer = depth == 0 and self._batch is None  # else a savepoint (of a batch)
            savepoint = f"sp{depth}"
            self.execute("BEGIN IMMEDIATE" if outer else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                yield self
            except BaseException as exc:
                self._depth -= 1
                if outer:
                    self._rollback()
                else:
                    self.execute(f"ROLLBACK TO {savepoint}")
                    self.execute(f"RELEASE {savepoint}")
                if isinstance(exc, StoreConstraintError):
                    exc.rolled_back = True  # reached only when the rollback succeeded
                raise
            self._depth -= 1
            if not outer:
                self.execute(f"RELEASE {savepoint}")
                return
            try:
                self.execute("COMMIT")
            except StoreError as exc:
                self._rollback()
                if isinstance(exc, StoreConstraintError):
                    exc.rolled_back = True
                raise

    def _rollback(self) -> None:
        """Roll the open transaction back. Raises ``StoreError`` when that fails (what
        was written cannot be known then: fail closed, the node stops)."""
        try:
            self._conn.rollback()
        except sqlite3.Error as exc:
            raise StoreError(f"store rollback failed: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Param] = ()) -> int:
        """Run one statement; return the number of rows it changed.

        Raises ``StoreConstraintError`` (a ``StoreError``) when the statement breaks a
        constraint, ``StoreError`` on any other SQLite error (corruption, a full disk, a
        closed store).
        """
        with self._lock:
            try:
                cursor = self._conn.execute(sql, params)
            except sqlite3.IntegrityError as exc:
                raise StoreConstraintError(f"store statement broke a constraint: {exc}") from exc
            except (sqlite3.Error, sqlite3.Warning) as exc:
                raise StoreError(f"store statement failed: {exc}") from exc
            if self._syncer is not None and self._depth == 0 and not self._conn.in_transaction:
                self._syncer.commit()  # a COMMIT, or a write in autocommit mode
            return cursor.rowcount

    def query(self, sql: str, params: Sequence[Param] = ()) -> list[Row]:
        """Run a query and return all rows. Raises ``StoreError`` on any SQLite error."""
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except (sqlite3.Error, sqlite3.Warning) as exc:
                raise StoreError(f"store query failed: {exc}") from exc

    def query_one(self, sql: str, params: Sequence[Param] = ()) -> Row | None:
        """The first row of a query, or ``None``. Raises ``StoreError`` like ``query``."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def tables(self) -> list[str]:
        """Names of the user tables, sorted (for tests and diagnostics)."""
        rows = self.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        return [str(r[0]) for r in rows]


def _create_private(path: Path) -> None:
    """Check the directory and any existing database files (``web4.private``: ours, no
    group/other bits, the directory not writable by others), then create the database
    file with mode 0600 if it does not exist yet. SQLite gives ``-wal`` and ``-shm`` the
    database file's mode. Raises ``StoreError``."""
    make_private_dir(path.parent, StoreError)
    # A planted -wal would be replayed into the database on open: check it too.
    exists = [check_private_file(Path(f"{path}{suffix}"), StoreError) for suffix in _FILES]
    if exists[0]:
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
    except FileExistsError:
        check_private_file(path, StoreError)
    except OSError as exc:
        raise StoreError(f"cannot create the store file: {exc}") from exc

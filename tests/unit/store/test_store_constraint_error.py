"""A broken constraint is ``StoreConstraintError``, marked ``rolled_back`` once the
transaction it escaped is undone; only then does the isolation layer treat it as a bug
met serving one peer (that piece of work ends) rather than a failing disk (the node
stops). Raised outside a transaction, or when the rollback itself fails, it still stops
the node: what was written cannot be known."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from web4.errors import StoreConstraintError, StoreError
from web4.isolation import PeerTaskFailures, is_fatal
from web4.store import GroupCommit, Migration, MigrationSet, Store

T = MigrationSet(
    "constraint_test",
    (
        Migration(
            1,
            "a keyed table, a checked column, a foreign key, a trigger",
            (
                "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0)) STRICT",
                "CREATE TABLE child (k TEXT NOT NULL REFERENCES t (k)) STRICT",
                "CREATE TABLE log (x TEXT NOT NULL) STRICT",
                """CREATE TRIGGER log_append_only BEFORE DELETE ON log
                   BEGIN SELECT RAISE(ABORT, 'append-only'); END""",
            ),
        ),
    ),
)


@pytest.fixture
def store() -> Any:
    with Store.open(":memory:", migrations=(T,)) as s:
        s.execute("INSERT INTO t VALUES ('taken', 1)")
        s.execute("INSERT INTO log VALUES ('x')")
        yield s


def _write(store: Store, *statements: str) -> None:
    """``statements`` in one transaction."""
    with store.transaction():
        for sql in statements:
            store.execute(sql)


def _keys(store: Store) -> list[str]:
    return [str(r[0]) for r in store.query("SELECT k FROM t ORDER BY k")]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t VALUES ('taken', 2)",  # PRIMARY KEY
        "INSERT INTO t VALUES ('neg', -1)",  # CHECK
        "INSERT INTO t VALUES ('null', NULL)",  # NOT NULL
        "INSERT INTO t VALUES ('text', 'abc')",  # STRICT type
        "INSERT INTO child VALUES ('nowhere')",  # FOREIGN KEY
        "DELETE FROM log",  # a trigger's RAISE(ABORT)
    ],
)
def test_a_broken_constraint_in_a_transaction_is_rolled_back_and_isolated(
    store: Store, sql: str
) -> None:
    with pytest.raises(StoreConstraintError) as caught:
        _write(store, "INSERT INTO t VALUES ('half', 1)", sql)  # the first one is undone
    assert caught.value.rolled_back
    assert _keys(store) == ["taken"]
    assert not is_fatal(caught.value)
    failures = PeerTaskFailures(lambda *a, **k: None, lambda: 0.0)
    assert failures.isolate("aa" * 32, "serve", caught.value) is True


def test_a_nested_transaction_is_undone_with_its_outer_one(store: Store) -> None:
    def nested() -> None:
        with store.transaction():
            store.execute("INSERT INTO t VALUES ('outer', 1)")
            _write(store, "INSERT INTO t VALUES ('inner', 1)", "INSERT INTO t VALUES ('taken', 3)")

    with pytest.raises(StoreConstraintError) as caught:
        nested()
    assert caught.value.rolled_back
    assert _keys(store) == ["taken"]


def test_outside_a_transaction_it_still_stops_the_node(store: Store) -> None:
    with pytest.raises(StoreConstraintError) as caught:
        store.execute("INSERT INTO t VALUES ('taken', 2)")
    assert not caught.value.rolled_back  # no transaction() undid anything
    assert is_fatal(caught.value)
    failures = PeerTaskFailures(lambda *a, **k: pytest.fail("reported"), lambda: 0.0)
    assert failures.isolate("aa" * 32, "serve", caught.value) is False


def test_other_store_failures_are_not_constraint_errors(store: Store) -> None:
    with pytest.raises(StoreError) as caught, store.transaction():
        store.execute("INSERT INTO nowhere VALUES (1)")
    assert not isinstance(caught.value, StoreConstraintError)
    assert is_fatal(caught.value)


class _RollbackFails:
    """A connection whose rollback fails (as on an I/O error); the rest is the real one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rollback(self) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_a_failed_rollback_stops_the_node(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite3", migrations=(T,))
    real = store._conn
    try:
        store.execute("INSERT INTO t VALUES ('taken', 1)")
        store._conn = _RollbackFails(real)  # type: ignore[assignment]
        with pytest.raises(StoreError) as caught, store.transaction():
            store.execute("INSERT INTO t VALUES ('taken', 2)")
        assert not isinstance(caught.value, StoreConstraintError)  # the rollback's error
        first = caught.value.__context__.__context__  # StoreError <- OperationalError <- it
        assert isinstance(first, StoreConstraintError)
        assert not first.rolled_back
        assert is_fatal(caught.value)
    finally:
        store._conn = real
        real.rollback()
        store.close()


def test_inside_a_group_commit_batch_the_transaction_alone_is_undone(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store.open(
            tmp_path / "b.sqlite3", migrations=(T,), group_commit=GroupCommit(batch_s=60.0)
        )
        try:
            with store.transaction():  # opens the batch: later ones are its savepoints
                store.execute("INSERT INTO t VALUES ('before', 1)")
            with pytest.raises(StoreConstraintError) as caught:
                _write(
                    store, "INSERT INTO t VALUES ('half', 1)", "INSERT INTO t VALUES ('before', 2)"
                )
            assert caught.value.rolled_back
            assert not is_fatal(caught.value)
            with store.transaction():
                store.execute("INSERT INTO t VALUES ('after', 1)")
            await store.durable()  # the batch commits: the others' work is kept
            assert _keys(store) == ["after", "before"]
        finally:
            store.close()
        with Store.open(tmp_path / "b.sqlite3") as again:
            assert _keys(again) == ["after", "before"]

    asyncio.run(main())

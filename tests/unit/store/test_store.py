"""The SQLite store: WAL, file mode, per-subsystem migrations, transactions, errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from web4.errors import StoreError
from web4.store import DB_FILE_NAME, Migration, MigrationSet, Store

V1 = Migration(1, "items", ("CREATE TABLE demo_items (k TEXT PRIMARY KEY, v INTEGER) STRICT",))
V2 = Migration(2, "index", ("CREATE INDEX demo_items_v ON demo_items (v)",))
DEMO1 = MigrationSet("demo", (V1,))
DEMO2 = MigrationSet("demo", (V1, V2))
OTHER = MigrationSet("other", (Migration(1, "t", ("CREATE TABLE other_t (x INTEGER)",)),))


def test_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    with Store.in_data_dir(tmp_path / "data") as store:
        assert Path(store.path) == tmp_path / "data" / DB_FILE_NAME
        assert store.query_one("PRAGMA journal_mode") == ("wal",)
        assert store.query_one("PRAGMA foreign_keys") == (1,)
        assert store.query_one("PRAGMA synchronous") == (2,)  # FULL
    mode = stat.S_IMODE((tmp_path / "data" / DB_FILE_NAME).stat().st_mode)
    assert mode == 0o600


def test_memory_store_works(tmp_path: Path) -> None:
    with Store.open(":memory:", migrations=[DEMO1]) as store:
        assert "demo_items" in store.tables()


def test_migrations_apply_once_and_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Store.open(path, migrations=[DEMO1, OTHER]) as store:
        assert store.schema_version("demo") == 1
        assert store.schema_version("other") == 1
        assert store.schema_version("nobody") == 0
        store.migrate(DEMO1)  # idempotent
        assert store.schema_version("demo") == 1
    with Store.open(path, migrations=[DEMO2]) as store:
        assert store.schema_version("demo") == 2
        names = [r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='index'")]
        assert "demo_items_v" in names
        assert store.tables() == ["demo_items", "other_t", "schema_migrations"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    Store.open(path, migrations=[DEMO2]).close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(path, migrations=[DEMO1])


def test_failing_migration_is_rolled_back_entirely(tmp_path: Path) -> None:
    bad = MigrationSet(
        "bad",
        (Migration(1, "half", ("CREATE TABLE bad_a (x INTEGER)", "CREATE TABLE nonsense (")),),
    )
    with Store.open(tmp_path / "db") as store:
        with pytest.raises(StoreError, match="statement failed"):
            store.migrate(bad)
        assert "bad_a" not in store.tables()
        assert store.schema_version("bad") == 0


@pytest.mark.parametrize(
    ("subsystem", "migrations", "message"),
    [
        ("Bad-Name", (V1,), "malformed subsystem"),
        ("", (V1,), "malformed subsystem"),
        ("demo", (), "no migrations"),
        ("demo", (V2,), "1..n"),
        ("demo", (V1, V1), "1..n"),
        ("demo", (Migration(1, "empty", ()),), "no statements"),
    ],
)
def test_malformed_migration_sets_are_refused(
    subsystem: str, migrations: tuple[Migration, ...], message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        MigrationSet(subsystem, migrations)


def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db", migrations=[DEMO1]) as store:
        with store.transaction():
            store.execute("INSERT INTO demo_items VALUES ('a', 1)")

        def failing() -> None:
            with store.transaction():
                store.execute("INSERT INTO demo_items VALUES ('b', 2)")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            failing()
        assert store.query("SELECT k FROM demo_items") == [("a",)]


def test_nested_transactions_are_savepoints(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db", migrations=[DEMO1]) as store:
        with store.transaction():
            store.execute("INSERT INTO demo_items VALUES ('outer', 1)")

            def inner() -> None:
                with store.transaction():
                    store.execute("INSERT INTO demo_items VALUES ('inner', 2)")
                    store.execute("INSERT INTO demo_items VALUES ('inner', 3)")  # duplicate

            with pytest.raises(StoreError):
                inner()
            with store.transaction():
                store.execute("INSERT INTO demo_items VALUES ('inner2', 4)")
        rows = store.query("SELECT k FROM demo_items ORDER BY k")
        assert rows == [("inner2",), ("outer",)]


def test_committed_data_is_visible_to_a_second_connection(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Store.open(path, migrations=[DEMO1]) as a, Store.open(path) as b:
        a.execute("INSERT INTO demo_items VALUES ('x', 7)")
        assert b.query_one("SELECT v FROM demo_items WHERE k = 'x'") == (7,)
        assert b.query_one("SELECT v FROM demo_items WHERE k = 'nope'") is None


def test_writer_lock_wait_has_a_deadline(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with (
        Store.open(path, migrations=[DEMO1]) as a,
        Store.open(path, busy_timeout_s=0.05) as b,
        a.transaction(),
    ):
        a.execute("INSERT INTO demo_items VALUES ('x', 1)")
        with pytest.raises(StoreError, match="locked"), b.transaction():
            pass


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store.open(path)


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create"):
        Store.open(blocker / "sub" / "db")


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError):
        store.query("SELECT 1")
    with pytest.raises(StoreError):
        store.execute("SELECT 1")


def test_bad_sql_is_a_store_error(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db") as store, pytest.raises(StoreError, match="query failed"):
        store.query("SELECT * FROM missing_table")

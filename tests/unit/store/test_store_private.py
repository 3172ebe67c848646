"""The data directory and the store are private (issue 10, observation 9).

A store, its -wal/-shm files or its directory that another user owns or could write is
refused with ``StoreError``; new files are 0600. "Another user" is uid 65534 via
``os.chown``, so those tests need root (they are skipped otherwise).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from web4.errors import StoreError
from web4.store import DB_FILE_NAME, Migration, MigrationSet, Store

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="chown to another uid needs root")
NOBODY = 65534
DEMO = MigrationSet("demo", (Migration(1, "t", ("CREATE TABLE demo_t (x INTEGER)",)),))


def planted(tmp_path: Path) -> Path:
    """A valid store built elsewhere, copied into a fresh private data dir."""
    with Store.in_data_dir(tmp_path / "elsewhere", migrations=[DEMO]) as s:
        s.execute("INSERT INTO demo_t VALUES (1)")
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.replace(tmp_path / "elsewhere" / DB_FILE_NAME, data / DB_FILE_NAME)
    return data


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_the_store_and_its_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    with Store.in_data_dir(tmp_path / "d", migrations=[DEMO]) as s:
        s.execute("INSERT INTO demo_t VALUES (1)")
        db = tmp_path / "d" / DB_FILE_NAME
        for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert mode(f) == 0o600, f
    assert mode(tmp_path / "d") == 0o700  # a data dir the store creates is private


def test_a_world_writable_store_file_is_refused(tmp_path: Path) -> None:
    data = planted(tmp_path)
    os.chmod(data / DB_FILE_NAME, 0o666)
    with pytest.raises(StoreError, match=r"group or others.*chmod 600"):
        Store.in_data_dir(data)


def test_a_group_readable_store_file_is_refused(tmp_path: Path) -> None:
    data = planted(tmp_path)
    os.chmod(data / DB_FILE_NAME, 0o640)
    with pytest.raises(StoreError, match="group or others"):
        Store.in_data_dir(data)


def test_a_planted_wal_is_refused(tmp_path: Path) -> None:
    data = planted(tmp_path)
    wal = data / f"{DB_FILE_NAME}-wal"
    wal.write_bytes(b"")
    os.chmod(wal, 0o666)
    with pytest.raises(StoreError, match="-wal: accessible by group or others"):
        Store.in_data_dir(data)


def test_a_symlinked_store_is_refused(tmp_path: Path) -> None:
    data = planted(tmp_path)
    os.replace(data / DB_FILE_NAME, tmp_path / "real.sqlite3")
    (data / DB_FILE_NAME).symlink_to(tmp_path / "real.sqlite3")
    with pytest.raises(StoreError, match="not a regular file"):
        Store.in_data_dir(data)


def test_a_data_dir_writable_by_others_is_refused(tmp_path: Path) -> None:
    data = planted(tmp_path)
    os.chmod(data, 0o777)
    with pytest.raises(StoreError, match=r"writable by group or others.*chmod 700"):
        Store.in_data_dir(data)


def test_a_readable_data_dir_of_ours_is_accepted(tmp_path: Path) -> None:
    data = planted(tmp_path)
    os.chmod(data, 0o755)  # others may list it; they cannot plant anything in it
    with Store.in_data_dir(data, migrations=[DEMO]) as s:
        assert s.query_one("SELECT x FROM demo_t") == (1,)


@needs_root
def test_a_store_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    data = planted(tmp_path)
    os.chown(data / DB_FILE_NAME, NOBODY, NOBODY)  # 0600, but not ours
    with pytest.raises(StoreError, match=f"owned by uid {NOBODY}"):
        Store.in_data_dir(data)


@needs_root
def test_the_observed_plant_is_refused(tmp_path: Path) -> None:
    # Observation 9: another user's web4.sqlite3, mode 666, in a 777 data dir.
    data = planted(tmp_path)
    os.chown(data / DB_FILE_NAME, NOBODY, NOBODY)
    os.chmod(data / DB_FILE_NAME, 0o666)
    os.chmod(data, 0o777)
    with pytest.raises(StoreError):
        Store.in_data_dir(data)
    os.chmod(data, 0o700)
    with pytest.raises(StoreError, match=f"owned by uid {NOBODY}"):
        Store.in_data_dir(data)


@needs_root
def test_a_data_dir_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    data = planted(tmp_path)
    os.chown(data, NOBODY, NOBODY)
    with pytest.raises(StoreError, match=f"data directory owned by uid {NOBODY}"):
        Store.in_data_dir(data)

"""keygen's data directory is private (issue 10, observation 9): created 0700, an existing
one of ours tightened to 0700, one of another user refused; loading an identity from a
directory others can write is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from web4.errors import IdentityError, ObservabilityError
from web4.identity import KEY_FILE_NAME, Identity
from web4.observability import JsonlFileSink

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
NOBODY = 65534


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_keygen_creates_the_data_dir_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        Identity.create_in_data_dir(tmp_path / "a" / "b", "b")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a" / "b") == 0o700


def test_keygen_tightens_a_world_writable_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    os.chmod(data, 0o777)
    Identity.create_in_data_dir(data, "d")
    assert mode(data) == 0o700
    assert mode(data / KEY_FILE_NAME) == 0o600


def test_an_identity_in_a_world_writable_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "d"
    Identity.create_in_data_dir(data, "d")
    os.chmod(data, 0o777)
    with pytest.raises(IdentityError, match="writable by group or others"):
        Identity.in_data_dir(data)
    os.chmod(data, 0o755)  # readable is fine
    assert Identity.in_data_dir(data).agent_id == "d"


@needs_root
def test_keygen_refuses_a_data_dir_of_another_user(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    os.chmod(data, 0o777)
    os.chown(data, NOBODY, NOBODY)
    with pytest.raises(IdentityError, match=f"owned by uid {NOBODY}"):
        Identity.create_in_data_dir(data, "d")
    assert not (data / KEY_FILE_NAME).exists()
    assert mode(data) == 0o777  # not ours to change


def test_an_events_file_is_created_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        JsonlFileSink(tmp_path / "events.jsonl").close()
    finally:
        os.umask(old)
    assert mode(tmp_path / "events.jsonl") == 0o600


@needs_root
def test_an_events_file_of_another_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"")
    os.chown(path, NOBODY, NOBODY)
    with pytest.raises(ObservabilityError, match="not a regular file of ours"):
        JsonlFileSink(path)


def test_an_events_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_bytes(b"")
    (tmp_path / "events.jsonl").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ObservabilityError):
        JsonlFileSink(tmp_path / "events.jsonl")

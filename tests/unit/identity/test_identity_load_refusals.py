"""Review: loading a key file must fail with ``IdentityError``, promptly, for a FIFO in
its place and for a small but deeply nested (corrupt) document."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from web4.errors import IdentityError
from web4.identity import KEY_FILE_NAME, Identity


def test_fifo_in_place_of_the_key_file_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    os.mkfifo(path, 0o600)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            Identity.load(path)
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - recorded for the assertion
            outcome.append(e)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(5.0)
    if worker.is_alive():  # unblock the open() so the thread can finish
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(5.0)
        pytest.fail("Identity.load blocked on a FIFO")
    assert len(outcome) == 1
    assert isinstance(outcome[0], IdentityError)


def test_deeply_nested_key_file_is_an_identity_error(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"[" * 4000)
    os.close(fd)
    with pytest.raises(IdentityError):
        Identity.load(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file away")
def test_key_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """Whoever owns the file can rewrite it, so they would own our identity."""
    path = tmp_path / KEY_FILE_NAME
    Identity.generate("a").save(path)
    os.chown(path, 65534, -1)
    with pytest.raises(IdentityError, match="owned by"):
        Identity.load(path)

"""The data directory lock: one holder, a holder named in the refusal, a `held` probe that
never makes a starting node fail."""

from __future__ import annotations

import fcntl
import io
import os
import threading
import time
from pathlib import Path

import pytest

from web4.errors import DataDirBusyError, StoreError
from web4.identity import Identity
from web4.node import Node, NodeConfig
from web4.node.lock import LOCK_FILE_NAME, DataDirLock, held, holder
from web4.store import Store


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    with DataDirLock(tmp_path, "node"):
        assert held(tmp_path)
        assert holder(tmp_path) == (os.getpid(), "node")
        with pytest.raises(DataDirBusyError, match=f"web4 node \\(pid {os.getpid()}\\)"):
            DataDirLock(tmp_path, "human").acquire()
    assert not held(tmp_path)
    DataDirLock(tmp_path, "human").acquire()  # free again once released


def test_a_status_probe_in_the_way_only_delays_a_starting_node(tmp_path: Path) -> None:
    path = tmp_path / LOCK_FILE_NAME
    path.touch(mode=0o600)
    probe = os.open(path, os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH)  # what `held` takes for an instant
    threading.Timer(0.2, os.close, (probe,)).start()
    start = time.monotonic()
    lock = DataDirLock(tmp_path, "node")
    lock.acquire()
    assert lock.locked
    assert time.monotonic() - start >= 0.15
    lock.release()


def test_a_loose_lock_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE_NAME).touch(mode=0o644)
    os.chmod(tmp_path / LOCK_FILE_NAME, 0o644)
    with pytest.raises(DataDirBusyError, match="group or others"):
        DataDirLock(tmp_path, "node").acquire()


def test_a_node_whose_store_cannot_close_durably_still_releases_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Store.close raises when its commits could not all be made durable (a failed
    # fsync); a node closed without running must still let the directory go.
    real = Store.close

    def failing(self: Store) -> None:
        real(self)
        raise StoreError("the store could not fsync its journal: [Errno 5] EIO")

    Identity.create_in_data_dir(tmp_path / "n", "n")
    node = Node(NodeConfig(data_dir=tmp_path / "n", console=False), stdout=io.StringIO())
    monkeypatch.setattr(Store, "close", failing)
    with pytest.raises(StoreError, match="could not fsync"):
        node.close()
    assert not held(tmp_path / "n")

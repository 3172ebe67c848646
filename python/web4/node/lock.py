"""One process per data directory: an exclusive ``flock`` on ``DATA_DIR/node.lock``.

Theory of operation: two processes on one data directory would be the same identity twice
(two nodes whose sessions evict each other, a human session speaking with the node's key)
and two writers of one store. ``DataDirLock.acquire`` opens ``node.lock`` (0600, never
through a symlink) and takes ``fcntl.flock(LOCK_EX | LOCK_NB)``; it then writes
``"<pid> <role>"`` into the file so the one refused can name the holder. The kernel drops
the lock when the holder's file closes, also on a crash or ``kill -9``, so a stale lock
file never blocks a restart (its text is just overwritten). The file stays in place: an
unlinked lock file would let a third process lock a new inode while the second still
holds the old one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from web4.errors import DataDirBusyError
from web4.private import check_private_stat

__all__ = ["LOCK_FILE_NAME", "DataDirLock", "held", "holder"]

LOCK_FILE_NAME = "node.lock"
# ``held`` probes with a shared lock for an instant; a process starting in that instant
# retries for this long instead of reporting a busy directory.
_PROBE_GRACE_S = 1.0


def holder(data_dir: Path) -> tuple[int | None, str]:
    """``(pid, role)`` written by the last process that took the lock (``None`` when
    unknown: no file yet, or a holder that has not written it yet)."""
    try:
        text = (Path(data_dir) / LOCK_FILE_NAME).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None, "process"
    parts = text.split()
    pid = int(parts[0]) if parts and parts[0].isdigit() else None
    role = parts[1] if len(parts) > 1 and parts[1].isalpha() else "process"
    return pid, role


def held(data_dir: Path) -> bool:
    """Is the data directory's lock held by a live process? Probed with a shared
    ``flock`` taken and dropped at once (never creates the file)."""
    try:
        fd = os.open(Path(data_dir) / LOCK_FILE_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock taken above
    return False


class DataDirLock:
    """The data directory's lock, held from ``acquire`` to ``release`` (or process end)."""

    def __init__(self, data_dir: Path, role: str) -> None:
        self.path = Path(data_dir) / LOCK_FILE_NAME
        self.role = role
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting. Raises ``DataDirBusyError`` naming the holder's
        pid when another process has it; ``DataDirBusyError`` too when the lock file
        cannot be opened or is not a private file of ours."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as e:
            raise DataDirBusyError(f"{self.path}: cannot open the lock file: {e.strerror}") from e
        try:
            check_private_stat(os.fstat(fd), self.path, DataDirBusyError)
            _lock(fd, self.path)
        except BlockingIOError:
            os.close(fd)
            pid, role = holder(self.path.parent)
            who = f"pid {pid}" if pid is not None else "another process"
            raise DataDirBusyError(
                f"{self.path.parent} is in use by a running web4 {role} ({who}): "
                "one process per data directory"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.role}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    @property
    def locked(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock(fd: int, path: Path) -> None:
    """``LOCK_EX | LOCK_NB``, retried for a moment while only ``held`` probes may be in the
    way. Raises ``BlockingIOError`` when the lock stays taken."""
    deadline = time.monotonic() + _PROBE_GRACE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline or _exclusive_holder(path):
                raise
            time.sleep(0.02)


def _exclusive_holder(path: Path) -> bool:
    """Is the lock on ``path`` held exclusively (by a node, not by a probe)? A shared
    lock is then refused too."""
    probe = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(probe)
    return False

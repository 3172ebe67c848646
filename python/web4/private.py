"""The one rule for the node's private files and its data directory, shared by every
part that reads or writes them (key file, SQLite store, events file, authorised keys).

Theory of operation: whoever can write a node's files can make it someone else (the key
file), make it trust someone (the store's trust rows, or a planted ``-wal`` that SQLite
replays into the store) or read what it knows. So:

- a *private file* is a regular file (not a symlink, FIFO or device) owned by our
  effective uid with no permission bit for group or others (``mode & 0o077 == 0``):
  created 0600, refused otherwise;
- the *data directory* is a directory owned by our effective uid that group and others
  cannot write (``mode & 0o022 == 0``; reading and traversal are allowed, so a 0755 dir
  is accepted): inside it nobody else can plant, replace or remove a file between our
  check and our use. ``web4 keygen`` creates it 0700, or tightens a dir of ours to 0700.

Each check takes the error type to raise (``IdentityError`` for the key file,
``StoreError`` for the store, ...), so callers keep their typed errors; the messages say
what is wrong and the command that fixes it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "check_private_dir",
    "check_private_file",
    "check_private_stat",
    "make_private_dir",
]

ErrorType = Callable[[str], Exception]


def check_private_stat(st: os.stat_result, where: object, error: ErrorType) -> None:
    """Refuse (``error``) unless ``st`` is a regular file of ours, 0600 or stricter."""
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{where}: not a regular file")
    if st.st_uid != os.geteuid():
        raise error(
            f"{where}: owned by uid {st.st_uid}, not by us (uid {os.geteuid()}); "
            f"whoever owns it controls this node"
        )
    if st.st_mode & 0o077:
        raise error(
            f"{where}: accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run `chmod 600 {where}`"
        )


def check_private_file(path: Path, error: ErrorType) -> bool:
    """Check an existing file without following a symlink; False if there is none.
    Raises ``error`` as ``check_private_stat``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise error(f"{path}: cannot inspect: {e.strerror}") from None
    check_private_stat(st, path, error)
    return True


def check_private_dir(path: Path, error: ErrorType) -> None:
    """Refuse (``error``) unless ``path`` is a directory of ours that group and others
    cannot write."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such data directory") from None
    except OSError as e:
        raise error(f"{path}: cannot inspect the data directory: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: not a directory")
    if st.st_uid != os.geteuid():
        raise error(
            f"{path}: data directory owned by uid {st.st_uid}, not by us "
            f"(uid {os.geteuid()}); whoever owns it can replace this node's files"
        )
    if st.st_mode & 0o022:
        raise error(
            f"{path}: data directory writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); run `chmod 700 {path}`"
        )


def make_private_dir(path: Path, error: ErrorType, *, tighten: bool = False) -> None:
    """Create ``path`` with mode 0700 (parents as the umask says); with ``tighten``, an
    existing directory of ours is set to 0700. Then ``check_private_dir``.
    Raises ``error`` when it cannot be created or is not private."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise error(f"{path}: cannot create data directory: {e.strerror}") from None
    if tighten:
        try:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid():
                os.chmod(path, 0o700)
        except OSError as e:
            raise error(f"{path}: cannot set the data directory to 0700: {e.strerror}") from None
    check_private_dir(path, error)

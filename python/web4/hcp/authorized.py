"""Which human keys may steer the agent: the ``authorized_humans`` file (HCP_SPEC §9.1).

Theory of operation: like SSH's ``authorized_keys``, the operator lists, in
``DATA_DIR/authorized_humans``, the fingerprints of the human keys whose HCP sessions the
node acts on; every other key that sends HCP is refused (``not_authorized``). One entry a
line: ``<fingerprint> [name or comment]``; ``#`` starts a comment line; blank lines are
ignored. ``parse_authorized`` is pure and names the line of any mistake. The file is
private like every data-dir file: a regular file owned by us with mode 0600 (anyone who
can write it can make themselves the agent's human); ``read_authorized`` refuses
anything else. A missing file authorises nobody. ``add_authorized`` and
``remove_authorized`` (``web4 human-key``) rewrite it atomically (a temporary file, then
``rename``) under a lock on the data directory, keeping every other line as it was.

``AuthorizedHumans`` is the node's live view: ``refresh()`` stats the file and re-reads it
only when it changed (inode, size, mtime, mode, owner), so an added or removed key counts
from the next HCP message without a restart. A file that turns bad (malformed, loose
permissions) authorises nobody until it is fixed: failing closed is the point.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from web4.errors import ConfigError
from web4.private import check_private_stat

__all__ = [
    "AUTHORIZED_HUMANS_FILE",
    "AuthorizedHuman",
    "AuthorizedHumans",
    "add_authorized",
    "authorized_path",
    "check_fingerprint",
    "check_name",
    "parse_authorized",
    "read_authorized",
    "remove_authorized",
]

AUTHORIZED_HUMANS_FILE = "authorized_humans"
MAX_FILE_BYTES = 1 << 20  # 1 MiB: thousands of entries; a bigger file is a mistake
MAX_NAME = 256
_HEX = frozenset("0123456789abcdef")
_HEADER = (
    "# Human keys this Web4 agent takes guidance from over HCP (docs/HCP_SPEC.md §9.1).\n"
    "# One a line: <fingerprint> [name or comment]. Lines starting with # are comments.\n"
    "# Managed by `web4 human-key add|list|remove`; the node re-reads it when it changes.\n"
)

# (device, inode, size, mtime_ns, mode, uid): changes whenever the file is rewritten.
Signature = tuple[int, int, int, int, int, int]


@dataclass(frozen=True)
class AuthorizedHuman:
    """One entry: the key's fingerprint, the operator's name for it, its line number."""

    fingerprint: str
    name: str
    line: int


def authorized_path(data_dir: str | os.PathLike[str]) -> Path:
    """``DATA_DIR/authorized_humans``."""
    return Path(data_dir).expanduser() / AUTHORIZED_HUMANS_FILE


def check_fingerprint(text: str) -> str:
    """A key fingerprint (64 hex digits, any case) in its canonical lower-case form.
    Raises ``ConfigError``."""
    fp = text.strip().lower()
    if len(fp) != 64 or not set(fp) <= _HEX:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ConfigError(
            f"{shown!r} is not a key fingerprint (64 hex digits, as printed by "
            "`web4 human --print-key` or `web4 id`)"
        )
    return fp


def check_name(name: str) -> str:
    """An entry's name: printable, one line, at most 256 characters. Raises ``ConfigError``."""
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ConfigError(f"a name is at most {MAX_NAME} characters, got {len(name)}")
    if not name.isprintable():
        raise ConfigError(f"a name must be printable text on one line, got {name!r}")
    return name


def parse_authorized(text: str, where: str = AUTHORIZED_HUMANS_FILE) -> tuple[AuthorizedHuman, ...]:
    """The entries of an ``authorized_humans`` text, in file order (a fingerprint listed
    twice keeps its first entry). Pure. Raises ``ConfigError`` naming ``where`` and the
    line of the first malformed entry."""
    out: dict[str, AuthorizedHuman] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip()
        if not line or line.startswith("#"):
            continue
        head, *rest = line.split(None, 1)
        try:
            fp, name = check_fingerprint(head), check_name(rest[0] if rest else "")
        except ConfigError as e:
            raise ConfigError(f"{where} line {number}: {e}") from None
        out.setdefault(fp, AuthorizedHuman(fp, name, number))
    return tuple(out.values())


def _first_word(line: str) -> str:
    words = line.split(None, 1)
    return words[0].lower() if words else ""


def _signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode, st.st_uid)


def _read_private(path: Path) -> tuple[str, Signature] | None:
    """The text of ``path`` and its signature; None if there is no such file. Raises
    ``ConfigError`` for anything but a private regular file of ours with UTF-8 text."""
    try:
        # O_NONBLOCK: a FIFO in its place must not hang the node (fstat then refuses it).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"{path}: cannot open: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        check_private_stat(st, path, ConfigError)  # the key file's rule
        raw = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path} line {line}: not UTF-8 text") from None
    return text, _signature(st)


def read_authorized(path: str | os.PathLike[str]) -> tuple[AuthorizedHuman, ...]:
    """The entries of the file at ``path`` (none if it does not exist). Raises
    ``ConfigError``: not private (0600, ours, regular), too large, not UTF-8, malformed."""
    p = Path(path)
    got = _read_private(p)
    return () if got is None else parse_authorized(got[0], str(p))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory`` (two `web4 human-key` at once lose no entry)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as e:
        raise ConfigError(f"{directory}: cannot open the data directory: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically; the new file has mode 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask could only remove bits; be explicit anyway
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(f"{path}: cannot write: {e.strerror}") from None


def add_authorized(
    path: str | os.PathLike[str], fingerprint: str, name: str = ""
) -> AuthorizedHuman:
    """Add an entry (creating the file, mode 0600, if needed). Raises ``ConfigError``: a
    bad fingerprint or name, a key already listed, a bad existing file (see
    ``read_authorized``)."""
    p = Path(path)
    fp, name = check_fingerprint(fingerprint), check_name(name)
    with _locked(p.parent):
        got = _read_private(p)
        text = _HEADER if got is None else got[0]
        for entry in parse_authorized(text, str(p)):
            if entry.fingerprint == fp:
                raise ConfigError(f"{fp} is already authorised ({p} line {entry.line})")
        if text and not text.endswith("\n"):
            text += "\n"
        line = f"{fp} {name}".rstrip()
        _write_private(p, text + line + "\n")
    return AuthorizedHuman(fp, name, text.count("\n") + 1)


def remove_authorized(path: str | os.PathLike[str], fingerprint: str) -> AuthorizedHuman:
    """Remove a key's entry (every line naming it); returns the entry removed. Raises
    ``ConfigError``: a bad fingerprint, a key not listed, a bad file."""
    p = Path(path)
    fp = check_fingerprint(fingerprint)
    with _locked(p.parent):
        got = _read_private(p)
        entries = (
            {} if got is None else {e.fingerprint: e for e in parse_authorized(got[0], str(p))}
        )
        if got is None or fp not in entries:
            raise ConfigError(f"{fp} is not in {p} (`web4 human-key list` shows who is)")
        kept = [raw for raw in got[0].split("\n") if _first_word(raw) != fp]
        _write_private(p, "\n".join(kept))
    return entries[fp]


class AuthorizedHumans:
    """The node's live view of ``authorized_humans`` (see the module docstring)."""

    def __init__(self, path: Path | None) -> None:
        """``path`` None: nobody is authorised (a node without a data directory)."""
        self.path = path
        self._entries: dict[str, AuthorizedHuman] = {}
        self._seen: Signature | None = None  # the file as last read; None: no file
        self._loaded = False
        self.problem: str | None = None  # why the file authorises nobody right now

    def load(self) -> None:
        """Read the file now. Raises ``ConfigError`` (see ``read_authorized``): a node
        refuses to start on a bad file, as on a bad key file."""
        self._loaded = True
        if self.path is None:
            return
        got = _read_private(self.path)
        entries = () if got is None else parse_authorized(got[0], str(self.path))
        self._entries = {e.fingerprint: e for e in entries}
        self._seen = None if got is None else got[1]
        self.problem = None

    def refresh(self) -> str | None:
        """Re-read the file if it changed since the last read. Returns the problem when a
        change made it bad (nobody is authorised until it is fixed), else None. Never
        raises for the file."""
        if self.path is None:
            return None
        try:
            now: Signature | None = _signature(os.stat(self.path))
        except FileNotFoundError:
            now = None
        except OSError:
            now, self._loaded = None, False  # unreadable: let load() say why
        if self._loaded and now == self._seen:
            return None
        try:
            self.load()
        except ConfigError as e:
            # Fail closed, and do not parse the same bad file again on every message.
            self._entries, self._seen, self.problem = {}, now, str(e)
            return self.problem
        return None

    def get(self, fingerprint: str) -> AuthorizedHuman | None:
        """The entry of ``fingerprint`` as of the last ``refresh``/``load``, or None."""
        return self._entries.get(fingerprint)

    def entries(self) -> tuple[AuthorizedHuman, ...]:
        return tuple(self._entries.values())

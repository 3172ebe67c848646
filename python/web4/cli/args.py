"""Argument types and checks shared by every ``web4`` subcommand.

Theory of operation: every flag is checked while argparse parses it, before a command
does anything (no data directory touched, no socket opened, no process started). Each
type below raises ``argparse.ArgumentTypeError`` with a message that shows a valid
example; argparse prefixes the flag's name and the subcommand (``web4 node: error:
argument --peer: ...``) and exits 2. Enumerations are printed as words (``a, b or c``),
never as Python tuples. ``data_dir`` is the one check of a ``--data-dir`` that must hold
an identity: an unreadable or foreign directory is an ``IdentityError`` (one line, exit
1), never an ``OSError`` traceback.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from web4.errors import ConfigError, IdentityError
from web4.identity import KEY_FILE_NAME, Identity
from web4.node.addrs import check_bootstrap_addr, check_listen_addr, check_peer_addr
from web4.node.config import data_dir_of, default_config_path

__all__ = [
    "UsageError",
    "bootstrap_addr",
    "consent_scope",
    "data_dir",
    "fingerprint",
    "int_range",
    "iso_time",
    "listen_addr",
    "peer_addr",
    "port",
    "positive_float",
    "resolve_data_dir",
    "safety_flags",
    "words",
]

_FINGERPRINT = re.compile(r"^[0-9a-fA-F]{64}$")
_SCOPE = re.compile(r"^topic:[a-z0-9_\-]+(/[a-z0-9_\-]+)*$")
SAFETY_FLAGS = ("avoid_conflict", "slow_pacing")


def words(items: Iterable[str], last: str = "or") -> str:
    """``a, b or c``: an enumeration for a person, not a Python tuple."""
    xs = list(items)
    return xs[0] if len(xs) == 1 else f"{', '.join(xs[:-1])} {last} {xs[-1]}"


def _flag(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse type from a check that raises ``ConfigError``."""

    def parse(value: str) -> str:
        try:
            return check(value)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = check.__name__
    return parse


peer_addr = _flag(check_peer_addr)  # /ip4/A/tcp/P/p2p/PEER_ID, an Ed25519 peer id
listen_addr = _flag(check_listen_addr)  # /ip4/A/tcp/P
bootstrap_addr = _flag(check_bootstrap_addr)  # /ip4/A/tcp/P/p2p/PEER_ID only


def fingerprint(value: str) -> str:
    """64 hex digits (``web4 id`` prints it), lowercased."""
    if not _FINGERPRINT.match(value.strip()):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a fingerprint: 64 hex digits, as `web4 id --data-dir DIR` prints"
        )
    return value.strip().lower()


def positive_float(value: str) -> float:
    """Seconds: a finite number above 0."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds, e.g. 30") from None
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"{value} must be a number of seconds above 0, e.g. 30")
    return x


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An integer within ``lo..hi`` (no upper bound when ``hi`` is None)."""

    def parse(value: str) -> int:
        bounds = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
        try:
            x = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a whole number ({bounds})"
            ) from None
        if x < lo or (hi is not None and x > hi):
            raise argparse.ArgumentTypeError(f"{x} is out of range: {bounds}")
        return x

    parse.__name__ = "int"  # argparse names the type in its own messages
    return parse


port = int_range(0, 65535)


def iso_time(value: str) -> datetime.datetime:
    """An ISO date or time (UTC unless it says otherwise)."""
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO date or time, e.g. 2026-01-01 or 2026-01-01T12:00:00Z"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.UTC)


def consent_scope(value: str) -> str:
    """``topic:A,topic:B/C``: lowercase topic paths (what HCP_HELLO may carry)."""
    entries = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in entries if not _SCOPE.match(s) or len(s) > 256]
    if bad or not entries:
        raise argparse.ArgumentTypeError(
            f"{(bad or [value])[0]!r} is not a scope entry: each is topic: and a lowercase "
            "path (letters, digits, _ -; parts separated by /), e.g. topic:work,topic:work/hiring"
        )
    if len(entries) > 64:
        raise argparse.ArgumentTypeError("at most 64 scope entries")
    return ",".join(entries)


def safety_flags(value: str) -> str:
    """A comma-separated list of known HCP safety flags."""
    flags = [f.strip() for f in value.split(",") if f.strip()]
    bad = [f for f in flags if f not in SAFETY_FLAGS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"{bad[0]!r} is not a safety flag: use {words(SAFETY_FLAGS)}, e.g. slow_pacing"
        )
    return ",".join(flags)


def data_dir(path: str | os.PathLike[str]) -> tuple[Path, Identity]:
    """A node's data directory and its identity. Raises ``IdentityError`` (one line) for
    a missing, unreadable, foreign or malformed directory: a typo in ``--data-dir`` never
    creates an empty store, and an unreadable one never shows a traceback."""
    p = Path(path).expanduser()
    try:
        if not p.is_dir():
            what = "it is not a directory" if p.exists() else "no such directory"
            raise IdentityError(f"no identity in {p} ({what}): run `web4 keygen --data-dir {p}`")
        if not (p / KEY_FILE_NAME).is_file():
            raise IdentityError(f"no identity in {p}: run `web4 keygen --data-dir {p}`")
    except PermissionError:
        raise IdentityError(
            f"cannot read data directory {p}: permission denied (is it another user's?)"
        ) from None
    except OSError as e:
        raise IdentityError(f"cannot read data directory {p}: {e.strerror}") from None
    return p, Identity.in_data_dir(p)


class UsageError(ConfigError):
    """Flags that are wrong together (each alone parsed): ``web4.cli.main`` reports it as
    argparse reports a bad flag, ``web4 CMD: error: ...``, exit 2."""


def add_data_dir(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--data-dir``, optional on the command line: ``$WEB4_DATA_DIR`` or the config
    file's ``[node] data_dir`` stand in for it (``resolve_data_dir``)."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"{help_text} (default: $WEB4_DATA_DIR, else [node] data_dir of the config file)",
    )


def resolve_data_dir(flag: str | None) -> tuple[Path, Identity]:
    """The data directory ``--data-dir``, ``$WEB4_DATA_DIR`` or the config file names, and
    its identity. Raises ``UsageError`` when none names one, ``IdentityError`` (see
    ``data_dir``), ``ConfigError`` (an unreadable config file)."""
    chosen = data_dir_of(flag)
    if chosen is None:
        raise UsageError(
            "give --data-dir DIR (or set WEB4_DATA_DIR, or data_dir under [node] in "
            f"{default_config_path()})"
        )
    return data_dir(chosen)

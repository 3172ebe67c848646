"""``authorized_humans``: which human keys may steer the agent (HCP_SPEC §9.1).

Parsing is pure (comments, blank lines, names, a malformed line named by its number);
the file must be private (0600, a regular file); edits are atomic and keep every other
line; the node's live view re-reads a changed file and fails closed on a bad one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from web4.errors import ConfigError
from web4.hcp.authorized import (
    AuthorizedHuman,
    AuthorizedHumans,
    add_authorized,
    authorized_path,
    parse_authorized,
    read_authorized,
    remove_authorized,
)

A, B, C = "a" * 64, "0123456789abcdef" * 4, "c" * 64


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_comments_blank_lines_and_names_are_understood() -> None:
    text = (
        "# who may steer this agent\n"
        "\n"
        f"{A}\n"
        f"   {B.upper()}   Dana Scully, ops lead  \n"
        "   # an indented comment\n"
        f"{C}\tEd\r\n"
        f"{A} listed again: the first entry counts\n"
    )
    assert parse_authorized(text) == (
        AuthorizedHuman(A, "", 3),
        AuthorizedHuman(B, "Dana Scully, ops lead", 4),  # any case; lower case is canonical
        AuthorizedHuman(C, "Ed", 6),
    )


def test_an_empty_text_authorises_nobody() -> None:
    assert parse_authorized("") == ()
    assert parse_authorized("# only comments\n\n") == ()


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("abc Dana", "'abc' is not a key fingerprint"),
        (A + "0", "is not a key fingerprint"),  # 65 digits
        ("g" * 64, "is not a key fingerprint"),
        (f"{A},Dana", "is not a key fingerprint"),  # no white space after the key
        (f"{A} Da\x07na", "printable"),
        (f"{A} " + "x" * 257, "at most 256"),
    ],
)
def test_a_malformed_line_is_an_error_naming_the_file_and_line(line: str, why: str) -> None:
    text = f"# header\n{A} ok\n\n{line}\n{B}\n"
    with pytest.raises(ConfigError, match=r"^/d/authorized_humans line 4: ") as e:
        parse_authorized(text, "/d/authorized_humans")
    assert why in str(e.value)


def test_a_missing_file_authorises_nobody(tmp_path: Path) -> None:
    assert read_authorized(tmp_path / "authorized_humans") == ()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_a_file_others_can_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "authorized_humans", f"{A}\n", mode)
    with pytest.raises(ConfigError, match=r"accessible by group or others .*chmod 600"):
        read_authorized(path)


def test_what_is_not_a_regular_private_utf8_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "authorized_humans"
    folder.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_authorized(folder)
    binary = tmp_path / "binary"
    binary.write_bytes(f"{A}\n".encode() + b"\xff\xfe\n")
    os.chmod(binary, 0o600)
    with pytest.raises(ConfigError, match="line 2: not UTF-8"):
        read_authorized(binary)
    big = _write(tmp_path / "big", "#" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        read_authorized(big)


def test_add_creates_a_private_file_that_lists_the_key(tmp_path: Path) -> None:
    path = authorized_path(tmp_path)
    entry = add_authorized(path, A.upper(), " Dana ")
    assert entry.fingerprint == A
    assert entry.name == "Dana"
    assert (path.stat().st_mode & 0o777) == 0o600
    assert read_authorized(path) == (AuthorizedHuman(A, "Dana", entry.line),)
    add_authorized(path, B)
    assert [e.fingerprint for e in read_authorized(path)] == [A, B]
    assert path.read_text().startswith("# ")  # the header explains the file


def test_add_refuses_a_key_already_listed_and_a_bad_fingerprint(tmp_path: Path) -> None:
    path = authorized_path(tmp_path)
    add_authorized(path, A, "Dana")
    with pytest.raises(ConfigError, match="already authorised"):
        add_authorized(path, A, "again")
    with pytest.raises(ConfigError, match="not a key fingerprint"):
        add_authorized(path, "12345")
    with pytest.raises(ConfigError, match="printable"):
        add_authorized(path, B, "two\nlines")
    assert [e.fingerprint for e in read_authorized(path)] == [A]


def test_edits_keep_every_other_line_and_refuse_a_bad_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "authorized_humans", f"# mine\n{A} Dana  # lead\n\n{B} Ed\n{C}")
    add_authorized(path, "d" * 64, "Fay")
    assert path.read_text() == f"# mine\n{A} Dana  # lead\n\n{B} Ed\n{C}\n{'d' * 64} Fay\n"
    removed = remove_authorized(path, B.upper())
    assert removed == AuthorizedHuman(B, "Ed", 4)
    assert path.read_text() == f"# mine\n{A} Dana  # lead\n\n{C}\n{'d' * 64} Fay\n"
    with pytest.raises(ConfigError, match="is not in"):
        remove_authorized(path, B)
    _write(path, f"{A}\nnonsense here\n")
    with pytest.raises(ConfigError, match="line 2: 'nonsense'"):
        add_authorized(path, C)
    assert path.read_text() == f"{A}\nnonsense here\n"  # untouched


def test_the_live_view_sees_a_key_added_or_removed_without_a_reload(tmp_path: Path) -> None:
    path = authorized_path(tmp_path)
    view = AuthorizedHumans(path)
    view.load()
    assert view.get(A) is None
    add_authorized(path, A, "Dana")
    assert view.refresh() is None
    assert view.get(A) == AuthorizedHuman(A, "Dana", 4)
    remove_authorized(path, A)
    view.refresh()
    assert view.get(A) is None


def test_the_live_view_fails_closed_on_a_bad_file_and_says_so_once(tmp_path: Path) -> None:
    path = authorized_path(tmp_path)
    add_authorized(path, A, "Dana")
    view = AuthorizedHumans(path)
    view.load()
    os.chmod(path, 0o644)
    problem = view.refresh()
    assert problem is not None
    assert "chmod 600" in problem
    assert view.get(A) is None  # nobody, not the last good list
    assert view.refresh() is None  # the same bad file: reported once
    assert view.get(A) is None
    os.chmod(path, 0o600)
    assert view.refresh() is None
    assert view.get(A) is not None
    assert view.problem is None


def test_a_bad_file_stops_the_first_load(tmp_path: Path) -> None:
    path = _write(tmp_path / "authorized_humans", "not-a-key\n")
    with pytest.raises(ConfigError, match="line 1"):
        AuthorizedHumans(path).load()


def test_without_a_file_path_nobody_is_authorised() -> None:
    view = AuthorizedHumans(None)
    view.load()
    assert view.refresh() is None
    assert view.get(A) is None

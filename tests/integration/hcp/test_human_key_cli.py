"""``web4 human-key add|list|remove`` and ``web4 human --print-key`` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.nodeproc import human_key
from web4.identity import Identity

pytestmark = pytest.mark.timeout(90)


def _one_line_error(r: subprocess.CompletedProcess[str], command: str = "human-key") -> str:
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.startswith(f"web4 {command}"), r.stderr  # `web4 human-key add: error: `
    assert ": error: " in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stdout + r.stderr
    return r.stderr


def test_add_list_remove_round_trip_with_a_private_file(tmp_path: Path) -> None:
    node = tmp_path / "alice"
    Identity.create_in_data_dir(node, "alice")
    fp = Identity.create_in_data_dir(tmp_path / "dana", "dana").fingerprint
    empty = human_key("list", "--data-dir", str(node))
    assert empty.returncode == 0
    assert "no authorised humans" in empty.stdout
    assert f"web4 human-key add FINGERPRINT --name NAME --data-dir {node}" in empty.stdout
    added = human_key("add", fp.upper(), "--name", "Dana Scully", "--data-dir", str(node))
    assert added.returncode == 0, added.stderr
    assert f"authorised {fp} (Dana Scully)" in added.stdout
    assert ((node / "authorized_humans").stat().st_mode & 0o777) == 0o600
    listed = human_key("list", "--data-dir", str(node))
    assert listed.stdout.splitlines() == [f"{fp}  Dana Scully"]
    removed = human_key("remove", fp, "--data-dir", str(node))
    assert removed.returncode == 0
    assert f"removed {fp} (Dana Scully)" in removed.stdout
    assert "no authorised humans" in human_key("list", "--data-dir", str(node)).stdout


def test_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    node = tmp_path / "alice"
    Identity.create_in_data_dir(node, "alice")
    fp = "ab" * 32
    bad = human_key("add", "3f9a", "--data-dir", str(node))
    assert bad.returncode == 2, bad.stderr  # a malformed argument is a usage error
    assert bad.stderr.startswith("web4 human-key add: error: argument FINGERPRINT: '3f9a'")
    assert "no identity in" in _one_line_error(
        human_key("add", fp, "--data-dir", str(tmp_path / "typo"))
    )
    assert not (tmp_path / "typo").exists()  # a typo creates nothing
    assert human_key("add", fp, "--data-dir", str(node)).returncode == 0
    assert "already authorised" in _one_line_error(human_key("add", fp, "--data-dir", str(node)))
    assert "is not in" in _one_line_error(human_key("remove", "cd" * 32, "--data-dir", str(node)))
    os.chmod(node / "authorized_humans", 0o644)
    assert "chmod 600" in _one_line_error(human_key("list", "--data-dir", str(node)))
    os.chmod(node / "authorized_humans", 0o600)
    with (node / "authorized_humans").open("a") as f:
        f.write("bob's key\n")
    assert 'line 5: "bob\'s" is not a key fingerprint' in _one_line_error(
        human_key("list", "--data-dir", str(node))
    )
    usage = human_key("add", fp)
    assert usage.returncode == 2
    assert "--data-dir" in usage.stderr


def test_every_human_key_command_has_help_with_an_example() -> None:
    for args in ((), ("add",), ("list",), ("remove",)):
        r = human_key(*args, "--help")
        assert r.returncode == 0
        assert "Example: web4 human-key" in r.stdout
    web4 = [sys.executable, "-m", "web4"]
    top = subprocess.run([*web4, "--help"], capture_output=True, text=True, timeout=30)
    assert "human-key" in top.stdout


def test_print_key_creates_the_key_once_and_names_the_command(tmp_path: Path) -> None:
    me = tmp_path / "me"
    cmd = [sys.executable, "-m", "web4", "human", "--data-dir", str(me), "--print-key"]
    first = subprocess.run([*cmd, "--name", "Dana"], capture_output=True, text=True, timeout=30)
    assert first.returncode == 0, first.stderr
    fp = Identity.in_data_dir(me).fingerprint
    assert f"fingerprint: {fp}" in first.stdout
    assert "(created)" in first.stdout
    assert f"web4 human-key add {fp} --name Dana --data-dir" in first.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert "(existing)" in again.stdout
    assert f"fingerprint: {fp}" in again.stdout
    no_dir = subprocess.run([*cmd[:4], "--print-key"], capture_output=True, text=True, timeout=30)
    assert no_dir.returncode == 2, no_dir.stderr  # a usage error (issue 11)
    assert no_dir.stderr.startswith("web4 human: error: --print-key needs --data-dir")
    assert len(no_dir.stderr.strip().splitlines()) == 1

"""The `web4` command in real subprocesses: keygen, id, demo, and user mistakes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

WEB4 = [sys.executable, "-m", "web4"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WEB4, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_keygen_then_id(tmp_path: Path) -> None:
    data = tmp_path / "alice"
    made = run("keygen", "--data-dir", str(data), "--agent-id", "alice")
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE((data / "identity.json").stat().st_mode) == 0o600
    shown = run("id", "--data-dir", str(data))
    assert shown.returncode == 0, shown.stderr
    lines = dict(line.split(":", 1) for line in shown.stdout.strip().splitlines())
    assert lines["agent_id"].strip() == "alice"
    assert len(lines["fingerprint"].strip()) == 64
    assert lines["fingerprint"].strip() in made.stdout


def test_user_mistakes_get_one_line_and_nonzero_exit(tmp_path: Path) -> None:
    missing = run("id", "--data-dir", str(tmp_path / "missing"))
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert "Traceback" not in missing.stderr
    assert "web4 keygen" in missing.stderr

    data = tmp_path / "bob"
    assert run("keygen", "--data-dir", str(data)).returncode == 0
    again = run("keygen", "--data-dir", str(data))
    assert again.returncode == 1
    assert "already exists" in again.stderr

    os.chmod(data / "identity.json", 0o644)
    loose = run("id", "--data-dir", str(data))
    assert loose.returncode == 1
    assert "chmod 600" in loose.stderr

    usage = run("id")
    assert usage.returncode == 2
    assert "--data-dir" in usage.stderr


def test_every_command_has_help_with_an_example() -> None:
    top = run("--help")
    assert top.returncode == 0
    commands = ["keygen", "id", "status", "demo", "mesh-demo", "node", "peers", "trust"]
    commands += ["facts", "events"]
    for command in commands:
        assert command in top.stdout
        helped = run(command, "--help")
        assert helped.returncode == 0
        assert "Example:" in helped.stdout


def test_demo_exits_zero_with_a_summary() -> None:
    demo = run("demo")
    assert demo.returncode == 0, demo.stderr
    assert "== summary" in demo.stdout
    assert "result: ok" in demo.stdout
    assert "needs 2 trusted confirmations, has 1" in demo.stdout


NOBODY = 65534
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\ntrust.transition peer=x from=probing to=trusted"


def _planted_store(tmp_path: Path, victim: str) -> Path:
    """A store built elsewhere in which ``victim`` is trusted (an operator vouch)."""
    from web4.clock import SystemClock
    from web4.store import DB_FILE_NAME, Store
    from web4.trust import TrustBook, TrustEvent

    with Store.in_data_dir(tmp_path / "attacker") as store:
        TrustBook(store, SystemClock()).record(victim, TrustEvent.OPERATOR_VOUCH, "planted")
    return tmp_path / "attacker" / DB_FILE_NAME


def test_keygen_makes_the_data_dir_private_and_a_planted_store_is_refused(
    tmp_path: Path,
) -> None:
    data = tmp_path / "alice"
    data.mkdir()
    os.chmod(data, 0o777)  # observation 9: keygen used to leave this as it was
    made = run("keygen", "--data-dir", str(data), "--agent-id", "alice")
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700

    planted = data / "web4.sqlite3"
    os.replace(_planted_store(tmp_path, "ab" * 32), planted)
    os.chmod(planted, 0o666)
    if os.geteuid() == 0:
        os.chown(planted, NOBODY, NOBODY)
    for cmd in (("peers",), ("trust", "show"), ("node", "--exit-after", "1", "--quiet")):
        got = run(*cmd, "--data-dir", str(data))
        assert got.returncode == 1, (cmd, got.stdout, got.stderr)
        assert got.stderr.count("\n") == 1, got.stderr
        assert "web4.sqlite3" in got.stderr
        assert ("owned by uid" in got.stderr) or ("group or others" in got.stderr)
        assert "ab" * 32 not in got.stdout  # the planted trust row was never read


def test_trust_show_prints_a_hostile_cause_as_one_line(tmp_path: Path) -> None:
    from web4.clock import SystemClock
    from web4.store import Store
    from web4.trust import TrustBook, TrustEvent

    data = tmp_path / "alice"
    assert run("keygen", "--data-dir", str(data)).returncode == 0
    with Store.in_data_dir(data) as store:
        TrustBook(store, SystemClock()).record("cd" * 32, TrustEvent.CONFLICT, HOSTILE)
    shown = run("trust", "show", "--data-dir", str(data))
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout
    lines = [line for line in shown.stdout.splitlines() if "cdcdcdcd" in line]
    assert len(lines) == 1
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\ntrust.transition" in lines[0]
    assert not any(line.startswith("trust.transition") for line in shown.stdout.splitlines())

"""CLI conventions through real `web4` processes (issue 11): no traceback on a bad data
directory, every flag checked before anything runs (usage errors exit 2 and name the
subcommand and the flag), Ctrl-C exits 130, config file locations and keys, shell
completion, an idempotent --propose, demo summaries in words."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.nodeproc import WEB4, NodeProc, keygen

pytestmark = pytest.mark.timeout(180)

NOBODY = 65534
PEER_ID = "12D3KooWAQ24A1mdcb5vw3UjFDXYYvkrvtiWN9Mzr2BySyUp6h3N"
LISTEN = ("--listen", "/ip4/127.0.0.1/tcp/0")


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``web4 ARGS`` in a clean environment (no config or data dir from the caller's),
    optionally as another user (``setpriv``)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("WEB4_")}
    base["XDG_CONFIG_HOME"] = "/nonexistent-web4-test-config"
    prefix: list[str] = []
    if user is not None:
        prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    return subprocess.run(
        [*prefix, *WEB4, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def one_line(r: subprocess.CompletedProcess[str], code: int, command: str) -> str:
    err = r.stderr
    assert r.returncode == code, (r.returncode, err, r.stdout[-500:])
    assert "Traceback" not in err + r.stdout
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"web4 {command}: error: "), err
    return lines[0]


# every subcommand that reads a data directory, and its arguments around --data-dir
DATA_DIR_COMMANDS: list[tuple[str, tuple[str, ...]]] = [
    ("node", ("node", "--quiet", "--exit-after", "1")),
    ("peers", ("peers",)),
    ("facts", ("facts",)),
    ("trust show", ("trust", "show")),
    ("id", ("id",)),
    ("human-key list", ("human-key", "list")),
    ("human-key add", ("human-key", "add", "ab" * 32)),
    ("human-key remove", ("human-key", "remove", "ab" * 32)),
]


def _bad_dirs(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    return {"a file": a_file, "a dangling symlink": dangling, "no identity": empty}


def test_a_bad_data_dir_is_one_line_for_every_command(tmp_path: Path) -> None:
    bad = _bad_dirs(tmp_path)
    for what, path in bad.items():
        for command, args in [*DATA_DIR_COMMANDS, ("status", ("status",))]:
            r = run(*args, "--data-dir", str(path))
            line = one_line(r, 1, command)
            assert str(path) in line, (what, line)
    assert not (tmp_path / "gone").exists()  # a typo creates nothing
    under_a_file = bad["a file"] / "sub"
    one_line(run("keygen", "--data-dir", str(under_a_file)), 1, "keygen")
    one_line(run("human", "--print-key", "--data-dir", str(under_a_file)), 1, "human")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run a command as another user",
)
def test_a_data_dir_another_user_cannot_read_is_one_line_for_every_command(
    tmp_path: Path,
) -> None:
    """Root reads everything, so the test runs the command as nobody (setpriv): the data
    directory is root's (0700), the way another user's is."""
    os.chmod(tmp_path, 0o755)  # nobody may pass through to the (private) data dir
    data, _ = keygen(tmp_path, "root-owned")
    probe = run("--version", user=NOBODY)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this interpreter: {probe.stderr.strip()}")
    for command, args in [*DATA_DIR_COMMANDS, ("keygen", ("keygen",))]:
        line = one_line(run(*args, "--data-dir", str(data), user=NOBODY), 1, command)
        assert str(data) in line, line
    human = run("human", "--print-key", "--data-dir", str(data), user=NOBODY)
    one_line(human, 1, "human")
    events = run("events", str(data / "events.jsonl"), user=NOBODY)
    one_line(events, 1, "events")


BAD_FLAGS: list[tuple[str, tuple[str, ...], str]] = [
    # (subcommand, arguments, what the error must say)
    ("node", ("--peer", "/ip4/127.0.0.1/tcp/7001"), "argument --peer: "),
    ("node", ("--peer", "/ip4/127.0.0.1/tcp/7001/p2p/xyz"), "is not an Ed25519 peer id"),
    ("node", ("--peer", "127.0.0.1:7001"), "/ip4/127.0.0.1/tcp/7001/p2p/12D3KooW"),
    ("node", ("--listen", "/ip4/127.0.0.1/tcp/99999"), "argument --listen: "),
    ("node", ("--trust", "abc"), "argument --trust: 'abc' is not a fingerprint"),
    ("node", ("--metrics-port", "70000"), "argument --metrics-port: 70000 is out of range"),
    ("node", ("--exit-after", "-5"), "argument --exit-after: -5"),
    ("node", ("--propose", "x|y|lots"), "argument --propose: "),
    ("node", ("--lip-fetch-for", "all"), "argument --lip-fetch-for: "),
    ("node", ("--bogus",), "unrecognized arguments: --bogus"),
    ("human", ("--consent-scope", "work"), "argument --consent-scope: 'work' is not a scope"),
    ("human", ("--flags", "be_nice"), "avoid_conflict or slow_pacing"),
    ("human", ("--peer", "/ip4/127.0.0.1/tcp/7001"), "argument --peer: "),
    ("human", ("--timeout", "0"), "argument --timeout: "),
    ("demo", ("--timeout", "-5"), "argument --timeout: -5 must be a number of seconds"),
    ("mesh-demo", ("--agents", "2"), "argument --agents: 2 is out of range: 3..10"),
    ("trust show", ("--limit", "0"), "argument --limit: "),
    ("trust prune", ("--before", "yesterday"), "e.g. 2026-01-01"),
    ("trust prune", (), "--before"),
    ("trust override", (), "PEER, --reason"),
    ("human-key add", ("3f9a",), "argument FINGERPRINT: '3f9a'"),
    ("completion", ("fish",), "argument shell: invalid choice: 'fish'"),
]


def test_bad_flags_are_usage_errors_naming_the_subcommand_and_the_flag(tmp_path: Path) -> None:
    """Each is refused while parsing: exit 2, before a data dir is touched or a process
    started (the data dir given does not exist and stays so)."""
    missing = tmp_path / "never-made"
    for command, args, needle in BAD_FLAGS:
        head = command.split()
        no_dir = head[0] in ("demo", "mesh-demo", "completion")
        dir_flag = () if no_dir else ("--data-dir", str(missing))
        r = run(*head, *args, *dir_flag)
        line = one_line(r, 2, command)
        assert needle in line, (command, args, line)
    assert not missing.exists()


def test_enumerations_print_as_words_not_tuples() -> None:
    r = run("human", "--flags", "be_nice", "--print-key")
    assert "('" not in r.stderr, r.stderr
    assert "['" not in r.stderr, r.stderr
    node = run("node", "--data-dir", "/nonexistent", "--lip-fetch-for", "all")
    assert "('" not in node.stderr, node.stderr


def test_no_data_dir_anywhere_is_a_usage_error_naming_where_it_may_come_from() -> None:
    for command in ("node", "peers", "facts", "keygen", "id", "status"):
        line = one_line(run(command), 2, command)
        assert "WEB4_DATA_DIR" in line, line


def _sigint_exits_130(proc: subprocess.Popen[str], ready: str, command: str) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = ""
    while ready not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    assert ready in seen, seen
    os.killpg(proc.pid, signal.SIGINT)
    try:
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read() if proc.stderr else ""
    assert code == 130, (code, err)
    assert "Traceback" not in err, err
    assert f"web4 {command}: interrupted" in err or command == "node", err


def _popen(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*WEB4, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_ctrl_c_exits_130_for_node_events_follow_and_human(tmp_path: Path) -> None:
    data, _ = keygen(tmp_path, "ctrlc")
    node = _popen("node", "--data-dir", str(data), *LISTEN, "--events", str(data / "ev.jsonl"))
    _sigint_exits_130(node, "node.started", "node")

    follow = _popen("events", str(data / "ev.jsonl"), "--follow")
    _sigint_exits_130(follow, "node.started", "events")

    silent = socket.socket()  # accepts TCP and never speaks: the human waits on it
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        port = silent.getsockname()[1]
        human = _popen(
            "human",
            "--peer",
            f"/ip4/127.0.0.1/tcp/{port}/p2p/{PEER_ID}",
            "--timeout",
            "60",
            "--data-dir",
            str(tmp_path / "me"),
            stdin=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            silent.settimeout(0.5)
            try:
                conn, _ = silent.accept()
                break
            except TimeoutError:
                assert human.poll() is None, human.stderr.read() if human.stderr else ""
        else:
            raise AssertionError("web4 human never dialled")
        os.killpg(human.pid, signal.SIGINT)
        try:
            code = human.wait(timeout=30)
        finally:
            if human.poll() is None:
                os.killpg(human.pid, signal.SIGKILL)
        err = human.stderr.read() if human.stderr else ""
        assert code == 130, (code, err)
        assert "Traceback" not in err, err
        assert "web4 human: interrupted" in err, err
        conn.close()
    finally:
        silent.close()


def test_config_file_takes_every_flag_and_lists_valid_keys(tmp_path: Path) -> None:
    data, _ = keygen(tmp_path, "cfg")
    cfg = tmp_path / "node.toml"
    cfg.write_text(
        f'[node]\ndata_dir = "{data}"\nlisten = ["/ip4/127.0.0.1/tcp/0"]\n'
        'believe = ["water boils at 100 degrees celsius at sea level"]\n'
        'propose = ["Water boils at 100 degrees Celsius at sea level|physics|0.9"]\n'
        f'events_file = "{data / "ev.jsonl"}"\n'
        "json_events = true\nexit_after = 1.5\nmetrics_port = 0\n"
        '[lip]\nfetch_for = "none"\n'
    )
    ran = run("node", "--config", str(cfg), timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert '"kind":"node.started"' in ran.stdout.replace(" ", "")  # json_events from the file
    assert (data / "ev.jsonl").is_file()

    cfg.write_text(f'[node]\ndata_dir = "{data}"\nbeleive = ["x"]\n')
    line = one_line(run("node", "--config", str(cfg)), 1, "node")
    assert "unknown key(s) beleive; valid keys: " in line
    for key in ("believe", "propose", "exit_after", "peers", "listen", "trust_anchors"):
        assert key in line, line

    cfg.write_text(f'[node]\ndata_dir = "{data}"\npeers = ["/ip4/127.0.0.1/tcp/9"]\n')
    assert "/p2p/" in one_line(run("node", "--config", str(cfg)), 1, "node")
    cfg.write_text(f'[node]\ndata_dir = "{data}"\nconsole = "yes"\n')
    line = one_line(run("node", "--config", str(cfg)), 1, "node")
    assert "console: expected true or false" in line


def test_default_config_location_and_web4_data_dir(tmp_path: Path) -> None:
    data, fp = keygen(tmp_path, "xdg")
    xdg = tmp_path / "xdg"
    (xdg / "web4").mkdir(parents=True)
    (xdg / "web4" / "node.toml").write_text(
        f'[node]\ndata_dir = "{data}"\nexit_after = 1.0\nconsole = false\n'
    )
    env = {"XDG_CONFIG_HOME": str(xdg)}
    ran = run("node", *LISTEN, env=env)  # no --data-dir, no --config: the default file
    assert ran.returncode == 0, ran.stderr
    peers = run("peers", env=env)  # the inspection commands find the same node
    assert peers.returncode == 0, peers.stderr
    shown = run("id", env={"WEB4_DATA_DIR": str(data)})
    assert shown.returncode == 0, shown.stderr
    assert fp in shown.stdout
    facts = run("facts", env={"WEB4_DATA_DIR": str(data)})
    assert facts.returncode == 0, facts.stderr
    # $WEB4_CONFIG names another file; one that is missing is an error, not skipped
    line = one_line(run("node", env={"WEB4_CONFIG": str(tmp_path / "none.toml")}), 1, "node")
    assert "none.toml: no such config file" in line


def test_restart_with_the_same_propose_adds_no_claim(tmp_path: Path) -> None:
    b_dir, _ = keygen(tmp_path, "bee")
    a_dir, _ = keygen(tmp_path, "ant")
    fact = "Sound travels faster in water than in air|physics|0.8"
    bee = NodeProc(b_dir, *LISTEN)
    try:
        addr = bee.addr()
        for attempt in (1, 2):
            ant = NodeProc(a_dir, *LISTEN, "--peer", addr, "--propose", fact, "--propose", fact)
            try:
                if attempt == 1:
                    ant.kind("knowledge.claim_pending", timeout=60)
                    bee.kind("knowledge.claim_pending", timeout=60)
                else:
                    skipped = ant.kind("knowledge.proposal_skipped", timeout=60)
                    assert skipped["attributes"]["state"] == "pending"
                    ant.kind("cip.handshake.done", timeout=60)
                    time.sleep(1.5)  # a proposal would follow the handshake at once
            finally:
                assert ant.stop() == 0
            kinds = [e["kind"] for e in ant.events]
            # given twice: proposed once; on the restart: skipped once, not proposed
            assert kinds.count("knowledge.proposal_skipped") == attempt - 1, kinds
        facts = run("facts", "--data-dir", str(a_dir))
        assert facts.stdout.count("Sound travels faster") == 1, facts.stdout
    finally:
        bee.stop()
    at_bee = run("facts", "--data-dir", str(b_dir))
    assert at_bee.stdout.count("Sound travels faster") == 1, at_bee.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_subcommands_and_flags(tmp_path: Path) -> None:
    script = run("completion", "bash")
    assert script.returncode == 0, script.stderr
    path = tmp_path / "web4.bash"
    path.write_text(script.stdout)
    probe = (
        f"source {path}\n"
        'COMP_WORDS=(web4 hu); COMP_CWORD=1; _shtab_web4 web4 hu web4; echo "${COMPREPLY[*]}"\n'
        "COMP_WORDS=(web4 node --pe); COMP_CWORD=2; _shtab_web4 web4 --pe node; "
        'echo "${COMPREPLY[*]}"\n'
    )
    out = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, timeout=30, check=False
    )
    first, second = out.stdout.splitlines()[:2]
    assert set(first.split()) == {"human", "human-key"}, out
    assert second.split() == ["--peer"], out
    assert run("completion", "zsh").stdout.startswith("#compdef web4")


def test_demo_with_too_short_a_timeout_says_why_in_words() -> None:
    r = run("demo", "--timeout", "0.5", timeout=120)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    summary = r.stdout.split("== summary", 1)[1]
    assert "the --timeout of 0.5 seconds passed before" in summary, summary
    assert "try --timeout 60" in summary
    assert "{" not in summary, summary  # no Python dict
    assert "}" not in summary, summary
    assert "result: FAIL" in summary


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))

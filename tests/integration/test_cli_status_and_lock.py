"""`web4 id`, `web4 status`, the status file and the one-process-per-data-dir lock, with
real `web4` processes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

WEB4 = [sys.executable, "-m", "web4"]
LISTEN = ("--listen", "/ip4/127.0.0.1/tcp/0")


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WEB4, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def keygen(root: Path, name: str) -> Path:
    data = root / name
    made = run("keygen", "--data-dir", str(data), "--agent-id", name)
    assert made.returncode == 0, made.stderr
    return data


def start_quiet(data: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*WEB4, "node", "--data-dir", str(data), "--quiet", *LISTEN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_status(data: Path, state: str, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = data / "status.json"
        if path.exists():
            doc: dict[str, object] = json.loads(path.read_text())
            if doc["state"] == state:
                return doc
        time.sleep(0.1)
    raise AssertionError(f"status.json never said {state!r}")


def stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=5)


def test_id_prints_the_peer_id_and_json(tmp_path: Path) -> None:
    data = keygen(tmp_path, "alice")
    text = run("id", "--data-dir", str(data))
    assert text.returncode == 0, text.stderr
    fields = dict(line.split(":", 1) for line in text.stdout.strip().splitlines())
    assert fields["peer_id"].strip().startswith("12D3KooW")
    as_json = run("id", "--data-dir", str(data), "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc == {k: v.strip() for k, v in fields.items()}


def test_a_quiet_node_still_says_where_it_listens_and_writes_a_status_file(
    tmp_path: Path,
) -> None:
    data = keygen(tmp_path, "alice")
    peer_id = json.loads(run("id", "--data-dir", str(data), "--json").stdout)["peer_id"]
    assert run("status", "--data-dir", str(data)).returncode == 3  # never started
    node = start_quiet(data, "--metrics-port", "0")
    try:
        doc = wait_status(data, "running")
        assert stat.S_IMODE((data / "status.json").stat().st_mode) == 0o600
        assert doc["pid"] == node.pid
        assert doc["peer_id"] == peer_id
        listen = doc["listen"]
        assert isinstance(listen, list)
        assert listen[0].endswith(f"/p2p/{peer_id}")
        assert str(doc["metrics_url"]).startswith("http://127.0.0.1:")

        shown = run("status", "--data-dir", str(data))
        assert shown.returncode == 0, shown.stderr
        assert f"running (pid {node.pid}" in shown.stdout
        assert f"listening on {listen[0]}" in shown.stdout
        assert f"metrics on {doc['metrics_url']}" in shown.stdout
        as_json = json.loads(run("status", "--data-dir", str(data), "--json").stdout)
        assert as_json["running"] is True
        assert as_json["listen"] == listen
    finally:
        assert stop(node) == 0
    out, err = node.communicate(timeout=10)
    assert out == ""  # --quiet: nothing on stdout
    assert f"listening on {listen[0]}" in err  # but the addresses and the URL on stderr
    assert f"metrics on {doc['metrics_url']}" in err
    assert wait_status(data, "stopped")["stopped_at"] is not None
    after = run("status", "--data-dir", str(data))
    assert after.returncode == 3
    assert "stopped at" in after.stdout


def test_a_second_node_or_a_human_on_a_running_nodes_data_dir_is_refused(
    tmp_path: Path,
) -> None:
    data = keygen(tmp_path, "alice")
    node = start_quiet(data)
    try:
        addr = wait_status(data, "running")["listen"][0]  # type: ignore[index]
        second = run("node", "--data-dir", str(data), "--quiet", *LISTEN, "--exit-after", "5")
        assert second.returncode == 1
        assert second.stderr.count("\n") == 1, second.stderr
        assert f"pid {node.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        human = run(
            "human", "--data-dir", str(data), "--peer", str(addr), "--name", "Ada",
            timeout=60,
        )  # fmt: skip
        assert human.returncode == 1, human.stderr
        assert human.stderr.count("\n") == 1, human.stderr
        assert f"pid {node.pid}" in human.stderr
        assert node.poll() is None  # the running node was not disturbed
        assert run("status", "--data-dir", str(data)).returncode == 0
    finally:
        assert stop(node) == 0


def test_a_killed_node_is_reported_not_running_and_its_lock_does_not_block_a_restart(
    tmp_path: Path,
) -> None:
    data = keygen(tmp_path, "alice")
    node = start_quiet(data)
    try:
        wait_status(data, "running")
    finally:
        os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=10)
    shown = run("status", "--data-dir", str(data))
    assert shown.returncode == 3
    assert "without a clean stop" in shown.stdout
    assert json.loads(run("status", "--data-dir", str(data), "--json").stdout)["running"] is False
    again = run("node", "--data-dir", str(data), "--quiet", *LISTEN, "--exit-after", "1")
    assert again.returncode == 0, again.stderr
    assert wait_status(data, "stopped")["pid"] != node.pid

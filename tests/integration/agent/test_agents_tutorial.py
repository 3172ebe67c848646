"""docs/AGENTS.md, run as written: its agent file, its keygen and node commands (two real
``web4 node`` processes over RTT), and the outcome it promises (the checker confirms the
right sum and rejects the wrong one, with FACT_CONFIRM / FACT_REJECT)."""

from __future__ import annotations

import json
import queue
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "AGENTS.md"
WEB4 = str(Path(sys.executable).parent / "web4")  # the console script, as a user runs it

pytestmark = pytest.mark.slow


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[str]:
    """Every ``web4 ...`` command of the sh blocks, continuation lines joined."""
    out = []
    for block in blocks(text, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().startswith("web4 "):
                out.append(line.strip())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A ``web4 node --json`` process; a reader thread queues its JSON events."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.p = subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def wait_for(self, pred: Any, deadline: float) -> dict[str, Any]:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                ev = self.events.get(timeout=0.2)
            except queue.Empty:
                if self.p.poll() is not None:
                    err = self.p.stderr.read() if self.p.stderr else ""
                    msg = f"node exited {self.p.returncode}: {err[-2000:]}"
                    raise AssertionError(msg) from None
                continue
            self.seen.append(ev)
            if pred(ev):
                return ev
        raise AssertionError(f"no such event in {deadline}s; saw {[e['kind'] for e in self.seen]}")

    def stop(self) -> None:
        self.p.terminate()
        try:
            self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=5)


def test_the_agents_tutorial_runs_as_written(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    (agent_src,) = [b for b in blocks(text, "python") if b.startswith("# myagent.py")]
    assert len([ln for ln in agent_src.splitlines() if ln.strip()]) <= 30  # "a 30-line agent"
    (tmp_path / "myagent.py").write_text(agent_src, encoding="utf-8")
    home = tmp_path / "home"
    port = str(free_port())

    def argv(cmd: str, **subst: str) -> list[str]:
        cmd = cmd.replace("~/.web4/", f"{home}/").replace("tcp/7101", f"tcp/{port}")
        for old, new in subst.items():
            cmd = cmd.replace(old, new)
        args = shlex.split(cmd)
        assert args[0] == "web4"
        return [WEB4, *args[1:]]

    keygens = [c for c in commands(text) if c.startswith("web4 keygen")]
    nodes = [c for c in commands(text) if c.startswith("web4 node")]
    assert len(keygens) == 2
    assert len(nodes) == 2
    for cmd in keygens:
        subprocess.run(argv(cmd), cwd=tmp_path, check=True, capture_output=True, timeout=30)

    # Terminal 1: the checker runs the agent from myagent.py in its directory.
    checker = Proc([*argv(nodes[0]), "--json"], tmp_path)
    asker: Proc | None = None
    try:
        started = checker.wait_for(lambda e: e["kind"] == "node.started", 30)
        addr = started["attributes"]["listen"][0]
        me = started["attributes"]["fingerprint"]
        assert "/p2p/" in addr
        # Terminal 2: the placeholder address is the one terminal 1 printed.
        placeholder = f"/ip4/127.0.0.1/tcp/{port}/p2p/12D3KooW..."
        asker = Proc([*argv(nodes[1], **{placeholder: addr}), "--json"], tmp_path)
        votes: dict[str, str] = {}

        def vote(e: dict[str, Any]) -> bool:
            if e["kind"] == "knowledge.confirmation" and e.get("peer") == me:
                decision = e["attributes"]["decision"]
                if decision in ("confirm", "reject"):
                    votes[decision] = e["attributes"]["claim_id"]
            return len(votes) == 2

        asker.wait_for(vote, 60)
        claims = {
            e["attributes"]["claim_id"]: e["attributes"].get("statement")
            for e in asker.seen
            if e["kind"].startswith("knowledge.claim_")
        }
        assert claims[votes["confirm"]] == "2 + 2 = 4"
        assert claims[votes["reject"]] == "2 + 2 = 5"
        decisions = [
            e
            for e in [*checker.seen, *iter(lambda: _drain(checker), None)]
            if e["kind"] == "agent.decision"
        ]
        assert any("reject claim" in d["attributes"]["choice"] for d in decisions)
    finally:
        if asker is not None:
            asker.stop()
        checker.stop()


def _drain(p: Proc) -> dict[str, Any] | None:
    try:
        return p.events.get(timeout=1.0)
    except queue.Empty:
        return None

"""Real `web4 node` processes for the integration tests: start, wait for events, stop.

Each node runs in its own process group with ``--json`` on stdout and a JSONL event file;
a reader thread collects its events. Every wait has a deadline; ``stop`` sends SIGTERM
and, past its deadline, SIGKILL to the group.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WEB4 = [sys.executable, "-m", "web4"]


def web4(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WEB4, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def keygen(root: Path, name: str) -> tuple[Path, str]:
    data = root / name
    made = web4("keygen", "--data-dir", str(data), "--agent-id", name)
    assert made.returncode == 0, made.stderr
    fp = next(line.split()[1] for line in made.stdout.splitlines() if "fingerprint" in line)
    return data, fp


class NodeProc:
    def __init__(self, data: Path, *args: str) -> None:
        self.data = data
        self.events_file = data / "events.jsonl"
        cmd = [*WEB4, "node", "--data-dir", str(data), "--json", "--events", str(self.events_file)]
        self.proc = subprocess.Popen(
            [*cmd, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.events: list[dict[str, Any]] = []
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self._q.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        self._q.put(None)

    def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        for e in self.events:
            if pred(e):
                return e
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                e = self._q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if e is None:
                break
            self.events.append(e)
            if pred(e):
                return e
        err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        raise AssertionError(
            f"event not seen in {timeout} s; kinds: {[e['kind'] for e in self.events][-30:]} {err}"
        )

    def kind(self, kind: str, timeout: float = 15.0, **attrs: Any) -> dict[str, Any]:
        return self.wait_for(
            lambda e: (
                e["kind"] == kind and all(e["attributes"].get(k) == v for k, v in attrs.items())
            ),
            timeout,
        )

    def addr(self) -> str:
        started = self.kind("node.started")
        listen = started["attributes"]["listen"]
        return str(listen[0] if isinstance(listen, list) else listen)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        while True:  # collect what is left
            try:
                e = self._q.get(timeout=1.0)
            except queue.Empty:
                break
            if e is None:
                break
            self.events.append(e)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

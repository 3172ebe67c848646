"""Real ``web4 node`` and ``web4 human`` processes for the HCP/LIP integration tests.

``NodeProc`` starts ``python -m web4 node --json`` on 127.0.0.1 with a fresh identity,
collects its JSON events from stdout in a reader thread, and offers ``wait_for`` (every
wait has a deadline); ``stop`` sends SIGTERM and kills after a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from web4.identity import Identity

Event = dict[str, Any]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


class NodeProc:
    def __init__(self, root: Path, name: str, *args: str) -> None:
        self.data_dir = root / name
        self.identity = Identity.create_in_data_dir(self.data_dir, name)
        self.fingerprint = self.identity.fingerprint
        cmd = [
            sys.executable,
            "-m",
            "web4",
            "node",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--json",
            *args,
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
        )
        self.events: list[Event] = []
        self.raw: list[str] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        started = self.wait_for(lambda e: e["kind"] == "node.started", 20.0)
        self.addr: str = started["attributes"]["listen"][0]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cv:
                self.raw.append(line)
                if line.startswith("{"):
                    self.events.append(json.loads(line))
                self._cv.notify_all()

    def kinds(self, prefix: str) -> list[Event]:
        with self._cv:
            return [e for e in self.events if e["kind"].startswith(prefix)]

    def wait_for(self, pred: Callable[[Event], bool], timeout: float) -> Event:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cv:
            while True:
                for e in self.events[seen:]:
                    if pred(e):
                        return e
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and seen == len(self.events)):
                    tail = "".join(self.raw[-15:])
                    err = self.proc.stderr.read() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
                    raise AssertionError(f"event not seen in {timeout}s; last output:\n{tail}{err}")
                self._cv.wait(min(left, 0.2))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


def run_human(
    peer: str, lines: list[str], *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``web4 human`` with ``lines`` piped on stdin; bounded by ``timeout``."""
    cmd = [
        sys.executable,
        "-m",
        "web4",
        "human",
        "--peer",
        peer,
        "--reply-wait",
        "1.5",
        "--linger",
        "0.5",
        *args,
    ]
    return subprocess.run(
        cmd,
        input="".join(x + "\n" for x in lines),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )

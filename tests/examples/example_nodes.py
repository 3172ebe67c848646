"""Real ``web4`` processes for the example agents' end-to-end tests: ``Node`` runs
``python -m web4 node --json`` (its own process group; a reader thread keeps its JSON
events), ``human`` runs ``web4 human`` with piped lines. Every wait has a deadline."""

from __future__ import annotations

import contextlib
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

REPO = Path(__file__).resolve().parents[2]
WEB4 = [sys.executable, "-m", "web4"]
Event = dict[str, Any]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def web4(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WEB4, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_env(),
        cwd=REPO,
    )


class Node:
    def __init__(self, root: Path, name: str, *args: str) -> None:
        self.data_dir = root / name
        Identity.create_in_data_dir(self.data_dir, name)
        cmd = [
            *WEB4,
            "node",
            "--data-dir",
            str(self.data_dir),
            "--json",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            *args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=_env(),
            cwd=REPO,
        )
        self.events: list[Event] = []
        self.err: list[str] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError), self._cv:
                    self.events.append(json.loads(line))
                    self._cv.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    @property
    def fingerprint(self) -> str:
        return Identity.in_data_dir(self.data_dir).fingerprint

    @property
    def addr(self) -> str:
        listen = self.kind("node.started", 30.0)["attributes"]["listen"]
        return str(listen[0] if isinstance(listen, list) else listen)

    def wait_for(self, pred: Callable[[Event], bool], timeout: float) -> Event:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                found = next((e for e in self.events if pred(e)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self._cv.wait(min(left, 0.2))
        kinds = [e["kind"] for e in self.events][-30:]
        raise AssertionError(f"event not seen in {timeout} s; kinds: {kinds}\n{''.join(self.err)}")

    def kind(self, kind: str, timeout: float = 30.0, **attrs: Any) -> Event:
        return self.wait_for(
            lambda e: (
                e["kind"] == kind
                and all(e.get("attributes", {}).get(k) == v for k, v in attrs.items())
            ),
            timeout,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def new_human(root: Path, name: str, node: Node) -> Path:
    """A human identity authorised on ``node`` (``web4 human-key add``)."""
    data_dir = root / f"human-{name}"
    fp = Identity.create_in_data_dir(data_dir, name).fingerprint
    added = web4("human-key", "add", fp, "--name", name, "--data-dir", str(node.data_dir))
    assert added.returncode == 0, added.stderr
    return data_dir


def human(
    data_dir: Path, peer: str, lines: list[str], reply_wait: float = 8.0, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``web4 human`` with ``lines`` piped in, one answer awaited per line."""
    return subprocess.run(
        [
            *WEB4,
            "human",
            "--data-dir",
            str(data_dir),
            "--peer",
            peer,
            "--reply-wait",
            str(reply_wait),
            "--linger",
            "1",
        ],
        input="".join(x + "\n" for x in lines),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        cwd=REPO,
    )

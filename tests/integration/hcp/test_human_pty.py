"""``web4 human`` at a terminal (a pseudo-terminal driving a real process against a real
``web4 node``): a prompt with line editing (cursor keys) and history (up-arrow, kept in
the human's data directory), the agent shown by name, the human's name kept as typed."""

from __future__ import annotations

import os
import pty
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support.nodeproc import NodeProc, new_human

pytestmark = pytest.mark.timeout(120)


class Terminal:
    """A process on a pseudo-terminal: what it prints is collected; keys are typed."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "xterm"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "web4", *args],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self._out = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the process closed the terminal
                return
            if not chunk:
                return
            with self._lock:
                self._out += chunk

    @property
    def text(self) -> str:
        with self._lock:
            return self._out.decode("utf-8", "replace")

    def wait(self, text: str, count: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.text.count(text) < count:
            assert time.monotonic() < deadline, f"{text!r} x{count} not shown:\n{self.text}"
            time.sleep(0.05)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        os.close(self.master)


def test_web4_human_at_a_terminal_edits_lines_keeps_history_and_names_both_sides(
    tmp_path: Path,
) -> None:
    node = NodeProc.new(tmp_path, "alice")
    me = new_human(tmp_path, "dana", node)
    term = Terminal(
        "human", "--peer", node.addr(), "--data-dir", str(me), "--name", "Dana K",
        "--reply-wait", "5", "--linger", "0.5",
    )  # fmt: skip
    try:
        term.wait("connected to alice (")
        assert "as Dana K (consent granted)" in term.text  # the name as typed
        # line editing: two cursor-left keys, then the missing letter goes in the middle
        term.type("/intent align wrk\x1b[D\x1b[Do\r")
        term.wait("alice: Understood: align on work")
        # history: up-arrow brings the line back; Enter sends it again
        term.type("\x1b[A\r")
        term.wait("you -> HCP_INTENT", count=2)
        term.wait("alice: Understood: align on work", count=2)
        term.type("\x04")  # Ctrl-D: end of input
        assert term.proc.wait(timeout=30) == 0, term.text
        assert "session closed" in term.text
    finally:
        term.close()
        assert node.stop() == 0
    history = me / "human_history"
    assert history.read_text().splitlines() == ["/intent align work"] * 2
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert [e["attributes"]["name"] for e in node.kinds("hcp.session_open")] == ["Dana K"]

"""What an operator reads: `web4 node`'s console and `web4 events --follow`, in real
processes over real RTT sessions.

Alice listens (text console), trusts bob and proposes a fact bob believes; bob dials her.
The first lines each prints are about the node (where it listens, its metrics URL, then
`node.started`); peers are shown by the name they introduced themselves with; bob prints
one `claim_pending` for the claim (his own vote adds nothing to report), alice one per
counted confirmation; `--log-level warning` hides info lines; the piped console has no
colour. `web4 events --follow`, started before the node creates its file, waits for it,
prints the events with names, and reports a malformed line on stderr.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from support.nodeproc import WEB4, keygen

FACT = "Water boils at 100 degrees Celsius at sea level"
LISTEN = ("--listen", "/ip4/127.0.0.1/tcp/0")

pytestmark = pytest.mark.timeout(120)


class TextProc:
    """A `web4` process whose stdout lines are collected as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*WEB4, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line.rstrip("\n"))

    def wait_error(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in x for x in self.errors):
            assert time.monotonic() < deadline, f"{text!r} not on stderr: {self.errors}"
            time.sleep(0.05)

    def wait_line(self, pattern: str, timeout: float = 30.0) -> str:
        rx = re.compile(pattern)
        for line in self.lines:
            if rx.search(line):
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if rx.search(line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s: {self.lines[-20:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        while (line := self._q.get(timeout=5)) is not None:
            self.lines.append(line)
        return self.proc.returncode


def test_console_first_lines_names_one_line_per_event_levels_and_events_follow(
    tmp_path: Path,
) -> None:
    (a_dir, a_fp), (b_dir, b_fp) = keygen(tmp_path, "alice"), keygen(tmp_path, "bob")
    events_file = a_dir / "events.jsonl"
    follower = TextProc("events", str(events_file), "--follow", "--kind", "knowledge.")
    follower.wait_error("waiting for")  # the file does not exist yet
    alice = TextProc(
        "node", "--data-dir", str(a_dir), *LISTEN, "--trust", b_fp, "--metrics-port", "0",
        "--events", str(events_file), "--propose", f"{FACT}|physics|0.9",
    )  # fmt: skip
    procs = [follower, alice]
    try:
        addr = alice.wait_line(r"^listening on ").removeprefix("listening on ")
        bob = TextProc(
            "node", "--data-dir", str(b_dir), *LISTEN, "--peer", addr, "--believe", FACT,
            env={"NO_COLOR": ""},  # a pipe: no colour whatever the environment says
        )  # fmt: skip
        quiet = TextProc(
            "node", "--data-dir", str(keygen(tmp_path, "carol")[0]), *LISTEN,
            "--peer", addr, "--log-level", "warning",
        )  # fmt: skip
        procs += [bob, quiet]
        alice.wait_line(r"knowledge\.claim_pending .*has=1", timeout=60)
        bob.wait_line(r"agent\.decision ", timeout=60)
        bob.wait_line(r"knowledge\.confirmation .*peer=bob\(", timeout=10)
        follower.wait_line(r"knowledge\.claim_pending .*has=1", timeout=30)
        quiet.wait_line(r"^listening on ", timeout=30)
        # a malformed line in the file is reported by the follower, which keeps going
        with events_file.open("ab") as f:
            f.write(b"this is not an event\n")
        follower.wait_error("skipped a line that is not an event")
    finally:
        results = {id(p): p.stop() for p in procs}

    # the first lines are about the node itself
    assert alice.lines[0].startswith("listening on /ip4/127.0.0.1/tcp/")
    assert re.match(r"^metrics on http://127\.0\.0\.1:\d+/metrics$", alice.lines[1])
    assert " node.started " in alice.lines[2]
    assert not any("trust." in line for line in alice.lines[:3])
    # peers by name, next to their fingerprint's prefix
    assert any(f"peer=bob({b_fp[:8]})" in x for x in alice.lines if "trust.transition" in x)
    assert any(f"peer=alice({a_fp[:8]})" in x for x in bob.lines if "claim_pending" in x)
    # one line per event: bob's own (uncounted) vote does not repeat the pending claim
    assert len([x for x in bob.lines if "knowledge.claim_pending" in x]) == 1
    pending = [x for x in alice.lines if "knowledge.claim_pending" in x]
    assert [re.search(r"has=(\d)", x).group(1) for x in pending] == ["0", "1"]  # type: ignore[union-attr]
    # a pipe gets no colour; --log-level warning prints no info events; all stop cleanly
    assert results[id(alice)] == results[id(bob)] == 0
    assert not any("\x1b" in x for x in alice.lines + bob.lines)
    assert not any(" INFO " in x for x in quiet.lines)
    # the follower (which waited for the file) printed the knowledge events, with names
    assert results[id(follower)] in (0, 130, -signal.SIGTERM)
    assert any(f"alice({a_fp[:8]})" in x for x in follower.lines)
    assert all(" knowledge." in x for x in follower.lines)

"""Real ``web4 node`` and ``web4 human`` processes for the HCP/LIP integration tests.

``NodeProc`` starts ``python -m web4 node --json`` on 127.0.0.1 with a fresh identity,
collects its JSON events from stdout in a reader thread, and offers ``wait_for`` (every
wait has a deadline); ``stop`` sends SIGTERM and kills after a deadline. A node acts on
HCP only from authorised human keys: ``human_key`` runs ``web4 human-key`` against a
node's data directory, ``new_human`` makes a human identity (authorised by default).
``Peer`` is a real RTT + CIP peer in the test process (the human client's own transport
and handshake) that keeps every envelope it receives: a spy on what a node broadcasts,
or a client that sends whatever HCP it likes.
"""

from __future__ import annotations

import asyncio
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

from web4.cli.human import cip_handshake
from web4.clock import SystemClock, SystemRng
from web4.envelope import canonicalize
from web4.hcp import HumanState, build_hcp
from web4.hcp.messages import Payload
from web4.identity import Identity
from web4.node.link import LinkSession, LinkTransport

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


def human_key(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``web4 human-key ARGS``."""
    cmd = [sys.executable, "-m", "web4", "human-key", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())


def new_human(root: Path, name: str, node: NodeProc | None = None) -> Path:
    """A human's data directory with a new identity; authorised on ``node`` (with
    ``web4 human-key add``) when given. Returns the directory (for ``--data-dir``)."""
    data_dir = root / f"human-{name}"
    fp = Identity.create_in_data_dir(data_dir, name).fingerprint
    if node is not None:
        r = human_key("add", fp, "--name", name, "--data-dir", str(node.data_dir))
        assert r.returncode == 0, r.stderr
    return data_dir


CALM = HumanState("engaged", "calm", 70, 30, "", "granted")


class Peer:
    """A real RTT session and CIP handshake (as initiator) with a node, from this process."""

    def __init__(self, identity: Identity, transport: LinkTransport, session: LinkSession) -> None:
        self.identity, self.fingerprint = identity, identity.fingerprint
        self._transport, self.session = transport, session
        self.received: list[dict[str, Any]] = []  # every JSON envelope, in arrival order
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, addr: str, identity: Identity, timeout: float = 20.0) -> Peer:
        from web4.node.rtt_link import RttLink

        transport = RttLink(identity)
        session = await transport.connect(addr, timeout=timeout)
        await cip_handshake(session, identity, SystemClock(), SystemRng(), timeout)
        peer = cls(identity, transport, session)
        peer._task = asyncio.create_task(peer._read())
        return peer

    async def _read(self) -> None:
        while not self.session.closed:
            item = await self.session.receive(timeout=0.25)
            if item is not None:
                doc = json.loads(item[1])
                if isinstance(doc, dict):
                    self.received.append(doc)

    async def send_hcp(self, payload: Payload, state: HumanState = CALM) -> str:
        """Sign and send one HCP message on ``control``; returns its ``msg_id``."""
        env = build_hcp(
            self.identity,
            receiver_id=self.session.peer[:16],
            receiver_fingerprint=self.session.peer,
            payload=payload,
            human=state,
            clock=SystemClock(),
            rng=SystemRng(),
        )
        await self.session.send("control", canonicalize(env), timeout=10.0)
        return str(env["msg_id"])

    def of(self, protocol: str, msg_type: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.received if protocol in d and msg_type in (None, d.get("type"))]

    async def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            found = next((d for d in self.received if pred(d)), None)
            if found is not None:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"not received in {timeout}s; got {[d.get('type') for d in self.received]}"
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0):
                await self.session.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0):
                await self._transport.shutdown()

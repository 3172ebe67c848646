"""Real ``web4 node`` and ``web4 human`` processes for the integration tests.

``NodeProc(data_dir, *args)`` runs ``python -m web4 node --json --events FILE`` for a data
directory made beforehand (``keygen``); ``NodeProc.new(root, name, *args)`` makes a fresh
identity, listens on a loopback port and returns once the node has started. Each node
runs in its own process group; reader threads collect its JSON events (stdout) and its
stderr. Every wait has a deadline; ``stop`` sends SIGTERM and, past its deadline, SIGKILL
to the group.

A node acts on HCP only from authorised human keys: ``human_key`` runs ``web4 human-key``,
``new_human`` makes a human identity (authorised on a node when given). ``Peer`` is a real
RTT + CIP peer in the test process (the human client's own transport and handshake) that
keeps every envelope it receives: a spy on what a node broadcasts, or a client that sends
whatever HCP it likes.
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from web4.cli.human import cip_handshake
from web4.clock import SystemClock, SystemRng
from web4.envelope import canonicalize
from web4.hcp import HumanState, build_hcp
from web4.hcp.messages import Payload
from web4.identity import Identity
from web4.node.link import LinkSession, LinkTransport

Event = dict[str, Any]

WEB4 = [sys.executable, "-m", "web4"]
LOOPBACK = ("--listen", "/ip4/127.0.0.1/tcp/0")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def web4(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``web4 ARGS`` to completion, output captured."""
    return subprocess.run(
        [*WEB4, *args], capture_output=True, text=True, timeout=timeout, check=False, env=_env()
    )


def keygen(root: Path, name: str) -> tuple[Path, str]:
    """``web4 keygen`` into ``root/name``; returns the data dir and the fingerprint."""
    data = root / name
    made = web4("keygen", "--data-dir", str(data), "--agent-id", name)
    assert made.returncode == 0, made.stderr
    fp = next(line.split()[1] for line in made.stdout.splitlines() if "fingerprint" in line)
    return data, fp


class NodeProc:
    """A running ``web4 node``: its events as they come, waits with deadlines, stop."""

    def __init__(self, data_dir: Path, *args: str, wrap: Sequence[str] = ()) -> None:
        """``wrap``: a command prefix, e.g. ``ip netns exec NS`` (support.netns)."""
        self.data_dir = data_dir
        self.events_file = data_dir / "events.jsonl"
        cmd = [*wrap, *WEB4, "node", "--data-dir", str(data_dir), "--json"]
        self.proc = subprocess.Popen(
            [*cmd, "--events", str(self.events_file), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=_env(),
        )
        self.events: list[Event] = []  # every JSON line printed so far, in order
        self.raw: list[str] = []  # every stdout line
        self._err: list[str] = []
        self._cv = threading.Condition()
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_err, args=(self.proc.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self._addr: str | None = None

    @classmethod
    def new(cls, root: Path, name: str, *args: str, timeout: float = 20.0) -> NodeProc:
        """A node with a fresh identity in ``root/name``, on a loopback port; returns once
        it has started (and is stopped if it does not)."""
        Identity.create_in_data_dir(root / name, name)
        node = cls(root / name, *LOOPBACK, *args)
        try:
            node.kind("node.started", timeout)
        except BaseException:
            node.kill()
            raise
        return node

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._cv:
                self.raw.append(line)
                if line.startswith("{"):
                    with contextlib.suppress(json.JSONDecodeError):
                        self.events.append(json.loads(line))
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def _read_err(self, stream: IO[str]) -> None:
        for line in stream:
            self._err.append(line)

    @property
    def identity(self) -> Identity:
        return Identity.in_data_dir(self.data_dir)

    @property
    def fingerprint(self) -> str:
        return self.identity.fingerprint

    def addr(self, timeout: float = 20.0) -> str:
        """The first address the node listens on (waits for ``node.started``)."""
        if self._addr is None:
            listen = self.kind("node.started", timeout)["attributes"]["listen"]
            self._addr = str(listen[0] if isinstance(listen, list) else listen)
        return self._addr

    def stderr(self) -> str:
        """What the node wrote to stderr (all of it once the process has exited)."""
        if self.proc.poll() is not None:
            self._readers[1].join(timeout=5)
        return "".join(self._err)

    def kinds(self, prefix: str) -> list[Event]:
        with self._cv:
            return [e for e in self.events if e["kind"].startswith(prefix)]

    def wait_for(self, pred: Callable[[Event], bool], timeout: float = 15.0) -> Event:
        """The first event so far or within ``timeout`` s that matches ``pred``."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cv:
            while True:
                for e in self.events[seen:]:
                    if pred(e):
                        return e
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0 or not self._readers[0].is_alive():
                    break
                self._cv.wait(min(left, 0.2))
        kinds = [e["kind"] for e in self.events][-30:]
        tail = "".join(self.raw[-15:])
        raise AssertionError(
            f"event not seen in {timeout} s; kinds: {kinds}\nlast output:\n{tail}{self.stderr()}"
        )

    def kind(self, kind: str, timeout: float = 15.0, **attrs: Any) -> Event:
        """The first event of ``kind`` whose attributes include ``attrs``."""
        return self.wait_for(
            lambda e: (
                e["kind"] == kind and all(e["attributes"].get(k) == v for k, v in attrs.items())
            ),
            timeout,
        )

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM to the group, SIGKILL past ``timeout``; returns the exit code once every
        event the node printed has been collected."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        for reader in self._readers:
            reader.join(timeout=5)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def run_human(
    peer: str, lines: list[str], *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``web4 human`` with ``lines`` piped on stdin; bounded by ``timeout``."""
    cmd = [*WEB4, "human", "--peer", peer, "--reply-wait", "1.5", "--linger", "0.5", *args]
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
    cmd = [*WEB4, "human-key", *args]
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
    async def connect(
        cls, addr: str, identity: Identity, timeout: float = 20.0, *, cip: bool = True
    ) -> Peer:
        """``cip=False``: no CIP handshake (a human client speaking HCP only)."""
        from web4.node.rtt_link import RttLink

        transport = RttLink(identity)
        session = await transport.connect(addr, timeout=timeout)
        if cip:
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

"""An attacker harness against real ``web4 node`` processes (issue 10, "Trust that cannot
be bought").

Theory of operation: keys are free to mint, so the attacker mints as many Ed25519 keys
as it likes (``Attacker.key``). Each ``Key`` has its own RTT transport (``RttLink``) and
opens sessions to real nodes on loopback (``Key.open`` / ``Key.connect``); ``connect``
also completes the CIP handshake as initiator, which makes the key ``probing`` at that
node, the most a stranger gets. Over a session (``Conn``) the key then sends whatever it
likes, signed by itself: ``FACT_PROPOSE`` under a chosen ``msg_id``, votes
(``FACT_CONFIRM``/``FACT_REJECT``/``FACT_CHALLENGE``, each with the ``claim_hash`` of the
claim it judges, or a forged one), any payload at all (``Conn.send``), and raw junk
bytes (``Conn.send_raw``). Envelopes are built and signed here by hand, not by
``CipBuilder``, so an attacker is not limited to what the builder would emit. Everything
the node sends back is kept (``Conn.received``; ``Conn.wait_message``), so a test sees
the votes the node's peers broadcast.

The asyncio side (RTT sessions, the CIP handshake, one reader task per session) runs on
a private event loop in a daemon thread, so tests stay synchronous and can wait on
``NodeProc`` events with plain calls. Every wait has a deadline.

Also here: ``start_node`` (a ``NodeProc`` that knows its fingerprint), and read-only
views of a node's store (``peer_states`` through ``web4 peers``, ``query`` through a
``mode=ro`` SQLite URI) that are safe beside the running node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from support.nodeproc import NodeProc, keygen, web4
from web4.cip import Handshake, Role, Step, cip_validator
from web4.cip.claims import claim_hash
from web4.cip.messages import Intent, SenderState
from web4.clock import SeededRng, SystemClock, SystemRng
from web4.envelope.crypto import canonicalize, sign_envelope
from web4.envelope.head import envelope_head, new_msg_id
from web4.envelope.validate import Receiver
from web4.errors import RTTError
from web4.identity import Identity
from web4.node.rtt_link import RttLink, RttSession

__all__ = [
    "LISTEN",
    "Attacker",
    "Conn",
    "Key",
    "Node",
    "Nodes",
    "claim_hash",
    "keygen",
    "peer_states",
    "proposal",
    "query",
    "start_node",
    "store_bytes",
    "stored_proposal",
    "web4",
]

T = TypeVar("T")
LISTEN = ("--listen", "/ip4/127.0.0.1/tcp/0")
_CLOCK = SystemClock()
# WEB4_ATTACKS_OLD_WIRE=1: votes go out without ``claim_hash``, the wire form before
# issue 10, to replay these attacks against a node from before the fix (the notes record
# what each attack did there); the tests themselves are written for the new wire form.
OLD_WIRE = os.environ.get("WEB4_ATTACKS_OLD_WIRE") == "1"


# --- real node processes -------------------------------------------------------------


@dataclass
class Node:
    """A running ``web4 node`` process and what the tests need to reach it."""

    proc: NodeProc
    data: Path
    fp: str
    agent_id: str
    addr: str

    def kind(self, kind: str, timeout: float = 15.0, **attrs: Any) -> dict[str, Any]:
        """The first event of ``kind`` whose top-level keys or attributes match."""
        return self.proc.wait_for(lambda e: _matches(e, kind, attrs), timeout)

    def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        return self.proc.wait_for(pred, timeout)

    def seen(self, pred: Callable[[dict[str, Any]], bool], settle: float = 0.0) -> bool:
        """Whether ``pred`` matched any event so far (after ``settle`` s more of them)."""
        try:
            self.proc.wait_for(pred, timeout=settle)
        except AssertionError:
            return False
        return True

    def events(self, kind: str, **attrs: Any) -> list[dict[str, Any]]:
        """The events of ``kind`` printed so far (top-level keys or attributes match)."""
        self.seen(lambda e: False, settle=0.1)  # take in what the reader thread queued
        return [e for e in self.proc.events if _matches(e, kind, attrs)]


def _matches(e: dict[str, Any], kind: str, attrs: Mapping[str, Any]) -> bool:
    return e["kind"] == kind and all(
        (e[k] if k in e else e["attributes"].get(k)) == v for k, v in attrs.items()
    )


def start_node(root: Path, name: str, *args: str, data: tuple[Path, str] | None = None) -> Node:
    """Start ``web4 node`` for a fresh identity ``name`` under ``root`` (or ``data``:
    a ``keygen`` result, when the fingerprint was needed before the start), listening on
    a loopback port, with ``args``; returns once it listens."""
    data_dir, fp = data or keygen(root, name)
    proc = NodeProc(data_dir, *LISTEN, *args)
    try:
        started = proc.kind("node.started", timeout=20)
    except BaseException:
        proc.kill()
        raise
    listen = started["attributes"]["listen"]
    return Node(proc, data_dir, fp, name, str(listen[0] if isinstance(listen, list) else listen))


class Nodes:
    """The node processes of one test: started on demand, all stopped on exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Node] = []

    def __enter__(self) -> Nodes:
        return self

    def __exit__(self, *exc: object) -> None:
        for n in reversed(self.started):
            n.proc.stop()

    def start(self, name: str, *args: str, data: tuple[Path, str] | None = None) -> Node:
        node = start_node(self.root, name, *args, data=data)
        self.started.append(node)
        return node

    def anchored_victim(
        self, believe: tuple[str, ...] = (), a1_args: tuple[str, ...] = ()
    ) -> tuple[Node, Node, Node]:
        """A victim V with two operator anchors A1, A2 (``--trust`` both); the anchors
        trust each other and V, believe ``believe``, and dial V (A1 also dials A2).
        Returns (V, A1, A2) once V has both anchors ``trusted``."""
        v_data, a1_data, a2_data = (keygen(self.root, n) for n in ("victim", "a1", "a2"))
        beliefs = [x for b in believe for x in ("--believe", b)]
        v = self.start("victim", "--trust", a1_data[1], "--trust", a2_data[1], data=v_data)
        a2 = self.start(
            "a2",
            "--peer", v.addr, "--trust", a1_data[1], "--trust", v.fp, *beliefs,
            data=a2_data,
        )  # fmt: skip
        a1 = self.start(
            "a1",
            "--peer", v.addr, "--peer", a2.addr, "--trust", a2.fp, "--trust", v.fp,
            *beliefs, *a1_args,
            data=a1_data,
        )  # fmt: skip
        for anchor in (a1, a2):
            v.kind("trust.transition", peer=anchor.fp, to="trusted", timeout=20)
        # and each anchor counts V (and the other anchor) among its ready peers, or a
        # vote it broadcasts at once would miss them: the dialler's handshake ends last
        for node, peer in ((a1, v), (a2, v), (a1, a2), (a2, a1)):
            node.kind("cip.handshake.done", peer=peer.fp, timeout=20)
        return v, a1, a2


def peer_states(node_data: Path) -> dict[str, str]:
    """``web4 peers``: fingerprint -> trust state, read beside the running node."""
    out = web4("peers", "--data-dir", str(node_data))
    assert out.returncode == 0, out.stderr
    return {
        line.split()[0]: line.split()[1]
        for line in out.stdout.splitlines()
        if len(line.split()) >= 2 and len(line.split()[0]) == 64
    }


def query(node_data: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the node's store, opened read-only (never writes beside it)."""
    uri = f"file:{node_data / 'web4.sqlite3'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        return list(db.execute(sql, params).fetchall())


def stored_proposal(node_data: Path, claim_id: str, sender: str) -> dict[str, Any]:
    """The ``FACT_PROPOSE`` payload of a claim the node stored (what an attacker that
    saw the broadcast would know), rebuilt from the store, to aim votes at it."""
    rows = query(
        node_data,
        "SELECT fact, trace FROM knowledge_claims WHERE msg_id = ? AND sender = ?",
        claim_id,
        sender,
    )
    assert len(rows) == 1, f"claim {claim_id} of {sender[:12]} not stored: {rows}"
    fact, trace = rows[0]
    return {"fact": json.loads(fact), "dmp_trace": json.loads(trace), "causal_links": []}


def store_bytes(node_data: Path) -> int:
    """Bytes the node's store takes on disk: the database and its WAL."""
    return sum(
        p.stat().st_size
        for p in (node_data / "web4.sqlite3", node_data / "web4.sqlite3-wal")
        if p.exists()
    )


# --- messages ------------------------------------------------------------------------


def proposal(
    statement: str,
    *,
    domain: str = "general",
    source: str = "the attacker's say-so",
    padding: int = 0,
) -> dict[str, Any]:
    """A ``FACT_PROPOSE`` payload whose DMP trace is consistent (steps, and its sources
    listed as evidence), so the knowledge rules judge it by its votes alone. ``padding``
    bytes of extra sources (each repeated in the evidence) make it big."""
    sources = [source]
    chunk = 4000
    for i in range(padding // (2 * chunk)):
        sources.append(f"{i:04d}" + "x" * (chunk - 4))
    return {
        "fact": {
            "statement": statement,
            "domain": domain,
            "confidence": 0.9,
            "sources": sources,
            "context": "",
        },
        "dmp_trace": {
            "decision_id": str(uuid.uuid4()),
            "steps": ["read it somewhere"],
            "counterfactuals": [],
            "evidence": list(sources),
        },
        "causal_links": [],
    }


def _vote_payload(
    msg_type: str, claim_id: str, hash_: str | None, reason: str, notes: str
) -> dict[str, Any]:
    p: dict[str, Any] = {"fact_ref": claim_id, "notes": notes}
    if msg_type == "FACT_CHALLENGE":
        p["reason"] = reason
    else:
        p["decision"] = "confirm" if msg_type == "FACT_CONFIRM" else "reject"
        p["confidence"] = 0.95
    if hash_ is not None and not OLD_WIRE:
        p["claim_hash"] = hash_
    return p


# --- the attacker --------------------------------------------------------------------


@dataclass
class Received:
    """One message a node sent to a key: its channel, and the envelope (or raw bytes)."""

    channel: str
    envelope: dict[str, Any] | None
    raw: bytes

    @property
    def type(self) -> str | None:
        return None if self.envelope is None else self.envelope.get("type")

    @property
    def payload(self) -> dict[str, Any]:
        p = None if self.envelope is None else self.envelope.get("payload")
        return p if isinstance(p, dict) else {}

    @property
    def sender(self) -> str | None:
        s = None if self.envelope is None else self.envelope.get("sender")
        return s.get("fingerprint") if isinstance(s, dict) else None


@dataclass
class Conn:
    """One key's RTT session with one node."""

    key: Key
    node: Node
    session: RttSession
    received: list[Received] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    _control: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    _in_handshake: bool = False
    _reader: asyncio.Task[None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def fp(self) -> str:
        return self.key.fp

    # --- sending ---------------------------------------------------------------------

    def envelope(
        self,
        msg_type: str,
        payload: Mapping[str, Any],
        *,
        msg_id: str | None = None,
        sender_view: str = "probing",
    ) -> dict[str, Any]:
        """A CIP envelope of ``msg_type`` carrying ``payload`` as is, signed by the key."""
        env = envelope_head(
            "cip",
            msg_type,
            identity=self.key.identity,
            receiver_id=self.node.agent_id,
            receiver_fingerprint=self.node.fp,
            capabilities=("state_exchange", "knowledge_exchange", "dmp_trace"),
            now=_CLOCK.now(),
            msg_id=msg_id or new_msg_id(self.key.attacker.rng),
        )
        env["trust"] = {"sender_view": sender_view, "receiver_view": "probing"}
        env["state"] = {"presence": "focused", "lri": 1, "kernel_signals": []}
        env["payload"] = dict(payload)
        return sign_envelope(env, self.key.identity)

    def send(
        self,
        msg_type: str,
        payload: Mapping[str, Any],
        *,
        msg_id: str | None = None,
        channel: str = "knowledge",
    ) -> str:
        """Sign and send one CIP message; returns its ``msg_id``."""
        env = self.envelope(msg_type, payload, msg_id=msg_id)
        self.send_raw(canonicalize(env), channel=channel)
        return str(env["msg_id"])

    def send_raw(self, data: bytes, *, channel: str = "knowledge", timeout: float = 10) -> None:
        """Send ``data`` as it is. Raises ``RTTError`` (e.g. the node hung up)."""
        self.key.attacker.run(self.session.send(channel, data, timeout=timeout), timeout + 5)

    def flood(self, messages: list[bytes], *, channel: str = "knowledge") -> int:
        """Send each of ``messages`` until the node hangs up; returns how many went out."""

        async def go() -> int:
            n = 0
            for data in messages:
                try:
                    await self.session.send(channel, data, timeout=10)
                except RTTError:
                    break
                n += 1
            return n

        return self.key.attacker.run(go(), 120)

    def propose(self, payload: Mapping[str, Any], *, msg_id: str | None = None) -> tuple[str, str]:
        """``FACT_PROPOSE`` ``payload`` (see ``proposal``) under ``msg_id`` (default: a
        fresh one); returns the claim's ``msg_id`` and its ``claim_hash``."""
        mid = self.send("FACT_PROPOSE", payload, msg_id=msg_id)
        return mid, claim_hash(self.fp, payload)

    def vote(
        self,
        msg_type: str,
        claim_id: str,
        hash_: str | None,
        *,
        reason: str = "conflict",
        notes: str = "",
        msg_id: str | None = None,
    ) -> str:
        """A ``FACT_CONFIRM``/``FACT_REJECT``/``FACT_CHALLENGE`` on ``claim_id`` carrying
        ``claim_hash`` ``hash_`` (None: none, the old wire form); returns its msg_id."""
        payload = _vote_payload(msg_type, claim_id, hash_, reason, notes)
        return self.send(msg_type, payload, msg_id=msg_id)

    def confirm(self, claim_id: str, hash_: str | None, **kw: Any) -> str:
        return self.vote("FACT_CONFIRM", claim_id, hash_, **kw)

    def challenge(self, claim_id: str, hash_: str | None, **kw: Any) -> str:
        return self.vote("FACT_CHALLENGE", claim_id, hash_, **kw)

    def reject(self, claim_id: str, hash_: str | None, **kw: Any) -> str:
        return self.vote("FACT_REJECT", claim_id, hash_, **kw)

    # --- receiving -------------------------------------------------------------------

    def messages(self, msg_type: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if msg_type is None or r.type == msg_type]

    def wait_message(self, pred: Callable[[Received], bool], timeout: float = 15.0) -> Received:
        """The first message from the node that ``pred`` accepts, within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            for r in self.messages():
                if pred(r):
                    return r
            if time.monotonic() >= deadline:
                kinds = [r.type for r in self.messages()][-20:]
                raise AssertionError(f"no such message within {timeout} s; got {kinds}")
            time.sleep(0.05)

    def wait_closed(self, timeout: float = 15.0) -> bool:
        """Whether the node closed the session within ``timeout`` s."""
        return self.closed.wait(timeout)

    def close(self) -> None:
        self.key.attacker.run(self.session.close(), 10)

    # --- the loop side ---------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while True:
                item = await self.session.receive(timeout=0.25)
                if item is None:
                    continue
                channel, data = item
                if channel == "control" and self._in_handshake:
                    self._control.put_nowait(data)
                try:
                    env = json.loads(data)
                except ValueError:
                    env = None
                with self._lock:
                    self.received.append(
                        Received(channel, env if isinstance(env, dict) else None, data)
                    )
        except RTTError:
            self.closed.set()

    async def _handshake(self, seed: int, within: float) -> Step:
        """The initiator side of the CIP handshake, as the key, on ``control``."""
        v = cip_validator(self.fp, clock=_CLOCK, trust_of=lambda fp: "probing")
        hs = Handshake(
            self.key.identity,
            Role.INITIATOR,
            validator=v,
            rng=SeededRng(seed),
            local_state=SenderState(presence="focused", lri=1),
            peer=Receiver(self.node.agent_id, self.node.fp),
            intent=Intent(goal="learn", topic="general"),
        )
        hs.start(_CLOCK.now())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        self._in_handshake = True
        try:
            while hs.step not in (Step.ACCEPTED, Step.DEFERRED, Step.FAILED):
                if loop.time() >= deadline:
                    break
                while (out := hs.next_outgoing()) is not None:
                    await self.session.send("control", out, timeout=5)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        hs.receive(await self._control.get(), _CLOCK.now())
                hs.handle_timeout(_CLOCK.now())
            while (out := hs.next_outgoing()) is not None:
                await self.session.send("control", out, timeout=5)
        finally:
            self._in_handshake = False
        return hs.step


class Key:
    """One minted identity and its sessions."""

    def __init__(self, attacker: Attacker, identity: Identity) -> None:
        self.attacker = attacker
        self.identity = identity
        self.fp = identity.fingerprint
        self.link = RttLink(identity)
        self.conns: dict[str, Conn] = {}

    def __repr__(self) -> str:
        return f"Key({self.identity.agent_id}, {self.fp[:12]})"

    def open(self, node: Node) -> Conn:
        """An RTT session with ``node``, no CIP handshake yet."""

        async def go() -> Conn:
            session = await self.link.connect(node.addr, timeout=10)
            assert session.peer == node.fp, "dialled the wrong node"
            conn = Conn(self, node, session)
            conn._reader = asyncio.create_task(conn._read())
            return conn

        conn = self.attacker.run(go(), 20)
        self.conns[node.fp] = conn
        return conn

    def connect(self, node: Node) -> Conn:
        """An RTT session with ``node`` and a completed CIP handshake (the key is then
        ``probing`` there). Raises ``AssertionError`` if the handshake is not accepted."""
        conn = self.open(node)
        self.handshake(conn)
        return conn

    def handshake(self, conn: Conn) -> None:
        seed = self.attacker.next_seed()
        step = self.attacker.run(conn._handshake(seed, within=20.0), 30)
        assert step is Step.ACCEPTED, f"{self} handshake with {conn.node.agent_id}: {step}"


class Attacker:
    """Mints keys and drives their sessions on a private event loop (a daemon thread).
    Use as a context manager: leaving it closes every session and transport."""

    def __init__(self) -> None:
        self.rng = SystemRng()
        self.keys: list[Key] = []
        self._seed = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> Attacker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_seed(self) -> int:
        self._seed += 1
        return self._seed

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the attacker's loop; its result within ``timeout`` s."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def key(self, name: str) -> Key:
        """A fresh Ed25519 identity (a key is free to mint) with its own transport."""

        async def make() -> Key:  # the transport is made on the loop that drives it
            return Key(self, Identity.generate(name, rng=self.rng))

        key = self.run(make(), 10)
        self.keys.append(key)
        return key

    def close(self) -> None:
        async def shutdown() -> None:
            for key in self.keys:
                for conn in key.conns.values():
                    if conn._reader is not None:
                        conn._reader.cancel()
                with contextlib.suppress(Exception):
                    await key.link.shutdown()

        try:
            self.run(shutdown(), 30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

"""A bug met while serving one peer ends that peer's session, never the node
(``web4.isolation``, CIP_SPEC §9 "A bug meets one peer").

Real processes: ``faulty_node.py`` is ``web4 node`` with a bug planted in the routing of
one peer's input (an envelope carrying a marker raises ``TypeError``). Two real peers
(fresh keys, their own RTT transports, the CIP handshake) talk to it: the honest one
proposes facts the node believes and gets its confirmations before and after the other
one sends the marker. The node stays up, says what failed (``node.peer_task_failed``:
peer, task, error class, message, traceback), closes only the faulty peer's session,
holds nothing against it in the trust book, and after three failed sessions in a minute
refuses that key's sessions for a while, writing no more lines for it. A ``StoreError``
on the same path still stops the node, by design (``web4.node.durable_link``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faulty_node import (
    CONSTRAINT,
    CONSTRAINT_BARE,
    CRASH,
    CRASH_CHECK,
    HALF_WRITTEN,
    STORE_FAILS,
)

import support.nodeproc as nodeproc
from support.nodeproc import NodeProc, web4
from web4.cip import Step
from web4.cip.messages import DmpTrace, Fact, FactPropose
from web4.clock import SystemClock
from web4.conformance.wire import Got, Peer, Target, handshake_for, wire
from web4.errors import RTTError
from web4.identity import Identity

pytestmark = pytest.mark.timeout(120)

FAULTY_NODE = Path(__file__).with_name("faulty_node.py")
FACTS = (
    "water boils at 100 degrees celsius at sea level",
    "ice melts at 0 degrees celsius at sea level",
)


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[NodeProc]:
    beliefs = [x for f in FACTS for x in ("--believe", f)]
    with pytest.MonkeyPatch.context() as mp:  # NodeProc runs `*WEB4 node ...`
        mp.setattr(nodeproc, "WEB4", [sys.executable, str(FAULTY_NODE)])
        node = NodeProc.new(tmp_path, "faulty", "--no-mdns", *beliefs)
    try:
        yield node
    finally:
        node.stop()


def _proposal(p: Peer, statement: str) -> tuple[str, bytes]:
    fact = Fact(statement=statement, domain="physics", confidence=0.9, sources=["lab"])
    trace = DmpTrace(decision_id=str(uuid.uuid4()), steps=["measured"], evidence=["lab"])
    env = p.build(
        FactPropose(fact=fact, dmp_trace=trace), sender_view="probing", receiver_view="probing"
    )
    return str(env["msg_id"]), wire(env)


async def _ready(target: Target, name: str, identity: Identity | None = None) -> Peer:
    p = await Peer(target, name, identity=identity).connect()
    hs = handshake_for(p)
    hs.start(SystemClock().now())
    await p.drive(hs, 15.0)
    assert hs.step is Step.ACCEPTED, hs.step
    return p


def _confirms(msg_id: str) -> Any:
    return lambda g: g.type == "FACT_CONFIRM" and g.payload.get("fact_ref") == msg_id


async def _exchange(p: Peer, statement: str) -> Got:
    """``p`` proposes a fact the node believes; the node's confirmation comes back."""
    msg_id, data = _proposal(p, statement)
    since = len(p.received)
    await p.send(data, "knowledge")
    got = await p.wait(_confirms(msg_id), 15.0, since)
    assert got is not None, f"no FACT_CONFIRM for {statement!r}"
    return got


def _count(node: NodeProc, kind: str, fp: str) -> int:
    return sum(1 for e in node.kinds(kind) if e["peer"] == fp)


def _peer_row(node: NodeProc, fp: str, reason: str) -> dict[str, Any]:
    """``fp``'s row of ``web4 peers --json`` once its ``down_reason`` starts with
    ``reason`` (the link book is written as the session closes)."""
    deadline = time.monotonic() + 15.0
    row: dict[str, Any] = {}
    while time.monotonic() < deadline:
        got = web4("peers", "--data-dir", str(node.data_dir), "--json")
        assert got.returncode == 0, got.stderr
        row = next((p for p in json.loads(got.stdout) if p["fingerprint"] == fp), {})
        if str(row.get("down_reason") or "").startswith(reason):
            return row
        time.sleep(0.3)
    return row


def _failures(node: NodeProc, fp: str) -> list[dict[str, Any]]:
    return [e for e in node.kinds("node.peer_task_failed") if e["peer"] == fp]


def test_a_bug_serving_one_peer_ends_its_session_and_the_others_keep_talking(
    faulty: NodeProc,
) -> None:
    async def main() -> None:
        target = Target(faulty.addr(), timeout=10.0, quiet=0.5)
        honest = await _ready(target, "honest")
        bad = await _ready(target, "bad")
        try:
            await _exchange(honest, FACTS[0])

            _, boom = _proposal(bad, f"the statement that trips the bug: {CRASH.decode()}")
            await bad.send(boom, "knowledge")
            event = faulty.kind("node.peer_task_failed", 15.0, task="serve")
            assert event["peer"] == bad.fingerprint
            a = event["attributes"]
            assert a["error"] == "TypeError"
            assert "planted bug" in a["message"]
            assert "Traceback" in a["traceback"]
            assert "faulty_node.py" in a["traceback"]
            assert event["level"] == "error"
            assert await bad.wait_closed(10.0), "the faulty peer's session is closed"
            # with its reason, for the operator: `web4 peers` says down: internal error
            row = await asyncio.to_thread(_peer_row, faulty, bad.fingerprint, "internal error")
            assert row["down_reason"] == "internal error: TypeError", row
            assert row["trust"] == "probing"  # the handshake's, nothing taken away

            # a bug in a check the handshake runs (its INTENT names the marker): the same
            odd = await Peer(target, "odd").connect()
            try:
                hs = handshake_for(odd, topic=CRASH_CHECK.decode())
                hs.start(SystemClock().now())
                with contextlib.suppress(RTTError):  # closed while we send
                    await odd.drive(hs, 10.0)
                assert hs.step is not Step.ACCEPTED
                assert await odd.wait_closed(10.0)
            finally:
                await odd.close()
            event = faulty.wait_for(lambda e: _failures(faulty, odd.fingerprint) != [])
            (event,) = _failures(faulty, odd.fingerprint)
            assert event["attributes"]["task"] == "serve"
            assert "rest() takes 3 positional" in event["attributes"]["message"]

            # the node still serves the honest peer, on the same session
            await _exchange(honest, FACTS[1])
            assert not honest.closed
            assert faulty.proc.poll() is None, faulty.stderr()
            assert _failures(faulty, honest.fingerprint) == []
        finally:
            await honest.close()
            await bad.close()
        # a local bug holds nothing against the peer: no trust event for it
        bad_fp = bad.fingerprint
        assert not [
            e
            for e in faulty.kinds("trust.")
            if e["peer"] == bad_fp and e["attributes"].get("event") == "anomaly"
        ]

    asyncio.run(main())


def test_a_peer_that_triggers_a_bug_again_and_again_is_cooled_down_not_logged(
    faulty: NodeProc,
) -> None:
    async def main() -> None:
        target = Target(faulty.addr(), timeout=10.0, quiet=0.5)
        me = Identity.generate("repeat")
        honest = await _ready(target, "honest")
        try:
            for attempt in range(3):  # three failed sessions in a minute: the cool-down
                bad = await _ready(target, "repeat", identity=me)
                _, boom = _proposal(bad, f"attempt {attempt}: {CRASH.decode()}")
                await bad.send(boom, "knowledge")
                assert await bad.wait_closed(10.0)
                await bad.close()
            faulty.wait_for(lambda e: len(_failures(faulty, me.fingerprint)) == 3, 10.0)
            last = _failures(faulty, me.fingerprint)[-1]
            assert last["attributes"]["refused_for_s"] == 60.0

            # the next sessions of that key are closed at once: no handshake, no line
            for _ in range(3):
                p = Peer(target, "repeat", identity=me)
                try:
                    try:
                        await p.connect()
                    except RTTError:
                        continue  # closed before our side saw it open: refused as well
                    hs = handshake_for(p)
                    hs.start(SystemClock().now())
                    with contextlib.suppress(RTTError):  # closed while we send our HELLO
                        await p.drive(hs, 5.0)
                    assert hs.step is not Step.ACCEPTED
                    assert await p.wait_closed(10.0)
                finally:
                    await p.close()
            await _exchange(honest, FACTS[0])  # everyone else is served meanwhile
            assert len(_failures(faulty, me.fingerprint)) == 3
            done = [e for e in faulty.kinds("cip.handshake.done") if e["peer"] == me.fingerprint]
            assert len(done) == 3  # the refused sessions got no handshake
            # they did reach the node, which closed them
            faulty.wait_for(lambda e: _count(faulty, "rtt.session_open", me.fingerprint) == 6)
            assert faulty.proc.poll() is None, faulty.stderr()
        finally:
            await honest.close()

    asyncio.run(main())


def test_a_store_failure_on_the_same_path_still_stops_the_node(faulty: NodeProc) -> None:
    async def main() -> None:
        target = Target(faulty.addr(), timeout=10.0, quiet=0.5)
        p = await _ready(target, "witness")
        try:
            _, data = _proposal(p, f"the store fails now: {STORE_FAILS.decode()}")
            await p.send(data, "knowledge")
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, faulty.proc.wait, 20)
        finally:
            await p.close()

    asyncio.run(main())
    assert faulty.proc.returncode == 1, faulty.stderr()
    assert "StoreError" in faulty.stderr() or "fsync failed" in faulty.stderr()
    assert faulty.kinds("node.peer_task_failed") == []
    (stopped,) = faulty.kinds("node.stopped")  # the events say why it stopped
    assert stopped["level"] == "error"
    assert stopped["attributes"]["error"] == "StoreError"
    assert "fsync failed" in stopped["attributes"]["detail"]
    assert "faulty_node.py" in stopped["attributes"]["traceback"]


def _half_written(node: NodeProc) -> list[tuple[object, ...]]:
    """The planted row, read once the node has stopped (no connection of ours while it
    runs)."""
    assert node.stop() == 0, node.stderr()  # a clean stop: nothing stopped it before
    conn = sqlite3.connect(f"file:{node.data_dir / 'web4.sqlite3'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT * FROM links_peers WHERE peer = ?", (HALF_WRITTEN,)).fetchall()
    finally:
        conn.close()


def test_a_broken_constraint_rolled_back_ends_one_session_not_the_node(
    faulty: NodeProc,
) -> None:
    """A PRIMARY KEY broken in a store transaction while serving one peer (as c008eb4's
    squatted msg_id did): the transaction is undone, that session ends, the node serves
    on."""

    async def main() -> None:
        target = Target(faulty.addr(), timeout=10.0, quiet=0.5)
        honest = await _ready(target, "honest")
        bad = await _ready(target, "bad")
        try:
            _, boom = _proposal(bad, f"a key collides: {CONSTRAINT.decode()}")
            await bad.send(boom, "knowledge")
            event = faulty.kind("node.peer_task_failed", 20.0, task="serve")
            assert event["peer"] == bad.fingerprint
            assert event["attributes"]["error"] == "StoreConstraintError"
            assert "UNIQUE" in event["attributes"]["message"]
            assert await bad.wait_closed(10.0)
            row = await asyncio.to_thread(_peer_row, faulty, bad.fingerprint, "internal error")
            assert row["down_reason"] == "internal error: StoreConstraintError", row
            await _exchange(honest, FACTS[0])  # served as before, on the same session
            assert not honest.closed
            assert faulty.proc.poll() is None, faulty.stderr()
        finally:
            await honest.close()
            await bad.close()

    asyncio.run(main())
    assert _half_written(faulty) == []  # the row written before the violation: undone


def test_a_broken_constraint_outside_a_transaction_still_stops_the_node(
    faulty: NodeProc,
) -> None:
    async def main() -> None:
        target = Target(faulty.addr(), timeout=10.0, quiet=0.5)
        p = await _ready(target, "witness")
        try:
            _, data = _proposal(p, f"no transaction: {CONSTRAINT_BARE.decode()}")
            await p.send(data, "knowledge")
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, faulty.proc.wait, 20)
        finally:
            await p.close()

    asyncio.run(main())
    assert faulty.proc.returncode == 1, faulty.stderr()
    assert faulty.kinds("node.peer_task_failed") == []
    (stopped,) = faulty.kinds("node.stopped")
    assert stopped["attributes"]["error"] == "StoreConstraintError"

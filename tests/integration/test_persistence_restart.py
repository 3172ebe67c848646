"""Kill a real process between steps and restart it: trust states, the audit log, claims
and causal memory are exactly as they were; a transaction killed before it committed
leaves no trace.

The same file is the child program: ``python test_persistence_restart.py DB STEP NOW`` runs
one step against the SQLite file, prints READY, then waits to be SIGKILLed (no clean
shutdown, no close). The parent dumps the database with a fresh child after every kill.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

STEP_DEADLINE_S = 20.0


def _fp(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


A, C1, C2, X = _fp("proposer"), _fp("confirmer-1"), _fp("confirmer-2"), _fp("impostor")
CLAIM, DEFERRED = str(uuid.UUID(int=1, version=4)), str(uuid.UUID(int=2, version=4))


def _child(db: str, step: str, now: float) -> None:
    from web4.clock import FakeClock
    from web4.knowledge import DmpTrace, Fact, KnowledgeExchange, LocalState
    from web4.store import Store
    from web4.trust import TrustBook, TrustEvent

    store = Store.open(db)
    clock = FakeClock(now)
    book = TrustBook(store, clock)
    kx = KnowledgeExchange(store, book, clock)
    ok, busy = LocalState("focused", 10), LocalState("overloaded", 90)
    src = "https://example.org/boiling"
    fact = Fact("Water boils at 100 C at sea level", "physics", 0.95, (src,))
    trace = DmpTrace(str(uuid.UUID(int=3, version=4)), ["measured"], [], [src])

    def vote(n: int, who: str) -> None:
        mid = str(uuid.UUID(int=100 + n, version=4))
        kx.confirm(msg_id=mid, sender=who, fact_ref=CLAIM, confidence=0.9, local=ok)

    if step == "setup":
        for peer in (A, C1, C2):
            book.record(
                peer, TrustEvent.HANDSHAKE_VERIFIED, "handshake verified", ["h-" + peer[:4]]
            )
        for peer in (C1, C2):
            book.record(peer, TrustEvent.OPERATOR_VOUCH, "seeded anchor", ["k-" + peer[:4]])
        book.record(X, TrustEvent.FINGERPRINT_MISMATCH, "fingerprint mismatch", ["h-x"])
        kx.propose(msg_id=CLAIM, sender=A, fact=fact, trace=trace, local=ok)
        kx.propose(
            msg_id=DEFERRED, sender=A, fact=Fact("Ice melts at 0 C", "physics", 0.9, (src,)),
            trace=trace, local=busy,
        )  # fmt: skip
    elif step == "confirm1":
        vote(1, C1)
    elif step == "confirm2":
        vote(2, C2)
    elif step == "override":
        book.override(X, operator="alice", reason="verified out of band")
    elif step == "uncommitted":
        # a transaction that is killed before it commits must leave nothing behind
        with store.transaction():
            book.record(A, TrustEvent.SEVERE_CONFLICT, "never committed")
            vote(3, C2)
            print("READY", flush=True)
            time.sleep(STEP_DEADLINE_S)
    elif step == "dump":
        print(json.dumps(_dump(store, book, kx)), flush=True)
        store.close()
        return
    print("READY", flush=True)
    time.sleep(STEP_DEADLINE_S)  # wait to be killed; exits on its own if nobody does


def _dump(store: Any, book: Any, kx: Any) -> dict[str, Any]:
    return {
        "states": {p.peer[:8]: p.state.value for p in book.peers()},
        "audit": [_row(e) for e in book.audit()],
        "claims": {c.msg_id: c.state.value for c in kx.claims()},
        "confirmers": [v[:8] for v in kx.confirmers(CLAIM)],
        "memory": [n.node_id for n in kx.memory.nodes()],
        "links_traces": [t.origin_msg_id for t in kx.memory.traces()],
    }


def _row(e: Any) -> list[Any]:
    head = [e.seq, e.peer[:8], e.event.value, e.src.value, e.dst.value, e.changed]
    return [*head, e.cause, list(e.evidence), e.at, e.operator]


def _run(db: Path, step: str, now: float, *, kill: bool) -> str:
    proc = subprocess.Popen(
        [sys.executable, __file__, str(db), step, repr(now)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the child exits after STEP_DEADLINE_S
        if kill:
            assert line.strip() == "READY", (line, proc.stderr.read() if proc.stderr else "")
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        else:
            assert proc.wait(timeout=STEP_DEADLINE_S) == 0
        return line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _dump_db(db: Path) -> dict[str, Any]:
    return json.loads(_run(db, "dump", 0.0, kill=False))  # type: ignore[no-any-return]


def test_state_survives_sigkill_between_steps(tmp_path: Path) -> None:
    db = tmp_path / "web4.sqlite3"
    t0 = 1_800_000_000.0
    _run(db, "setup", t0, kill=True)
    after_setup = _dump_db(db)
    assert after_setup["states"] == {
        A[:8]: "probing",
        C1[:8]: "trusted",
        C2[:8]: "trusted",
        X[:8]: "blacklisted",
    }
    assert after_setup["claims"] == {CLAIM: "pending", DEFERRED: "deferred"}
    assert after_setup["memory"] == []
    assert len(after_setup["audit"]) == 6

    _run(db, "confirm1", t0 + 10, kill=True)
    after_c1 = _dump_db(db)
    assert after_c1["audit"] == after_setup["audit"]
    assert after_c1["claims"] == after_setup["claims"]
    assert after_c1["confirmers"] == [C1[:8]]

    # killed mid-transaction: nothing of it is visible after the restart
    _run(db, "uncommitted", t0 + 15, kill=True)
    assert _dump_db(db) == after_c1

    _run(db, "confirm2", t0 + 20, kill=True)
    after_c2 = _dump_db(db)
    assert after_c2["claims"] == {CLAIM: "accepted", DEFERRED: "deferred"}
    assert after_c2["memory"] == [CLAIM]
    assert after_c2["links_traces"] == [CLAIM]
    assert after_c2["states"][A[:8]] == "probing"  # knowledge earns no trust
    assert after_c2["audit"][: len(after_c1["audit"])] == after_c1["audit"]
    last = after_c2["audit"][-1]
    assert last[1:6] == [A[:8], "knowledge_verified", "probing", "probing", False]
    assert last[7][0] == CLAIM
    assert last[8] == t0 + 20

    _run(db, "override", t0 + 30, kill=True)
    final = _dump_db(db)
    assert final["states"][X[:8]] == "probing"
    assert final["audit"][-1][2:] == [
        "manual_override", "blacklisted", "probing", True, "verified out of band", [],
        t0 + 30, "alice",
    ]  # fmt: skip
    assert final["audit"][:-1] == after_c2["audit"]
    assert [row[0] for row in final["audit"]] == sorted(row[0] for row in final["audit"])


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], float(sys.argv[3]))

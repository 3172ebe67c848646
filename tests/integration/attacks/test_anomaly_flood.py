"""A flood of junk costs the victim a bounded audit trail and ends the session (issue 10).

Two fresh keys send 500 junk messages each on the ``knowledge`` channel: J1 right after
the RTT session opens (no CIP handshake), J2 after a completed handshake (``probing``).
The junk is what a broken or hostile peer sends: bytes that are not JSON, JSON that is
not an envelope, envelopes that break the CIP schema. Before issue 10 every one was a
trust anomaly with its own ``trust_audit`` row (1000 rows), and the sessions stayed open.
Now anomalies are rate-limited per peer: a few audit rows (aggregated) per flood, and a
peer past the threshold is disconnected. Another peer is served all the while.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from harness import Attacker, Conn, Nodes, proposal, query

pytestmark = pytest.mark.timeout(90)

JUNK = 500
MAX_AUDIT_ROWS = 10


def junk(conn: Conn, n: int) -> list[bytes]:
    """``n`` junk messages of three kinds, each unique (no replay shortcut)."""
    out: list[bytes] = []
    for i in range(n):
        if i % 3 == 0:
            out.append(b"\xff\x00not json at all " + str(i).encode())
        elif i % 3 == 1:
            out.append(json.dumps({"cip": "1.0", "type": "FACT_PROPOSE", "junk": i}).encode())
        else:  # signed by the key, but a payload CIP does not allow
            env = conn.envelope("FACT_CONFIRM", {"fact_ref": "nope", "junk": i})
            out.append(json.dumps(env).encode())
    return out


def audit_rows_settled(data: Path, peer: str, within: float = 10.0) -> int:
    """``peer``'s trust_audit rows once V has stopped adding any for a second."""
    deadline = time.monotonic() + within
    rows = -1
    while time.monotonic() < deadline:
        now = query(data, "SELECT count(*) FROM trust_audit WHERE peer = ?", peer)[0][0]
        if now == rows:
            break
        rows = now
        time.sleep(1.0)
    return int(rows)


def test_a_junk_flood_writes_few_audit_rows_and_disconnects_the_peer(tmp_path: Path) -> None:
    with Nodes(tmp_path) as nodes, Attacker() as att:
        v = nodes.start("victim")
        j1 = att.key("junk-before-handshake").open(v)
        j2 = att.key("junk-after-handshake").connect(v)
        problems = []
        for conn in (j1, j2):
            sent = conn.flood(junk(conn, JUNK))
            if not conn.wait_closed(timeout=10):
                problems.append(f"V kept {conn.key} connected after {sent} junk messages")
            else:
                v.kind("rtt.session_close", peer=conn.fp)
            rows = audit_rows_settled(v.data, conn.fp)
            if rows > MAX_AUDIT_ROWS:
                problems.append(f"{conn.key}: {rows} trust_audit rows for {sent} junk messages")

        h = att.key("honest").connect(v)
        claim, _ = h.propose(proposal("Honey never spoils when sealed", domain="food"))
        v.kind("knowledge.claim_pending", peer=h.fp, claim_id=claim)
        assert not problems, "\n".join(problems)

"""One probing key cannot fill the victim's disk with claims (issue 10).

A fresh key completes the CIP handshake (``probing``, the most a stranger gets) and
sends 150 ``FACT_PROPOSE`` of about 200 KiB each, every one well-formed and consistent
with its DMP trace, so none is refused for its shape. Before issue 10 V stored every one
of them (about 30 MiB). Now a per-sender quota on stored, not yet accepted claims (64
claims / 2 MiB by default) refuses the rest (``router.handler_error``, ``QuotaError``;
refusals are faults, so a peer that keeps going is also disconnected by the fault
meter), the store stays small, and another peer's claim is still stored and judged
afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import Attacker, Nodes, proposal, query, store_bytes

from web4.envelope.crypto import canonicalize

pytestmark = pytest.mark.timeout(90)

FLOOD = 150
PADDING = 200 * 1024  # bytes per claim, under CIP's 256 KiB envelope bound
MIB = 1 << 20


def quota_refusal(peer: str) -> Callable[[dict[str, Any]], bool]:
    """V's refusal of one of ``peer``'s proposals for its quota (an error or rejection
    event that says so)."""

    def pred(e: dict[str, Any]) -> bool:
        return (
            e.get("peer") == peer
            and e["kind"] in ("error", "router.rejected", "router.handler_error")
            and "quota" in json.dumps(e["attributes"]).lower()
        )

    return pred


def test_a_probing_key_flooding_big_claims_is_held_to_its_quota(tmp_path: Path) -> None:
    with Nodes(tmp_path) as nodes, Attacker() as att:
        v = nodes.start("victim")
        before = store_bytes(v.data)
        q = att.key("flooder").connect(v)
        envelopes = [
            q.envelope(
                "FACT_PROPOSE",
                proposal(f"Claim number {i} of the flood", padding=PADDING),
            )
            for i in range(FLOOD)
        ]
        ids = [str(env["msg_id"]) for env in envelopes]
        sent = q.flood([canonicalize(env) for env in envelopes])
        last = ids[sent - 1]
        v.wait_for(  # V dealt with the last one, or hung up on the flooder
            lambda e: (
                e.get("peer") == q.fp
                and (e.get("msg_id") == last or e["kind"] == "rtt.session_close")
            ),
            timeout=40,
        )
        v.seen(lambda e: False, settle=1.0)

        refused = [e for e in v.proc.events if quota_refusal(q.fp)(e)]
        stored = query(
            v.data,
            "SELECT count(*), coalesce(sum(length(fact) + length(trace)), 0) "
            "FROM knowledge_claims WHERE sender = ?",
            q.fp,
        )[0]
        grew = store_bytes(v.data) - before
        problems = []
        if not refused:
            problems.append(f"V refused none of the {sent} proposals sent for its quota")
        if stored[0] > 64 or stored[1] > 3 * MIB:
            problems.append(f"V stored {stored[0]} claims ({stored[1]} bytes) of one key")
        if grew > 10 * MIB:
            problems.append(f"V's store grew by {grew / MIB:.1f} MiB (db + wal)")

        h = att.key("honest").connect(v)
        claim, _ = h.propose(proposal("Honey never spoils when sealed", domain="food"))
        pending = v.kind("knowledge.claim_pending", peer=h.fp, claim_id=claim)
        assert pending["attributes"]["has"] == 0
        rows = query(v.data, "SELECT state FROM knowledge_claims WHERE msg_id = ?", claim)
        if rows != [("pending",)]:
            problems.append(f"the honest peer's claim after the flood: {rows}")
        assert not problems, "\n".join(problems)

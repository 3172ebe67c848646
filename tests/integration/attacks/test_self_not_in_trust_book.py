"""A node keeps no trust-book row for itself (issue 10).

V proposes its own fact (``--propose``) to its operator anchor A, which believes the
opposite and challenges it: the claim is disputed by a trusted peer. Before issue 10 V
judged its own claims through a ``probing`` row for its own fingerprint, and a dispute
demoted V to ``untrusted`` in its own book. Now V has no row for itself: ``web4 peers``
does not list it, ``trust_peers`` and ``trust_audit`` have nothing about it, and no
``trust.*`` event names it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Nodes, keygen, peer_states, query

pytestmark = pytest.mark.timeout(60)

CLAIM = "The Great Wall of China is visible from the Moon with the naked eye"
BELIEF = "The Great Wall of China is not visible from the Moon with the naked eye"


def test_a_node_disputed_on_its_own_claim_keeps_no_trust_row_for_itself(
    tmp_path: Path,
) -> None:
    with Nodes(tmp_path) as nodes:
        v_data, a_data = keygen(tmp_path, "victim"), keygen(tmp_path, "anchor")
        v_fp = v_data[1]
        v = nodes.start(
            "victim", "--trust", a_data[1], "--propose", f"{CLAIM}|space|0.9", data=v_data
        )
        a = nodes.start(
            "anchor", "--peer", v.addr, "--trust", v_fp, "--believe", BELIEF, data=a_data
        )
        claim = v.kind("knowledge.claim_pending", peer=v_fp)["attributes"]["claim_id"]
        a.kind("knowledge.confirmation", claim_id=claim, decision="challenge:conflict")
        disputed = v.kind("knowledge.claim_disputed", claim_id=claim, timeout=20)
        assert disputed["peer"] == v_fp
        v.seen(lambda e: False, settle=1.0)  # any trust event the dispute caused

        states = peer_states(v.data)
        assert v_fp not in states, states
        assert states.get(a.fp) == "trusted", states
        assert query(v.data, "SELECT * FROM trust_peers WHERE peer = ?", v_fp) == []
        assert query(v.data, "SELECT * FROM trust_audit WHERE peer = ?", v_fp) == []
        about_self = [
            e for e in v.proc.events if e["kind"].startswith("trust.") and e["peer"] == v_fp
        ]
        assert about_self == [], about_self

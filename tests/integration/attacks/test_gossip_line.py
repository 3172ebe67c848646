"""Gossip carries a fact past its proposer's peers (issue 14, CIP_SPEC §11).

Four ``web4 node`` processes in a line, A - B - C - D, each following the ``physics``
topic. C trusts B and D (operator anchors, ready before anything is proposed); B, C and
D believe the fact. A proposes it to its only peer, B. D, two hops past B and never
connected to A, gets the claim by gossip only (through B and C) and, judging a key it
never met like a probing peer, keeps it pending and votes; C, also never connected to A,
accepts it from the votes of the two peers *it* trusts, carried point to point and by
gossip. B gets the proposal twice (A's point-to-point copy and its gossip copy): one is
stored, the other dropped as a duplicate; nothing is stored or accepted twice anywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Node, Nodes, keygen, query

pytestmark = pytest.mark.timeout(120)

FACT = "Water boils at 100 degrees Celsius at sea level"
# --min-peers 0: the line must stay a line (the DHT names every node to every other, and a
# node below its low watermark dials the peers it learns of: RTT_SPEC §16)
FOLLOW = ("--gossip-domain", "physics", "--min-peers", "0")


def sessions_with(node: Node, peers: list[Node]) -> list[str]:
    fps = {p.fp for p in peers}
    return [e["peer"] for e in node.events("rtt.session_open") if e.get("peer") in fps]


def test_a_fact_crosses_the_line_and_is_accepted_by_a_node_that_never_met_its_proposer(
    tmp_path: Path,
) -> None:
    with Nodes(tmp_path) as nodes:
        b_data, c_data, d_data = (keygen(tmp_path, n) for n in ("b", "c", "d"))
        believe = ("--believe", FACT)
        c = nodes.start("c", "--trust", b_data[1], "--trust", d_data[1], *believe, *FOLLOW,
                        data=c_data)  # fmt: skip
        b = nodes.start("b", "--peer", c.addr, *believe, *FOLLOW, data=b_data)
        d = nodes.start("d", "--peer", c.addr, *believe, *FOLLOW, data=d_data)
        for p in (b, d):
            c.kind("trust.transition", peer=p.fp, to="trusted", timeout=20)
            p.kind("cip.handshake.done", peer=c.fp, timeout=20)
            c.kind("cip.handshake.done", peer=p.fp, timeout=20)
        a = nodes.start("a", "--peer", b.addr, "--propose", f"{FACT}|physics|0.9", *FOLLOW)
        published = a.kind("cip.gossip.published", type="FACT_PROPOSE", timeout=30)
        mid = published["msg_id"]
        assert published["attributes"]["topic"] == "/web4/cip/1.0/knowledge/physics"

        # D: by gossip only, two hops past A's only peer
        d.kind("knowledge.claim_pending", claim_id=mid, peer=a.fp, timeout=30)
        d.kind("cip.gossip.delivered", type="FACT_PROPOSE", topic=published["attributes"]["topic"])
        # C: accepted from the votes of B and D, the peers C trusts
        accepted = c.kind("knowledge.claim_accepted", claim_id=mid, timeout=30)
        assert accepted["peer"] == a.fp
        # B: both copies arrived; one was dropped as a duplicate, without a fault
        b.kind("knowledge.duplicate", msg_id=mid, type="FACT_PROPOSE", timeout=20)

        assert sessions_with(a, [c, d]) == [], "A dialled or was dialled by C or D"
        assert sessions_with(d, [a, b]) == [], "D met A or B directly"
        for node in (b, c, d):  # one claim row each, never two
            rows = query(
                node.data, "SELECT COUNT(*) FROM knowledge_claims WHERE wire_msg_id = ?", mid
            )
            assert rows == [(1,)], (node.agent_id, rows)
            assert node.events("router.handler_error") == [], node.agent_id
            assert node.events("cip.gossip.invalid") == [], node.agent_id
        assert len(c.events("knowledge.claim_accepted", claim_id=mid)) == 1

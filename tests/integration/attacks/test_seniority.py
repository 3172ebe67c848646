"""A trusted peer is demoted only on evidence from parties trusted at least as long
(issue 10).

V trusts two operator anchors, both keys of the harness: the senior one connects first,
the junior one a moment later. The senior proposes three claims and the junior
challenges all three: the junior's challenges count (it was trusted before V first saw
the claims, so the claims are disputed), but they do not charge the senior, which stays
``trusted``. Before issue 10 three disputes in a window demoted any trusted proposer,
whoever raised them (so a freshly trusted peer could demote an established one). The
reverse still works: the senior's challenges of the junior's three claims demote the
junior to ``probing``, so the rule is seniority, not immunity.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import Attacker, Conn, Node, Nodes, peer_states, proposal

pytestmark = pytest.mark.timeout(60)

SENIOR_FACTS = (
    "Copper conducts electricity",
    "Granite is an igneous rock",
    "The Pacific is the largest ocean",
)
JUNIOR_FACTS = (
    "Iron is magnetic",
    "Basalt is a volcanic rock",
    "The Atlantic is saltier than the Pacific",
)


def trusted_at(v: Node, conn: Conn) -> None:
    v.wait_for(
        lambda e: (
            e["kind"] == "trust.transition"
            and e["peer"] == conn.fp
            and e["attributes"]["to"] == "trusted"
        )
    )


def dispute_all(v: Node, proposer: Conn, objector: Conn, facts: tuple[str, ...]) -> None:
    """``proposer`` puts ``facts`` to V, ``objector`` challenges each; V disputes each
    (the challenge counts: the objector was trusted before V saw the claim)."""
    for fact in facts:
        claim, digest = proposer.propose(proposal(fact, domain="science"))
        v.kind("knowledge.claim_pending", claim_id=claim, peer=proposer.fp)
        objector.challenge(claim, digest)
        v.kind("knowledge.claim_disputed", claim_id=claim, peer=proposer.fp)


def test_a_junior_anchor_cannot_demote_a_senior_one_but_a_senior_can(tmp_path: Path) -> None:
    with Nodes(tmp_path) as nodes, Attacker() as att:
        senior_key, junior_key = att.key("senior-anchor"), att.key("junior-anchor")
        v = nodes.start("victim", "--trust", senior_key.fp, "--trust", junior_key.fp)
        senior = senior_key.connect(v)
        trusted_at(v, senior)
        time.sleep(0.2)  # strictly later: seniority compares when each became trusted
        junior = junior_key.connect(v)
        trusted_at(v, junior)

        dispute_all(v, senior, junior, SENIOR_FACTS)
        v.seen(lambda e: False, settle=1.0)
        assert peer_states(v.data)[senior.fp] == "trusted", "a junior anchor demoted a senior"

        dispute_all(v, junior, senior, JUNIOR_FACTS)
        v.wait_for(
            lambda e: (
                e["kind"] == "trust.transition"
                and e["peer"] == junior.fp
                and e["attributes"]["to"] == "probing"
            )
        )
        states = peer_states(v.data)
        assert states[junior.fp] == "probing", states
        assert states[senior.fp] == "trusted", states

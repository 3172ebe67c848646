"""Sybil parrots buy no trust (issue 10, attack 1).

A victim V trusts two operator anchors A1 and A2 (``--trust``), which believe S. Two
fresh keys K1, K2 (free to mint) connect to V and to both anchors and each proposes S,
the anchors' own belief, under its own msg_id; the anchors confirm and V accepts S
legitimately. Before issue 10 that acceptance promoted K1 and K2 to ``trusted``; now
nothing a fresh key does makes it trusted. The parrots then try to spend the trust they
did not get: they confirm a third fresh key K3's lie (V keeps it pending, out of causal
memory) and challenge the claim A1 proposed (A1 stays ``trusted``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import (
    Attacker,
    Node,
    Nodes,
    peer_states,
    proposal,
    query,
    stored_proposal,
    web4,
)

from web4.cip.claims import claim_hash

pytestmark = pytest.mark.timeout(60)

S = "Water boils at 100 degrees Celsius at sea level"
# A1's own claims: three, as a trusted peer was demoted by three disputes in a window
A1_FACTS = (
    "Ice melts at 0 degrees Celsius at sea level",
    "Light travels faster than sound",
    "The Moon orbits the Earth",
)
LIE = "Drinking bleach cures the common cold"


def applied(v: Node, msg_id: str, voter: str, claim_id: str) -> None:
    """Wait until V has applied ``voter``'s vote ``msg_id`` to ``claim_id`` (a vote that
    names no claim V holds would only wait, and prove nothing)."""
    e = v.wait_for(
        lambda e: (
            e.get("msg_id") == msg_id
            and e.get("peer") == voter
            and e["kind"].split(".")[0] in ("knowledge", "router", "error")
        )
    )
    assert e["kind"] == "knowledge.confirmation", e
    assert e["attributes"]["claim_id"] == claim_id, e
    assert e["attributes"].get("state") != "waiting_for_claim", e


def test_keys_that_parrot_the_anchors_stay_probing_and_cannot_vote_a_lie_in(
    tmp_path: Path,
) -> None:
    with Nodes(tmp_path) as nodes, Attacker() as att:
        proposals = [x for f in A1_FACTS for x in ("--propose", f"{f}|physics|0.9")]
        v, a1, a2 = nodes.anchored_victim(believe=(S,), a1_args=tuple(proposals))
        a1_claims = {}  # claim id -> claim hash, of every claim A1 put to V
        for fact in A1_FACTS:
            got = v.kind("knowledge.claim_pending", peer=a1.fp, statement=fact)
            cid = got["attributes"]["claim_id"]
            a1_claims[cid] = claim_hash(a1.fp, stored_proposal(v.data, cid, a1.fp))

        parrots = [att.key("k1"), att.key("k2")]
        claims = {}
        for k in parrots:
            conns = [k.connect(n) for n in (v, a1, a2)]
            mid, payload = None, proposal(S, domain="physics")
            for c in conns:  # one claim (one payload, one msg_id) at every node
                mid, _ = c.propose(payload, msg_id=mid)
            assert mid is not None
            claims[k.fp] = mid
        problems: list[str] = []
        for k in parrots:  # the anchors confirmed, V accepted the truth
            v.kind("knowledge.claim_accepted", claim_id=claims[k.fp], peer=k.fp)
        states = peer_states(v.data)
        for k in parrots:
            if states.get(k.fp) != "probing":
                problems.append(f"{k} parroted the anchors and is {states.get(k.fp)} at V")
            promoted = query(
                v.data,
                "SELECT event FROM trust_audit WHERE peer = ? AND to_state = 'trusted'",
                k.fp,
            )
            if promoted:
                problems.append(f"{k} was made trusted at V by {promoted}")

        k3 = att.key("k3")
        liar = k3.connect(v)
        lie_payload = proposal(LIE, domain="medicine")
        lie_id, lie_hash = liar.propose(lie_payload)
        v.kind("knowledge.claim_pending", claim_id=lie_id, peer=k3.fp)
        for k in parrots:
            applied(v, k.conns[v.fp].confirm(lie_id, lie_hash), k.fp, lie_id)
        v.seen(lambda e: False, settle=1.0)
        if v.events("knowledge.claim_accepted", claim_id=lie_id):
            problems.append("V accepted K3's lie on the parrots' confirmations")
        rows = query(v.data, "SELECT state FROM knowledge_claims WHERE msg_id = ?", lie_id)
        if rows != [("pending",)]:
            problems.append(f"K3's lie is {rows} at V, not pending")
        accepted = web4("facts", "--data-dir", str(v.data), "--state", "accepted")
        assert accepted.returncode == 0, accepted.stderr
        assert S in accepted.stdout, accepted.stdout
        if LIE in accepted.stdout:
            problems.append("`web4 facts --state accepted` at V lists the lie")
        remembered = query(
            v.data, "SELECT fact FROM knowledge_memory WHERE fact LIKE ?", "%bleach%"
        )
        if remembered:
            problems.append(f"the lie is in V's causal memory: {remembered}")
        if peer_states(v.data).get(k3.fp) == "trusted":
            problems.append("K3 is trusted at V")

        for k in parrots:
            for cid, h in a1_claims.items():
                applied(v, k.conns[v.fp].challenge(cid, h), k.fp, cid)
        v.seen(lambda e: False, settle=1.0)
        states = peer_states(v.data)
        if states.get(a1.fp) != "trusted" or states.get(a2.fp) != "trusted":
            problems.append(f"A1 is {states.get(a1.fp)} at V after the parrots' challenges")
        for cid in a1_claims:
            if v.events("knowledge.claim_disputed", claim_id=cid):
                problems.append(f"the parrots' challenges disputed A1's claim {cid} at V")
        assert not problems, "\n".join(problems)

"""A claim's msg_id names it, but binds nothing (issue 10, claim-id hijack).

An honest proposer P puts S to the anchors A1 and A2 only; they confirm it and broadcast
their votes to every peer, so V (which trusts both anchors) receives two votes for a
claim it has never seen, and keeps them waiting. Before issue 10 a vote named its claim
by msg_id alone, so an attacker who saw the votes could:

* propose its own statement under P's msg_id: V applied the waiting votes to it and
  accepted the attacker's statement;
* send any vote under an anchor's vote msg_id: the waiting buffer was keyed by vote
  msg_id, so the attacker's vote replaced the anchor's.

Now every vote carries the ``claim_hash`` of the proposer and the exact payload it
judges: the attacker's statement gets none of the anchors' votes, the anchors' votes
stay, and when P does propose S to V, V accepts it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness import Attacker, Conn, Node, Nodes, proposal, query

from web4.cip.claims import claim_hash

pytestmark = pytest.mark.timeout(60)

S = "The speed of light in vacuum is 299792458 metres per second"
LIE = "The speed of light in vacuum is 42 metres per second"


@dataclass
class Scene:
    v: Node
    anchors: tuple[Node, Node]
    att: Attacker
    p_payload: dict[str, Any]
    claim: str  # P's claim msg_id, known to V only through the anchors' votes
    votes: dict[str, str]  # anchor fingerprint -> its vote's msg_id, waiting at V

    def p_proposes_to_v(self) -> dict[str, Any]:
        """P finally proposes S to V itself; V's acceptance of P's claim."""
        p = self.att.keys[0]
        p.connect(self.v).propose(self.p_payload, msg_id=self.claim)
        try:
            # named by its msg_id, or by its hash when the hijacker took the msg_id first
            return self.v.kind("knowledge.claim_accepted", peer=p.fp, statement=S)
        except AssertionError:
            seen = [
                (e["kind"], e["attributes"].get("has"), e["attributes"].get("reason"))
                for e in self.v.proc.events
                if e["peer"] == p.fp and e["kind"].startswith(("knowledge.", "router.", "error"))
            ]
            raise AssertionError(f"V did not accept P's claim: {seen}") from None


def votes_waiting_at_v(nodes: Nodes, att: Attacker) -> Scene:
    v, a1, a2 = nodes.anchored_victim(believe=(S,))
    p = att.key("honest-p")
    payload = proposal(S, domain="physics", source="CODATA 2018")
    claim, digest, conns = None, "", []
    for anchor in (a1, a2):
        conns.append(p.connect(anchor))
        claim, digest = conns[-1].propose(payload, msg_id=claim)
    assert claim is not None
    for conn in conns:  # each anchor's vote, as broadcast to P too, is bound to S by P
        vote = conn.wait_message(lambda r: r.type == "FACT_CONFIRM")
        assert vote.payload["fact_ref"] == claim
        assert vote.payload["claim_hash"] == digest == claim_hash(p.fp, payload)
    votes = {}
    for anchor in (a1, a2):  # each anchor's vote reached V before the claim did
        got = v.kind("knowledge.confirmation", peer=anchor.fp, claim_id=claim)
        votes[anchor.fp] = got["msg_id"]
    assert not v.events("knowledge.claim_accepted", claim_id=claim)
    return Scene(v, (a1, a2), att, payload, claim, votes)


def handled(v: Node, conn: Conn, msg_id: str) -> dict[str, Any]:
    """V's first event about ``conn``'s message ``msg_id``."""
    return v.wait_for(
        lambda e: (
            e.get("msg_id") == msg_id
            and e.get("peer") == conn.fp
            and e["kind"].split(".")[0] in ("knowledge", "router", "error")
        )
    )


def test_a_statement_proposed_under_another_claims_msg_id_gets_none_of_its_votes(
    tmp_path: Path,
) -> None:
    with Nodes(tmp_path) as nodes, Attacker() as att:
        scene = votes_waiting_at_v(nodes, att)
        v = scene.v
        x = att.key("hijacker").connect(v)
        lie = proposal(LIE, domain="physics")
        stored = handled(v, x, x.propose(lie, msg_id=scene.claim)[0])
        assert stored["kind"] == "knowledge.claim_pending", stored  # stored, judged alone
        v.seen(lambda e: False, settle=1.0)
        accepted = [e["attributes"]["statement"] for e in v.events("knowledge.claim_accepted")]
        assert LIE not in accepted, "V accepted the hijacker's statement on the anchors' votes"

        assert scene.p_proposes_to_v()["attributes"]["statement"] == S
        memory = [r[0] for r in query(v.data, "SELECT fact FROM knowledge_memory")]
        assert any(S in f for f in memory), memory
        assert not any(LIE in f for f in memory), memory


def test_a_vote_reusing_an_anchors_vote_msg_id_does_not_replace_the_anchors_vote(
    tmp_path: Path,
) -> None:
    with Nodes(tmp_path) as nodes, Attacker() as att:
        scene = votes_waiting_at_v(nodes, att)
        v, (a1, _) = scene.v, scene.anchors
        y = att.key("vote-squatter").connect(v)
        elsewhere = str(uuid.uuid4())  # a claim V never sees: Y's vote waits too
        fake = claim_hash(y.fp, proposal("Nothing at all"))
        handled(v, y, y.challenge(elsewhere, fake, msg_id=scene.votes[a1.fp]))

        assert scene.p_proposes_to_v()["attributes"]["has"] == 2

"""What a node says about trust in the envelopes it sends (CIP_SPEC section 1 and section
6, "Trust views"): after the handshake, `trust.sender_view` is the node's TrustFSM state
for the receiver (`trusted` towards an operator anchor) and `trust.receiver_view` is the
receiver's state for the node as the receiver last reported it. Before, the node sent the
handshake's own view (`probing`, even towards an anchor) as `sender_view` and its TrustFSM
state as `receiver_view`: the two swapped."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Attacker, Nodes, proposal

pytestmark = pytest.mark.timeout(60)

FACT = "Copper conducts electricity"


def test_a_vote_to_an_anchor_says_trusted_as_the_senders_view(tmp_path: Path) -> None:
    with Attacker() as attacker, Nodes(tmp_path) as nodes:
        key = attacker.key("anchor")
        v = nodes.start("victim", "--trust", key.fp, "--believe", FACT)
        conn = key.connect(v)
        v.kind("trust.transition", peer=key.fp, to="trusted")
        msg_id, _ = conn.propose(proposal(FACT))
        vote = conn.wait_message(
            lambda m: m.type == "FACT_CONFIRM" and m.payload.get("fact_ref") == msg_id
        )
        assert vote.envelope is not None
        trust = vote.envelope["trust"]
        assert trust["sender_view"] == "trusted", trust
        # the key's handshake STATE_UPDATE reported V as `probing` to it
        assert trust["receiver_view"] == "probing", trust

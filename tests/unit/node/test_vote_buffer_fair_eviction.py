"""Votes that overtake their claim wait in a bounded buffer. One peer flooding votes for
claims that never come must not push out other peers' waiting votes: when the buffer is
full, the oldest vote of the voter holding the most is dropped. Before, the oldest vote
of all went, so a flood emptied the buffer of everyone else's votes."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from test_desk_vote_faults import _confirm, _proposal, desk_rig

PROPOSER, HONEST, FLOODER = (hashlib.sha256(n.encode()).hexdigest() for n in ("p", "h", "f"))


def test_a_vote_flood_evicts_only_the_flooders_votes(tmp_path: Path) -> None:
    rig = desk_rig(tmp_path, (PROPOSER, HONEST, FLOODER), vote_buffer=8)
    desk, store, bus, ring = rig.desk, rig.store, rig.bus, rig.ring
    try:
        claim = _proposal(str(uuid.uuid4()), PROPOSER)
        desk.on_message(_confirm(str(uuid.uuid4()), HONEST, claim))  # waits for `claim`
        for _ in range(50):  # votes for claims that never come
            never = _proposal(str(uuid.uuid4()), PROPOSER)
            desk.on_message(_confirm(str(uuid.uuid4()), FLOODER, never))
        assert desk.waiting == 8
        desk.on_message(claim)
        claim_id = claim.msg_id
        assert HONEST in desk.kx.confirmers(claim_id)  # the honest vote survived the flood
        bus.flush(2.0)
        dropped = [
            e
            for e in ring.events("agent.dropped")
            if e.attributes.get("reason") == "vote_buffer_full"
        ]
        assert len(dropped) == 43
        assert {e.peer for e in dropped} == {FLOODER}
    finally:
        store.close()

"""A vote whose msg_id another key planted first is still stored and counted (with gossip
every subscriber sees every vote's msg_id before some nodes get the vote itself)."""

from __future__ import annotations

from support.knowledge_world import OK, World
from web4.knowledge import ClaimState


def test_a_planted_msg_id_does_not_cost_the_honest_vote(world: World) -> None:
    a, b = world.peer_trusted(), world.peer_trusted()
    squatter = world.peer_probing()
    world.clock.advance(1)
    claim = world.propose(world.peer_probing()).claim_id
    stolen = world.msg_id()
    kx = world.kx
    kx.confirm(msg_id=stolen, sender=squatter, fact_ref=claim, confidence=0.9, local=OK)
    out = kx.confirm(msg_id=stolen, sender=a, fact_ref=claim, confidence=0.9, local=OK)
    assert out.state is ClaimState.PENDING  # stored: one trusted confirmation so far
    assert kx.has_vote(a, stolen)
    assert kx.has_vote(squatter, stolen)
    assert not kx.has_vote(b, stolen)
    assert world.confirm(claim, b).state is ClaimState.ACCEPTED

"""A sender met only through gossip (no trust record; CIP_SPEC §11): judged as probing
when the policy says so (a node with gossip), never charged a trust event, and accepted
only on the votes of peers trusted before the claim arrived, as anyone's claim."""

from __future__ import annotations

import hashlib

from support.knowledge_world import World
from web4.knowledge import ClaimState, KnowledgeExchange, KnowledgePolicy


def stranger(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def test_without_the_policy_a_stranger_is_untrusted_and_rejected(world: World) -> None:
    out = world.propose(stranger("s"))
    assert out.state is ClaimState.REJECTED


def test_with_it_a_strangers_claim_waits_for_trusted_votes_and_leaves_no_trust_row(
    world: World,
) -> None:
    world.kx = KnowledgeExchange(
        world.store, world.trust, world.clock, KnowledgePolicy(unmet_as_probing=True)
    )
    s = stranger("s")
    out = world.propose(s)
    assert out.state is ClaimState.PENDING
    assert not world.trust.known(s)
    for other in (stranger("s2"), stranger("s3")):  # strangers' votes count for nothing
        assert world.confirm(out.claim_id, other).state is ClaimState.PENDING
    world.clock.advance(1)
    a, b = world.peer_trusted(), world.peer_trusted()  # trusted after the claim arrived
    world.clock.advance(1)
    assert world.confirm(out.claim_id, a).state is ClaimState.PENDING
    assert world.confirm(out.claim_id, b).state is ClaimState.PENDING
    later = world.propose(s, statement="Grass is green")  # after a and b were trusted
    world.clock.advance(1)
    world.confirm(later.claim_id, a)
    assert world.confirm(later.claim_id, b).state is ClaimState.ACCEPTED
    assert not world.trust.known(s)  # accepted: still no record, no trust event
    assert [p.peer for p in world.trust.peers()] == sorted([a, b])

"""The acceptance matrix, table-driven: sender trust x confirmer trust x confirmation count
x challenge x local state -> claim state, run end to end through KnowledgeExchange.

Expected outcomes, from the brief (docs/CIP_SPEC.md, "Knowledge exchange"):
- sender untrusted or blacklisted: rejected (whatever else happens);
- any challenge or rejection from a trusted peer: disputed;
- local presence overloaded or LRI at/above the threshold: deferred;
- at least two distinct trusted confirmers (not the proposer): accepted;
- otherwise: pending.
The objection (if any) arrives first, then the confirmations, all under the same local
state, so the expected outcome does not depend on message order.
"""

from __future__ import annotations

import itertools

import pytest

from web4.errors import KnowledgeError
from web4.knowledge import ClaimState, LocalState
from web4.trust import TrustEvent, TrustState

U, P, T, B = TrustState.UNTRUSTED, TrustState.PROBING, TrustState.TRUSTED, TrustState.BLACKLISTED
LOCAL = {
    "ok": LocalState("focused", 0),
    "lri_below": LocalState("diffuse", 79),
    "overloaded": LocalState("overloaded", 5),
    "lri_high": LocalState("engaged", 80),
}
OBJECTIONS = ["none", "trusted_challenge", "trusted_reject", "probing_challenge"]


def expected(sender: TrustState, confirmer: TrustState, count: int, objection: str, local: str):
    if sender in (U, B):
        return ClaimState.REJECTED
    if objection in ("trusted_challenge", "trusted_reject"):
        return ClaimState.DISPUTED
    if local in ("overloaded", "lri_high"):
        return ClaimState.DEFERRED
    if confirmer is T and count >= 2:
        return ClaimState.ACCEPTED
    return ClaimState.PENDING


CASES = list(itertools.product([U, P, T, B], [U, P, T, B], [0, 1, 2, 3], OBJECTIONS, LOCAL))


@pytest.mark.parametrize(("sender", "confirmer", "count", "objection", "local"), CASES)
def test_acceptance_matrix(
    world,
    sender: TrustState,
    confirmer: TrustState,
    count: int,
    objection: str,
    local: str,
) -> None:
    state = LOCAL[local]
    proposer = world.peer(sender)
    claim = world.propose(proposer, local=state).claim_id
    if objection != "none":
        objector = world.peer(P if objection == "probing_challenge" else T)
        if objection == "trusted_reject":
            world.kx.reject(
                msg_id=world.msg_id(), sender=objector, fact_ref=claim, confidence=0.9,
                local=state,
            )  # fmt: skip
        else:
            world.kx.challenge(
                msg_id=world.msg_id(), sender=objector, fact_ref=claim, reason="conflict",
                local=state,
            )  # fmt: skip
    for _ in range(count):
        world.confirm(claim, world.peer(confirmer), local=state)
    want = expected(sender, confirmer, count, objection, local)
    assert world.kx.claim(claim).state is want
    # only accepted claims reach causal memory, with their trace
    in_memory = world.kx.memory.get(claim) is not None
    assert in_memory == (want is ClaimState.ACCEPTED)
    assert bool(world.kx.memory.traces()) == (want is ClaimState.ACCEPTED)
    # knowledge outcomes feed the TrustFSM
    events = [e.event for e in world.trust.audit(proposer) if e.cause != "setup"]
    if want is ClaimState.ACCEPTED:
        assert events == [TrustEvent.KNOWLEDGE_VERIFIED]
        # knowledge earns no trust: the proposer stays where it was
        assert world.trust.state_of(proposer) is sender
    elif want is ClaimState.DISPUTED:
        assert events == [TrustEvent.CONFLICT]
        assert world.trust.state_of(proposer) is (U if sender is P else T)
    else:
        assert events == []
        assert world.trust.state_of(proposer) is sender


def test_proposer_self_confirmation_does_not_count(world) -> None:
    proposer = world.peer(T)
    claim = world.propose(proposer).claim_id
    world.confirm(claim, proposer)
    world.confirm(claim, world.peer(T))
    assert world.kx.claim(claim).state is ClaimState.PENDING


def test_confirmations_count_per_distinct_peer(world) -> None:
    claim = world.propose(world.peer(P)).claim_id
    c = world.peer(T)
    world.confirm(claim, c)
    with pytest.raises(KnowledgeError, match="already voted"):
        world.confirm(claim, c)
    assert world.kx.claim(claim).state is ClaimState.PENDING
    assert world.kx.confirmers(claim) == [c]
    world.confirm(claim, world.peer(T))
    assert world.kx.claim(claim).state is ClaimState.ACCEPTED
